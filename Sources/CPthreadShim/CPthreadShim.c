#include "tk_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/futex.h>
#include <ucontext.h>

#if !defined(_GNU_SOURCE)
#error "CPthreadShim needs _GNU_SOURCE (set in Package.swift)"
#endif
_Static_assert(ECANCELED == 125, "the syscall stubs return -125 for ECANCELED");

// Initial-exec TLS: the handler reads it without calling __tls_get_addr.
static _Thread_local CPthreadShim_block *tk_self __attribute__((tls_model("initial-exec")));
static int tk_signo;  // written once under the Swift install lock, before any kill
static pthread_t tk_main_thread;
static int tk_main_known;
static uint32_t tk_fork_generation;           // atomic; bumped in every forked child
static CPthreadShim_block *tk_fork_survivor;  // the block of the thread that forked, in the child

// Runs in a forked child, on its only thread: the one that called fork().
static void tk_atfork_child(void) {
    __atomic_store_n(&tk_fork_survivor, tk_self, __ATOMIC_RELAXED);
    // A child starts with no signal pending: one in flight to this thread at
    // the fork is gone, and would keep every later sender waiting for it.
    if (tk_self) __atomic_store_n(&tk_self->handled, __atomic_load_n(&tk_self->sent, __ATOMIC_RELAXED), __ATOMIC_RELEASE);
    __atomic_add_fetch(&tk_fork_generation, 1, __ATOMIC_RELEASE);
}

// Runs on the main thread when the program starts (or on whichever thread
// dlopens us, which then is not recorded as main).
__attribute__((constructor)) static void tk_record_main(void) {
    if (syscall(SYS_gettid) == getpid()) {
        tk_main_thread = pthread_self();
        tk_main_known = 1;
    }
    pthread_atfork(NULL, NULL, tk_atfork_child);  // first: Swift's child handlers read it
}

TK_SHIM uint32_t CPthreadShim_fork_generation(void) {
    return __atomic_load_n(&tk_fork_generation, __ATOMIC_ACQUIRE);
}

TK_SHIM CPthreadShim_block *CPthreadShim_fork_survivor(void) {
    return __atomic_load_n(&tk_fork_survivor, __ATOMIC_RELAXED);
}

TK_SHIM pthread_t CPthreadShim_main_thread(int *known) {
    *known = tk_main_known;
    return tk_main_thread;
}

TK_SHIM int CPthreadShim_is_main_thread(pthread_t t) {
    return tk_main_known && pthread_equal(t, tk_main_thread);
}

TK_SHIM CPthreadShim_block *CPthreadShim_block_create(void) {
    return calloc(1, sizeof(CPthreadShim_block));
}

TK_SHIM void CPthreadShim_block_destroy(CPthreadShim_block *b) {
    // The retry timer of a thread that has ended (one made before a fork is
    // not this process's).
    if (b->retry_timer && b->retry_generation == CPthreadShim_fork_generation())
        syscall(SYS_timer_delete, b->retry_timer - 1);
    free(b);
}

TK_SHIM void CPthreadShim_thread_bind(CPthreadShim_block *b) {
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    tk_self = b;
}

TK_SHIM CPthreadShim_block *CPthreadShim_thread_block(void) { return tk_self; }

TK_SHIM size_t CPthreadShim_current_stack_size(void) {
    pthread_attr_t attr;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return 0;
    pthread_attr_getstacksize(&attr, &size);
    pthread_attr_destroy(&attr);
    return size;
}

TK_SHIM size_t CPthreadShim_signal_frame_size(void) {
    // The kernel's own figure (Linux 5.14+ on x86, 4.18+ on arm64) is the frame
    // for this CPU's register state: 3,632 bytes with AVX-512, about 11 KB with
    // AMX. glibc's sysconf derives it from CPUID on older kernels. (With
    // _GNU_SOURCE, glibc 2.34's MINSIGSTKSZ is that sysconf call; 2048 is the
    // historical constant.)
    size_t size = (size_t)getauxval(AT_MINSIGSTKSZ);
    long conf = sysconf(_SC_MINSIGSTKSZ);
    if (conf > 0 && (size_t)conf > size) size = (size_t)conf;
    return size > 2048 ? size : 2048;
}

TK_SHIM int CPthreadShim_pthread_setname_np(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}

