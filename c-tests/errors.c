/* errors server -p PORT | errors client -c HOST -p PORT
 * The errno a program sees, by name:
 *  - connect to a closed port (ECONNREFUSED);
 *  - connection 1: the server reads 'R' and aborts (SO_LINGER 0 -> RST); the client sees the
 *    poll flags, ECONNRESET on read, then EOF, then EPIPE on send;
 *  - connection 2: the server reads 'C' and closes (FIN); the client reads EOF, writes once
 *    (accepted, the peer answers RST), then gets EPIPE with MSG_NOSIGNAL (no signal) and EPIPE
 *    with SIGPIPE on a plain write;
 *  - connection 2b: the server reads 1 of 10 bytes and closes: unread data makes it send RST
 *    (RFC 2525 2.17), the client sees ECONNRESET;
 *  - calls in the wrong state (no peer needed);
 *  - connection 3: tells the server it may exit (so a shimmed server's stack lives until the
 *    client has finished with everything above). */
#include "common.h"

#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t sigpipes;
static void on_sigpipe(int sig) { (void)sig; sigpipes++; }

static const char *res(long r) { return r < 0 ? errno_name(errno) : "OK"; }

/* Bounds every blocking read of the client: a lost RST (TAPSTACK_FAULTS) must give a
 * difference, not a hang. Changes nothing when the RST arrives. */
static int bounded(int fd) {
    struct timeval tv = { 6, 0 };
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) DIE("SO_RCVTIMEO");
    return fd;
}

static short wait_fd(int fd, short events, int timeout_ms) {
    struct pollfd p = { .fd = fd, .events = events };
    int n;
    do n = poll(&p, 1, timeout_ms); while (n < 0 && errno == EINTR);
    if (n < 0) DIE("poll");
    return n == 0 ? 0 : p.revents;
}

static void wrong_state(void) {
    char b[8], fl[8];
    (void)fl;
    struct sockaddr_in sa, any;
    socklen_t len;

    int s = tcp_socket();
    printf("unconnected read: %s\n", res(read(s, b, sizeof b)));
    printf("unconnected recv: %s\n", res(recv(s, b, sizeof b, 0)));
    printf("unconnected send: %s\n", res(send(s, "x", 1, MSG_NOSIGNAL)));
    len = sizeof sa;
    printf("unconnected getpeername: %s\n", res(getpeername(s, (struct sockaddr *)&sa, &len)));
    printf("unconnected shutdown: %s\n", res(shutdown(s, SHUT_RDWR)));
    printf("accept on unlistened socket: %s\n", res(accept(s, NULL, NULL)));
    make_addr(&any, NULL, 0);
    printf("connect with short addrlen: %s\n", res(connect(s, (struct sockaddr *)&any, 4)));
    make_addr(&sa, "192.0.2.77", 0);
    printf("bind to a foreign address: %s\n", res(bind(s, (struct sockaddr *)&sa, sizeof sa)));
    printf("bind: %s\n", res(bind(s, (struct sockaddr *)&any, sizeof any)));
    printf("second bind: %s\n", res(bind(s, (struct sockaddr *)&any, sizeof any)));
    printf("listen: %s\n", res(listen(s, 4)));
    printf("second listen: %s\n", res(listen(s, 8)));
    printf("recv on listener: %s\n", res(recv(s, b, sizeof b, 0)));
    printf("send on listener: %s\n", res(send(s, "x", 1, MSG_NOSIGNAL)));
    make_addr(&sa, "10.0.0.1", 9);
    printf("connect on listener: %s\n", res(connect(s, (struct sockaddr *)&sa, sizeof sa)));

    /* The listener's port is taken: a second bind to it without SO_REUSEADDR fails. */
    struct sockaddr_in bound;
    len = sizeof bound;
    if (getsockname(s, (struct sockaddr *)&bound, &len) < 0) DIE("getsockname");
    int s2 = tcp_socket();
    printf("bind to a port in use: %s\n", res(bind(s2, (struct sockaddr *)&bound, sizeof bound)));
    close(s2);
    close(s);

    int t = socket(AF_INET, SOCK_STREAM, IPPROTO_UDP);
    printf("socket(SOCK_STREAM, IPPROTO_UDP): %s\n", res(t));
    if (t >= 0) close(t);
    s = tcp_socket();
    close(s);
    printf("read after close: %s\n", res(read(s, b, sizeof b)));
    printf("close twice: %s\n", res(close(s)));
    int v = 0;
    len = sizeof v;
    s = tcp_socket();
    printf("getsockopt unknown option: %s\n", res(getsockopt(s, SOL_SOCKET, 9999, &v, &len)));
    close(s);
}

