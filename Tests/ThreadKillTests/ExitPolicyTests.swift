import Testing
@testable import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

/// Runs the fixture's exit-policy scenario `mode`, sending `signals` once it is ready.
private func runScenario(_ mode: String, signals: [Int32] = []) throws -> (status: Int32, output: String) {
    try runFixture(["exit-policy", mode], signals: signals)
}

private func exitCode(_ status: Int32) -> Int32? { status & 0x7f == 0 ? (status >> 8) & 0xff : nil }

@Suite("Exit policy and termination signals")
struct ExitPolicyTests {
    @Test("a daemon thread is abandoned: the program exits at once, its cleanup never runs", .timeLimit(.hang))
    func daemonAbandoned() throws {
        let (status, output) = try runScenario("daemon")
        #expect(exitCode(status) == 0)
        #expect(output == "ready\n")
    }

    @Test("a non-daemon thread holds the program open until the exit policy stops it; its cleanup runs", .timeLimit(.hang))
    func nonDaemonStopped() throws {
        let (status, output) = try runScenario("non-daemon")
        #expect(exitCode(status) == 0)
        #expect(output == "ready\ncleanup ran\n")
    }

    @Test("SIGTERM becomes a graceful shutdown whose cleanups run, exiting with 128 + SIGTERM", .timeLimit(.hang))
    func sigtermShutdown() throws {
        let (status, output) = try runScenario("signals", signals: [SIGTERM])
        #expect(exitCode(status) == 128 + SIGTERM)
        #expect(output == "ready\ncleanup ran\n")
    }

    @Test("a second signal forces exit while the shutdown is still waiting for a stuck thread", .timeLimit(.hang))
    func secondSignalForces() throws {
        // The shutdown's grace is an hour and the worker swallows every kill:
        // only the second signal can end the program.
        let (status, output) = try runScenario("signals-stuck", signals: [SIGTERM, SIGINT])
        #expect(exitCode(status) == 128 + SIGINT || exitCode(status) == 128 + SIGTERM)
        #expect(output == "ready\n")
    }

    @Test("shutdown stops every live thread, daemon or not, through the ladder", .timeLimit(.hang))
    func shutdownStopsAll() throws {
        // In a child process: shutdown() stops every killable thread of the
        // process, which here would include other tests' threads.
        let (status, output) = try runScenario("shutdown")
        #expect(exitCode(status) == 0)
        #expect(output == "ready\ncleanup ran\ncleanup ran\ncleanup ran\n3 of 3 threads stopped\n")
    }
}
