#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim

/// File-descriptor plumbing for ``IsolatedProcess``: every fd is created
/// close-on-exec, so no other spawn in this process can inherit it.
enum Pipes {
    /// The lowest fd a child-side end may have: the child's fixed fds are
    /// 0...4, and `posix_spawn`'s `dup2` actions must never overwrite a source.
    static let firstFreeChildFD: Int32 = 10

    /// A pipe, both ends close-on-exec; the read end is non-blocking.
    static func make() throws(ThreadKillError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard CPthreadShim_pipe2(&fds, O_CLOEXEC) == 0 else { throw .system("pipe2", errno) }
        let flags = fcntl(fds[0], F_GETFL)
        guard flags >= 0, fcntl(fds[0], F_SETFL, flags | O_NONBLOCK) == 0 else {
            let err = errno
            close(fds[0])
            close(fds[1])
            throw .system("fcntl(O_NONBLOCK)", err)
        }
        do throws(ThreadKillError) {
            return (fds[0], try raised(fds[1]))
        } catch {
            close(fds[0])
            throw error
        }
    }

    /// A connected pair of stream sockets, both ends close-on-exec: the
    /// control channel between a parent and its supervisor. Sockets, not a
    /// pipe, so the parent can write with `MSG_NOSIGNAL` (no `SIGPIPE` from a
    /// supervisor that is gone). The second end is raised for the child.
    static func socketPair() throws(ThreadKillError) -> (parent: Int32, child: Int32) {
        var fds: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else { throw .system("socketpair", errno) }
        do throws(ThreadKillError) {
            return (fds[0], try raised(fds[1]))
        } catch {
            close(fds[0])
            throw error
        }
    }

    /// A memfd holding `bytes`, its offset back at 0: the job's
    /// input, written in full before the spawn so no writer ever blocks on
    /// (or gets SIGPIPE from) a child that died early.
    static func memory(holding bytes: [UInt8]) throws(ThreadKillError) -> Int32 {
        let fd = CPthreadShim_memfd_create("threadkill-input")
        guard fd >= 0 else { throw .system("memfd_create", errno) }
        do throws(ThreadKillError) {
            try writeAll(fd, bytes)
            guard lseek(fd, 0, SEEK_SET) == 0 else { throw .system("lseek", errno) }
            return try raised(fd)
        } catch {
            close(fd)
            throw error
        }
    }

    /// Moves `fd` to at least ``firstFreeChildFD`` (close-on-exec), closing the original.
    static func raised(_ fd: Int32) throws(ThreadKillError) -> Int32 {
        if fd >= firstFreeChildFD { return fd }
        let high = fcntl(fd, F_DUPFD_CLOEXEC, firstFreeChildFD)
        let err = errno
        close(fd)
        guard high >= 0 else { throw .system("fcntl(F_DUPFD_CLOEXEC)", err) }
        return high
    }

    /// Writes every byte, retrying short writes and `EINTR`.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(ThreadKillError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .system("write", errno)
            }
            done += n
        }
    }

    /// Reads until end of file (blocking), retrying `EINTR`.
    static func readAll(_ fd: Int32) throws(ThreadKillError) -> [UInt8] {
        var bytes: [UInt8] = []
        while true {
            switch readAvailable(fd, into: &bytes) {
            case .endOfFile: return bytes
            case .wouldBlock: continue
            case .failed(let err): throw .system("read", err)
            }
        }
    }

    enum ReadEnd: Equatable {
        case endOfFile, wouldBlock, failed(Int32)
    }

    /// Appends what `fd` has now; stops at `EAGAIN` (non-blocking fds) or end of file.
    static func readAvailable(_ fd: Int32, into bytes: inout [UInt8]) -> ReadEnd {
        readAvailable(fd) { bytes += $0 }
    }

    /// Hands each chunk `fd` has now to `consume` (the buffer is valid only
    /// during the call); stops at `EAGAIN` (non-blocking fds) or end of file.
    static func readAvailable(_ fd: Int32, _ consume: (UnsafeRawBufferPointer) -> Void) -> ReadEnd {
        var chunk = [UInt8](repeating: 0, count: 65536)
        return chunk.withUnsafeMutableBytes { buffer in
            while true {
                let n = read(fd, buffer.baseAddress, buffer.count)
                if n > 0 {
                    consume(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                } else if n == 0 {
                    return .endOfFile
                } else if errno == EINTR {
                    continue
                } else if errno == EAGAIN || errno == EWOULDBLOCK {
                    return .wouldBlock
                } else {
                    return .failed(errno)
                }
            }
        }
    }
}
