#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim

/// How a child process ended, as `waitid(2)` reports it.
enum ChildStatus: Equatable {
    case exited(Int32)
    case signaled(Int32)
}

/// One spawned child, leader of its own process group: its pid, and a pidfd
/// when the kernel has them (Linux 5.3+).
///
/// Recycling rules this type relies on: the pid (and so the process-group id,
/// which equals it) cannot be reused while the child is an unreaped zombie, and
/// only ``reap()`` reaps it. So every signal is sent before ``reap()``: the
/// owner serialises them under one lock. The pidfd also keeps a foreign reaper
/// (a `waitpid(-1)` elsewhere in the program) from turning our signals onto a
/// stranger: pidfd signals go to this process or nowhere.
struct ChildProcess {
    let pid: pid_t
    /// nil when `pidfd_open` is unavailable (ENOSYS) or disabled.
    let pidfd: Int32?

    /// `THREADKILL_PIDFD=0` makes this process use the pre-5.3 fallback
    /// (`kill(2)` and a 10 ms `waitid` poll) on a kernel that has pidfds.
    static let environmentVariable = "THREADKILL_PIDFD"

    /// Whether ``environmentVariable`` turns pidfds off in this process.
    static var pidfdsDisabled: Bool {
        getenv(environmentVariable).map { String(cString: $0) == "0" } ?? false
    }

    /// Wraps a freshly spawned, unreaped child.
    init(pid: pid_t) throws(ThreadKillError) {
        self.pid = pid
        if Self.pidfdsDisabled {
            pidfd = nil
            return
        }
        let fd = CPthreadShim_pidfd_open(pid, 0)
        if fd >= 0 {
            pidfd = fd
        } else if errno == ENOSYS {
            pidfd = nil
        } else {
            throw .system("pidfd_open", errno)
        }
    }

    /// Sends `signal` to the child and to every process in its group.
    /// A child that already exited (or left the group empty) is not an error.
    func signalGroup(_ signal: Int32) {
        if let pidfd {
            _ = CPthreadShim_pidfd_send_signal(pidfd, signal, 0)
        } else {
            _ = kill(pid, signal)
        }
        // Safe while unreaped: the zombie keeps the group id reserved.
        _ = kill(-pid, signal)
    }

    /// The exit status if the child has ended, without reaping it.
    func peekExit() throws(ThreadKillError) -> ChildStatus? {
        try waitid(options: WEXITED | WNOHANG | WNOWAIT)
    }

    /// Reaps the child, blocking until it has ended, and closes the pidfd.
    /// After this no signal may be sent through this value.
    func reap() throws(ThreadKillError) -> ChildStatus {
        defer { if let pidfd { close(pidfd) } }
        while true {
            if let status = try waitid(options: WEXITED) { return status }
        }
    }

    private func waitid(options: Int32) throws(ThreadKillError) -> ChildStatus? {
        var code: Int32 = 0
        var status: Int32 = 0
        while CPthreadShim_waitid_pid(pid, options, &code, &status) != 0 {
            if errno != EINTR { throw .system("waitid", errno) }
        }
        switch code {
        case 0: return nil
        case Int32(CLD_EXITED): return .exited(status)
        case Int32(CLD_KILLED), Int32(CLD_DUMPED): return .signaled(status)
        default: return nil  // stopped or continued: not an end
        }
    }
}
