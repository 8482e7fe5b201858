#if canImport(Glibc)
import Glibc
#endif
import ThreadKill

/// What no cooperative scheme can do: wake a thread blocked in the kernel.
enum InterruptDemo: Demo {
    static let name = "interrupt"
    static let summary = "wake a thread blocked in read() on a pipe nobody will ever write to"

    static func run() throws {
        try withSilentPipe { readEnd in
            let reader = try KillableThread(name: "reader") { ctx -> Int in
                print("reader: blocking in read(2)...")
                var byte: UInt8 = 0
                return try withUnsafeMutableBytes(of: &byte) { try ctx.read(readEnd, into: $0) }
            }
            pause(.milliseconds(50))
            var outcome: Outcome<Int>?
            let latency = try measure {
                try reader.interrupt()
                outcome = try reader.join()
            }
            print("reader: \(outcome?.report?.reason.rawValue ?? "?"); interrupt to join took \(latency.compactDescription)")
        }
    }
}
