#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import Synchronization

/// Everything one `posix_spawn` needs, prepared by the caller.
struct SpawnPlan: Sendable {
    /// The program to run.
    var path: String
    /// `argv`, including `argv[0]`.
    var arguments: [String]
    /// `envp` as `NAME=value` strings.
    var environment: [String]
    /// `(source, target)`: the child gets `source` as fd `target`. Sources
    /// must be at least ``Pipes/firstFreeChildFD`` so no earlier `dup2` clobbers them.
    var descriptors: [(source: Int32, target: Int32)]
    /// Fds the child opens on `/dev/null` (read-only for 0, write-only otherwise).
    var devNull: [Int32]
    /// Every fd from this one up is closed in the child.
    var closeFrom: Int32
}

/// Spawns children from one long-lived thread.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that spawned the child exits, not
/// the process; the worker once relied on it, so spawns came from a thread
/// that never ends. The worker's supervisor now watches its control socket
/// instead (see ``Supervisor``), but spawns stay here: off the callers'
/// threads and their signal masks. This thread blocks every signal, so no
/// process-directed signal ever runs a handler on it.
enum Spawner {
    private final class Request: @unchecked Sendable {  // fields guarded by `Spawner.lock`
        let plan: SpawnPlan
        var result: Result<pid_t, ThreadKillError>?
        init(plan: SpawnPlan) { self.plan = plan }
    }

    private struct State: @unchecked Sendable {  // guarded by `Spawner.lock`
        var queue: [Request] = []
        var started = false
    }

    nonisolated(unsafe) static let lock = ConditionLock.make()  // a lock: safe to share
    private nonisolated(unsafe) static var state = State()

    /// In a forked child, with `lock` held since before the fork: the
    /// spawner thread did not come along; the next spawn starts one.
    static func resetAfterFork() { state = State() }

    /// Spawns `plan` on the spawner thread (starting it on first use) and
    /// returns the child's pid.
    static func spawn(_ plan: SpawnPlan) throws(ThreadKillError) -> pid_t {
        let request = Request(plan: plan)
        return try lock.withLock { () throws(ThreadKillError) -> pid_t in
            if !state.started {
                try startThread()
                state.started = true
            }
            state.queue.append(request)
            lock.broadcast()
            while true {
                if let result = request.result { return try result.get() }
                lock.wait(until: .never)
            }
        }
    }

    /// Starts the detached spawner thread with every signal blocked from its
    /// first instruction.
    private static func startThread() throws(ThreadKillError) {
        try startServiceThread(named: "threadkill-spwn", blockingAllSignals: true) { Spawner.serve() }
    }

    private static func serve() -> Never {
        lock.lock()
        while true {
            while state.queue.isEmpty { lock.wait(until: .never) }
            let request = state.queue.removeFirst()
            lock.unlock()
            let result = Result { () throws(ThreadKillError) -> pid_t in try perform(request.plan) }
            lock.lock()
            request.result = result
            lock.broadcast()
        }
    }

    private static func perform(_ plan: SpawnPlan) throws(ThreadKillError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        for fd in plan.devNull {
            let err = posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
            if err != 0 { throw .system("posix_spawn_file_actions_addopen", err) }
        }
        for (source, target) in plan.descriptors {
            // dup2 clears close-on-exec on the target, so the child keeps it.
            let err = posix_spawn_file_actions_adddup2(&actions, source, target)
            if err != 0 { throw .system("posix_spawn_file_actions_adddup2", err) }
        }
        var err = CPthreadShim_posix_spawn_file_actions_addclosefrom_np(&actions, plan.closeFrom)
        if err != 0 { throw .system("posix_spawn_file_actions_addclosefrom_np", err) }

        // Own process group (pgid = pid), default dispositions for every signal
        // (an ignored SIGTERM would otherwise be inherited), nothing blocked
        // (this thread blocks everything).
        let flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
        err = posix_spawnattr_setflags(&attributes, Int16(flags))
        if err == 0 { err = posix_spawnattr_setpgroup(&attributes, 0) }
        var everything = sigset_t()
        var nothing = sigset_t()
        sigfillset(&everything)
        sigemptyset(&nothing)
        if err == 0 { err = posix_spawnattr_setsigdefault(&attributes, &everything) }
        if err == 0 { err = posix_spawnattr_setsigmask(&attributes, &nothing) }
        if err != 0 { throw .system("posix_spawnattr", err) }

        let argv = plan.arguments.map { strdup($0) } + [nil]
        let envp = plan.environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        err = posix_spawn(&pid, plan.path, &actions, &attributes, argv, envp)
        if err != 0 { throw ThreadKillError(.systemCall, errno: err, context: .init(systemCall: "posix_spawn"), "posix_spawn of \(plan.path) failed") }
        return pid
    }
}
