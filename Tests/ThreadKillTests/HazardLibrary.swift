import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A tiny third-party library, built by this test run with the system C
/// compiler and loaded with `dlopen`, so that the safety checks see what they
/// see in any real library: code outside the program's own executable. It has
/// a lock of its own that it holds while it computes (a leaf function) and
/// while it calls back into the program — what a jump out of it would leave
/// held. Built with frame pointers, like a library a check might be fooled by:
/// its frames chain correctly, so only the check under test can tell.
struct HazardLibrary: @unchecked Sendable {  // function pointers into a library that is never unloaded
    typealias Compute = @convention(c) (UnsafePointer<Int32>?) -> Void
    typealias Call = @convention(c) (@convention(c) () -> Void) -> Void
    typealias Locked = @convention(c) () -> Int32
    typealias FakeFrameSpin = @convention(c) (UnsafeMutablePointer<Int32>?) -> Int32
    typealias FakeFrameCall = @convention(c) (@convention(c) () -> Void) -> Int32

    /// Spins with the library's lock held until `*go` is nonzero: a leaf.
    let computeLocked: Compute
    /// Calls `callback` with the library's lock held.
    let callLocked: Call
    /// Whether the library's lock is held.
    let locked: Locked
    /// x86_64: keeps data in rbp — a copy of its own frame record, as a
    /// library built without frame pointers may hold any stack address there.
    /// Stores 1 in `*word`, spins until it is 2, and returns 1 if anyone wrote
    /// to the copy meanwhile (0 otherwise; -1 on other architectures).
    let fakeFrameSpin: FakeFrameSpin
    /// The same copy, with rbp pointing at it while it calls `callback`.
    let fakeFrameCall: FakeFrameCall

    static let source = """
        // The library's own lock: held while it computes, and across callbacks.
        static int hz_lock_word;
        int hz_locked(void) { return __atomic_load_n(&hz_lock_word, __ATOMIC_ACQUIRE); }
        void hz_compute_locked(const int *go) {
            __atomic_store_n(&hz_lock_word, 1, __ATOMIC_RELEASE);
            while (!__atomic_load_n(go, __ATOMIC_ACQUIRE)) {
            }
            __atomic_store_n(&hz_lock_word, 0, __ATOMIC_RELEASE);
        }
        void hz_call_locked(void (*callback)(void)) {
            __atomic_store_n(&hz_lock_word, 1, __ATOMIC_RELEASE);
            callback();
            __atomic_store_n(&hz_lock_word, 0, __ATOMIC_RELEASE);
        }
        #if defined(__x86_64__)
        // rbp points at 16 bytes of this function's stack holding a copy of
        // its frame record (the caller's rbp, the return address): data that
        // looks like a record, in a register a walk might trust.
        __asm__(
            ".globl hz_fake_frame_spin\\n"
            ".type hz_fake_frame_spin,@function\\n"
            "hz_fake_frame_spin:\\n"
            "    push %rbp\\n"
            "    sub $16, %rsp\\n"
            "    mov 16(%rsp), %rax\\n"
            "    mov %rax, (%rsp)\\n"
            "    mov 24(%rsp), %rax\\n"
            "    mov %rax, 8(%rsp)\\n"
            "    mov %rsp, %rbp\\n"
            "    movl $1, (%rdi)\\n"
            "1:  pause\\n"
            "    cmpl $2, (%rdi)\\n"
            "    jne 1b\\n"
            "    mov 8(%rsp), %rax\\n"
            "    xor %ecx, %ecx\\n"
            "    cmp 24(%rsp), %rax\\n"
            "    setne %cl\\n"
            "    mov %ecx, %eax\\n"
            "    add $16, %rsp\\n"
            "    pop %rbp\\n"
            "    ret\\n"
            ".globl hz_fake_frame_call\\n"
            ".type hz_fake_frame_call,@function\\n"
            "hz_fake_frame_call:\\n"
            "    push %rbp\\n"
            "    sub $16, %rsp\\n"
            "    mov 16(%rsp), %rax\\n"
            "    mov %rax, (%rsp)\\n"
            "    mov 24(%rsp), %rax\\n"
            "    mov %rax, 8(%rsp)\\n"
            "    mov %rsp, %rbp\\n"
            "    call *%rdi\\n"
            "    mov 8(%rsp), %rax\\n"
            "    xor %ecx, %ecx\\n"
            "    cmp 24(%rsp), %rax\\n"
            "    setne %cl\\n"
            "    mov %ecx, %eax\\n"
            "    add $16, %rsp\\n"
            "    pop %rbp\\n"
            "    ret\\n");
        #else
        int hz_fake_frame_spin(int *word) { (void)word; return -1; }
        int hz_fake_frame_call(void (*callback)(void)) { callback(); return -1; }
        #endif
        """

    /// Built once per process.
    static let shared: Result<HazardLibrary, HazardLibraryError> = {
        do throws(HazardLibraryError) { return .success(try build()) } catch { return .failure(error) }
    }()

    static func build() throws(HazardLibraryError) -> HazardLibrary {
        var template = Array("/tmp/threadkill-hazard-XXXXXX".utf8CString)
        guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
            throw HazardLibraryError("mkdtemp failed: \(errno)")
        }
        let sourcePath = dir + "/libtkhazard.c", libraryPath = dir + "/libtkhazard.so"
        guard let file = fopen(sourcePath, "w") else { throw HazardLibraryError("cannot write \(sourcePath)") }
        fputs(source, file)
        fclose(file)
        let arguments = ["cc", "-O1", "-fno-omit-frame-pointer", "-shared", "-fPIC", "-o", libraryPath, sourcePath]
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawnp(&pid, "cc", nil, nil, argv, environ) == 0 else {
            throw HazardLibraryError("cannot run cc: the safety-check tests build a tiny C library with the system C compiler")
        }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        guard status == 0 else { throw HazardLibraryError("cc failed with status \(status)") }
        guard let handle = dlopen(libraryPath, RTLD_NOW) else { throw HazardLibraryError("dlopen: \(String(cString: dlerror()))") }
        func symbol<T>(_ name: String, _: T.Type) throws(HazardLibraryError) -> T {
            guard let address = dlsym(handle, name) else { throw HazardLibraryError("\(name) missing") }
            return unsafeBitCast(address, to: T.self)
        }
        return HazardLibrary(computeLocked: try symbol("hz_compute_locked", Compute.self),
                             callLocked: try symbol("hz_call_locked", Call.self),
                             locked: try symbol("hz_locked", Locked.self),
                             fakeFrameSpin: try symbol("hz_fake_frame_spin", FakeFrameSpin.self),
                             fakeFrameCall: try symbol("hz_fake_frame_call", FakeFrameCall.self))
    }
}

struct HazardLibraryError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
