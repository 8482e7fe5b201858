import Dispatch
import Synchronization
import Testing
@testable import ThreadKill

@Suite("StopSource and StopToken")
struct StopTokenTests {
    @Test("a stop is requested once, and only the first request reports it")
    func requestOnce() {
        let source = StopSource()
        #expect(!source.isStopRequested)
        #expect(source.requestStop())
        #expect(!source.requestStop())
        #expect(source.token.isStopRequested)
    }

    @Test("a callback registered after the stop runs at once on the registering thread")
    func lateCallbackRunsAtOnce() {
        let source = StopSource()
        source.requestStop()
        let ran = Mutex(0)
        let registration = source.token.onStop { ran.withLock { $0 += 1 } }
        #expect(ran.withLock { $0 } == 1)
        registration.cancel()
    }

    @Test("a cancelled callback never runs")
    func cancelledCallbackNeverRuns() {
        let source = StopSource()
        let ran = Mutex(false)
        let registration = source.token.onStop { ran.withLock { $0 = true } }
        registration.cancel()
        source.requestStop()
        #expect(!ran.withLock { $0 })
    }

    @Test("callbacks run exactly once under 1,000 concurrent requestStop and onStop calls", .timeLimit(.hang))
    func callbacksRunExactlyOnceUnderRace() {
        for _ in 0..<20 {
            let source = StopSource()
            let count = 1_000
            let runs = Mutex([Int](repeating: 0, count: count))
            let registrations = Mutex<[StopCallback]>([])
            DispatchQueue.concurrentPerform(iterations: count) { i in
                if i % 3 == 0 { source.requestStop() }
                let registration = source.token.onStop { runs.withLock { $0[i] += 1 } }
                registrations.withLock { $0.append(registration) }
            }
            source.requestStop()
            #expect(runs.withLock { $0.allSatisfy { $0 == 1 } })
            registrations.withLock { $0.removeAll() }
        }
    }

    @Test("a linked source stops with its parent, not the other way round")
    func linkedTokensPropagate() {
        let parent = StopSource()
        let child = StopSource(linkedTo: parent.token)
        let grandchild = StopSource(linkedTo: child.token)
        let sibling = StopSource(linkedTo: parent.token)
        sibling.requestStop()
        #expect(!parent.isStopRequested)
        parent.requestStop()
        #expect(child.isStopRequested)
        #expect(grandchild.isStopRequested)
    }

    @Test("a source linked to an already stopped token starts stopped")
    func linkToStoppedParent() {
        let parent = StopSource()
        parent.requestStop()
        #expect(StopSource(linkedTo: parent.token).isStopRequested)
    }

    @Test("unregistering while the callback runs on another thread waits for it to finish", .timeLimit(.hang))
    func unregisterWaitsForRunningCallback() {
        let source = StopSource()
        let entered = Latch()
        let release = Latch()
        let finished = Atomic(false)
        let registration = source.token.onStop {
            entered.open()
            release.wait()
            finished.store(true, ordering: .sequentiallyConsistent)
        }
        let requester = DispatchQueue(label: "requester")
        requester.async { source.requestStop() }
        entered.wait()
        // The callback is blocked on `release`; let it go from yet another thread,
        // and cancel from here: cancel must not return before the callback ends.
        DispatchQueue.global().async { release.open() }
        registration.cancel()
        let callbackFinished = finished.load(ordering: .sequentiallyConsistent)
        #expect(callbackFinished)
        requester.sync {}
    }

    @Test("unregistering from inside the callback itself does not deadlock", .timeLimit(.hang))
    func unregisterFromInsideCallback() {
        let source = StopSource()
        let box = Mutex<StopCallback?>(nil)
        let registration = source.token.onStop {
            box.withLock { $0 }?.cancel()
        }
        box.withLock { $0 = registration }
        source.requestStop()
        box.withLock { $0 = nil }
    }

    @Test("a default token can never be stopped")
    func defaultToken() {
        let token = StopToken()
        #expect(!token.isStopPossible)
        #expect(!token.isStopRequested)
    }
}
