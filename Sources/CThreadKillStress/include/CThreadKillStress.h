// The stress engine's C leaf: a read(2) for `ctx.cancellableCall`, so that a
// stress run cancels real helper threads with pthread_cancel and checks that
// the C cleanup ran exactly when it had to.
#ifndef CTHREADKILLSTRESS_H
#define CTHREADKILLSTRESS_H

#include <stddef.h>

// Every pointer here is non-null unless marked _Nullable (nothing under gcc).
#if defined(__clang__)
#pragma clang assume_nonnull begin
#elif !defined(_Nullable)
#define _Nullable
#endif

/// One call of tk_stress_leaf_read. Only the helper thread writes the three
/// counters; the caller reads them once the call has ended (returned, or
/// cancelled and joined).
typedef struct {
    int fd;
    void *_Nullable buffer;
    size_t count;
    int entered;   ///< the leaf began
    int returned;  ///< read(2) returned (the leaf was past its cancellation point)
    int cleanups;  ///< times tk_stress_leaf_cleanup ran
} tk_stress_read_call;

/// read(2) on `call->fd` (a cancellation point). Returns the count or -errno.
/// Its argument is _Nullable only to have the type of a cancellable call's
/// function; it must point to a tk_stress_read_call.
long tk_stress_leaf_read(void *_Nullable call);
/// The cancel cleanup of tk_stress_leaf_read: counts itself (same argument).
void tk_stress_leaf_cleanup(void *_Nullable call);

#if defined(__clang__)
#pragma clang assume_nonnull end
#endif

#endif
