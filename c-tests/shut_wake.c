/* shutdown() as a wake-up and a pause, compared with the kernel (the server side is
 * `seq_fuzz server`, which this client ends with QUIT):
 *  1. UDP: a thread blocked in recvfrom() on an unconnected socket wakes with 0 when another
 *     thread calls shutdown(SHUT_RDWR) (which itself fails with ENOTCONN); then sends fail with
 *     EPIPE, a non-blocking read says EAGAIN, and poll and epoll report POLLHUP.
 *  2. A listener paused with shutdown(SHUT_WR) + shutdown(SHUT_RD) and resumed with listen(),
 *     as HAProxy does: a blocked accept() wakes with EINVAL, accept() and connect() on it are
 *     EINVAL while paused, a client is refused, and after listen() a client is accepted and
 *     served on the same descriptor.
 *  3. A failed blocking connect: recv() is ENOTCONN, listen() EINVAL, then bind(); a connect
 *     refused at once after it (EINVAL) leaves the socket unconnected (send EPIPE).
 *  4. connect() again on the socket whose connect failed, until the server is up (the "wait for
 *     the port" loop): blocking, non-blocking (ECONNABORTED first) with poll, and with an
 *     epoll registration made once before the first attempt, on the loopback; and to the server
 *     host after a refused port; the connection then carries data both ways.
 *  5. connect(AF_UNSPEC) on a connection: the peer is reset, the socket reads ECONNRESET then
 *     ENOTCONN, and it connects again.
 *  6. connect(AF_UNSPEC) on a listener stops it as shutdown() does: connect() is EINVAL, a
 *     read ENOTCONN (the accept wake-ups never read as data), and listen() resumes it.
 *  7. A connection over the loopback keeps its TIME-WAIT on the side that closed first: bind()
 *     to that address and port is EADDRINUSE without SO_REUSEADDR (also to 0.0.0.0), allowed
 *     with it; the side that closed second keeps nothing.
 *  8. connect() from a port bind() named to the peer its TIME-WAIT is with succeeds (Linux's
 *     tcp_twsk_unique takes over a TIME-WAIT that saw timestamps for a bound port; the
 *     tcp_tw_reuse sysctl is for ports it picks).
 *
 *   shut_wake client -c HOST -p PORT
 */
#include "common.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/epoll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *res(int r) { return r < 0 ? errno_name(errno) : "0"; }
static const char *nres(ssize_t r) {
    static char b[32];
    if (r < 0) return errno_name(errno);
    snprintf(b, sizeof b, "%zd", r);
    return b;
}

/* The blocked calls' results, printed after the join (output order is the main thread's). */
static int fd_in_thread;
static char woke[64];
static void *blocked_recv(void *arg) {
    char b[16];
    ssize_t n = recvfrom(fd_in_thread, b, sizeof b, 0, NULL, NULL);
    snprintf(woke, sizeof woke, "%s", nres(n));
    return arg;
}
static void *blocked_accept(void *arg) {
    int c = accept(fd_in_thread, NULL, NULL);
    snprintf(woke, sizeof woke, "%s", c < 0 ? errno_name(errno) : "a connection");
    if (c >= 0) close(c);
    return arg;
}

static void on_loopback(struct sockaddr_in *a, int port) { make_addr(a, "127.0.0.1", port); }

/* Waits for a non-blocking connect on `c` (with epoll instance `ep`, else poll) and prints
 * the readiness and SO_ERROR. */
static void wait_connect(const char *m, int c, int ep) {
    int e = 0;
    socklen_t el = sizeof e;
    char f[96];
    if (ep >= 0) {
        struct epoll_event got = { 0 };
        int pr = epoll_wait(ep, &got, 1, 2000);
        /* Known difference: epoll cannot show EPOLLERR for a failed connect (poll does). */
        printf("%s: epoll_wait %d %s data %llu\n", m, pr, epoll_flags(got.events & ~EPOLLERR, f, sizeof f),
               (unsigned long long)got.data.u64);
    } else {
        struct pollfd p = { .fd = c, .events = POLLOUT };
        int pr = poll(&p, 1, 2000);
        printf("%s: poll %d %s\n", m, pr, poll_flags(p.revents, f, sizeof f));
    }
    getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &el);
    printf("%s: SO_ERROR %s\n", m, e ? errno_name(e) : "0");
}

