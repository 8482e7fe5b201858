import CPthreadShim
import Synchronization

extension KillContext {
    /// Runs `body` in an async region: a pending kill lands at once, anywhere
    /// in the region's own code — a runaway loop with no checkpoints included.
    ///
    /// When a kill arrives, the signal handler checks that jumping out is safe
    /// and, if so, `siglongjmp`s back here; the cleanups registered inside the
    /// region (``onKill(_:)``, ``withCleanup(_:_:)``, ``bracket(acquire:release:_:)``)
    /// run, and the kill is thrown. The thread lives on. The handler declines —
    /// and the watchdog resends until it may — while:
    /// - the thread is ``masked(_:)`` (ThreadKill's own locks mask for you);
    /// - the interrupted code changed the signal mask;
    /// - the PC is outside the program's own code: in libc, the dynamic loader,
    ///   the vDSO, the Swift runtime, Foundation, Dispatch, another library
    ///   (unless vouched for with ``ThreadKill/allowInjection(inLibrary:)``), or ThreadKill's shim;
    /// - any caller frame up to this region is such code (a `swift_once`
    ///   initializer, a `qsort` comparator, a `deinit` run by `swift_release`);
    /// - a Swift exclusive access began inside the region and is still open.
    ///
    /// Declines are counted by reason in ``ThreadRef/injectionStatistics``.
    ///
    /// - Important: A jump skips the Swift frames inside the region: their
    ///   `defer`s and `deinit`s do not run and values they own leak; locks they
    ///   took by hand stay held (take them in ``masked(_:)``); `@TaskLocal`
    ///   bindings made inside stay pushed; shared objects may be left half
    ///   updated. Read Docs/SafetyModel.md before using it.
    /// - Throws: The kill that landed, what `body` throws, or
    ///   ``ThreadKillError/Code/injectionUnavailable`` when the process cannot
    ///   support async regions (a statically linked Swift runtime, a
    ///   ThreadSanitizer or AddressSanitizer build, or an architecture without
    ///   the checks).
    public func asyncKillable<R>(_ body: @escaping () throws -> R) throws -> R {
        Injection.refreshRanges()
        try Injection.ensureAvailable()
        let depth = cleanups.depth
        let region = AsyncBody { [self] () throws -> R in
            try checkpoint()  // the region is published: a kill posted before now is seen here
            return try body()
        }
        let landed = CPthreadShim_async_run(core.block, { arg in
            Unmanaged<AsyncBodyBase>.fromOpaque(arg!).takeUnretainedValue().run()
        }, Unmanaged.passUnretained(region).toOpaque())
        cleanups.unwind(to: depth, block: core.block)
        if landed != 0 {
            if let kill = core.takeKill() { throw kill }
            throw KillError(reason: .interrupted)  // the kill was consumed meanwhile
        }
        return try withExtendedLifetime(region) { try region.result!.get() }
    }
}

/// What the C trampoline calls; type-erased so one `@convention(c)` thunk serves.
class AsyncBodyBase {
    func run() {}
}

final class AsyncBody<R>: AsyncBodyBase {
    private let body: () throws -> R
    var result: Result<R, any Error>?

    init(_ body: @escaping () throws -> R) { self.body = body }

    override func run() { result = Result { try body() } }
}

/// Process-wide injection settings: which libraries are vouched for.
enum Injection {
    /// Names (path substrings) of vouched libraries, as C strings that live
    /// for the rest of the process.
    private static let vouched = Mutex(CStrings())

    /// C strings that are never freed nor written after creation.
    struct CStrings: @unchecked Sendable {
        var pointers: [UnsafePointer<CChar>?] = []
    }

    static func ensureAvailable() throws(ThreadKillError) {
        switch CPthreadShim_async_unsupported() {
        case 0: return
        case 1:
            throw ThreadKillError(.injectionUnavailable, "async regions need a dynamically linked Swift runtime: with a static stdlib, the PC check cannot tell the runtime from the program")
        case 3:
            throw ThreadKillError(.injectionUnavailable, "async regions are unavailable under ThreadSanitizer and AddressSanitizer: TSan runs the signal handler late, with a copy of the context, and ASan's interceptors live in the executable, where the PC check would take them for the program's own code")
        case 4:
            throw ThreadKillError(.injectionUnavailable, "async regions need swift_task_enterThreadLocalContext in the Swift runtime, to check Swift exclusive accesses")
        default:
            throw ThreadKillError(.injectionUnavailable, "async regions are not supported on this architecture")
        }
    }