static int client(const struct opts *o) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe;
    sigaction(SIGPIPE, &sa, NULL);
    char fl[128], b[64];
    struct sockaddr_in addr;

    /* Closed port. */
    make_addr(&addr, o->host, o->port + 1);
    int s = tcp_socket();
    printf("connect to a closed port: %s\n", res(connect(s, (struct sockaddr *)&addr, sizeof addr)));
    close(s);

    /* Connection 1: reset by the peer. */
    s = bounded(tcp_connect(o->host, o->port));
    if (write(s, "R", 1) != 1) DIE("write R");
    printf("reset: poll: %s\n", poll_flags(wait_fd(s, POLLIN, 5000), fl, sizeof fl));
    printf("reset: read: %s\n", res(read(s, b, sizeof b)));
    long r = read(s, b, sizeof b);
    printf("reset: read again: %s\n", r == 0 ? "EOF" : res(r));
    printf("reset: send: %s\n", res(send(s, "x", 1, MSG_NOSIGNAL)));
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
    printf("reset: SO_ERROR: %s\n", errno_name(err));
    close(s);

    /* Connection 2: EPIPE after the peer closed. */
    s = bounded(tcp_connect(o->host, o->port));
    if (write(s, "C", 1) != 1) DIE("write C");
    r = read(s, b, sizeof b);
    printf("peer closed: read: %s\n", r == 0 ? "EOF" : res(r));
    r = send(s, "data", 4, MSG_NOSIGNAL);
    printf("peer closed: first send: %s\n", r == 4 ? "4 bytes accepted" : res(r));
    printf("peer closed: poll after the peer's RST: %s\n", poll_flags(wait_fd(s, 0, 5000), fl, sizeof fl));
    r = send(s, "data", 4, MSG_NOSIGNAL);
    printf("peer closed: send MSG_NOSIGNAL: %s, SIGPIPE %d\n", res(r), (int)sigpipes);
    r = write(s, "data", 4);
    printf("peer closed: write: %s, SIGPIPE %d\n", res(r), (int)sigpipes);
    r = send(s, "data", 4, 0);
    printf("peer closed: send: %s, SIGPIPE %d\n", res(r), (int)sigpipes);
    close(s);

    /* Connection 2b: close with unread data -> RST. */
    s = bounded(tcp_connect(o->host, o->port));
    if (write(s, "U123456789", 10) != 10) DIE("write U");
    printf("unread data: poll: %s\n", poll_flags(wait_fd(s, POLLIN, 5000), fl, sizeof fl));
    r = read(s, b, sizeof b);
    printf("unread data: read: %s\n", r == 0 ? "EOF" : res(r));
    close(s);

    wrong_state();

    /* Connection 3: done. */
    s = bounded(tcp_connect(o->host, o->port));
    if (write(s, "E", 1) != 1) DIE("write E");
    r = read(s, b, sizeof b);
    printf("done: %s\n", r == 0 ? "EOF" : res(r));
    close(s);
    return 0;
}

static int server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 4);
    signal_ready(o);
    char c;
    for (int i = 0; i < 4; i++) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) DIE("accept");
        if (read_full(fd, &c, 1) != 1) die("no command", errno);
        printf("server: command %c\n", c);
        if (c == 'U') sleep_ms(100); /* the other 9 bytes arrive and stay unread */
        if (c == 'R') {
            struct linger l = { 1, 0 };
            if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) < 0) DIE("SO_LINGER");
        }
        close(fd);
        if (c == 'E') break;
    }
    close(lfd);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: errors server -p PORT | client -c HOST -p PORT", server, client);
}
