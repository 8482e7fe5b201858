// The C latency floor (DESIGN.md §9, mechanisms.md §E), re-measured in the
// same run as ThreadKill's kills so that `threadkill latency` reports ratios.
#include "CLatencyFloor.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

uint64_t CLatencyFloor_nowNanos(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int32_t CLatencyFloor_gettid(void) { return (int32_t)syscall(SYS_gettid); }
int CLatencyFloor_sigrtmin(void) { return SIGRTMIN; }
int CLatencyFloor_sigrtmax(void) { return SIGRTMAX; }
long CLatencyFloor_SYS_read(void) { return SYS_read; }
long CLatencyFloor_SYS_futex(void) { return SYS_futex; }

int CLatencyFloor_hasDefaultDisposition(int signo) {
    struct sigaction old;
    if (sigaction(signo, NULL, &old) != 0) return 0;
    return !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL;
}

void CLatencyFloor_spin(uint64_t nanos) {
    uint64_t end = CLatencyFloor_nowNanos() + nanos;
    while (CLatencyFloor_nowNanos() < end) {
    }
}

// Whether /proc/self/task/TID/syscall shows syscall `nr`.
static int inSyscall(const char *tid, long nr) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%s/syscall", tid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[256];
    int found = 0;
    if (fgets(line, sizeof line, f)) {
        char *end;
        long got = strtol(line, &end, 10);
        found = end != line && got == nr;
    }
    fclose(f);
    return found;
}

int CLatencyFloor_waitInSyscall(int32_t tid, long nr, uint64_t timeoutNanos) {
    char name[16];
    snprintf(name, sizeof name, "%d", (int)tid);
    uint64_t deadline = CLatencyFloor_nowNanos() + timeoutNanos;
    while (!inSyscall(name, nr)) {
        if (CLatencyFloor_nowNanos() > deadline) return ETIMEDOUT;
        sched_yield();
    }
    return 0;
}

// MARK: Per-trial state (one target thread at a time)

typedef struct {
    atomic_int entered;
    atomic_int stop;
    atomic_int tid;
    int fd;
} Trial;

static void waitEntered(Trial *t) {
    while (!atomic_load_explicit(&t->entered, memory_order_acquire)) sched_yield();
}

// Starts `target` on a new thread and returns once it spins (20 µs after it
// said it entered); 0 with errno set if the thread could not start.
static int spinningTrial(Trial *t, pthread_t *th, void *(*target)(void *)) {
    if ((errno = pthread_create(th, NULL, target, t)) != 0) return 0;
    waitEntered(t);
    CLatencyFloor_spin(20000);
    return 1;
}

// Runs warmup + n trials of `body`, which returns a sample or 0 on failure
// (errno set).
typedef uint64_t (*TrialFn)(int signo, int fd);

static int runTrials(TrialFn fn, int signo, int fd, uint64_t *samples, size_t n, size_t warmup) {
    for (size_t i = 0; i < warmup + n; i++) {
        uint64_t sample = fn(signo, fd);
        if (sample == 0) return errno ? errno : EIO;
        if (i >= warmup) samples[i - warmup] = sample;
    }
    return 0;
}

// MARK: (a) flag

static void *flagTarget(void *arg) {
    Trial *t = arg;
    atomic_store_explicit(&t->entered, 1, memory_order_release);
    while (!atomic_load_explicit(&t->stop, memory_order_acquire)) {
    }
    return NULL;
}

static uint64_t flagTrial(int signo, int fd) {
    (void)signo, (void)fd;
    Trial t = {0};
    pthread_t th;
    if (!spinningTrial(&t, &th, flagTarget)) return 0;
    uint64_t start = CLatencyFloor_nowNanos();
    atomic_store_explicit(&t.stop, 1, memory_order_release);
    pthread_join(th, NULL);
    return CLatencyFloor_nowNanos() - start;
}

int CLatencyFloor_flagJoin(uint64_t *samples, size_t n, size_t warmup) {
    return runTrials(flagTrial, 0, -1, samples, n, warmup);
}

// MARK: The spare signal's handler: EINTR, or siglongjmp when armed

static _Thread_local sigjmp_buf jumpBuffer;
static _Thread_local volatile sig_atomic_t jumpArmed;

static void handler(int signo) {
    (void)signo;
    if (jumpArmed) {
        jumpArmed = 0;
        siglongjmp(jumpBuffer, 1);
    }
}

static int installHandler(int signo, struct sigaction *old) {
    if (!CLatencyFloor_hasDefaultDisposition(signo)) return EBUSY;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: read(2) returns EINTR
    return sigaction(signo, &sa, old) == 0 ? 0 : errno;
}