    static func refreshRanges(force: Bool = false) {
        vouched.withMaskedLock { names in
            names.pointers.withUnsafeBufferPointer { buffer in
                CPthreadShim_ranges_refresh(buffer.baseAddress, Int32(buffer.count), force ? 1 : 0)
            }
        }
    }

    static func vouch(for library: String) throws(ThreadKillError) {
        guard library.count >= 4, library.hasPrefix("lib"), !library.contains("/") else {
            throw ThreadKillError(.invalidArgument, "allowInjection(inLibrary:) needs the start of a library's file name, such as \"libpcre2-8\", got \"\(library)\"")
        }
        // Matched as a prefix of file names: refuse any prefix that covers one of these.
        let forbidden = ["libc.so", "libc-", "ld-linux", "libpthread", "libm.so", "libdl", "librt", "libswift", "libdispatch",
                         "libFoundation", "lib_Foundation", "libBlocksRuntime", "libstdc++", "libgcc_s", "libicu", "linux-vdso"]
        if forbidden.contains(where: { $0.hasPrefix(library) || library.hasPrefix($0) }) {
            throw ThreadKillError(.invalidArgument, "\(library) holds locks a jump would leave held (libc, the loader, the Swift runtime, Foundation, Dispatch): it can never be vouched for")
        }
        vouched.withMaskedLock { names in
            if !names.pointers.contains(where: { String(cString: $0!) == library }) {
                names.pointers.append(UnsafePointer(strdup(library)!))
            }
        }
        refreshRanges(force: true)
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// How often kills were delivered into a thread's async regions, and how often
/// the handler declined to jump, by reason.
public struct InjectionStatistics: Sendable, Hashable, CustomStringConvertible {
    /// Why the handler declined a jump.
    public enum DeclineReason: String, Sendable, CaseIterable, Hashable {
        case masked = "masked"
        case signalMask = "signal mask changed"
        case foreignCode = "PC in a library, the runtime or the shim"
        case foreignFrame = "a caller frame is foreign"
        case libraryCallbackPrologue = "callback from a library, in its prologue"
        case exclusiveAccess = "Swift exclusive access in progress"

        var cValue: Int32 {
            switch self {
            case .masked: return Int32(CPthreadShim_DECLINE_MASKED)
            case .signalMask: return Int32(CPthreadShim_DECLINE_SIGMASK)
            case .foreignCode: return Int32(CPthreadShim_DECLINE_PC)
            case .foreignFrame: return Int32(CPthreadShim_DECLINE_FRAME)
            case .libraryCallbackPrologue: return Int32(CPthreadShim_DECLINE_STACK_WORD)
            case .exclusiveAccess: return Int32(CPthreadShim_DECLINE_EXCLUSIVITY)
            }
        }
    }

    /// Kills that landed by a jump.
    public var jumps: Int
    /// Declined jumps, by reason.
    public var declines: [DeclineReason: Int]

    /// All declines.
    public var totalDeclines: Int { declines.values.reduce(0, +) }

    init(block: UnsafeMutablePointer<CPthreadShim_block>) {
        jumps = Int(CPthreadShim_jumps(block))
        declines = [:]
        for reason in DeclineReason.allCases {
            let count = Int(CPthreadShim_declines(block, reason.cValue))
            if count > 0 { declines[reason] = count }
        }
    }

    mutating func subtract(_ earlier: InjectionStatistics) {
        jumps -= earlier.jumps
        for (reason, count) in earlier.declines {
            let left = (declines[reason] ?? 0) - count
            declines[reason] = left > 0 ? left : nil
        }
    }

    public var description: String {
        let parts = declines.sorted { $0.value > $1.value }.map { "\($0.key.rawValue): \($0.value)" }
        return "\(jumps) jumps, \(totalDeclines) declines" + (parts.isEmpty ? "" : " (" + parts.joined(separator: ", ") + ")")
    }
}
