// An async request handler that calls a blocking C function and is cancelled
// by a task timeout.
//
// example_slow_lookup blocks in sleep(3) inside C. Called directly from a
// task, cancelling the task could not stop it, and it would hold a
// cooperative-pool thread for as long as it blocks. Run on a killable thread
// with cancellableCall, the task is suspended (no pool thread waits), and
// when the timeout cancels it, ThreadKill cancels the C call
// (pthread_cancel, its C frames unwound) and the task throws
// TaskCancelledError with what the stop did.
#if canImport(Glibc)
import Glibc
#endif
import CExampleLibrary
import ThreadKill

/// Handles one request: a lookup in the blocking C library.
func handle(seconds: UInt32) async throws -> Int {
    try await KillableThread.run(name: "lookup") { ctx in
        var wait = seconds
        return try withUnsafeMutablePointer(to: &wait) { try ctx.cancellableCall(example_slow_lookup, argument: $0) }
    }
}

/// Runs `operation`, cancelling it when `timeout` passes first.
func withTaskTimeout<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        while let next = try await group.next() {
            if let value = next { return value }
            group.cancelAll()  // the timer fired: cancel the request; its error comes next
        }
        throw CancellationError()
    }
}

@main
struct AsyncHandler {
    static func main() async {
        var ok = true
        // A quick request finishes within its timeout.
        do {
            let value = try await withTaskTimeout(.seconds(30)) { try await handle(seconds: 0) }
            print("async-handler: quick request answered \(value)")
        } catch {
            print("async-handler: quick request failed: \(error)")
            ok = false
        }
        // A request stuck for an hour in C is cancelled by its 100 ms timeout.
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let value = try await withTaskTimeout(.milliseconds(100)) { try await handle(seconds: 3600) }
            print("async-handler: slow request answered \(value)?!")
            ok = false
        } catch let cancelled as TaskCancelledError {
            print("async-handler: slow request cancelled by its timeout after \(clock.now - start): \(cancelled)")
            ok = ok && cancelled.report?.stopped == true
        } catch {
            print("async-handler: slow request failed: \(error)")
            ok = false
        }
        exit(ok ? 0 : 1)
    }
}
