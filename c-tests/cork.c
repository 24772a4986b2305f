/* cork server -p PORT | cork client -c HOST -p PORT
 * TCP_CORK, UDP_CORK and MSG_MORE. The server drives the TCP part one step at a time (a byte
 * naming the step) and times what arrives, in coarse bands far from the limits (Linux holds a
 * corked segment under the MSS until the cork comes out, a FIN, or the zero-window probe timer
 * of at least 200 ms; whole segments leave at once):
 *   1. 10 bytes corked: nothing within 80 ms, then all of them after >= 150 ms (the timer);
 *   2. 10 bytes corked, the cork out 40 ms later: all of them, well before the timer;
 *   3. 70,000 bytes corked: some within 150 ms (whole segments), not all (the tail waits);
 *   M. uncorked, 10 bytes with MSG_MORE, 5 without 60 ms later: nothing within 40 ms, then all
 *      15 before the timer (MSG_MORE holds what it sends until the next send without it);
 *   N. 10 bytes with MSG_MORE and nothing after: nothing within 80 ms, then all after the timer;
 *   4. 10 bytes corked, then shutdown(SHUT_WR): the data with the FIN, before the timer.
 * Then UDP: datagrams built with MSG_MORE and with UDP_CORK (one datagram each), one that would
 * pass 65,507 bytes (EMSGSIZE, the pending part dropped), MSG_MORE left pending at close (never
 * sent); the server prints each datagram's length and first bytes. */
#include "common.h"

#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *yn(int b) { return b ? "yes" : "no"; }

static long ms_since(uint64_t t0) { return (long)((now_ns() - t0) / 1000000); }

/* Reads up to `want` bytes within `ms` milliseconds (less when the time runs out). */
static long read_for(int fd, char *buf, long want, long ms) {
    uint64_t end = now_ns() + (uint64_t)ms * 1000000;
    long got = 0;
    while (got < want) {
        long left = (long)((int64_t)(end - now_ns()) / 1000000);
        if (left <= 0) break;
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, (int)left) != 1) break;
        ssize_t r = read(fd, buf + got, (size_t)(want - got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) DIE("read");
        if (r == 0) break;
        got += r;
    }
    return got;
}

static void step(int fd, char c) {
    if (write_all(fd, &c, 1) < 0) DIE("write");
}

static int server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 4);
    int u = udp_bound(NULL, o->port, 1);
    signal_ready(o);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) DIE("accept");
    static char buf[80000];
    uint64_t t0 = now_ns();
    step(fd, '1');
    long early = read_for(fd, buf, 10, 80);
    long got = early + read_for(fd, buf, 10 - early, 3000);
    printf("server: 1 corked: within 80 ms %ld bytes, then %ld in all, after >= 150 ms: %s\n", early, got,
           yn(ms_since(t0) >= 150));
    t0 = now_ns();
    step(fd, '2');
    got = read_for(fd, buf, 10, 3000);
    printf("server: 2 cork out after 40 ms: %ld bytes before 150 ms: %s\n", got, yn(ms_since(t0) < 150));
    t0 = now_ns();
    step(fd, '3');
    early = read_for(fd, buf, 70000, 150);
    got = early + read_for(fd, buf, 70000 - early, 3000);
    printf("server: 3 70000 corked: some within 150 ms: %s, all: %s, then %ld in all\n", yn(early > 0),
           yn(early == 70000), got);
    t0 = now_ns();
    step(fd, 'M');
    early = read_for(fd, buf, 15, 40);
    got = early + read_for(fd, buf, 15 - early, 3000);
    printf("server: M MSG_MORE then a send: within 40 ms %ld bytes, %ld before 150 ms: %s\n", early, got,
           yn(ms_since(t0) < 150));
    t0 = now_ns();
    step(fd, 'N');
    early = read_for(fd, buf, 10, 80);
    got = early + read_for(fd, buf, 10 - early, 3000);
    printf("server: N MSG_MORE alone: within 80 ms %ld bytes, then %ld in all, after >= 150 ms: %s\n", early, got,
           yn(ms_since(t0) >= 150));
    t0 = now_ns();
    step(fd, '4');
    got = read_for(fd, buf, 11, 3000);
    printf("server: 4 corked then SHUT_WR: %ld bytes and the end before 150 ms: %s\n", got,
           yn(ms_since(t0) < 150));
    step(fd, 'U');
    struct pollfd pl = { lfd, POLLIN, 0 };
    if (poll(&pl, 1, 5000) != 1) die("no end of the UDP part", 0);
    int e = accept(lfd, NULL, NULL); /* the client's sign that its datagrams left */
    if (e < 0) DIE("accept");
    close(e);
    for (int i = 0; i < 10; i++) {
        struct pollfd p = { u, POLLIN, 0 };
        if (poll(&p, 1, 300) != 1) break;
        ssize_t n = recv(u, buf, sizeof buf, 0);
        if (n < 0) DIE("recv");
        printf("server: datagram %zd bytes '%.*s'\n", n, n < 12 ? (int)n : 12, buf);
    }
    close(fd);
    close(u);
    close(lfd);
    return 0;
}

