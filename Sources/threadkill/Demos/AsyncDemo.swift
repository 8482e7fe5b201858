import ThreadKill

/// What no cooperative scheme can do: stop a loop that never checks anything.
enum AsyncDemo: Demo {
    static let name = "async"
    static let summary = "stop a pure arithmetic loop with no checkpoints, mid-flight"

    static func run() throws {
        let worker = try KillableThread(name: "runaway") { ctx -> UInt64 in
            do {
                return try ctx.asyncKillable { () -> UInt64 in
                    var x: UInt64 = 0x9E37_79B9_7F4A_7C15
                    ctx.onKill { print("cleanup: released the region's resources") }
                    print("runaway: spinning with no checkpoints...")
                    while true { x = x &* 6364136223846793005 &+ 1442695040888963407 }
                }
            } catch let kill as KillError {
                print("runaway: \(kill) landed; the thread lives on")
                throw kill
            }
        }
        pause(.milliseconds(50))
        var outcome: Outcome<UInt64>?
        let latency = try measure {
            try worker.interrupt()
            outcome = try worker.join()
        }
        print("joined: \(outcome?.report?.reason.rawValue ?? "?") in \(latency.compactDescription); \(worker.ref.injectionStatistics)")
    }
}
