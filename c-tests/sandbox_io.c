/* sandbox_io server -p PORT | sandbox_io client -c HOST -p PORT [-b BYTES] [-s SEED]
 * I/O on a connected socket after a seccomp filter like OpenSSH's pre-authentication sandbox
 * (sandbox-seccomp-filter.c): once connected, each side allows only read, write, poll, close,
 * exit and the memory and time calls; any other system call kills the process (SIGSYS), as in
 * sshd, whose network child then drops the connection. The client write()s BYTES seeded bytes;
 * the server read()s exactly BYTES and write()s back the 64-digit SHA-256 of what it got; the
 * client read()s that and compares. A shim must carry read()/write() on a socket with the
 * read/write system calls, not recvfrom/sendto. Both print counts and sums. */
#include "common.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ALLOW(nr) BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET + BPF_K, SECCOMP_RET_ALLOW)

/* The filter; stdout is flushed first (stdio's first write needs fstat). */
static void sandbox(void) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD + BPF_W + BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET + BPF_K, SECCOMP_RET_ALLOW), /* other architectures: no sandbox */
        BPF_STMT(BPF_LD + BPF_W + BPF_ABS, offsetof(struct seccomp_data, nr)),
        ALLOW(__NR_read),          ALLOW(__NR_write),         ALLOW(__NR_poll),
        ALLOW(__NR_ppoll),         ALLOW(__NR_close),         ALLOW(__NR_exit),
        ALLOW(__NR_exit_group),    ALLOW(__NR_rt_sigreturn),  ALLOW(__NR_rt_sigprocmask),
        ALLOW(__NR_brk),           ALLOW(__NR_mmap),          ALLOW(__NR_munmap),
        ALLOW(__NR_madvise),       ALLOW(__NR_futex),         ALLOW(__NR_clock_gettime),
        ALLOW(__NR_clock_nanosleep), ALLOW(__NR_nanosleep),   ALLOW(__NR_getpid),
        ALLOW(__NR_gettid),        ALLOW(__NR_getrandom),     ALLOW(__NR_fstat),
        ALLOW(__NR_newfstatat),    ALLOW(__NR_shutdown),
        BPF_STMT(BPF_RET + BPF_K, SECCOMP_RET_KILL),
    };
    struct sock_fprog p = {.len = (unsigned short)(sizeof f / sizeof f[0]), .filter = f};
    fflush(stdout);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) DIE("prctl(PR_SET_NO_NEW_PRIVS)");
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p) < 0) DIE("prctl(PR_SET_SECCOMP)");
}

static long long request_len(const struct opts *o) {
    return o->bytes >= 0 ? o->bytes : 200000;
}

static int server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 4);
    signal_ready(o);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) DIE("accept");
    sandbox();
    static char buf[65536];
    struct sha256 c;
    sha256_init(&c);
    long long total = request_len(o), got = 0;
    while (got < total) {
        size_t want = total - got < (long long)sizeof buf ? (size_t)(total - got) : sizeof buf;
        ssize_t r = read(fd, buf, want);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) DIE("read");
        if (r == 0) break;
        sha256_update(&c, buf, (size_t)r);
        got += r;
    }
    char hex[65];
    sha256_hex(&c, hex);
    if (write_all(fd, hex, 64) < 0) DIE("write");
    printf("server: read %lld bytes sha256 %s\n", got, hex);
    if (close(fd) < 0) DIE("close");
    return 0;
}

static int client(const struct opts *o) {
    if (!o->host) die("-c HOST is required", 0);
    int fd = tcp_connect(o->host, o->port);
    sandbox();
    static char buf[65536];
    struct rng r;
    rng_seed(&r, o->seed);
    struct sha256 c;
    sha256_init(&c);
    long long total = request_len(o), sent = 0;
    while (sent < total) {
        size_t len = total - sent < (long long)sizeof buf ? (size_t)(total - sent) : sizeof buf;
        rng_fill(&r, buf, len);
        sha256_update(&c, buf, len);
        if (write_all(fd, buf, len) < 0) DIE("write");
        sent += (long long)len;
    }
    char hex[65], reply[65] = {0};
    sha256_hex(&c, hex);
    long n = read_full(fd, reply, 64);
    if (n < 0) DIE("read");
    printf("client: wrote %lld bytes sha256 %s\n", sent, hex);
    printf("client: reply of %ld bytes %s\n", n, strcmp(reply, hex) == 0 ? "matches" : "differs");
    if (close(fd) < 0) DIE("close");
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "sandbox_io server -p PORT | sandbox_io client -c HOST -p PORT [-b BYTES] [-s SEED]",
                    server, client);
}
