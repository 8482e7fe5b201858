import Testing
@testable import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

/// A sanitizer whose runtime may be linked into this test binary
/// (`swift test --sanitize=thread|address`). Swift has no compile-time
/// condition for sanitizers and SwiftPM defines none, so this asks the
/// process: each runtime exports its entry point dynamically.
enum Sanitizer: String, CaseIterable, Sendable {
    case thread = "__tsan_init"
    case address = "__asan_init"

    /// Whether this sanitizer's runtime is in the process.
    var isActive: Bool {
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), rawValue) != nil  // RTLD_DEFAULT
    }

    /// The sanitizers active in this process.
    static var active: [Sanitizer] { allCases.filter(\.isActive) }
}

extension Trait where Self == ConditionTrait {
    /// Disables a test or suite when any of `sanitizers` is active, for a
    /// documented reason (Docs/Sanitizers.md): what the sanitizer cannot model.
    static func disabled(under sanitizers: Sanitizer..., because reason: Comment,
                         sourceLocation: SourceLocation = #_sourceLocation) -> Self {
        .disabled(if: sanitizers.contains(where: \.isActive), reason, sourceLocation: sourceLocation)
    }
}

@Suite("Sanitizers")
struct SanitizerTests {
    @Test("async regions are refused with a typed error exactly when a sanitizer runtime is present")
    func asyncRegionsRefusedUnderSanitizers() throws {
        let thread = try KillableThread { ctx in try ctx.asyncKillable { 7 } }
        let outcome = try thread.joinOrFail()
        if Sanitizer.active.isEmpty {
            #expect(outcome.value == 7)
        } else if case .threw(let error as ThreadKillError) = outcome {
            #expect(error.code == .injectionUnavailable, "\(error)")
        } else {
            Issue.record("under \(Sanitizer.active) expected injectionUnavailable, got \(outcome)")
        }
    }
}
