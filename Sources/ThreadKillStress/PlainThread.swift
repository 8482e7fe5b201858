#if canImport(Glibc)
import Glibc
#endif

/// A bare pthread for the run's own machinery (killers, the watchdog), so
/// that ``ThreadKill/KillableThreads/liveThreads`` lists only the workers.
final class PlainThread {
    private var thread = pthread_t()
    private var joined = false

    init(_ body: @escaping @Sendable () -> Void) {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let err = pthread_create(&thread, nil, { arg in
            Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, box)
        precondition(err == 0, "pthread_create failed with \(err): lower --threads")
    }

    func join() {
        guard !joined else { return }
        pthread_join(thread, nil)
        joined = true
    }
}