static int opt(int fd, int level, int name) {
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(fd, level, name, &v, &l) < 0) return -errno;
    return v;
}

static void set(int fd, int level, int name, int v) {
    if (setsockopt(fd, level, name, &v, sizeof v) < 0) DIE("setsockopt");
}

static const char *res(ssize_t r) {
    static char b[32];
    if (r < 0) return errno_name(errno);
    snprintf(b, sizeof b, "%zd", r);
    return b;
}

static void udp_part(const struct opts *o) {
    struct sockaddr_in sa;
    make_addr(&sa, o->host, o->port);
    const struct sockaddr *to = (const struct sockaddr *)&sa;
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    if (u < 0) DIE("socket");
    /* MSG_MORE: three sends, one datagram; the second's address is not looked at. */
    printf("client: udp MORE ab: %s", res(sendto(u, "ab", 2, MSG_MORE, to, sizeof sa)));
    printf(", cd: %s", res(sendto(u, "cd", 2, MSG_MORE, NULL, 0)));
    printf(", ef: %s\n", res(sendto(u, "ef", 2, 0, to, sizeof sa)));
    sleep_ms(30);
    /* UDP_CORK on a connected socket: write() appends, the cork's removal sends. */
    if (connect(u, to, sizeof sa) < 0) DIE("connect");
    printf("client: UDP_CORK %d", opt(u, IPPROTO_UDP, UDP_CORK));
    set(u, IPPROTO_UDP, UDP_CORK, 1);
    printf(" -> %d", opt(u, IPPROTO_UDP, UDP_CORK));
    printf(", gh: %s", res(write(u, "gh", 2)));
    printf(", ij: %s", res(send(u, "ij", 2, 0)));
    set(u, IPPROTO_UDP, UDP_CORK, 0);
    printf(", out: %d\n", opt(u, IPPROTO_UDP, UDP_CORK));
    sleep_ms(30);
    /* Past 65,507 bytes in all: EMSGSIZE, and the pending part is dropped. */
    static char big[60000];
    memset(big, 'x', sizeof big);
    printf("client: udp MORE 60000: %s", res(send(u, big, sizeof big, MSG_MORE)));
    printf(", MORE 6000: %s", res(send(u, big, 6000, MSG_MORE)));
    printf(", kl: %s\n", res(send(u, "kl", 2, 0)));
    sleep_ms(30);
    /* Pending at close: never sent. */
    int v = socket(AF_INET, SOCK_DGRAM, 0);
    if (v < 0) DIE("socket");
    printf("client: udp MORE mn then close: %s\n", res(sendto(v, "mn", 2, MSG_MORE, to, sizeof sa)));
    close(v);
    printf("client: udp op: %s\n", res(send(u, "op", 2, 0)));
    close(u);
}

static int client(const struct opts *o) {
    if (!o->host) die("-c HOST is required", 0);
    int fd = tcp_connect(o->host, o->port);
    printf("client: TCP_CORK %d", opt(fd, IPPROTO_TCP, TCP_CORK));
    set(fd, IPPROTO_TCP, TCP_CORK, 1);
    printf(" -> %d\n", opt(fd, IPPROTO_TCP, TCP_CORK));
    static char buf[70000];
    memset(buf, 'c', sizeof buf);
    for (;;) {
        char c;
        if (read_for(fd, &c, 1, 10000) != 1) die("no step from the server", 0);
        if (c == '1') {
            if (write_all(fd, buf, 10) < 0) DIE("write");
        } else if (c == '2') {
            if (write_all(fd, buf, 10) < 0) DIE("write");
            sleep_ms(40);
            set(fd, IPPROTO_TCP, TCP_CORK, 0);
            printf("client: out %d", opt(fd, IPPROTO_TCP, TCP_CORK));
            set(fd, IPPROTO_TCP, TCP_CORK, 1);
            printf(", in again %d\n", opt(fd, IPPROTO_TCP, TCP_CORK));
        } else if (c == '3') {
            if (write_all(fd, buf, 70000) < 0) DIE("write");
        } else if (c == 'M') {
            set(fd, IPPROTO_TCP, TCP_CORK, 0);
            printf("client: M more %s", res(send(fd, buf, 10, MSG_MORE)));
            sleep_ms(60);
            printf(", then %s\n", res(send(fd, buf, 5, 0)));
        } else if (c == 'N') {
            printf("client: N more %s\n", res(send(fd, buf, 10, MSG_MORE)));
        } else if (c == '4') {
            set(fd, IPPROTO_TCP, TCP_CORK, 1);
            if (write_all(fd, buf, 10) < 0) DIE("write");
            if (shutdown(fd, SHUT_WR) < 0) DIE("shutdown");
        } else if (c == 'U') {
            break;
        }
    }
    /* The end of the UDP part goes over another connection: this one is shut for writing. */
    udp_part(o);
    int e = tcp_connect(o->host, o->port);
    close(e);
    close(fd);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: cork server -p PORT | client -c HOST -p PORT", server, client);
}
