// Process helpers for IsolatedProcess: raw syscalls that glibc may lack,
// variadic calls and union fields Swift cannot reach. No policy here.
#include "CPthreadShim.h"

#include <errno.h>
#include <spawn.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if !defined(_GNU_SOURCE)
#error "CPthreadShim needs _GNU_SOURCE (set in Package.swift)"
#endif

// Raw syscalls, not glibc's wrappers (2.36+): the build must not need a new
// glibc, and an old kernel must answer ENOSYS, which Swift turns into the
// kill(2)/waitid(2) fallback.
int CPthreadShim_pidfd_open(pid_t pid, unsigned int flags) {
#if defined(SYS_pidfd_open)
    return (int)syscall(SYS_pidfd_open, pid, flags);
#else
    (void)pid;
    (void)flags;
    errno = ENOSYS;
    return -1;
#endif
}

int CPthreadShim_pidfd_send_signal(int pidfd, int sig, unsigned int flags) {
#if defined(SYS_pidfd_send_signal)
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, flags);
#else
    (void)pidfd;
    (void)sig;
    (void)flags;
    errno = ENOSYS;
    return -1;
#endif
}

// prctl is variadic.
int CPthreadShim_prctl_set_pdeathsig(int sig) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0UL, 0UL, 0UL);
}

int CPthreadShim_prctl_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL);
}

// signalfd(2) is not in Swift's Glibc module.
int CPthreadShim_signalfd(const sigset_t *mask) {
    return signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

int CPthreadShim_posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int CPthreadShim_memfd_create(const char *name) {
    return memfd_create(name, MFD_CLOEXEC);
}

int CPthreadShim_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}

// siginfo_t keeps the status in a union Swift sees only by its private names.
int CPthreadShim_waitid_pid(pid_t pid, int options, int *code, int *status) {
    siginfo_t info;
    memset(&info, 0, sizeof info);  // WNOHANG with nothing to report leaves si_pid 0
    if (waitid(P_PID, (id_t)pid, &info, options) != 0) return -1;
    *code = info.si_pid == 0 ? 0 : info.si_code;
    *status = info.si_pid == 0 ? 0 : info.si_status;
    return 0;
}

// SCM_RIGHTS needs the CMSG_* macros, which Swift does not import.
int CPthreadShim_send_byte_with_fd(int socket, unsigned char byte, int fd) {
    union { struct cmsghdr header; char space[CMSG_SPACE(sizeof(int))]; } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1,
                              .msg_control = control.space, .msg_controllen = sizeof control.space };
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(header), &fd, sizeof(int));
    ssize_t n;
    do { n = sendmsg(socket, &message, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

long CPthreadShim_recv_byte_with_fd(int socket, unsigned char *byte, int *fd) {
    union { struct cmsghdr header; char space[CMSG_SPACE(4 * sizeof(int))]; } control;
    struct iovec iov = { .iov_base = byte, .iov_len = 1 };
    struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1,
                              .msg_control = control.space, .msg_controllen = sizeof control.space };
    *fd = -1;
    ssize_t n;
    do { n = recvmsg(socket, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n <= 0) return n;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&message); h != NULL; h = CMSG_NXTHDR(&message, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int received;
            memcpy(&received, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
            if (*fd < 0) *fd = received; else close(received);
        }
    }
    return n;
}
