// Cancellable C calls. pthread_cancel unwinds every frame between the
// cancellation point and the thread's start, skipping whatever those frames
// would have done; through Swift frames that left the stdout lock, a Mutex and
// a swift_once lock held for ever (../shared/research/mechanisms.md §C). So a
// cancellable call runs on a helper thread whose every frame is C: only they
// are unwound, their pthread_cleanup_push handler releases their resources,
// and the Swift thread that waits for it throws an ordinary Swift error.
#include "tk_internal.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void tk_call_publish(CPthreadShim_call *call, uint32_t bits) {
    __atomic_fetch_or(CPthreadShim_call_state(call), bits, __ATOMIC_RELEASE);
    syscall(SYS_futex, CPthreadShim_call_state(call), FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

static void tk_call_cancelled(void *arg) {
    CPthreadShim_call *call = arg;
    if (call->cleanup) call->cleanup(call->cleanup_argument);
    tk_call_publish(call, CPthreadShim_CALL_CANCELLED);
}

TK_SHIM static void *tk_call_main(void *arg) {
    CPthreadShim_call *call = arg;
    pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, NULL);  // never asynchronous
    pthread_cleanup_push(tk_call_cancelled, call);
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
    call->result = call->function(call->argument);
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    pthread_cleanup_pop(0);
    tk_call_publish(call, CPthreadShim_CALL_RETURNED);
    return NULL;
}

TK_SHIM int CPthreadShim_call_start(CPthreadShim_call *call) {
    pthread_attr_t attr;
    int err = pthread_attr_init(&attr);
    if (err) return err;
    sigset_t all;
    sigfillset(&all);
    err = pthread_attr_setsigmask_np(&attr, &all);
    if (!err) err = pthread_create(&call->thread, &attr, tk_call_main, call);
    pthread_attr_destroy(&attr);
    return err;
}

TK_SHIM int CPthreadShim_call_cancel(CPthreadShim_call *call) {
    int err = pthread_cancel(call->thread);  // joinable, never detached: safe
    pthread_join(call->thread, NULL);
    return err;
}

TK_SHIM void CPthreadShim_call_poke(CPthreadShim_call *call) { tk_call_publish(call, CPthreadShim_CALL_POKED); }

TK_SHIM void CPthreadShim_call_join(CPthreadShim_call *call) { pthread_join(call->thread, NULL); }

TK_SHIM static long tk_pause(void *arg) {
    (void)arg;
    for (;;) pause();
    return 0;
}

// Weak: present only in `swift build --sanitize=thread` builds.
extern void __tsan_init(void) __attribute__((weak));

TK_SHIM void CPthreadShim_cancel_warm_up(void) {
    static int warm;  // atomic
    if (__atomic_exchange_n(&warm, 1, __ATOMIC_ACQ_REL)) return;
    // TSan aborts the process when pthread_cancel unwinds a thread inside one
    // of its interceptors; the warm-up only saves the first real cancel a
    // dlopen, so under TSan a call that is never cancelled must not pay it.
    if (__tsan_init) return;
    CPthreadShim_call call = {.function = tk_pause};
    if (CPthreadShim_call_start(&call) == 0) CPthreadShim_call_cancel(&call);
}

TK_SHIM long CPthreadShim_leaf_read(void *args) {
    CPthreadShim_read_args *a = args;
    long n = read(a->fd, a->buffer, a->count);
    return n < 0 ? -errno : n;
}

// Sleeps the whole of *request on CLOCK_MONOTONIC, however long: a timespec
// holds any duration (usleep's useconds_t is 32 bits and wrapped every sleep
// of 71.6 minutes or more). The helper blocks every signal, but a stop and
// continue of the process may still end the sleep early with EINTR: go on
// with what remains. A cancellation point (clock_nanosleep).
TK_SHIM long CPthreadShim_leaf_sleep(void *duration) {
    struct timespec request = *(const struct timespec *)duration, remaining;
    if (request.tv_sec < 0 || request.tv_nsec < 0 || request.tv_nsec >= 1000000000L) return -EINVAL;
    int err;
    while ((err = clock_nanosleep(CLOCK_MONOTONIC, 0, &request, &remaining)) == EINTR) request = remaining;
    return -err;
}

TK_SHIM long CPthreadShim_leaf_poll(void *args) {
    CPthreadShim_poll_args *a = args;
    int n = poll(a->fds, (nfds_t)a->count, a->timeout_ms);
    return n < 0 ? -errno : n;
}
