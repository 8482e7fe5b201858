import CPthreadShim
import Testing
@testable import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

#if arch(x86_64)
/// A page of hand-written x86_64 machine code in an anonymous mapping, as a
/// JIT compiler would make it: it belongs to no loaded object.
final class AnonymousCode {
    let page: UnsafeMutableRawPointer

    /// Maps `bytes` read-write, then makes the page read-execute.
    init(_ bytes: [UInt8]) throws {
        let size = Int(sysconf(Int32(_SC_PAGESIZE)))
        let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        page = try #require(mapped == MAP_FAILED ? nil : mapped, "mmap failed: errno \(errno)")
        page.copyMemory(from: bytes, byteCount: bytes.count)
        try #require(mprotect(page, size, PROT_READ | PROT_EXEC) == 0, "mprotect failed: errno \(errno)")
    }

    deinit { munmap(page, Int(sysconf(Int32(_SC_PAGESIZE)))) }

    /// `void spin(uint32_t *release, uint32_t *inside)`: stores 1 to `*inside`,
    /// then spins until `*release` is nonzero, and returns.
    static let spinUntilReleased: [UInt8] = [
        0xc7, 0x06, 0x01, 0x00, 0x00, 0x00,  //       mov dword [rsi], 1
        0xf3, 0x90,                          // loop: pause
        0x8b, 0x07,                          //       mov eax, [rdi]
        0x85, 0xc0,                          //       test eax, eax
        0x74, 0xf8,                          //       je loop
        0xc3,                                //       ret
    ]

    /// `void call(void (*f)(void))`: a frame with a frame pointer that calls `f`.
    static let callThrough: [UInt8] = [
        0x55,              // push rbp
        0x48, 0x89, 0xe5,  // mov rbp, rsp
        0xff, 0xd7,        // call rdi
        0x5d,              // pop rbp
        0xc3,              // ret
    ]
}

/// Words shared between the test, the machine code and the callback.
nonisolated(unsafe) private let words = UnsafeMutablePointer<UInt32>.allocate(capacity: 4)
private var release: UnsafeMutablePointer<UInt32> { words }
private var inside: UnsafeMutablePointer<UInt32> { words + 1 }
private var inCallback: UnsafeMutablePointer<UInt32> { words + 2 }

/// Called from the anonymous page: own code, with a foreign caller frame.
private let callback: @convention(c) () -> Void = {
    CPthreadShim_word_store(inCallback, 1)
    while CPthreadShim_word_load(release) == 0 {}
}

@Suite("Code outside any loaded object (JIT)", .serialized,
      .disabled(under: .thread, .address, because: "async regions are refused under sanitizers (injectionUnavailable): Docs/Sanitizers.md"))
struct AnonymousCodeTests {
    init() { words.initialize(repeating: 0, count: 4) }

    @Test("a kill aimed at code in an anonymous executable page is declined as such, and lands once the code returns", .timeLimit(.hang))
    func pcInAnonymousCode() throws {
        let code = try AnonymousCode(AnonymousCode.spinUntilReleased)
        typealias Spin = @convention(c) (UnsafeMutablePointer<UInt32>, UnsafeMutablePointer<UInt32>) -> Void
        let jit = unsafeBitCast(code.page, to: Spin.self)
        let returned = Latch()
        let thread = try KillableThread(name: "jit-pc") { ctx in
            try ctx.asyncKillable {
                jit(release, inside)
                returned.open()
                while true { _ = spin(iterations: 1000) }
            }
        }
        eventually("inside the anonymous page") { CPthreadShim_word_load(inside) == 1 }
        try thread.interrupt()
        eventually("a decline for anonymous code") { (thread.ref.injectionStatistics.declines[.anonymousCode] ?? 0) > 0 }
        // Still inside the page (it has not been released): every decline so far is this one.
        let whileInside = thread.ref.injectionStatistics
        #expect(thread.state == .running, "not delivered inside the page")
        #expect(whileInside.jumps == 0)
        #expect(whileInside.declines[.foreignCode] == nil, "not reported as a library: \(whileInside)")
        CPthreadShim_word_store(release, 1)
        try thread.interrupt()  // re-arms the resends, should the 5 s window have passed
        #expect(try thread.joinOrFail().report?.reason == .interrupted)
        returned.wait()
        let stats = thread.ref.injectionStatistics
        #expect(stats.jumps == 1, "landed by a jump in own code after the page returned: \(stats)")
        withExtendedLifetime(code) {}
    }

    @Test("a kill aimed at own code called back from an anonymous page is declined (foreign caller frame)", .timeLimit(.hang))
    func returnAddressIntoAnonymousCode() throws {
        let code = try AnonymousCode(AnonymousCode.callThrough)
        typealias Call = @convention(c) (@convention(c) () -> Void) -> Void
        let call = unsafeBitCast(code.page, to: Call.self)
        let returned = Latch()
        let thread = try KillableThread(name: "jit-frame") { ctx in
            try ctx.asyncKillable {
                call(callback)
                returned.open()
                while true { _ = spin(iterations: 1000) }
            }
        }
        eventually("inside the callback") { CPthreadShim_word_load(inCallback) == 1 }
        try thread.interrupt()
        eventually("a foreign-frame decline") { (thread.ref.injectionStatistics.declines[.foreignFrame] ?? 0) > 0 }
        #expect(thread.ref.injectionStatistics.jumps == 0)
        CPthreadShim_word_store(release, 1)
        try thread.interrupt()
        #expect(try thread.joinOrFail().report?.reason == .interrupted)
        returned.wait()
        let stats = thread.ref.injectionStatistics
        #expect(stats.jumps == 1, "\(stats)")
        withExtendedLifetime(code) {}
    }
}
#endif
