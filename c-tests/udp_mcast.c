/* udp_mcast server PORT | udp_mcast client HOST PORT
 * IPv4 multicast as Linux does it, between two hosts (group 239.7.3.5; the server's group port
 * is PORT, the client's PORT+1). The server first checks the option errors and defaults
 * (IP_MULTICAST_TTL/LOOP/IF/ALL read back, EINVAL for a group that is not multicast or a short
 * ip_mreq, EADDRNOTAVAIL for dropping a group not joined or a foreign IP_MULTICAST_IF, ENODEV
 * for a foreign interface, EPROTO/EINVAL on TCP, ENOPROTOOPT for getsockopt of a membership)
 * and prints "server: ready". The client says hello by unicast (the server learns its own
 * address from IP_PKTINFO), the server joins (a second join: EADDRINUSE) and answers; the
 * client sends to the group with IP_MULTICAST_TTL 5: the server's member socket and a socket
 * bound to the group address receive it (ipi_addr = the group, TTL 5); the server's own
 * datagram to the group comes back to it (IP_MULTICAST_LOOP, on the link's interface, as
 * Linux's dev_loopback_xmit keeps it) and not once the loop is off; a
 * datagram to the client's group port reaches the client (TTL 1, the default); after
 * IP_DROP_MEMBERSHIP the group's datagrams no longer arrive. Addresses are never printed. */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define GROUP "239.7.3.5"

static struct in_addr group(void) {
    struct in_addr g;
    inet_pton(AF_INET, GROUP, &g);
    return g;
}

static const char *res(int r) { return r < 0 ? errno_name(errno) : "ok"; }

static int getint(int s, int name) {
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(s, IPPROTO_IP, name, &v, &l) < 0) return -1000 - errno;
    return v;
}

static int setint(int s, int name, int v) { return setsockopt(s, IPPROTO_IP, name, &v, sizeof v); }

static int member(int s, int name, const char *grp, struct in_addr iface, socklen_t len) {
    struct ip_mreq m;
    inet_pton(AF_INET, grp, &m.imr_multiaddr);
    m.imr_interface = iface;
    return setsockopt(s, IPPROTO_IP, name, &m, len);
}

/* A socket bound to addr:port (shared with the others on the port), reporting IP_PKTINFO/TTL. */
static int member_socket(const char *addr, int port) {
    int s = udp_bound(addr, port, 1);
    if (setint(s, IP_PKTINFO, 1) < 0 || setint(s, IP_RECVTTL, 1) < 0) DIE("IP_PKTINFO");
    return s;
}

static struct in_addr own;       /* this host's address */
static struct sockaddr_in peer;  /* the other side's unicast address (and port) */

/* Waits up to MS for a datagram on S; prints it (WHO: WHAT) with its destination and TTL, or
 * "nothing". Returns 1 if one came. */
static int receive(int s, const char *who, const char *what, int ms) {
    struct pollfd p = {s, POLLIN, 0};
    if (poll(&p, 1, ms) != 1) {
        printf("%s: %s: nothing\n", who, what);
        return 0;
    }
    char buf[256], cbuf[256];
    struct sockaddr_in from;
    struct iovec io = {buf, sizeof buf - 1};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    ssize_t n = recvmsg(s, &m, 0);
    if (n < 0) DIE("recvmsg");
    buf[n] = 0;
    const char *dst = "?", *ifc = "?";
    int ttl = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            dst = pi.ipi_addr.s_addr == group().s_addr ? "the group" : "unicast";
            if (!own.s_addr) own = pi.ipi_spec_dst;
            if (pi.ipi_spec_dst.s_addr != own.s_addr) dst = "wrong ipi_spec_dst";
            char name[IF_NAMESIZE];
            const char *nm = if_indextoname((unsigned)pi.ipi_ifindex, name);
            ifc = !nm ? "no interface" : strcmp(nm, "lo") ? "the link" : "the loopback";
        }
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
    }
    if (!peer.sin_port) peer = from;
    printf("%s: %s: \"%s\" to %s on %s, TTL %d\n", who, what, buf, dst, ifc, ttl);
    return 1;
}

