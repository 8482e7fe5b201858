// Shared between the shim's own C files; not part of the public header.
#ifndef TK_INTERNAL_H
#define TK_INTERNAL_H

#include "CPthreadShim.h"
#include <ucontext.h>

// Every shim function lives in this section, so the injection checks can
// refuse a PC or return address inside the shim (__start_/__stop_tkshim).
#define TK_SHIM __attribute__((section("tkshim"), used))

/// Decides whether the handler may jump out of an async region, and jumps.
/// Returns only if it declined (the decline is counted). Async-signal-safe.
/// `from_sender` says whether the signal was sent (counted in `handled`) or a tick.
void tk_async_try_jump(CPthreadShim_block *b, ucontext_t *uc, int saved_errno, int from_sender);

/// A frame for unwinding: where it is and what its frame pointer holds.
typedef struct { uintptr_t pc, sp, fp; } tk_frame;

/// An object whose frames are unwound by its .eh_frame table (glibc).
typedef struct {
    const void *eh_frame_hdr;  ///< NULL when there is none
    uintptr_t ro_lo, ro_hi;    ///< the read-only segment holding the table
} tk_unwind_object;

/// Unwinds `frame` to its caller's by `object`'s CFI, and points `ra_slot` at
/// the stack word holding the return address. Every stack read stays in
/// [stack_lo, stack_hi). `at_return` says `frame->pc` is a return address
/// (look up the call before it). Returns 0 on anything it does not model.
/// Async-signal-safe (CPthreadShim_unwind.c).
int tk_cfi_step(const tk_unwind_object *object, tk_frame *frame, uintptr_t stack_lo, uintptr_t stack_hi,
                uintptr_t **ra_slot, int at_return);

#endif
