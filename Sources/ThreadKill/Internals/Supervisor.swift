#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim

/// The messages on the control socket between a parent and the supervisor
/// it spawned (a stream socket, fd ``WorkerEnvironment/controlFD`` in the worker).
///
/// Supervisor → parent: one ``ready`` byte, sent once the supervisor is a
/// subreaper and before it looks for requests and forks the job; then, once
/// the job is forked, one ``job`` byte carrying a pidfd of the job
/// (`SCM_RIGHTS`, sent by the job itself before it runs), so that a kill
/// request can kill the job at once.
/// Parent → supervisor: ``terminate`` and ``kill`` requests, each at most once.
/// End of file means the parent is gone: the supervisor kills everything.
enum SupervisorMessage {
    static let ready = UInt8(ascii: "R")
    static let job = UInt8(ascii: "J")
    static let terminate = UInt8(ascii: "T")
    static let kill = UInt8(ascii: "K")
}

/// The worker process's first role: a single-threaded child subreaper that
/// forks the job and stays behind to stop everything the job starts.
///
/// Because orphans are reparented to a subreaper, every process the job ever
/// started — through `setsid`, `setpgid` or a double fork — stays a
/// descendant of the supervisor while it lives, and so can be found by
/// walking `/proc`. The supervisor:
/// - on a terminate request (or `SIGTERM`, `SIGINT`, `SIGHUP` sent to it)
///   sends that signal to every descendant;
/// - when the job ends, on a kill request, or when the parent is gone (end of
///   file on the control socket), kills every descendant with `SIGKILL` and
///   reaps them, round after round until none is left;
/// - then exits the way the job did (same exit status, or killed by the same
///   signal), so the parent sees the job's own ending.
enum Supervisor {
    /// Signals the supervisor takes through a signalfd instead of dying of them.
    private static let forwarded: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    /// Becomes the supervisor, runs `job` in a forked child, never returns.
    /// The caller must be single-threaded (so that `fork` is safe).
    /// `jobDescriptors` are the job's alone: the supervisor closes its copies
    /// once the job is forked (so the reply pipe ends when the job does).
    static func run(control: Int32, jobDescriptors: [Int32], job: () -> Never) -> Never {
        // Only those open now: a number that is free now may be the signalfd below.
        let jobDescriptors = jobDescriptors.filter { fcntl($0, F_GETFD) >= 0 }
        // Best effort: without it (a kernel before 3.4) orphans escape to init.
        _ = CPthreadShim_prctl_set_child_subreaper()

        // Take SIGCHLD and the forwarded signals through a signalfd: blocked
        // before the fork, so none is lost, and restored in the job.
        var taken = sigset_t()
        var original = sigset_t()
        sigemptyset(&taken)
        sigaddset(&taken, SIGCHLD)
        forwarded.forEach { sigaddset(&taken, $0) }
        sigprocmask(SIG_BLOCK, &taken, &original)
        let signals = CPthreadShim_signalfd(&taken)
        if signals < 0 { fatal("signalfd") }

        sendByte(control, SupervisorMessage.ready)
        // A request sent before the parent saw `ready` may have been answered
        // by signalling this process directly: honour it before any job exists.
        switch readRequests(control) {
        case .terminate: exit(mirroring: .signaled(SIGTERM))
        case .kill: exit(mirroring: .signaled(SIGKILL))
        case .parentGone: _exit(WorkerEnvironment.orphanExitStatus)
        case nil: break
        }
        if let signal = readSignals(signals).first(where: forwarded.contains) {
            exit(mirroring: .signaled(signal))
        }

        let supervisor = getpid()
        let pid = fork()
        if pid < 0 { fatal("fork") }
        if pid == 0 {
            close(signals)
            sigprocmask(SIG_SETMASK, &original, nil)
            // If the supervisor is killed from outside, the job goes with it.
            _ = CPthreadShim_prctl_set_pdeathsig(SIGKILL)
            if getppid() != supervisor { _exit(WorkerEnvironment.orphanExitStatus) }
            // The parent's kill requests also kill the job through this pidfd,
            // without waiting for the supervisor to wake up. Sent from here,
            // the job's first step, so that it is there before the job runs.
            let myself = CPthreadShim_pidfd_open(getpid(), 0)
            if myself >= 0 {
                _ = CPthreadShim_send_byte_with_fd(control, SupervisorMessage.job, myself)
                close(myself)
            }
            close(control)
            job()
        }
        jobDescriptors.forEach { close($0) }
        // From here this process only runs the loop below. The library pages
        // it has mapped would be torn down at its exit — after the job's, on
        // the path of every ending — for nothing: drop them now, while the job
        // starts, unless a request or a signal comes first. (The job does not
        // share them: a fork copies no page-table entry that a fault can
        // refill, so it maps what it touches itself.)
        _ = [control, signals].withUnsafeBufferPointer { CPthreadShim_drop_clean_file_mappings($0.baseAddress, 2) }

        var jobStatus: ChildStatus?
        func reapAvailable() -> Int {
            var count = 0
            while let (reaped, status) = reap(blocking: false) {
                if reaped == pid { jobStatus = status }
                count += 1
            }
            return count
        }

        loop: while jobStatus == nil {
            var fds = [pollfd(fd: control, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: signals, events: Int16(POLLIN), revents: 0)]
            if poll(&fds, 2, -1) < 0 {
                if errno == EINTR { continue }
                break loop  // cannot wait any more: end it all rather than leak it
            }
            for signal in readSignals(signals) where forwarded.contains(signal) {
                signalTree(signal, job: pid)
            }
            _ = reapAvailable()
            if jobStatus != nil { break }
            switch readRequests(control) {
            case .terminate: signalTree(SIGTERM, job: pid)
            case .kill, .parentGone: break loop
            case nil: break
            }
        }

        // Whatever ended the wait, nothing the job started outlives it. The
        // job first: it is our child, so its pid is ours until reaped.
        if jobStatus == nil {
            _ = kill(pid, SIGKILL)
            while jobStatus == nil, let (reaped, status) = reap(blocking: true) {
                if reaped == pid { jobStatus = status }
            }
        }
        // A subreaper is the root of every process its job left behind: with
        // no child left there is no descendant left, and no need to read /proc
        // (two scans of every process on the machine cost 5× a bare kill + waitpid).
        while hasChildren() {
            let tree = descendants()
            if tree.isEmpty { break }
            for process in tree where !process.isZombie { send(SIGKILL, to: process) }
            if reapAvailable() == 0, let (reaped, status) = reap(blocking: true), reaped == pid {
                jobStatus = status
            }
        }
        exit(mirroring: jobStatus ?? .signaled(SIGKILL))
    }