// MARK: (b) pthread_kill → EINTR

static void *readTarget(void *arg) {
    Trial *t = arg;
    atomic_store_explicit(&t->tid, CLatencyFloor_gettid(), memory_order_relaxed);
    atomic_store_explicit(&t->entered, 1, memory_order_release);
    char byte;
    ssize_t r = read(t->fd, &byte, 1);
    return (r < 0 && errno == EINTR) ? NULL : (void *)1;
}

static uint64_t blockedTrial(Trial *t, pthread_t *th, void *(*target)(void *)) {
    if ((errno = pthread_create(th, NULL, target, t)) != 0) return 0;
    waitEntered(t);
    if ((errno = CLatencyFloor_waitInSyscall(atomic_load(&t->tid), SYS_read, 5000000000u)) != 0) return 0;
    return 1;
}

static uint64_t interruptTrial(int signo, int fd) {
    Trial t = {.fd = fd};
    pthread_t th;
    if (!blockedTrial(&t, &th, readTarget)) return 0;
    uint64_t start = CLatencyFloor_nowNanos();
    pthread_kill(th, signo);
    void *result;
    pthread_join(th, &result);
    uint64_t sample = CLatencyFloor_nowNanos() - start;
    if (result != NULL) { errno = EPROTO; return 0; }
    return sample;
}

static int withPipe(TrialFn fn, int signo, uint64_t *samples, size_t n, size_t warmup) {
    int fds[2];
    if (pipe(fds) != 0) return errno;
    int err = runTrials(fn, signo, fds[0], samples, n, warmup);
    close(fds[0]);
    close(fds[1]);
    return err;
}

int CLatencyFloor_interruptReadJoin(int signo, uint64_t *samples, size_t n, size_t warmup) {
    struct sigaction old;
    int err = installHandler(signo, &old);
    if (err) return err;
    err = withPipe(interruptTrial, signo, samples, n, warmup);
    sigaction(signo, &old, NULL);
    return err;
}

// MARK: (c) siglongjmp out of a spinning loop

static void *spinTarget(void *arg) {
    Trial *t = arg;
    if (sigsetjmp(jumpBuffer, 1) != 0) return NULL;  // the kill landed
    jumpArmed = 1;
    atomic_store_explicit(&t->entered, 1, memory_order_release);
    volatile uint64_t x = 0x9E3779B97F4A7C15u;
    for (;;) x = x * 6364136223846793005u + 1442695040888963407u;
}

static uint64_t jumpTrial(int signo, int fd) {
    (void)fd;
    Trial t = {0};
    pthread_t th;
    if (!spinningTrial(&t, &th, spinTarget)) return 0;
    uint64_t start = CLatencyFloor_nowNanos();
    pthread_kill(th, signo);
    pthread_join(th, NULL);
    return CLatencyFloor_nowNanos() - start;
}

int CLatencyFloor_longjmpJoin(int signo, uint64_t *samples, size_t n, size_t warmup) {
    struct sigaction old;
    int err = installHandler(signo, &old);
    if (err) return err;
    err = runTrials(jumpTrial, signo, -1, samples, n, warmup);
    sigaction(signo, &old, NULL);
    return err;
}

// MARK: (d) pthread_cancel of a blocked read

static void *cancelTarget(void *arg) {
    Trial *t = arg;
    atomic_store_explicit(&t->tid, CLatencyFloor_gettid(), memory_order_relaxed);
    atomic_store_explicit(&t->entered, 1, memory_order_release);
    char byte;
    (void)read(t->fd, &byte, 1);  // a cancellation point
    return (void *)1;
}

static uint64_t cancelTrial(int signo, int fd) {
    (void)signo;
    Trial t = {.fd = fd};
    pthread_t th;
    if (!blockedTrial(&t, &th, cancelTarget)) return 0;
    uint64_t start = CLatencyFloor_nowNanos();
    pthread_cancel(th);
    void *result;
    pthread_join(th, &result);
    uint64_t sample = CLatencyFloor_nowNanos() - start;
    if (result != PTHREAD_CANCELED) { errno = EPROTO; return 0; }
    return sample;
}

int CLatencyFloor_cancelReadJoin(uint64_t *samples, size_t n, size_t warmup) {
    return withPipe(cancelTrial, 0, samples, n, warmup);
}

// MARK: Batch floors (checkpoint, spawn, mass stop, memory, process)

#include <linux/futex.h>
#include <malloc.h>
#include <spawn.h>
#include <sys/wait.h>

