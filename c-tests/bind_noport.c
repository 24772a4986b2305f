/* bind_noport client -c HOST -p PORT (the server side is `seq_fuzz server`: a TCP and a UDP echo
 * on PORT, ended with QUIT)
 * IP_BIND_ADDRESS_NO_PORT (Linux inet_bind with BIND_NO_PORT), as proxies use it to pick a source
 * address without using up a port per socket: bind() of an address with port 0 takes no port
 * (getsockname shows port 0), may be repeated, and a later bind with a port takes that one;
 * connect() (TCP and UDP), listen() and a UDP send then pick the port, keeping the bound
 * address. Without the option bind takes a port at once. Then IP_FREEBIND: bind() to an
 * address that is not ours (10.0.0.77) fails with EADDRNOTAVAIL without it and works with it
 * (listen too), while connect() and a UDP send from there find no route (ENETUNREACH); a TCP
 * bind to a group address works with it. Then IP_LOCAL_PORT_RANGE: the ports connect(),
 * bind(port 0) and a UDP send pick lie within a socket's range (each end that lies within the
 * host's 32768-60999 counts), a range of two ports gives a third connection to the server
 * EADDRNOTAVAIL, a range outside the host's is not used, lowest above highest and a value of
 * another size than 4 bytes are EINVAL. Printed: results and errnos, whether a port is set
 * and whether the address is the one bound, whether a port lies within a range; no address or
 * port itself. */
#include "common.h"

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static struct in_addr ours;

static const char *res(int r) { return r < 0 ? errno_name(errno) : "ok"; }

static void name(const char *what, int s) {
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    memset(&a, 0, sizeof a);
    int r = getsockname(s, (struct sockaddr *)&a, &l);
    printf("  %s: getsockname %s, port %s, address %s\n", what, res(r), a.sin_port ? "set" : "0",
           a.sin_addr.s_addr == INADDR_ANY ? "any" : a.sin_addr.s_addr == ours.s_addr ? "the bound one" : "another");
}

static int sock(int type, int noport) {
    int s = socket(AF_INET, type, 0);
    if (s < 0) DIE("socket");
    if (setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &noport, sizeof noport) < 0) DIE("setsockopt");
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &v, &l) < 0 || v != noport) die("read back", 0);
    return s;
}

static int bind_to(int s, struct in_addr ip, int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr = ip;
    a.sin_port = htons((uint16_t)port);
    return bind(s, (struct sockaddr *)&a, sizeof a);
}

static void freebind(const struct sockaddr_in *srv) {
    struct in_addr foreign, group;
    inet_pton(AF_INET, "10.0.0.77", &foreign);
    inet_pton(AF_INET, "224.0.0.9", &group);
    for (int udp = 0; udp < 2; udp++)
        for (int fb = 0; fb < 2; fb++) {
            int type = udp ? SOCK_DGRAM : SOCK_STREAM;
            int s = socket(AF_INET, type, 0);
            if (s < 0 || setsockopt(s, IPPROTO_IP, IP_FREEBIND, &fb, sizeof fb) < 0) DIE("IP_FREEBIND");
            printf("%s IP_FREEBIND %d: bind another host's address %s\n", udp ? "UDP" : "TCP", fb, res(bind_to(s, foreign, 0)));
            ours = foreign;
            name("bound", s);
            if (udp) {
                ssize_t r = sendto(s, "x", 1, 0, (const struct sockaddr *)srv, sizeof *srv);
                printf(" sendto %s\n", r < 0 ? errno_name(errno) : "ok");
            } else {
                int l = socket(AF_INET, SOCK_STREAM, 0);
                setsockopt(l, IPPROTO_IP, IP_FREEBIND, &fb, sizeof fb);
                bind_to(l, foreign, 0);
                printf(" another bound there: listen %s\n", res(listen(l, 1)));
                close(l);
            }
            printf(" connect %s\n", res(connect(s, (const struct sockaddr *)srv, sizeof *srv)));
            close(s);
        }
    int one = 1;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
    printf("TCP IP_FREEBIND 1: bind a group address %s\n", res(bind_to(s, group, 0)));
    close(s);
}

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

/* A socket of `type` with IP_LOCAL_PORT_RANGE lo..hi (printed: the result and what reads back). */
static int ranged(int type, unsigned lo, unsigned hi) {
    int s = socket(AF_INET, type, 0);
    if (s < 0) DIE("socket");
    uint32_t v = lo | hi << 16, g = 7;
    socklen_t l = sizeof g;
    int r = setsockopt(s, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &v, sizeof v);
    printf(" %s range %u-%u: %s", type == SOCK_DGRAM ? "UDP" : "TCP", lo, hi, res(r));
    getsockopt(s, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &g, &l);
    printf(", reads %u-%u\n", g & 0xffff, g >> 16);
    return s;
}

static void port_in(int s, const char *what, unsigned lo, unsigned hi) {
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    memset(&a, 0, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &l);
    unsigned p = ntohs(a.sin_port);
    printf("  %s: port within %u-%u: %s\n", what, lo, hi, p >= lo && p <= hi ? "yes" : p ? "no" : "none");
}

