#if canImport(Glibc)
import Glibc
#endif
import ThreadKill

/// The seed's trace method (`sys.settrace` kills at the next line): in
/// ThreadKill the signal handler is the trace. A CPU-time budget stops a
/// runaway loop, and a trace tick lets a stop reach a foreign C call that
/// nobody signals.
enum TraceDemo: Demo {
    static let name = "trace"
    static let summary = "trace hooks: a CPU-time budget and a periodic tick examine the thread"

    static func run() throws {
        let runaway = try KillableThread(name: "runaway", cpuBudget: .milliseconds(50)) { ctx -> UInt64 in
            var x: UInt64 = 0
            while true {
                x &+= burn(.milliseconds(5))
                try ctx.checkpoint()
            }
        }
        let outcome = try runaway.join()
        print("runaway loop: \(outcome.report.map { "\($0.reason.rawValue) after 50 ms of CPU" } ?? "not stopped")")

        try withSilentPipe { readEnd in
            let foreign = try KillableThread(name: "foreign", tick: .milliseconds(5)) { ctx in
                try ctx.blocking {
                    var byte: UInt8 = 0
                    _ = Glibc.read(readEnd, &byte, 1)  // a C library's own read(2)
                }
            }
            pause(.milliseconds(20))
            var ended: Outcome<Void>?
            let latency = try measure {
                try foreign.requestStop()  // a polite stop sends no signal: the tick carries it
                ended = try foreign.join()
            }
            print("foreign read: \(ended?.report?.reason.rawValue ?? "?") within one 5 ms tick (\(latency.compactDescription))")
        }
    }
}
