import Logging
import ServiceLifecycle
import Synchronization
import Testing
import ThreadKill
import ThreadKillLogging
import ThreadKillServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// What an in-memory log handler received.
final class LogRecorder: Sendable {
    struct Entry: Sendable, CustomStringConvertible {
        let level: Logger.Level
        let message: String
        let metadata: Logger.Metadata
        var description: String { "\(level) \(message) \(metadata)" }
    }

    private let entries = Mutex<[Entry]>([])

    func append(_ entry: Entry) { entries.withLock { $0.append(entry) } }
    var all: [Entry] { entries.withLock { $0 } }

    /// A logger that records here, at every level.
    func logger(label: String = "test") -> Logger {
        var logger = Logger(label: label) { _ in RecordingHandler(recorder: self) }
        logger.logLevel = .trace
        return logger
    }
}

/// An in-memory swift-log handler: every entry goes to a ``LogRecorder``.
struct RecordingHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        recorder.append(.init(level: event.level, message: "\(event.message)",
                              metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
    }
}

/// Whether thread `tid` of this process is inside system call `nr` now.
func isInSyscall(tid: Int32, _ nr: Int) -> Bool {
    guard let file = fopen("/proc/self/task/\(tid)/syscall", "r") else { return false }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 256)
    guard fgets(&buffer, 256, file) != nil else { return false }
    let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return text.split(separator: " ").first.flatMap { Int($0) } == nr
}

/// The calling thread's kernel id, from `/proc/thread-self` ("PID/task/TID").
func currentTID() -> Int32 {
    var buffer = [CChar](repeating: 0, count: 64)
    let n = readlink("/proc/thread-self", &buffer, buffer.count - 1)
    guard n > 0 else { return 0 }
    let link = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return link.split(separator: "/").last.flatMap { Int32($0) } ?? 0
}

/// `accept4`'s system call number (Glibc does not export `SYS_accept4` to Swift).
#if arch(x86_64)
let accept4Number = 288
#elseif arch(arm64)
let accept4Number = 242
#endif

/// A TCP socket listening on 127.0.0.1 at a port the kernel picks.
func loopbackListener() throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    try #require(fd >= 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    try #require(bound == 0 && listen(fd, 8) == 0)
    return fd
}

// Serialized: the event hook is process-wide, and one test sends SIGTERM to this process.
@Suite("Integrations", .serialized)
struct IntegrationTests {
    @Test("a logger passed to KillEventLogging receives the events of a kill, in order, at debug level", .timeLimit(.minutes(1)))
    func loggerReceivesKillEvents() throws {
        let recorder = LogRecorder()
        KillEventLogging.install(recorder.logger())
        defer { KillEventLogging.uninstall() }
        let started = Mutex(false)
        let thread = try KillableThread(name: "logged") { ctx in
            started.withLock { $0 = true }
            try ctx.sleep(for: .seconds(3600))
        }
        while !started.withLock({ $0 }) { sched_yield() }
        let result = try thread.stop(grace: .seconds(30))
        #expect(result.report.stopped)
        let mine = recorder.all.filter { $0.metadata["threadkill.thread"]?.description == "#\(thread.id) logged" }
        #expect(mine.map(\.message) == ["ladder step", "kill requested", "kill delivered", "thread ended"], "\(mine)")
        #expect(mine.allSatisfy { $0.level == .debug })
        guard mine.count == 4 else { return }
        #expect(mine[0].metadata["threadkill.step"] == "stop request")
        let kill = mine[1].metadata["threadkill.kill"]
        #expect(kill != nil)
        #expect(mine[1].metadata["threadkill.reason"] == "stop requested")
        #expect(mine[2].metadata["threadkill.kill"] == kill)
        #expect(mine[3].metadata["threadkill.kill"] == kill)
        #expect(mine[3].metadata["threadkill.outcome"]?.description.hasPrefix("stop requested") == true)
    }

    @Test("a ServiceGroup whose thread-backed service is blocked in accept() shuts down on a real SIGTERM within its grace",
          .timeLimit(.minutes(1)))
    func serviceGroupStopsOnSignal() async throws {
        let recorder = LogRecorder()
        let listener = try loopbackListener()
        defer { close(listener) }
        let tid = Atomic<Int32>(0)
        let service = KillableThreadService(name: "acceptor", logger: recorder.logger()) { ctx in
            tid.store(currentTID(), ordering: .releasing)
            while true { close(try ctx.accept(listener)) }
        }
        let grace: Duration = .seconds(20)
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: service)], gracefulShutdownSignals: [.sigterm], logger: recorder.logger(label: "group"))
        configuration.maximumGracefulShutdownDuration = grace
        let group = ServiceGroup(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // The group traps SIGTERM before it starts its services: once the
            // thread is in accept4, the signal reaches the group, not the default action.
            while !(tid.load(ordering: .acquiring) != 0 && isInSyscall(tid: tid.load(ordering: .acquiring), accept4Number)) {
                await Task.yield()
            }
            let signalled = ContinuousClock.now
            #expect(kill(getpid(), SIGTERM) == 0)
            try await tasks.next()
            let elapsed = ContinuousClock.now - signalled
            #expect(elapsed < grace, "took \(elapsed)")
        }
        let stop = recorder.all.first { $0.message == "thread stopped on graceful shutdown" }
        #expect(stop?.level == .info, "\(recorder.all)")
        #expect(stop?.metadata["threadkill.service"] == "acceptor")
        #expect(stop?.metadata["threadkill.stop"]?.description.hasPrefix("stop requested") == true)
    }

    @Test("the group's cancellation climbs the ladder for a body that ignores the graceful stop, and the service logs the report",
          .timeLimit(.minutes(1)))
    func cancellationClimbsLadder() async throws {
        let recorder = LogRecorder()
        let running = Atomic<Bool>(false)
        // Swallows every stop request: only the ladder's later steps (the interrupt) end it.
        let service = KillableThreadService(name: "stubborn", onCancel: .stop(grace: .seconds(2)), logger: recorder.logger()) { ctx in
            running.store(true, ordering: .releasing)
            while true {
                do { try ctx.checkpoint() } catch let kill as KillError where kill.reason == .stopRequested { continue }
            }
        }
        var configuration = ServiceGroupConfiguration(services: [.init(service: service)], logger: recorder.logger(label: "group"))
        configuration.maximumGracefulShutdownDuration = .milliseconds(100)
        let group = ServiceGroup(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            while !running.load(ordering: .acquiring) { await Task.yield() }
            await group.triggerGracefulShutdown()
            try await tasks.next()
        }
        let stop = recorder.all.first { $0.message == "thread stopped on cancellation" }
        #expect(stop?.level == .info, "\(recorder.all)")
        #expect(stop?.metadata["threadkill.stop"]?.description.hasPrefix("stopped by the interrupt") == true)
    }
}
