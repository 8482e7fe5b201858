import Dispatch
import Testing
import ThreadKillTestSupport
@testable import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

/// A bound that only catches hangs: far above any real latency.
let hangBound: Duration = .seconds(30)

extension TimeLimitTrait.Duration {
    /// A test's time limit, which only catches hangs. Three minutes, not one:
    /// Swift Testing counts a test's wait for a thread of its cooperative pool
    /// (two threads here) as the test's time, and long synchronous tests hold
    /// them. Under four busy loops on the 2 cores, 38 one-minute limits fired
    /// together at 67.8 s while nothing hung.
    static var hang: Self { .minutes(3) }
}

extension KillableThread {
    /// Joins with a hang-detecting bound; records an issue at the caller if it hangs.
    func joinOrFail(sourceLocation: SourceLocation = #_sourceLocation) throws -> Outcome<Value> {
        let outcome = try join(timeout: hangBound)
        return try #require(outcome, "thread \(name) did not end within \(hangBound)", sourceLocation: sourceLocation)
    }
}

/// Expects `body` to throw a ``ThreadKillError`` with `code`.
func expectRefusal(_ code: ThreadKillError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as ThreadKillError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// The async twin of ``expectRefusal(_:sourceLocation:_:)``.
func expectRefusal(_ code: ThreadKillError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as ThreadKillError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// A one-shot signal between threads, for "ready" handshakes (never a sleep).
final class Latch: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    func open() { semaphore.signal() }
    func wait(sourceLocation: SourceLocation = #_sourceLocation) {
        let ok = semaphore.wait(timeout: .now() + .seconds(30)) == .success
        #expect(ok, "latch not opened within 30 s", sourceLocation: sourceLocation)
    }
}

/// Waits until `condition` holds, checking it after each short yield, or fails after the bound.
/// Returns whether it held.
@discardableResult
func eventually(_ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + hangBound
    while !condition() {
        if ContinuousClock.now > deadline {
            Issue.record("\(what) did not happen within \(hangBound)", sourceLocation: sourceLocation)
            return false
        }
        sched_yield()
    }
    return true
}

/// Waits until thread `tid` of this process is inside system call `nr`
/// (from `/proc/self/task/TID/syscall`), so a test can act on a thread that
/// is really blocked in the kernel.
func waitUntilInSyscall(tid: Int32, _ nr: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    eventually("thread \(tid) blocked in syscall \(nr)", sourceLocation: sourceLocation) { isInSyscall(tid: tid, nr) }
}


/// How long an async test waits for a condition: async work needs a pool
/// thread to make progress at all, and on 2 cores long synchronous suites can
/// hold both for a minute or more (AsyncTests' time limits say the same).
let asyncHangBound: Duration = .seconds(240)

/// The async twin of ``eventually(_:sourceLocation:_:)``: between checks the
/// task yields, so the waiting test holds no cooperative-pool thread.
func eventually(_ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ condition: () -> Bool) async {
    let deadline = ContinuousClock.now + asyncHangBound
    while !condition() {
        if ContinuousClock.now > deadline {
            Issue.record("\(what) did not happen within \(asyncHangBound)", sourceLocation: sourceLocation)
            return
        }
        await Task.yield()
    }
}

/// A unique thread name prefix, so parallel tests never count each other's threads.
func uniqueName(_ base: String) -> String {
    "\(base.prefix(8))\(String(UInt16.random(in: .min ... .max), radix: 16))"
}

/// The fixture program beside the test binary (`swift test` builds it there).
let fixturePath = siblingExecutable("ThreadKillFixtures")

/// Runs the fixture with `arguments` (and extra `environment` entries); once
/// its output contains `marker`, sends it `signals`. Returns its wait status
/// and everything it printed.
func runFixture(_ arguments: [String], environment: [String] = [], signals: [Int32] = [], after marker: String = "ready\n") throws -> (status: Int32, output: String) {
    var fds: [Int32] = [0, 0]
    try #require(pipe(&fds) == 0)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_addclose(&actions, fds[0])
    let argv: [UnsafeMutablePointer<CChar>?] = ([fixturePath] + arguments).map { strdup($0) } + [nil]
    var env: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) }
    var index = 0
    while let entry = environ[index] { env.append(strdup(entry)); index += 1 }
    env.append(nil)
    defer { (argv + env).forEach { free($0) } }
    var pid: pid_t = 0
    try #require(posix_spawn(&pid, fixturePath, &actions, nil, argv, env) == 0)
    close(fds[1])
    defer { close(fds[0]) }
    var output = [UInt8]()
    var pending = signals
    var buffer = [UInt8](repeating: 0, count: 256)
    while true {
        var pfd = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        try #require(poll(&pfd, 1, 30_000) == 1, "the fixture printed nothing for 30 s")
        let n = read(fds[0], &buffer, buffer.count)
        if n <= 0 { break }
        output += buffer[0..<n]
        if !pending.isEmpty, String(decoding: output, as: UTF8.self).contains(marker) {
            for signal in pending { kill(pid, signal) }
            pending = []
        }
    }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return (status, String(decoding: output, as: UTF8.self))
}

/// A plain pthread running `body`: a thread that ends when `body` returns,
/// not one of a pool that may be busy with other tests' work (and not a
/// KillableThread, which needs a free real-time signal).
final class PlainThread: @unchecked Sendable {  // `body` runs once, on the new thread
    private let body: @Sendable () -> Void
    private(set) var pthread = pthread_t()

    private init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    static func start(_ body: @escaping @Sendable () -> Void) -> PlainThread {
        let box = PlainThread(body)
        let err = pthread_create(&box.pthread, nil, { arg in
            Unmanaged<PlainThread>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, Unmanaged.passRetained(box).toOpaque())
        precondition(err == 0, "pthread_create failed: \(err)")
        return box
    }

    func join() { pthread_join(pthread, nil) }
}
