#if canImport(Glibc)
import Glibc
#endif

/// Loopback TCP plumbing for the socket bodies: 127.0.0.1 only.
enum Loopback {
    struct Failure: Error, CustomStringConvertible {
        let call: String
        let errno: Int32
        var description: String { "\(call) failed: \(String(cString: strerror(errno)))" }
    }

    /// A listener on 127.0.0.1 with a kernel-chosen port.
    static func listener() throws -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(call: "socket", errno: errno) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, sa, &length) == 0
            }
        }
        guard ok else {
            let err = errno
            close(fd)
            throw Failure(call: "bind/listen", errno: err)
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    /// A client connected to `port` on 127.0.0.1 (loopback connects complete at once).
    static func connect(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(call: "socket", errno: errno) }
        var address = loopback(port: port)
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                Glibc.connect(fd, sa, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let err = errno
            close(fd)
            throw Failure(call: "connect", errno: err)
        }
        return fd
    }

    /// `connect`, retried when the kernel resets the attempt: a client aborted
    /// with a reset earlier may still occupy the same 4-tuple in the listener's
    /// queue for a moment, and the new SYN is then answered with a reset.
    static func connectRetrying(port: UInt16, attempts: Int = 20) throws -> Int32 {
        var attempt = 1
        while true {
            do {
                return try connect(port: port)
            } catch let failure as Failure where failure.errno == ECONNRESET && attempt < attempts {
                attempt += 1
            }
        }
    }

    /// Accepts a pending connection without blocking, or returns nil.
    static func acceptPending(_ listener: Int32) -> Int32? {
        var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        guard Glibc.poll(&fds, 1, 0) > 0 else { return nil }
        let fd = accept(listener, nil, nil)
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return fd
    }

    /// Closes with a reset instead of a FIN: no `TIME_WAIT`, so thousands of
    /// short connections do not exhaust the ephemeral ports.
    static func abort(_ fd: Int32) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}
