/* recv_edges client -c HOST -p PORT (the server side is `seq_fuzz server`: a TCP and a UDP echo
 * on PORT, ended with QUIT)
 * The receiving calls' edges on UDP sockets of AF_INET and AF_INET6 connected to the echo, and
 * on a TCP connection: recv() of a 10-byte datagram into 0, 4, 10 and 100 bytes with MSG_TRUNC
 * and MSG_PEEK (what each returns and what is left), recvfrom() with address lengths 0 to 200,
 * a null address with a length pointer that points nowhere (never touched: __sys_recvfrom writes
 * the length only with an address), an address without a length (EFAULT, the datagram taken),
 * recvmsg() with name lengths 0, 3 and 200 (msg_namelen and msg_flags back) and a zero-length
 * datagram; on TCP the same recvfrom address cases. Then, on a TCP connection, SO_PEEK_OFF (peeks
 * start at the offset and move it, reads move it back, -1 turns it off) and TCP_INQ (each
 * recvmsg ends with TCP_CM_INQ, the bytes left: into control buffers of 64, 18, 4 and no bytes,
 * on a dup() of the socket, and at the end of stream). */
#include "common.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *res(long r) { return r < 0 ? errno_name(errno) : "ok"; }
static void wait_in(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, 2000);
}
static void drain(int fd) {
    char b[128];
    while (recv(fd, b, sizeof b, MSG_DONTWAIT) >= 0) {}
}

static int peer(const struct opts *o, int af, int type) {
    int fd = socket(af, type, 0);
    if (fd < 0) DIE("socket");
    struct sockaddr_in a;
    make_addr(&a, o->host, o->port);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = a.sin_port};
    a6.sin6_addr.s6_addr[10] = a6.sin6_addr.s6_addr[11] = 0xff;
    memcpy(&a6.sin6_addr.s6_addr[12], &a.sin_addr, 4);
    int r = af == AF_INET ? connect(fd, (struct sockaddr *)&a, sizeof a) : connect(fd, (struct sockaddr *)&a6, sizeof a6);
    if (r < 0) DIE("connect");
    return fd;
}

/* recvfrom's address cases after sending `msg` to the echo. */
static void names(int fd, const char *k) {
    static const socklen_t lens[] = {0, 2, 4, 16, 24, 28, 200};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        if (send(fd, "abc", 3, 0) != 3) DIE("send");
        wait_in(fd);
        struct sockaddr_storage ss;
        memset(&ss, 0xee, sizeof ss);
        socklen_t l = lens[i];
        char b[8];
        long r = recvfrom(fd, b, sizeof b, MSG_DONTWAIT, (struct sockaddr *)&ss, &l);
        printf("%s recvfrom address length %u: %ld %s, length %u, family %d\n", k, lens[i], r, res(r), l,
               lens[i] >= 2 && r >= 0 ? ss.ss_family : -1);
        drain(fd);
    }
    if (send(fd, "abc", 3, 0) != 3) DIE("send");
    wait_in(fd);
    char b[8];
    long r = recvfrom(fd, b, sizeof b, MSG_DONTWAIT, NULL, (socklen_t *)24);
    printf("%s recvfrom null address, length pointer 24: %ld %s\n", k, r, res(r));
    drain(fd);
    if (send(fd, "abc", 3, 0) != 3) DIE("send");
    wait_in(fd);
    struct sockaddr_storage ss;
    r = recvfrom(fd, b, sizeof b, MSG_DONTWAIT, (struct sockaddr *)&ss, NULL);
    printf("%s recvfrom address, null length: %ld %s", k, r, res(r));
    r = recv(fd, b, sizeof b, MSG_DONTWAIT);
    printf("; then %ld %s\n", r, res(r));
    drain(fd);
}

#ifndef SO_PEEK_OFF
#define SO_PEEK_OFF 42
#endif
#ifndef TCP_INQ
#define TCP_INQ 36
#endif

static int get_int(int fd, int level, int name) {
    int v = -7;
    socklen_t l = sizeof v;
    if (getsockopt(fd, level, name, &v, &l) < 0) return -errno * 1000;
    return v;
}

static void peek_off(int fd, int off) {
    long r = setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off);
    printf("tcp SO_PEEK_OFF %d: %s, reads %d\n", off, res(r), get_int(fd, SOL_SOCKET, SO_PEEK_OFF));
}

static void rd(int fd, size_t n, int flags) {
    char b[32] = {0};
    long r = recv(fd, b, n, flags | MSG_DONTWAIT);
    printf("tcp recv %zu%s: %ld %s [%s], offset now %d\n", n, flags & MSG_PEEK ? " peek" : "", r, res(r), b,
           get_int(fd, SOL_SOCKET, SO_PEEK_OFF));
}

/* recvmsg of `n` bytes with `room` bytes of control buffer (0: none): the result and the
 * TCP_CM_INQ message as read back. */
