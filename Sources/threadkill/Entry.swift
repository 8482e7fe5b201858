import ThreadKill
import ThreadKillStress

extension ThreadKillCommand {
    /// The program's entry point (chosen by `@main` over the protocol's default).
    ///
    /// A copy of this program started by ``IsolatedProcess`` is a worker: it
    /// must register the jobs and run the requested one before anything else —
    /// no argument parsing, no output, no threads.
    static func main() {
        StressJobs.register()
        ProcessDemo.register()
        IsolatedProcess.runWorkerIfRequested()
        main(nil)
    }
}
