// `memory-per-thread`: malloc in use per idle killable thread, beyond a raw
// pthread of the same stack size (issue 16: at most 1 KiB). A child process:
// it counts the whole process's malloc (mallinfo2 sums every arena).
#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import CThreadKillTestSupport
import Synchronization
import ThreadKill

private let memoryThreads = 500
private let memoryStack = 128 * 1024
private let killableEntered = Atomic<Int>(0)

/// A raw thread's futex word and its started flag, allocated before the measure
/// (the raw pthread's argument, as a killable thread's body is the caller's).
private struct RawSleeper {
    var word: UInt32 = 0
    var entered: UInt32 = 0
}

private func mallocInUse() -> Int { Int(tk_test_malloc_in_use()) }

/// Bytes per idle raw pthread (futex wait), over `memoryThreads`.
private func rawPerThread() -> Int {
    let sleepers = UnsafeMutablePointer<RawSleeper>.allocate(capacity: memoryThreads)
    sleepers.initialize(repeating: RawSleeper(), count: memoryThreads)
    var threads = [pthread_t](repeating: pthread_t(), count: memoryThreads)
    defer { sleepers.deallocate() }
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    pthread_attr_setstacksize(&attr, memoryStack)
    defer { pthread_attr_destroy(&attr) }
    let before = mallocInUse()
    for i in 0..<memoryThreads {
        let err = pthread_create(&threads[i], &attr, { arg in
            let sleeper = arg!.assumingMemoryBound(to: RawSleeper.self)
            withUnsafeMutablePointer(to: &sleeper.pointee.entered) { CPthreadShim_word_store($0, 1) }
            withUnsafeMutablePointer(to: &sleeper.pointee.word) { word in
                while CPthreadShim_word_load(word) == 0 { _ = CPthreadShim_futex_wait(word, 0, nil) }
            }
            return nil
        }, sleepers + i)
        precondition(err == 0, "pthread_create: \(err)")
    }
    for i in 0..<memoryThreads {
        withUnsafeMutablePointer(to: &sleepers[i].entered) { while CPthreadShim_word_load($0) == 0 { sched_yield() } }
    }
    let after = mallocInUse()
    for i in 0..<memoryThreads {
        withUnsafeMutablePointer(to: &sleepers[i].word) {
            CPthreadShim_word_store($0, 1)
            CPthreadShim_futex_wake_all($0)
        }
        pthread_join(threads[i], nil)
    }
    return (after - before) / memoryThreads
}

/// Bytes per idle killable thread (in `ctx.sleep`) with its handle, over `memoryThreads`.
private func killablePerThread() throws -> Int {
    killableEntered.store(0, ordering: .relaxed)
    var threads: [KillableThread<Void>] = []
    threads.reserveCapacity(memoryThreads)
    let before = mallocInUse()
    for _ in 0..<memoryThreads {
        threads.append(try KillableThread(name: "memory", stackSize: memoryStack) { ctx in
            killableEntered.add(1, ordering: .releasing)
            try ctx.sleep(for: .seconds(3600))
        })
    }
    while killableEntered.load(ordering: .acquiring) < memoryThreads { sched_yield() }
    let after = mallocInUse()
    for thread in threads { try thread.requestStop() }
    for thread in threads { _ = try thread.join() }
    return (after - before) / memoryThreads
}

func memoryPerThreadScenario() throws {
    // Warm up both sides first: one-time runtime metadata, the signal's
    // installation, the registry and the watchdog are not per thread.
    _ = rawPerThread()
    _ = try killablePerThread()
    let raw = rawPerThread()
    let killable = try killablePerThread()
    say("raw \(raw) B, killable \(killable) B, extra \(killable - raw) B per idle thread")
}
