// ThreadSanitizer builds only (`swift build --sanitize=thread`): teaches TSan
// the hand-off it cannot see, that of Synchronization.Mutex on Linux.
//
// Mutex's fast paths are atomics inlined into our (instrumented) code, where
// TSan sees them. Under contention the inlined code calls `_lockSlow`,
// `_tryLockSlow` and `_unlockSlow` in libswiftSynchronization.so, which is not
// instrumented: they spin on the lock word with a plain `lock cmpxchg`, then
// let the kernel pass the lock over with FUTEX_LOCK_PI / FUTEX_UNLOCK_PI.
// TSan sees neither edge, and every access made under a contended Mutex is
// reported as a race (ThreadKill's own locks and the tests' alike).
//
// These definitions, in the executable, take the place of the library's: each
// forwards to the real function and adds the edge it made — an acquire after a
// slow lock, a release before a slow unlock — on the lock word, the address
// the inlined fast paths synchronize on, so both paths meet in one TSan sync
// object. Swift passes the borrowed `_MutexHandle` by address in the
// self register: `swift_context` in `swiftcall` is that register.
// Docs/Sanitizers.md.
#include "tk_internal.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#include <dlfcn.h>
#include <stdbool.h>

void __tsan_acquire(void *addr);
void __tsan_release(void *addr);

#define TK_SWIFTCALL __attribute__((swiftcall))
#define TK_SELF __attribute__((swift_context))
#define TK_LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define TK_TRYLOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"
#define TK_UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"

typedef TK_SWIFTCALL void (*tk_lock_slow_fn)(uint32_t self_id, void *handle TK_SELF);
typedef TK_SWIFTCALL bool (*tk_trylock_slow_fn)(void *handle TK_SELF);
typedef TK_SWIFTCALL void (*tk_unlock_slow_fn)(void *handle TK_SELF);

static void *tk_real_lock_slow, *tk_real_trylock_slow, *tk_real_unlock_slow;  // atomic

// The library's definition; every thread resolves the same value.
static void *tk_real(void **cache, const char *name) {
    void *f = __atomic_load_n(cache, __ATOMIC_RELAXED);
    if (f == NULL) {
        f = dlsym(RTLD_NEXT, name);
        __atomic_store_n(cache, f, __ATOMIC_RELAXED);
    }
    return f;
}

TK_SWIFTCALL void tk_mutex_lock_slow(uint32_t self_id, void *handle TK_SELF) __asm__(TK_LOCK_SLOW);
TK_SWIFTCALL void tk_mutex_lock_slow(uint32_t self_id, void *handle TK_SELF) {
    ((tk_lock_slow_fn)tk_real(&tk_real_lock_slow, TK_LOCK_SLOW))(self_id, handle);
    __tsan_acquire(handle);
}

TK_SWIFTCALL bool tk_mutex_trylock_slow(void *handle TK_SELF) __asm__(TK_TRYLOCK_SLOW);
TK_SWIFTCALL bool tk_mutex_trylock_slow(void *handle TK_SELF) {
    bool locked = ((tk_trylock_slow_fn)tk_real(&tk_real_trylock_slow, TK_TRYLOCK_SLOW))(handle);
    if (locked) __tsan_acquire(handle);
    return locked;
}

TK_SWIFTCALL void tk_mutex_unlock_slow(void *handle TK_SELF) __asm__(TK_UNLOCK_SLOW);
TK_SWIFTCALL void tk_mutex_unlock_slow(void *handle TK_SELF) {
    __tsan_release(handle);
    ((tk_unlock_slow_fn)tk_real(&tk_real_unlock_slow, TK_UNLOCK_SLOW))(handle);
}
#endif
#endif
