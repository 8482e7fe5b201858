import CPthreadShim
import Dispatch
import Testing

/// A pointer handed to the threads of one test: they touch it only under the lock.
private struct Shared: @unchecked Sendable {
    let block: UnsafeMutablePointer<CPthreadShim_block>
    let counter: UnsafeMutablePointer<Int>
}

@Suite("The thread-state lock (CPthreadShim_state_lock)")
struct StateLockTests {
    @Test("it excludes, and a contended unlock wakes its waiter: 4 threads × 200,000 increments under it lose none",
          .timeLimit(.minutes(1)))
    func excludesAndWakes() throws {
        let shared = Shared(block: try #require(CPthreadShim_block_create()), counter: .allocate(capacity: 1))
        shared.counter.initialize(to: 0)
        defer {
            shared.counter.deallocate()
            CPthreadShim_block_destroy(shared.block)
        }
        let threads = 4, rounds = 200_000
        // More threads than CPUs: holders are preempted inside the lock, so
        // waiters sleep in the futex and only an unlock's wake-up lets them on.
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            for _ in 0..<rounds {
                CPthreadShim_state_lock(shared.block)
                shared.counter.pointee += 1
                CPthreadShim_state_unlock(shared.block)
            }
        }
        #expect(shared.counter.pointee == threads * rounds)
        #expect(CPthreadShim_word_load(&shared.block.pointee.state_lock) == 0, "left free")
    }
}
