#if canImport(Glibc)
import Glibc
#endif

/// A job running in a child process that can be stopped at any moment without
/// harm to the caller: the seed's `multiprocessing` + `terminate()`.
///
/// A thread cannot be killed safely at an arbitrary point; a process can. The
/// child is a fresh copy of this executable (or of `executable:`) started in
/// worker mode: it runs one registered job on the input it is given, sends the
/// result back over a pipe and exits.
///
/// ```swift
/// let render = IsolatedProcess.register("render") { (scene: Scene) in try draw(scene) }
///
/// @main struct App {
///     static func main() throws {
///         IsolatedProcess.runWorkerIfRequested()   // first, after registering jobs
///         let image = try IsolatedProcess.run(render, input: scene, timeout: .seconds(30))
///     }
/// }
/// ```
///
/// The child:
/// - is spawned with `posix_spawn` (safe in a multithreaded parent) from one
///   long-lived internal thread, in a process group of its own;
/// - is a small supervisor (a child subreaper) that forks the job and stays
///   behind, so ``terminate(grace:)-8oh9w`` and ``kill()-5z6sf`` reach everything the job
///   started, including descendants that left its process group or session;
///   nothing the job started outlives it, and all of it dies when this process
///   dies, even by `SIGKILL` (see Docs/IsolatedProcess.md);
/// - inherits no file descriptors beyond its standard streams, its two pipes
///   and its control socket;
/// - is signalled and waited for through a pidfd, so a recycled pid is never hit,
///   and is always reaped: no zombies.
///
/// Dropping the last reference to a running process kills the job and
/// everything it started, and reaps the child.
///
/// - Important: Do not reap children with `waitpid(-1, ...)` or ignore `SIGCHLD`
///   elsewhere in the program: that steals the exit status this type waits for.
public final class IsolatedProcess<Output: Codable & Sendable>: @unchecked Sendable {
    // Everything mutable is guarded by `lock`, except `streams`, which only
    // the one thread that set `pumping` touches until it clears it.

    /// The name of the job this process runs.
    public let job: String
    /// The child's process id (the supervisor's; the job is its child); also
    /// its process-group id.
    public let processIdentifier: pid_t

    private let child: ChildProcess
    private let lock = ConditionLock.make()
    private var link: SupervisorLink
    private var pumping = false
    private var reaped = false
    private var ending: Result<ProcessResult<Output>, ThreadKillError>?
    private var streams: [Stream]

    private enum Role { case reply, standardOutput, standardError }

    private struct Stream {
        let role: Role
        var fd: Int32?
        /// Where the bytes go: kept up to a limit (the reply: no limit), or handed on.
        let sink: Sink
        var bytes: [UInt8] = []
        var dropped = 0

        enum Sink {
            case keep(limit: Int)
            case handler(@Sendable ([UInt8]) -> Void)
        }

        mutating func take(_ chunk: UnsafeRawBufferPointer) {
            switch sink {
            case .keep(let limit):
                let kept = min(chunk.count, max(limit - bytes.count, 0))
                bytes += chunk[0..<kept]
                dropped += chunk.count - kept
            case .handler(let handler):
                handler(Array(chunk))
            }
        }
    }

    private init(job: String, child: ChildProcess, link: SupervisorLink, streams: [Stream]) {
        self.job = job
        self.processIdentifier = child.pid
        self.child = child
        self.link = link
        self.streams = streams
    }

    deinit {
        if ending == nil {
            if !reaped { stopLocked(SIGKILL) }
            _ = try? wait(until: .never)
        }
    }

    // MARK: Jobs

    /// Registers a job that this executable can run in a child process.
    ///
    /// Register every job before calling ``runWorkerIfRequested()``, in the
    /// parent and in the worker alike (they are the same program).
    ///
    /// - Parameters:
    ///   - name: Unique in the executable. Registering a name twice is a
    ///     programming error and stops the program.
    ///   - body: The job. It runs in the child; what it throws comes back to
    ///     the parent as an ``IsolatedJobError``.
    /// - Returns: The job, to pass to ``start(_:input:executable:standardOutput:standardError:)``
    ///   or ``run(_:input:timeout:grace:executable:)-x00p``.
    @discardableResult
    public static func register<Input: Codable & Sendable>(
        _ name: String, _ body: @escaping @Sendable (Input) throws -> Output
    ) -> IsolatedJob<Input, Output> {
        JobTable.register(name, body)
        return IsolatedJob(name)
    }

