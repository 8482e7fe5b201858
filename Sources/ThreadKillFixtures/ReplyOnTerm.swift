// The `replyOnTerm` job: it answers SIGTERM by returning its value, so that
// a `run` whose timeout terminates it gets the reply instead of a TimeoutError.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import ThreadKill
import ThreadKillTestSupport

/// Set by the SIGTERM handler (an atomic store: async-signal-safe).
private let termSeen = Atomic<Bool>(false)

/// Blocks SIGTERM, installs the handler, reports "ready" on the FIFO, then
/// waits for SIGTERM with `sigsuspend` (no window in which it could be lost)
/// and returns 7.
func registerReplyOnTerm() {
    FixtureJob.replyOnTerm.register { (ready: String) -> Int in
        _ = termSeen.load(ordering: .relaxed)  // initialized before the handler can run
        var term = sigset_t()
        sigemptyset(&term)
        sigaddset(&term, SIGTERM)
        var waiting = sigset_t()
        pthread_sigmask(SIG_BLOCK, &term, &waiting)
        sigdelset(&waiting, SIGTERM)
        signal(SIGTERM) { _ in termSeen.store(true, ordering: .relaxed) }
        writeLine("ready", toFIFO: ready)
        while !termSeen.load(ordering: .relaxed) { sigsuspend(&waiting) }
        return 7
    }
}
