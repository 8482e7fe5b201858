// The raw C floor for `threadkill latency`: the same kills as ThreadKill's,
// done with no library, each measured from "kill requested" to "pthread_join
// returned" (CLOCK_MONOTONIC, nanoseconds). Used only by the CLI.
#ifndef CLATENCYFLOOR_H
#define CLATENCYFLOOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Every pointer here is non-null unless marked _Nullable (nothing under gcc).
#if defined(__clang__)
#pragma clang assume_nonnull begin
#elif !defined(_Nullable)
#define _Nullable
#endif

/// CLOCK_MONOTONIC in nanoseconds.
uint64_t CLatencyFloor_nowNanos(void);
/// The calling thread's kernel thread id.
int32_t CLatencyFloor_gettid(void);
/// SIGRTMIN and SIGRTMAX (functions in glibc, so not importable as macros).
int CLatencyFloor_sigrtmin(void);
int CLatencyFloor_sigrtmax(void);
/// The syscall numbers the handshakes look for.
long CLatencyFloor_SYS_read(void);
long CLatencyFloor_SYS_futex(void);
/// 1 if `signo` has the default disposition (no handler, not ignored).
int CLatencyFloor_hasDefaultDisposition(int signo);

/// Waits until thread `tid` of this process is blocked in syscall `nr`
/// (read from /proc/self/task/TID/syscall). Returns 0, or ETIMEDOUT after
/// `timeoutNanos`.
int CLatencyFloor_waitInSyscall(int32_t tid, long nr, uint64_t timeoutNanos);
/// Waits until some thread of this process is blocked in syscall `nr` with
/// first argument `arg0` (for a call made on a helper thread whose id the
/// caller does not know). Returns 0, or ETIMEDOUT after `timeoutNanos`.
int CLatencyFloor_waitAnyInSyscall(long nr, long arg0, uint64_t timeoutNanos);
/// Busy-waits `nanos` (the short bounded spin after an "entered" handshake).
void CLatencyFloor_spin(uint64_t nanos);

// Each floor runs `warmup` discarded trials, then `n` measured ones, one new
// thread per trial, and writes `n` samples to `samples` (NULL only when `n`
// is 0). Returns 0 or an errno value (EBUSY: `signo` does not have the
// default disposition).

/// (a) An atomic stop flag seen by a spinning thread → join.
int CLatencyFloor_flagJoin(uint64_t *_Nullable samples, size_t n, size_t warmup);
/// (b) pthread_kill(signo) → a thread blocked in read(2) on a pipe gets EINTR
/// (handler without SA_RESTART) → join.
int CLatencyFloor_interruptReadJoin(int signo, uint64_t *_Nullable samples, size_t n, size_t warmup);
/// (c) pthread_kill(signo) → the handler siglongjmps out of a spinning loop → join.
int CLatencyFloor_longjmpJoin(int signo, uint64_t *_Nullable samples, size_t n, size_t warmup);
/// (d) pthread_cancel of a thread blocked in read(2) on a pipe → join.
int CLatencyFloor_cancelReadJoin(uint64_t *_Nullable samples, size_t n, size_t warmup);

#if defined(__clang__)
#pragma clang assume_nonnull end
#endif

#ifdef __cplusplus
}
#endif

#endif
