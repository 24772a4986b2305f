/* mcast_group server -p PORT | mcast_group client -c HOST -p PORT
 * The protocol-independent multicast API (RFC 3678 5.1/5.2, Linux's ip_mcast_join_leave and
 * do_mcast_group_source): MCAST_JOIN_GROUP / MCAST_LEAVE_GROUP (struct group_req) and
 * MCAST_JOIN_SOURCE_GROUP / MCAST_LEAVE_SOURCE_GROUP / MCAST_BLOCK_SOURCE /
 * MCAST_UNBLOCK_SOURCE (struct group_source_req), the interface named by its index (learned
 * from IP_PKTINFO's ipi_ifindex, never printed).
 * The client checks the options' errors on sockets of its own (lengths, families, not a group,
 * an unknown index, no prior join, a source twice, a mode change, the IP_* options on the
 * same memberships, getsockopt, a stream socket), then sends one datagram to each of five
 * groups on PORT+1. The server's sockets on PORT+1 (IP_MULTICAST_ALL off) joined with the
 * MCAST_* options: any-source, INCLUDE the client, INCLUDE another host only, any-source with
 * the client blocked, any-source plain, joined and left, INCLUDE joined and its source left.
 * Each prints what it received. PORT is the control port (hello, done). */
#include "common.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define G_ASM "239.7.4.1"   /* the server: any-source */
#define G_INC "239.7.4.2"   /* the server: INCLUDE {client}; another socket joins and leaves */
#define G_OTHER "239.7.4.3" /* the server: INCLUDE {10.0.0.99} */
#define G_BLK "239.7.4.4"   /* the server: one socket blocks the client, one does not */
#define G_LEFT "239.7.4.5"  /* the server: joined, then left */
#define OTHER_SRC "10.0.0.99"
#define NO_INDEX 9999u

static const char *res(long r) { return r < 0 ? errno_name(errno) : "ok"; }

static void put_in(struct sockaddr_storage *ss, int family, const char *a) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = (sa_family_t)family;
    inet_pton(AF_INET, a, &in->sin_addr);
}

/* MCAST_JOIN_GROUP or MCAST_LEAVE_GROUP with a group of family FAM, LEN bytes of value. */
static long group_opt_x(int s, int opt, unsigned idx, int fam, const char *group, socklen_t len) {
    struct { struct group_req r; char tail[16]; } g;
    memset(&g, 0, sizeof g);
    g.r.gr_interface = idx;
    put_in(&g.r.gr_group, fam, group);
    return setsockopt(s, IPPROTO_IP, opt, &g, len);
}

static long group_opt(int s, int opt, unsigned idx, const char *group) {
    return group_opt_x(s, opt, idx, AF_INET, group, sizeof(struct group_req));
}

static long source_opt_x(int s, int opt, unsigned idx, int gfam, const char *group, int sfam, const char *src,
                         socklen_t len) {
    struct { struct group_source_req r; char tail[16]; } g;
    memset(&g, 0, sizeof g);
    g.r.gsr_interface = idx;
    put_in(&g.r.gsr_group, gfam, group);
    put_in(&g.r.gsr_source, sfam, src);
    return setsockopt(s, IPPROTO_IP, opt, &g, len);
}

static long source_opt(int s, int opt, unsigned idx, const char *group, const char *src) {
    return source_opt_x(s, opt, idx, AF_INET, group, AF_INET, src, sizeof(struct group_source_req));
}

/* The IP_* options on the same memberships (by our address). */
static long mreq_opt(int s, int opt, const char *group, struct in_addr iface) {
    struct ip_mreq m;
    inet_pton(AF_INET, group, &m.imr_multiaddr);
    m.imr_interface = iface;
    return setsockopt(s, IPPROTO_IP, opt, &m, sizeof m);
}

static long mreq_source_opt(int s, int opt, const char *group, struct in_addr iface, const char *src) {
    struct ip_mreq_source m;
    inet_pton(AF_INET, group, &m.imr_multiaddr);
    m.imr_interface = iface;
    inet_pton(AF_INET, src, &m.imr_sourceaddr);
    return setsockopt(s, IPPROTO_IP, opt, &m, sizeof m);
}

