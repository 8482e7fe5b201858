#include "CThreadKillTestSupport.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// Read by the assembly spin too (tk_test_frameless.S): plain ints, accessed atomically.
int tk_test_inside_flag;
int tk_test_release_flag;

int tk_test_inside(void) { return __atomic_load_n(&tk_test_inside_flag, __ATOMIC_ACQUIRE); }
void tk_test_release(void) { __atomic_store_n(&tk_test_release_flag, 1, __ATOMIC_RELEASE); }
const int *tk_test_release_word(void) { return &tk_test_release_flag; }
void tk_test_reset(void) {
    __atomic_store_n(&tk_test_release_flag, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&tk_test_inside_flag, 0, __ATOMIC_RELEASE);
}

// Both keep their frame (SwiftPM compiles C targets with frame pointers) and
// neither is a tail call: the store after each call keeps the caller's frame live.
__attribute__((noinline)) static void tk_test_spin_framed(void) {
    __atomic_store_n(&tk_test_inside_flag, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&tk_test_release_flag, __ATOMIC_ACQUIRE)) {
    }
}

static int tk_test_depth_returns;

void tk_test_callback_deep(void) {
    tk_test_spin_framed();
    __atomic_add_fetch(&tk_test_depth_returns, 1, __ATOMIC_RELAXED);
}

long tk_test_leaf_usleep(void *microseconds) {
    long us = *(const long *)microseconds;
    if (us < 0) return -EINVAL;
    struct timespec request = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    return nanosleep(&request, NULL) == 0 ? 0 : -errno;
}

long tk_test_sleeps_interrupted(long sleeps, long nanoseconds) {
    __atomic_store_n(&tk_test_inside_flag, 1, __ATOMIC_RELEASE);
    long interrupted = 0;
    for (long i = 0; i < sleeps; i++) {
        struct timespec left = {.tv_sec = nanoseconds / 1000000000, .tv_nsec = nanoseconds % 1000000000};
        while (nanosleep(&left, &left) != 0 && errno == EINTR) interrupted++;
    }
    return interrupted;
}

size_t tk_test_malloc_in_use(void) { return mallinfo2().uordblks; }

long tk_test_SYS_clock_nanosleep(void) { return SYS_clock_nanosleep; }

void tk_test_pcre2_match_store(tk_test_pcre2_match_fn match, const void *code, const unsigned char *subject,
                               size_t length, void *data, void *context, int *result) {
    __atomic_store_n(result, match(code, subject, length, 0, 0, data, context), __ATOMIC_RELEASE);
}

// The filter reads the system call number alone, not the architecture: a
// test helper, for this process's own ABI.
int tk_test_refuse_timer_create(void) {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_timer_create, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EAGAIN & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = {.len = sizeof filter / sizeof filter[0], .filter = filter};
    // Without this, an unprivileged process may not install a filter.
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &program) == 0 ? 0 : -1;
}
