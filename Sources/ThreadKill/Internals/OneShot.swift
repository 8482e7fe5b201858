import Synchronization

/// A continuation resumed exactly once, by whichever comes first of several
/// racing events (the thread's end, the task's cancellation, a timeout).
///
/// The event may come before the continuation exists (the thread ended, or
/// the task was cancelled, before `withCheckedContinuation` ran its body):
/// it is kept, and ``install(_:)`` resumes at once. Later events are ignored.
final class OneShot<T: Sendable>: Sendable {
    private struct State {
        var result: T?
        var continuation: CheckedContinuation<T, Never>?
    }

    private let state = Mutex(State())

    /// Hands over the continuation; resumes it now if an event came first.
    func install(_ continuation: CheckedContinuation<T, Never>) {
        let early = state.withMaskedLock { s -> T? in
            if let result = s.result { return result }
            s.continuation = continuation
            return nil
        }
        if let early { continuation.resume(returning: early) }
    }

    /// Awaits the first event (one awaiter at most: there is one continuation).
    var value: T {
        get async { await withCheckedContinuation { install($0) } }
    }

    /// Reports an event. The first one wins and resumes the continuation (now,
    /// or when it is installed); returns whether this one was first.
    @discardableResult
    func resolve(_ value: T) -> Bool {
        let (first, continuation) = state.withMaskedLock { s -> (Bool, CheckedContinuation<T, Never>?) in
            guard s.result == nil else { return (false, nil) }
            s.result = value
            defer { s.continuation = nil }
            return (true, s.continuation)
        }
        continuation?.resume(returning: value)
        return first
    }
}
