// What glibc's stdio does when a blocked write fails with EINTR — which is
// what a kill makes of a write(2) inside `ctx.blocking { }`. No ThreadKill:
// a plain handler installed without SA_RESTART does the same to the syscall.
//
//   gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread scripts/stdio-eintr.c -o /tmp/stdio-eintr && /tmp/stdio-eintr
//
// A thread buffers 32 KiB in a FILE* on a pipe (4 KiB of capacity) and calls
// fflush, which blocks in write(2) once the pipe is full; the main thread
// waits until /proc says it is blocked in write, signals it, then drains the
// pipe. Output on glibc 2.36 (Docs/Interrupt.md quotes it):
//   fflush returned EOF, errno EINTR, ferror 1
//   delivered 4096 of 32768 bytes after 2 signal(s); the second fflush returned 0
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { TOTAL = 32768 };
static FILE *out;
static volatile pid_t writer_tid;
static int flush_result, flush_errno, second_flush, done;  // done: atomic

static void on_signal(int sig) { (void)sig; }

static void *writer(void *arg) {
    (void)arg;
    static char data[TOTAL];
    memset(data, 'x', sizeof data);
    fwrite(data, 1, sizeof data, out);  // fits in the buffer: nothing written yet
    writer_tid = (pid_t)syscall(SYS_gettid);
    flush_result = fflush(out);
    flush_errno = errno;
    second_flush = fflush(out);
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int blocked_in_write(pid_t tid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int nr = -1;
    if (fgets(line, sizeof line, f)) sscanf(line, "%d", &nr);
    fclose(f);
    return nr == SYS_write;
}

int main(void) {
    int p[2];
    if (pipe(p) != 0) return 1;
    fcntl(p[1], F_SETPIPE_SZ, 4096);
    out = fdopen(p[1], "w");
    static char buffer[65536];
    setvbuf(out, buffer, _IOFBF, sizeof buffer);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;  // no SA_RESTART: the blocked write fails with EINTR
    sigaction(SIGUSR1, &sa, NULL);

    pthread_t t;
    pthread_create(&t, NULL, writer, NULL);
    // Signal it whenever it is blocked in write, until its fflush calls end
    // (a write that had moved some bytes returns that count, and stdio
    // writes the rest: ThreadKill's watchdog resends the same way).
    int signals = 0;
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        if (writer_tid != 0 && blocked_in_write(writer_tid)) {
            pthread_kill(t, SIGUSR1);
            signals++;
        }
        sched_yield();
    }
    pthread_join(t, NULL);
    int after_first = ferror(out);
    fclose(out);  // flushes again: nothing is left to flush

    long delivered = 0;
    char chunk[4096];
    ssize_t n;
    while ((n = read(p[0], chunk, sizeof chunk)) > 0) delivered += n;
    printf("fflush returned %s, errno %s, ferror %d\n", flush_result == EOF ? "EOF" : "0",
           flush_errno == EINTR ? "EINTR" : strerror(flush_errno), after_first != 0);
    printf("delivered %ld of %d bytes after %d signal(s); the second fflush returned %d\n",
           delivered, TOTAL, signals, second_flush);
    return delivered == TOTAL ? 0 : 2;
}
