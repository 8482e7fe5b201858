// Async regions: a kill may land at any instruction of the region's own code,
// by siglongjmp from the signal handler — but only after checks that refuse
// every place where jumping out would leave the process broken (a lock held in
// libc or the Swift runtime, a half-run initializer, a callback from a library,
// a Swift exclusive access). Measured hazards: ../shared/research/mechanisms.md §B.
#include "tk_internal.h"

#include <errno.h>
#include <link.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef struct CPthreadShim_async_region {
    sigjmp_buf landing;
    sigset_t armed_mask;          // the mask the region's code runs with
    void *access_head;            // Swift exclusivity access set at entry
    uintptr_t anchor;             // frame address of CPthreadShim_async_run
    int32_t saved_region;         // b->region at entry, restored on landing
    struct CPthreadShim_async_region *prev;
} tk_region;

// --- The code-range table, published through an atomic pointer ---

enum { TK_OWN = 0, TK_VOUCHED = 1, TK_LIBRARY = 2 };

typedef struct {
    uintptr_t lo, hi;
    int kind;
    int keeps_fp;  // code never uses the frame-pointer register for data
    int unwind;    // index in tk_table.unwind of its object's CFI, or -1
} tk_range;

enum { TK_UNWIND_MAX = 12 };  // the executable, seven runtime libraries, libc, the loader
typedef struct tk_table {
    struct tk_table *retired;  // the table this one replaced: kept, and reachable
    int count;
    unsigned long long generation;
    tk_unwind_object unwind[TK_UNWIND_MAX];
    tk_range ranges[];
} tk_table;

static tk_table *tk_ranges;             // atomic; old tables are never freed (a reader may hold one): each links the one it replaced
static int tk_static_runtime;
static int tk_sanitizer_runtime;
extern char __start_tkshim[], __stop_tkshim[];
// Weak: present whenever the Swift runtime is linked, which it always is here.
extern void swift_retain(void) __attribute__((weak));
extern void swift_task_enterThreadLocalContext(char *state) __attribute__((weak));
// Weak: present only in `swift build --sanitize=thread|address` builds.
extern void __tsan_init(void) __attribute__((weak));
extern void __asan_init(void) __attribute__((weak));

typedef struct {
    tk_range *ranges;
    int count, capacity;
    const char *const *vouched;
    int vouched_count;
    unsigned long long generation;
    tk_unwind_object unwind[TK_UNWIND_MAX];
    int unwind_count;
} tk_build;

// A vouched name is a prefix of the library's file name ("libpcre2-8"
// matches ".../libpcre2-8.so.0"), never a substring of its path.
static int tk_is_vouched(const char *name, const tk_build *bd) {
    if (!name) return 0;
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    for (int i = 0; i < bd->vouched_count; i++)
        if (strncmp(base, bd->vouched[i], strlen(bd->vouched[i])) == 0) return 1;
    return 0;
}

typedef struct {
    const char *name;
    void (*found)(const char *path, void *context);
    void *context;
    int count;
} tk_match;

static int tk_match_one(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    tk_match *m = data;
    if (info->dlpi_name == NULL || info->dlpi_name[0] == '\0') return 0;  // the executable
    const char *names[1] = {m->name};
    tk_build bd = {.vouched = names, .vouched_count = 1};
    if (tk_is_vouched(info->dlpi_name, &bd)) {
        m->count++;
        if (m->found) m->found(info->dlpi_name, m->context);
    }
    return 0;
}

// The loaded objects a vouched name matches now, by the same rule as the table.
TK_SHIM int CPthreadShim_library_matches(const char *name, void (*found)(const char *path, void *context), void *context) {
    tk_match m = {.name = name, .found = found, .context = context};
    dl_iterate_phdr(tk_match_one, &m);
    return m.count;
}