    // MARK: Starting

    /// Starts `job` in a new child process.
    ///
    /// - Parameters:
    ///   - job: The job to run.
    ///   - input: Its input, encoded before the child starts.
    ///   - executable: The program to start in worker mode; nil for this very
    ///     executable (`/proc/self/exe`). It must register `job` and call
    ///     ``runWorkerIfRequested()``.
    ///   - standardOutput: Where the child's standard output goes.
    ///   - standardError: Where the child's standard error goes.
    /// - Returns: The running process. Wait for it with ``wait()``, stop it with
    ///   ``terminate(grace:)-8oh9w``.
    /// - Throws: ``ThreadKillError``: ``ThreadKillError/Code/jobCoding`` if the
    ///   input cannot be encoded; ``ThreadKillError/Code/invalidArgument`` if
    ///   `executable` is empty; ``ThreadKillError/Code/unknownJob`` if
    ///   `executable` is nil and this program has not registered `job` (a worker
    ///   started from another executable reports an unknown job when it is waited for);
    ///   ``ThreadKillError/Code/invalidArgument`` for a capture limit below 1; a system-call
    ///   error if a pipe or the spawn fails (`posix_spawn` reports a missing or
    ///   non-executable `executable` this way).
    public static func start<Input>(
        _ job: IsolatedJob<Input, Output>,
        input: Input,
        executable: String? = nil,
        standardOutput: ProcessOutputMode = .inherit,
        standardError: ProcessOutputMode = .inherit
    ) throws(ThreadKillError) -> IsolatedProcess<Output> {
        if let executable, executable.isEmpty {
            throw ThreadKillError(.invalidArgument, "IsolatedProcess.start: executable must not be empty")
        }
        for (mode, name) in [(standardOutput, "standardOutput"), (standardError, "standardError")] {
            if case .capture(let limit) = mode.kind, limit < 1 {
                throw ThreadKillError(.invalidArgument, "IsolatedProcess.start: the \(name) capture limit must be at least 1 byte, got \(limit); use .discard to keep nothing")
            }
        }
        if executable == nil && JobTable.body(named: job.name) == nil {
            throw ThreadKillError(.unknownJob, context: .init(job: job.name), "IsolatedProcess.start: no job named \"\(job.name)\" is registered in this executable; register it with IsolatedProcess.register(_:_:)")
        }
        let encoded: [UInt8]
        do {
            encoded = try JobCoding.encode(input)
        } catch {
            throw ThreadKillError(.jobCoding, "IsolatedProcess.start: cannot encode the input of job \(job.name): \(error)")
        }

        // Parent-side fds are closed here on failure and by the pump later;
        // child-side fds are closed as soon as the spawn is over.
        var parentFDs: [Int32] = []
        var childFDs: [Int32] = []
        defer { childFDs.forEach { close($0) } }
        var plan = SpawnPlan(
            path: executable ?? "/proc/self/exe",
            arguments: [executable ?? CommandLine.arguments.first ?? "worker"],
            environment: WorkerEnvironment.make(job: job.name),
            descriptors: [],
            devNull: [0],
            closeFrom: WorkerEnvironment.firstClosedFD
        )
        var streams: [Stream] = []
        do throws(ThreadKillError) {
            let inputFD = try Pipes.memory(holding: encoded)
            childFDs.append(inputFD)
            plan.descriptors.append((inputFD, WorkerEnvironment.inputFD))

            let reply = try Pipes.make()
            parentFDs.append(reply.read)
            childFDs.append(reply.write)
            plan.descriptors.append((reply.write, WorkerEnvironment.replyFD))
            streams.append(Stream(role: .reply, fd: reply.read, sink: .keep(limit: .max)))

            let control = try Pipes.socketPair()
            parentFDs.append(control.parent)
            childFDs.append(control.child)
            plan.descriptors.append((control.child, WorkerEnvironment.controlFD))

            for (mode, target, role) in [(standardOutput, Int32(1), Role.standardOutput), (standardError, 2, .standardError)] {
                let sink: Stream.Sink
                switch mode.kind {
                case .inherit: continue
                case .discard:
                    plan.devNull.append(target)
                    continue
                case .capture(let limit): sink = .keep(limit: limit)
                case .stream(let handler): sink = .handler(handler)
                }
                let pipe = try Pipes.make()
                parentFDs.append(pipe.read)
                childFDs.append(pipe.write)
                plan.descriptors.append((pipe.write, target))
                streams.append(Stream(role: role, fd: pipe.read, sink: sink))
            }

            let pid = try Spawner.spawn(plan)
            var link = SupervisorLink(fd: control.parent)
            let child: ChildProcess
            do throws(ThreadKillError) {
                child = try ChildProcess(pid: pid)
            } catch {
                // Unreaped, so the pid is still this child's.
                if !link.request([SIGKILL]) { _ = Glibc.kill(pid, SIGKILL) }
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                throw error
            }
            return IsolatedProcess(job: job.name, child: child, link: link, streams: streams)
        } catch {
            parentFDs.forEach { close($0) }
            throw error
        }
    }

