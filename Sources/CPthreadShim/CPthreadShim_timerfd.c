// The watchdog's timer: a timerfd it sleeps on, which a kill arms instead of
// waking the watchdog (Watchdog.swift). Glibc's timerfd API is not visible
// to Swift through the Glibc module.
#include "tk_internal.h"

#include <sys/timerfd.h>

TK_SHIM int CPthreadShim_timerfd_create(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC); }

TK_SHIM int CPthreadShim_timerfd_arm(int fd, uint64_t nanos) {
    struct itimerspec spec = {0};
    if (nanos != UINT64_MAX) {
        if (nanos == 0) nanos = 1;  // all zero would disarm
        spec.it_value.tv_sec = (time_t)(nanos / 1000000000u);
        spec.it_value.tv_nsec = (long)(nanos % 1000000000u);
    }
    return timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, NULL);
}
