/* opt_sweep client -c HOST -p PORT (the server side is `seq_fuzz server`, ended with QUIT)
 * Every socket option of a list, on a fresh TCP socket, a UDP socket, a listener and a
 * connection to the server host, each of AF_INET and of AF_INET6 (dual-stack), asked the way a
 * careless program might: getsockopt with 4, 1 and 0 bytes, setsockopt with the values 0, 1, 2,
 * 7, 255, 256, -1 and 100000 (each read back), then with 1 byte, with 0 and with a null value
 * (and getsockopt with a null value and a null length). Each answer is printed (the errno, the
 * length, the value where it depends neither on the stack's sizing nor on sysctls), so the
 * order in which Linux checks a length, a level and a name, and how it stores each value, are
 * compared with the kernel's. Options tapstack
 * does not implement (TCP_REPAIR, TCP_MD5SIG, SO_PEEK_OFF on UDP, IP_TRANSPARENT,
 * TCP_SAVE_SYN...) are left out: they answer ENOPROTOOPT. */
#include "common.h"

#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct opt {
    int level, name;
    const char *n;
    int sized; /* the value depends on buffer sizes, the path or sysctls: not printed */
};
#define O(l, x) {l, x, #x, 0}
#define S(l, x) {l, x, #x, 1}
static const struct opt OPTS[] = {
    O(SOL_SOCKET, SO_BINDTODEVICE), O(SOL_SOCKET, SO_LINGER), S(SOL_SOCKET, SO_RCVBUF), S(IPPROTO_TCP, TCP_INFO),
    S(IPPROTO_TCP, TCP_CONGESTION), O(IPPROTO_IP, IP_MULTICAST_IF), O(SOL_SOCKET, SO_PEERCRED),
    {IPPROTO_UDP, 104, "UDP_GRO", 0}, O(IPPROTO_UDP, UDP_CORK), {IPPROTO_UDP, 103, "UDP_SEGMENT", 0},
    O(SOL_SOCKET, SO_REUSEADDR), O(SOL_SOCKET, SO_REUSEPORT), O(SOL_SOCKET, SO_KEEPALIVE),
    O(SOL_SOCKET, SO_BROADCAST), O(SOL_SOCKET, SO_OOBINLINE), O(SOL_SOCKET, SO_PRIORITY),
    O(SOL_SOCKET, SO_MARK), O(SOL_SOCKET, SO_TIMESTAMP), O(SOL_SOCKET, SO_TIMESTAMPNS),
    O(SOL_SOCKET, SO_DONTROUTE), O(SOL_SOCKET, SO_ERROR), O(SOL_SOCKET, SO_TYPE),
    O(SOL_SOCKET, SO_ACCEPTCONN), O(SOL_SOCKET, SO_BUSY_POLL), O(SOL_SOCKET, SO_PASSCRED),
    O(SOL_SOCKET, SO_NO_CHECK), O(SOL_SOCKET, SO_RXQ_OVFL), O(SOL_SOCKET, SO_WIFI_STATUS),
    O(SOL_SOCKET, SO_SELECT_ERR_QUEUE), O(SOL_SOCKET, SO_LOCK_FILTER), O(SOL_SOCKET, SO_PROTOCOL),
    O(SOL_SOCKET, SO_DOMAIN), S(SOL_SOCKET, SO_SNDLOWAT),
    O(IPPROTO_IP, IP_TTL), O(IPPROTO_IP, IP_TOS), O(IPPROTO_IP, IP_RECVERR), O(IPPROTO_IP, IP_PKTINFO),
    O(IPPROTO_IP, IP_MTU_DISCOVER), S(IPPROTO_IP, IP_MTU), O(IPPROTO_IP, IP_FREEBIND),
    O(IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT), O(IPPROTO_IP, IP_MULTICAST_TTL), O(IPPROTO_IP, IP_MULTICAST_LOOP),
    O(IPPROTO_IP, IP_RECVTOS), O(IPPROTO_IP, IP_RECVTTL), O(IPPROTO_IP, IP_HDRINCL),
    O(IPPROTO_IP, IP_RECVORIGDSTADDR), O(IPPROTO_IP, IP_MULTICAST_ALL), O(IPPROTO_IP, IP_NODEFRAG),
    O(IPPROTO_IP, IP_CHECKSUM), O(IPPROTO_IP, IP_RECVOPTS), O(IPPROTO_IP, IP_RETOPTS),
    O(IPPROTO_IP, IP_PASSSEC), O(IPPROTO_IP, IP_MINTTL), {IPPROTO_IP, 25, "IP_RECVFRAGSIZE", 0},
    {IPPROTO_IP, 51, "IP_LOCAL_PORT_RANGE", 0},
    O(IPPROTO_TCP, TCP_NODELAY), S(IPPROTO_TCP, TCP_MAXSEG), O(IPPROTO_TCP, TCP_CORK),
    O(IPPROTO_TCP, TCP_KEEPIDLE), O(IPPROTO_TCP, TCP_KEEPINTVL), O(IPPROTO_TCP, TCP_KEEPCNT),
    O(IPPROTO_TCP, TCP_SYNCNT), O(IPPROTO_TCP, TCP_LINGER2), O(IPPROTO_TCP, TCP_DEFER_ACCEPT),
    S(IPPROTO_TCP, TCP_WINDOW_CLAMP), O(IPPROTO_TCP, TCP_QUICKACK), O(IPPROTO_TCP, TCP_USER_TIMEOUT),
    O(IPPROTO_TCP, TCP_NOTSENT_LOWAT), O(IPPROTO_TCP, TCP_FASTOPEN), O(IPPROTO_TCP, TCP_FASTOPEN_CONNECT),
    O(IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS), O(IPPROTO_TCP, TCP_THIN_DUPACK), O(IPPROTO_TCP, TCP_ULP),
    {IPPROTO_TCP, 34, "TCP_FASTOPEN_NO_COOKIE", 0}, {IPPROTO_TCP, 36, "TCP_INQ", 0},
    O(IPPROTO_IPV6, IPV6_V6ONLY), O(IPPROTO_IPV6, IPV6_TCLASS), O(IPPROTO_IPV6, IPV6_UNICAST_HOPS),
    O(IPPROTO_IPV6, IPV6_MULTICAST_HOPS), O(IPPROTO_IPV6, IPV6_MULTICAST_LOOP), O(IPPROTO_IPV6, IPV6_RECVPKTINFO),
    O(IPPROTO_IPV6, IPV6_RECVTCLASS), O(IPPROTO_IPV6, IPV6_MTU_DISCOVER), O(IPPROTO_IPV6, IPV6_RECVERR),
    O(IPPROTO_IPV6, IPV6_DONTFRAG),
};

