import CPthreadShim
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Process-wide injection settings: which libraries are vouched for.
enum Injection {
    /// Vouched names (each the start of a library's file name), as C strings
    /// that live for the rest of the process.
    private static let vouched = Mutex(CStrings())

    /// C strings that are never freed nor written after creation.
    struct CStrings: @unchecked Sendable {
        var pointers: [UnsafePointer<CChar>] = []
    }

    static func ensureAvailable() throws(ThreadKillError) {
        switch CPthreadShim_async_unsupported() {
        case Int32(CPthreadShim_ASYNC_SUPPORTED): return
        case Int32(CPthreadShim_ASYNC_STATIC_RUNTIME):
            throw ThreadKillError(.injectionUnavailable, "async regions need a dynamically linked Swift runtime: with a static stdlib, the PC check cannot tell the runtime from the program")
        case Int32(CPthreadShim_ASYNC_SANITIZER):
            throw ThreadKillError(.injectionUnavailable, "async regions are unavailable under ThreadSanitizer and AddressSanitizer: TSan runs the signal handler late, with a copy of the context, and ASan's interceptors live in the executable, where the PC check would take them for the program's own code")
        case Int32(CPthreadShim_ASYNC_NO_EXCLUSIVITY_HOOK):
            throw ThreadKillError(.injectionUnavailable, "async regions need swift_task_enterThreadLocalContext in the Swift runtime, to check Swift exclusive accesses")
        default:  // CPthreadShim_ASYNC_UNSUPPORTED_ARCH
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

    /// Vouches for `library` and returns the paths of the loaded objects it
    /// matches now.
    static func vouch(for library: String) throws(ThreadKillError) -> [String] {
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
            if !names.pointers.contains(where: { String(cString: $0) == library }) {
                names.pointers.append(UnsafePointer(strdup(library)!))
            }
        }
        refreshRanges(force: true)
        return loadedLibraries(matching: library)
    }

    /// The paths of the loaded shared objects whose file name starts with
    /// `name`: what vouching for `name` covers at this moment.
    static func loadedLibraries(matching name: String) -> [String] {
        final class Paths { var list: [String] = [] }
        let paths = Paths()
        _ = withExtendedLifetime(paths) {
            CPthreadShim_library_matches(name, { path, context in
                Unmanaged<Paths>.fromOpaque(context!).takeUnretainedValue().list.append(String(cString: path))
            }, Unmanaged.passUnretained(paths).toOpaque())
        }
        return paths.list
    }
}
