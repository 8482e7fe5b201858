import CPthreadShim
import Synchronization
import Testing
@testable import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

/// The fixture's output for `arguments`.
private func fixtureOutput(_ arguments: [String], environment: [String] = []) throws -> String {
    try runFixture(arguments, environment: environment).output
}

struct Unencodable: Codable, Sendable {
    struct Refused: Error {}
    init() {}
    init(from decoder: any Decoder) throws { throw Refused() }
    func encode(to encoder: any Encoder) throws { throw Refused() }
}

@Suite("Refusals: the rest of Docs/BadInput.md")
struct RefusalCoverageTests {
    @Test("raise into a finished thread is refused")
    func raiseFinished() throws {
        let thread = try KillableThread { _ in }
        _ = try thread.joinOrFail()
        expectRefusal(.alreadyFinished) { try thread.raise(Boom(code: 1)) }
        expectRefusal(.alreadyFinished) { try thread.cancel() }
    }

    @Test("join(timeout:) and stop(grace:) from the thread itself are refused")
    func joinTimeoutFromSelf() throws {
        let holder = Latch()
        let box = ThreadBox()
        let thread = try KillableThread { _ -> [ThreadKillError.Code] in
            holder.wait()
            var codes: [ThreadKillError.Code] = []
            do { _ = try box.thread!.join(timeout: .seconds(1)) } catch let e as ThreadKillError { codes.append(e.code) }
            do { _ = try box.thread!.stop(grace: .seconds(1)) } catch let e as ThreadKillError { codes.append(e.code) }
            return codes
        }
        box.thread = thread
        holder.open()
        #expect(try thread.joinOrFail().value == [.callingThread, .callingThread])
        box.thread = nil
    }

    @Test("a raw pthread and a finished killable thread are not targets")
    func rawAndFinishedNotOwned() throws {
        // The finished thread is looked up before it is joined: a joined
        // thread's pthread_t may already name a new thread (glibc reuses the
        // descriptor with the stack), perhaps a killable one of another test.
        let bits = Atomic<UInt>(0)
        let thread = try KillableThread { _ in bits.store(UInt(pthread_self()), ordering: .releasing) }
        let ref = thread.ref
        eventually("the thread left the live threads") { !KillableThreads.liveThreads.contains(ref) }
        let pthread = pthread_t(bits.load(ordering: .acquiring))
        expectRefusal(.notOwned) { _ = try KillableThreads.thread(for: pthread) }
        _ = try thread.joinOrFail()
        var raw = pthread_t()
        #expect(pthread_create(&raw, nil, { _ in nil }, nil) == 0)
        expectRefusal(.notOwned) { _ = try KillableThreads.thread(for: raw) }
        pthread_join(raw, nil)
    }

    @Test("negative ticks and poll timeouts are refused")
    func negativeDurations() throws {
        expectRefusal(.invalidDuration) { _ = try KillableThread(tick: .seconds(-1)) { _ in } }
        let thread = try KillableThread { ctx -> ThreadKillError.Code? in
            var fds: [pollfd] = []
            do { _ = try ctx.poll(&fds, timeout: .seconds(-1)) } catch let e as ThreadKillError { return e.code }
            return nil
        }
        #expect(try thread.joinOrFail().value == .invalidDuration)
    }

    @Test("vouching refuses paths and prefixes of the runtime")
    func vouchRefusals() {
        for name in ["a/libx", "libpthread", "libswift_Concurrency", "libFoundation", "linux-vdso.so.1", "lib_FoundationICU"] {
            expectRefusal(.invalidArgument) { try KillableThreads.allowInjection(inLibrary: name) }
        }
    }

    @Test("isolated processes refuse an empty executable, a negative grace and an input that does not encode")
    func processRefusals() {
        let job = IsolatedJob<Int, Int>("no-such-job")
        expectRefusal(.invalidArgument) { _ = try IsolatedProcess.start(job, input: 1, executable: "") }
        expectRefusal(.invalidDuration) { _ = try IsolatedProcess.run(job, input: 1, timeout: .seconds(1), grace: .seconds(-1), executable: fixturePath) }
        expectRefusal(.jobCoding) { _ = try IsolatedProcess.start(IsolatedJob<Unencodable, Int>("x"), input: Unencodable(), executable: fixturePath) }
    }

    @Test("every test Docs/BadInput.md names exists under that name in that file")
    func badInputTableNamesRealTests() throws {
        // This file is Tests/ThreadKillTests/RefusalCoverageTests.swift in the repository.
        let thisFile = #filePath
        let slash = try #require(thisFile.lastIndex(of: "/"))
        let testsDirectory = String(thisFile[..<slash])
        let repository = testsDirectory.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/")
        let doc = try #require(readText("\(repository)/Docs/BadInput.md"), "cannot read Docs/BadInput.md beside \(testsDirectory)")
        var named: [(file: String, name: String)] = []
        for line in doc.split(separator: "\n") where line.hasPrefix("|") {
            // `File.swift — "display name"` or `File.swift: "display name"`, possibly several per row.
            for match in line.matches(of: /([A-Za-z]+\.swift)\s*(?:—|:)\s*"([^"]+)"/) {
                named.append((String(match.output.1), String(match.output.2)))
            }
        }
        #expect(named.count >= 30, "the table names only \(named.count) tests: did its format change?")
        for (file, name) in named {
            let source = readText("\(testsDirectory)/\(file)")
            #expect(source != nil, "Docs/BadInput.md names \(file), which does not exist")
            guard let source else { continue }
            let exists = source.contains("@Test(\"\(name)\"")
            #expect(exists, "Docs/BadInput.md names \"\(name)\" in \(file): no test has that display name there")
        }
    }

    @Test("THREADKILL_SIGNAL and the signal probe refuse bad or taken signals, in a fresh process", .timeLimit(.hang))
    func signalChoice() throws {
        #expect(try fixtureOutput(["signal-choice", "env"], environment: ["THREADKILL_SIGNAL=abc"]) == "invalidArgument\n")
        #expect(try fixtureOutput(["signal-choice", "env"], environment: ["THREADKILL_SIGNAL=2"]) == "invalidArgument\n")
        #expect(try fixtureOutput(["signal-choice", "taken"]) == "signalInUse\n")
        #expect(try fixtureOutput(["signal-choice", "none"]) == "noFreeSignal\n")
        let chosen = CPthreadShim_sigrtmin() + 4
        #expect(try fixtureOutput(["signal-choice", "env"], environment: ["THREADKILL_SIGNAL=\(chosen)"]) == "installed \(chosen)\n")
    }
}

/// Hands a thread's own handle to its body.
final class ThreadBox: @unchecked Sendable {  // written before the body reads it (Latch), cleared after join
    var thread: KillableThread<[ThreadKillError.Code]>?
}

/// The whole text of the file at `path`, or nil.
func readText(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buffer, 1, buffer.count, file)
        if n <= 0 { break }
        bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}
