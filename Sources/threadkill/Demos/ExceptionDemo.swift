import ThreadKill

/// The seed's first method: raise an exception inside another thread
/// (`PyThreadState_SetAsyncExc(thread_id, SystemExit)`).
enum ExceptionDemo: Demo {
    static let name = "exception"
    static let summary = "raise an error inside another thread; its defer prints \"ended\""

    struct SystemExit: Error {}

    static func run() throws {
        let worker = try KillableThread(name: "Thread 1") { ctx in
            defer { print("ended") }  // the seed's `finally`
            while true {
                print("running Thread 1")
                try ctx.checkpoint()           // where the raised error arrives
                _ = burn(.milliseconds(10))
            }
        }
        pause(.milliseconds(50))
        var outcome: Outcome<Void>?
        let latency = try measure {
            try worker.raise(SystemExit())
            outcome = try worker.join()
        }
        if case .threw(let error) = outcome {
            print("thread ended by \(error) in \(latency.compactDescription)")
        }
    }
}
