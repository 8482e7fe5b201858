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

    /// What a thread ran and what was done to it: which outcomes it may end with.
    struct History {
        let body: Int
        var operations: Set<Operation> = []
        var raised: Set<Int> = []  // codes of the raises it accepted

        /// Checks an outcome against the operations that could have produced it
        /// (every thread gets a final `stop(grace:)`, hence a stop request).
        func allows(_ outcome: Outcome<Int>) -> Bool {
            switch outcome {
            case .returned(let value):
                // Only the two bodies that end by themselves return, each its own value.
                return (body == 4 && value == spin(iterations: 10_000)) || (body == 5 && value == 7)
            case .threw(let error):
                // Under a sanitizer the async-region body is refused at entry:
                // that typed refusal is its documented outcome there.
                if let refusal = error as? ThreadKillError {
                    return body == 2 && refusal.code == .injectionUnavailable && !Sanitizer.active.isEmpty
                }
                // Only a raise makes a body throw something other than a kill: exactly the error raised.
                guard let boom = error as? Boom else { return false }
                return raised.contains(boom.code)
            case .killed(let report):
                switch report.reason {
                case .stopRequested:
                    return true
                case .interrupted:
                    // An interrupt, or the ladder of a short stop (it interrupts and injects).
                    return operations.contains(.interrupt) || operations.contains(.stopBriefly)
                case .cancelled:
                    // Only a cancellable call acts on a cancel: the cancellableSleep body.
                    return body == 3 && (operations.contains(.cancel) || operations.contains(.stopBriefly))
                case .cpuBudgetExceeded:
                    return false
                }
            }
        }
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
        var histories: [History] = []
        for step in 0..<300 {
            if threads.count < 6 || pick(4) == 0 {
                let index = pick(bodies.count)
                let body = bodies[index]
                threads.append(try KillableThread(name: "fuzz\(step % 100)") { ctx in
                    registered.add(1, ordering: .relaxed)
                    ctx.onKill { ran.add(1, ordering: .relaxed) }
                    return try body(ctx)
                })
                histories.append(History(body: index))
            }
            let which = pick(threads.count)
            let thread = threads[which]
            let operation = Operation.allCases[pick(Operation.allCases.count)]
            do {
                switch operation {
                case .requestStop: try thread.requestStop()
                case .interrupt: try thread.interrupt()
                case .raise: if try thread.raise(Boom(code: step)) { histories[which].raised.insert(step) }
                case .cancel: try thread.cancel()
                case .joinNow: _ = try thread.join(timeout: .zero)
                case .stopBriefly: _ = try thread.stop(grace: .milliseconds(5))
                }
                histories[which].operations.insert(operation)
            } catch {
                #expect(error.code == .alreadyFinished, "only a finished thread may refuse: \(error)")
            }
        }
        for (thread, history) in zip(threads, histories) {
            let result = try thread.stop(grace: .seconds(20))
            let outcome = try #require(result.outcome, "\(thread.name): \(result.report)")
            #expect(history.allows(outcome), "\(thread.name), body \(history.body), operations \(history.operations.map { "\($0)" }.sorted()): \(outcome)")
        }
        eventually("every started body ran its cleanup") { ran.load(ordering: .relaxed) == registered.load(ordering: .relaxed) }
        let refs = Set(threads.map(\.ref))
        #expect(!KillableThreads.liveThreads.contains { refs.contains($0) })
    }
}