static _Thread_local volatile _Atomic int checkpointFlag;  // volatile: one load per iteration, as a checkpoint does

uint64_t CLatencyFloor_flagLoop(uint64_t iterations) {
    uint64_t start = CLatencyFloor_nowNanos();
    for (uint64_t i = 0; i < iterations; i++) {
        if (atomic_load_explicit(&checkpointFlag, memory_order_relaxed)) return 0;
    }
    return CLatencyFloor_nowNanos() - start;
}

static void futexWait(atomic_uint *word, unsigned expected) {
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futexWake(atomic_uint *word) {
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

typedef struct {
    atomic_uint word;  // 0: wait; 1: return
    atomic_int entered;
    atomic_int tid;    // set by sleepingTarget only
    int fd;
} Sleeper;

static void *sleeperMain(void *arg) {
    Sleeper *s = arg;
    atomic_store_explicit(&s->entered, 1, memory_order_release);
    while (atomic_load_explicit(&s->word, memory_order_acquire) == 0) futexWait(&s->word, 0);
    return NULL;
}

static int createWithStack(pthread_t *th, size_t stackSize, void *(*fn)(void *), void *arg) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (stackSize) pthread_attr_setstacksize(&attr, stackSize);
    int err = pthread_create(th, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return err;
}

uint64_t CLatencyFloor_spawnStopJoin(size_t n) {
    uint64_t start = CLatencyFloor_nowNanos();
    for (size_t i = 0; i < n; i++) {
        Sleeper s = {0};
        pthread_t th;
        if (pthread_create(&th, NULL, sleeperMain, &s) != 0) return 0;
        atomic_store_explicit(&s.word, 1, memory_order_release);
        futexWake(&s.word);
        pthread_join(th, NULL);
    }
    return CLatencyFloor_nowNanos() - start;
}

int CLatencyFloor_countInSyscall(long nr) {
    DIR *dir = opendir("/proc/self/task");
    if (!dir) return -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] != '.' && inSyscall(entry->d_name, nr)) count++;
    }
    closedir(dir);
    return count;
}

static int waitCountInSyscall(long nr, int n) {
    uint64_t deadline = CLatencyFloor_nowNanos() + 60000000000u;
    while (CLatencyFloor_countInSyscall(nr) < n) {
        if (CLatencyFloor_nowNanos() > deadline) return ETIMEDOUT;
        sched_yield();
    }
    return 0;
}

static void *massReadMain(void *arg) {
    Sleeper *s = arg;
    atomic_store_explicit(&s->entered, 1, memory_order_release);
    char byte;
    ssize_t r = read(s->fd, &byte, 1);
    return (r < 0 && errno == EINTR) ? NULL : (void *)1;
}

static uint64_t massRun(size_t n, size_t stackSize, int signo, int fd, int *err) {
    Sleeper *sleepers = calloc(n, sizeof *sleepers);
    pthread_t *threads = calloc(n, sizeof *threads);
    if (!sleepers || !threads) { free(sleepers); free(threads); *err = ENOMEM; return 0; }
    size_t made = 0;
    for (; made < n; made++) {
        sleepers[made].fd = fd;
        if ((*err = createWithStack(&threads[made], stackSize, signo ? massReadMain : sleeperMain, &sleepers[made])) != 0) break;
    }
    uint64_t elapsed = 0;
    if (*err == 0) {
        for (size_t i = 0; i < n; i++) {
            while (!atomic_load_explicit(&sleepers[i].entered, memory_order_acquire)) sched_yield();
        }
        *err = waitCountInSyscall(signo ? SYS_read : SYS_futex, (int)n);
    }
    uint64_t start = CLatencyFloor_nowNanos();
    for (size_t i = 0; i < made; i++) {
        if (signo && *err == 0) {
            pthread_kill(threads[i], signo);
        } else {
            atomic_store_explicit(&sleepers[i].word, 1, memory_order_release);
            futexWake(&sleepers[i].word);
            if (signo) pthread_kill(threads[i], signo);
        }
    }
    for (size_t i = 0; i < made; i++) pthread_join(threads[i], NULL);
    elapsed = CLatencyFloor_nowNanos() - start;
    free(sleepers);
    free(threads);
    return *err ? 0 : elapsed;
}

uint64_t CLatencyFloor_massInterruptRead(int signo, int fd, size_t n, size_t stackSize, int *err) {
    struct sigaction old;
    *err = installHandler(signo, &old);
    if (*err) return 0;
    uint64_t elapsed = massRun(n, stackSize, signo, fd, err);
    sigaction(signo, &old, NULL);
    return elapsed;
}

