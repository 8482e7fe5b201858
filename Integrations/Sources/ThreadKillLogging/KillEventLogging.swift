import Logging
import ThreadKill

/// Forwards ThreadKill's kill events (``ThreadKill/KillEvent``) to a swift-log
/// `Logger` that you pass in: it never makes a logger of its own.
///
/// Routine events — a kill requested, delivered or declined, a ladder step,
/// a thread's end — are logged at `debug`; events that say something is
/// wrong or the program is ending — resends abandoned, the signal handler
/// replaced, an exit-policy stop — at `info`. Each entry carries the
/// thread, the kill and the event's details as metadata (keys starting with
/// `threadkill.`).
///
/// ```swift
/// var logger = Logger(label: "server")
/// logger.logLevel = .debug
/// KillEventLogging.install(logger)
/// // … later, kills log entries such as
/// // debug threadkill.event=delivered threadkill.kill=3 threadkill.reason=stop requested threadkill.thread=#2 worker: kill delivered
/// ```
public struct KillEventLogging: Sendable {
    /// The logger entries go to.
    public let logger: Logger

    /// A forwarder to `logger`; ``install(_:)`` makes it the event hook.
    public init(logger: Logger) {
        self.logger = logger
    }

    /// Makes a forwarder to `logger` ThreadKill's event hook
    /// (`KillableThreads.eventHook`), replacing any hook set before.
    ///
    /// The hook is process-wide: install it once, where the program sets up
    /// its logging. Events are logged on the thread where they happen, one
    /// at a time, so `logger`'s handler should be quick (as log handlers are).
    public static func install(_ logger: Logger) {
        let forwarder = KillEventLogging(logger: logger)
        KillableThreads.eventHook = { forwarder.log($0) }
    }

    /// Removes the event hook, whoever set it: events cost one atomic load again.
    public static func uninstall() {
        KillableThreads.eventHook = nil
    }

    /// Logs `event` at its level (see ``level(of:)``), with its details as metadata.
    public func log(_ event: KillEvent) {
        logger.log(level: Self.level(of: event), "\(Self.message(for: event))", metadata: Self.metadata(of: event))
    }

    /// `info` for resends abandoned, a replaced signal handler and exit-policy
    /// stops; `debug` for everything else.
    public static func level(of event: KillEvent) -> Logger.Level {
        switch event.kind {
        case .resendsAbandoned, .signalHandlerReplaced, .exitPolicyStop: return .info
        default: return .debug
        }
    }

    /// A short sentence: "kill requested", "thread ended", "ladder step" …
    static func message(for event: KillEvent) -> String {
        switch event.kind {
        case .requested: return "kill requested"
        case .delivered: return "kill delivered"
        case .declined: return "kill declined"
        case .escalated: return "ladder step"
        case .resendsAbandoned: return "kill resends abandoned; the kill stays pending"
        case .signalHandlerReplaced: return "ThreadKill's signal handler was replaced; signal-based kills no longer land"
        case .exitPolicyStop: return "exit policy stopping thread"
        case .ended: return "thread ended"
        default: return "\(event.kind)"
        }
    }

    /// The event's details, as metadata.
    static func metadata(of event: KillEvent) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["threadkill.event": "\(event.kind)"]
        if let thread = event.thread { metadata["threadkill.thread"] = "#\(thread.id) \(thread.name)" }
        if let kill = event.kill {
            metadata["threadkill.kill"] = "\(kill.id.rawValue)"
            metadata["threadkill.reason"] = "\(kill.reason.rawValue)"
        }
        if let reason = event.declineReason {
            metadata["threadkill.declineReason"] = "\(reason.rawValue)"
            metadata["threadkill.count"] = "\(event.count)"
        }
        if event.kind == .resendsAbandoned { metadata["threadkill.count"] = "\(event.count)" }
        if let step = event.step { metadata["threadkill.step"] = "\(step)" }
        if let signal = event.signal { metadata["threadkill.signal"] = "\(signal)" }
        if event.kind == .ended {
            if let report = event.report {
                metadata["threadkill.kill"] = "\(report.killID.rawValue)"
                metadata["threadkill.reason"] = "\(report.reason.rawValue)"
                metadata["threadkill.outcome"] = "\(report)"
            } else if let error = event.error {
                metadata["threadkill.outcome"] = "threw \(error)"
            } else {
                metadata["threadkill.outcome"] = "returned"
            }
        }
        return metadata
    }
}
