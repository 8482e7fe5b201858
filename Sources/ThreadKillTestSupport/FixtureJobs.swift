// The isolated jobs of the fixture program (Sources/ThreadKillFixtures), declared
// once: the fixture registers their bodies, the tests start them by these
// values. A body whose types differ from the declaration does not compile.
import ThreadKill

/// The jobs the fixture program registers, with their input and output types.
public enum FixtureJob {
    public static let double = IsolatedJob<Int, Int>("double")
    public static let fail = IsolatedJob<String, Int>("fail")
    public static let spin = IsolatedJob<Int, Int>("spin")
    public static let ignoreTerm = IsolatedJob<String, Int>("ignoreTerm")
    public static let replyOnTerm = IsolatedJob<String, Int>("replyOnTerm")
    public static let crash = IsolatedJob<Int, Int>("crash")
    public static let exit = IsolatedJob<Int32, Int>("exit")
    public static let print = IsolatedJob<String, Int>("print")
    public static let readyThenAwait = IsolatedJob<Handshake, String>("readyThenAwait")
    public static let grandchild = IsolatedJob<String, Int>("grandchild")
    public static let escape = IsolatedJob<Int, Int32>("escape")
    public static let sessionGrandchild = IsolatedJob<String, Int>("sessionGrandchild")
    public static let adoptedOrphan = IsolatedJob<String, Int>("adoptedOrphan")
    public static let announce = IsolatedJob<String, Int>("announce")
    public static let flood = IsolatedJob<[Int], Int>("flood")
    public static let floodMemory = IsolatedJob<Int, FloodReport>("floodMemory")
    public static let parent = IsolatedJob<String, Int>("parent")
    public static let fds = IsolatedJob<Int, [Int32]>("fds")
    public static let cycles = IsolatedJob<[Int], CycleReport>("cycles")
}

extension IsolatedJob {
    /// Registers `body` as this job in the running executable (the fixture
    /// program does; the tests only start the job).
    public func register(_ body: @escaping @Sendable (Input) throws -> Output) {
        IsolatedProcess<Output>.register(name, body)
    }
}

/// Two FIFOs: the job reports on `ready`, then waits for a line on `go`.
public struct Handshake: Codable, Sendable {
    public var ready: String
    public var go: String

    public init(ready: String, go: String) {
        self.ready = ready
        self.go = go
    }
}

/// What a run of start/stop cycles left behind, measured inside one worker.
public struct CycleReport: Codable, Sendable {
    public var usedPidfd: Bool
    public var fdsBefore: Int
    public var fdsAfter: Int
    public var pids: [Int32]
    public var zombies: [Int32]
    public var outcomes: [String]

    public init(usedPidfd: Bool, fdsBefore: Int, fdsAfter: Int, pids: [Int32], zombies: [Int32], outcomes: [String]) {
        self.usedPidfd = usedPidfd
        self.fdsBefore = fdsBefore
        self.fdsAfter = fdsAfter
        self.pids = pids
        self.zombies = zombies
        self.outcomes = outcomes
    }
}

/// What a 200 MB flood into a captured stream cost the worker that captured it.
public struct FloodReport: Codable, Sendable {
    public var residentBeforeKiB: Int
    public var peakAfterKiB: Int
    public var keptBytes: Int
    public var droppedBytes: Int
    public var keptIsPrefix: Bool
    public var value: Int?

    public init(residentBeforeKiB: Int, peakAfterKiB: Int, keptBytes: Int, droppedBytes: Int, keptIsPrefix: Bool, value: Int?) {
        self.residentBeforeKiB = residentBeforeKiB
        self.peakAfterKiB = peakAfterKiB
        self.keptBytes = keptBytes
        self.droppedBytes = droppedBytes
        self.keptIsPrefix = keptIsPrefix
        self.value = value
    }
}

/// Byte `i` of what the `flood` job writes.
public func floodByte(_ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: i % 251) }
