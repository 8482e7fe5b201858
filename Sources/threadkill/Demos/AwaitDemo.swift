import Dispatch
import ThreadKill

/// The async front door: a task awaits a thread blocked in read(2) — no
/// cooperative-pool thread waits — and cancelling the task stops the thread.
/// The same scenario as AsyncTests' "a task blocked in ctx.read returns
/// promptly when cancelled…".
enum AwaitDemo: Demo {
    static let name = "await"
    static let summary = "await a thread blocked in read() from async code; cancelling the task stops it"

    static func run() throws {
        try withSilentPipe { readEnd in
            let finished = DispatchSemaphore(value: 0)  // the demo's main thread is not a pool thread
            let reading = Task {
                defer { finished.signal() }
                do {
                    let byte = try await KillableThread.run(name: "reader") { ctx -> UInt8 in
                        print("reader: blocking in read(2); the task awaits it, holding no thread")
                        var byte: UInt8 = 0
                        _ = try withUnsafeMutableBytes(of: &byte) { try ctx.read(readEnd, into: $0) }
                        return byte
                    }
                    print("task: read \(byte)")
                } catch let cancelled as TaskCancelledError {
                    print(cancelled)
                } catch {
                    print("task: \(error)")
                }
            }
            pause(.milliseconds(50))
            print("main: reading.cancel()")
            reading.cancel()
            finished.wait()
        }
    }
}
