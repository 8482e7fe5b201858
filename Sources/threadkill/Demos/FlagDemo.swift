import ThreadKill

/// The seed's "set/reset stop flag": a worker polls a flag between units of work.
enum FlagDemo: Demo {
    static let name = "flag"
    static let summary = "stop flag: the worker polls ctx.isStopRequested between units of work"

    static func run() throws {
        let worker = try KillableThread(name: "flag-worker") { ctx -> Int in
            var units = 0
            while !ctx.isStopRequested {
                print("thread running")
                _ = burn(.milliseconds(20))  // a unit of work with no check inside
                units += 1
            }
            return units
        }
        pause(.milliseconds(110))
        var outcome: Outcome<Int>?
        let latency = try measure {
            try worker.requestStop()
            outcome = try worker.join()
        }
        print("thread killed after \(outcome?.value ?? 0) units; stop took \(latency.compactDescription) (at most one 20 ms unit)")
    }
}
