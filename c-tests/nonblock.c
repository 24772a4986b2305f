/* nonblock server -p PORT | nonblock client -c HOST -p PORT
 * Non-blocking sockets step by step, printing errno names and poll flags:
 *  client: non-blocking connect to a closed port (EINPROGRESS, POLLOUT|POLLERR.., SO_ERROR
 *  ECONNREFUSED), then to the server (EINPROGRESS, POLLOUT, SO_ERROR 0, EISCONN on a second
 *  connect), EAGAIN on an empty read (also MSG_DONTWAIT on a blocking socket), a ping/pong,
 *  filling the send buffer to EAGAIN, POLLOUT once the server drains it, EOF.
 *  server: non-blocking listener (EAGAIN from accept with nothing pending, POLLIN when a
 *  connection waits), accepted socket not inheriting O_NONBLOCK, ping/pong, drains the fill
 *  after a pause, reports the byte count back and closes. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static short wait_fd(int fd, short events, int timeout_ms) {
    struct pollfd p = { .fd = fd, .events = events };
    int n;
    do n = poll(&p, 1, timeout_ms); while (n < 0 && errno == EINTR);
    if (n < 0) DIE("poll");
    return n == 0 ? 0 : p.revents;
}

static int so_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) DIE("SO_ERROR");
    return err;
}

static const char *res(ssize_t r) { return r < 0 ? errno_name(errno) : "OK"; }
static const char *nres(ssize_t r) {
    static char b[32];
    if (r < 0) return errno_name(errno);
    snprintf(b, sizeof b, "%zd", r);
    return b;
}

static int server(const struct opts *o) {
    char fl[128];
    int lfd = tcp_listener(o->port, 4);
    set_nonblock(lfd, 1);
    int fd = accept(lfd, NULL, NULL);
    printf("server: accept with nothing pending: %s\n", fd < 0 ? errno_name(errno) : "a connection?!");
    signal_ready(o);
    short re = wait_fd(lfd, POLLIN, 10000);
    printf("server: listener poll: %s\n", poll_flags(re, fl, sizeof fl));
    fd = accept(lfd, NULL, NULL);
    if (fd < 0) DIE("accept");
    printf("server: accepted socket O_NONBLOCK: %s\n", fcntl(fd, F_GETFL) & O_NONBLOCK ? "yes" : "no");
    char buf[65536];
    if (read_full(fd, buf, 4) != 4 || memcmp(buf, "ping", 4) != 0) die("expected ping", 0);
    if (write_all(fd, "pong", 4) < 0) DIE("write pong");
    if (read_full(fd, buf, 1) != 1 || buf[0] != 'f') die("expected f", 0);
    sleep_ms(500); /* let the client fill every buffer */
    long long total = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) DIE("read fill");
        if (r == 0) break;
        total += r;
    }
    char count[32];
    snprintf(count, sizeof count, "%020lld", total);
    if (write_all(fd, count, 20) < 0) DIE("write count");
    printf("server: ping/pong, fill drained to EOF, count sent\n");
    close(fd);
    close(lfd);
    return 0;
}

