import CPthreadShim
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The descriptors one operation's body blocks on, owned by its killer:
/// made before the thread starts, released on cue, closed after the join.
final class OperationResources: Sendable {
    /// What the body reads, receives or accepts on.
    let bodyFD: Int32
    private let listenerPort: UInt16
    private let listener: Int32
    private let kind: BodyKind
    /// The killer's end: a pipe's write end, a connection's client side.
    private let peer = Mutex<Int32>(-1)

    init(for kind: BodyKind, listener: Int32, port: UInt16) throws {
        self.kind = kind
        self.listener = listener
        self.listenerPort = port
        switch kind {
        case .pipeRead, .foreignRead, .cancellableRead, .cancellableCRead:
            var fds: [Int32] = [-1, -1]
            guard CPthreadShim_pipe2(&fds, O_CLOEXEC) == 0 else { throw Loopback.Failure(call: "pipe2", errno: errno) }
            bodyFD = fds[0]
            peer.withLock { $0 = fds[1] }
        case .socketRecv:
            let client = try Loopback.connect(port: port)
            guard let server = Loopback.acceptPending(listener) else {
                Loopback.abort(client)
                throw Loopback.Failure(call: "accept", errno: EAGAIN)
            }
            bodyFD = server
            peer.withLock { $0 = client }
        case .socketAccept:
            bodyFD = listener
        case .cooperative, .maskedMutex, .asyncAllocation:
            bodyFD = -1
        }
    }

    /// Lets a blocked body go on by itself: end of file on its pipe or
    /// connection, or a connection to accept. Idempotent.
    func release() throws {
        try peer.withLock { peer in
            switch kind {
            case .pipeRead, .foreignRead, .cancellableRead, .cancellableCRead:
                if peer >= 0 { Glibc.close(peer) }
                peer = -1
            case .socketRecv:
                // A FIN, not a reset: the body's recv sees end of stream, not an error.
                if peer >= 0 { _ = shutdown(peer, Int32(SHUT_WR)) }
            case .socketAccept:
                if peer == -1 { peer = try Loopback.connectRetrying(port: listenerPort) }
            case .cooperative, .maskedMutex, .asyncAllocation:
                break
            }
        }
    }

    /// Closes everything the operation still holds, after the join.
    func closeAll() {
        peer.withLock { peer in
            if peer >= 0 {
                [.pipeRead, .foreignRead, .cancellableRead, .cancellableCRead].contains(kind) ? _ = Glibc.close(peer) : Loopback.abort(peer)
            }
            peer = -1
        }
        switch kind {
        case .pipeRead, .foreignRead, .cancellableRead, .cancellableCRead: _ = Glibc.close(bodyFD)
        case .socketRecv: Loopback.abort(bodyFD)
        case .socketAccept:
            // A connection the body did not take must not wait in the backlog for the next body.
            while let stale = Loopback.acceptPending(listener) { Loopback.abort(stale) }
        case .cooperative, .maskedMutex, .asyncAllocation: break
        }
    }
}
