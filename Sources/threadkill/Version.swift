/// The version of this program, as `threadkill --version` prints it.
///
/// The one place the number is written; raise it with each release tag.
enum Version {
    /// `0.2.0`.
    static let number = "0.2.0"
    /// `threadkill 0.2.0`.
    static let line = "threadkill \(number)"
}
