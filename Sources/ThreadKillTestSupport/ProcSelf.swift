// Readers of /proc/self that the fixture program and the tests both use.
#if canImport(Glibc)
import Glibc
#endif

/// Whether thread `tid` of this process is inside system call `nr` now
/// (from `/proc/self/task/TID/syscall`).
public func isInSyscall(tid: Int32, _ nr: Int) -> Bool {
    guard let file = fopen("/proc/self/task/\(tid)/syscall", "r") else { return false }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 256)
    guard fgets(&buffer, 256, file) != nil else { return false }
    let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return text.split(separator: " ").first.flatMap { Int($0) } == nr
}

/// The names of this process's threads as the kernel shows them
/// (`/proc/self/task/*/comm`), in directory order.
public func threadNames() -> [String] {
    guard let dir = opendir("/proc/self/task") else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let tid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard Int32(tid) != nil, let file = fopen("/proc/self/task/\(tid)/comm", "r") else { continue }
        var buffer = [CChar](repeating: 0, count: 64)
        if fgets(&buffer, 64, file) != nil {
            names.append(String(decoding: buffer.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        fclose(file)
    }
    return names
}