// The Swift runtime's core libraries are built with frame pointers (for
// Swift's backtracer): their code never keeps data in the frame-pointer
// register (libswiftSwiftOnoneSupport holds the prespecializations a debug
// build calls). scripts/check-frame-pointers.sh verifies that for the installed
// toolchain; it is not true of every libswift* (libswiftDispatch and
// libswiftDistributed use rbp for data in places), nor of glibc. SwiftPM
// builds the executable with frame pointers too.
static int tk_is_swift_runtime(const char *path) {
    static const char *const names[] = {
        "libswiftCore.so", "libswift_Concurrency.so", "libswiftSynchronization.so",
        "libswift_StringProcessing.so", "libswift_RegexParser.so", "libswiftSwiftOnoneSupport.so",
        "libswiftGlibc.so",
    };
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strncmp(base, names[i], strlen(names[i])) == 0) return 1;
    return 0;
}

// glibc's C library and its dynamic loader (whose __tls_get_addr the Swift
// runtime calls for thread-locals): frames unwound by their CFI.
static int tk_is_libc(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    return strcmp(base, "libc.so.6") == 0 || strncmp(base, "ld-linux", 8) == 0;
}

// Records where an object's .eh_frame_hdr and the read-only segment holding
// its unwind tables are; the index in bd->unwind, or -1.
static int tk_add_unwind(const struct dl_phdr_info *info, tk_build *bd) {
    if (bd->unwind_count == TK_UNWIND_MAX) return -1;
    uintptr_t hdr = 0;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME) hdr = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
    for (int i = 0; hdr && i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_filesz;
        if (ph->p_type == PT_LOAD && !(ph->p_flags & PF_W) && hdr >= lo && hdr < hi) {
            bd->unwind[bd->unwind_count] = (tk_unwind_object){(const void *)hdr, lo, hi};
            return bd->unwind_count++;
        }
    }
    return -1;
}

static int tk_collect(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    tk_build *bd = data;
    bd->generation = info->dlpi_adds + info->dlpi_subs;
    int is_main = info->dlpi_name == NULL || info->dlpi_name[0] == '\0';
    int kind = is_main ? TK_OWN : tk_is_vouched(info->dlpi_name, bd) ? TK_VOUCHED : TK_LIBRARY;
    int keeps_fp = is_main || tk_is_swift_runtime(info->dlpi_name);
    // Hijacked returns unwind frames of these objects by their CFI.
    int unwind = keeps_fp || (kind == TK_LIBRARY && tk_is_libc(info->dlpi_name)) ? tk_add_unwind(info, bd) : -1;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        if (bd->count == bd->capacity) {
            bd->capacity = bd->capacity ? bd->capacity * 2 : 64;
            bd->ranges = realloc(bd->ranges, sizeof(tk_range) * (size_t)bd->capacity);
        }
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        bd->ranges[bd->count++] = (tk_range){lo, lo + ph->p_memsz, kind, keeps_fp, unwind};
    }
    return 0;
}

static int tk_generation_only(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    *(unsigned long long *)data = info->dlpi_adds + info->dlpi_subs;
    return 1;  // the counters are the same for every object: stop at the first
}

static int tk_range_cmp(const void *a, const void *b) {
    uintptr_t x = ((const tk_range *)a)->lo, y = ((const tk_range *)b)->lo;
    return x < y ? -1 : x > y;
}

// Async-signal-safe: binary search in an immutable table. NULL if unknown.
static const tk_range *tk_range_of(const tk_table *t, uintptr_t pc) {
    int lo = 0, hi = t->count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (pc < t->ranges[mid].lo) hi = mid - 1;
        else if (pc >= t->ranges[mid].hi) lo = mid + 1;
        else return &t->ranges[mid];
    }
    return NULL;
}

// The kind of the code at `pc`; -1 if it is in no loaded object.
static int tk_kind_of(const tk_table *t, uintptr_t pc) {
    const tk_range *range = tk_range_of(t, pc);
    return range ? range->kind : -1;
}

static int tk_in_shim(uintptr_t pc) {
    return pc >= (uintptr_t)__start_tkshim && pc < (uintptr_t)__stop_tkshim;
}

static int tk_allowed(const tk_table *t, uintptr_t pc) {
    if (tk_in_shim(pc)) return 0;
    int kind = tk_kind_of(t, pc);
    return kind == TK_OWN || kind == TK_VOUCHED;
}

#if defined(__x86_64__)
static void tk_hijack_setup(void);
#endif