    // MARK: Requests and signals

    private enum Request { case terminate, kill, parentGone }

    /// Reads every pending request byte; the strongest one wins.
    private static func readRequests(_ control: Int32) -> Request? {
        var strongest: Request?
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let n = recv(control, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n == 0 { return .parentGone }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return strongest }
                return .parentGone  // a broken socket: nobody can talk to us any more
            }
            for byte in buffer[0..<n] {
                if byte == SupervisorMessage.kill { strongest = .kill }
                if byte == SupervisorMessage.terminate && strongest == nil { strongest = .terminate }
            }
        }
    }

    /// The signal numbers of every record the signalfd holds.
    private static func readSignals(_ fd: Int32) -> [Int32] {
        var result: [Int32] = []
        // struct signalfd_siginfo is 128 bytes; ssi_signo (uint32) comes first.
        var buffer = [UInt32](repeating: 0, count: 32 * 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return result }
            for record in 0..<(n / 128) { result.append(Int32(bitPattern: buffer[record * 32])) }
        }
    }

    private static func sendByte(_ control: Int32, _ byte: UInt8) {
        var byte = byte
        while Glibc.send(control, &byte, 1, Int32(MSG_NOSIGNAL)) < 0 && errno == EINTR {}
    }

    // MARK: The tree

    private struct Descendant {
        let pid: pid_t
        let parent: pid_t
        let isZombie: Bool
    }

    /// Whether this process has any child, running or not yet reaped.
    private static func hasChildren() -> Bool {
        var info = siginfo_t()
        while waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 {
            if errno != EINTR { return errno != ECHILD }
        }
        return true
    }

    /// Every process whose chain of parents leads to this one, from `/proc`.
    private static func descendants() -> [Descendant] {
        guard let dir = opendir("/proc") else { fatal("opendir(/proc)") }
        defer { closedir(dir) }
        var all: [Descendant] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = pid_t(name), let stat = readStat(pid) else { continue }
            all.append(Descendant(pid: pid, parent: stat.parent, isZombie: stat.state == "Z"))
        }
        var children: [pid_t: [Descendant]] = [:]
        for process in all { children[process.parent, default: []].append(process) }
        var result: [Descendant] = []
        var frontier = [getpid()]
        while let next = frontier.popLast() {
            for child in children[next] ?? [] {
                result.append(child)
                frontier.append(child.pid)
            }
        }
        return result
    }

    /// State and parent pid from `/proc/<pid>/stat`, or nil if it is gone.
    private static func readStat(_ pid: pid_t) -> (state: Character, parent: pid_t)? {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = read(fd, &buffer, buffer.count)
        guard n > 0 else { return nil }
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        guard let close = buffer[0..<n].lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = buffer[(close + 1)..<n].split(separator: UInt8(ascii: " "), maxSplits: 3)
        guard fields.count >= 2, let state = fields[0].first,
              let parent = pid_t(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        return (Character(UnicodeScalar(state)), parent)
    }

    /// Sends `signal` to the job (unreaped), then to every other live descendant:
    /// the job first, because it needs no walk of `/proc` to be found.
    private static func signalTree(_ signal: Int32, job: pid_t) {
        _ = kill(job, signal)
        for process in descendants() where !process.isZombie && process.pid != job { send(signal, to: process) }
    }

    /// Signals one descendant without ever hitting a recycled pid: a child of
    /// ours cannot be recycled before we reap it; a deeper one is pinned with
    /// a pidfd and checked to still have the parent the scan saw.
    private static func send(_ signal: Int32, to process: Descendant) {
        if process.parent == getpid() {
            _ = kill(process.pid, signal)
            return
        }
        let pidfd = CPthreadShim_pidfd_open(process.pid, 0)
        guard pidfd >= 0 else {
            if errno == ENOSYS { _ = kill(process.pid, signal) }  // before Linux 5.3: best effort
            return
        }
        defer { close(pidfd) }
        if readStat(process.pid)?.parent == process.parent {
            _ = CPthreadShim_pidfd_send_signal(pidfd, signal, 0)
        }
    }

    /// Reaps one child (any); nil if there is none to reap (now, or at all).
    private static func reap(blocking: Bool) -> (pid_t, ChildStatus)? {
        var status: Int32 = 0
        while true {
            let pid = waitpid(-1, &status, blocking ? 0 : WNOHANG)
            if pid < 0 && errno == EINTR { continue }
            guard pid > 0 else { return nil }
            // The <sys/wait.h> macros, which Swift does not import.
            let signal = status & 0x7f
            return (pid, signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal))
        }
    }

    // MARK: Ending

    /// Exits with `status`, or dies of its signal (without a core dump of
    /// its own: the job already made any there is to make).
    private static func exit(mirroring status: ChildStatus) -> Never {
        switch status {
        case .exited(let code):
            _exit(code)
        case .signaled(let sig):
            if sig == SIGKILL { _ = kill(getpid(), SIGKILL) }  // cannot be caught, blocked or dump core
            var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
            _ = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &noCore)
            Glibc.signal(sig, SIG_DFL)  // the Swift runtime's crash handlers included
            var allBut = sigset_t()
            sigfillset(&allBut)
            sigdelset(&allBut, sig)
            sigprocmask(SIG_SETMASK, &allBut, nil)
            raise(sig)
            _exit(128 + sig)  // a signal whose default is not to terminate
        }
    }

    /// Something the supervisor cannot work without failed: say so on standard
    /// error and exit with ``WorkerEnvironment/supervisorFailureExitStatus``.
    private static func fatal(_ call: String) -> Never {
        let text = Array("threadkill supervisor: \(call) failed: \(String(cString: strerror(errno)))\n".utf8)
        _ = write(2, text, text.count)
        _exit(WorkerEnvironment.supervisorFailureExitStatus)
    }
}