static void must(long r, const char *what) {
    if (r < 0) DIE(what);
}

/* Receives a datagram on s (IP_PKTINFO on) into buf; its sender into from, if given; returns
 * the index of the interface it came by and our address on it in *me. */
static unsigned recv_info(int s, char *buf, size_t len, struct sockaddr_in *from, struct in_addr *me) {
    char cbuf[256];
    struct iovec io = { buf, len };
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_name = from;
    m.msg_namelen = from ? sizeof *from : 0;
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    struct pollfd p = { s, POLLIN, 0 };
    if (poll(&p, 1, 10000) != 1 || recvmsg(s, &m, 0) < 0) die("no datagram", errno);
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
        if (h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo *pi = (struct in_pktinfo *)CMSG_DATA(h);
            if (me) *me = pi->ipi_addr;
            return (unsigned)pi->ipi_ifindex;
        }
    die("no IP_PKTINFO", 0);
    return 0;
}

static int data_socket(int port) {
    int s = udp_bound(NULL, port, 1), off = 0;
    if (setsockopt(s, IPPROTO_IP, IP_MULTICAST_ALL, &off, sizeof off) < 0) DIE("IP_MULTICAST_ALL");
    return s;
}

static int server(const struct opts *o) {
    int c = udp_bound(NULL, o->port, 1);
    int one = 1;
    if (setsockopt(c, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0) DIE("IP_PKTINFO");
    signal_ready(o);
    char buf[64];
    struct sockaddr_in client;
    unsigned idx = recv_info(c, buf, sizeof buf, &client, NULL);
    char csrc[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &client.sin_addr, csrc, sizeof csrc);
    int dp = o->port + 1;
    int asm_ = data_socket(dp), inc = data_socket(dp), other = data_socket(dp), block = data_socket(dp);
    int plain = data_socket(dp), left = data_socket(dp), inc_left = data_socket(dp);
    must(group_opt(asm_, MCAST_JOIN_GROUP, idx, G_ASM), "join asm");
    must(source_opt(inc, MCAST_JOIN_SOURCE_GROUP, idx, G_INC, csrc), "join include");
    must(source_opt(other, MCAST_JOIN_SOURCE_GROUP, idx, G_OTHER, OTHER_SRC), "join other");
    must(group_opt(block, MCAST_JOIN_GROUP, idx, G_BLK), "join block");
    must(source_opt(block, MCAST_BLOCK_SOURCE, idx, G_BLK, csrc), "block");
    must(group_opt(plain, MCAST_JOIN_GROUP, idx, G_BLK), "join plain");
    must(group_opt(left, MCAST_JOIN_GROUP, idx, G_LEFT), "join left");
    must(group_opt(left, MCAST_LEAVE_GROUP, idx, G_LEFT), "leave left");
    must(source_opt(inc_left, MCAST_JOIN_SOURCE_GROUP, idx, G_INC, csrc), "join inc_left");
    must(source_opt(inc_left, MCAST_LEAVE_SOURCE_GROUP, idx, G_INC, csrc), "leave inc_left");
    if (sendto(c, "joined", 6, 0, (struct sockaddr *)&client, sizeof client) != 6) DIE("joined");
    printf("server: joined\n");
    struct pollfd p = { c, POLLIN, 0 };
    if (poll(&p, 1, 10000) != 1 || recv(c, buf, sizeof buf, 0) < 0) die("no done", errno);
    print_datagrams(asm_, "any-source " G_ASM);
    print_datagrams(inc, "INCLUDE {client} of " G_INC);
    print_datagrams(other, "INCLUDE {" OTHER_SRC "} of " G_OTHER);
    print_datagrams(block, "any-source " G_BLK " blocking the client");
    print_datagrams(plain, "any-source " G_BLK);
    print_datagrams(left, G_LEFT " joined and left");
    print_datagrams(inc_left, G_INC " joined with the client and the source left");
    /* Unblocked, the client's next datagram reaches it; left, the plain one no longer hears. */
    must(source_opt(block, MCAST_UNBLOCK_SOURCE, idx, G_BLK, csrc), "unblock");
    must(group_opt(plain, MCAST_LEAVE_GROUP, idx, G_BLK), "leave plain");
    if (sendto(c, "again", 5, 0, (struct sockaddr *)&client, sizeof client) != 5) DIE("again");
    if (poll(&p, 1, 10000) != 1 || recv(c, buf, sizeof buf, 0) < 0) die("no done", errno);
    print_datagrams(block, "any-source " G_BLK " after MCAST_UNBLOCK_SOURCE");
    print_datagrams(plain, "any-source " G_BLK " after MCAST_LEAVE_GROUP");
    return 0;
}

static void send_group(int s, const char *group, int port, const char *tag) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, group, &a.sin_addr);
    if (sendto(s, tag, strlen(tag), 0, (struct sockaddr *)&a, sizeof a) < 0) DIE("sendto group");
}

