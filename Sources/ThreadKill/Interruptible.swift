#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim

/// System calls that a kill wakes, race-free.
///
/// Each call is made through a cancellable-syscall stub (musl's scheme): the
/// kill word is loaded and the syscall instruction executed between two labels,
/// and the signal handler moves a thread found between them to a stub that
/// returns `ECANCELED`. So a kill that lands after the check but before the
/// kernel starts waiting still wakes the thread, a call that has completed
/// keeps its result (no data is lost), and nothing unwinds: the wrapper throws
/// and every `defer` runs. `EINTR` from other signals is retried.
///
/// Inside ``KillContext/uninterruptible(_:)`` these calls are made plainly and
/// do not wake. Failures throw ``ThreadKillError`` with code
/// ``ThreadKillError/Code/systemCall``, the call's name in ``ThreadKillError/context`` and the `errno` in ``ThreadKillError/underlyingError``.
extension KillContext {
    /// Reads up to `buffer.count` bytes from `fd`.
    ///
    /// - Returns: The number of bytes read; 0 at end of file.
    /// - Throws: The kill, or a ``ThreadKillError`` for a failed `read`.
    ///
    /// The corresponding C function is `read`.
    public func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try syscall("read", Int(CPthreadShim_SYS_read), Int(fd), Int(bitPattern: buffer.baseAddress), buffer.count)
    }

    /// Writes up to `buffer.count` bytes to `fd`.
    ///
    /// - Returns: The number of bytes written.
    ///
    /// The corresponding C function is `write`.
    public func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws -> Int {
        try syscall("write", Int(CPthreadShim_SYS_write), Int(fd), Int(bitPattern: buffer.baseAddress), buffer.count)
    }

    /// Receives up to `buffer.count` bytes from a socket.
    ///
    /// The corresponding C function is `recv`.
    public func recv(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: Int32 = 0) throws -> Int {
        try syscall("recv", Int(CPthreadShim_SYS_recvfrom), Int(fd), Int(bitPattern: buffer.baseAddress), buffer.count, Int(flags), 0, 0)
    }

    /// Sends up to `buffer.count` bytes on a socket (with `MSG_NOSIGNAL`).
    ///
    /// The corresponding C function is `send`.
    public func send(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, flags: Int32 = 0) throws -> Int {
        try syscall("send", Int(CPthreadShim_SYS_sendto), Int(fd), Int(bitPattern: buffer.baseAddress), buffer.count, Int(flags | Int32(MSG_NOSIGNAL)), 0, 0)
    }

    /// Accepts a connection on a listening socket.
    ///
    /// - Returns: The new socket, close-on-exec.
    ///
    /// The corresponding C function is `accept4` with `SOCK_CLOEXEC`.
    public func accept(_ fd: Int32) throws -> Int32 {
        Int32(try syscall("accept", Int(CPthreadShim_SYS_accept4), Int(fd), 0, 0, Int(SOCK_CLOEXEC.rawValue)))
    }

    /// Connects a socket.
    ///
    /// - Important: A kill that interrupts a connect in progress leaves the
    ///   socket in an unspecified state (the kernel may go on connecting): close it.
    ///
    /// The corresponding C function is `connect`.
    public func connect(_ fd: Int32, to address: UnsafePointer<sockaddr>, length: socklen_t) throws {
        _ = try syscall("connect", Int(CPthreadShim_SYS_connect), Int(fd), Int(bitPattern: address), Int(length))
    }

    /// Waits for events on file descriptors.
    ///
    /// - Parameters:
    ///   - fds: The descriptors and the events to wait for; `revents` is filled in.
    ///   - timeout: How long to wait; nil waits forever.
    /// - Returns: The number of descriptors with events; 0 if the timeout passed.
    ///
    /// The corresponding C function is `ppoll`.
    public func poll(_ fds: inout [pollfd], timeout: Duration? = nil) throws -> Int {
        try poll(&fds, timeout: timeout, name: "poll(timeout:)", cancellable: false)
    }

    /// Waits for a child process to change state.
    ///
    /// - Returns: The child's pid (0 with `WNOHANG` and no change) and its status.
    ///
    /// The corresponding C function is `waitpid`.
    public func waitpid(_ pid: pid_t, options: Int32 = 0) throws -> (pid: pid_t, status: Int32) {
        var status: Int32 = 0
        let result = try withUnsafeMutablePointer(to: &status) { sp in
            try syscall("waitpid", Int(CPthreadShim_SYS_wait4), Int(pid), Int(bitPattern: sp), Int(options), 0)
        }
        return (pid_t(result), status)
    }

    // MARK: Plumbing

    /// `ppoll` until an event, the timeout, or a kill (or, when `cancellable`,
    /// a cancel); `name` names the caller in a refusal of a negative timeout.
    func poll(_ fds: inout [pollfd], timeout: Duration?, name: String, cancellable: Bool) throws -> Int {
        let deadline = Deadline(after: try timeout.map { d throws(ThreadKillError) in try d.validatedNanos(name) })
        let count = fds.count
        return try fds.withUnsafeMutableBufferPointer { buffer in
            try retrying("poll", cancellable: cancellable) {
                let fdsArg = Int(bitPattern: buffer.baseAddress)
                guard let remaining = deadline.remaining else {
                    return call(Int(CPthreadShim_SYS_ppoll), fdsArg, count, 0, 0, 0, 0, cancellable: cancellable)
                }
                var ts = timespec(nanos: remaining)
                return withUnsafeMutablePointer(to: &ts) { tsp in
                    call(Int(CPthreadShim_SYS_ppoll), fdsArg, count, Int(bitPattern: tsp), 0, 0, 0, cancellable: cancellable)
                }
            }
        }
    }

    /// One syscall that a kill (and, when `cancellable`, a cancel) wakes,
    /// retried on a stray `EINTR`.
    func syscall(_ name: String, _ nr: Int, _ a1: Int = 0, _ a2: Int = 0, _ a3: Int = 0,
                 _ a4: Int = 0, _ a5: Int = 0, _ a6: Int = 0, cancellable: Bool = false) throws -> Int {
        try retrying(name, cancellable: cancellable) { call(nr, a1, a2, a3, a4, a5, a6, cancellable: cancellable) }
    }

    func call(_ nr: Int, _ a1: Int, _ a2: Int, _ a3: Int, _ a4: Int, _ a5: Int, _ a6: Int, cancellable: Bool) -> Int {
        if CPthreadShim_uninterruptible_depth(core.block) > 0 {
            return CPthreadShim_syscall_plain(nr, a1, a2, a3, a4, a5, a6)
        }
        if cancellable { return CPthreadShim_syscall_cancellable(core.block, nr, a1, a2, a3, a4, a5, a6) }
        return CPthreadShim_syscall_cp(core.block, nr, a1, a2, a3, a4, a5, a6)
    }

    /// Runs `attempt` (which returns a raw result, -errno on failure) until it
    /// succeeds, is cancelled by a kill or a cancel (thrown), or fails.
    func retrying(_ name: String, cancellable: Bool = false, _ attempt: () -> Int) throws -> Int {
        while true {
            let result = attempt()
            if result >= 0 { return result }
            let err = Int32(-result)
            if err == ECANCELED {
                if cancellable, let cancel = core.takeCancel() { try endCancelled(cancel) }
                if CPthreadShim_kill_load_acquire(core.block) != 0 {
                    try deliver(.interruptible())
                    continue  // nothing deliverable any more (consumed meanwhile): try again
                }
            }
            if err == EINTR { continue }
            throw ThreadKillError.system(name, err)
        }
    }
}
