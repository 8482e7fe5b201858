import CThreadKillStress
import Synchronization
import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

/// What a worker's body sees: its operation and everything it reports to.
struct BodyEnvironment: Sendable {
    let operation: StressOperation
    let probe: Probe
    let tally: StressTally
    /// The one `Mutex` every masked body contends on; the health check takes it at the end.
    let shared: SharedLock
    /// The descriptor the body blocks on, if it blocks.
    let fd: Int32
    /// The injected fault: count a cleanup as registered and never register it.
    let skipOneCleanup: Bool

    var cleanupWork: Int { 200 + operation.work % 1_000 }

    func newCleanup() -> CleanupToken { CleanupToken(tally: tally, probe: probe, work: cleanupWork) }
}

/// A body failed on its own (not a kill): always an undocumented outcome.
struct BodyFailure: Error, CustomStringConvertible {
    let description: String
}

/// The worker bodies. Each announces its phases on the probe and ends by
/// itself after its work is done or once released, unless a kill ends it first.
enum Bodies {
    static func run(_ ctx: KillContext, _ env: BodyEnvironment) throws -> UInt64 {
        // Registered first, so it runs last, however the body ends.
        ctx.onKill { env.probe.end() }
        env.probe.enter(.started)
        if env.skipOneCleanup {
            _ = env.newCleanup()  // the fault: counted as registered, never pushed
        }
        let value = try nest(ctx, env, env.operation.cleanups[...]) { try main(ctx, env) }
        env.probe.enter(.exiting)
        return value
    }

    /// Wraps `inner` in the operation's cleanups, outermost first.
    private static func nest(
        _ ctx: KillContext, _ env: BodyEnvironment, _ levels: ArraySlice<CleanupKind>, _ inner: () throws -> UInt64
    ) throws -> UInt64 {
        guard let kind = levels.first else { return try inner() }
        let rest = levels.dropFirst()
        switch kind {
        case .withCleanup:
            let token = env.newCleanup()
            return try ctx.withCleanup(token.run) { try nest(ctx, env, rest, inner) }
        case .bracket:
            return try ctx.bracket(acquire: { try heldDescriptor(env) }, release: { held in
                close(held.fd)
                held.token.run()
            }) { _ in try nest(ctx, env, rest, inner) }
        case .onKill:
            let token = env.newCleanup()
            ctx.onKill(token.run)
            return try nest(ctx, env, rest, inner)
        }
    }

