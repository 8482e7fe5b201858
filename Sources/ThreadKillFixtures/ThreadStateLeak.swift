// `state-leak joined|detached|refused`: malloc still in use, per thread, after
// many killable threads have come and gone — joined, dropped unjoined (they
// end by themselves), or refused by pthread_create. A thread's state is a
// reference cycle until its end breaks it (its stop source's hook holds it),
// so a missed break shows here as bytes. A child process: mallinfo2 counts
// the whole process.
#if canImport(Glibc)
import Glibc
#endif
import CThreadKillTestSupport
import ThreadKill
import ThreadKillTestSupport

private let leakRounds = 2_000
/// A stack pthread_create cannot map (64 TiB): it fails with EAGAIN after
/// ThreadKill has made the thread's state.
private let unmappableStack = 1 << 46

func threadStateLeakScenario(_ mode: String) throws {
    func round() throws {
        switch mode {
        case "joined":
            let thread = try KillableThread(name: "state-leak") { ctx in try ctx.sleep(for: .seconds(3600)) }
            try thread.requestStop()
            _ = try thread.join()
        case "detached":
            let thread = try KillableThread(name: "state-leak") { ctx in try ctx.sleep(for: .seconds(3600)) }
            try thread.requestStop()
        case "refused":
            do {
                _ = try KillableThread(name: "state-leak", stackSize: unmappableStack) { _ in }
                throw FixtureError(detail: "a 64 TiB stack was mapped")
            } catch let error as ThreadKillError where error.code == .systemCall {}
        default:
            throw FixtureError(detail: "state-leak mode \(mode)")
        }
    }
    /// Until every thread has exited: a detached one drops its last
    /// references after it has left the registry, under its own name.
    func settle() {
        while !KillableThreads.liveThreads.isEmpty || threadNames().contains("state-leak") { sched_yield() }
    }
    for _ in 0..<100 { try round() }  // the registry's tables and the runtime's caches grow here
    settle()
    let before = Int(tk_test_malloc_in_use())
    for _ in 0..<leakRounds { try round() }
    settle()
    let after = Int(tk_test_malloc_in_use())
    say("\(mode): \((after - before) / leakRounds) bytes per thread")
}
