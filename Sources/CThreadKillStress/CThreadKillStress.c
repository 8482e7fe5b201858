#include "CThreadKillStress.h"

#include <errno.h>
#include <unistd.h>

long tk_stress_leaf_read(void *arg) {
    tk_stress_read_call *call = arg;
    call->entered = 1;
    long n = read(call->fd, call->buffer, call->count);
    long result = n < 0 ? -errno : n;
    call->returned = 1;
    return result;
}

void tk_stress_leaf_cleanup(void *arg) {
    tk_stress_read_call *call = arg;
    call->cleanups++;
}
