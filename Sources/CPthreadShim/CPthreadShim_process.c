// Process helpers for IsolatedProcess: raw syscalls that glibc may lack,
// variadic calls and union fields Swift cannot reach. No policy here.
#include "CPthreadShim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

// Reads all of a small /proc file into a fresh NUL-terminated buffer (free it).
static char *readProcFile(const char *path, size_t *size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t capacity = 1 << 14;
    char *text = malloc(capacity);
    *size = 0;
    while (text != NULL) {
        if (capacity - *size < 1024) {
            char *bigger = realloc(text, capacity *= 2);
            if (bigger == NULL) free(text);
            text = bigger;
            continue;
        }
        ssize_t n = read(fd, text + *size, capacity - *size - 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n < 0) { free(text); text = NULL; }
            break;
        }
        *size += (size_t)n;
    }
    int err = errno;
    close(fd);
    if (text != NULL) text[*size] = 0; else errno = err;
    return text;
}

// Whether every page of [start, end) is either not there or a page-cache
// page: none is a private anonymous copy (a written page) or swapped out.
static int onlyPageCache(int pagemap, uintptr_t start, uintptr_t end) {
    uint64_t entries[512];
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (uintptr_t address = start; address < end; ) {
        size_t pages = (end - address) / page;
        if (pages > 512) pages = 512;
        ssize_t n = pread(pagemap, entries, pages * sizeof entries[0], (off_t)(address / page * sizeof entries[0]));
        if (n <= 0) return 0;
        size_t got = (size_t)n / sizeof entries[0];
        for (size_t i = 0; i < got; i++) {
            uint64_t e = entries[i];
            int present = (int)(e >> 63 & 1), swapped = (int)(e >> 62 & 1), file = (int)(e >> 61 & 1);
            if (swapped || (present && !file)) return 0;
        }
        address += got * page;
    }
    return 1;
}

// Whether any of `fds` is readable now.
static int anyReadable(const int *fds, int count) {
    struct pollfd polled[8];
    if (count > 8) count = 8;
    for (int i = 0; i < count; i++) polled[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
    int n;
    do { n = poll(polled, (nfds_t)count, 0); } while (n < 0 && errno == EINTR);
    return n != 0;  // an error counts: stop rather than keep the caller from it
}

long CPthreadShim_drop_clean_file_mappings(const int *stopFDs, int stopCount) {
    size_t size;
    // Read all of it before changing anything: the file is generated as it is read.
    char *maps = readProcFile("/proc/self/maps", &size);
    if (maps == NULL) return -1;
    int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pagemap < 0) { free(maps); return -1; }
    const uintptr_t chunk = 1 << 20;  // then look at stopFDs again
    long dropped = 0;
    int stopped = 0;
    for (char *line = maps; line < maps + size && !stopped; ) {
        char *next = strchr(line, '\n');
        if (next == NULL) next = maps + size; else *next++ = 0;
        // "start-end perms offset dev inode   path": a private (p), non-writable
        // (-) mapping of a file (an absolute path; not [vdso], [heap], …).
        unsigned long long a, b;
        char perms[5] = {0};
        int path = 0;
        if (sscanf(line, "%llx-%llx %4s %*s %*s %*s %n", &a, &b, perms, &path) == 3 && path > 0
            && line[path] == '/' && perms[1] == '-' && perms[3] == 'p') {
            for (uintptr_t start = (uintptr_t)a; start < (uintptr_t)b; start += chunk) {
                if ((stopped = anyReadable(stopFDs, stopCount))) break;
                uintptr_t end = (uintptr_t)b - start > chunk ? start + chunk : (uintptr_t)b;
                // EINVAL for a locked or special mapping: it stays as it is.
                if (onlyPageCache(pagemap, start, end) && madvise((void *)start, end - start, MADV_DONTNEED) == 0) {
                    dropped += (long)(end - start);
                }
            }
        }
        line = next;
    }
    close(pagemap);
    free(maps);
    return dropped;
}
