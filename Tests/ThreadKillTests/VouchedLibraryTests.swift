import Synchronization
import CThreadKillTestSupport
import Testing
@testable import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

/// A pointer the test thread and the killed thread share: written by C once, read after join.
private struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// PCRE2 (Debian's libpcre2-8-0), loaded at run time: a real third-party C
/// library whose backtracking matcher can run away on `(a+)+$`.
struct PCRE2: @unchecked Sendable {  // the compiled pattern is only read by pcre2_match
    typealias Compile = @convention(c) (UnsafePointer<UInt8>?, Int, UInt32, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int>?, OpaquePointer?) -> OpaquePointer?
    typealias MatchDataCreate = @convention(c) (OpaquePointer?, OpaquePointer?) -> OpaquePointer?
    typealias Match = @convention(c) (OpaquePointer?, UnsafePointer<UInt8>?, Int, Int, UInt32, OpaquePointer?, OpaquePointer?) -> Int32
    typealias MatchContextCreate = @convention(c) (OpaquePointer?) -> OpaquePointer?
    typealias SetLimit = @convention(c) (OpaquePointer?, UInt32) -> Int32
    typealias Callout = @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32
    typealias SetCallout = @convention(c) (OpaquePointer?, Callout?, UnsafeMutableRawPointer?) -> Int32

    let match: Match
    let code: OpaquePointer
    let matchDataCreate: MatchDataCreate
    let unlimited: OpaquePointer
    /// `(?C1)(a+)+$`: the pattern with a callout at its start, and a match
    /// context (default limits) whose callout sets ``inMatch``.
    let announcedCode: OpaquePointer
    let announcing: OpaquePointer

    static let errorMatchLimit: Int32 = -47
    /// Set from inside pcre2_match, by the callout: the matcher is on the stack.
    static let inMatch = Atomic(false)

