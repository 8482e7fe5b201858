import CPthreadShim
import Testing
@testable import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

/// The fixture program beside the test binary.
private let fixture: String = {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let path = String(decoding: buffer[0..<max(n, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return path[..<path.lastIndex(of: "/")!] + "/ThreadKillFixtures"
}()

/// Runs the fixture with `arguments` and `environment` additions; returns its output.
private func runFixture(_ arguments: [String], environment: [String] = []) throws -> String {
    var fds: [Int32] = [0, 0]
    try #require(pipe(&fds) == 0)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_addclose(&actions, fds[0])
    let argv: [UnsafeMutablePointer<CChar>?] = ([fixture] + arguments).map { strdup($0) } + [nil]
    var env: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) }
    var index = 0
    while let entry = environ[index] { env.append(strdup(entry)); index += 1 }
    env.append(nil)
    defer { (argv + env).forEach { free($0) } }
    var pid: pid_t = 0
    try #require(posix_spawn(&pid, fixture, &actions, nil, argv, env) == 0)
    close(fds[1])
    defer { close(fds[0]) }
    var output = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 256)
    while true {
        var pfd = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        try #require(poll(&pfd, 1, 30_000) == 1, "the fixture printed nothing for 30 s")
        let n = read(fds[0], &buffer, buffer.count)
        if n <= 0 { break }
        output += buffer[0..<n]
    }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return String(decoding: output, as: UTF8.self)
}

struct Unencodable: Codable, Sendable {
    struct Refused: Error {}
    init() {}
    init(from decoder: any Decoder) throws { throw Refused() }
    func encode(to encoder: any Encoder) throws { throw Refused() }
}

@Suite("Refusals: the rest of Docs/BadInput.md")
struct RefusalCoverageTests {
    @Test("raise into a finished thread is refused")
    func raiseFinished() throws {
        let thread = try KillableThread { _ in }
        _ = try thread.joinOrFail()
        expectRefusal(.alreadyFinished) { try thread.raise(Boom(code: 1)) }
        expectRefusal(.alreadyFinished) { try thread.cancel() }
    }

    @Test("join(timeout:) and stop(grace:) from the thread itself are refused")
    func joinTimeoutFromSelf() throws {
        let holder = Latch()
        let box = ThreadBox()
        let thread = try KillableThread { _ -> [ThreadKillError.Code] in
            holder.wait()
            var codes: [ThreadKillError.Code] = []
            do { _ = try box.thread!.join(timeout: .seconds(1)) } catch let e as ThreadKillError { codes.append(e.code) }
            do { _ = try box.thread!.stop(grace: .seconds(1)) } catch let e as ThreadKillError { codes.append(e.code) }
            return codes
        }
        box.thread = thread
        holder.open()
        #expect(try thread.joinOrFail().value == [.callingThread, .callingThread])
        box.thread = nil
    }

    @Test("a raw pthread and a finished killable thread are not targets")
    func rawAndFinishedNotOwned() throws {
        let thread = try KillableThread { _ in pthread_self() }
        let pthread = try #require(try thread.joinOrFail().value)
        expectRefusal(.notOwned) { _ = try ThreadKill.thread(for: pthread) }
        var raw = pthread_t()
        #expect(pthread_create(&raw, nil, { _ in nil }, nil) == 0)
        expectRefusal(.notOwned) { _ = try ThreadKill.thread(for: raw) }
        pthread_join(raw, nil)
    }

    @Test("negative ticks and poll timeouts are refused")
    func negativeDurations() throws {
        expectRefusal(.invalidDuration) { _ = try KillableThread(tick: .seconds(-1)) { _ in } }
        let thread = try KillableThread { ctx -> ThreadKillError.Code? in
            var fds: [pollfd] = []
            do { _ = try ctx.poll(&fds, timeout: .seconds(-1)) } catch let e as ThreadKillError { return e.code }
            return nil
        }
        #expect(try thread.joinOrFail().value == .invalidDuration)
    }

    @Test("vouching refuses paths and prefixes of the runtime")
    func vouchRefusals() {
        for name in ["a/libx", "libpthread", "libswift_Concurrency", "libFoundation", "linux-vdso.so.1", "lib_FoundationICU"] {
            expectRefusal(.invalidArgument) { try ThreadKill.allowInjection(inLibrary: name) }
        }
    }

    @Test("isolated processes refuse an empty executable, a negative grace and an input that does not encode")
    func processRefusals() {
        let job = IsolatedJob<Int, Int>("no-such-job")
        expectRefusal(.invalidArgument) { _ = try IsolatedProcess.start(job, input: 1, executable: "") }
        expectRefusal(.invalidDuration) { _ = try IsolatedProcess.run(job, input: 1, timeout: .seconds(1), grace: .seconds(-1), executable: fixture) }
        expectRefusal(.jobCoding) { _ = try IsolatedProcess.start(IsolatedJob<Unencodable, Int>("x"), input: Unencodable(), executable: fixture) }
    }

    @Test("THREADKILL_SIGNAL and the signal probe refuse bad or taken signals, in a fresh process", .timeLimit(.minutes(1)))
    func signalChoice() throws {
        #expect(try runFixture(["signal-choice", "env"], environment: ["THREADKILL_SIGNAL=abc"]) == "invalidArgument\n")
        #expect(try runFixture(["signal-choice", "env"], environment: ["THREADKILL_SIGNAL=2"]) == "invalidArgument\n")
        #expect(try runFixture(["signal-choice", "taken"]).hasPrefix("signalInUse("))
        #expect(try runFixture(["signal-choice", "none"]) == "noFreeSignal\n")
        let chosen = CPthreadShim_sigrtmin() + 4
        #expect(try runFixture(["signal-choice", "env"], environment: ["THREADKILL_SIGNAL=\(chosen)"]) == "installed \(chosen)\n")
    }
}

/// Hands a thread's own handle to its body.
final class ThreadBox: @unchecked Sendable {  // written before the body reads it (Latch), cleared after join
    var thread: KillableThread<[ThreadKillError.Code]>?
}
