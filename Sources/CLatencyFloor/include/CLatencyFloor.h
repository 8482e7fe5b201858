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
#define _Nonnull
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
/// (e) Store + FUTEX_WAKE of a thread futex-waiting on its word (what a stop
/// of a thread in ctx.sleep does, with no library) → join.
int CLatencyFloor_wakeSleeperJoin(uint64_t *_Nullable samples, size_t n, size_t warmup);


// Batch floors: each returns a total (nanoseconds, bytes) for the whole batch.

/// Nanoseconds for `iterations` relaxed loads of a `_Thread_local` atomic flag
/// (the stop flag a checkpoint reads), in a loop that leaves when it is set.
uint64_t CLatencyFloor_flagLoop(uint64_t iterations);
/// Nanoseconds for `n` rounds of: pthread_create of a thread that futex-waits
/// on a word; set the word, futex_wake; pthread_join. 0 on failure.
uint64_t CLatencyFloor_spawnStopJoin(size_t n);
/// How many threads of this process are in syscall `nr` now (-1 on error).
int CLatencyFloor_countInSyscall(long nr);
/// `n` threads (stack `stackSize`, 0: default) blocked in read(2) on `fd`:
/// nanoseconds from the first pthread_kill(signo) to the last join (each
/// read returns EINTR). 0 and `*err` set on failure.
uint64_t CLatencyFloor_massInterruptRead(int signo, int fd, size_t n, size_t stackSize, int *err);
/// `n` threads futex-waiting on their own words: nanoseconds from the first
/// store + futex_wake to the last join.
uint64_t CLatencyFloor_massWakeSleepers(size_t n, size_t stackSize, int *err);
/// Bytes malloc has handed out and not taken back (mallinfo2().uordblks, all arenas).
size_t CLatencyFloor_mallocInUse(void);
/// Bytes of malloc per idle raw pthread (stack `stackSize`), measured over `n`.
long CLatencyFloor_idleThreadMalloc(size_t n, size_t stackSize, int *err);
/// SYS_pause (-1 where the architecture has none).
long CLatencyFloor_SYS_pause(void);
/// Waits until some thread of process `pid` is in syscall `nr`.
int CLatencyFloor_waitProcessInSyscall(int pid, long nr, uint64_t timeoutNanos);
/// posix_spawn(path, argv); waits until the child is in pause(2); nanoseconds
/// from kill(SIGKILL) to waitpid returning.
uint64_t CLatencyFloor_killReap(const char *path, char *_Nullable const argv[_Nonnull], int *err);

#if defined(__clang__)
#pragma clang assume_nonnull end
#endif


#ifdef __cplusplus
}
#endif

#endif
