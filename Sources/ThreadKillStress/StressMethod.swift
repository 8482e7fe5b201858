/// A way of stopping work that a stress run exercises.
///
/// Adding a method is local: a case here, its line in ``needs``, and its
/// killer in `Killers.swift` (one `case` of `Killer.fire`), or, for a method
/// that does not target a thread, its own operation like `ProcessKiller`.
public enum StressMethod: String, CaseIterable, Sendable, Hashable, Comparable {
    /// ``ThreadKill/ThreadRef/requestStop()``: the cooperative stop flag.
    case stop
    /// ``ThreadKill/ThreadRef/interrupt()``: wakes the current interruptible call.
    case interrupt
    /// ``ThreadKill/ThreadRef/raise(_:)``: throws a chosen error in the thread.
    case raise
    /// An interrupt aimed at a thread inside an async region, where it lands by a jump.
    case async
    /// ``ThreadKill/IsolatedProcess/terminate(grace:)`` on a short job in a child process.
    case process
    /// ``ThreadKill/ThreadRef/cancel()`` aimed at a thread in a cancellable C call.
    case cancel

    /// What a method needs of its target.
    enum Target {
        /// Any worker body.
        case anyBody
        /// A body that spends its time in an async region.
        case asyncRegion
        /// No thread: a child process.
        case childProcess
        /// A body that blocks in a cancellable C call.
        case cancellableCall
    }

    var needs: Target {
        switch self {
        case .stop, .interrupt, .raise: return .anyBody
        case .async: return .asyncRegion
        case .process: return .childProcess
        case .cancel: return .cancellableCall
        }
    }

    public static func < (a: StressMethod, b: StressMethod) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Parses a comma-separated list such as `"stop,raise"`.
    ///
    /// - Returns: The methods in declaration order, or nil if a name is unknown or the list is empty.
    public static func parseList(_ text: String) -> [StressMethod]? {
        var chosen = Set<StressMethod>()
        for word in text.split(separator: ",") {
            guard let method = StressMethod(rawValue: word.trimmingCharacters(in: " ")) else { return nil }
            chosen.insert(method)
        }
        return chosen.isEmpty ? nil : chosen.sorted()
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}
