import Logging
import ServiceLifecycle
import ThreadKill

/// A ServiceLifecycle `Service` whose work runs on a killable thread, so
/// that a `ServiceGroup` can stop it even while it is blocked in a system
/// call (`ctx.accept`, `ctx.read`), spinning, or inside a C library.
///
/// - The group's **graceful shutdown** (its graceful-shutdown signals, or
///   `triggerGracefulShutdown()`) requests a stop: the body sees a
///   ``ThreadKill/KillError`` with reason `stopRequested` at its next delivery
///   point, and every interruptible call wakes for it at once.
/// - The group's **cancellation** — when its `maximumGracefulShutdownDuration`
///   has passed, on a cancellation signal, or when another service failed —
///   climbs the escalation ladder (`onCancel`: stop request, interrupt,
///   injection, cancel, within the policy's grace).
/// - How the thread was stopped is logged to the `logger` you pass, at
///   `info` (at `warning` if the ladder could not stop it).
///
/// ```swift
/// let listener = try makeListeningSocket(port: 8080)
/// let service = KillableThreadService(name: "acceptor", logger: logger) { ctx in
///     while true {
///         let client = try ctx.accept(listener)   // wakes at once on shutdown
///         handle(client)
///     }
/// }
/// let group = ServiceGroup(configuration: .init(
///     services: [.init(service: service)],
///     gracefulShutdownSignals: [.sigterm, .sigint],
///     logger: logger))
/// try await group.run()
/// ```
///
/// - Important: Do not call `KillableThreads.handleTerminationSignals` in a
///   program that runs a `ServiceGroup` with signals: both want `SIGTERM`
///   and `SIGINT`. The group owns them; this service turns them into stops.
public struct KillableThreadService: Service, CustomStringConvertible {
    /// The thread's name, and the service's in log entries.
    public let name: String
    /// How the group's cancellation stops the thread.
    public let onCancel: CancellationPolicy
    private let logger: Logger
    private let body: @Sendable (KillContext) throws -> Void

    /// A service that runs `body` on a new killable thread each time the
    /// group runs it.
    ///
    /// - Parameters:
    ///   - name: The thread's name (`/proc/self/task/*/comm` keeps 15 bytes).
    ///   - onCancel: How the group's cancellation stops the thread: by
    ///     default the escalation ladder within 1 s. Keep its grace below the
    ///     group's `maximumCancellationDuration`.
    ///   - logger: Where the service logs the thread's start and how it was stopped.
    ///   - body: The work. It should reach delivery points (interruptible
    ///     calls such as `ctx.accept`, `ctx.read`, `ctx.sleep`, or
    ///     `ctx.checkpoint()`) so that a graceful shutdown's stop ends it.
    public init(
        name: String,
        onCancel: CancellationPolicy = .default,
        logger: Logger,
        _ body: @escaping @Sendable (KillContext) throws -> Void
    ) {
        self.name = name
        self.onCancel = onCancel
        self.logger = logger
        self.body = body
    }

    /// Runs the body on a killable thread until it ends.
    ///
    /// - Throws: What the body threw; the ``ThreadKill/KillError`` of a kill
    ///   from elsewhere that ended it; ``ThreadKill/TaskCancelledError`` when
    ///   the group's cancellation could not stop the thread within its grace
    ///   (the thread is still running); ``ThreadKill/ThreadKillError`` if the
    ///   thread cannot start. It returns normally when the body returned or
    ///   a stop (graceful shutdown or cancellation) ended it.
    public func run() async throws {
        var logger = self.logger
        logger[metadataKey: "threadkill.service"] = "\(name)"
        let thread = try KillableThread<Void>(name: name, body)
        logger.debug("thread started", metadata: ["threadkill.thread": "#\(thread.id) \(thread.name)"])
        let outcome: Outcome<Void>
        do {
            outcome = try await withGracefulShutdownHandler {
                try await thread.join(onCancel: onCancel)
            } onGracefulShutdown: {
                // Already ended: nothing to stop.
                try? thread.requestStop()
            }
        } catch let cancelled as TaskCancelledError {
            if let report = cancelled.report, report.stopped {
                logger.info("thread stopped on cancellation", metadata: ["threadkill.stop": "\(report)"])
                return
            }
            logger.warning("thread NOT stopped on cancellation; it is still running",
                           metadata: ["threadkill.stop": "\(cancelled.report.map { "\($0)" } ?? "none")"])
            throw cancelled
        }
        switch outcome {
        case .returned:
            logger.debug("thread returned")
        case .killed(let report) where report.reason == .stopRequested:
            logger.info("thread stopped on graceful shutdown", metadata: ["threadkill.stop": "\(report)"])
        default:
            logger.info("thread ended", metadata: ["threadkill.outcome": "\(outcome)"])
            try outcome.get()
        }
    }

    public var description: String { "KillableThreadService(\(name))" }
}
