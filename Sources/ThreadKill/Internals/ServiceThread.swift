#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim

/// Starts a detached plain pthread (not a killable thread) running `body`:
/// ThreadKill's own service threads — the watchdog, the signal waiter, the
/// shutdown runner, the spawner. With `blockingAllSignals`, the thread has
/// every signal blocked from its first instruction (it inherits the mask held
/// while it is created).
func startServiceThread(named name: String, blockingAllSignals: Bool = false,
                        _ body: @escaping @Sendable () -> Void) throws(ThreadKillError) {
    final class Box: Sendable {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    var old = sigset_t()
    if blockingAllSignals {
        var all = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_SETMASK, &all, &old)
    }
    defer { if blockingAllSignals { pthread_sigmask(SIG_SETMASK, &old, nil) } }
    let box = Unmanaged.passRetained(Box(name: name, body: body))
    var thread = pthread_t()
    let err = pthread_create(&thread, nil, { arg in
        let box = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
        nameCurrentThread(box.name)
        box.body()
        return nil
    }, box.toOpaque())
    if err != 0 {
        box.release()
        throw .system("pthread_create", err)
    }
    pthread_detach(thread)
}

/// Names the calling thread as `/proc/self/task/*/comm` shows it. The kernel
/// keeps at most 15 bytes and refuses longer names outright (`ERANGE`), so a
/// name that does not fit leaves the thread with its creator's name: a bug,
/// caught here in debug builds.
func nameCurrentThread(_ name: String) {
    let err = CPthreadShim_pthread_setname_np(name)
    assert(err == 0, "ThreadKill: pthread_setname_np(\"\(name)\") failed with errno \(err): at most 15 bytes")
}