TK_SHIM void CPthreadShim_ranges_refresh(const char *const *vouched, int count, int force) {
    tk_table *old = __atomic_load_n(&tk_ranges, __ATOMIC_ACQUIRE);
#if defined(__x86_64__)
    // Before the first table is published: a handler that loaded a table
    // (acquire) sees what the setup wrote.
    if (!old) tk_hijack_setup();
#endif
    if (old && !force) {
        unsigned long long generation = 0;
        dl_iterate_phdr(tk_generation_only, &generation);
        if (generation == old->generation) return;
    }
    tk_build bd = {.vouched = vouched, .vouched_count = count};
    dl_iterate_phdr(tk_collect, &bd);
    qsort(bd.ranges, (size_t)bd.count, sizeof(tk_range), tk_range_cmp);
    tk_table *t = malloc(sizeof(tk_table) + sizeof(tk_range) * (size_t)bd.count);
    if (!t) { free(bd.ranges); return; }
    t->retired = old;
    t->count = bd.count;
    t->generation = bd.generation;
    memcpy(t->unwind, bd.unwind, sizeof bd.unwind);
    memcpy(t->ranges, bd.ranges, sizeof(tk_range) * (size_t)bd.count);
    free(bd.ranges);
    // With a statically linked Swift runtime the executable's range holds the
    // runtime too, and the PC check could not tell them apart.
    tk_static_runtime = swift_retain && tk_kind_of(t, (uintptr_t)swift_retain) == TK_OWN;
    // A sanitizer runtime breaks the checks. TSan runs an asynchronous signal's
    // handler later, at a point of its own choosing, with a copy of the context:
    // the checks would judge a stale PC and frame chain. ASan's interceptors
    // (malloc, pthread_mutex_lock...) are linked into the executable, so the PC
    // check would take them for the program's own code.
    tk_sanitizer_runtime = __tsan_init != NULL ||
                           (__asan_init && tk_kind_of(t, (uintptr_t)__asan_init) == TK_OWN);
    __atomic_store_n(&tk_ranges, t, __ATOMIC_RELEASE);
}

TK_SHIM int CPthreadShim_async_unsupported(void) {
#if defined(__x86_64__) || defined(__aarch64__)
    // The flags come from the table; the caller refreshed it (with its vouched list).
    if (__atomic_load_n(&tk_ranges, __ATOMIC_ACQUIRE) == NULL) return CPthreadShim_ASYNC_UNSUPPORTED_ARCH;
    if (tk_static_runtime) return CPthreadShim_ASYNC_STATIC_RUNTIME;
    if (tk_sanitizer_runtime) return CPthreadShim_ASYNC_SANITIZER;
    // No exclusivity check without it.
    return swift_task_enterThreadLocalContext ? CPthreadShim_ASYNC_SUPPORTED : CPthreadShim_ASYNC_NO_EXCLUSIVITY_HOOK;
#else
    return CPthreadShim_ASYNC_UNSUPPORTED_ARCH;
#endif
}

// --- The checks (run in the handler; async-signal-safe) ---

static void *tk_access_head(void) {
    if (!swift_task_enterThreadLocalContext) return NULL;
    // With an empty task state this only copies the thread's access-set head
    // into state[0]; it changes nothing (Swift runtime, Exclusivity.cpp).
    char state[16] __attribute__((aligned(8))) = {0};
    swift_task_enterThreadLocalContext(state);
    void *head;
    memcpy(&head, state, sizeof head);
    return head;
}

#if defined(__x86_64__)
#define TK_PC(uc) ((uintptr_t)(uc)->uc_mcontext.gregs[REG_RIP])
#define TK_FP(uc) ((uintptr_t)(uc)->uc_mcontext.gregs[REG_RBP])
#define TK_SP(uc) ((uintptr_t)(uc)->uc_mcontext.gregs[REG_RSP])
#elif defined(__aarch64__)
#define TK_PC(uc) ((uintptr_t)(uc)->uc_mcontext.pc)
#define TK_FP(uc) ((uintptr_t)(uc)->uc_mcontext.regs[29])
#define TK_SP(uc) ((uintptr_t)(uc)->uc_mcontext.sp)
#endif

#if defined(__x86_64__) || defined(__aarch64__)
enum { TK_WALK_OK = 0, TK_WALK_FOREIGN = 1, TK_WALK_BROKEN = 2 };