static void inq_read(int fd, const char *k, size_t n, size_t room) {
    char b[32] = {0}, cbuf[64];
    memset(cbuf, 0xee, sizeof cbuf);
    struct iovec iov = {b, n};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = room ? cbuf : NULL, .msg_controllen = room};
    long r = recvmsg(fd, &m, MSG_DONTWAIT);
    printf("tcp %s recvmsg %zu, control %zu: %ld %s [%s], flags %#x, control %zu", k, n, room, r, res(r), b,
           (unsigned)m.msg_flags, (size_t)m.msg_controllen);
    if (m.msg_controllen >= sizeof(struct cmsghdr)) {
        struct cmsghdr *c = (struct cmsghdr *)cbuf;
        int v = -1;
        if (m.msg_controllen >= CMSG_LEN(sizeof v)) memcpy(&v, CMSG_DATA(c), sizeof v);
        printf(", cmsg %d/%d length %zu inq %d", c->cmsg_level, c->cmsg_type, (size_t)c->cmsg_len, v);
    }
    printf("\n");
}

static void tcp_inq_peek(const struct opts *o) {
    int t = peer(o, AF_INET, SOCK_STREAM);
    printf("tcp SO_PEEK_OFF at first %d, TCP_INQ %d\n", get_int(t, SOL_SOCKET, SO_PEEK_OFF), get_int(t, IPPROTO_TCP, TCP_INQ));
    if (send(t, "0123456789abcdefghijklmnopqrstuv", 32, 0) != 32) DIE("send");
    sleep_ms(200);
    peek_off(t, 3);
    rd(t, 4, MSG_PEEK);
    rd(t, 4, MSG_PEEK);
    rd(t, 5, 0);
    rd(t, 3, MSG_PEEK);
    peek_off(t, -5);
    rd(t, 2, MSG_PEEK);
    for (int v = -1; v <= 2; v++) {
        long r = setsockopt(t, IPPROTO_TCP, TCP_INQ, &v, sizeof v);
        printf("tcp TCP_INQ %d: %s, reads %d\n", v, res(r), get_int(t, IPPROTO_TCP, TCP_INQ));
    }
    int one = 1;
    if (setsockopt(t, IPPROTO_TCP, TCP_INQ, &one, sizeof one) < 0) DIE("setsockopt");
    inq_read(t, "", 3, 64);
    inq_read(t, "", 3, 18);
    inq_read(t, "", 3, 4);
    inq_read(t, "", 3, 0);
    int d = dup(t);
    inq_read(d, "dup", 3, 64);
    close(d);
    if (shutdown(t, SHUT_WR) < 0) DIE("shutdown");
    sleep_ms(200);
    inq_read(t, "", 30, 64);
    inq_read(t, "at the end", 30, 64);
    close(t);
}

static int client(const struct opts *o) {
    static const size_t bufs[] = {0, 4, 10, 100};
    static const int flags[] = {0, MSG_TRUNC, MSG_PEEK, MSG_PEEK | MSG_TRUNC};
    for (int f = 0; f < 2; f++) {
        const char *k = f ? "udp6" : "udp4";
        int fd = peer(o, f ? AF_INET6 : AF_INET, SOCK_DGRAM);
        for (size_t b = 0; b < 4; b++)
            for (size_t i = 0; i < 4; i++) {
                if (send(fd, "0123456789", 10, 0) != 10) DIE("send");
                wait_in(fd);
                char buf[100] = {0};
                long r = recv(fd, buf, bufs[b], flags[i] | MSG_DONTWAIT);
                printf("%s recv into %zu, flags %#x: %ld %s [%s]", k, bufs[b], (unsigned)flags[i], r, res(r), buf);
                r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                printf("; then %ld %s\n", r, res(r));
                drain(fd);
            }
        names(fd, k);
        for (int i = 0; i < 3; i++) {
            if (send(fd, "0123456789", 10, 0) != 10) DIE("send");
            wait_in(fd);
            char buf[4], cbuf[64];
            struct iovec iov = {buf, sizeof buf};
            struct sockaddr_storage ss;
            socklen_t nl = i == 0 ? 0 : i == 1 ? 3 : 200;
            struct msghdr m = {.msg_name = &ss, .msg_namelen = nl, .msg_iov = &iov, .msg_iovlen = 1,
                               .msg_control = cbuf, .msg_controllen = sizeof cbuf};
            long r = recvmsg(fd, &m, MSG_DONTWAIT);
            printf("%s recvmsg name length %u: %ld %s, length %u, flags %#x, control %zu\n", k, nl, r, res(r),
                   m.msg_namelen, (unsigned)m.msg_flags, (size_t)m.msg_controllen);
            drain(fd);
        }
        if (send(fd, "", 0, 0) != 0) DIE("send");
        wait_in(fd);
        char buf[8];
        long r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        printf("%s an empty datagram: %ld %s", k, r, res(r));
        r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        printf("; then %ld %s\n", r, res(r));
        close(fd);
    }
    int t = peer(o, AF_INET, SOCK_STREAM);
    names(t, "tcp");
    close(t);
    tcp_inq_peek(o);
    seq_fuzz_quit(o);
    return 0;
}

int main(int argc, char **argv) {
    watchdog(60);
    return run_role(argc, argv, "recv_edges client -c HOST -p PORT", seq_fuzz_only, client);
}
