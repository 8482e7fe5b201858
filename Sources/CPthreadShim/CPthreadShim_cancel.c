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
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
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

// A helper is kept for its caller: one whose call returned parks, and the
// same thread's next cancellable call runs on it (no pthread_create per call);
// one that is cancelled dies, as pthread_cancel demands. The record of the
// call (`call->thread`) keeps the parked helper; the killable thread ends it
// when it ends (ThreadCore), so no helper outlives its caller. The caller
// owns its helper throughout, so a cancel can only ever reach the helper of
// the canceller's own call: if the call returned before the cancel acted, the
// cancel stays pending and acts at the helper's park (a cancellation point),
// so a cancelled helper never runs another call.

typedef struct tk_helper {
    pthread_t thread;
    sem_t go;                 // posted when `call` is set (or to end the helper)
    CPthreadShim_call *call;  // atomic: the assigned call; NULL: end
    uint32_t generation;      // the fork generation it was started in
} tk_helper;

// Weak: present only in `swift build --sanitize=thread` builds.
extern void __tsan_init(void) __attribute__((weak));

// Under TSan a helper is never kept: pthread_cancel of a helper parked in
// TSan's sem_wait interceptor would abort the process.
static int tk_keep_helpers(void) { return __tsan_init == NULL; }

TK_SHIM static void tk_run_call(CPthreadShim_call *call) {
    pthread_cleanup_push(tk_call_cancelled, call);
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
    call->result = call->function(call->argument);
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    pthread_cleanup_pop(0);
}

TK_SHIM static void *tk_helper_main(void *arg) {
    tk_helper *h = arg;
    pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, NULL);  // never asynchronous
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    for (;;) {
        // Park. A cancel that did not act during the last call acts here.
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
        while (sem_wait(&h->go) != 0) {
        }
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
        CPthreadShim_call *call = __atomic_load_n(&h->call, __ATOMIC_ACQUIRE);
        if (!call) return NULL;  // told to end
        tk_run_call(call);
        tk_call_publish(call, CPthreadShim_CALL_RETURNED);  // `call` may be reused or freed from here on
        if (!tk_keep_helpers()) return NULL;
    }
}

TK_SHIM static void tk_helper_free(tk_helper *h) {
    sem_destroy(&h->go);
    free(h);
}

/// The call's kept helper, if it exists in this process (after fork() only
/// the forking thread does: a helper from before is forgotten, its record leaked).
TK_SHIM static tk_helper *tk_kept_helper(CPthreadShim_call *call) {
    tk_helper *h = (tk_helper *)(uintptr_t)call->thread;
    if (h && h->generation != CPthreadShim_fork_generation()) {
        call->thread = 0;
        return NULL;
    }
    return h;
}

TK_SHIM int CPthreadShim_call_start(CPthreadShim_call *call) {
    tk_helper *h = tk_kept_helper(call);
    if (!h) {
        h = calloc(1, sizeof *h);
        if (!h) return ENOMEM;
        h->generation = CPthreadShim_fork_generation();
        if (sem_init(&h->go, 0, 0) != 0) {
            free(h);
            return errno;
        }
        pthread_attr_t attr;
        int err = pthread_attr_init(&attr);
        if (err) {
            tk_helper_free(h);
            return err;
        }
        sigset_t all;
        sigfillset(&all);
        err = pthread_attr_setsigmask_np(&attr, &all);
        if (!err) err = pthread_create(&h->thread, &attr, tk_helper_main, h);
        pthread_attr_destroy(&attr);
        if (err) {
            tk_helper_free(h);
            return err;
        }
        call->thread = (pthread_t)(uintptr_t)h;  // the record keeps its helper
    }
    __atomic_store_n(&h->call, call, __ATOMIC_RELEASE);
    sem_post(&h->go);
    return 0;
}

TK_SHIM int CPthreadShim_call_cancel(CPthreadShim_call *call) {
    tk_helper *h = tk_kept_helper(call);
    if (!h) return 0;
    int err = pthread_cancel(h->thread);  // joinable, never detached: safe
    pthread_join(h->thread, NULL);        // it died: in the call (its cleanup ran) or at its park
    tk_helper_free(h);
    call->thread = 0;
    return err;
}

TK_SHIM void CPthreadShim_call_poke(CPthreadShim_call *call) { tk_call_publish(call, CPthreadShim_CALL_POKED); }

TK_SHIM void CPthreadShim_call_join(CPthreadShim_call *call) {
    if (tk_keep_helpers()) return;  // parked, kept by the record for the next call
    tk_helper *h = tk_kept_helper(call);
    if (!h) return;
    pthread_join(h->thread, NULL);  // it returned after publishing
    tk_helper_free(h);
    call->thread = 0;
}

TK_SHIM static long tk_pause(void *arg) {
    (void)arg;
    for (;;) pause();
    return 0;
}

TK_SHIM void CPthreadShim_cancel_warm_up(void) {
    static int warm;  // atomic
    if (__atomic_exchange_n(&warm, 1, __ATOMIC_ACQ_REL)) return;
    // TSan aborts the process when pthread_cancel unwinds a thread inside one
    // of its interceptors; the warm-up only saves the first real cancel a
    // dlopen, so under TSan a call that is never cancelled must not pay it.
    if (__tsan_init) return;
    // The throwaway helper would inherit the caller's name, and could be
    // taken for the caller's real helper (thread-name tests look for two
    // threads of that name): it is created under a neutral name.
    char name[16] = "";
    prctl(PR_GET_NAME, name);
    prctl(PR_SET_NAME, "threadkill-call");
    CPthreadShim_call call = {.function = tk_pause};
    int started = CPthreadShim_call_start(&call) == 0;
    prctl(PR_SET_NAME, name);
    if (started) CPthreadShim_call_cancel(&call);
}
