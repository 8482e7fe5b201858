// CPthreadShim: the few things ThreadKill cannot do in Swift — run inside a
// signal handler, make a syscall whose start can be cancelled without a race,
// and touch a per-thread control block from that handler.
// Policy (what a kill means, when to send one) lives in Swift.
#ifndef CPTHREADSHIM_H
#define CPTHREADSHIM_H

#if !defined(__linux__)
#error "ThreadKill supports Linux only: it is built on Linux signals, futexes, pidfds and /proc (see README, Requirements)."
#endif
#if !defined(__GLIBC__) && defined(__has_include)
#if __has_include(<features.h>)
#include <features.h>
#endif
#endif
#if !defined(__GLIBC__)
#error "ThreadKill needs glibc (2.34 or later): musl and other C libraries are not supported (see README, Requirements)."
#endif

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <spawn.h>
#include <sys/types.h>

// Nullability: every pointer in this header is non-null unless it is marked
// _Nullable. gcc has no nullability qualifiers; there they expand to nothing.
#if !defined(__clang__)
#ifndef _Nullable
#define _Nullable
#endif
#ifndef _Nonnull
#define _Nonnull
#endif
#endif

#if defined(__clang__)
#pragma clang assume_nonnull begin
#endif

/// Bits of the kill word. Any bit of CPthreadShim_KILL_DELIVERABLE set means
/// "a kill is pending"; Swift decides which one to deliver. A pending cancel
/// has a bit of its own that only a cancellable syscall wakes for. The word is
/// also the futex that `ctx.sleep` waits on and the word the
/// cancellable-syscall stub loads.
enum {
    CPthreadShim_KILL_STOP = 1u << 0,       ///< sticky: stays set once requested
    CPthreadShim_KILL_INTERRUPT = 1u << 1,  ///< consumed when thrown
    CPthreadShim_KILL_RAISE = 1u << 2,      ///< consumed when thrown
    CPthreadShim_KILL_BUDGET = 1u << 3,     ///< consumed when thrown
    CPthreadShim_KILL_CANCELLED = 1u << 4,  ///< sticky: a cancel acted (thrown again at every delivery point)
    /// The kills a delivery point throws: every bit but the pending cancel.
    CPthreadShim_KILL_DELIVERABLE = (1u << 5) - 1,
    /// A cancel not yet acted on: wakes a cancellable syscall
    /// (CPthreadShim_syscall_cancellable) and nothing else; cleared when it acts.
    CPthreadShim_KILL_CANCEL = 1u << 5,
};

/// Syscall numbers the Swift wrappers use (Swift does not import SYS_*).
enum {
    CPthreadShim_SYS_read = SYS_read,
    CPthreadShim_SYS_write = SYS_write,
    CPthreadShim_SYS_recvfrom = SYS_recvfrom,
    CPthreadShim_SYS_sendto = SYS_sendto,
    CPthreadShim_SYS_accept4 = SYS_accept4,
    CPthreadShim_SYS_connect = SYS_connect,
    CPthreadShim_SYS_ppoll = SYS_ppoll,
    CPthreadShim_SYS_wait4 = SYS_wait4,
    CPthreadShim_SYS_clock_nanosleep = SYS_clock_nanosleep,
};

/// Where the owner thread is. Only the owner writes it; its own handler reads it.
enum {
    CPthreadShim_REGION_NONE = 0,
    CPthreadShim_REGION_BLOCKING = 1,  ///< foreign blocking call: convert a restarted syscall to EINTR
    CPthreadShim_REGION_SYSCALL = 2,   ///< inside CPthreadShim_syscall_cp: a signal wakes it for a kill
    CPthreadShim_REGION_CANCELLABLE = 3,  ///< inside CPthreadShim_syscall_cancellable: for a kill or a cancel
};

/// Why the handler declined to jump out of an async region.
enum {
    CPthreadShim_DECLINE_MASKED = 0,      ///< a mask or uninterruptible region is active
    CPthreadShim_DECLINE_SIGMASK = 1,     ///< the interrupted code changed the signal mask
    CPthreadShim_DECLINE_PC = 2,          ///< the PC is in a library, the runtime or the shim
    CPthreadShim_DECLINE_FRAME = 3,       ///< a caller frame is (or the chain is broken)
    CPthreadShim_DECLINE_STACK_WORD = 4,  ///< a callback from a library is in its prologue
    CPthreadShim_DECLINE_EXCLUSIVITY = 5, ///< a Swift exclusive access is in progress
    CPthreadShim_DECLINE_ANON_CODE = 6,   ///< the PC is outside every loaded object (JIT or generated code)
    CPthreadShim_DECLINE_COUNT = 7,
};