static int client(const struct opts *o) {
    int port = o->port + 1; /* this client's loopback ports: port+1 to port+5 */
    struct sockaddr_in a;
    pthread_t t;

    /* 1. UDP */
    int u = udp_bound("127.0.0.1", port, 0);
    fd_in_thread = u;
    pthread_create(&t, NULL, blocked_recv, NULL);
    usleep(200000);
    printf("udp: shutdown SHUT_RDWR unconnected: %s\n", res(shutdown(u, SHUT_RDWR)));
    pthread_join(t, NULL);
    printf("udp: blocked recvfrom returned %s\n", woke);
    on_loopback(&a, port);
    printf("udp: sendto after SHUT_WR: %s\n", nres(sendto(u, "x", 1, 0, (struct sockaddr *)&a, sizeof a)));
    char b[16];
    printf("udp: recv MSG_DONTWAIT: %s\n", nres(recv(u, b, sizeof b, MSG_DONTWAIT)));
    {
        /* Shut both ways: POLLHUP with the rest (datagram_poll), to poll and epoll. */
        char f[96];
        struct pollfd p = {u, POLLIN | POLLOUT | POLLRDHUP, 0};
        int pr = poll(&p, 1, 1000);
        printf("udp: poll after SHUT_RDWR %d %s\n", pr, poll_flags(p.revents, f, sizeof f));
        p.events = 0;
        pr = poll(&p, 1, 1000);
        printf("udp: poll for nothing %d %s\n", pr, poll_flags(p.revents, f, sizeof f));
        int ep = epoll_create1(0);
        struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = 7}, got;
        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, u, &ev) < 0) DIE("epoll");
        pr = epoll_wait(ep, &got, 1, 1000);
        printf("udp: epoll for writing %d %s\n", pr, pr == 1 ? epoll_flags(got.events, f, sizeof f) : "-");
        close(ep);
    }
    close(u);

    /* 2. Listener paused and resumed */
    int l = tcp_socket();
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    on_loopback(&a, port);
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 8) < 0) DIE("listener");
    fd_in_thread = l;
    pthread_create(&t, NULL, blocked_accept, NULL);
    usleep(200000);
    printf("listener: shutdown SHUT_WR: %s\n", res(shutdown(l, SHUT_WR)));
    printf("listener: shutdown SHUT_RD: %s\n", res(shutdown(l, SHUT_RD)));
    pthread_join(t, NULL);
    printf("listener: blocked accept returned %s\n", woke);
    printf("listener: accept while paused: %s\n", res(accept(l, NULL, NULL)));
    struct sockaddr_in r;
    make_addr(&r, o->host, o->port);
    printf("listener: connect on it while paused: %s\n", res(connect(l, (struct sockaddr *)&r, sizeof r)));
    int c = tcp_socket();
    printf("listener: a client while paused: %s\n", res(connect(c, (struct sockaddr *)&a, sizeof a)));
    close(c);
    printf("listener: listen again: %s\n", res(listen(l, 8)));
    c = tcp_socket();
    printf("listener: a client after: %s\n", res(connect(c, (struct sockaddr *)&a, sizeof a)));
    int s = accept(l, NULL, NULL);
    printf("listener: accept after: %s\n", s < 0 ? errno_name(errno) : "a connection");
    if (s >= 0) {
        ssize_t w = write(c, "hello", 5);
        ssize_t n = read(s, b, sizeof b);
        printf("listener: %s bytes written, %s read\n", nres(w), nres(n));
        close(s);
    }
    close(c);
    close(l);

    /* 3. A failed blocking connect */
    c = tcp_socket();
    on_loopback(&a, port + 1); /* nobody listens */
    printf("refused: connect: %s\n", res(connect(c, (struct sockaddr *)&a, sizeof a)));
    printf("refused: recv: %s\n", nres(recv(c, b, sizeof b, MSG_DONTWAIT)));
    printf("refused: listen: %s\n", res(listen(c, 1)));
    on_loopback(&a, port + 1);
    printf("refused: bind to a port: %s\n", res(bind(c, (struct sockaddr *)&a, sizeof a)));
    close(c);
    /* The address bind() named stays when the failure releases the port bind() left to us
     * (SOCK_BINDADDR_LOCK): a loopback source still cannot reach the server host (EINVAL). */
    c = tcp_socket();
    on_loopback(&a, 0);
    a.sin_addr.s_addr = htonl(0x7f000002); /* 127.0.0.2 */
    printf("refused: bind 127.0.0.2:0: %s\n", res(bind(c, (struct sockaddr *)&a, sizeof a)));
    on_loopback(&a, port + 1);
    printf("refused: connect: %s\n", res(connect(c, (struct sockaddr *)&a, sizeof a)));
    struct sockaddr_in srv;
    make_addr(&srv, o->host, o->port);
    printf("refused: then to the server host: %s\n", res(connect(c, (struct sockaddr *)&srv, sizeof srv)));
    /* Refused at once: still an unconnected socket (seq_fuzz seed 132 of the SO_REUSEPORT draw). */
    printf("refused: send: %s\n", nres(send(c, "x", 1, MSG_NOSIGNAL)));
    printf("refused: recv: %s\n", nres(recv(c, b, sizeof b, MSG_DONTWAIT)));
    close(c);

    /* 4. connect() again after a failure */
    for (int nb = 0; nb < 3; nb++) {
        const char *m = nb == 2 ? "again (epoll)" : nb ? "again (non-blocking)" : "again (blocking)";
        c = tcp_socket();
        if (nb) set_nonblock(c, 1);
        int ep = -1;
        if (nb == 2) { /* registered once, before the first attempt: it must see the last one */
            struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = 7 };
            ep = epoll_create1(0);
            if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) < 0) DIE("epoll");
        }
        on_loopback(&a, port + 2 + nb); /* nobody listens yet */
        int r = connect(c, (struct sockaddr *)&a, sizeof a);
        printf("%s: connect: %s\n", m, res(r));
        if (nb) {
            wait_connect(m, c, ep);
            printf("%s: connect: %s\n", m, res(connect(c, (struct sockaddr *)&a, sizeof a)));
        }
        int l = tcp_socket();
        int one = 1;
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4) < 0) DIE("listen");
        r = connect(c, (struct sockaddr *)&a, sizeof a);
        printf("%s: connect once listening: %s\n", m, res(r));
        if (nb) {
            wait_connect(m, c, ep);
            set_nonblock(c, 0);
        }
        int s = accept(l, NULL, NULL);
        ssize_t w = write(c, "ping", 4), n = s < 0 ? -1 : read(s, b, sizeof b);
        ssize_t w2 = s < 0 ? -1 : write(s, "pong!", 5), n2 = read(c, b, sizeof b);
        printf("%s: wrote %zd, read %zd; back: wrote %zd, read %zd\n", m, w, n, w2, n2);
        if (s >= 0) close(s);
        if (ep >= 0) close(ep);
        close(c);
        close(l);
    }
    c = tcp_socket();
    make_addr(&a, o->host, o->port + 6); /* a port the server host refuses */
    printf("again (remote): connect to a closed port: %s\n", res(connect(c, (struct sockaddr *)&a, sizeof a)));
    make_addr(&a, o->host, o->port);
    printf("again (remote): connect to the server: %s\n", res(connect(c, (struct sockaddr *)&a, sizeof a)));
    ssize_t w = write(c, "hello", 5), n = read(c, b, sizeof b);
    printf("again (remote): wrote %zd, %zd echoed\n", w, n);
    close(c);

    /* 5. connect(AF_UNSPEC) on a connection */
    {
        int l = tcp_socket(), one = 1, e = 0;
        socklen_t el = sizeof e;
        on_loopback(&a, port + 5);
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4) < 0) DIE("listen");
        c = tcp_socket();
        if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) DIE("connect");
        int s = accept(l, NULL, NULL);
        if (s < 0 || write(s, "unread", 6) != 6) DIE("accept");
        usleep(100000);
        struct sockaddr un = { .sa_family = AF_UNSPEC };
        printf("unspec: connect(AF_UNSPEC): %s\n", res(connect(c, &un, sizeof un)));
        usleep(100000);
        printf("unspec: the peer reads: %s\n", nres(recv(s, b, sizeof b, MSG_DONTWAIT)));
        getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &el);
        printf("unspec: SO_ERROR %s\n", e ? errno_name(e) : "0");
        printf("unspec: recv: %s\n", nres(recv(c, b, sizeof b, MSG_DONTWAIT)));
        printf("unspec: send: %s\n", nres(send(c, "x", 1, MSG_NOSIGNAL)));
        struct sockaddr_in pa;
        socklen_t pl = sizeof pa;
        printf("unspec: getpeername: %s\n", res(getpeername(c, (struct sockaddr *)&pa, &pl)));
        printf("unspec: connect again: %s\n", res(connect(c, (struct sockaddr *)&a, sizeof a)));
        close(s);
        s = accept(l, NULL, NULL);
        ssize_t w = write(c, "ping", 4), n = s < 0 ? -1 : read(s, b, sizeof b);
        printf("unspec: wrote %zd, read %zd\n", w, n);
        if (s >= 0) close(s);
        close(c);
        close(l);
    }

    /* 6. connect(AF_UNSPEC) on a listener */
    {
        int l = tcp_socket(); /* not bound: listen() picks the port */
        socklen_t al = sizeof a;
        if (listen(l, 4) < 0 || getsockname(l, (struct sockaddr *)&a, &al) < 0) DIE("listen");
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        struct sockaddr un = { .sa_family = AF_UNSPEC };
        printf("listener unspec: connect(AF_UNSPEC): %s\n", res(connect(l, &un, sizeof un)));
        struct sockaddr_in r;
        make_addr(&r, o->host, o->port);
        printf("listener unspec: connect: %s\n", res(connect(l, (struct sockaddr *)&r, sizeof r)));
        printf("listener unspec: recv: %s\n", nres(recv(l, b, sizeof b, MSG_DONTWAIT)));
        printf("listener unspec: accept: %s\n", res(accept(l, NULL, NULL)));
        printf("listener unspec: listen again: %s\n", res(listen(l, 4)));
        /* The port listen() picked went with the stop (inet_put_port): listen() picks again. */
        struct sockaddr_in a2;
        al = sizeof a2;
        getsockname(l, (struct sockaddr *)&a2, &al);
        printf("listener unspec: the same port: %s\n", a2.sin_port == a.sin_port ? "yes" : "no");
        a.sin_port = a2.sin_port;
        c = tcp_socket();
        printf("listener unspec: a client: %s\n", res(connect(c, (struct sockaddr *)&a, sizeof a)));
        int s = accept(l, NULL, NULL);
        printf("listener unspec: accept after: %s\n", s < 0 ? errno_name(errno) : "a connection");
        if (s >= 0) close(s);
        close(c);
        close(l);
    }

    /* 7. TIME-WAIT over the loopback: the server closing first (its listener with
     * SO_REUSEADDR, then with SO_REUSEPORT alone), then the client (without either) */
    for (int mode = 0; mode < 3; mode++) {
        static const char *const how[] = {"server first", "client first", "server first, SO_REUSEPORT"};
        int l = tcp_socket(), one = 1, server_first = mode != 1;
        /* The option also lets an earlier run's TIME-WAIT (same option) be: */
        on_loopback(&a, port + 6 + (mode == 2));
        setsockopt(l, SOL_SOCKET, mode == 2 ? SO_REUSEPORT : SO_REUSEADDR, &one, sizeof one);
        if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4) < 0) DIE("listen");
        c = tcp_socket();
        struct sockaddr_in ca;
        socklen_t cl = sizeof ca;
        on_loopback(&ca, 0);
        if (bind(c, (struct sockaddr *)&ca, sizeof ca) < 0 || getsockname(c, (struct sockaddr *)&ca, &cl) < 0)
            DIE("bind");
        if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) DIE("connect");
        int s = accept(l, NULL, NULL);
        if (s < 0) DIE("accept");
        close(server_first ? s : c);
        usleep(100000);
        close(server_first ? c : s);
        close(l);
        usleep(100000);
        for (int which = 0; which < 2; which++) { /* the listener's port, the client's */
            struct sockaddr_in t = which ? ca : a, any = t;
            any.sin_addr.s_addr = htonl(INADDR_ANY);
            printf("loopback tw (%s): %s port:", how[mode], which ? "client" : "listener");
            for (int k = 0; k < 4; k++) { /* plain, on 0.0.0.0, SO_REUSEADDR, SO_REUSEPORT */
                int x = tcp_socket();
                if (k >= 2) setsockopt(x, SOL_SOCKET, k == 2 ? SO_REUSEADDR : SO_REUSEPORT, &one, sizeof one);
                struct sockaddr_in *to = k == 1 ? &any : &t;
                printf(" %s", res(bind(x, (struct sockaddr *)to, sizeof *to)));
                close(x);
            }
            printf("\n");
        }
    }

    /* 8. connect() again from the same bound port to the same server host, in TIME-WAIT */
    {
        int one = 1;
        struct sockaddr_in ca, sa;
        socklen_t cl = sizeof ca;
        make_addr(&sa, o->host, o->port);
        c = tcp_socket();
        setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        make_addr(&ca, "0.0.0.0", 0);
        if (bind(c, (struct sockaddr *)&ca, sizeof ca) < 0 || getsockname(c, (struct sockaddr *)&ca, &cl) < 0)
            DIE("bind");
        if (connect(c, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("connect");
        close(c); /* first: this side keeps the TIME-WAIT (the server closes on EOF) */
        usleep(200000);
        c = tcp_socket();
        setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        printf("tw reconnect: bind the same port: %s\n", res(bind(c, (struct sockaddr *)&ca, sizeof ca)));
        printf("tw reconnect: connect the same peer: %s\n", res(connect(c, (struct sockaddr *)&sa, sizeof sa)));
        close(c);
    }

    seq_fuzz_quit(o);
    return 0;
}

int main(int argc, char **argv) {
    watchdog(30);
    return run_role(argc, argv, "shut_wake client -c HOST -p PORT", seq_fuzz_only, client);
}
