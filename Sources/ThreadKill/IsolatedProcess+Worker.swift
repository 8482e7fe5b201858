#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim

/// The contract between a parent and the worker it spawns: environment
/// variables and fixed file descriptors.
enum WorkerEnvironment {
    /// The job to run; its presence is what makes a process a worker.
    static let jobVariable = "THREADKILL_WORKER_JOB"
    /// The parent's pid, to detect a parent that died before `PR_SET_PDEATHSIG` was set.
    static let parentVariable = "THREADKILL_WORKER_PARENT"
    /// The encoded input (a memfd, read from offset 0).
    static let inputFD: Int32 = 3
    /// Where the worker writes its ``JobReply``.
    static let replyFD: Int32 = 4
    /// The child closes everything from here up.
    static let firstClosedFD: Int32 = 5
    /// How a worker exits when its parent is already gone.
    static let orphanExitStatus: Int32 = 125

    /// This process's environment, less any worker variables, plus the
    /// variables that start `job`.
    static func make(job: String) -> [String] {
        var result: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if !text.hasPrefix(jobVariable + "=") && !text.hasPrefix(parentVariable + "=") {
                result.append(text)
            }
            entry += 1
        }
        result.append("\(jobVariable)=\(job)")
        result.append("\(parentVariable)=\(getpid())")
        return result
    }
}

extension IsolatedProcess where Output == Never {
    /// Runs the requested job and exits if this process was started as a
    /// worker; returns at once otherwise.
    ///
    /// Call it at the top of `main`, after registering jobs with
    /// ``register(_:_:)`` and before anything else (no threads, no output):
    /// a worker is a fresh copy of the program and should do nothing but its job.
    ///
    /// In a worker it:
    /// 1. asks for `SIGKILL` when the parent dies (`PR_SET_PDEATHSIG`), then
    ///    exits at once (status 125) if the parent is already gone;
    /// 2. reads and decodes the input, runs the job, writes back its value, or
    ///    the description of what it threw;
    /// 3. exits with status 0 (flushing standard output).
    ///
    /// The worker's environment variables are removed before the job runs, so
    /// a job can start workers of its own.
    public static func runWorkerIfRequested() {
        guard let jobText = getenv(WorkerEnvironment.jobVariable) else { return }
        let name = String(cString: jobText)
        let parent = getenv(WorkerEnvironment.parentVariable).flatMap { pid_t(String(cString: $0)) }
        unsetenv(WorkerEnvironment.jobVariable)
        unsetenv(WorkerEnvironment.parentVariable)

        // The death signal is armed only now, after exec: a parent that died
        // before this line would go unnoticed without the getppid() check.
        _ = CPthreadShim_prctl_set_pdeathsig(SIGKILL)
        if let parent, getppid() != parent { _exit(WorkerEnvironment.orphanExitStatus) }

        // Programs the job starts must not hold our pipes.
        _ = fcntl(WorkerEnvironment.inputFD, F_SETFD, FD_CLOEXEC)
        _ = fcntl(WorkerEnvironment.replyFD, F_SETFD, FD_CLOEXEC)
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