    /// Runs `job` in a child process and returns its output: start, wait at
    /// most `timeout`, and on timeout ``terminate(grace:)-8oh9w`` the child
    /// and throw a ``TimeoutError`` that says how the job ended.
    ///
    /// - Parameters:
    ///   - job: The job to run.
    ///   - input: Its input.
    ///   - timeout: How long the job may run.
    ///   - grace: How long a timed-out job has between `SIGTERM` and `SIGKILL`.
    ///   - executable: As in ``start(_:input:executable:standardOutput:standardError:)``.
    /// - Returns: What the job returned (also when it sent its reply while
    ///   being terminated).
    /// - Throws: ``TimeoutError`` (with ``TimeoutError/job`` and
    ///   ``TimeoutError/processOutcome``) when `timeout` passed and the job
    ///   was terminated; the job's carried-back ``IsolatedJobError`` if it threw;
    ///   ``ThreadKillError`` for a negative duration (``ThreadKillError/Code/invalidDuration``),
    ///   a process that ended without a reply (``ThreadKillError/Code/processEnded``),
    ///   or a failed start.
    @available(*, noasync, message: "run blocks its thread until the job ends; from async code use the async run")
    public static func run<Input>(
        _ job: IsolatedJob<Input, Output>,
        input: Input,
        timeout: Duration,
        grace: Duration = .seconds(1),
        executable: String? = nil
    ) throws -> Output {
        let timeoutNanos = try timeout.validatedNanos("IsolatedProcess.run(timeout:)")
        _ = try grace.validatedNanos("IsolatedProcess.run(grace:)")
        let process = try start(job, input: input, executable: executable)
        if let result = try process.wait(until: Deadline(after: timeoutNanos)) {
            return try result.outcome.get()
        }
        let result = try process.terminate(grace: grace)
        return try outputAfterTimeout(result, job: job.name, timeout: timeout)
    }

    /// The output of a job that sent its reply before `run` could terminate
    /// it (it ended by itself: its result wins); otherwise the ``TimeoutError``.
    static func outputAfterTimeout(_ result: ProcessResult<Output>, job: String, timeout: Duration) throws -> Output {
        guard let ended = result.outcome.withoutReply else { return try result.outcome.get() }
        throw TimeoutError(timeout: timeout, job: job, processOutcome: ended)
    }

    // MARK: Waiting and stopping

    /// Waits for the process to end and returns how its job ended.
    ///
    /// Any number of threads may wait, any number of times: each gets the same result.
    /// - Throws: ``ThreadKillError`` if the worker does not know the job, could
    ///   not decode its input, or sent an output that does not decode as `Output`;
    ///   or if waiting itself failed.
    @available(*, noasync, message: "wait() blocks its thread until the process ends; from async code use the async wait(onCancel:)")
    public func wait() throws(ThreadKillError) -> ProcessResult<Output> {
        try wait(until: .never)!
    }

    /// Waits at most `timeout` for the process to end.
    ///
    /// - Returns: The result, or nil if the process is still running.
    /// - Throws: As ``wait()``, and ``ThreadKillError/Code/invalidDuration`` for
    ///   a negative timeout.
    @available(*, noasync, message: "wait(timeout:) blocks its thread; from async code use the async wait(timeout:onCancel:)")
    public func wait(timeout: Duration) throws(ThreadKillError) -> ProcessResult<Output>? {
        try wait(until: Deadline(after: timeout.validatedNanos("IsolatedProcess.wait(timeout:)")))
    }

