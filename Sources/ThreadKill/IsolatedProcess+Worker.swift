#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim

/// The contract between a parent and the worker it spawns: environment
/// variables and fixed file descriptors.
enum WorkerEnvironment {
    /// The job to run; its presence is what makes a process a worker.
    static let jobVariable = "THREADKILL_WORKER_JOB"
    /// The encoded input (a memfd, read from offset 0).
    static let inputFD: Int32 = 3
    /// Where the job writes its ``JobReply``.
    static let replyFD: Int32 = 4
    /// The supervisor's end of the control socket (see ``SupervisorMessage``).
    static let controlFD: Int32 = 5
    /// The child closes everything from here up.
    static let firstClosedFD: Int32 = 6
    /// How a worker exits when its parent is already gone.
    static let orphanExitStatus: Int32 = 125
    /// How a worker exits when its supervisor cannot work (a failed `fork`,
    /// `signalfd`...); it says why on standard error.
    static let supervisorFailureExitStatus: Int32 = 126

    /// This process's environment, less any worker variable, plus the
    /// variable that starts `job`.
    static func make(job: String) -> [String] {
        var result: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if !text.hasPrefix(jobVariable + "=") {
                result.append(text)
            }
            entry += 1
        }
        result.append("\(jobVariable)=\(job)")
        return result
    }
}

extension IsolatedProcess where Output == Never {
    /// Runs the requested job and exits if this process was started as a
    /// worker; returns at once otherwise.
    ///
    /// Call it at the top of `main`, after registering jobs with
    /// ``register(_:_:)`` and before anything else (no threads, no output):
    /// a worker is a fresh copy of the program and should do nothing but its
    /// job. It forks, which is safe only while the process has one thread.
    ///
    /// In a worker it:
    /// 1. becomes the job's supervisor: a child subreaper that tells the parent
    ///    it is ready on the control socket, exits at once (status 125) if the
    ///    parent is already gone, and forks the job;
    /// 2. in the forked job: asks for `SIGKILL` when the supervisor dies
    ///    (`PR_SET_PDEATHSIG`), reads and decodes the input, runs the job,
    ///    writes back its value or the description of what it threw, and exits
    ///    with status 0 (flushing standard output);
    /// 3. in the supervisor: forwards a terminate request as `SIGTERM` to every
    ///    descendant; when the job ends, on a kill request, or when the parent
    ///    dies, kills every descendant with `SIGKILL`, and exits the way the job did.
    ///
    /// The worker's environment variable is removed before the job runs, so
    /// a job can start workers of its own.
    public static func runWorkerIfRequested() {
        guard let jobText = getenv(WorkerEnvironment.jobVariable) else { return }
        let name = String(cString: jobText)
        unsetenv(WorkerEnvironment.jobVariable)

        // Programs the job starts must not hold our pipes or the control socket.
        for fd in [WorkerEnvironment.inputFD, WorkerEnvironment.replyFD, WorkerEnvironment.controlFD] {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        Supervisor.run(control: WorkerEnvironment.controlFD,
                       jobDescriptors: [WorkerEnvironment.inputFD, WorkerEnvironment.replyFD]) { runJob(named: name) }
    }

    /// The forked job: read the input, run the body, write the reply, exit.
    private static func runJob(named name: String) -> Never {
        let reply: JobReply
        do {
            let input = try Pipes.readAll(WorkerEnvironment.inputFD)
            close(WorkerEnvironment.inputFD)
            if let body = JobTable.body(named: name) {
                reply = body(input)
            } else {
                reply = .unknownJob(name)
            }
        } catch {
            reply = .badInput("job \(name) cannot read its input: \(error)")
        }
        do {
            try Pipes.writeAll(WorkerEnvironment.replyFD, reply.encoded)
        } catch {
            // The parent is gone or closed the pipe: nobody to tell.
            _exit(1)
        }
        close(WorkerEnvironment.replyFD)
        exit(0)
    }
}