    /// A bracket's resource: a descriptor, and its cleanup counted in the same masked step.
    private static func heldDescriptor(_ env: BodyEnvironment) throws -> (fd: Int32, token: CleanupToken) {
        let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BodyFailure(description: "open /dev/null failed: errno \(errno)") }
        return (fd, env.newCleanup())
    }

    private static func main(_ ctx: KillContext, _ env: BodyEnvironment) throws -> UInt64 {
        switch env.operation.body {
        case .cooperative: return try cooperative(ctx, env)
        case .pipeRead: return try drain(env) { try ctx.read(env.fd, into: $0) }
        case .socketRecv: return try drain(env) { try ctx.recv(env.fd, into: $0) }
        case .socketAccept: return try acceptOne(ctx, env)
        case .maskedMutex: return try maskedMutex(ctx, env)
        case .asyncAllocation: return try asyncAllocation(ctx, env)
        case .foreignRead: return try foreignRead(ctx, env)
        case .cancellableRead: return try drain(env) { try ctx.cancellableRead(env.fd, into: $0) }
        case .cancellableCRead: return try drain(env) { try cancellableCRead(ctx, env.fd, into: $0) }
        }
    }

    /// One C `read` through `ctx.cancellableCall`. Its C cleanup must have run
    /// exactly when `pthread_cancel` ended the read inside the leaf: once if
    /// the leaf began and did not return, else never.
    private static func cancellableCRead(_ ctx: KillContext, _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var call = tk_stress_read_call(fd: fd, buffer: buffer.baseAddress, count: buffer.count, entered: 0, returned: 0, cleanups: 0)
        let result = withUnsafeMutablePointer(to: &call) { call in
            Result { () throws(any Error) -> Int in try ctx.cancellableCall(tk_stress_leaf_read, argument: call, onCancel: tk_stress_leaf_cleanup, cleanupArgument: call) }
        }
        let expected: Int32 = call.entered != 0 && call.returned == 0 ? 1 : 0
        if call.cleanups != expected {
            throw BodyFailure(description: "the C cleanup of a cancellable call ran \(call.cleanups) times, not \(expected)")
        }
        return try result.get()
    }

    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 { x &* 6364136223846793005 &+ 1442695040888963407 }

    private static func cooperative(_ ctx: KillContext, _ env: BodyEnvironment) throws -> UInt64 {
        var x = UInt64(env.operation.index)
        for i in 0..<env.operation.work {
            try ctx.checkpoint()
            for _ in 0..<100 { x = mix(x) }
            if i % 16 == 15 { try ctx.sleep(for: .microseconds(20)) }
        }
        return x
    }

    /// Reads until end of stream; the killer's release is what ends the stream.
    private static func drain(_ env: BodyEnvironment, _ read: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> UInt64 {
        var buffer = [UInt8](repeating: 0, count: 64)
        var total: UInt64 = 0
        while true {
            env.probe.enter(.blocked)
            let n = try buffer.withUnsafeMutableBytes { try read($0) }
            if n == 0 { return total }
            total += UInt64(n)
        }
    }

    private static func acceptOne(_ ctx: KillContext, _ env: BodyEnvironment) throws -> UInt64 {
        env.probe.enter(.blocked)
        return try ctx.bracket(acquire: { () throws -> (fd: Int32, token: CleanupToken) in
            let fd = try ctx.accept(env.fd)
            return (fd, env.newCleanup())
        }, release: { held in
            Loopback.abort(held.fd)
            held.token.run()
        }) { held in
            try ctx.checkpoint()
            return UInt64(held.fd)
        }
    }

    private static func maskedMutex(_ ctx: KillContext, _ env: BodyEnvironment) throws -> UInt64 {
        var x = UInt64(env.operation.work)
        for i in 0..<env.operation.work {
            try ctx.checkpoint()
            if i % 8 == 7 {
                // Interruptible calls inside stay asleep too.
                try ctx.uninterruptible {
                    env.probe.enter(.inMask)
                    try ctx.sleep(for: .microseconds(10))
                    env.shared.mutex.withLock { $0 = mix($0 ^ x) }
                    env.probe.enter(.maskEnding)
                }
            } else {
                x = try ctx.masked {
                    env.probe.enter(.inMask)
                    let value = env.shared.mutex.withLock { shared -> UInt64 in
                        var v = shared ^ x
                        for _ in 0..<50 { v = mix(v) }
                        shared = v
                        return v
                    }
                    env.probe.enter(.maskEnding)
                    return value
                }
            }
        }
        return x
    }

    private static func asyncAllocation(_ ctx: KillContext, _ env: BodyEnvironment) throws -> UInt64 {
        let operation = env.operation
        return try ctx.asyncKillable { () throws -> UInt64 in
            env.probe.enter(.inAsyncRegion)
            // Counted and pushed in one masked step: a jump cannot fall between them.
            try ctx.masked {
                let token = env.newCleanup()
                ctx.onKill(token.run)
            }
            let allocate = { () -> UInt64 in
                var x = UInt64(operation.index)
                for i in 0..<operation.work {
                    var array = [UInt64](repeating: x, count: operation.allocation)
                    for j in array.indices { array[j] = mix(array[j] &+ UInt64(j)) }
                    let text = String(x, radix: 16) + ":" + String(i)
                    var table: [Int: String] = [:]
                    table[i & 7] = text
                    table[(i + 1) & 7] = text + "!"
                    x = x &+ array.reduce(0, &+) &+ UInt64(table.count &* text.utf8.count)
                }
                return x
            }
            if operation.work % 2 == 0 { return allocate() }
            // A bracket inside the region: released by the landing if a kill jumps out.
            return try ctx.bracket(acquire: { try heldDescriptor(env) }, release: { held in
                close(held.fd)
                held.token.run()
            }) { _ in allocate() }
        }
    }

    private static func foreignRead(_ ctx: KillContext, _ env: BodyEnvironment) throws -> UInt64 {
        var buffer = [UInt8](repeating: 0, count: 64)
        var total: UInt64 = 0
        while true {
            env.probe.enter(.blocked)
            let (n, err) = try buffer.withUnsafeMutableBytes { bytes in
                try ctx.blocking { () -> (Int, Int32) in
                    let n = Glibc.read(env.fd, bytes.baseAddress, bytes.count)
                    return (n, n < 0 ? errno : 0)
                }
            }
            if n == 0 { return total }
            if n > 0 {
                total += UInt64(n)
            } else if err != EINTR {
                throw BodyFailure(description: "foreign read failed: errno \(err)")
            }
        }
    }
}