// Follows the frame-pointer chain from the interrupted frame to the anchor.
static int tk_walk_frames(const tk_table *t, const tk_region *r, uintptr_t sp, uintptr_t fp) {
    for (int depth = 0; depth < 512; depth++) {
        if (fp < sp || fp >= r->anchor || (fp & 7)) return TK_WALK_BROKEN;
        const uintptr_t *frame = (const uintptr_t *)fp;
        uintptr_t next = frame[0], ret = frame[1];
        if (next == r->anchor) return TK_WALK_OK;  // `ret` returns into CPthreadShim_async_run
        if (!tk_allowed(t, ret)) return TK_WALK_FOREIGN;
        if (next <= fp) return TK_WALK_BROKEN;
        fp = next;
    }
    return TK_WALK_BROKEN;
}

// A vouched library built without frame pointers uses the register for
// data, so the chain starts somewhere in its frames. Its functions save the
// caller's frame pointer on the stack like any callee-saved register: find the
// nearest word from which a walk reaches the anchor through allowed frames.
// The frames below it are the vouched library's own — that is what vouching
// for it means.
static int tk_find_chain(const tk_table *t, const tk_region *r, uintptr_t sp) {
    for (const uintptr_t *word = (const uintptr_t *)((sp + 7) & ~(uintptr_t)7);
         (uintptr_t)word < r->anchor; word++) {
        uintptr_t candidate = *word;
        if (candidate > (uintptr_t)word && candidate < r->anchor &&
            tk_walk_frames(t, r, sp, candidate) == TK_WALK_OK)
            return TK_WALK_OK;
    }
    return TK_WALK_BROKEN;
}

// Where the checks look: the interrupted state, or a hijacked return's.
typedef struct {
    uintptr_t pc, sp, fp;
    uintptr_t lr;               // aarch64: the link register
    const sigset_t *sigmask;
    int at_return;              // pc is a return address: just after a call in own code
} tk_point;

// The kernel's mask is _NSIG bits; glibc's sigset_t is larger and its tail
// in a ucontext is not meaningful. No memcmp: it may use vector registers,
// which the hijack trampoline's callee must not count on (it saves them all
// anyway) — and a plain loop is async-signal-safe by inspection.
static int tk_same_mask(const sigset_t *a, const sigset_t *b) {
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    for (size_t i = 0; i < _NSIG / 8; i++)
        if (x[i] != y[i]) return 0;
    return 1;
}

static int tk_check(const CPthreadShim_block *b, const tk_region *r, const tk_point *at) {
    if (b->mask_depth > 0 || b->uninterruptible_depth > 0) return CPthreadShim_DECLINE_MASKED;
    if (!tk_same_mask(at->sigmask, &r->armed_mask)) return CPthreadShim_DECLINE_SIGMASK;
    const tk_table *t = __atomic_load_n(&tk_ranges, __ATOMIC_ACQUIRE);
    if (!t) return CPthreadShim_DECLINE_PC;
    // Outside every loaded object's code: JIT-compiled or generated code in
    // anonymous executable pages (or a library loaded since the table was
    // built). Nothing says what it holds, so it is never jumped out of.
    if (tk_kind_of(t, at->pc) < 0) return CPthreadShim_DECLINE_ANON_CODE;
    if (!tk_allowed(t, at->pc)) return CPthreadShim_DECLINE_PC;
    uintptr_t sp = at->sp;
    if (tk_kind_of(t, at->pc) == TK_VOUCHED) {
        int chain = tk_walk_frames(t, r, sp, at->fp);
        if (chain == TK_WALK_BROKEN) chain = tk_find_chain(t, r, sp);
        if (chain != TK_WALK_OK) return CPthreadShim_DECLINE_FRAME;
        return tk_access_head() == r->access_head ? -1 : CPthreadShim_DECLINE_EXCLUSIVITY;
    }
    // A callback from a library, caught in its prologue, has the library's
    // return address on top of the stack and not yet in the frame chain.
    // Only prologue states count: anywhere else these words are the frame's
    // own locals, which may hold a stale library address — judging those
    // refused a thread spinning in its own code for ever (measured: 10,077
    // declines in a row). On x86_64, at a function's first instruction sp is
    // 8 mod 16 (the ABI aligns sp to 16 before the call) and [sp] is the
    // return address; right after `push rbp`, [sp] is the caller's rbp, still
    // in the register, and [sp+8] the return address.
    // A hijacked return is never in a prologue (a prologue makes no call),
    // and there the pattern is a coincidence that would hold at every return
    // of the same call: a frame with its own rbp on top and a stale runtime
    // address above it declined every landing of a loop around memchr for
    // ever (measured: 240 returns hijacked, 240 declined, 0 landed).
    for (int i = 0; i < 2 && !at->at_return; i++) {
        uintptr_t word = ((const uintptr_t *)sp)[i];
#if defined(__x86_64__)
        int prologue = i == 0 ? (sp & 15) == 8 : ((const uintptr_t *)sp)[0] == at->fp;
        if (!prologue) continue;
#endif
        if (tk_kind_of(t, word) == TK_LIBRARY) return CPthreadShim_DECLINE_STACK_WORD;
    }
#if defined(__aarch64__)
    if (tk_kind_of(t, at->lr) == TK_LIBRARY) return CPthreadShim_DECLINE_STACK_WORD;
#endif
    // Every frame between the interrupted one and the region's anchor must be
    // the program's own: none may belong to libc, the runtime, or the shim.
    if (tk_walk_frames(t, r, sp, at->fp) != TK_WALK_OK) return CPthreadShim_DECLINE_FRAME;
    return tk_access_head() == r->access_head ? -1 : CPthreadShim_DECLINE_EXCLUSIVITY;
}
#endif

