/* misc_calls server -p PORT | misc_calls client -c HOST -p PORT
 * Less common calls a real program makes, by result:
 *  client: SOCK_CLOEXEC / SOCK_NONBLOCK on socket(), bind to a chosen local port then connect,
 *  sendfile() from a file to the socket, EPOLLONESHOT (one event until re-armed), close()
 *  removing a socket from an epoll set, POLLNVAL for a closed descriptor, zero-length read,
 *  MSG_PEEK|MSG_DONTWAIT on an empty socket, shutdown(SHUT_RDWR), connect() to 0.0.0.0 (this
 *  host) and to a broadcast address (ENETUNREACH), closefrom(3) then a new connection.
 *  server: accept4() flags, the listener's port held by a TIME_WAIT connection (bind without
 *  SO_REUSEADDR fails with EADDRINUSE, with it succeeds), then serves a second connection. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <unistd.h>

static const char *res(long r) { return r < 0 ? errno_name(errno) : "OK"; }

static int server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 4);
    signal_ready(o);
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) DIE("accept4");
    printf("server: accept4 flags: O_NONBLOCK %d FD_CLOEXEC %d\n", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0,
           (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    set_nonblock(fd, 0);
    /* The sendfile payload: count and hash it until the client's 'E' marker, then answer. */
    static char buf[65536];
    struct sha256 h;
    sha256_init(&h);
    long long total = 0, want = 1 << 20;
    while (total < want) {
        long n = read(fd, buf, (size_t)(want - total < (long long)sizeof buf ? want - total : (long long)sizeof buf));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) die("sendfile payload cut short", n < 0 ? errno : 0);
        sha256_update(&h, buf, (size_t)n);
        total += n;
    }
    char hex[65];
    sha256_hex(&h, hex);
    printf("server: received %lld bytes sha256 %s\n", total, hex);
    if (write_all(fd, "x", 1) < 0) DIE("write x");
    long n = read_full(fd, buf, 1);
    printf("server: after the client's SHUT_RDWR: %s\n", n == 0 ? "EOF" : n < 0 ? errno_name(errno) : "data");
    close(fd);

    /* Connection 2: the server closes first, so the connection ends in TIME_WAIT here. The
     * listener goes first, so the client's retries are refused until the new one exists. */
    fd = accept(lfd, NULL, NULL);
    if (fd < 0) DIE("accept");
    close(lfd);
    if (write_all(fd, "y", 1) < 0) DIE("write y");
    close(fd);
    sleep_ms(500); /* the client reads EOF and closes: our side reaches TIME_WAIT */
    struct sockaddr_in sa;
    make_addr(&sa, NULL, o->port);
    int s = tcp_socket();
    printf("server: bind to the port in TIME_WAIT without SO_REUSEADDR: %s\n",
           res(bind(s, (struct sockaddr *)&sa, sizeof sa)));
    close(s);
    s = tcp_socket();
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    printf("server: with SO_REUSEADDR: %s\n", res(bind(s, (struct sockaddr *)&sa, sizeof sa)));
    if (listen(s, 4) < 0) DIE("listen");
    /* Connection 3 on the new listener. */
    fd = accept(s, NULL, NULL);
    if (fd < 0) DIE("accept 3");
    char c;
    n = read_full(fd, &c, 1);
    printf("server: third connection %s\n", n == 1 && c == 'z' ? "ok" : "bad");
    close(fd);
    close(s);
    return 0;
}