/* The errors, on sockets of the client's own (nothing here reaches the server). */
static void errors(unsigned idx, struct in_addr own) {
    const char *g = "239.7.4.20", *s1 = "10.0.0.77", *s2 = "10.0.0.78";
    const socklen_t GL = sizeof(struct group_req), SL = sizeof(struct group_source_req);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    printf("client: JOIN_GROUP short value: %s\n", res(group_opt_x(s, MCAST_JOIN_GROUP, idx, AF_INET, g, GL - 1)));
    printf("client: JOIN_GROUP AF_INET6 group: %s\n", res(group_opt_x(s, MCAST_JOIN_GROUP, idx, AF_INET6, g, GL)));
    printf("client: JOIN_GROUP AF_UNSPEC group: %s\n", res(group_opt_x(s, MCAST_JOIN_GROUP, idx, AF_UNSPEC, g, GL)));
    printf("client: JOIN_GROUP not a group: %s\n", res(group_opt(s, MCAST_JOIN_GROUP, idx, "10.0.0.5")));
    printf("client: JOIN_GROUP unknown index: %s\n", res(group_opt(s, MCAST_JOIN_GROUP, NO_INDEX, g)));
    printf("client: LEAVE_GROUP not joined: %s\n", res(group_opt(s, MCAST_LEAVE_GROUP, idx, g)));
    printf("client: LEAVE_GROUP short value: %s\n", res(group_opt_x(s, MCAST_LEAVE_GROUP, idx, AF_INET, g, GL - 1)));
    printf("client: LEAVE_GROUP AF_INET6 group: %s\n", res(group_opt_x(s, MCAST_LEAVE_GROUP, idx, AF_INET6, g, GL)));
    printf("client: JOIN_GROUP long value: %s\n", res(group_opt_x(s, MCAST_JOIN_GROUP, idx, AF_INET, g, GL + 8)));
    printf("client: JOIN_GROUP again: %s\n", res(group_opt(s, MCAST_JOIN_GROUP, idx, g)));
    printf("client: IP_ADD_MEMBERSHIP on it: %s\n", res(mreq_opt(s, IP_ADD_MEMBERSHIP, g, own)));
    printf("client: LEAVE_GROUP unknown index: %s\n", res(group_opt(s, MCAST_LEAVE_GROUP, NO_INDEX, g)));
    printf("client: LEAVE_GROUP long value: %s\n", res(group_opt_x(s, MCAST_LEAVE_GROUP, idx, AF_INET, g, GL + 8)));
    printf("client: LEAVE_GROUP again: %s\n", res(group_opt(s, MCAST_LEAVE_GROUP, idx, g)));
    printf("client: IP_ADD_MEMBERSHIP: %s\n", res(mreq_opt(s, IP_ADD_MEMBERSHIP, g, own)));
    printf("client: then LEAVE_GROUP by index: %s\n", res(group_opt(s, MCAST_LEAVE_GROUP, idx, g)));
    printf("client: then IP_DROP_MEMBERSHIP: %s\n", res(mreq_opt(s, IP_DROP_MEMBERSHIP, g, own)));
    int v = 0;
    socklen_t vl = sizeof v;
    printf("client: getsockopt MCAST_JOIN_GROUP: %s\n", res(getsockopt(s, IPPROTO_IP, MCAST_JOIN_GROUP, &v, &vl)));

    printf("client: JOIN_SOURCE short value: %s\n",
           res(source_opt_x(s, MCAST_JOIN_SOURCE_GROUP, idx, AF_INET, g, AF_INET, s1, SL - 1)));
    printf("client: JOIN_SOURCE long value: %s\n",
           res(source_opt_x(s, MCAST_JOIN_SOURCE_GROUP, idx, AF_INET, g, AF_INET, s1, SL + 8)));
    printf("client: JOIN_SOURCE AF_INET6 group: %s\n",
           res(source_opt_x(s, MCAST_JOIN_SOURCE_GROUP, idx, AF_INET6, g, AF_INET, s1, SL)));
    printf("client: JOIN_SOURCE AF_UNSPEC source: %s\n",
           res(source_opt_x(s, MCAST_JOIN_SOURCE_GROUP, idx, AF_INET, g, AF_UNSPEC, s1, SL)));
    printf("client: JOIN_SOURCE not a group: %s\n", res(source_opt(s, MCAST_JOIN_SOURCE_GROUP, idx, "10.0.0.5", s1)));
    printf("client: JOIN_SOURCE unknown index: %s\n", res(source_opt(s, MCAST_JOIN_SOURCE_GROUP, NO_INDEX, g, s1)));
    printf("client: LEAVE_SOURCE not joined: %s\n", res(source_opt(s, MCAST_LEAVE_SOURCE_GROUP, idx, g, s1)));
    printf("client: BLOCK_SOURCE not joined: %s\n", res(source_opt(s, MCAST_BLOCK_SOURCE, idx, g, s1)));
    printf("client: UNBLOCK_SOURCE not joined: %s\n", res(source_opt(s, MCAST_UNBLOCK_SOURCE, idx, g, s1)));
    printf("client: BLOCK_SOURCE unknown index: %s\n", res(source_opt(s, MCAST_BLOCK_SOURCE, NO_INDEX, g, s1)));
    printf("client: JOIN_SOURCE: %s\n", res(source_opt(s, MCAST_JOIN_SOURCE_GROUP, idx, g, s1)));
    printf("client: JOIN_SOURCE the same source: %s\n", res(source_opt(s, MCAST_JOIN_SOURCE_GROUP, idx, g, s1)));
    printf("client: JOIN_GROUP on it: %s\n", res(group_opt(s, MCAST_JOIN_GROUP, idx, g)));
    printf("client: BLOCK_SOURCE on the INCLUDE filter: %s\n", res(source_opt(s, MCAST_BLOCK_SOURCE, idx, g, s1)));
    printf("client: LEAVE_SOURCE a source not there: %s\n", res(source_opt(s, MCAST_LEAVE_SOURCE_GROUP, idx, g, s2)));
    printf("client: JOIN_SOURCE another source: %s\n", res(source_opt(s, MCAST_JOIN_SOURCE_GROUP, idx, g, s2)));
    printf("client: IP_DROP_SOURCE_MEMBERSHIP of it: %s\n",
           res(mreq_source_opt(s, IP_DROP_SOURCE_MEMBERSHIP, g, own, s2)));
    printf("client: LEAVE_SOURCE unknown index: %s\n", res(source_opt(s, MCAST_LEAVE_SOURCE_GROUP, NO_INDEX, g, s1)));
    printf("client: LEAVE_SOURCE the last source: %s\n", res(source_opt(s, MCAST_LEAVE_SOURCE_GROUP, idx, g, s1)));
    printf("client: then LEAVE_GROUP: %s\n", res(group_opt(s, MCAST_LEAVE_GROUP, idx, g)));
    printf("client: JOIN_GROUP: %s\n", res(group_opt(s, MCAST_JOIN_GROUP, idx, g)));
    printf("client: UNBLOCK_SOURCE nothing blocked: %s\n", res(source_opt(s, MCAST_UNBLOCK_SOURCE, idx, g, s1)));
    printf("client: BLOCK_SOURCE: %s\n", res(source_opt(s, MCAST_BLOCK_SOURCE, idx, g, s1)));
    printf("client: BLOCK_SOURCE again: %s\n", res(source_opt(s, MCAST_BLOCK_SOURCE, idx, g, s1)));
    printf("client: IP_BLOCK_SOURCE of it: %s\n", res(mreq_source_opt(s, IP_BLOCK_SOURCE, g, own, s1)));
    printf("client: JOIN_SOURCE on the EXCLUDE filter: %s\n", res(source_opt(s, MCAST_JOIN_SOURCE_GROUP, idx, g, s1)));
    printf("client: UNBLOCK_SOURCE: %s\n", res(source_opt(s, MCAST_UNBLOCK_SOURCE, idx, g, s1)));
    printf("client: UNBLOCK_SOURCE again: %s\n", res(source_opt(s, MCAST_UNBLOCK_SOURCE, idx, g, s1)));
    printf("client: LEAVE_GROUP: %s\n", res(group_opt(s, MCAST_LEAVE_GROUP, idx, g)));
    printf("client: IP_ADD_SOURCE_MEMBERSHIP: %s\n", res(mreq_source_opt(s, IP_ADD_SOURCE_MEMBERSHIP, g, own, s1)));
    printf("client: then LEAVE_SOURCE by index: %s\n", res(source_opt(s, MCAST_LEAVE_SOURCE_GROUP, idx, g, s1)));
    close(s);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    printf("client: JOIN_GROUP short value on a stream socket: %s\n",
           res(group_opt_x(t, MCAST_JOIN_GROUP, idx, AF_INET, g, GL - 1)));
    printf("client: JOIN_GROUP not a group on a stream socket: %s\n", res(group_opt(t, MCAST_JOIN_GROUP, idx, "10.0.0.5")));
    printf("client: JOIN_GROUP unknown index on a stream socket: %s\n", res(group_opt(t, MCAST_JOIN_GROUP, NO_INDEX, g)));
    printf("client: BLOCK_SOURCE on a stream socket: %s\n", res(source_opt(t, MCAST_BLOCK_SOURCE, idx, g, s1)));
    close(t);
}

