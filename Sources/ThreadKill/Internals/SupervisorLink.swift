#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim

/// The parent's end of the control socket to one worker's supervisor.
///
/// A worker that has not said ``SupervisorMessage/ready`` yet has forked no
/// job; it may also never say it (an `executable:` that is not a ThreadKill
/// worker). So a stop request is written first and the ready byte looked for
/// second: if it is not there, the supervisor will find the request before it
/// forks (it reads requests only after sending ready), and the caller signals
/// the process directly, as it would any child.
///
/// Once the supervisor has sent the job's pidfd (``SupervisorMessage/job``),
/// a kill request also sends `SIGKILL` to the job through it, so the job dies
/// at once rather than after the supervisor wakes up; the supervisor still
/// kills and reaps the whole tree. A pidfd never reaches a recycled pid.
struct SupervisorLink {
    let fd: Int32
    private var ready = false
    private var sentTerminate = false
    private var sentKill = false
    private var jobPidFD: Int32?

    init(fd: Int32) { self.fd = fd }

    /// Asks the supervisor to stop the job's tree: `SIGTERM` becomes a
    /// terminate request, anything else a kill request; several signals go
    /// in one write, in order. Each request is sent at most once, so the
    /// socket never fills.
    /// - Returns: Whether the supervisor is known to be running and will act
    ///   on the request; if false, the caller must signal the worker itself.
    mutating func request(_ signals: [Int32]) -> Bool {
        receive()
        var bytes: [UInt8] = []
        for signal in signals {
            if signal == SIGTERM {
                if !sentTerminate && !bytes.contains(SupervisorMessage.terminate) { bytes.append(SupervisorMessage.terminate) }
            } else {
                if let jobPidFD { _ = CPthreadShim_pidfd_send_signal(jobPidFD, SIGKILL, 0) }
                if !sentKill && !bytes.contains(SupervisorMessage.kill) { bytes.append(SupervisorMessage.kill) }
            }
        }
        for byte in bytes.prefix(send(bytes)) {
            if byte == SupervisorMessage.terminate { sentTerminate = true } else { sentKill = true }
        }
        if !ready { receive() }
        return ready
    }

    /// Closes the parent's end; a supervisor still running takes that as
    /// "the parent is gone" and kills everything.
    mutating func close() {
        _ = Glibc.close(fd)
        if let jobPidFD { _ = Glibc.close(jobPidFD) }
        jobPidFD = nil
    }

    /// Reads what the supervisor has sent so far, without blocking.
    private mutating func receive() {
        var byte: UInt8 = 0
        var attached: Int32 = -1
        while CPthreadShim_recv_byte_with_fd(fd, &byte, &attached) == 1 {
            if byte == SupervisorMessage.ready { ready = true }
            if byte == SupervisorMessage.job && attached >= 0 && jobPidFD == nil && !ChildProcess.pidfdsDisabled {
                jobPidFD = attached
            } else if attached >= 0 {
                _ = Glibc.close(attached)
            }
        }
    }

    /// Sends `bytes` at once; returns how many went.
    private func send(_ bytes: [UInt8]) -> Int {
        guard !bytes.isEmpty else { return 0 }
        var n: Int
        repeat { n = Glibc.send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) } while n < 0 && errno == EINTR
        return max(n, 0)
    }
}