// --- Hijacked returns (x86_64) ---
//
// Most of an allocation-heavy loop's time is spent in the Swift runtime
// (swift_allocObject, swift_retain/release), where a jump is rightly refused.
// Retrying until a signal happens to find the program's own code gives
// millisecond tails. Instead, when the handler finds the thread in the
// runtime, it replaces the return address of the innermost runtime frame that
// returns into own code with CPthreadShim_hijack_trampoline (as CoreCLR does
// to suspend threads for its GC). The runtime function finishes — its locks
// released, its object built — and its return brings the thread to the
// trampoline, which runs the same checks at the original return address and
// lands the kill there, or continues as if nothing had happened.
//
// A return address is only ever taken from a frame record: the walk starts at
// the interrupted frame pointer and every record it reads must have been
// written by code that keeps frame pointers (the program's own code, SwiftPM
// builds it so, and the Swift runtime: tk_is_swift_runtime). A PC in glibc,
// a vouched library or any other code arms nothing: their rbp may hold data,
// and a "return address" read through it could be anyone's word. The walk
// must reach the region's anchor through own frames above the hijacked one.
//
// One hijack per thread at a time, in the innermost region. Only the owner
// thread touches the record: its handler, which never arms or disarms while
// the PC is in the shim (the trampoline's code), and the trampoline.
#if defined(__x86_64__)
extern char CPthreadShim_hijack_trampoline[];
__attribute__((visibility("hidden"))) unsigned long CPthreadShim_hijack_xsave_size;
static int tk_hijack_usable;  // written once, before the first region is armed

static _Thread_local struct {
    uintptr_t *slot;          // the return-address word replaced, or NULL
    uintptr_t ret;            // what it held
    const tk_region *region;  // the region it was armed in
} tk_hijack __attribute__((tls_model("initial-exec")));

#include <cpuid.h>

// XSAVE saves every register state the returning function may have set; its
// area size depends on the CPU features the kernel enabled. A process running
// with a CET shadow stack would fault on a changed return address: no hijacks.
// Runs once, from the first table refresh (callers serialize refreshes).
static void tk_hijack_setup(void) {
    unsigned a, b, c, d;
    int usable = 0;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE) && __get_cpuid_count(0xd, 0, &a, &b, &c, &d) && b >= 576) {
        CPthreadShim_hijack_xsave_size = b + 64;  // + the alignment slack
        unsigned long long shadow_stack = 0;
        long status = syscall(SYS_arch_prctl, 0x5005 /* ARCH_SHSTK_STATUS */, &shadow_stack);
        usable = status != 0 || (shadow_stack & 1) == 0;
    }
    tk_hijack_usable = usable;
}

