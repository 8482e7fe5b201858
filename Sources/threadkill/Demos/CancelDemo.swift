#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import ThreadKill

/// pthread_cancel, done safely: only C frames are ever cancelled.
enum CancelDemo: Demo {
    static let name = "cancel"
    static let summary = "pthread_cancel a thread blocked in a foreign C call; its cleanups print"

    static let cleanup: @convention(c) (UnsafeMutableRawPointer?) -> Void = { _ in
        print("C cleanup (pthread_cleanup_push): closed the call's C resources")
    }

    static func run() throws {
        let worker = try KillableThread(name: "c-call") { ctx in
            ctx.onKill { print("Swift cleanup stack: ran as the thread ended") }
            defer { print("Swift defer: ran as the cancel unwound the body") }
            print("c-call: blocked in usleep(3) for an hour, inside C")
            var micros = 3_600_000_000
            _ = try withUnsafeMutablePointer(to: &micros) {
                try ctx.cancellableCall(CPthreadShim_leaf_usleep, argument: $0, onCancel: cleanup)
            }
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