    /// Stops the process: `SIGTERM` to the job and every process it started,
    /// up to `grace` for the job to end, then `SIGKILL` to all of them; then
    /// reaps the child.
    ///
    /// When the job ends, whatever it started that is still running is
    /// killed with `SIGKILL` before the result is returned, whether it left
    /// the job's process group or not.
    ///
    /// A process that has already ended is not signalled; its result is returned.
    /// - Parameter grace: How long the job may take to end after `SIGTERM`; zero
    ///   sends `SIGKILL` at once after it.
    /// - Returns: How the job ended (usually ``ProcessOutcome/signaled(_:)``).
    /// - Throws: As ``wait()``, and ``ThreadKillError/Code/invalidDuration`` for
    ///   a negative grace.
    ///
    /// The signals are sent by the child's supervisor, which finds the job's
    /// descendants by walking `/proc`; the parent asks it over a socket, and
    /// signals the child directly (`pidfd_send_signal`, `kill` to the group)
    /// only before the supervisor has started. `SIGKILL` also goes from the
    /// parent straight to the job, through a pidfd the job sent it, so the
    /// job dies without waiting for the supervisor to wake up. The wait is `waitid`.
    @available(*, noasync, message: "terminate(grace:) blocks its thread for up to the grace; from async code use the async terminate(grace:)")
    @discardableResult
    public func terminate(grace: Duration) throws(ThreadKillError) -> ProcessResult<Output> {
        try terminate(graceNanos: grace.validatedNanos("IsolatedProcess.terminate(grace:)"))
    }

    func terminate(graceNanos: UInt64) throws(ThreadKillError) -> ProcessResult<Output> {
        if graceNanos == 0 {
            // No grace: both requests in one write, so the supervisor reads them together.
            lock.withLock { stopLocked(SIGTERM, SIGKILL) }
            return try wait()
        }
        stop(SIGTERM)
        if let result = try wait(until: Deadline(after: graceNanos)) { return result }
        stop(SIGKILL)
        return try wait()
    }

    /// Kills the job and every process it started with `SIGKILL` at once,
    /// then reaps the child.
    ///
    /// - Returns: How the job ended (``ProcessOutcome/signaled(_:)`` with
    ///   `SIGKILL` unless it had already ended).
    /// - Throws: As ``wait()``.
    ///
    /// As for ``terminate(grace:)-8oh9w``, the supervisor sends the signals.
    @available(*, noasync, message: "kill() blocks its thread until the child is reaped; from async code use the async kill()")
    @discardableResult
    public func kill() throws(ThreadKillError) -> ProcessResult<Output> {
        stop(SIGKILL)
        return try wait()
    }

    /// Whether the process has ended and been reaped.
    public var hasEnded: Bool { lock.withLock { reaped } }

    func stop(_ signal: Int32) {
        lock.withLock { stopLocked(signal) }
    }

    /// Asks the supervisor to send `signals` to the whole tree, in order;
    /// signals the child and its group directly if the supervisor has not
    /// started. Callers hold `lock` (or are the deinit).
    private func stopLocked(_ signals: Int32...) {
        if !reaped && !link.request(signals) { signals.forEach(child.signalGroup) }
    }

    // MARK: The pump

    /// Waits until the deadline for the result. One waiter at a time pumps
    /// (reads the pipes, watches the pidfd); the others wait for it.
    func wait(until deadline: Deadline) throws(ThreadKillError) -> ProcessResult<Output>? {
        lock.lock()
        defer { lock.unlock() }
        while true {
            if let ending { return try ending.get() }
            if !pumping {
                pumping = true
                lock.unlock()
                pump(until: deadline)
                lock.lock()
                pumping = false
                lock.broadcast()
                if ending == nil && deadline.hasPassed { return nil }
            } else if !lock.wait(until: deadline) && ending == nil {
                return nil
            }
        }
    }

