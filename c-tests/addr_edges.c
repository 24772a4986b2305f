/* addr_edges client -c HOST -p PORT (the server side is `seq_fuzz server`: a TCP and a UDP echo
 * on PORT, ended with QUIT)
 * sendto() with destinations of every shape, on TCP and UDP sockets of AF_INET and AF_INET6,
 * unconnected and connected to the server host, and connect() with the same on a new socket:
 * IPv4 with short, zero and oversized lengths (sendto's move_addr_to_kernel refuses more than a
 * sockaddr_storage, TCP too), the wildcard, v4-mapped IPv6 with RFC 2133's 24-byte length and
 * shorter, a real IPv6 address, ::1 and :: (a socket connected to an IPv4 peer has a v4-mapped
 * source: ::1 is EAFNOSUPPORT, AF_UNSPEC looks the peer up as IPv6), AF_UNSPEC, AF_UNIX and a
 * null address. Broadcast and multicast are left out (they depend on the routes). */
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *res(long r) { return r < 0 ? errno_name(errno) : "ok"; }

struct dest {
    const char *n;
    int fam;
    const char *addr; /* "H": the server host (IPv4), "MH": it v4-mapped */
    socklen_t len;
};

static void fill(const struct opts *o, const struct dest *d, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    ss->ss_family = (sa_family_t)d->fam;
    if (d->fam == AF_INET) {
        make_addr((struct sockaddr_in *)ss, strcmp(d->addr, "H") ? d->addr : o->host, o->port);
    } else if (d->fam == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_port = htons((uint16_t)o->port);
        if (!strcmp(d->addr, "MH")) {
            struct sockaddr_in h;
            make_addr(&h, o->host, o->port);
            a->sin6_addr.s6_addr[10] = a->sin6_addr.s6_addr[11] = 0xff;
            memcpy(&a->sin6_addr.s6_addr[12], &h.sin_addr, 4);
        } else if (inet_pton(AF_INET6, d->addr, &a->sin6_addr) != 1) {
            DIE("inet_pton");
        }
    }
}

static int client(const struct opts *o) {
    static const struct dest D[] = {
        {"v4", AF_INET, "H", 16},          {"v4 len 8", AF_INET, "H", 8},    {"v4 len 15", AF_INET, "H", 15},
        {"v4 len 0", AF_INET, "H", 0},     {"v4 len 1", AF_INET, "H", 1},    {"v4 len 200", AF_INET, "H", 200},
        {"v4 any", AF_INET, "0.0.0.0", 16}, {"v6 mapped", AF_INET6, "MH", 28}, {"v6 mapped len 24", AF_INET6, "MH", 24},
        {"v6 mapped len 23", AF_INET6, "MH", 23}, {"v6 real", AF_INET6, "2001:db8::1", 28},
        {"v6 loopback", AF_INET6, "::1", 28}, {"v6 any", AF_INET6, "::", 28}, {"unspec", AF_UNSPEC, "", 16},
        {"unspec len 2", AF_UNSPEC, "", 2}, {"unix", AF_UNIX, "", 16}, {"null len 16", -1, "", 16},
    };
    for (int f = 0; f < 2; f++)
        for (int udp = 0; udp < 2; udp++)
            for (int conn = 0; conn < 2; conn++)
                for (size_t i = 0; i < sizeof D / sizeof *D; i++) {
                    int af = f ? AF_INET6 : AF_INET, type = udp ? SOCK_DGRAM : SOCK_STREAM;
                    struct sockaddr_storage ss;
                    int fd = socket(af, type, 0);
                    if (fd < 0) DIE("socket");
                    if (conn) { /* blocking: connected when it returns */
                        struct dest to = {"", af, f ? "MH" : "H", f ? 28 : 16};
                        fill(o, &to, &ss);
                        if (connect(fd, (struct sockaddr *)&ss, to.len) < 0) DIE("connect");
                    }
                    set_nonblock(fd, 1);
                    fill(o, &D[i], &ss);
                    const struct sockaddr *to = D[i].fam < 0 ? NULL : (const struct sockaddr *)&ss;
                    long r = sendto(fd, "x", 1, MSG_NOSIGNAL, to, D[i].len);
                    printf("%s%d %s sendto %s: %s", udp ? "udp" : "tcp", f ? 6 : 4, conn ? "connected" : "new", D[i].n, res(r));
                    if (!conn) {
                        int c = socket(af, type, 0);
                        set_nonblock(c, 1);
                        printf("; connect: %s", res(connect(c, to, D[i].len)));
                        close(c);
                    }
                    printf("\n");
                    close(fd);
                }
    seq_fuzz_quit(o);
    return 0;
}

int main(int argc, char **argv) {
    watchdog(60);
    return run_role(argc, argv, "addr_edges client -c HOST -p PORT", seq_fuzz_only, client);
}
