/* udp_gso client -c HOST -p PORT (the server side is `seq_fuzz server`: a TCP and a UDP echo on
 * PORT, ended with QUIT)
 * UDP_SEGMENT (Linux's UDP GSO, udp_send_skb): a send larger than the segment size leaves as
 * datagrams of that size, the last one shorter; the echo returns each, and their lengths are
 * printed. The option (range 0-65535, read back), a control message of its own for one send
 * (0: one datagram; a wrong length or another SOL_UDP type: EINVAL), a segment that with its
 * headers would not fit the link's MTU (1473 bytes on a 1500-byte link: EMSGSIZE, a shorter
 * send passes), more than 128 segments (EINVAL), 65,507 bytes in 47, a corked datagram
 * (MSG_MORE) leaving in segments, an unconnected socket's sendto, and on TCP (ENOPROTOOPT,
 * EOPNOTSUPP). */
#include "common.h"

#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

static char big[65536];

static const char *res(long r) {
    static char b[32];
    if (r < 0) return errno_name(errno);
    snprintf(b, sizeof b, "%ld", r);
    return b;
}

/* The echoes that come back within 300 ms of each other: the first lengths and the totals. */
static void echoes(int u) {
    static char b[65536];
    int n = 0;
    long tot = 0;
    printf("  echoes:");
    for (;;) {
        struct pollfd p = {u, POLLIN, 0};
        if (poll(&p, 1, 300) != 1) break;
        long r = recv(u, b, sizeof b, 0);
        if (r < 0) {
            printf(" %s", res(r));
            break;
        }
        if (n < 5) printf(" %ld", r);
        n++;
        tot += r;
    }
    printf(" (%d datagrams, %ld bytes)\n", n, tot);
}

static void gso(int u, int v) {
    long r = setsockopt(u, SOL_UDP, UDP_SEGMENT, &v, sizeof v);
    int g = -7;
    socklen_t l = sizeof g;
    getsockopt(u, SOL_UDP, UDP_SEGMENT, &g, &l);
    printf("UDP_SEGMENT %d: %s, reads %d\n", v, res(r), g);
}

/* sendmsg of `n` bytes with one control message (level, type, data length, 16-bit value). */
static long send_cmsg(int u, const struct sockaddr_in *to, long n, int level, int type, int len, uint16_t val) {
    char c[64];
    memset(c, 0, sizeof c);
    struct iovec iov = {big, (size_t)n};
    struct msghdr m = {.msg_name = (void *)to, .msg_namelen = to ? sizeof *to : 0, .msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = c, .msg_controllen = CMSG_SPACE(len)};
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = level;
    h->cmsg_type = type;
    h->cmsg_len = CMSG_LEN(len);
    memcpy(CMSG_DATA(h), &val, sizeof val);
    return sendmsg(u, &m, 0);
}

static void sends(int u, long n, int flags) {
    printf("send %ld%s: %s\n", n, flags ? " MSG_MORE" : "", res(send(u, big, (size_t)n, flags)));
    if (!flags) echoes(u);
}

static int client(const struct opts *o) {
    memset(big, 'g', sizeof big);
    struct sockaddr_in a;
    make_addr(&a, o->host, o->port);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    if (u < 0) DIE("socket");
    if (connect(u, (struct sockaddr *)&a, sizeof a) < 0) DIE("connect");
    gso(u, 0);
    gso(u, -1);
    gso(u, 65536);
    gso(u, 65535);
    gso(u, 1000);
    sends(u, 3500, 0);
    sends(u, 800, 0);
    printf("control 1200, 3500: %s\n", res(send_cmsg(u, NULL, 3500, SOL_UDP, UDP_SEGMENT, 2, 1200)));
    echoes(u);
    printf("control 0, 3500: %s\n", res(send_cmsg(u, NULL, 3500, SOL_UDP, UDP_SEGMENT, 2, 0)));
    echoes(u);
    printf("control of 4 bytes: %s\n", res(send_cmsg(u, NULL, 3500, SOL_UDP, UDP_SEGMENT, 4, 1200)));
    printf("control type 99: %s\n", res(send_cmsg(u, NULL, 3500, SOL_UDP, 99, 2, 1200)));
    gso(u, 1473);
    sends(u, 3000, 0);
    sends(u, 1000, 0);
    gso(u, 1472);
    sends(u, 3000, 0);
    gso(u, 100);
    sends(u, 12800, 0);
    sends(u, 12900, 0);
    gso(u, 1400);
    sends(u, 65507, 0);
    sends(u, 65508, 0);
    gso(u, 1000);
    sends(u, 1500, MSG_MORE);
    sends(u, 1500, 0);
    close(u);
    int d = socket(AF_INET, SOCK_DGRAM, 0);
    if (d < 0) DIE("socket");
    printf("unconnected sendto, control 1000, 3000: %s\n", res(send_cmsg(d, &a, 3000, SOL_UDP, UDP_SEGMENT, 2, 1000)));
    echoes(d);
    close(d);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    int v = 1000;
    socklen_t l = sizeof v;
    printf("tcp: set %s", res(setsockopt(t, SOL_UDP, UDP_SEGMENT, &v, sizeof v)));
    printf(", get %s\n", res(getsockopt(t, SOL_UDP, UDP_SEGMENT, &v, &l)));
    close(t);
    seq_fuzz_quit(o);
    return 0;
}

int main(int argc, char **argv) {
    watchdog(60);
    return run_role(argc, argv, "udp_gso client -c HOST -p PORT", seq_fuzz_only, client);
}
