// `vouched-leak inside|outside COUNT`: what a jump out of a vouched library
// (PCRE2's matcher) leaves behind, with the match data allocated inside the
// async region or outside it (acquired and freed by `bracket`).
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import ThreadKill

private struct PCRE2Functions: @unchecked Sendable {  // C function pointers and a compiled pattern, only read
    typealias Compile = @convention(c) (UnsafePointer<UInt8>?, Int, UInt32, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int>?, OpaquePointer?) -> OpaquePointer?
    typealias DataCreate = @convention(c) (OpaquePointer?, OpaquePointer?) -> OpaquePointer?
    typealias DataFree = @convention(c) (OpaquePointer?) -> Void
    typealias Match = @convention(c) (OpaquePointer?, UnsafePointer<UInt8>?, Int, Int, UInt32, OpaquePointer?, OpaquePointer?) -> Int32
    typealias ContextCreate = @convention(c) (OpaquePointer?) -> OpaquePointer?
    typealias SetLimit = @convention(c) (OpaquePointer?, UInt32) -> Int32

    let dataCreate: DataCreate, dataFree: DataFree, match: Match
    let code: OpaquePointer, unlimited: OpaquePointer

    init() throws {
        guard let handle = dlopen("libpcre2-8.so.0", RTLD_NOW) else { throw FixtureError(detail: "libpcre2-8.so.0 not installed") }
        func symbol<T>(_ name: String, _: T.Type) throws -> T {
            guard let address = dlsym(handle, name) else { throw FixtureError(detail: "no \(name)") }
            return unsafeBitCast(address, to: T.self)
        }
        dataCreate = try symbol("pcre2_match_data_create_from_pattern_8", DataCreate.self)
        dataFree = try symbol("pcre2_match_data_free_8", DataFree.self)
        match = try symbol("pcre2_match_8", Match.self)
        var error: Int32 = 0, offset = 0
        let pattern = Array("(a+)+$".utf8)
        guard let code = try symbol("pcre2_compile_8", Compile.self)(pattern, pattern.count, 0, &error, &offset, nil),
              let context = try symbol("pcre2_match_context_create_8", ContextCreate.self)(nil) else {
            throw FixtureError(detail: "pcre2_compile")
        }
        _ = try symbol("pcre2_set_match_limit_8", SetLimit.self)(context, UInt32.max)
        self.code = code
        unlimited = context
    }
}

/// Regions entered and kills landed so far.
private let vouchedEntered = Atomic<Int>(0)
private let vouchedLanded = Atomic<Int>(0)

func vouchedLeakScenario(_ where_: String, count: Int) throws {
    let pcre = try PCRE2Functions()
    let matched = try KillableThreads.allowInjection(inLibrary: "libpcre2-8")
    let subject = Array(String(repeating: "a", count: 40).utf8) + [UInt8(ascii: "!")]  // 2^40 steps
    let thread = try KillableThread(name: "vouched-leak") { ctx in
        for i in 0..<count {
            do {
                if where_ == "inside" {
                    _ = try ctx.asyncKillable {
                        let data = pcre.dataCreate(pcre.code, nil)  // leaked by a jump
                        vouchedEntered.store(i + 1, ordering: .releasing)
                        return pcre.match(pcre.code, subject, subject.count, 0, 0, data, pcre.unlimited)
                    }
                } else {
                    _ = try ctx.bracket(acquire: { pcre.dataCreate(pcre.code, nil) }, release: { pcre.dataFree($0) }) { data in
                        try ctx.asyncKillable {
                            vouchedEntered.store(i + 1, ordering: .releasing)
                            return pcre.match(pcre.code, subject, subject.count, 0, 0, data, pcre.unlimited)
                        }
                    }
                }
            } catch is KillError {
                vouchedLanded.store(i + 1, ordering: .releasing)
            }
        }
    }
    func killOne(_ i: Int) throws {
        while vouchedEntered.load(ordering: .acquiring) <= i { sched_yield() }
        try thread.interrupt()
        while vouchedLanded.load(ordering: .acquiring) <= i { sched_yield() }
    }
    let warmUp = count / 10
    for i in 0..<warmUp { try killOne(i) }
    let readings = try quarterReadings(count - warmUp, per: "perKill") { try killOne(warmUp + $0) }
    _ = try thread.join()
    say("vouched-leak data=\(where_) kills=\(count) jumps=\(thread.ref.injectionStatistics.jumps) matched=\(matched.count) \(readings)")
}
