import Testing
@testable import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

/// The fixture program beside the test binary.
private let fixturePath: String = {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let path = String(decoding: buffer[0..<max(n, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return path[..<path.lastIndex(of: "/")!] + "/ThreadKillFixtures"
}()

/// Runs the fixture's exit-policy scenario `mode`; after it prints "ready",
/// sends it `signals` one by one (each after the previous was delivered);
/// returns its wait status and everything it printed.
private func runScenario(_ mode: String, signals: [Int32] = []) throws -> (status: Int32, output: String) {
    var fds: [Int32] = [0, 0]
    try #require(pipe(&fds) == 0)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_addclose(&actions, fds[0])
    var pid: pid_t = 0
    let argv: [UnsafeMutablePointer<CChar>?] = [strdup(fixturePath), strdup("exit-policy"), strdup(mode), nil]
    defer { argv.forEach { free($0) } }
    try #require(posix_spawn(&pid, fixturePath, &actions, nil, argv, environ) == 0)
    close(fds[1])
    defer { close(fds[0]) }
    var output = ""
    var pending = signals
    var buffer = [UInt8](repeating: 0, count: 256)
    while true {
        var pfd = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        try #require(poll(&pfd, 1, 30_000) == 1, "the scenario printed nothing for 30 s")
        let n = read(fds[0], &buffer, buffer.count)
        if n <= 0 { break }
        output += String(decoding: buffer[0..<n], as: UTF8.self)
        if output.contains("ready\n"), !pending.isEmpty {
            for signal in pending { kill(pid, signal) }
            pending = []
        }
    }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return (status, output)
}

private func exitCode(_ status: Int32) -> Int32? { status & 0x7f == 0 ? (status >> 8) & 0xff : nil }

@Suite("Exit policy and termination signals")
struct ExitPolicyTests {
    @Test("a daemon thread is abandoned: the program exits at once, its cleanup never runs", .timeLimit(.minutes(1)))
    func daemonAbandoned() throws {
        let (status, output) = try runScenario("daemon")
        #expect(exitCode(status) == 0)
        #expect(output == "ready\n")
    }

    @Test("a non-daemon thread holds the program open until the exit policy stops it; its cleanup runs", .timeLimit(.minutes(1)))
    func nonDaemonStopped() throws {
        let (status, output) = try runScenario("non-daemon")
        #expect(exitCode(status) == 0)
        #expect(output == "ready\ncleanup ran\n")
    }

    @Test("SIGTERM becomes a graceful shutdown whose cleanups run, exiting with 128 + SIGTERM", .timeLimit(.minutes(1)))
    func sigtermShutdown() throws {
        let (status, output) = try runScenario("signals", signals: [SIGTERM])
        #expect(exitCode(status) == 128 + SIGTERM)
        #expect(output == "ready\ncleanup ran\n")
    }

    @Test("a second signal forces exit while the shutdown is still waiting for a stuck thread", .timeLimit(.minutes(1)))
    func secondSignalForces() throws {
        // The shutdown's grace is an hour and the worker swallows every kill:
        // only the second signal can end the program.
        let (status, output) = try runScenario("signals-stuck", signals: [SIGTERM, SIGINT])
        #expect(exitCode(status) == 128 + SIGINT || exitCode(status) == 128 + SIGTERM)
        #expect(output == "ready\n")
    }

    @Test("shutdown stops every live thread, daemon or not, through the ladder", .timeLimit(.minutes(1)))
    func shutdownStopsAll() throws {
        // In a child process: shutdown() stops every killable thread of the
        // process, which here would include other tests' threads.
        let (status, output) = try runScenario("shutdown")
        #expect(exitCode(status) == 0)
        #expect(output == "ready\ncleanup ran\ncleanup ran\ncleanup ran\n3 of 3 threads stopped\n")
    }
}