// Whether `ret` follows a call instruction: direct (e8 rel32) or indirect
// (ff /2, with or without a REX prefix). A filter on top of the frame record.
static int tk_after_call(const tk_range *code, uintptr_t ret) {
    if (ret < code->lo + 7) return 0;
    const unsigned char *p = (const unsigned char *)ret;
    if (p[-5] == 0xe8) return 1;
    for (int len = 2; len <= 7; len++) {
        const unsigned char *insn = p - len;
        int prefix = (insn[0] & 0xf0) == 0x40;  // REX
        if (prefix) insn++;
        if (insn[0] != 0xff || ((insn[1] >> 3) & 7) != 2) continue;
        int mod = insn[1] >> 6, rm = insn[1] & 7, size = prefix + 2;
        if (mod != 3 && rm == 4) size += 1 + (mod == 0 && (insn[2] & 7) == 5 ? 4 : 0);  // SIB
        if (mod == 0 && rm == 5) size += 4;
        else if (mod == 1) size += 1;
        else if (mod == 2) size += 4;
        if (size == len) return 1;
    }
    return 0;
}

// The return-address word to hijack for a thread interrupted at `at`, or NULL.
//
// Frame by frame from the interrupted one to the region's anchor: the
// interrupted frame by its object's unwind table (its function may be in a
// prologue or epilogue, or be a frameless leaf, where rbp is still the
// caller's — and the caller may be glibc, whose rbp is data); a caller by its
// frame record if its code keeps frame pointers (a function that made a call
// has set its frame up), by glibc's unwind table otherwise; any other code
// ends the search.
static uintptr_t *tk_hijack_slot(const tk_table *t, const tk_region *r, const tk_point *at) {
    const tk_range *code = tk_range_of(t, at->pc);
    if (!code || code->unwind < 0 || tk_in_shim(at->pc)) return NULL;
    tk_frame frame = {at->pc, at->sp, at->fp};
    uintptr_t *candidate = NULL;
    for (int depth = 0; depth < 512; depth++) {
        uintptr_t *slot = NULL;
        if (depth > 0 && code->keeps_fp) {
            uintptr_t fp = frame.fp;
            if (fp < frame.sp || fp >= r->anchor || (fp & 7)) return NULL;
            uintptr_t *record = (uintptr_t *)fp;
            if (record[0] == r->anchor) return candidate;  // its return is CPthreadShim_async_run's
            slot = &record[1];
            frame = (tk_frame){record[1], fp + 16, record[0]};
        } else {
            if (code->unwind < 0 || !tk_cfi_step(&t->unwind[code->unwind], &frame, frame.sp, r->anchor, &slot, depth > 0))
                return NULL;
            // Returned into CPthreadShim_async_run, whose frame is the anchor.
            if (frame.fp == r->anchor && tk_in_shim(frame.pc)) return candidate;
        }
        // The return already hijacked: its real target is the saved one.
        if (slot && slot == tk_hijack.slot && frame.pc == (uintptr_t)CPthreadShim_hijack_trampoline) frame.pc = tk_hijack.ret;
        code = tk_range_of(t, frame.pc);
        if (!code || tk_in_shim(frame.pc) || !tk_after_call(code, frame.pc)) return NULL;
        if (!code->keeps_fp && code->unwind < 0) return NULL;  // neither frame records nor a table to trust
        if (code->kind != TK_OWN) candidate = NULL;  // a runtime frame further out: start again
        else if (!candidate) candidate = slot;       // the innermost return into own code
    }
    return NULL;
}

// Puts the original return address back, if the word still holds ours.
static void tk_hijack_disarm(void) {
    if (tk_hijack.slot && *tk_hijack.slot == (uintptr_t)CPthreadShim_hijack_trampoline)
        *tk_hijack.slot = tk_hijack.ret;
    tk_hijack.slot = NULL;
    tk_hijack.region = NULL;
}

