#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import Testing
import ThreadKillTestSupport

/// The CLI, beside the test binary (`.build/<config>/ThreadKillPackageTests.xctest`).
let threadkillPath = siblingExecutable("threadkill")

/// Runs the built `threadkill` (or `executable`) with `arguments` in a process of its own.
///
/// - Parameter onTerminal: Whether its standard output is a pseudo-terminal
///   (as in an interactive shell) instead of a pipe.
/// - Returns: Its exit status, its standard output and its standard error
///   (collected in a memory file and read once it has exited).
func runThreadkill(
    _ arguments: [String], executable: String = threadkillPath, onTerminal: Bool = false
) throws -> (status: Int32, output: String, error: String) {
    // Close-on-exec, so that a child another test starts meanwhile does not
    // inherit them (and hold the pipe open); dup2 gives our child its copies,
    // and it inherits nothing else. [0] is read here, [1] is the child's stdout.
    var outPipe: [Int32] = [-1, -1]
    if onTerminal {
        // A pseudo-terminal: once the child (the only holder of the terminal
        // end) has exited, reading the controller returns what is left, then EIO.
        var controller: Int32 = -1, terminal: Int32 = -1
        try #require(openpty(&controller, &terminal, nil, nil, nil) == 0)
        outPipe = [controller, terminal]
        for fd in outPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    } else {
        try #require(CPthreadShim_pipe2(&outPipe, O_CLOEXEC) == 0)
    }
    let errorFD = CPthreadShim_memfd_create("threadkill-stderr")
    try #require(errorFD >= 0)
    defer { close(errorFD) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
    posix_spawn_file_actions_adddup2(&actions, errorFD, 2)
    try #require(CPthreadShim_posix_spawn_file_actions_addclosefrom_np(&actions, 3) == 0)
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    // An empty signal mask: the calling test thread (a pool thread) blocks
    // signals that the child must take (`latency`'s C floor uses a real-time one).
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
    var pid: pid_t = 0
    let err = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
    close(outPipe[1])
    defer { close(outPipe[0]) }
    try #require(err == 0, "cannot start \(executable): \(String(cString: strerror(err)))")
    let output = readAll(outPipe[0])
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exited = status & 0x7f == 0
    try #require(exited, "threadkill was killed by signal \(status & 0x7f)")
    lseek(errorFD, 0, SEEK_SET)
    let error = readAll(errorFD)
    return ((status >> 8) & 0xff, output, error)
}

/// Reads `fd` to its end (end of file, or EIO from a pseudo-terminal whose
/// other end is closed), as UTF-8 text.
private func readAll(_ fd: Int32) -> String {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fd, &chunk, chunk.count)
        if n > 0 { bytes += chunk[0..<n]; continue }
        if n < 0 && errno == EINTR { continue }
        break
    }
    return String(decoding: bytes, as: UTF8.self)
}
