/* udp_peer: a UDP client and server that exchange N datagrams of seeded random sizes (up to
 * MAX bytes, so most are IP-fragmented) in lock-step, each direction checked byte for byte.
 *
 *   udp_peer server PORT [N SEED MAX]       bind 0.0.0.0:PORT (prints "server: ready"), answer
 *                                           until the client's end marker
 *   udp_peer client HOST PORT [N SEED MAX]  connect(), send N datagrams, check N replies
 *
 * Datagram i (client->server) and reply i (server->client) have sizes and contents derived
 * from (SEED, i, direction); the first 8 bytes carry i and the direction. A lost datagram or
 * reply is resent after 250 ms (counted and printed); duplicates are answered again.
 * stdout is deterministic (compared between stacks); resend counts go to stderr.
 * The client uses connect/send/recv and sendmsg/recvmsg alternately, the server
 * recvfrom/sendto and recvmsg/sendmsg, with poll() for timeouts. Exit 0 only if every
 * datagram of both directions arrived intact. Self-contained (no common.c symbols). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define UDP_HDR 8
#define DONE_SEQ 0xffffffffu

static long udp_count = 10000;
static uint64_t udp_seed = 1;
static long udp_max = 8000;

static void udp_die(const char *what) {
    fprintf(stderr, "udp_peer: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void udp_fail(const char *what, long seq) {
    fprintf(stderr, "udp_peer: FAIL %s (datagram %ld)\n", what, seq);
    exit(1);
}

static uint64_t udp_mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Size of datagram seq in direction dir (0 = client->server, 1 = reply): UDP_HDR..udp_max. */
static size_t udp_size(uint32_t seq, int dir) {
    uint64_t r = udp_mix(udp_seed ^ udp_mix(((uint64_t)seq << 1) | (uint64_t)dir));
    return UDP_HDR + (size_t)(r % (uint64_t)(udp_max - UDP_HDR + 1));
}

static void udp_fill(uint8_t *buf, uint32_t seq, int dir) {
    size_t n = udp_size(seq, dir);
    uint32_t s = htonl(seq), d = htonl((uint32_t)dir);
    memcpy(buf, &s, 4);
    memcpy(buf + 4, &d, 4);
    uint64_t x = udp_mix(udp_seed + 0x1234567ull * (seq + 1) + (uint64_t)dir);
    for (size_t i = UDP_HDR; i < n; i++) {
        if ((i & 7) == 0) x = udp_mix(x);
        buf[i] = (uint8_t)(x >> ((i & 7) * 8));
    }
}

/* Returns 1 if buf[0..len) is exactly datagram seq/dir. */
static int udp_check(const uint8_t *buf, size_t len, uint32_t seq, int dir, uint8_t *scratch) {
    if (len != udp_size(seq, dir)) return 0;
    udp_fill(scratch, seq, dir);
    return memcmp(buf, scratch, len) == 0;
}

static uint32_t udp_seq_of(const uint8_t *buf, size_t len) {
    uint32_t s;
    if (len < 4) return DONE_SEQ - 1;
    memcpy(&s, buf, 4);
    return ntohl(s);
}

/* Waits up to ms for readability; 1 = readable, 0 = timeout. */
static int udp_wait(int fd, int ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        int r = poll(&p, 1, ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) udp_die("poll");
        return r > 0;
    }
}

static void udp_parse_tail(int argc, char **argv, int first) {
    if (argc > first) udp_count = atol(argv[first]);
    if (argc > first + 1) udp_seed = strtoull(argv[first + 1], NULL, 0);
    if (argc > first + 2) udp_max = atol(argv[first + 2]);
    if (udp_count < 1 || udp_max < UDP_HDR || udp_max > 65507) {
        fprintf(stderr, "udp_peer: bad N or MAX\n");
        exit(2);
    }
}