/// What CPthreadShim_signal_state says about a signal's disposition.
enum {
    CPthreadShim_SIGNAL_INVALID = -1,  ///< not a valid signal number (or sigaction failed)
    CPthreadShim_SIGNAL_DEFAULT = 0,   ///< the default disposition: free to take
    CPthreadShim_SIGNAL_OURS = 1,      ///< the shim's handler owns it
    CPthreadShim_SIGNAL_FOREIGN = 2,   ///< someone else handles or ignores it
};

/// Why CPthreadShim_async_unsupported says async regions cannot be used.
enum {
    CPthreadShim_ASYNC_SUPPORTED = 0,           ///< they can be used
    CPthreadShim_ASYNC_STATIC_RUNTIME = 1,      ///< the Swift runtime is linked into the executable (static stdlib)
    CPthreadShim_ASYNC_UNSUPPORTED_ARCH = 2,    ///< this architecture has no injection checks (or no table yet)
    CPthreadShim_ASYNC_SANITIZER = 3,           ///< a sanitizer runtime (TSan, or ASan linked into the executable) is present
    CPthreadShim_ASYNC_NO_EXCLUSIVITY_HOOK = 4, ///< the Swift runtime lacks swift_task_enterThreadLocalContext
};

/// One per killable thread. Allocated by Swift (CPthreadShim_block_create),
/// reached by the signal handler through an initial-exec thread-local pointer.
typedef struct CPthreadShim_block {
    uint32_t kill;          ///< atomic; pending kill bits (see above)
    uint32_t handled;       ///< atomic; handler runs for sent signals (timer ticks excluded)
    uint32_t sent;          ///< atomic; incremented by every sender before pthread_kill
    int32_t region;         ///< owner thread only (and its handler)
    int32_t mask_depth;     ///< owner thread only: kills wait at delivery points
    int32_t uninterruptible_depth;  ///< owner thread only: interruptible calls do not wake
    uint32_t eintr_made;    ///< owner's handler only: restarted syscalls turned into EINTR
    uint32_t state_lock;    ///< futex word of CPthreadShim_state_lock (0 free, 1 held, 2 held and waited for)
    struct CPthreadShim_async_region *_Nullable async;  ///< innermost async region, or NULL
    uint32_t jumps;         ///< owner's handler only: kills that landed in an async region
    uint32_t declines[CPthreadShim_DECLINE_COUNT];  ///< owner's handler only, by reason
    uint32_t returns_hijacked;  ///< owner's handler only: return addresses it replaced
    uint32_t landed_on_return;  ///< owner only: of `jumps`, those made by a hijacked return
    int32_t retry_timer;        ///< owner only: the retry timer's kernel id + 1 (0: none yet)
    uint32_t retry_generation;  ///< the fork generation `retry_timer` was made in
    int32_t retry_armed;        ///< owner only: the retry timer may still fire
    uint32_t retries;           ///< owner's handler only: retries it armed after a decline
    uint64_t retry_until;       ///< atomic: CLOCK_MONOTONIC ns from which a declining handler arms no retry
} CPthreadShim_block;