// --- The cancellable syscall stub (CPthreadShim_cp_*.S) ---

long CPthreadShim_cp_asm(const uint32_t *word, long nr, long a1, long a2, long a3,
                         long a4, long a5, long a6, uint32_t wake);
#if defined(__x86_64__) || defined(__aarch64__)
extern const char CPthreadShim_cp_begin[], CPthreadShim_cp_end[], CPthreadShim_cp_cancel[];
TK_SHIM int CPthreadShim_syscall_cp_is_race_free(void) { return 1; }
#else
// Portable fallback: the check-then-call window is open; the sender's resend
// protocol closes it in practice. Documented in Docs/Interrupt.md.
long CPthreadShim_cp_asm(const uint32_t *word, long nr, long a1, long a2, long a3,
                         long a4, long a5, long a6, uint32_t wake) {
    if (__atomic_load_n(word, __ATOMIC_ACQUIRE) & wake) return -ECANCELED;
    long r = syscall(nr, a1, a2, a3, a4, a5, a6);
    return r == -1 ? -errno : r;
}
TK_SHIM int CPthreadShim_syscall_cp_is_race_free(void) { return 0; }
#endif

// --- The handler ---

TK_SHIM static uintptr_t *tk_pc(ucontext_t *uc) {
#if defined(__x86_64__)
    return (uintptr_t *)&uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t *)&uc->uc_mcontext.pc;
#else
    (void)uc;
    return NULL;
#endif
}

// Syscalls documented to fail with EINTR when a handler interrupts them
// before any work is done: only these may be turned into EINTR.
TK_SHIM static int tk_may_eintr(long nr) {
    switch (nr) {
    case SYS_read: case SYS_readv: case SYS_pread64: case SYS_preadv:
    case SYS_write: case SYS_writev: case SYS_pwrite64: case SYS_pwritev:
    case SYS_recvfrom: case SYS_recvmsg: case SYS_sendto: case SYS_sendmsg:
    case SYS_accept: case SYS_accept4: case SYS_connect:
    case SYS_wait4: case SYS_waitid: case SYS_futex: case SYS_flock:
    case SYS_openat: case SYS_semop: case SYS_semtimedop: case SYS_msgrcv: case SYS_msgsnd:
        return 1;
    default:
        return 0;
    }
}

// With SA_RESTART the kernel rewinds an interrupted restartable syscall: the PC
// is back on the syscall instruction and the number is back in its register.
// In a blocking region we finish that syscall with -EINTR instead — what the
// foreign code would have seen without SA_RESTART. Async-signal-safe.
TK_SHIM static int tk_make_eintr(ucontext_t *uc) {
#if defined(__x86_64__)
    greg_t *g = uc->uc_mcontext.gregs;
    const unsigned char *pc = (const unsigned char *)g[REG_RIP];
    if (pc[0] != 0x0f || pc[1] != 0x05 || !tk_may_eintr((long)g[REG_RAX])) return 0;
    g[REG_RAX] = -EINTR;
    g[REG_RIP] += 2;
    return 1;
#elif defined(__aarch64__)
    const uint32_t *pc = (const uint32_t *)uc->uc_mcontext.pc;
    if (*pc != 0xd4000001u || !tk_may_eintr((long)uc->uc_mcontext.regs[8])) return 0;
    uc->uc_mcontext.regs[0] = (unsigned long long)-EINTR;
    uc->uc_mcontext.pc += 4;
    return 1;
#else
    (void)uc;
    return 0;
#endif
}

// The kill-word bits that wake a thread in `region`.
TK_SHIM static uint32_t tk_wake_bits(int32_t region) {
    return region == CPthreadShim_REGION_CANCELLABLE ? CPthreadShim_KILL_DELIVERABLE | CPthreadShim_KILL_CANCEL
                                                     : CPthreadShim_KILL_DELIVERABLE;
}