static void send_to(int s, const char *who, const char *text, const char *addr, int port) {
    struct sockaddr_in a;
    if (addr) make_addr(&a, addr, port);
    else a = peer;
    ssize_t n = sendto(s, text, strlen(text), 0, (struct sockaddr *)&a, sizeof a);
    printf("%s: send \"%s\" -> %s\n", who, text, n < 0 ? errno_name(errno) : "sent");
}

static void option_errors(void) {
    const char *w = "server";
    int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
    if (u < 0 || t < 0) DIE("socket");
    struct in_addr any = {0}, foreign;
    inet_pton(AF_INET, "10.9.9.9", &foreign);
    printf("%s: defaults TTL %d LOOP %d ALL %d\n", w, getint(u, IP_MULTICAST_TTL), getint(u, IP_MULTICAST_LOOP),
           getint(u, IP_MULTICAST_ALL));
    struct in_addr ifa;
    socklen_t l = sizeof ifa;
    int r = getsockopt(u, IPPROTO_IP, IP_MULTICAST_IF, &ifa, &l);
    printf("%s: IP_MULTICAST_IF %s len %u any %s\n", w, res(r), (unsigned)l, ifa.s_addr ? "no" : "yes");
    printf("%s: TTL 256 %s", w, res(setint(u, IP_MULTICAST_TTL, 256)));
    setint(u, IP_MULTICAST_TTL, -1);
    printf(", -1 reads %d", getint(u, IP_MULTICAST_TTL));
    unsigned char c = 3;
    const char *one = res(setsockopt(u, IPPROTO_IP, IP_MULTICAST_TTL, &c, 1));
    printf(", one byte %s reads %d\n", one, getint(u, IP_MULTICAST_TTL));
    printf("%s: join 10.1.1.1 %s\n", w, res(member(u, IP_ADD_MEMBERSHIP, "10.1.1.1", any, sizeof(struct ip_mreq))));
    printf("%s: join short %s\n", w, res(member(u, IP_ADD_MEMBERSHIP, GROUP, any, 4)));
    /* (With 0.0.0.0 as the interface Linux looks the group's route up: ENODEV without one.) */
    printf("%s: drop not joined %s\n", w, res(member(u, IP_DROP_MEMBERSHIP, GROUP, foreign, sizeof(struct ip_mreq))));
    printf("%s: join on a foreign address %s\n", w,
           res(member(u, IP_ADD_MEMBERSHIP, GROUP, foreign, sizeof(struct ip_mreq))));
    struct ip_mreqn mn;
    memset(&mn, 0, sizeof mn);
    mn.imr_multiaddr = group();
    mn.imr_ifindex = 9999;
    printf("%s: join on index 9999 %s\n", w, res(setsockopt(u, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mn, sizeof mn)));
    printf("%s: IP_MULTICAST_IF index 9999 %s\n", w, res(setsockopt(u, IPPROTO_IP, IP_MULTICAST_IF, &mn, sizeof mn)));
    printf("%s: IP_MULTICAST_IF foreign %s\n", w, res(setsockopt(u, IPPROTO_IP, IP_MULTICAST_IF, &foreign, sizeof foreign)));
    printf("%s: IP_MULTICAST_IF 3 bytes %s\n", w, res(setsockopt(u, IPPROTO_IP, IP_MULTICAST_IF, &foreign, 3)));
    char b[16];
    l = sizeof b;
    printf("%s: getsockopt IP_ADD_MEMBERSHIP %s\n", w, res(getsockopt(u, IPPROTO_IP, IP_ADD_MEMBERSHIP, b, &l)));
    printf("%s: TCP join %s", w, res(member(t, IP_ADD_MEMBERSHIP, GROUP, any, sizeof(struct ip_mreq))));
    printf(", IP_MULTICAST_IF %s", res(setsockopt(t, IPPROTO_IP, IP_MULTICAST_IF, &any, sizeof any)));
    printf(", IP_MULTICAST_TTL %s\n", res(setint(t, IP_MULTICAST_TTL, 2)));
    const char *all = res(setint(u, IP_MULTICAST_ALL, 0));
    printf("%s: IP_MULTICAST_ALL 0 %s reads %d\n", w, all, getint(u, IP_MULTICAST_ALL));
    close(u);
    close(t);
}