static int run_server(int port) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) udp_die("socket");
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    me.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) udp_die("bind");
    printf("server: ready on port %d\n", port);
    uint8_t *buf = malloc(65536), *out = malloc(65536), *scratch = malloc(65536);
    if (!buf || !out || !scratch) udp_die("malloc");
    long expect = 0, dups = 0;
    for (long iter = 0;; iter++) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n;
        int flags = 0;
        if (iter & 1) {
            struct iovec iov = {.iov_base = buf, .iov_len = 65536};
            struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
            n = recvmsg(fd, &mh, 0);
            fl = mh.msg_namelen;
            flags = mh.msg_flags;
        } else {
            n = recvfrom(fd, buf, 65536, 0, (struct sockaddr *)&from, &fl);
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            udp_die("recvfrom");
        }
        if (fl != sizeof from || from.sin_family != AF_INET) udp_fail("recvfrom source address", expect);
        if (flags & MSG_TRUNC) udp_fail("MSG_TRUNC on a 64 KiB buffer", expect);
        uint32_t seq = udp_seq_of(buf, (size_t)n);
        if (seq == DONE_SEQ) {
            /* Acknowledge the end, several times in case one is lost. */
            for (int i = 0; i < 3; i++) sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
            if (expect != udp_count) udp_fail("end before all datagrams", expect);
            printf("server: %ld datagrams received and verified\n", expect);
            fprintf(stderr, "server: %ld duplicates\n", dups); /* timing-dependent: not on stdout */
            return 0;
        }
        if ((long)seq == expect - 1) {
            dups++; /* our reply was lost or late: answer again */
        } else if ((long)seq != expect) {
            udp_fail("out-of-sequence datagram", expect);
        } else {
            if (!udp_check(buf, (size_t)n, seq, 0, scratch)) udp_fail("content mismatch client->server", seq);
            expect++;
        }
        udp_fill(out, seq, 1);
        size_t len = udp_size(seq, 1);
        ssize_t w;
        if (seq & 1) {
            struct iovec iov[2] = {{.iov_base = out, .iov_len = len / 2}, {.iov_base = out + len / 2, .iov_len = len - len / 2}};
            struct msghdr mh = {.msg_name = &from, .msg_namelen = fl, .msg_iov = iov, .msg_iovlen = 2};
            w = sendmsg(fd, &mh, 0);
        } else {
            w = sendto(fd, out, len, 0, (struct sockaddr *)&from, fl);
        }
        if (w != (ssize_t)len) udp_die("sendto");
    }
}

static int run_client(const char *host, int port) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) udp_die("socket");
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &peer.sin_addr) != 1) {
        fprintf(stderr, "udp_peer: %s is not an IPv4 address\n", host);
        return 2;
    }
    if (connect(fd, (struct sockaddr *)&peer, sizeof peer) < 0) udp_die("connect");
    uint8_t *buf = malloc(65536), *out = malloc(65536), *scratch = malloc(65536);
    if (!buf || !out || !scratch) udp_die("malloc");
    long resent = 0, stale = 0;
    uint64_t bytes_out = 0, bytes_in = 0;
    for (uint32_t seq = 0; (long)seq < udp_count; seq++) {
        udp_fill(out, seq, 0);
        size_t len = udp_size(seq, 0);
        int tries = 0;
        for (;;) {
            ssize_t w;
            if (seq & 1) {
                struct iovec iov = {.iov_base = out, .iov_len = len};
                struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
                w = sendmsg(fd, &mh, 0);
            } else {
                w = send(fd, out, len, 0);
            }
            if (w != (ssize_t)len) udp_die("send");
            if (tries == 0) bytes_out += len;
            int got = 0;
            while (udp_wait(fd, 250)) {
                ssize_t n;
                if (seq & 1) {
                    struct iovec iov = {.iov_base = buf, .iov_len = 65536};
                    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
                    n = recvmsg(fd, &mh, 0);
                } else {
                    n = recv(fd, buf, 65536, 0);
                }
                if (n < 0) udp_die("recv");
                uint32_t rs = udp_seq_of(buf, (size_t)n);
                if (rs != seq) { /* a late duplicate reply to an earlier datagram */
                    if (rs > seq) udp_fail("reply from the future", seq);
                    stale++;
                    continue;
                }
                if (!udp_check(buf, (size_t)n, seq, 1, scratch)) udp_fail("content mismatch server->client", seq);
                bytes_in += (uint64_t)n;
                got = 1;
                break;
            }
            if (got) break;
            if (++tries > 20) udp_fail("no reply after 20 tries", seq);
            resent++;
        }
    }
    /* Tell the server we are done and wait for its acknowledgement. */
    uint32_t done = htonl(DONE_SEQ);
    int acked = 0;
    for (int i = 0; i < 10 && !acked; i++) {
        if (send(fd, &done, sizeof done, 0) != (ssize_t)sizeof done) udp_die("send done");
        while (udp_wait(fd, 500)) {
            ssize_t n = recv(fd, buf, 65536, 0);
            if (n < 0) udp_die("recv");
            if (udp_seq_of(buf, (size_t)n) == DONE_SEQ) { acked = 1; break; }
        }
    }
    if (!acked) udp_fail("server did not acknowledge the end", udp_count);
    printf("client: %ld datagrams each way verified (%llu bytes out, %llu in)\n", udp_count,
           (unsigned long long)bytes_out, (unsigned long long)bytes_in);
    /* Timing-dependent counts go to stderr so that stdout compares equal across stacks. */
    fprintf(stderr, "client: %ld resent, %ld stale replies\n", resent, stale);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && strcmp(argv[1], "server") == 0) {
        udp_parse_tail(argc, argv, 3);
        return run_server(atoi(argv[2]));
    }
    if (argc >= 4 && strcmp(argv[1], "client") == 0) {
        udp_parse_tail(argc, argv, 4);
        return run_client(argv[2], atoi(argv[3]));
    }
    fprintf(stderr, "usage: udp_peer server PORT [N SEED MAX] | client HOST PORT [N SEED MAX]\n");
    return 2;
}
