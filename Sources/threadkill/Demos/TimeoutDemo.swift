#if canImport(Glibc)
import Glibc
#endif
import ThreadKill

/// withTimeout: one call that stops the body by whatever it takes.
enum TimeoutDemo: Demo {
    static let name = "timeout"
    static let summary = "a runaway loop, a blocked read and a sleep, each stopped by withTimeout"

    static func run() throws {
        try withSilentPipe { readEnd in
            let bodies: [(String, @Sendable (KillContext) throws -> Void)] = [
                ("runaway loop", { ctx in
                    try ctx.asyncKillable {
                        var x: UInt64 = 1
                        while true { x = x &* 6364136223846793005 &+ 1 }
                    }
                }),
                ("blocked read", { ctx in
                    var byte: UInt8 = 0
                    _ = try withUnsafeMutableBytes(of: &byte) { try ctx.read(readEnd, into: $0) }
                }),
                ("one-hour sleep", { ctx in try ctx.sleep(for: .seconds(3600)) }),
            ]
            for (name, body) in bodies {
                do {
                    try withTimeout(.milliseconds(30), grace: .seconds(2), body)
                    print("\(name): finished?")
                } catch let timeout as TimeoutError {
                    print("\(name): \(timeout)")
                }
            }
        }
    }
}
