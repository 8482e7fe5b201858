#if canImport(Glibc)
import Glibc
#endif
import ThreadKill
import ThreadKillStress

extension ThreadKillCommand {
    /// The program's entry point.
    ///
    /// A copy of this program started by ``IsolatedProcess`` is a worker: it
    /// must register the jobs and run the requested one before anything else —
    /// no argument parsing, no output, no threads.
    static func main() {
        StressJobs.register()
        ProcessDemo.register()
        LatencyJobs.register()
        IsolatedProcess.runWorkerIfRequested()
        exit(run(Array(CommandLine.arguments.dropFirst())).rawValue)
    }

    /// Parses `arguments`, does what they ask and reports how it went.
    ///
    /// Help and the version go to standard output with status 0; a usage
    /// error goes to standard error with status 64 (`EX_USAGE`); a failure
    /// of a command goes to standard error with status 1.
    static func run(_ arguments: [String]) -> ExitStatus {
        do {
            switch try parse(arguments) {
            case .help(let text):
                print(text, terminator: "")
                return .success
            case .version(let line):
                print(line)
                return .success
            case .run(let command):
                return try command.run()
            }
        } catch let error as UsageError {
            writeStandardError(error.description)
            return .usage
        } catch {
            writeStandardError("Error: \(error)")
            return .failure
        }
    }

    /// Writes `line` and a newline to standard error.
    private static func writeStandardError(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            if n <= 0 { if errno == EINTR { continue } else { return } }
            offset += n
        }
    }
}