/* 0 TCP, 1 UDP, 2 listener, 3 connection; of family `af` (AF_INET6: dual-stack, the server
 * host as ::ffff:HOST). */
static int fresh(const struct opts *o, int af, int kind) {
    int fd = socket(af, kind == 1 ? SOCK_DGRAM : SOCK_STREAM, 0);
    if (fd < 0) DIE("socket");
    struct sockaddr_in a;
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    if (kind == 2) {
        make_addr(&a, "0.0.0.0", 0);
        int r = af == AF_INET ? bind(fd, (struct sockaddr *)&a, sizeof a) : bind(fd, (struct sockaddr *)&a6, sizeof a6);
        if (r < 0 || listen(fd, 4) < 0) DIE("listen");
    }
    if (kind == 3) {
        make_addr(&a, o->host, o->port);
        a6.sin6_port = a.sin_port;
        a6.sin6_addr.s6_addr[10] = a6.sin6_addr.s6_addr[11] = 0xff;
        memcpy(&a6.sin6_addr.s6_addr[12], &a.sin_addr, 4);
        int r = af == AF_INET ? connect(fd, (struct sockaddr *)&a, sizeof a) : connect(fd, (struct sockaddr *)&a6, sizeof a6);
        if (r < 0) DIE("connect");
    }
    return fd;
}

static const char *res(int r) { return r < 0 ? errno_name(errno) : "ok"; }

static int client(const struct opts *o) {
    static const int vals[] = {0, 1, 2, 7, 255, 256, -1, 100000};
    static const char *const kinds[] = {"tcp", "udp", "listener", "connection",
                                        "tcp6", "udp6", "listener6", "connection6"};
    for (int k = 0; k < 8; k++)
        for (size_t i = 0; i < sizeof OPTS / sizeof *OPTS; i++) {
            const struct opt *t = &OPTS[i];
            int fd = fresh(o, k < 4 ? AF_INET : AF_INET6, k % 4), v = 12345;
            unsigned char c = 0x5a;
            socklen_t l = sizeof v;
            int r = getsockopt(fd, t->level, t->name, &v, &l);
            printf("%s %s get: %s", kinds[k], t->n, res(r));
            if (r == 0) t->sized ? printf(" len %u", l) : printf(" len %u value %d", l, v);
            l = 1;
            r = getsockopt(fd, t->level, t->name, &c, &l);
            printf("; 1 byte: %s", res(r));
            if (r == 0) t->sized ? printf(" len %u", l) : printf(" len %u value %d", l, c);
            l = 0;
            r = getsockopt(fd, t->level, t->name, &v, &l);
            printf("; 0 bytes: %s len %u", res(r), l);
            l = 4;
            r = getsockopt(fd, t->level, t->name, NULL, &l);
            printf("; null value: %s len %u", res(r), l);
            printf("; null length: %s\n", res(getsockopt(fd, t->level, t->name, &v, NULL)));
            for (size_t j = 0; j < sizeof vals / sizeof *vals; j++) {
                int x = vals[j];
                r = setsockopt(fd, t->level, t->name, &x, sizeof x);
                printf("%s %s set %d: %s", kinds[k], t->n, x, res(r));
                v = 12345;
                l = sizeof v;
                if (r == 0 && !t->sized && getsockopt(fd, t->level, t->name, &v, &l) == 0) printf(" -> %d", v);
                printf("\n");
            }
            unsigned char one = 1;
            r = setsockopt(fd, t->level, t->name, &one, 1);
            printf("%s %s set 1 byte: %s", kinds[k], t->n, res(r));
            r = setsockopt(fd, t->level, t->name, &one, 0);
            printf("; 0 bytes: %s", res(r));
            printf("; null value: %s\n", res(setsockopt(fd, t->level, t->name, NULL, 4)));
            close(fd);
        }
    seq_fuzz_quit(o);
    return 0;
}

int main(int argc, char **argv) {
    watchdog(60);
    return run_role(argc, argv, "opt_sweep client -c HOST -p PORT", seq_fuzz_only, client);
}