static int client(const struct opts *o) {
    char fl[128], b[16];
    struct sockaddr_in sa, me;
    socklen_t len;
    make_addr(&sa, o->host, o->port);

    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) DIE("socket");
    printf("socket flags: FD_CLOEXEC %d O_NONBLOCK %d\n", (fcntl(s, F_GETFD) & FD_CLOEXEC) != 0,
           (fcntl(s, F_GETFL) & O_NONBLOCK) != 0);
    set_nonblock(s, 0);
    make_addr(&me, NULL, o->port + 100);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    printf("bind to a chosen local port: %s\n", res(bind(s, (struct sockaddr *)&me, sizeof me)));
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("connect");
    len = sizeof me;
    getsockname(s, (struct sockaddr *)&me, &len);
    printf("local port kept after connect: %s\n", ntohs(me.sin_port) == o->port + 100 ? "yes" : "no");

    /* sendfile() of 1 MiB from a temporary file. */
    char path[] = "/tmp/misc_calls.XXXXXX";
    int f = mkstemp(path);
    if (f < 0) DIE("mkstemp");
    unlink(path);
    static char buf[1 << 20];
    struct rng r;
    rng_seed(&r, 17);
    rng_fill(&r, buf, sizeof buf);
    if (write_all(f, buf, sizeof buf) < 0) DIE("write file");
    struct sha256 h;
    sha256_init(&h);
    sha256_update(&h, buf, sizeof buf);
    char hex[65];
    sha256_hex(&h, hex);
    off_t off = 0;
    long long sent = 0;
    while (sent < (long long)sizeof buf) {
        ssize_t n = sendfile(s, f, &off, sizeof buf - (size_t)sent);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { printf("sendfile: %s\n", n < 0 ? errno_name(errno) : "0"); break; }
        sent += n;
    }
    if (sent < (long long)sizeof buf && write_all(s, buf + sent, sizeof buf - (size_t)sent) < 0)
        DIE("write after sendfile failed");
    close(f);
    printf("sendfile: %lld bytes, file sha256 %s\n", sent, hex);

    /* EPOLLONESHOT: the reply 'x' is reported once, not again until re-armed. */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) DIE("epoll_create1");
    struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u32 = 1 };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) < 0) DIE("epoll_ctl ADD");
    struct epoll_event out[4];
    int k = epoll_wait(ep, out, 4, 5000);
    printf("oneshot first wait: %d event(s) %s\n", k, k == 1 ? epoll_flags(out[0].events, fl, sizeof fl) : "");
    k = epoll_wait(ep, out, 4, 100);
    printf("oneshot second wait: %d event(s)\n", k);
    ev.events = EPOLLIN | EPOLLONESHOT;
    epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev);
    k = epoll_wait(ep, out, 4, 100);
    printf("oneshot after re-arm: %d event(s)\n", k);
    printf("zero-length read: %ld\n", (long)read(s, b, 0));
    printf("read reply: %ld\n", (long)read(s, b, 1));
    long n = recv(s, b, 1, MSG_PEEK | MSG_DONTWAIT);
    printf("MSG_PEEK|MSG_DONTWAIT on empty: %s\n", res(n));

    printf("shutdown SHUT_RDWR: %s\n", res(shutdown(s, SHUT_RDWR)));
    n = read(s, b, 1);
    printf("read after SHUT_RDWR: %s\n", n == 0 ? "EOF" : res(n));
    n = send(s, "q", 1, MSG_NOSIGNAL);
    printf("send after SHUT_RDWR: %s\n", res(n));

    /* close() removes the socket from the epoll set. */
    int s2 = tcp_connect(o->host, o->port);
    ev.events = EPOLLIN;
    ev.data.u32 = 2;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, s2, &ev) < 0) DIE("epoll_ctl ADD s2");
    k = epoll_wait(ep, out, 4, 5000); /* the server's 'y' then FIN */
    printf("second connection readable: %d event(s)\n", k);
    n = read_full(s2, b, 2);
    printf("second connection: %ld byte then EOF\n", n);
    close(s2);
    k = epoll_wait(ep, out, 4, 100);
    printf("after close, epoll reports: %d event(s)\n", k);
    close(ep);

    struct pollfd p = { .fd = s2, .events = POLLIN };
    k = poll(&p, 1, 0);
    printf("poll on the closed descriptor: %d %s\n", k, poll_flags(p.revents, fl, sizeof fl));
    close(s);

    /* closefrom(3), as daemons and OpenSSH call it: every descriptor of ours is closed and the
     * next socket works (glibc's closefrom closed tapstack's control channel from inside libc). */
    int d = dup(1);
    closefrom(3);
    printf("closefrom(3): a descriptor above 2 is %s\n", d >= 3 && fcntl(d, F_GETFD) < 0 && errno == EBADF ? "closed" : "open");

    /* Third connection: the server rebinds its port after TIME_WAIT; retry while refused. */
    int s3 = -1;
    for (int i = 0; i < 50; i++) {
        sleep_ms(100);
        s3 = tcp_socket();
        if (connect(s3, (struct sockaddr *)&sa, sizeof sa) == 0) break;
        close(s3);
        s3 = -1;
    }
    printf("third connection: %s\n", s3 >= 0 ? "connected" : "failed");
    if (s3 >= 0) {
        if (write(s3, "z", 1) != 1) DIE("write z");
        close(s3);
    }

    /* connect() to 0.0.0.0 means this host (Linux: the loopback): it reaches our own listener
     * on 0.0.0.0 (`curl http://0.0.0.0:8000/`). connect() to the network's broadcast address
     * (every topology is a /24) fails at once with ENETUNREACH, as to 255.255.255.255. */
    int l = tcp_listener(0, 1);
    struct sockaddr_in la;
    socklen_t ll = sizeof la;
    if (getsockname(l, (struct sockaddr *)&la, &ll) < 0) DIE("getsockname");
    struct sockaddr_in any;
    make_addr(&any, "0.0.0.0", ntohs(la.sin_port));
    int s4 = tcp_socket();
    int r4 = connect(s4, (struct sockaddr *)&any, sizeof any);
    printf("connect to 0.0.0.0 (own listener): %s\n", r4 == 0 ? "connected" : errno_name(errno));
    struct sockaddr_in pn;
    socklen_t pl = sizeof pn;
    if (r4 == 0 && getpeername(s4, (struct sockaddr *)&pn, &pl) == 0)
        printf("  its peer: %s\n", pn.sin_addr.s_addr == htonl(INADDR_LOOPBACK) ? "127.0.0.1" : "other");
    int a4 = r4 == 0 ? accept(l, NULL, NULL) : -1;
    if (a4 >= 0) {
        char c = 0;
        printf("  exchange: %s\n", write(s4, "q", 1) == 1 && read(a4, &c, 1) == 1 && c == 'q' ? "ok" : "bad");
        close(a4);
    }
    close(s4);
    close(l);
    struct sockaddr_in bc = sa;
    bc.sin_addr.s_addr = htonl((ntohl(sa.sin_addr.s_addr) & 0xffffff00u) | 0xffu);
    s4 = tcp_socket();
    printf("connect to the network's broadcast address: %s\n",
           connect(s4, (struct sockaddr *)&bc, sizeof bc) == 0 ? "connected" : errno_name(errno));
    close(s4);
    bc.sin_addr.s_addr = htonl(INADDR_BROADCAST);
    s4 = tcp_socket();
    printf("connect to 255.255.255.255: %s\n",
           connect(s4, (struct sockaddr *)&bc, sizeof bc) == 0 ? "connected" : errno_name(errno));
    close(s4);
    /* udp_sendmsg: destination port 0 is EINVAL, by sendto and by sendmsg. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in z = sa;
    z.sin_port = 0;
    printf("udp sendto port 0: %s\n", res(sendto(u, "z", 1, 0, (struct sockaddr *)&z, sizeof z)));
    struct iovec zv = {.iov_base = "z", .iov_len = 1};
    struct msghdr zm = {.msg_name = &z, .msg_namelen = sizeof z, .msg_iov = &zv, .msg_iovlen = 1};
    printf("udp sendmsg port 0: %s\n", res(sendmsg(u, &zm, 0)));
    close(u);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: misc_calls server -p PORT | client -c HOST -p PORT", server, client);
}