// Async-signal-safe: touches only the calling thread's block and its context;
// no allocation, no locks, errno preserved.
TK_SHIM static void tk_handler(int sig, siginfo_t *info, void *ctx) {
    (void)sig;
    CPthreadShim_block *b = tk_self;
    if (b == NULL) return;  // not a killable thread: ignore
    int saved_errno = errno;
    ucontext_t *uc = ctx;
    int from_sender = info == NULL || info->si_code != SI_TIMER;  // ticks are not "in flight"
    uint32_t kill = __atomic_load_n(&b->kill, __ATOMIC_SEQ_CST);
#if defined(__x86_64__) || defined(__aarch64__)
    uintptr_t *pc = tk_pc(uc);
    // The stub wakes for the bits its region names (a pending cancel only in
    // a cancellable syscall); everything else acts on deliverable kills alone.
    if ((kill & tk_wake_bits(b->region)) && pc && *pc >= (uintptr_t)CPthreadShim_cp_begin &&
        *pc < (uintptr_t)CPthreadShim_cp_end) {
        *pc = (uintptr_t)CPthreadShim_cp_cancel;  // not started yet: cancel it
    } else
#endif
    if (kill & CPthreadShim_KILL_DELIVERABLE) {
        if (b->region == CPthreadShim_REGION_BLOCKING && tk_make_eintr(uc)) {
            b->eintr_made++;
        } else if (b->async != NULL) {
            tk_async_try_jump(b, uc, saved_errno, from_sender);  // returns only if it declined
        }
    }
    // Published last: a sender that sees this may resend (one in flight).
    if (from_sender) __atomic_fetch_add(&b->handled, 1, __ATOMIC_RELEASE);
    errno = saved_errno;
}

// --- The signal ---

TK_SHIM int CPthreadShim_signal_state(int sig) {
    if (sig < 1 || sig > SIGRTMAX) return CPthreadShim_SIGNAL_INVALID;
    struct sigaction old;
    if (sigaction(sig, NULL, &old) != 0) return CPthreadShim_SIGNAL_INVALID;
    if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == tk_handler) return CPthreadShim_SIGNAL_OURS;
    if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL) return CPthreadShim_SIGNAL_DEFAULT;
    return CPthreadShim_SIGNAL_FOREIGN;
}

TK_SHIM int CPthreadShim_signal_probe(void) {
    // The caller's mask says nothing: Dispatch and Swift-concurrency threads
    // block every real-time signal. Killable threads manage their own mask.
    for (int sig = SIGRTMAX - 6; sig >= SIGRTMIN; sig--) {
        if (CPthreadShim_signal_state(sig) == CPthreadShim_SIGNAL_DEFAULT) return sig;
    }
    return 0;
}

TK_SHIM int CPthreadShim_signal_install(int sig) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = tk_handler;
    // SA_RESTART: code inside an async region keeps stdio working; blocking
    // regions get their EINTR from tk_make_eintr instead.
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) return errno;
    tk_signo = sig;
    return 0;
}

TK_SHIM int CPthreadShim_signal_current(void) { return tk_signo; }

TK_SHIM int CPthreadShim_pthread_create(pthread_t *out, size_t stack_size, void *(*start)(void *), void *arg) {
    pthread_attr_t attr;
    int err = pthread_attr_init(&attr);
    if (err) return err;
    if (stack_size) err = pthread_attr_setstacksize(&attr, stack_size);
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    sigaddset(&mask, tk_signo);
    if (!err) err = pthread_attr_setsigmask_np(&attr, &mask);
    if (!err) err = pthread_create(out, &attr, start, arg);
    pthread_attr_destroy(&attr);
    return err;
}

TK_SHIM int CPthreadShim_kick(CPthreadShim_block *b, pthread_t t) {
    uint32_t sent = __atomic_load_n(&b->sent, __ATOMIC_ACQUIRE);
    if (sent != __atomic_load_n(&b->handled, __ATOMIC_ACQUIRE)) return 0;
    if (!__atomic_compare_exchange_n(&b->sent, &sent, sent + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return 0;  // another sender won: its signal is the one in flight
    int err = pthread_kill(t, tk_signo);
    if (err) {
        __atomic_fetch_sub(&b->sent, 1, __ATOMIC_RELEASE);
        return -err;
    }
    return 1;
}

// --- Receptive windows ---


TK_SHIM static void tk_unblock(sigset_t *saved) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, tk_signo);
    pthread_sigmask(SIG_UNBLOCK, &set, saved);
}

TK_SHIM void CPthreadShim_blocking_enter(CPthreadShim_block *b, sigset_t *saved) {
    __atomic_store_n(&b->region, CPthreadShim_REGION_BLOCKING, __ATOMIC_SEQ_CST);
    tk_unblock(saved);
}

