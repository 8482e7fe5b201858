import Synchronization
import Testing
import ThreadKillStress
@testable import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

/// Random sequences of operations on random threads — live, finishing and
/// finished — must only ever produce documented results: a typed refusal, a
/// documented outcome, never a crash, hang or leaked cleanup.
@Suite("API fuzzing")
struct APIFuzzTests {
    enum Operation: CaseIterable {
        case requestStop, interrupt, raise, cancel, joinNow, stopBriefly
    }

    @Test("random operations on random threads keep every documented invariant", .timeLimit(.minutes(3)),
          .disabled(under: .thread, because: "includes a blocked read, which TSan's deferred signals cannot wake: Docs/Sanitizers.md"),
          arguments: [0x5eed_0001, 0x5eed_0002, 0x5eed_0003] as [UInt64])
    func randomOperations(seed: UInt64) throws {
        var rng = StressRandom(seed: seed)
        func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        let registered = Atomic(0)
        let ran = Atomic(0)
        let pipe = Pipe()
        let bodies: [@Sendable (KillContext) throws -> Int] = [
            { ctx in while true { try ctx.sleep(for: .seconds(3600)) } },
            { ctx in
                var byte: UInt8 = 0
                return try withUnsafeMutableBytes(of: &byte) { try ctx.read(pipe.read, into: $0) }
            },
            { ctx in try ctx.asyncKillable { while true { _ = spin(iterations: 500) } } },
            { ctx in
                try ctx.cancellableSleep(for: .seconds(3600))
                return 0
            },
            { ctx in try ctx.masked { spin(iterations: 10_000) } },
            { _ in 7 },
        ]
        var threads: [KillableThread<Int>] = []
        for step in 0..<300 {
            if threads.count < 6 || pick(4) == 0 {
                let body = bodies[pick(bodies.count)]
                threads.append(try KillableThread(name: "fuzz\(step % 100)") { ctx in
                    registered.add(1, ordering: .relaxed)
                    ctx.onKill { ran.add(1, ordering: .relaxed) }
                    return try body(ctx)
                })
            }
            let thread = threads[pick(threads.count)]
            do {
                switch Operation.allCases[pick(Operation.allCases.count)] {
                case .requestStop: try thread.requestStop()
                case .interrupt: try thread.interrupt()
                case .raise: try thread.raise(Boom(code: step))
                case .cancel: try thread.cancel()
                case .joinNow: _ = try thread.join(timeout: .zero)
                case .stopBriefly: _ = try thread.stop(grace: .milliseconds(5))
                }
            } catch {
                #expect(error.code == .alreadyFinished, "only a finished thread may refuse: \(error)")
            }
        }
        for thread in threads {
            let result = try thread.stop(grace: .seconds(20))
            let outcome = try #require(result.outcome, "\(thread.name): \(result.report)")
            switch outcome {
            case .returned, .threw, .stopped, .killed, .cancelled: break
            }
        }
        eventually("every started body ran its cleanup") { ran.load(ordering: .relaxed) == registered.load(ordering: .relaxed) }
        let refs = Set(threads.map(\.ref))
        #expect(!ThreadKill.liveThreads.contains { refs.contains($0) })
    }
}
