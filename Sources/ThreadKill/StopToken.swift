#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The owner of a stop request: the seed's "stop flag", done with C++20
/// `std::stop_source` semantics.
///
/// A stop is requested at most once. Callbacks registered through a
/// ``StopToken`` run exactly once: on the thread that requests the stop, or at
/// once on the registering thread if the stop was already requested.
///
/// ```swift
/// let group = StopSource()
/// let worker = try KillableThread(stopToken: group.token) { ctx in
///     while !ctx.isStopRequested { work() }
/// }
/// group.requestStop()   // stops every thread linked to `group`
/// ```
public struct StopSource: Sendable, Hashable {
    let state: StopState

    /// A new source with no stop requested.
    public init() {
        state = StopState()
    }

    /// A source that is stopped when `parent` is, or when asked directly.
    ///
    /// Requesting a stop on the new source does not affect the parent.
    public init(linkedTo parent: StopToken) {
        state = StopState()
        state.link(to: parent)
    }

    /// The token that observes this source.
    public var token: StopToken { StopToken(state: state) }

    /// Whether a stop has been requested.
    public var isStopRequested: Bool { state.isStopRequested }

    /// Requests a stop and runs every registered callback on the calling thread.
    ///
    /// - Returns: `true` if this call made the request, `false` if a stop had
    ///   already been requested.
    @discardableResult
    public func requestStop() -> Bool { state.requestStop() }

    public static func == (a: StopSource, b: StopSource) -> Bool { a.state === b.state }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(state)) }
}

/// Observes a ``StopSource``: cheap to copy, safe to share.
public struct StopToken: Sendable {
    let state: StopState?

    /// A token that can never be stopped.
    public init() { state = nil }

    init(state: StopState) { self.state = state }

    /// Whether a stop has been requested. One atomic load.
    public var isStopRequested: Bool { state?.isStopRequested ?? false }

    /// Whether a stop can ever be requested through this token
    /// (C++'s `stop_possible`).
    public var isStopPossible: Bool { state != nil }

    /// Registers `callback` to run once when a stop is requested.
    ///
    /// If a stop was already requested, `callback` runs now, on this thread,
    /// before `onStop` returns. Keep the returned registration alive for as
    /// long as the callback should stay registered: dropping it, or calling
    /// ``StopCallback/cancel()``, unregisters it — and if the callback is
    /// running on another thread at that moment, waits until it has finished.
    public func onStop(_ callback: @escaping @Sendable () -> Void) -> StopCallback {
        guard let state else { return StopCallback(state: nil, id: 0) }
        return StopCallback(state: state, id: state.register(callback))
    }
}

/// A registration made by ``StopToken/onStop(_:)``. Unregisters when dropped.
public final class StopCallback: Sendable {
    private let state: StopState?
    private let id: UInt64

    init(state: StopState?, id: UInt64) {
        self.state = state
        self.id = id
    }

    /// Unregisters the callback. If it is running on another thread, waits for
    /// it to finish; from inside the callback itself, returns at once.
    public func cancel() {
        if id != 0 { state?.unregister(id) }
    }

    deinit { cancel() }
}

/// What a stop request calls first, under the source's lock (see
/// `StopState.setBeforeRequest`).
protocol StopHook: AnyObject, Sendable {
    func stopRequested()
}

/// The shared state behind a source and its tokens.
final class StopState: @unchecked Sendable {
    private let lock = ConditionLock.make()
    private let requested = Atomic<Bool>(false)
    // Guarded by `lock`.
    private var callbacks: [(id: UInt64, run: @Sendable () -> Void)] = []
    private var nextID: UInt64 = 1
    private var running: (id: UInt64, thread: pthread_t)?
    private var parentLink: StopCallback?
    /// Runs before the flag is set: a killable thread's own source sets the
    /// thread's kill word here, so whoever sees the token stopped also finds
    /// the stop at the thread's next checkpoint. An object, not a closure: a
    /// closure capturing the thread's state was a malloc per thread.
    private var beforeRequest: (any StopHook)?

    var isStopRequested: Bool { requested.load(ordering: .acquiring) }

    func setBeforeRequest(_ hook: (any StopHook)?) {
        lock.withLock { beforeRequest = hook }
    }

    func link(to parent: StopToken) {
        let registration = parent.onStop { [weak self] in _ = self?.requestStop() }
        lock.withLock { parentLink = registration }
    }

    func requestStop() -> Bool {
        lock.lock()
        if requested.load(ordering: .relaxed) {
            lock.unlock()
            return false
        }
        beforeRequest?.stopRequested()
        requested.store(true, ordering: .releasing)
        while !callbacks.isEmpty {
            let callback = callbacks.removeFirst()
            running = (callback.id, pthread_self())
            lock.unlock()
            callback.run()
            lock.lock()
            running = nil
            lock.broadcast()
        }
        let link = parentLink
        parentLink = nil
        lock.unlock()
        _ = link  // released outside the lock: its deinit takes the parent's lock
        return true
    }

    /// Requests the stop here if no callback is registered (there is then
    /// nothing that could block), and returns true; returns false, doing
    /// nothing, if callbacks wait to run. Atomic with registration.
    func requestStopIfNoCallbacks() -> Bool {
        lock.lock()
        if requested.load(ordering: .relaxed) {
            lock.unlock()
            return true
        }
        guard callbacks.isEmpty else {
            lock.unlock()
            return false
        }
        beforeRequest?.stopRequested()
        requested.store(true, ordering: .releasing)
        let link = parentLink
        parentLink = nil
        lock.unlock()
        _ = link  // released outside the lock: its deinit takes the parent's lock
        return true
    }

    /// Returns the registration id, or 0 if the callback already ran.
    func register(_ callback: @escaping @Sendable () -> Void) -> UInt64 {
        lock.lock()
        if requested.load(ordering: .relaxed) {
            lock.unlock()
            callback()
            return 0
        }
        let id = nextID
        nextID += 1
        callbacks.append((id, callback))
        lock.unlock()
        return id
    }

    func unregister(_ id: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        if let index = callbacks.firstIndex(where: { $0.id == id }) {
            callbacks.remove(at: index)
            return
        }
        while let now = running, now.id == id, pthread_equal(now.thread, pthread_self()) == 0 {
            lock.wait(until: .never)
        }
    }
}