uint64_t CLatencyFloor_massWakeSleepers(size_t n, size_t stackSize, int *err) {
    *err = 0;
    return massRun(n, stackSize, 0, -1, err);
}

size_t CLatencyFloor_mallocInUse(void) { return mallinfo2().uordblks; }

long CLatencyFloor_idleThreadMalloc(size_t n, size_t stackSize, int *err) {
    Sleeper *sleepers = calloc(n, sizeof *sleepers);
    pthread_t *threads = calloc(n, sizeof *threads);
    if (!sleepers || !threads) { free(sleepers); free(threads); *err = ENOMEM; return 0; }
    size_t before = CLatencyFloor_mallocInUse();
    size_t made = 0;
    *err = 0;
    for (; made < n; made++) {
        if ((*err = createWithStack(&threads[made], stackSize, sleeperMain, &sleepers[made])) != 0) break;
    }
    for (size_t i = 0; i < made; i++) {
        while (!atomic_load_explicit(&sleepers[i].entered, memory_order_acquire)) sched_yield();
    }
    size_t after = CLatencyFloor_mallocInUse();
    for (size_t i = 0; i < made; i++) {
        atomic_store_explicit(&sleepers[i].word, 1, memory_order_release);
        futexWake(&sleepers[i].word);
        pthread_join(threads[i], NULL);
    }
    free(sleepers);
    free(threads);
    return *err ? 0 : ((long)after - (long)before) / (long)n;
}

long CLatencyFloor_SYS_pause(void) {
#ifdef SYS_pause
    return SYS_pause;
#else
    return -1;
#endif
}

int CLatencyFloor_waitProcessInSyscall(int pid, long nr, uint64_t timeoutNanos) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    uint64_t deadline = CLatencyFloor_nowNanos() + timeoutNanos;
    for (;;) {
        DIR *dir = opendir(path);
        if (!dir) return errno;
        int found = 0;
        struct dirent *entry;
        while (!found && (entry = readdir(dir)) != NULL) {
            if (entry->d_name[0] == '.') continue;
            char file[300];  // "/proc/" + pid + "/task/" + a 255-byte name + "/syscall"
            snprintf(file, sizeof file, "/proc/%d/task/%s/syscall", pid, entry->d_name);
            FILE *f = fopen(file, "r");
            if (!f) continue;
            char line[256];
            if (fgets(line, sizeof line, f)) {
                char *end;
                long got = strtol(line, &end, 10);
                found = end != line && got == nr;
            }
            fclose(f);
        }
        closedir(dir);
        if (found) return 0;
        if (CLatencyFloor_nowNanos() > deadline) return ETIMEDOUT;
        sched_yield();
    }
}

extern char **environ;

uint64_t CLatencyFloor_killReap(const char *path, char *const argv[], int *err) {
    pid_t pid;
    *err = posix_spawn(&pid, path, NULL, NULL, argv, environ);
    if (*err) return 0;
    *err = CLatencyFloor_waitProcessInSyscall(pid, CLatencyFloor_SYS_pause(), 10000000000u);
    uint64_t start = CLatencyFloor_nowNanos();
    kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    uint64_t elapsed = CLatencyFloor_nowNanos() - start;
    return *err ? 0 : elapsed;
}

// MARK: (e) store + FUTEX_WAKE of a futex-waiting thread → join

static void *sleepingTarget(void *arg) {
    Sleeper *s = arg;
    atomic_store_explicit(&s->tid, CLatencyFloor_gettid(), memory_order_relaxed);
    return sleeperMain(arg);
}

static uint64_t wakeTrial(int signo, int fd) {
    (void)signo, (void)fd;
    Sleeper s = {0};
    pthread_t th;
    if ((errno = pthread_create(&th, NULL, sleepingTarget, &s)) != 0) return 0;
    while (!atomic_load_explicit(&s.entered, memory_order_acquire)) sched_yield();
    int err = CLatencyFloor_waitInSyscall(atomic_load_explicit(&s.tid, memory_order_relaxed), SYS_futex, 5000000000u);
    uint64_t start = CLatencyFloor_nowNanos();
    atomic_store_explicit(&s.word, 1, memory_order_release);
    futexWake(&s.word);
    pthread_join(th, NULL);
    uint64_t sample = CLatencyFloor_nowNanos() - start;
    if (err != 0) { errno = err; return 0; }
    return sample;
}

int CLatencyFloor_wakeSleeperJoin(uint64_t *samples, size_t n, size_t warmup) {
    return runTrials(wakeTrial, 0, -1, samples, n, warmup);
}