static int client(const struct opts *o) {
    char fl[128];
    struct sockaddr_in sa;
    /* 1. A closed port. */
    make_addr(&sa, o->host, o->port + 1);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) DIE("socket");
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    printf("closed port: connect %s\n", res(r));
    printf("closed port: poll POLLOUT: %s\n", poll_flags(wait_fd(fd, POLLOUT, 5000), fl, sizeof fl));
    int e1 = so_error(fd), e2 = so_error(fd);
    printf("closed port: SO_ERROR %s, then %s\n", errno_name(e1), errno_name(e2));
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    r = getpeername(fd, (struct sockaddr *)&peer, &plen);
    printf("closed port: getpeername %s\n", res(r));
    /* A failure no connect() reported reads as an end of stream (tcp_done's RCV_SHUTDOWN); the
     * next connect() reports it (ECONNABORTED, its error taken) and unconnects the socket
     * (tcp_disconnect: ENOTCONN); a new attempt that fails unreported reads 0 again. */
    char one[1];
    printf("closed port: recv %s\n", nres(recv(fd, one, 1, MSG_DONTWAIT)));
    short all = POLLIN | POLLOUT | POLLRDHUP;
    printf("closed port: poll unreported: %s\n", poll_flags(wait_fd(fd, all, 100), fl, sizeof fl));
    printf("closed port: connect again %s\n", res(connect(fd, (struct sockaddr *)&sa, sizeof sa)));
    printf("closed port: poll reported: %s\n", poll_flags(wait_fd(fd, all, 100), fl, sizeof fl));
    printf("closed port: recv %s\n", nres(recv(fd, one, 1, MSG_DONTWAIT)));
    printf("closed port: a new attempt %s\n", res(connect(fd, (struct sockaddr *)&sa, sizeof sa)));
    wait_fd(fd, POLLOUT, 5000);
    printf("closed port: SO_ERROR %s\n", errno_name(so_error(fd)));
    printf("closed port: recv %s\n", nres(recv(fd, one, 1, MSG_DONTWAIT)));
    /* A port bound after the failure is free as soon as the socket is closed. */
    struct sockaddr_in any;
    make_addr(&any, NULL, o->port + 3);
    printf("closed port: bind %s\n", res(bind(fd, (struct sockaddr *)&any, sizeof any)));
    close(fd);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) DIE("socket");
    printf("closed port: its port bound again after close: %s\n", res(bind(fd, (struct sockaddr *)&any, sizeof any)));
    close(fd);
    /* A bind() that meets a port in use clears the address the failed connect left (inet_bind
     * sets it before get_port fails); getsockname then says 0.0.0.0 with the old port. */
    int busy = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in bp;
    make_addr(&bp, NULL, o->port + 4);
    if (busy < 0 || bind(busy, (struct sockaddr *)&bp, sizeof bp) < 0 || listen(busy, 1) < 0) DIE("busy port");
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) DIE("socket");
    connect(fd, (struct sockaddr *)&sa, sizeof sa);
    wait_fd(fd, POLLOUT, 5000);
    (void)so_error(fd);
    printf("closed port: bind to a port in use: %s\n", res(bind(fd, (struct sockaddr *)&bp, sizeof bp)));
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    getsockname(fd, (struct sockaddr *)&me, &ml);
    printf("closed port: then the address: %s\n", me.sin_addr.s_addr == htonl(INADDR_ANY) ? "0.0.0.0" : "kept");
    close(fd);
    close(busy);

    /* 2. The server. */
    make_addr(&sa, o->host, o->port);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) DIE("socket");
    set_nonblock(fd, 1);
    r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    printf("connect: %s\n", res(r));
    printf("poll POLLOUT: %s\n", poll_flags(wait_fd(fd, POLLOUT, 5000), fl, sizeof fl));
    printf("SO_ERROR: %s\n", errno_name(so_error(fd)));
    r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    printf("second connect: %s\n", res(r));
    r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    printf("third connect: %s\n", res(r));
    plen = sizeof peer;
    r = getpeername(fd, (struct sockaddr *)&peer, &plen);
    printf("getpeername: %s\n", res(r));

    /* 3. Empty reads. */
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof buf);
    printf("empty read: %s\n", n < 0 ? errno_name(errno) : "data?!");
    set_nonblock(fd, 0);
    n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    printf("empty recv MSG_DONTWAIT on blocking socket: %s\n", n < 0 ? errno_name(errno) : "data?!");
    set_nonblock(fd, 1);

    /* 4. Ping/pong. */
    n = write(fd, "ping", 4);
    printf("write ping: %zd\n", n);
    long got = 0;
    while (got < 4) {
        short re = wait_fd(fd, POLLIN, 5000);
        if (!(re & POLLIN)) die("no pong within 5 s", 0);
        n = read(fd, buf + got, (size_t)(4 - got));
        if (n <= 0) die("pong read failed", n < 0 ? errno : 0);
        got += n;
    }
    printf("pong: %s\n", memcmp(buf, "pong", 4) == 0 ? "ok" : "bad");
    n = read(fd, buf, sizeof buf);
    printf("read after pong: %s\n", n < 0 ? errno_name(errno) : "data?!");

    /* 5. Fill until EAGAIN while the server does not read. */
    if (write(fd, "f", 1) != 1) DIE("write f");
    memset(buf, 'z', sizeof buf);
    long long filled = 0;
    int saw_eagain = 0;
    /* EAGAIN can come while data is still in flight: ACKs then free space again (how much
     * depends on timing and buffer sizes). Keep filling until the peer's window is full too,
     * i.e. until 50 ms pass without POLLOUT; only that state is the same on every stack. */
    short after = POLLOUT;
    while (filled < (256ll << 20) && (after & POLLOUT)) {
        n = write(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            saw_eagain = errno == EAGAIN;
            if (!saw_eagain) DIE("write fill");
            after = wait_fd(fd, POLLOUT, 50);
            continue;
        }
        filled += n;
    }
    printf("fill: %s\n", saw_eagain ? "EAGAIN" : "never blocked");
    printf("poll POLLOUT once the peer's window is full: %s\n", poll_flags(after, fl, sizeof fl));
    short re = wait_fd(fd, POLLOUT, 10000);
    printf("poll POLLOUT while the server drains: %s\n", poll_flags(re, fl, sizeof fl));
    if (shutdown(fd, SHUT_WR) < 0) DIE("shutdown");

    /* 6. The server's count, then EOF. */
    got = 0;
    while (got < 20) {
        re = wait_fd(fd, POLLIN, 10000);
        if (!(re & POLLIN)) die("no count within 10 s", 0);
        n = read(fd, buf + got, (size_t)(20 - got));
        if (n <= 0) die("count read failed", n < 0 ? errno : 0);
        got += n;
    }
    buf[20] = 0;
    printf("server received every byte: %s\n", atoll(buf) == filled + 0 ? "yes" : "no");
    re = wait_fd(fd, POLLIN | POLLRDHUP, 10000);
    printf("poll after server close: %s\n", poll_flags(re, fl, sizeof fl));
    n = read(fd, buf, sizeof buf);
    printf("read: %s\n", n == 0 ? "EOF" : n < 0 ? errno_name(errno) : "data?!");
    close(fd);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: nonblock server -p PORT | client -c HOST -p PORT", server, client);
}
