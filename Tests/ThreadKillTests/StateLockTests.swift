import CPthreadShim
import Dispatch
import Synchronization
import Testing
import ThreadKillTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Pointers handed to the threads of one test: touched only under the lock.
private struct Shared: @unchecked Sendable {
    let block: UnsafeMutablePointer<CPthreadShim_block>
    let counter: UnsafeMutablePointer<Int>
}

@Suite("The thread-state lock (CPthreadShim_state_lock)")
struct StateLockTests {
    @Test("it excludes: 4 threads × 200,000 increments under it lose none", .timeLimit(.hang))
    func excludes() throws {
        let shared = Shared(block: try #require(CPthreadShim_block_create()), counter: .allocate(capacity: 1))
        shared.counter.initialize(to: 0)
        defer {
            shared.counter.deallocate()
            CPthreadShim_block_destroy(shared.block)
        }
        let threads = 4, rounds = 200_000
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

    @Test("an unlock wakes a waiter asleep in the futex: 20 rounds, each waiter seen blocked in futex(2) first", .timeLimit(.hang))
    func unlockWakesASleepingWaiter() throws {
        let shared = Shared(block: try #require(CPthreadShim_block_create()), counter: .allocate(capacity: 1))
        shared.counter.initialize(to: 0)
        for round in 1...20 {
            CPthreadShim_state_lock(shared.block)
            let tid = Atomic<Int32>(0)
            let finished = DispatchSemaphore(value: 0)
            // A thread of its own: a pool thread may be late, or busy with other tests.
            let waiter = PlainThread.start {
                tid.store(CPthreadShim_gettid(), ordering: .releasing)
                CPthreadShim_state_lock(shared.block)
                shared.counter.pointee += 1
                CPthreadShim_state_unlock(shared.block)
                finished.signal()
            }
            // Not a sleep: until the waiter is inside futex(2), on the lock.
            let asleep = eventually("round \(round): the waiter asleep in futex(2)") {
                tid.load(ordering: .acquiring) != 0 && isInSyscall(tid: tid.load(ordering: .acquiring), Int(SYS_futex))
            }
            guard asleep else {
                CPthreadShim_state_unlock(shared.block)
                return  // the waiter still needs the block and the counter: both are left
            }
            CPthreadShim_state_unlock(shared.block)
            // A lost wake-up leaves the waiter asleep for ever: fail, and leave
            // it (and the memory it would touch) behind, instead of hanging.
            guard finished.wait(timeout: .now() + .seconds(20)) == .success else {
                Issue.record("round \(round): the waiter asleep on the lock was not woken by the unlock")
                return
            }
            waiter.join()
        }
        #expect(shared.counter.pointee == 20)
        shared.counter.deallocate()
        CPthreadShim_block_destroy(shared.block)
    }
}
