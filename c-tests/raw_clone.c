/* raw_clone server -p PORT | raw_clone client -c HOST -p PORT
 * Children made without libc's fork(), so no atfork handler runs in them:
 * - a raw clone(SIGCHLD) system call (vsftpd forks each session so, with CLONE_NEWIPC): the
 *   child has its own copy of memory and descriptors. It closes the inherited listener, and a
 *   socketpair made next gets the listener's number: reading and writing it must work as on any
 *   socketpair (tapstack kept the number marked as its listener: read gave ENOTCONN);
 * - vfork(): the child shares the parent's memory but not its descriptors. It closes the
 *   listener and exits; the parent's listener must still accept.
 * Each line prints one result; the client sends a line and prints the answer. */
#include "common.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *res(long r) { return r < 0 ? errno_name(errno) : "ok"; }

static int server(const struct opts *o) {
    int l = tcp_listener(o->port, 8);
    fflush(stdout);
    long pid = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
    if (pid < 0) DIE("clone");
    if (pid == 0) {
        close(l);
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) _exit(10);
        printf("clone child: socketpair got the listener's number: %s\n", sv[0] == l || sv[1] == l ? "yes" : "no");
        long w = write(sv[1], "ping", 4);
        printf("clone child: write: %s\n", res(w));
        char buf[8] = { 0 };
        long r = read(sv[0], buf, sizeof buf - 1);
        printf("clone child: read: %s %s\n", res(r), r > 0 ? buf : "");
        w = write(sv[0], "pong", 4);
        r = read(sv[1], buf, 4);
        printf("clone child: the other way: %s %.4s\n", res(r), r == 4 ? buf : "");
        fflush(stdout);
        _exit(0);
    }
    int st = 0;
    waitpid((pid_t)pid, &st, 0);
    printf("clone child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    pid_t v = vfork();
    if (v < 0) DIE("vfork");
    if (v == 0) {
        close(l);
        _exit(0);
    }
    waitpid(v, &st, 0);
    printf("vfork child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    fflush(stdout);
    signal_ready(o);
    int c = accept(l, NULL, NULL);
    printf("parent accept after both children closed the listener: %s\n", res(c));
    if (c < 0) return 1;
    char buf[64] = { 0 };
    long n = read(c, buf, sizeof buf - 1);
    if (n <= 0) DIE("read");
    char out[80];
    snprintf(out, sizeof out, "server got %.*s", (int)n, buf);
    if (write_all(c, out, strlen(out)) < 0) DIE("write");
    close(c);
    close(l);
    return 0;
}

static int client(const struct opts *o) {
    int s = tcp_connect(o->host, o->port);
    if (write_all(s, "hello", 5) < 0) DIE("write");
    char buf[80] = { 0 };
    long n = read_full(s, buf, sizeof buf - 1);
    printf("%s\n", n > 0 ? buf : "(nothing)");
    close(s);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "raw_clone server -p PORT | raw_clone client -c HOST -p PORT", server, client);
}
