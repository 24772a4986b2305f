/* user_rights server -p PORT | user_rights client -c HOST -p PORT   (run as root)
 * Sockets of a process that gave up root, as daemons do (memcached -u, postgres under its own
 * user): any user may make and use sockets, and the kernel checks the caller's rights.
 * Server: root listens on PORT with SO_REUSEPORT; a child switches to nobody (65534) and tries
 * bind() of privileged ports (TCP 80, UDP 53, TCP 1023: EACCES without CAP_NET_BIND_SERVICE),
 * port 0, joining root's SO_REUSEPORT group on PORT (EADDRINUSE: another user's group), then
 * listens on PORT+1 and serves one connection; root then joins its own group (allowed).
 * Client: a child switches to nobody before its first socket and talks to PORT+1; then root
 * talks to PORT. Each line prints the result of one call. */
#include "common.h"

#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void result(const char *what, int r) {
    printf("%s: %s\n", what, r < 0 ? errno_name(errno) : "ok");
    fflush(stdout);
}

static void become_nobody(void) {
    if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0) DIE("drop to nobody");
}

/* A socket of type `ty` bound to port (with SO_REUSEPORT if reuseport); result printed. Returns
 * the socket, or -1 after closing it when the bind failed. */
static int bound(const char *what, int ty, int port, int reuseport) {
    int s = socket(AF_INET, ty, 0), one = 1;
    if (s < 0) DIE("socket");
    if (reuseport && setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) DIE("SO_REUSEPORT");
    struct sockaddr_in sa;
    make_addr(&sa, NULL, port);
    int r = bind(s, (struct sockaddr *)&sa, sizeof sa);
    result(what, r);
    if (r < 0) {
        close(s);
        return -1;
    }
    return s;
}

/* One exchange on a connected socket: reads a line, answers with it reversed. */
static void serve_one(int l, const char *who) {
    int c = accept(l, NULL, NULL);
    if (c < 0) DIE("accept");
    char buf[64] = { 0 };
    long n = read(c, buf, sizeof buf - 1);
    if (n <= 0) DIE("read");
    char out[64];
    snprintf(out, sizeof out, "%s got %.*s", who, (int)n, buf);
    if (write_all(c, out, strlen(out)) < 0) DIE("write");
    close(c);
}

static int server(const struct opts *o) {
    int l = bound("root: bind PORT with SO_REUSEPORT", SOCK_STREAM, o->port, 1);
    if (l < 0 || listen(l, 8) < 0) DIE("listen");
    int sync[2];
    if (pipe(sync) < 0) DIE("pipe");
    pid_t pid = fork();
    if (pid < 0) DIE("fork");
    if (pid == 0) {
        close(sync[0]);
        become_nobody();
        int s;
        if ((s = bound("nobody: bind TCP port 80", SOCK_STREAM, 80, 0)) >= 0) close(s);
        if ((s = bound("nobody: bind TCP port 1023", SOCK_STREAM, 1023, 0)) >= 0) close(s);
        if ((s = bound("nobody: bind UDP port 53", SOCK_DGRAM, 53, 0)) >= 0) close(s);
        if ((s = bound("nobody: bind TCP port 0", SOCK_STREAM, 0, 0)) >= 0) close(s);
        {
            /* A foreign address is checked first: EADDRNOTAVAIL, not EACCES. */
            int f = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in sa;
            make_addr(&sa, "10.9.9.9", 80);
            result("nobody: bind TCP 10.9.9.9:80", bind(f, (struct sockaddr *)&sa, sizeof sa));
            close(f);
        }
        if ((s = bound("nobody: join root's SO_REUSEPORT group on PORT", SOCK_STREAM, o->port, 1)) >= 0) close(s);
        int m = bound("nobody: bind PORT+1", SOCK_STREAM, o->port + 1, 0);
        if (m < 0) _exit(1);
        result("nobody: listen on PORT+1", listen(m, 8));
        if (write(sync[1], "r", 1) != 1) DIE("sync");
        close(sync[1]);
        serve_one(m, "nobody");
        _exit(0);
    }
    close(sync[1]);
    char b;
    if (read(sync[0], &b, 1) != 1) {
        printf("child failed before listening\n");
        return 1;
    }
    int s2 = bound("root: join its own SO_REUSEPORT group on PORT", SOCK_STREAM, o->port, 1);
    signal_ready(o);
    int st = 0;
    waitpid(pid, &st, 0);
    printf("child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    if (s2 >= 0) close(s2); /* before accepting: the connection goes to l */
    serve_one(l, "root");
    return 0;
}

static void talk(const struct opts *o, int port, const char *line) {
    int s = tcp_connect(o->host, port);
    if (write_all(s, line, strlen(line)) < 0) DIE("write");
    char buf[128] = { 0 };
    long n = read_full(s, buf, sizeof buf - 1);
    printf("%s\n", n > 0 ? buf : "(nothing)");
    close(s);
}

static int client(const struct opts *o) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) DIE("fork");
    if (pid == 0) {
        become_nobody();
        talk(o, o->port + 1, "hello-from-nobody");
        fflush(stdout);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    printf("client child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    talk(o, o->port, "hello-from-root");
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "user_rights server -p PORT | user_rights client -c HOST -p PORT", server, client);
}
