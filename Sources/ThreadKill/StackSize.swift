import CPthreadShim

extension KillableThreads {
    /// The smallest `stackSize` a ``KillableThread`` accepts on this machine, in bytes.
    ///
    /// It is what ThreadKill and the Swift runtime themselves need on the new
    /// thread, so that a body that does nearly nothing of its own can still be
    /// killed in every way; the body's own frames come on top. Three parts:
    /// - 20 KiB for glibc's thread block and static TLS (carved out of the
    ///   top of the stack), ThreadKill's frames, and the Swift runtime's
    ///   first-use work on the thread: instantiating generic metadata by
    ///   demangling a type name takes over 12 KB of stack. Measured, for a
    ///   body that is the first killable thread of its process and takes an
    ///   interrupt in `ctx.read`, one in a blocking region, one in an async
    ///   region and a stop in `ctx.sleep` with a cleanup registered: it needs
    ///   19,138 bytes in a debug build and 17,421 in a release build (Swift
    ///   6.3.1, glibc 2.36, x86_64); fewer bytes crash the whole process.
    /// - The kernel's signal frame, which ThreadKill's handler gets on the
    ///   thread's own stack (no `sigaltstack`): `AT_MINSIGSTKSZ`, 3,632 bytes
    ///   with AVX-512 and about 11 KB on CPUs with AMX.
    /// - 1 KiB for the signal handler's own frames and the 128-byte red zone
    ///   the kernel skips.
    ///
    /// Refusing sizes below it, rather than adding it to what the caller asks
    /// for, keeps `stackSize` what `pthread_attr_setstacksize` and
    /// `/proc/self/maps` say, so memory budgets stay exact. A program with
    /// large thread-local variables needs correspondingly more. Sanitizer
    /// builds need several times more stack per frame.
    public static var minimumStackSize: Int { StackFloor.minimum }
}

enum StackFloor {
    static let runtimeAndLibrary = 20 * 1024
    static let handler = 1024
    static let minimum = runtimeAndLibrary + Int(CPthreadShim_signal_frame_size()) + handler

    /// Refuses a stack that would overflow in ThreadKill's or the runtime's own frames.
    static func check(_ stackSize: Int) throws(ThreadKillError) {
        guard stackSize < minimum else { return }
        throw ThreadKillError(.invalidArgument, "stackSize must be at least \(minimum) bytes on this machine "
            + "(KillableThreads.minimumStackSize: the Swift runtime's first-use work, ThreadKill's frames and a "
            + "\(CPthreadShim_signal_frame_size())-byte signal frame), got \(stackSize); ask for that much more "
            + "than your body needs, or pass nil for the system default")
    }
}
