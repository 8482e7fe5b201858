// Test-only helpers for ThreadKill's tests and fixtures: code in the
// program's own executable with a shape Swift cannot promise (a callback with
// no frame, a callback several frames deep), and a C leaf of the kind a user
// passes to `ctx.cancellableCall`. Not a product; never shipped.
#ifndef CTHREADKILLTESTSUPPORT_H
#define CTHREADKILLTESTSUPPORT_H

#include <stddef.h>

// Every pointer here is non-null unless marked _Nullable (nothing under gcc).
#if defined(__clang__)
#pragma clang assume_nonnull begin
#elif !defined(_Nullable)
#define _Nullable
#endif

/// Set (atomically) by the spins below once they run; cleared by `tk_test_reset`.
int tk_test_inside(void);
/// Lets every spin below return.
void tk_test_release(void);
/// Clears both flags, before a scenario.
void tk_test_reset(void);
/// The word `tk_test_release` sets, for code that waits on it itself.
const int *tk_test_release_word(void);

/// A callback with no frame at all: it spins until released with its
/// caller's return address still on top of the stack (assembly, so no
/// compiler can give it a prologue). Caught here, it is a callback "in its
/// prologue".
void tk_test_spin_frameless(void);

/// A callback with a frame that calls another function with a frame, which
/// spins until released: the caller of this one is two frames down.
void tk_test_callback_deep(void);

/// Bytes malloc has handed out and not taken back, over every arena
/// (mallinfo2().uordblks): the per-thread memory test counts it.
size_t tk_test_malloc_in_use(void);

/// A user's own C leaf for `ctx.cancellableCall`: nanosleep(2) for the `long`
/// count of microseconds the argument points to (not NULL, despite the type
/// `cancellableCall` asks for). Returns 0, or -errno (-EINVAL if negative).
long tk_test_leaf_usleep(void *_Nullable microseconds);
/// x86_64 only (tk_test_frameless.S): calls memchr(buffer, 1, count) in a
/// loop until `tk_test_release`, with a stack top that looks like a
/// prologue's at every return from memchr (its own rbp, then a libc address).
void tk_test_memchr_loop_stale_words(const void *buffer, size_t count);

/// Sleeps `sleeps` times for `nanoseconds` each with nanosleep(3), going on
/// with the remaining time after an EINTR, once it has set `tk_test_inside`.
/// Returns the EINTRs it saw: what foreign code that a pending kill keeps
/// signalling would see.
long tk_test_sleeps_interrupted(long sleeps, long nanoseconds);

/// PCRE2's matcher, as `pcre2_match_8` is declared (opaque pointers).
typedef int (*tk_test_pcre2_match_fn)(const void *_Nullable code, const unsigned char *_Nullable subject, size_t length,
                                      size_t start, unsigned options, void *_Nullable data, void *_Nullable context);

/// Calls `match` and stores its result in `*result` (releasing) before it
/// returns: the result is written by the instructions right after the
/// library's return, where a Swift caller in a debug build would first make
/// runtime calls (retain, release) that a pending kill can land in.
void tk_test_pcre2_match_store(tk_test_pcre2_match_fn match, const void *_Nullable code, const unsigned char *_Nullable subject,
                               size_t length, void *_Nullable data, void *_Nullable context, int *result);

/// The system call glibc's nanosleep makes (clock_nanosleep): where that leaf blocks.
long tk_test_SYS_clock_nanosleep(void);

/// Makes the kernel refuse `timer_create` with EAGAIN in every thread of this
/// process, from now on (a seccomp filter, synchronized to all threads): what
/// a process whose pending-signal budget (RLIMIT_SIGPENDING) is spent sees.
/// For a child process of its own. Returns 0, or -1 with errno set.
int tk_test_refuse_timer_create(void);

#if defined(__clang__)
#pragma clang assume_nonnull end
#endif

#endif
