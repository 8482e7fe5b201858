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

#endif