static void port_range(const struct sockaddr_in *srv) {
    const struct sockaddr *to = (const struct sockaddr *)srv;
    printf("IP_LOCAL_PORT_RANGE\n");
    int s = socket(AF_INET, SOCK_STREAM, 0);
    uint32_t g = 7;
    socklen_t l = sizeof g;
    int r = getsockopt(s, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &g, &l);
    printf(" at first: %s %u\n", res(r), g);
    uint32_t bad = 40010 | 40000u << 16;
    printf(" lowest above highest: %s\n", res(setsockopt(s, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &bad, sizeof bad)));
    uint16_t two = 40000;
    printf(" 2 bytes: %s\n", res(setsockopt(s, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &two, sizeof two)));
    uint64_t eight = 40000 | 40010u << 16;
    printf(" 8 bytes: %s\n", res(setsockopt(s, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &eight, sizeof eight)));
    close(s);
    s = ranged(SOCK_STREAM, 40000, 40010);
    printf("  connect %s\n", res(connect(s, to, sizeof *srv)));
    port_in(s, "connected", 40000, 40010);
    close(s);
    s = ranged(SOCK_STREAM, 40020, 40030);
    struct in_addr any = {INADDR_ANY};
    printf("  bind any:0 %s\n", res(bind_to(s, any, 0)));
    port_in(s, "bound", 40020, 40030);
    close(s);
    s = ranged(SOCK_DGRAM, 40040, 40050);
    ssize_t n = sendto(s, "x", 1, 0, to, sizeof *srv);
    printf("  sendto %s\n", n < 0 ? errno_name(errno) : "ok");
    port_in(s, "after sendto", 40040, 40050);
    close(s);
    /* A range with one end, and one outside the host's: (set lo, hi, expected lo, hi). */
    static const struct { unsigned lo, hi, want_lo, want_hi; const char *what; } cases[] = {
        {50000, 0, 50000, 60999, "lowest only"},
        {0, 33000, 32768, 33000, "highest only"},
        {1000, 2000, 32768, 60999, "outside the host's"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        s = ranged(SOCK_STREAM, cases[i].lo, cases[i].hi);
        connect(s, to, sizeof *srv);
        port_in(s, cases[i].what, cases[i].want_lo, cases[i].want_hi);
        close(s);
    }
    int c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = ranged(SOCK_STREAM, 40060, 40061);
        printf("  connect %d: %s\n", i + 1, res(connect(c[i], to, sizeof *srv)));
    }
    for (int i = 0; i < 3; i++) close(c[i]);
}

static int client(const struct opts *o) {
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in srv;
    make_addr(&srv, o->host, o->port);
    /* Our address: the source a connected UDP socket gets towards the server. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    if (u < 0 || connect(u, (struct sockaddr *)&srv, sizeof srv) < 0 || getsockname(u, (struct sockaddr *)&me, &ml) < 0)
        DIE("own address");
    ours = me.sin_addr;
    close(u);
    struct in_addr any = {INADDR_ANY};
    for (int udp = 0; udp < 2; udp++) {
        int type = udp ? SOCK_DGRAM : SOCK_STREAM;
        printf("%s\n", udp ? "UDP" : "TCP");
        for (int noport = 0; noport < 2; noport++) {
            printf(" IP_BIND_ADDRESS_NO_PORT %d\n", noport);
            int s = sock(type, noport);
            printf(" bind ours:0 %s\n", res(bind_to(s, ours, 0)));
            name("bound", s);
            printf(" bind ours:0 again %s\n", res(bind_to(s, ours, 0)));
            printf(" bind ours:%d %s\n", o->port + 1, res(bind_to(s, ours, o->port + 1)));
            name("bound with a port", s);
            close(s);
            s = sock(type, noport);
            printf(" bind any:0 %s\n", res(bind_to(s, any, 0)));
            name("bound", s);
            printf(" connect %s\n", res(connect(s, (struct sockaddr *)&srv, sizeof srv)));
            name("connected", s);
            close(s);
            s = sock(type, noport);
            bind_to(s, ours, 0);
            printf(" bind ours:0, connect %s\n", res(connect(s, (struct sockaddr *)&srv, sizeof srv)));
            name("connected", s);
            if (!udp) {
                char b[4];
                printf(" echo %s\n", send(s, "abc", 3, 0) == 3 && read_full(s, b, 3) == 3 && !memcmp(b, "abc", 3) ? "ok" : "lost");
            }
            close(s);
            s = sock(type, noport);
            bind_to(s, ours, 0);
            if (udp) {
                ssize_t r = sendto(s, "x", 1, 0, (struct sockaddr *)&srv, sizeof srv);
                printf(" bind ours:0, sendto %s\n", r < 0 ? errno_name(errno) : "ok");
                name("after sendto", s);
            } else {
                printf(" bind ours:0, listen %s\n", res(listen(s, 4)));
                name("listening", s);
            }
            close(s);
        }
    }
    freebind(&srv);
    port_range(&srv);
    seq_fuzz_quit(o);
    return 0;
}

int main(int argc, char **argv) {
    watchdog(60);
    return run_role(argc, argv, "bind_noport client -c HOST -p PORT", seq_fuzz_only, client);
}
