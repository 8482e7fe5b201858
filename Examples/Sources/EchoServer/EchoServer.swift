// A server whose worker threads block in accept() and stop on SIGTERM under
// a ServiceGroup.
//
// Each worker is a KillableThreadService: plain blocking code on its own
// thread (`ctx.accept`, `ctx.write`), no event loop. The ServiceGroup owns
// SIGTERM and SIGINT; its graceful shutdown requests a stop, which wakes every
// worker out of accept() at once. The example drives itself: it connects
// once, reads the greeting, then sends itself SIGTERM, and exits 0 when the
// group has shut down.
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle
import ThreadKill
import ThreadKillLogging
import ThreadKillServiceLifecycle

@main
struct EchoServer {
    static func main() async throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardOutput)
        var logger = Logger(label: "echo-server")
        logger.logLevel = .info
        // Kill events (requests, deliveries, each thread's end) at debug level.
        var events = Logger(label: "threadkill")
        events.logLevel = .debug
        KillEventLogging.install(events)

        let listener = try listen(on: "127.0.0.1")
        defer { close(listener) }
        let workers = (1...2).map { n in
            KillableThreadService(name: "worker-\(n)", logger: logger) { ctx in
                while true {
                    let client = try ctx.accept(listener)  // blocks; a stop wakes it
                    defer { close(client) }
                    let greeting = Array("hello from worker-\(n)\n".utf8)
                    _ = try greeting.withUnsafeBytes { try ctx.write(client, $0) }
                }
            }
        }
        // Not KillableThreads.handleTerminationSignals: the group owns SIGTERM.
        var configuration = ServiceGroupConfiguration(
            services: workers.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(5)
        let group = ServiceGroup(configuration: configuration)

        let clock = ContinuousClock()
        var signalled = clock.now
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let greeting = try await KillableThread.run(name: "client") { ctx in try fetchGreeting(port: port(of: listener), ctx) }
            print("client: \(greeting)")
            signalled = clock.now
            kill(getpid(), SIGTERM)  // as `kill <pid>` or a container stop would
            try await tasks.waitForAll()
        }
        print("echo-server: all workers stopped \(clock.now - signalled) after SIGTERM")
    }
}

/// A TCP socket listening on `host` at a port the kernel picks.
func listen(on host: String) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw ExampleError("socket: errno \(errno)") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr(host)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0, Glibc.listen(fd, 16) == 0 else { throw ExampleError("bind/listen: errno \(errno)") }
    return fd
}

/// The port `fd` listens on.
func port(of fd: Int32) -> UInt16 {
    var address = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return UInt16(bigEndian: address.sin_port)
}

/// Connects to 127.0.0.1:`port` and reads one line.
func fetchGreeting(port: UInt16, _ ctx: KillContext) throws -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw ExampleError("socket: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    try withUnsafePointer(to: &address) {
        try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try ctx.connect(fd, to: $0, length: socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 64)
    while !bytes.contains(10) {
        let n = try buffer.withUnsafeMutableBytes { try ctx.read(fd, into: $0) }
        if n == 0 { break }
        bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: "\n")
}

struct ExampleError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension String {
    func trimmingCharacters(in character: Character) -> String {
        var s = Substring(self)
        while s.last == character { s = s.dropLast() }
        return String(s)
    }
}
