/* errno_keep server -p PORT | errno_keep client -c HOST -p PORT
 * A call that succeeds leaves errno as it was (issue 11 item 1): errno is set to a sentinel
 * before each successful socket call and read back after it. OpenSSL's socket BIO reads errno
 * after read() returns 0 and takes a stale EAGAIN for "retry", so a leaked errno turns an end of
 * stream into a busy loop. Also the calls whose result is 0 (read at EOF, poll with nothing
 * ready, epoll_wait timing out) and a call that fails (errno set to the call's error).
 * Each line: "CALL: kept" or "CALL: errno changed to ENAME" (or "CALL: failed ENAME"). */
#include "common.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/uio.h>
#include <unistd.h>

#define SENTINEL 12345

/* CHECK("name", expression): the expression must not return -1 (NULL for none here). */
#define CHECK(name, expr)                                                                          \
    do {                                                                                           \
        errno = SENTINEL;                                                                          \
        long r_ = (long)(expr);                                                                    \
        int e_ = errno;                                                                            \
        report((name), r_, e_);                                                                    \
    } while (0)

static long last;
static void report(const char *name, long r, int e) {
    last = r;
    if (r < 0)
        printf("%s: failed %s\n", name, errno_name(e));
    else if (e == SENTINEL)
        printf("%s: kept\n", name);
    else
        printf("%s: errno changed to %s\n", name, errno_name(e));
}

static int server(const struct opts *o) {
    int one = 1;
    int l;
    struct sockaddr_in sa;
    make_addr(&sa, NULL, o->port);
    CHECK("server socket", l = socket(AF_INET, SOCK_STREAM, 0));
    CHECK("server setsockopt SO_REUSEADDR", setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    CHECK("server bind", bind(l, (struct sockaddr *)&sa, sizeof sa));
    CHECK("server listen", listen(l, 4));
    signal_ready(o);
    struct pollfd p = { .fd = l, .events = POLLIN };
    CHECK("server poll on the listener", poll(&p, 1, 10000));
    int c;
    CHECK("server accept", c = accept(l, NULL, NULL));
    if (c < 0) return 1;
    char buf[64];
    /* The client's requests: "a" -> answer 4 bytes; then "b" -> close. */
    CHECK("server read", read(c, buf, 1));
    CHECK("server write", write(c, "abcd", 4));
    CHECK("server recv", recv(c, buf, 1, 0));
    CHECK("server send", send(c, "ef", 2, 0));
    /* The client half-closes: read returns 0 and errno stays. */
    CHECK("server read at EOF", read(c, buf, sizeof buf));
    printf("server read at EOF returned %ld\n", last);
    CHECK("server shutdown SHUT_WR", shutdown(c, SHUT_WR));
    CHECK("server close connection", close(c));
    CHECK("server close listener", close(l));
    return 0;
}

static int client(const struct opts *o) {
    int one = 1, val = 0;
    socklen_t len = sizeof val;
    int s;
    struct sockaddr_in sa, me;
    make_addr(&sa, o->host, o->port);
    char buf[64], fl[64];

    CHECK("socket", s = socket(AF_INET, SOCK_STREAM, 0));
    CHECK("setsockopt TCP_NODELAY", setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    CHECK("getsockopt SO_SNDBUF", getsockopt(s, SOL_SOCKET, SO_SNDBUF, &val, &len));
    make_addr(&me, NULL, 0);
    CHECK("bind to port 0", bind(s, (struct sockaddr *)&me, sizeof me));
    CHECK("connect", connect(s, (struct sockaddr *)&sa, sizeof sa));
    len = sizeof me;
    CHECK("getsockname", getsockname(s, (struct sockaddr *)&me, &len));
    len = sizeof me;
    CHECK("getpeername", getpeername(s, (struct sockaddr *)&me, &len));
    CHECK("fcntl F_GETFL", fcntl(s, F_GETFL));
    CHECK("fcntl F_SETFL", fcntl(s, F_SETFL, (int)last));
    len = sizeof val;
    CHECK("getsockopt SO_ERROR", getsockopt(s, SOL_SOCKET, SO_ERROR, &val, &len));
    /* Nothing to read yet: poll, select and epoll_wait return 0, errno untouched. */
    struct pollfd p = { .fd = s, .events = POLLIN };
    CHECK("poll with nothing ready", poll(&p, 1, 50));
    printf("poll returned %ld\n", last);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(s, &rs);
    struct timeval tv = { 0, 50000 };
    CHECK("select with nothing ready", select(s + 1, &rs, NULL, NULL, &tv));
    int ep;
    CHECK("epoll_create1", ep = epoll_create1(0));
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 7 }, out[2];
    CHECK("epoll_ctl ADD", epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
    CHECK("epoll_wait with nothing ready", epoll_wait(ep, out, 2, 50));
    int avail = -1;
    CHECK("ioctl FIONREAD", ioctl(s, FIONREAD, &avail));
    printf("FIONREAD %d\n", avail);

    /* A nonblocking read with nothing there fails with EAGAIN (errno set, as it must be). */
    CHECK("recv MSG_DONTWAIT on empty", recv(s, buf, 1, MSG_DONTWAIT));

    CHECK("write", write(s, "a", 1));
    CHECK("epoll_wait with data", epoll_wait(ep, out, 2, 5000));
    printf("epoll_wait returned %ld %s\n", last, last == 1 ? epoll_flags(out[0].events, fl, sizeof fl) : "");
    CHECK("poll with data", poll(&p, 1, 5000));
    printf("poll returned %ld %s\n", last, poll_flags(p.revents, fl, sizeof fl));
    CHECK("read", read_full(s, buf, 4));
    CHECK("send", send(s, "b", 1, 0));
    struct iovec iov = { buf, 2 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    size_t got = 0;
    while (got < 2) { /* the two bytes may come in two segments */
        iov.iov_base = buf + got;
        iov.iov_len = 2 - got;
        CHECK("recvmsg", recvmsg(s, &mh, 0));
        if (last <= 0) break;
        got += (size_t)last;
    }
    printf("reply %.4s%.2s\n", "abcd", buf);
    iov.iov_base = "c";
    iov.iov_len = 0;
    CHECK("sendmsg of 0 bytes", sendmsg(s, &mh, 0));
    CHECK("shutdown SHUT_WR", shutdown(s, SHUT_WR));
    /* The server closes: read returns 0 (end of stream) and errno must still be the sentinel. */
    CHECK("read at EOF", read(s, buf, sizeof buf));
    printf("read at EOF returned %ld\n", last);
    CHECK("recv at EOF", recv(s, buf, sizeof buf, 0));
    printf("recv at EOF returned %ld\n", last);
    CHECK("epoll_ctl DEL", epoll_ctl(ep, EPOLL_CTL_DEL, s, &ev));
    CHECK("close epoll", close(ep));
    CHECK("close", close(s));
    /* A failed call sets errno; the next successful call leaves that value. */
    CHECK("close again", close(s));
    int u;
    CHECK("UDP socket", u = socket(AF_INET, SOCK_DGRAM, 0));
    make_addr(&me, NULL, 0);
    CHECK("UDP bind", bind(u, (struct sockaddr *)&me, sizeof me));
    CHECK("UDP sendto", sendto(u, "x", 1, 0, (struct sockaddr *)&sa, sizeof sa));
    CHECK("UDP close", close(u));
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: errno_keep server -p PORT | client -c HOST -p PORT", server, client);
}