static int server(int port) {
    const char *w = "server";
    option_errors();
    int r = member_socket("0.0.0.0", port);
    int g = member_socket(GROUP, port);
    printf("server: ready\n");
    fflush(stdout);
    receive(r, w, "hello", 10000);
    printf("%s: join %s", w, res(member(r, IP_ADD_MEMBERSHIP, GROUP, own, sizeof(struct ip_mreq))));
    printf(", again %s\n", res(member(r, IP_ADD_MEMBERSHIP, GROUP, own, sizeof(struct ip_mreq))));
    int rc = setsockopt(r, IPPROTO_IP, IP_MULTICAST_IF, &own, sizeof own);
    struct in_addr ifa;
    socklen_t l = sizeof ifa;
    getsockopt(r, IPPROTO_IP, IP_MULTICAST_IF, &ifa, &l);
    printf("%s: IP_MULTICAST_IF own %s, reads own %s\n", w, res(rc), ifa.s_addr == own.s_addr ? "yes" : "no");
    send_to(r, w, "joined", NULL, 0);
    receive(r, w, "member socket", 5000);
    receive(g, w, "group-bound socket", 5000);
    send_to(r, w, "loop", GROUP, port);
    receive(r, w, "member socket", 2000);
    receive(g, w, "group-bound socket", 2000);
    printf("%s: loop off %s\n", w, res(setint(r, IP_MULTICAST_LOOP, 0)));
    send_to(r, w, "no loop", GROUP, port);
    receive(r, w, "member socket", 300);
    send_to(r, w, "to the client's group port", GROUP, port + 1);
    printf("%s: drop %s", w, res(member(r, IP_DROP_MEMBERSHIP, GROUP, own, sizeof(struct ip_mreq))));
    printf(", again %s\n", res(member(r, IP_DROP_MEMBERSHIP, GROUP, own, sizeof(struct ip_mreq))));
    send_to(r, w, "dropped", NULL, 0);
    /* Whatever comes before the client's unicast "bye" (sent 600 ms after its last datagram
     * to the group) would be the group's: none, now that the host left it. */
    int extra = 0;
    for (;;) {
        struct pollfd p = {r, POLLIN, 0};
        if (poll(&p, 1, 5000) != 1) break;
        char buf[64];
        ssize_t n = recv(r, buf, sizeof buf - 1, 0);
        if (n < 0) DIE("recv");
        buf[n] = 0;
        if (!strcmp(buf, "bye")) {
            printf("%s: bye, after %d datagrams to the group since the drop\n", w, extra);
            return 0;
        }
        extra++;
    }
    printf("%s: no bye\n", w);
    return 1;
}

static int client(const char *host, int port) {
    const char *w = "client";
    /* Our own address: the source a connected socket gets. */
    int t = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a;
    make_addr(&a, host, port);
    if (t < 0 || connect(t, (struct sockaddr *)&a, sizeof a) < 0) DIE("connect");
    socklen_t l = sizeof a;
    if (getsockname(t, (struct sockaddr *)&a, &l) < 0) DIE("getsockname");
    close(t);
    int c = member_socket("0.0.0.0", port + 1);
    own = a.sin_addr;
    printf("%s: join %s\n", w, res(member(c, IP_ADD_MEMBERSHIP, GROUP, own, sizeof(struct ip_mreq))));
    if (setsockopt(c, IPPROTO_IP, IP_MULTICAST_IF, &own, sizeof own) < 0) DIE("IP_MULTICAST_IF");
    printf("%s: TTL 5 %s\n", w, res(setint(c, IP_MULTICAST_TTL, 5)));
    send_to(c, w, "hello", host, port);
    receive(c, w, "answer", 5000);
    send_to(c, w, "to the group", GROUP, port);
    receive(c, w, "from the server", 5000);
    receive(c, w, "answer", 5000);
    send_to(c, w, "after the drop", GROUP, port);
    sleep_ms(600);
    send_to(c, w, "bye", host, port);
    return 0;
}

int main(int argc, char **argv) {
    watchdog(40);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && !strcmp(argv[1], "server")) return server(atoi(argv[2]));
    if (argc == 4 && !strcmp(argv[1], "client")) return client(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: udp_mcast server PORT | udp_mcast client HOST PORT\n");
    return 2;
}
