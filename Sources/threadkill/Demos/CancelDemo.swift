import ThreadKill

/// A cancel, done safely: it ends only a cancellable call, and every Swift
/// frame unwinds as for an error. (`ctx.cancellableCall` runs your own C on a
/// helper that `pthread_cancel` ends; this demo's sleep needs no helper.)
enum CancelDemo: Demo {
    static let name = "cancel"
    static let summary = "cancel a thread blocked in a cancellable sleep; its Swift cleanups print"

    static func run() throws {
        let worker = try KillableThread(name: "c-call") { ctx in
            ctx.onKill { print("Swift cleanup stack: ran as the thread ended") }
            defer { print("Swift defer: ran as the cancel unwound the body") }
            print("c-call: blocked in clock_nanosleep(2) for an hour (ctx.cancellableSleep)")
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