// From the handler, after a decline. Arms a hijack, or moves it deeper: a
// return nearer the interrupted PC comes sooner (a loop's own frame may never return).
static void tk_hijack_arm(CPthreadShim_block *b, const tk_table *t, const tk_region *r, const tk_point *at) {
    if (!tk_hijack_usable) return;
    if (tk_hijack.slot && tk_hijack.region != r) tk_hijack_disarm();  // stale: its region ended or landed
    uintptr_t *slot = tk_hijack_slot(t, r, at);
    if (!slot || slot == tk_hijack.slot) return;
    if (tk_hijack.slot && slot > tk_hijack.slot) return;  // not deeper than the armed one
    tk_hijack_disarm();
    tk_hijack.ret = *slot;
    tk_hijack.region = r;
    tk_hijack.slot = slot;
    *slot = (uintptr_t)CPthreadShim_hijack_trampoline;
    __atomic_fetch_add(&b->returns_hijacked, 1, __ATOMIC_RELAXED);
}

// Called by the trampoline, on the thread, at the original return address:
// stores where to continue, or lands the kill (the return's values are lost
// with the frames the landing skips, as a signal's jump there would lose them).
__attribute__((visibility("hidden"))) TK_SHIM
void CPthreadShim_hijack_fire(uintptr_t *continuation, uintptr_t sp, uintptr_t fp) {
    int saved_errno = errno;
    *continuation = tk_hijack.ret;
    const tk_region *armed = tk_hijack.region;
    tk_hijack.slot = NULL;
    tk_hijack.region = NULL;
    CPthreadShim_block *b = CPthreadShim_thread_block();
    if (!b || !armed || b->async != armed ||
        !(__atomic_load_n(&b->kill, __ATOMIC_SEQ_CST) & CPthreadShim_KILL_DELIVERABLE)) {
        errno = saved_errno;
        return;
    }
    tk_region *r = b->async;
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    tk_point at = {.pc = *continuation, .sp = sp, .fp = fp, .sigmask = &mask, .at_return = 1};
    int reason = tk_check(b, r, &at);
    if (reason >= 0) {
        __atomic_fetch_add(&b->declines[reason], 1, __ATOMIC_RELAXED);
        errno = saved_errno;
        return;
    }
    __atomic_fetch_add(&b->jumps, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&b->landed_on_return, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&b->mask_depth, 1, __ATOMIC_RELAXED);  // as in tk_async_try_jump
    errno = saved_errno;
    siglongjmp(r->landing, 1);
}
#endif

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

// A declined kill is retried by the thread's own timer: a one-shot
// CLOCK_MONOTONIC POSIX timer (an hrtimer) that signals this thread again
// CPthreadShim_RETRY_INTERVAL_NS later. The watchdog also resends, but it is
// a thread: with both CPUs busy it waited a whole scheduler tick (3.7 ms at
// HZ 250) to run, where 200 µs was asked. The timer fires from the timer
// interrupt and needs no thread to be scheduled. (A timer on the thread's
// CPU-time clock would not do: those expire only at the tick.) Made on the first decline, kept for the
// thread's life (CPthreadShim_block_destroy), disarmed when the region ends.
// Retries end at `retry_until`, which the sender set when it posted the kill
// (the end of the watchdog's resend window, and a little more): a kill that
// can never land (pending in foreign code it may not jump out of) does not
// keep signalling the thread, and that code seeing EINTRs, for ever.
// Async-signal-safe: clock_gettime, raw system calls and atomics only.
static void tk_retry_later(CPthreadShim_block *b) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec >= __atomic_load_n(&b->retry_until, __ATOMIC_RELAXED))
        return;
    uint32_t generation = CPthreadShim_fork_generation();
    if (b->retry_timer == 0 || b->retry_generation != generation) {
        struct sigevent ev;
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_THREAD_ID;
        ev.sigev_signo = CPthreadShim_signal_current();
        ev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
        int id = -1;
        if (syscall(SYS_timer_create, CLOCK_MONOTONIC, &ev, &id) != 0) return;
        b->retry_timer = id + 1;
        b->retry_generation = generation;
    }
    struct itimerspec when = {.it_value = {.tv_sec = 0, .tv_nsec = CPthreadShim_RETRY_INTERVAL_NS}};
    if (syscall(SYS_timer_settime, b->retry_timer - 1, 0, &when, NULL) == 0) {
        b->retry_armed = 1;
        __atomic_fetch_add(&b->retries, 1, __ATOMIC_RELAXED);
    }
}

