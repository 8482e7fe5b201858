#if canImport(Glibc)
import Glibc
#endif
import ThreadKill

/// The seed's multiprocessing method: three counting processes, terminated
/// after 30 ms. Killing a process is safe where killing a thread is not.
enum ProcessDemo: Demo {
    static let name = "process"
    static let summary = "three counting processes terminated after 30 ms, all reaped"

    /// Counts like the seed's `func(number)`: nine steps of 10 ms.
    static let count = IsolatedProcess.register("demo-count") { (number: Int) -> Int in
        for i in 1..<10 {
            var ts = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&ts, nil)
            writeLine("Processing \(number): prints \(number * i)")
        }
        return number
    }

    /// Shows the exit policy in a child: a non-daemon thread holds the
    /// program open until the policy stops it; a daemon thread just dies.
    static let daemons = IsolatedProcess.register("demo-daemons") { (_: Int) -> Int in
        KillableThreads.exitPolicy = ExitPolicy(waitForNonDaemon: .milliseconds(100), stopGrace: .seconds(1))
        for daemon in [false, true] {
            _ = try KillableThread(name: daemon ? "daemon" : "non-daemon", daemon: daemon) { ctx in
                ctx.onKill { writeLine("  \(daemon ? "daemon" : "non-daemon") thread: stopped at exit, its cleanup ran") }
                while true { try ctx.sleep(for: .seconds(3600)) }
            }
        }
        writeLine("  child: main is done; exiting...")
        return 0
    }

    static func register() {
        _ = count
        _ = daemons
    }

    static func run() throws {
        let processes = try (0..<3).map { try IsolatedProcess.start(count, input: $0, standardOutput: .capture) }
        pause(.milliseconds(30))
        for process in processes {
            let result = try process.terminate(grace: .seconds(1))
            let lines = String(decoding: result.standardOutput ?? [], as: UTF8.self).split(separator: "\n")
            print("process \(process.processIdentifier): \(lines.last.map(String.init) ?? "(nothing yet)") — \(result.outcome); reaped")
        }
    }
}

/// The seed's daemon method.
enum DaemonDemo: Demo {
    static let name = "daemon"
    static let summary = "a non-daemon thread holds the program open until stopped; a daemon one dies with it"

    static func run() throws {
        let result = try IsolatedProcess.start(ProcessDemo.daemons, input: 0).wait()
        print("child exited: \(result.outcome)")
    }
}

/// Writes a line to standard output at once (a terminated process flushes nothing).
func writeLine(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}