static int client(const struct opts *o) {
    struct sockaddr_in srv;
    make_addr(&srv, o->host, o->port);
    int c = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
    if (c < 0 || connect(c, (struct sockaddr *)&srv, sizeof srv) < 0) DIE("connect");
    if (setsockopt(c, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0) DIE("IP_PKTINFO");
    if (send(c, "hello", 5, 0) != 5) DIE("hello");
    char buf[64];
    struct in_addr own;
    unsigned idx = recv_info(c, buf, sizeof buf, NULL, &own);
    if (idx == 0) die("ipi_ifindex 0", 0);
    errors(idx, own);

    /* The datagrams for the server's memberships. */
    int m = socket(AF_INET, SOCK_DGRAM, 0);
    if (setsockopt(m, IPPROTO_IP, IP_MULTICAST_IF, &own, sizeof own) < 0) DIE("IP_MULTICAST_IF");
    int dp = o->port + 1;
    send_group(m, G_ASM, dp, "to " G_ASM);
    send_group(m, G_INC, dp, "to " G_INC);
    send_group(m, G_OTHER, dp, "to " G_OTHER);
    send_group(m, G_BLK, dp, "to " G_BLK);
    send_group(m, G_LEFT, dp, "to " G_LEFT);
    sleep_ms(300);
    if (send(c, "done", 4, 0) != 4) DIE("done");
    struct pollfd p = { c, POLLIN, 0 };
    if (poll(&p, 1, 10000) != 1 || recv(c, buf, sizeof buf, 0) < 0) die("no again", errno);
    send_group(m, G_BLK, dp, "again to " G_BLK);
    sleep_ms(300);
    if (send(c, "done", 4, 0) != 4) DIE("done");
    printf("client: sent\n");
    close(m);
    close(c);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: mcast_group server -p PORT | client -c HOST -p PORT", server, client);
}
