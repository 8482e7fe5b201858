// Safety-check hazards that crash or hang the process that meets them: the
// tests run them here, in a child, and read the exit status and output
// (SafetyCheckTests). `hazard NAME` prints "ok" at the end when nothing broke.
#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import Synchronization
import ThreadKill

/// Burns CPU in the program's own code, with no delivery point. A `while`,
/// not a range loop: at -Onone that calls `IndexingIterator.next` in
/// libswiftCore, where the PC check alone would refuse a jump.
@inline(never)
func hazardSpin(_ iterations: Int) -> Int {
    var x = 0, j = 0
    while j < iterations { x = x &* 31 &+ j; j &+= 1 }
    return x
}

/// A global: every `inout` access to it is checked for exclusivity at run
/// time, with an access record on the stack of the frame that makes it.
nonisolated(unsafe) var exclusiveGlobal = 0
let insideAccess = Atomic(false)
let releaseAccess = Atomic(false)

/// Holds an exclusive access to `value` open (the record lives in the
/// caller's frame) until released.
@inline(never)
func spinInsideAccess(_ value: inout Int) {
    insideAccess.store(true, ordering: .releasing)
    while !releaseAccess.load(ordering: .acquiring) { value &+= hazardSpin(100) & 1 }
}

@inline(never)
func bumpGlobal(_ value: inout Int) { value &+= 1 }

/// The calling thread's Swift exclusivity access set head, as the runtime
/// reports it (the call the shim's check makes: with an empty task state it
/// only copies the head out, changing nothing).
@_silgen_name("swift_task_enterThreadLocalContext")
private func swiftTaskEnterThreadLocalContext(_ state: UnsafeMutablePointer<UInt8>)

private func accessSetHead() -> UInt {
    var state = (UInt(0), UInt(0))
    withUnsafeMutableBytes(of: &state) { swiftTaskEnterThreadLocalContext($0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
    return state.0
}

/// `hazard exclusivity`: a kill aimed at a thread inside an exclusive access
/// to a global. A jump would skip the frame holding the access record and leave
/// it at the head of the runtime's access set: the next access crashes
/// (SIGSEGV in AccessSet::insert, or a false "simultaneous accesses" trap).
func exclusivityScenario() throws {
    let block = Atomic<UInt>(0)
    let thread = try KillableThread(name: "exclusive") { ctx -> Int in
        block.store(UInt(bitPattern: CPthreadShim_thread_block()), ordering: .releasing)
        let headBefore = accessSetHead()
        do {
            try ctx.asyncKillable {
                spinInsideAccess(&exclusiveGlobal)
                while true { _ = hazardSpin(1000) }
            }
        } catch is KillError {}
        // The runtime's access set must be what it was: a jump out of the
        // access would leave the skipped frame's record at its head (what the
        // next access then trips over, or not, depending on what has since
        // been written over that stack).
        if accessSetHead() != headBefore { return 2 }
        // After the kill: new accesses to the same global, from fresh frames.
        for _ in 0..<1000 { bumpGlobal(&exclusiveGlobal) }
        return 1
    }
    while !insideAccess.load(ordering: .acquiring) { sched_yield() }
    let b = UnsafeMutablePointer<CPthreadShim_block>(bitPattern: block.load(ordering: .acquiring))!
    let before = CPthreadShim_handled_load(b)
    try thread.interrupt()
    while CPthreadShim_handled_load(b) == before { sched_yield() }  // the handler judged the access
    releaseAccess.store(true, ordering: .releasing)
    let outcome = try thread.join()
    say(outcome.value == 1 ? "ok" : outcome.value == 2 ? "access set left changed by the kill" : "outcome \(outcome)")
}

/// A lazy global whose initializer runs under swift_once until let go:
/// 1 = running, 2 = let go.
let gatedInitializerState = Atomic(0)
let gatedValue: Int = {
    gatedInitializerState.store(1, ordering: .releasing)
    while gatedInitializerState.load(ordering: .acquiring) != 2 { _ = hazardSpin(100) }
    return 7
}()

/// Reads `gatedValue` for the first time inside an exclusive access to
/// `value`: swift_once returns into this frame with the access still open.
@inline(never)
func readGatedInsideAccess(_ value: inout Int) { value &+= gatedValue }

/// `hazard exclusivity-return`: a kill aimed at a thread inside swift_once,
/// itself inside an exclusive access. The handler hijacks swift_once's return;
/// at that return the access is still open, so the trampoline's checks must
/// decline there too — a landing would leave the access record behind.
func exclusivityAtReturnScenario() throws {
    let block = Atomic<UInt>(0)
    let thread = try KillableThread(name: "exclusive-ret") { ctx -> Int in
        block.store(UInt(bitPattern: CPthreadShim_thread_block()), ordering: .releasing)
        let headBefore = accessSetHead()
        do {
            try ctx.asyncKillable {
                readGatedInsideAccess(&exclusiveGlobal)
                while true { _ = hazardSpin(1000) }
            }
        } catch is KillError {}
        if accessSetHead() != headBefore { return 2 }
        for _ in 0..<1000 { bumpGlobal(&exclusiveGlobal) }
        return 1
    }
    while gatedInitializerState.load(ordering: .acquiring) != 1 { sched_yield() }
    let b = UnsafeMutablePointer<CPthreadShim_block>(bitPattern: block.load(ordering: .acquiring))!
    try thread.interrupt()
    // Let swift_once return once the handler has hijacked its return (or,
    // should hijacks be off, after a few declines inside the initializer).
    while CPthreadShim_returns_hijacked(b) == 0 && CPthreadShim_declines(b, Int32(CPthreadShim_DECLINE_FRAME)) < 5 { sched_yield() }
    gatedInitializerState.store(2, ordering: .releasing)
    let outcome = try thread.join()
    say(outcome.value == 1 ? "ok" : outcome.value == 2 ? "access set left changed by the kill" : "outcome \(outcome)")
}

func hazardScenario(_ name: String) throws {
    alarm(60)  // a hazard that hangs ends the child (SIGALRM) instead of the test run
    switch name {
    case "exclusivity": try exclusivityScenario()
    case "exclusivity-return": try exclusivityAtReturnScenario()
    default: say("unknown hazard \(name)")
    }
}