TK_SHIM void CPthreadShim_blocking_leave(CPthreadShim_block *b, const sigset_t *saved) {
    pthread_sigmask(SIG_SETMASK, saved, NULL);
    __atomic_store_n(&b->region, CPthreadShim_REGION_NONE, __ATOMIC_SEQ_CST);
}

TK_SHIM static long tk_syscall_cp(CPthreadShim_block *b, int32_t region, long nr, long a1, long a2, long a3,
                                  long a4, long a5, long a6) {
    const uint32_t *word = &b->kill;
    uint32_t wake = tk_wake_bits(region);
    // Published before the stub loads the kill word (both sequentially
    // consistent): a sender that sets the word and then sees no region sends
    // no signal, but then the stub sees the word. The handler reads the wake
    // bits from the region, as the stub got them from it.
    int32_t outer = __atomic_exchange_n(&b->region, region, __ATOMIC_SEQ_CST);
    sigset_t saved;
    tk_unblock(&saved);
    long r = CPthreadShim_cp_asm(word, nr, a1, a2, a3, a4, a5, a6, wake);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    __atomic_store_n(&b->region, outer, __ATOMIC_SEQ_CST);
    // Non-restartable syscalls (poll, nanosleep...) return EINTR at the end
    // label; with a wake bit set that is a cancellation, not a spurious wake.
    if (r == -EINTR && (__atomic_load_n(word, __ATOMIC_ACQUIRE) & wake)) r = -ECANCELED;
    return r;
}

TK_SHIM long CPthreadShim_syscall_cp(CPthreadShim_block *b, long nr, long a1, long a2, long a3,
                                     long a4, long a5, long a6) {
    return tk_syscall_cp(b, CPthreadShim_REGION_SYSCALL, nr, a1, a2, a3, a4, a5, a6);
}

TK_SHIM long CPthreadShim_syscall_cancellable(CPthreadShim_block *b, long nr, long a1, long a2, long a3,
                                              long a4, long a5, long a6) {
    return tk_syscall_cp(b, CPthreadShim_REGION_CANCELLABLE, nr, a1, a2, a3, a4, a5, a6);
}

TK_SHIM long CPthreadShim_syscall_plain(long nr, long a1, long a2, long a3, long a4, long a5, long a6) {
    long r = syscall(nr, a1, a2, a3, a4, a5, a6);
    return r == -1 ? -errno : r;
}

// --- Ticks and CPU time ---

TK_SHIM int CPthreadShim_tick_start(long long period_ns, timer_t *out) {
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = tk_signo;
    ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    if (timer_create(CLOCK_MONOTONIC, &ev, out) != 0) return errno;
    struct itimerspec spec;
    spec.it_interval.tv_sec = period_ns / 1000000000;
    spec.it_interval.tv_nsec = period_ns % 1000000000;
    spec.it_value = spec.it_interval;
    if (timer_settime(*out, 0, &spec, NULL) != 0) {
        int err = errno;
        timer_delete(*out);
        return err;
    }
    return 0;
}

TK_SHIM void CPthreadShim_tick_stop(timer_t timer) { timer_delete(timer); }

TK_SHIM long long CPthreadShim_thread_cpu_nanos(pthread_t t) {
    clockid_t clock;
    int err = pthread_getcpuclockid(t, &clock);
    if (err) return -err;
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0) return -errno;
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// --- futex ---

TK_SHIM int CPthreadShim_futex_wait(uint32_t *addr, uint32_t expected, const struct timespec *timeout) {
    long r = syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, timeout, NULL, 0);
    return r == 0 ? 0 : errno;
}

TK_SHIM void CPthreadShim_futex_wake_all(uint32_t *addr) {
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

// Contended: mark the lock waited for (2) and sleep until it is free.
TK_SHIM void CPthreadShim_state_lock_wait(CPthreadShim_block *b) {
    while (__atomic_exchange_n(&b->state_lock, 2, __ATOMIC_ACQUIRE) != 0)
        syscall(SYS_futex, &b->state_lock, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

TK_SHIM void CPthreadShim_state_unlock_wake(CPthreadShim_block *b) {
    syscall(SYS_futex, &b->state_lock, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

TK_SHIM int CPthreadShim_gettid(void) { return (int)syscall(SYS_gettid); }
