#if canImport(Glibc)
import Glibc
#endif

/// The parent's end of the control socket to one worker's supervisor.
///
/// A worker that has not said ``SupervisorMessage/ready`` yet has forked no
/// job; it may also never say it (an `executable:` that is not a ThreadKill
/// worker). So a stop request is written first and the ready byte looked for
/// second: if it is not there, the supervisor will find the request before it
/// forks (it reads requests only after sending ready), and the caller signals
/// the process directly, as it would any child.
struct SupervisorLink {
    let fd: Int32
    private var ready = false
    private var sentTerminate = false
    private var sentKill = false

    init(fd: Int32) { self.fd = fd }

    /// Asks the supervisor to stop the job's tree: `SIGTERM` becomes a
    /// terminate request, anything else a kill request. Each request is sent
    /// at most once, so the socket never fills.
    /// - Returns: Whether the supervisor is known to be running and will act
    ///   on the request; if false, the caller must signal the worker itself.
    mutating func request(_ signal: Int32) -> Bool {
        if signal == SIGTERM {
            if !sentTerminate { sentTerminate = send(SupervisorMessage.terminate) }
        } else if !sentKill {
            sentKill = send(SupervisorMessage.kill)
        }
        if !ready {
            var byte: UInt8 = 0
            var n: Int
            repeat { n = recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) } while n < 0 && errno == EINTR
            ready = n == 1 && byte == SupervisorMessage.ready
        }
        return ready
    }

    /// Closes the parent's end; a supervisor still running takes that as
    /// "the parent is gone" and kills everything.
    func close() { _ = Glibc.close(fd) }

    private func send(_ byte: UInt8) -> Bool {
        var byte = byte
        var n: Int
        repeat { n = Glibc.send(fd, &byte, 1, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) } while n < 0 && errno == EINTR
        return n == 1
    }
}