// The region ended: a retry must not interrupt what the thread does next.
static void tk_retry_disarm(CPthreadShim_block *b) {
    if (!b->retry_armed) return;
    b->retry_armed = 0;
    struct itimerspec never;
    memset(&never, 0, sizeof never);
    if (b->retry_generation == CPthreadShim_fork_generation())
        syscall(SYS_timer_settime, b->retry_timer - 1, 0, &never, NULL);
}

void tk_async_try_jump(CPthreadShim_block *b, ucontext_t *uc, int saved_errno, int from_sender) {
#if defined(__x86_64__) || defined(__aarch64__)
    tk_region *r = b->async;
    if (r == NULL) return;
    tk_point at = {.pc = TK_PC(uc), .sp = TK_SP(uc), .fp = TK_FP(uc), .sigmask = &uc->uc_sigmask};
#if defined(__aarch64__)
    at.lr = (uintptr_t)uc->uc_mcontext.regs[30];
#endif
    int reason = tk_check(b, r, &at);
    if (reason >= 0) {
        __atomic_fetch_add(&b->declines[reason], 1, __ATOMIC_RELAXED);
        // A mask's end takes the kill itself; anywhere else, try again soon.
        if (reason != CPthreadShim_DECLINE_MASKED) tk_retry_later(b);
#if defined(__x86_64__)
        if (reason == CPthreadShim_DECLINE_PC || reason == CPthreadShim_DECLINE_FRAME ||
            reason == CPthreadShim_DECLINE_STACK_WORD) {
            const tk_table *t = __atomic_load_n(&tk_ranges, __ATOMIC_ACQUIRE);
            if (t) tk_hijack_arm(b, t, r, &at);
        }
#endif
        return;
    }
#if defined(__x86_64__)
    tk_hijack_disarm();  // the kill lands here; a hijacked word below is in a skipped frame
#endif
    __atomic_fetch_add(&b->jumps, 1, __ATOMIC_RELAXED);
    // The landing runs masked until it has taken the kill (asyncKillable
    // unmasks): an enclosing region is armed again the moment we land, and a
    // resend of this same kill must not jump there first.
    __atomic_add_fetch(&b->mask_depth, 1, __ATOMIC_RELAXED);
    if (from_sender) __atomic_fetch_add(&b->handled, 1, __ATOMIC_RELEASE);
    errno = saved_errno;
    siglongjmp(r->landing, 1);
#else
    (void)b, (void)uc, (void)saved_errno, (void)from_sender;
#endif
}

// --- The region ---

TK_SHIM int CPthreadShim_async_run(CPthreadShim_block *b, void (*body)(void *), void *arg) {
    tk_region region;
    region.prev = b->async;
    region.saved_region = b->region;
    region.access_head = tk_access_head();  // also creates the runtime's TLS context off-signal
    region.anchor = (uintptr_t)__builtin_frame_address(0);
    sigset_t saved;
    if (sigsetjmp(region.landing, 1)) {
        // Landed: the mask is back to what it was at sigsetjmp (signal blocked).
        __atomic_store_n(&b->async, region.prev, __ATOMIC_SEQ_CST);
        __atomic_store_n(&b->region, region.saved_region, __ATOMIC_SEQ_CST);
        if (region.prev == NULL) tk_retry_disarm(b);
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, CPthreadShim_signal_current());
    pthread_sigmask(SIG_UNBLOCK, &set, &saved);
    pthread_sigmask(SIG_BLOCK, NULL, &region.armed_mask);
    __atomic_store_n(&b->async, &region, __ATOMIC_SEQ_CST);
    body(arg);
    __atomic_store_n(&b->async, region.prev, __ATOMIC_SEQ_CST);
#if defined(__x86_64__)
    // Every frame of the region has returned, through the trampoline if one
    // was hijacked; a record left is one whose frame a longjmp skipped.
    if (tk_hijack.region == &region) tk_hijack_disarm();
#endif
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (region.prev == NULL) tk_retry_disarm(b);
    return 0;
}