/// The lock of the Swift state kept with this block (a thread's pending kill
/// requests): a three-state futex mutex. It needs no thread id, where the
/// fast path of Swift's `Mutex` makes a `gettid` system call the first time a
/// thread locks through each object file that inlines it. Not for signal
/// handlers; no priority inheritance (its sections are a few loads and stores).
void CPthreadShim_state_lock_wait(CPthreadShim_block *b);
void CPthreadShim_state_unlock_wake(CPthreadShim_block *b);
static inline void CPthreadShim_state_lock(CPthreadShim_block *b) {
    uint32_t free_ = 0;
    if (!__atomic_compare_exchange_n(&b->state_lock, &free_, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        CPthreadShim_state_lock_wait(b);
}
static inline void CPthreadShim_state_unlock(CPthreadShim_block *b) {
    if (__atomic_exchange_n(&b->state_lock, 0, __ATOMIC_RELEASE) == 2) CPthreadShim_state_unlock_wake(b);
}

/// How long after a decline the thread's own retry timer signals it again.
enum { CPthreadShim_RETRY_INTERVAL_NS = 100 * 1000 };

/// Sets the time (CLOCK_MONOTONIC ns) until which a declining handler may arm
/// a retry. A sender sets it before it signals a kill (policy is the caller's).
static inline void CPthreadShim_retry_until_store(CPthreadShim_block *b, uint64_t nanos) {
    __atomic_store_n(&b->retry_until, nanos, __ATOMIC_RELAXED);
}

/// Declines counted for `reason` (a CPthreadShim_DECLINE_* value).
static inline uint32_t CPthreadShim_declines(const CPthreadShim_block *b, int reason) {
    return __atomic_load_n(&b->declines[reason], __ATOMIC_RELAXED);
}
/// Kills that landed in an async region.
static inline uint32_t CPthreadShim_jumps(const CPthreadShim_block *b) {
    return __atomic_load_n(&b->jumps, __ATOMIC_RELAXED);
}
/// Return addresses the handler replaced to land a kill when the runtime returns.
static inline uint32_t CPthreadShim_returns_hijacked(const CPthreadShim_block *b) {
    return __atomic_load_n(&b->returns_hijacked, __ATOMIC_RELAXED);
}
/// Retries the handler armed after declining (the thread's own timer signals it again).
static inline uint32_t CPthreadShim_retries(const CPthreadShim_block *b) {
    return __atomic_load_n(&b->retries, __ATOMIC_RELAXED);
}
/// Kills that landed when a hijacked return brought the thread back to its own code.
static inline uint32_t CPthreadShim_landed_on_return(const CPthreadShim_block *b) {
    return __atomic_load_n(&b->landed_on_return, __ATOMIC_RELAXED);
}
/// Whether the owner thread is inside an async region.
static inline int CPthreadShim_in_async_region(const CPthreadShim_block *b) {
    return __atomic_load_n(&b->async, __ATOMIC_SEQ_CST) != NULL;
}

// --- Atomic accessors (inline so `checkpoint()` is one load and a branch) ---

/// The deliverable kills pending (a relaxed load of the kill word, without
/// the pending-cancel bit).
static inline uint32_t CPthreadShim_kill_load(const CPthreadShim_block *b) {
    return __atomic_load_n(&b->kill, __ATOMIC_RELAXED) & CPthreadShim_KILL_DELIVERABLE;
}
/// The same with an acquire load.
static inline uint32_t CPthreadShim_kill_load_acquire(const CPthreadShim_block *b) {
    return __atomic_load_n(&b->kill, __ATOMIC_ACQUIRE) & CPthreadShim_KILL_DELIVERABLE;
}
/// The same with a sequentially consistent load: what a thread reads right
/// after publishing a region (a sequentially consistent store), when the
/// sender reads the region right after setting a bit. On arm64 a relaxed load
/// may be satisfied before the store is visible, and both would miss.
static inline uint32_t CPthreadShim_kill_load_seq_cst(const CPthreadShim_block *b) {
    return __atomic_load_n(&b->kill, __ATOMIC_SEQ_CST) & CPthreadShim_KILL_DELIVERABLE;
}
/// The whole kill word (an acquire load): the value a futex wait on it compares.
static inline uint32_t CPthreadShim_kill_word_value(const CPthreadShim_block *b) {
    return __atomic_load_n(&b->kill, __ATOMIC_ACQUIRE);
}
/// Sets bits and returns the previous word (sequentially consistent, pairs
/// with the owner's region entry: either it sees the bit or we see the region).
static inline uint32_t CPthreadShim_kill_set(CPthreadShim_block *b, uint32_t bits) {
    return __atomic_fetch_or(&b->kill, bits, __ATOMIC_SEQ_CST);
}
/// Clears bits and returns the previous word (sequentially consistent).
static inline uint32_t CPthreadShim_kill_clear(CPthreadShim_block *b, uint32_t bits) {
    return __atomic_fetch_and(&b->kill, ~bits, __ATOMIC_SEQ_CST);
}
/// An acquire load of any 32-bit word shared with C (futex words).
static inline uint32_t CPthreadShim_word_load(const uint32_t *w) { return __atomic_load_n(w, __ATOMIC_ACQUIRE); }
/// A release store to such a word.
static inline void CPthreadShim_word_store(uint32_t *w, uint32_t v) { __atomic_store_n(w, v, __ATOMIC_RELEASE); }

/// The kill word itself: the futex `ctx.sleep` waits on.
static inline uint32_t *CPthreadShim_kill_word(CPthreadShim_block *b) { return &b->kill; }
/// An acquire load of `handled`.
static inline uint32_t CPthreadShim_handled_load(const CPthreadShim_block *b) {
    return __atomic_load_n(&b->handled, __ATOMIC_ACQUIRE);
}

/// Whether a signal sent to the thread has not been handled yet (not
/// delivered, or its handler still running): CPthreadShim_kick would refuse.
static inline int CPthreadShim_signal_in_flight(const CPthreadShim_block *b) {
    return __atomic_load_n(&b->sent, __ATOMIC_ACQUIRE) != __atomic_load_n(&b->handled, __ATOMIC_ACQUIRE);
}

/// A sequentially consistent load of `region` (a CPthreadShim_REGION_* value).
static inline int32_t CPthreadShim_region_load(const CPthreadShim_block *b) {
    return __atomic_load_n(&b->region, __ATOMIC_SEQ_CST);
}

// Depth counters: written only by the owner thread, read by its own handler,
// hence relaxed atomics plus a signal fence (no cross-thread ordering needed).
/// The owner's mask depth.
static inline int32_t CPthreadShim_mask_depth(const CPthreadShim_block *b) {
    return __atomic_load_n(&b->mask_depth, __ATOMIC_RELAXED);
}
/// Adds `delta` to the mask depth and returns the new depth.
static inline int32_t CPthreadShim_mask_add(CPthreadShim_block *b, int32_t delta) {
    int32_t d = __atomic_add_fetch(&b->mask_depth, delta, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return d;
}
/// The owner's uninterruptible depth.
static inline int32_t CPthreadShim_uninterruptible_depth(const CPthreadShim_block *b) {
    return __atomic_load_n(&b->uninterruptible_depth, __ATOMIC_RELAXED);
}
/// Adds `delta` to the uninterruptible depth and returns the new depth.
static inline int32_t CPthreadShim_uninterruptible_add(CPthreadShim_block *b, int32_t delta) {
    int32_t d = __atomic_add_fetch(&b->uninterruptible_depth, delta, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return d;
}

/// SIGRTMIN and SIGRTMAX are function-like macros Swift cannot import.
static inline int CPthreadShim_sigrtmin(void) { return SIGRTMIN; }
static inline int CPthreadShim_sigrtmax(void) { return SIGRTMAX; }

// --- Blocks and the calling thread ---

/// A zeroed block, or NULL if memory is exhausted.
CPthreadShim_block *_Nullable CPthreadShim_block_create(void);
/// Frees a block made by CPthreadShim_block_create.
void CPthreadShim_block_destroy(CPthreadShim_block *b);
/// Binds `b` to the calling thread for the handler (NULL unbinds), and
/// disables pthread cancellation: Swift frames must never be unwound by it.
void CPthreadShim_thread_bind(CPthreadShim_block *_Nullable b);
/// The calling thread's block, or NULL if it is not a killable thread.
CPthreadShim_block *_Nullable CPthreadShim_thread_block(void);

/// Names the calling thread. At most 15 bytes fit: a longer name is refused
/// with ERANGE and the thread keeps its old name. Returns 0 or an errno value.
int CPthreadShim_pthread_setname_np(const char *name);

/// Bytes the kernel needs on a thread's stack to deliver a signal to it (the
/// frame with this CPU's register state): AT_MINSIGSTKSZ, at least 2048.
size_t CPthreadShim_signal_frame_size(void);

/// The calling thread's stack size in bytes (pthread_getattr_np), or 0.
size_t CPthreadShim_current_stack_size(void);
/// The calling thread's kernel thread id.
int CPthreadShim_gettid(void);

/// How many times this process is removed from the one that loaded the shim
/// by fork(): 0 in the original process, bumped in every forked child.
uint32_t CPthreadShim_fork_generation(void);
/// In a forked child, the block of the thread that called fork() (the only
/// thread that exists there), or NULL if it is not a killable thread.
CPthreadShim_block *_Nullable CPthreadShim_fork_survivor(void);

/// Whether `t` is the process's main thread (recorded at load time).
int CPthreadShim_is_main_thread(pthread_t t);
/// The main thread recorded at load time; `*known` says whether there is one.
pthread_t CPthreadShim_main_thread(int *known);

// --- The signal ---

/// Probes downward from SIGRTMAX-6 for a real-time signal with the default
/// disposition. Returns 0 if none.
int CPthreadShim_signal_probe(void);
/// The disposition of `sig`, a CPthreadShim_SIGNAL_* value:
/// CPthreadShim_SIGNAL_DEFAULT (0) for the default disposition,
/// CPthreadShim_SIGNAL_OURS (1) if our handler owns it,
/// CPthreadShim_SIGNAL_FOREIGN (2) if someone else handles or ignores it,
/// CPthreadShim_SIGNAL_INVALID (-1) if `sig` is not a valid signal.
int CPthreadShim_signal_state(int sig);
/// Installs the handler for `sig`. Returns 0 or an errno value.
int CPthreadShim_signal_install(int sig);
/// The installed signal, or 0.
int CPthreadShim_signal_current(void);

/// Creates a thread whose signal mask blocks the library's signal from its
/// first instruction. Returns 0 or an errno value.
int CPthreadShim_pthread_create(pthread_t *out, size_t stack_size,
                                void *_Nullable (*_Nonnull start)(void *_Nullable), void *_Nullable arg);

/// Sends the library's signal to a thread if none is in flight (a signal is in
/// flight while `sent != handled`). Returns 1 if sent, 0 if one was already in
/// flight, or -errno. The caller guarantees `t` cannot exit meanwhile.
int CPthreadShim_kick(CPthreadShim_block *b, pthread_t t);

// --- Receptive windows: the only places the signal is unblocked ---

/// Enters a blocking region: sets `region` and unblocks the signal, saving the
/// previous mask in `saved`. While in it, a kill turns a restarted blocking
/// syscall of foreign code into EINTR.
void CPthreadShim_blocking_enter(CPthreadShim_block *b, sigset_t *saved);
/// Leaves the blocking region: restores the mask, then clears `region`.
void CPthreadShim_blocking_leave(CPthreadShim_block *b, const sigset_t *saved);

/// A syscall that is cancelled, race-free, when a deliverable kill is pending
/// at entry or arrives (with the signal) before the kernel starts work.
/// Returns the raw result (-errno on failure); -ECANCELED when cancelled.
/// The signal is unblocked, and `region` is CPthreadShim_REGION_SYSCALL (so a
/// sender knows a signal is wanted), only for the duration of the call.
long CPthreadShim_syscall_cp(CPthreadShim_block *b, long nr, long a1, long a2,
                             long a3, long a4, long a5, long a6);
/// The same, cancelled by a pending cancel (CPthreadShim_KILL_CANCEL) too;
/// `region` is CPthreadShim_REGION_CANCELLABLE meanwhile.
long CPthreadShim_syscall_cancellable(CPthreadShim_block *b, long nr, long a1, long a2,
                                      long a3, long a4, long a5, long a6);
/// The same syscall made plainly, with the signal left blocked: for
/// uninterruptible regions. Returns the raw result (-errno on failure).
long CPthreadShim_syscall_plain(long nr, long a1, long a2, long a3, long a4, long a5, long a6);

/// Whether this architecture has the race-free stub (1) or the portable
/// check-then-call fallback that relies on resends (0).
int CPthreadShim_syscall_cp_is_race_free(void);

/// futex(FUTEX_WAIT_PRIVATE) on `addr` while it equals `expected`, with a
/// relative timeout (NULL waits forever). Returns 0 or an errno value.
int CPthreadShim_futex_wait(uint32_t *addr, uint32_t expected, const struct timespec *_Nullable timeout);
/// Wakes every waiter on `addr`.
void CPthreadShim_futex_wake_all(uint32_t *addr);

/// A CLOCK_MONOTONIC timerfd, close-on-exec (the watchdog sleeps reading it),
/// or -1 with errno set.
int CPthreadShim_timerfd_create(void);
/// Arms timerfd `fd` to fire once at CLOCK_MONOTONIC `nanos` (absolute;
/// UINT64_MAX disarms it). Returns 0, or -1 with errno set.
int CPthreadShim_timerfd_arm(int fd, uint64_t nanos);

/// Starts a periodic CLOCK_MONOTONIC timer that sends the library's signal to
/// the calling thread (SIGEV_THREAD_ID). Returns 0 or an errno value.
int CPthreadShim_tick_start(long long period_ns, timer_t _Nullable *_Nonnull out);
/// Deletes a timer made by CPthreadShim_tick_start.
void CPthreadShim_tick_stop(timer_t _Nullable timer);

/// CPU time consumed by thread `t` in nanoseconds, or -errno. The caller
/// guarantees `t` cannot exit meanwhile.
long long CPthreadShim_thread_cpu_nanos(pthread_t t);

// --- Async regions: the one place a kill may land anywhere ---

/// Why async regions cannot be used in this process, a CPthreadShim_ASYNC_*
/// value: CPthreadShim_ASYNC_SUPPORTED (0) if they can (call it after
/// CPthreadShim_ranges_refresh, which computes it),
/// CPthreadShim_ASYNC_STATIC_RUNTIME (1): the Swift runtime is linked into the executable (static stdlib),
/// CPthreadShim_ASYNC_UNSUPPORTED_ARCH (2): this architecture has no injection checks,
/// CPthreadShim_ASYNC_SANITIZER (3): a sanitizer runtime (TSan, or ASan linked into the executable) is present,
/// CPthreadShim_ASYNC_NO_EXCLUSIVITY_HOOK (4): the Swift runtime lacks the entry point the exclusivity check reads.
int CPthreadShim_async_unsupported(void);

/// Rebuilds the table of code ranges the checks consult, if libraries were
/// loaded or unloaded since the last build, or if `force`. `vouched` names
/// libraries (each the start of a file name: "libpcre2-8" matches
/// ".../libpcre2-8.so.0") whose code may be jumped out of; it may be NULL
/// when `count` is 0. Not async-signal-safe; call it from ordinary code, one
/// call at a time (ThreadKill holds its vouching lock).
void CPthreadShim_ranges_refresh(const char *_Nonnull const *_Nullable vouched, int count, int force);

/// Calls `found` with the path of every loaded shared object whose file name
/// starts with `name` (the rule CPthreadShim_ranges_refresh vouches by), and
/// returns how many there are. `found` runs inside dl_iterate_phdr: it must
/// not load or unload objects. Not async-signal-safe.
int CPthreadShim_library_matches(const char *name, void (*found)(const char *path, void *_Nullable context),
                                 void *_Nullable context);

/// Runs `body(arg)` in an async region: the signal is unblocked, and the
/// handler may siglongjmp back here when a kill is pending and every safety
/// check passes. Returns 0 if `body` returned, 1 if a kill landed.
int CPthreadShim_async_run(CPthreadShim_block *b, void (*body)(void *_Nullable), void *_Nullable arg);

// --- Cancellable C calls: pthread_cancel, only ever in C frames ---

/// The `state` word of a CPthreadShim_call: the low bits
/// (`state & CPthreadShim_CALL_STATE_MASK`) say how the call ended, and
/// CPthreadShim_CALL_POKED is set (and the word woken) when a kill arrived.
enum {
    CPthreadShim_CALL_RUNNING = 0u,     ///< the helper has not finished
    CPthreadShim_CALL_RETURNED = 1u,    ///< `function` returned; `result` holds its value
    CPthreadShim_CALL_CANCELLED = 2u,   ///< the helper was cancelled; `cleanup` ran
    CPthreadShim_CALL_STATE_MASK = 3u,  ///< the bits that hold one of the three above
    CPthreadShim_CALL_POKED = 0x100u,   ///< CPthreadShim_call_poke woke the waiter
};

/// A C-only leaf call running on its own helper pthread, so that
/// pthread_cancel unwinds nothing but C frames.
typedef struct CPthreadShim_call {
    uint32_t state;        ///< futex word: CPthreadShim_CALL_* bits (read it through CPthreadShim_call_state)
    long result;           ///< what `function` returned, once the state is CPthreadShim_CALL_RETURNED
    pthread_t thread;      ///< the helper
    long (*function)(void *_Nullable);  ///< runs on the helper with `argument`
    void *_Nullable argument;
    void (*_Nullable cleanup)(void *_Nullable);  ///< runs if the call is cancelled (C resources), may be NULL
    void *_Nullable cleanup_argument;
} CPthreadShim_call;

/// The call's futex word (its CPthreadShim_CALL_* state bits).
static inline uint32_t *CPthreadShim_call_state(CPthreadShim_call *call) { return &call->state; }

/// Starts `call->function(call->argument)` on a helper thread with deferred
/// cancellation enabled and every signal blocked. Returns 0 or an errno value.
int CPthreadShim_call_start(CPthreadShim_call *call);
/// Cancels the helper (pthread_cancel) and joins it; its cleanup has run
/// when this returns. Returns 0 or an errno value.
int CPthreadShim_call_cancel(CPthreadShim_call *call);
/// Wakes the Swift thread waiting for `call` (a kill arrived).
void CPthreadShim_call_poke(CPthreadShim_call *call);
/// Joins a helper whose call has returned.
void CPthreadShim_call_join(CPthreadShim_call *call);

/// Loads libgcc_s (pthread_cancel needs it for unwinding) by cancelling a
/// throwaway thread, so no real cancel ever pays for the dlopen. Idempotent.
void CPthreadShim_cancel_warm_up(void);

// --- Processes (IsolatedProcess) ---

/// pidfd_open(2) through syscall(2). Returns an fd, or -1 and errno (ENOSYS
/// before Linux 5.3).
int CPthreadShim_pidfd_open(pid_t pid, unsigned int flags);
/// pidfd_send_signal(2) with no siginfo. Returns 0, or -1 and errno.
int CPthreadShim_pidfd_send_signal(int pidfd, int sig, unsigned int flags);
/// prctl(PR_SET_PDEATHSIG, sig). Returns 0, or -1 and errno.
int CPthreadShim_prctl_set_pdeathsig(int sig);
/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants are reparented to
/// the calling process instead of init. Returns 0, or -1 and errno.
int CPthreadShim_prctl_set_child_subreaper(void);
/// signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK): an fd that reads the
/// blocked signals in `mask` as 128-byte records. Returns an fd, or -1 and errno.
int CPthreadShim_signalfd(const sigset_t *mask);
/// Closes every fd >= `from` in the spawned child (glibc 2.34). Returns 0 or an errno value.
int CPthreadShim_posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
/// memfd_create(name, MFD_CLOEXEC). Returns an fd, or -1 and errno.
int CPthreadShim_memfd_create(const char *name);
/// pipe2(2) (a GNU extension Swift's Glibc module does not export).
/// Returns 0, or -1 and errno.
int CPthreadShim_pipe2(int fds[_Nonnull 2], int flags);
/// waitid(P_PID, pid, ..., options) returning siginfo's si_code and si_status;
/// both are 0 when WNOHANG found nothing to report. Returns 0, or -1 and errno.
int CPthreadShim_waitid_pid(pid_t pid, int options, int *code, int *status);
/// Sends one byte on a connected Unix socket with `fd` attached
/// (SCM_RIGHTS), MSG_NOSIGNAL. Returns 0, or -1 and errno.
int CPthreadShim_send_byte_with_fd(int socket, unsigned char byte, int fd);
/// Receives one byte from a Unix socket without blocking, and the fd attached
/// to it if any (close-on-exec; -1 if none; extra fds are closed). Returns 1,
/// 0 at end of file, or -1 and errno (EAGAIN when nothing is there).
long CPthreadShim_recv_byte_with_fd(int socket, unsigned char *byte, int *fd);
/// Drops this process's page-table entries for every private, non-writable
/// file mapping whose pages are all page-cache pages — none written (a
/// private copy) or swapped out, per /proc/self/pagemap — with
/// `madvise(MADV_DONTNEED)`: what it drops is refaulted from the page cache
/// if touched again, as after reclaim. Returns the bytes of mappings
/// dropped, or -1 and errno if /proc/self/maps or pagemap cannot be read.
/// Stops early, between 1 MiB steps, once one of `stopFDs` (at most 8) is
/// readable. For a single-threaded process: nothing may write a mapping in between.
long CPthreadShim_drop_clean_file_mappings(const int *_Nullable stopFDs, int stopCount);

#if defined(__clang__)
#pragma clang assume_nonnull end
#endif

#endif