    /// Reads every open pipe and watches for the child's exit until it has
    /// ended (then finishes) or the deadline passes. Never blocks on a pipe:
    /// a descendant holding one open cannot delay the end.
    private func pump(until deadline: Deadline) {
        do throws(ThreadKillError) {
            while true {
                var fds = streams.compactMap { $0.fd.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) } }
                if let pidfd = child.pidfd { fds.append(pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)) }
                // Without a pidfd the exit is not pollable: look every 10 ms.
                var timeout = Self.pollMilliseconds(deadline.remaining)
                if child.pidfd == nil && (timeout < 0 || timeout > 10) { timeout = 10 }
                if poll(&fds, nfds_t(fds.count), timeout) < 0 {
                    if errno == EINTR { continue }
                    throw .system("poll", errno)
                }
                try readStreams(ready: Set(fds.filter { $0.revents != 0 }.map(\.fd)))
                let exited: Bool
                if let pidfd = child.pidfd {
                    exited = fds.last.map { $0.fd == pidfd && $0.revents != 0 } ?? false
                } else {
                    exited = try child.peekExit() != nil
                }
                if exited {
                    try finish()
                    return
                }
                if deadline.hasPassed { return }
            }
        } catch {
            fail(error)
        }
    }

    private static func pollMilliseconds(_ nanos: UInt64?) -> Int32 {
        guard let nanos else { return -1 }
        return Int32(clamping: (nanos + 999_999) / 1_000_000)
    }

    private func readStreams(ready: Set<Int32>) throws(ThreadKillError) {
        for i in streams.indices {
            guard let fd = streams[i].fd, ready.contains(fd) else { continue }
            switch Pipes.readAvailable(fd, { streams[i].take($0) }) {
            case .wouldBlock: break
            case .endOfFile: closeStream(i)
            case .failed(let err): throw .system("read", err)
            }
        }
    }

    private func closeStream(_ i: Int) {
        if let fd = streams[i].fd { close(fd) }
        streams[i].fd = nil
    }

    /// The child has exited: take what the pipes hold now, kill what is left
    /// of its group while its zombie still reserves the group id, reap it.
    /// (The supervisor has killed the job's tree before exiting; the group
    /// kill is for a worker that never became a supervisor.)
    private func finish() throws(ThreadKillError) {
        try readStreams(ready: Set(streams.compactMap(\.fd)))
        streams.indices.forEach(closeStream)
        let status = try lock.withLock { () throws(ThreadKillError) -> ChildStatus in
            child.signalGroup(SIGKILL)
            reaped = true
            defer { link.close() }
            return try child.reap()
        }
        let result = Result { () throws(ThreadKillError) -> ProcessResult<Output> in try makeResult(status) }
        lock.withLock { ending = result }
    }

    private func fail(_ error: ThreadKillError) {
        streams.indices.forEach(closeStream)
        lock.withLock {
            if !reaped {
                // We cannot tell how the child is doing: end it rather than leak it.
                stopLocked(SIGKILL)
                reaped = true
                _ = try? child.reap()
                link.close()
            }
            ending = .failure(error)
        }
    }

    private func makeResult(_ status: ChildStatus) throws(ThreadKillError) -> ProcessResult<Output> {
        func bytes(_ role: Role) -> [UInt8]? { streams.first { $0.role == role }?.bytes }
        let outcome: ProcessOutcome<Output>
        switch JobReply(decoding: bytes(.reply) ?? []) {
        case .value(let payload):
            do {
                outcome = .returned(try JobCoding.decode(Output.self, from: payload))
            } catch {
                throw ThreadKillError(.jobCoding, "job \(job) returned a value that does not decode as \(Output.self): \(error)")
            }
        case .threw(let typeName, let message):
            outcome = .threw(IsolatedJobError(job: job, typeName: typeName, message: message))
        case .unknownJob(let name):
            throw ThreadKillError(.unknownJob, context: .init(job: name), "no job named \"\(name)\" is registered in the worker executable (register it before calling IsolatedProcess.runWorkerIfRequested())")
        case .badInput(let message), .badOutput(let message):
            throw ThreadKillError(.jobCoding, message)
        case nil:
            switch status {
            case .exited(let code): outcome = .exited(code)
            case .signaled(let signal): outcome = .signaled(Signal(unchecked: signal))
            }
        }
        func dropped(_ role: Role) -> Int { streams.first { $0.role == role }?.dropped ?? 0 }
        func kept(_ role: Role) -> [UInt8]? {
            guard let stream = streams.first(where: { $0.role == role }), case .keep = stream.sink else { return nil }
            return stream.bytes
        }
        return ProcessResult(outcome: outcome, standardOutput: kept(.standardOutput), standardError: kept(.standardError),
                             standardOutputDroppedBytes: dropped(.standardOutput), standardErrorDroppedBytes: dropped(.standardError))
    }
}
