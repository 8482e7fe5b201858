import ThreadKill

/// pthread_cancel, done safely: only C frames are ever cancelled.
enum CancelDemo: Demo {
    static let name = "cancel"
    static let summary = "pthread_cancel a thread blocked in a C sleep; its Swift cleanups print"

    static func run() throws {
        let worker = try KillableThread(name: "c-call") { ctx in
            ctx.onKill { print("Swift cleanup stack: ran as the thread ended") }
            defer { print("Swift defer: ran as the cancel unwound the body") }
            print("c-call: blocked in clock_nanosleep(2) for an hour, inside C")
            try ctx.cancellableSleep(for: .seconds(3600))
            print("never printed")
        }
        pause(.milliseconds(50))
        var outcome: Outcome<Void>?
        let latency = try measure {
            try worker.cancel()
            outcome = try worker.join()
        }
        if case .killed(let report) = outcome, report.reason == .cancelled {
            print("joined: \(report.reason.rawValue) in \(latency.compactDescription)")
        }
    }
}