    init() throws {
        let handle = try #require(dlopen("libpcre2-8.so.0", RTLD_NOW), "libpcre2-8.so.0 (Debian package libpcre2-8-0) is installed")
        func symbol<T>(_ name: String, _: T.Type) throws -> T {
            unsafeBitCast(try #require(dlsym(handle, name), "\(name) in libpcre2-8"), to: T.self)
        }
        let compile = try symbol("pcre2_compile_8", Compile.self)
        match = try symbol("pcre2_match_8", Match.self)
        matchDataCreate = try symbol("pcre2_match_data_create_from_pattern_8", MatchDataCreate.self)
        let contextCreate = try symbol("pcre2_match_context_create_8", MatchContextCreate.self)
        let setMatchLimit = try symbol("pcre2_set_match_limit_8", SetLimit.self)
        var error: Int32 = 0
        var offset = 0
        let pattern = Array("(a+)+$".utf8)
        code = try #require(compile(pattern, pattern.count, 0, &error, &offset, nil))
        unlimited = try #require(contextCreate(nil))
        _ = setMatchLimit(unlimited, UInt32.max)
        let announced = Array("(?C1)(a+)+$".utf8)
        announcedCode = try #require(compile(announced, announced.count, 0, &error, &offset, nil))
        announcing = try #require(contextCreate(nil))
        let setCallout = try symbol("pcre2_set_callout_8", SetCallout.self)
        _ = setCallout(announcing, { _, _ in
            PCRE2.inMatch.store(true, ordering: .releasing)
            return 0
        }, nil)
    }

    /// `count` a's and a "!": what `(a+)+$` backtracks on exponentially.
    static func subject(_ count: Int) -> [UInt8] {
        Array(String(repeating: "a", count: count).utf8) + [UInt8(ascii: "!")]
    }

    /// Matches `(a+)+$` against `count` a's and a "!": exponential backtracking.
    /// With `limited`, PCRE2's default match limit ends it in a moment.
    func runaway(_ count: Int, limited: Bool) -> Int32 {
        let subject = Self.subject(count)
        let data = matchDataCreate(code, nil)
        return match(code, subject, subject.count, 0, 0, data, limited ? nil : unlimited)
    }
}

@Suite("Vouched libraries", .serialized)
struct VouchedLibraryTests {
    @Test("a library is jumped out of only once vouched for; 1,000 kills mid-match leave the process healthy", .timeLimit(.minutes(3)),
      .disabled(under: .thread, .address, because: "async regions are refused under sanitizers (injectionUnavailable): Docs/Sanitizers.md"))
    func pcre2() throws {
        let pcre = try PCRE2()

        // Not vouched: the kill waits until pcre2_match returns by itself, and
        // may land in own code right after that return. So the result is
        // stored by C right after the library returns (in a debug build, the
        // Swift caller makes runtime calls first, where a retry could land
        // the kill with nothing stored: 2 failures in ~15 full runs), and the
        // kill is sent once the matcher is on the stack (its callout said so;
        // the callout itself is refused: the matcher's frames are below it).
        let returned = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        returned.initialize(to: 0)
        defer { returned.deallocate() }
        let result = UncheckedSendable(returned)
        PCRE2.inMatch.store(false, ordering: .relaxed)  // a test run twice in one process
        let declined = try KillableThread(name: "pcre-declined") { ctx in
            let subject = PCRE2.subject(28)
            let data = pcre.matchDataCreate(pcre.announcedCode, nil)
            try ctx.asyncKillable {
                subject.withUnsafeBufferPointer { subject in
                    tk_test_pcre2_match_store(unsafeBitCast(pcre.match, to: tk_test_pcre2_match_fn.self), UnsafeRawPointer(pcre.announcedCode),
                                              subject.baseAddress, subject.count, UnsafeMutableRawPointer(data), UnsafeMutableRawPointer(pcre.announcing), result.value)
                }
                while true { _ = spin(iterations: 1000) }
            }
        }
        eventually("matching") { PCRE2.inMatch.load(ordering: .acquiring) }
        try declined.interrupt()
        #expect(try declined.joinOrFail().report?.reason == .interrupted)
        #expect(returned.pointee == PCRE2.errorMatchLimit, "the match ran to its limit: never jumped out of")
        #expect((declined.ref.injectionStatistics.declines[.foreignCode] ?? 0) > 0)

        // Vouched: kills land inside the matcher, 1,000 times.
        let matched = try KillableThreads.allowInjection(inLibrary: "libpcre2-8")
        #expect(matched.count == 1 && matched.allSatisfy { $0.hasSuffix("/libpcre2-8.so.0") }, "vouching reports the library it covers: \(matched)")
        let kills = 1_000
        let entered = Atomic(0)
        let landed = Atomic(0)
        let completed = Atomic(0)
        let vouched = try KillableThread(name: "pcre-vouched") { ctx in
            for i in 0..<kills {
                do {
                    try ctx.asyncKillable {
                        entered.store(i + 1, ordering: .releasing)
                        _ = pcre.runaway(40, limited: false)  // 2^40 steps: never finishes
                        completed.add(1, ordering: .relaxed)
                    }
                } catch is KillError {
                    landed.store(i + 1, ordering: .releasing)
                }
            }
        }
        for i in 0..<kills {
            eventually("region \(i) entered") { entered.load(ordering: .acquiring) > i }
            if entered.load(ordering: .acquiring) <= i { break }
            try vouched.interrupt()
            eventually("kill \(i) landed (\(vouched.ref.injectionStatistics))") { landed.load(ordering: .acquiring) > i }
            if landed.load(ordering: .acquiring) <= i { break }
        }
        _ = try vouched.joinOrFail()
        #expect(completed.load(ordering: .relaxed) == 0, "every match was stopped mid-computation")
        #expect(vouched.ref.injectionStatistics.jumps == kills)
        // Health: the library and malloc still work, a fresh thread runs.
        #expect(pcre.runaway(10, limited: true) == -1, "PCRE2_ERROR_NOMATCH")
        let fresh = try KillableThread { _ in Array(repeating: "x", count: 10_000).joined().count }
        #expect(try fresh.joinOrFail().value == 10_000)
    }

    @Test("a name that matches no loaded library is accepted and reported as matching nothing; a prefix of the path is not a match")
    func unmatchedName() throws {
        #expect(try KillableThreads.allowInjection(inLibrary: "libpcre2-8-typo") == [], "a typo matches nothing")
        #expect(try KillableThreads.allowInjection(inLibrary: "libthreadkill-never-loaded") == [])
        // "x86_64-linux-gnu" is in the path of libpcre2-8, not the start of its file name.
        #expect(Injection.loadedLibraries(matching: "x86_64-linux-gnu") == [])
        // The same rule the code table uses: the start of the file name.
        _ = try PCRE2()
        #expect(Injection.loadedLibraries(matching: "libpcre2").contains { $0.hasSuffix("/libpcre2-8.so.0") })
    }

    @Test("libc, the loader and the Swift runtime can never be vouched for")
    func forbiddenLibraries() {
        for name in ["libc.so.6", "ld-linux-x86-64", "libswiftCore", "libdispatch", "", "swift", "lib", "libs", "/lib/x86_64-linux-gnu/libc.so.6", "libgcc_s", "libstdc++"] {
            expectRefusal(.invalidArgument) { try KillableThreads.allowInjection(inLibrary: name) }
        }
    }
}
