import ThreadKill

/// The seed's stop event (`_stop()` / `Event.wait`): the worker sleeps between
/// rounds, and a stop wakes the sleep at once — no `time.sleep(1)` to sit out.
enum EventDemo: Demo {
    static let name = "event"
    static let summary = "stop event: ctx.sleep(for:) returns the moment a stop is requested"

    static func run() throws {
        let worker = try KillableThread(name: "event-worker") { ctx in
            while true {
                print("thread running")
                try ctx.sleep(for: .seconds(1))
            }
        }
        pause(.milliseconds(100))
        var outcome: Outcome<Void>?
        let latency = try measure {
            try worker.requestStop()
            outcome = try worker.join()
        }
        print("thread killed (\(outcome?.report?.reason.rawValue ?? "?")) in \(latency.compactDescription), inside a 1 s sleep")
    }
}
