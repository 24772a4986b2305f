/* mcast_msf server -p PORT | mcast_msf client -c HOST -p PORT
 * The whole-filter multicast options (RFC 3678 4.2/5.2, Linux's ip_mc_msfilter, ip_mc_msfget,
 * ip_mc_gsfget): setsockopt and getsockopt of IP_MSFILTER (struct ip_msfilter) and
 * MCAST_MSFILTER (struct group_filter). getsockopt reads the group from the value and writes
 * back the mode, the full number of sources and as many sources as the caller's count.
 * The client learns its interface's index and address (IP_PKTINFO of the server's answer,
 * never printed), then checks on sockets of its own: errors (short values, not a group, an
 * unknown interface, no join, a bad mode, too many sources), the filter after joins, source
 * options and whole-filter sets, read with both options and truncated, (INCLUDE, {}) leaving.
 * PORT is the control port (hello, answer). */
#include "common.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define G "239.7.12.1"
#define S1 "10.0.0.77"
#define S2 "10.0.0.78"
#define S3 "10.0.0.79"

static const char *res(long r) { return r < 0 ? errno_name(errno) : "ok"; }

static struct in_addr ip(const char *a) {
    struct in_addr x;
    inet_pton(AF_INET, a, &x);
    return x;
}

static void put_in(struct sockaddr_storage *ss, const char *a) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    in->sin_addr = ip(a);
}

/* setsockopt(IP_MSFILTER): group G on interface IFACE, MODE, N sources of SRCS. */
static long set_ip(int s, struct in_addr iface, const char *group, unsigned mode, unsigned n, const char **srcs,
                   socklen_t len) {
    union { struct ip_msfilter f; char b[IP_MSFILTER_SIZE(8)]; } u;
    memset(&u, 0, sizeof u);
    u.f.imsf_multiaddr = ip(group);
    u.f.imsf_interface = iface;
    u.f.imsf_fmode = mode;
    u.f.imsf_numsrc = n;
    for (unsigned i = 0; i < n && i < 8; i++) (&u.f.imsf_slist[0])[i] = ip(srcs[i]);
    return setsockopt(s, IPPROTO_IP, IP_MSFILTER, &u, len ? len : IP_MSFILTER_SIZE(n));
}

static long set_gf(int s, unsigned idx, const char *group, unsigned mode, unsigned n, const char **srcs) {
    union { struct group_filter f; char b[GROUP_FILTER_SIZE(4)]; } u;
    memset(&u, 0, sizeof u);
    u.f.gf_interface = idx;
    put_in(&u.f.gf_group, group);
    u.f.gf_fmode = mode;
    u.f.gf_numsrc = n;
    for (unsigned i = 0; i < n && i < 4; i++) put_in(&(&u.f.gf_slist[0])[i], srcs[i]);
    return setsockopt(s, IPPROTO_IP, MCAST_MSFILTER, &u, GROUP_FILTER_SIZE(n));
}

static const char *mode_name(unsigned m) { return m == MCAST_INCLUDE ? "INCLUDE" : m == MCAST_EXCLUDE ? "EXCLUDE" : "?"; }

/* getsockopt(IP_MSFILTER) with room for ROOM sources (the count given) and LEN bytes. */
static void get_ip(const char *what, int s, struct in_addr iface, const char *group, unsigned room, socklen_t len) {
    union { struct ip_msfilter f; char b[IP_MSFILTER_SIZE(8)]; } u;
    memset(&u, 0xaa, sizeof u);
    u.f.imsf_multiaddr = ip(group);
    u.f.imsf_interface = iface;
    u.f.imsf_numsrc = room;
    socklen_t l = len;
    if (getsockopt(s, IPPROTO_IP, IP_MSFILTER, &u, &l) < 0) {
        printf("client: get IP_MSFILTER %s: %s\n", what, errno_name(errno));
        return;
    }
    printf("client: get IP_MSFILTER %s: len %u, %s, %u sources:", what, (unsigned)l, mode_name(u.f.imsf_fmode),
           u.f.imsf_numsrc);
    for (unsigned i = 0; i < room && i < u.f.imsf_numsrc && IP_MSFILTER_SIZE(i + 1) <= l; i++)
        printf(" %s", inet_ntoa((&u.f.imsf_slist[0])[i]));
    printf("\n");
}

static void get_gf(const char *what, int s, unsigned idx, const char *group, unsigned room, socklen_t len) {
    union { struct group_filter f; char b[GROUP_FILTER_SIZE(4)]; } u;
    memset(&u, 0xaa, sizeof u);
    u.f.gf_interface = idx;
    put_in(&u.f.gf_group, group);
    u.f.gf_numsrc = room;
    socklen_t l = len;
    if (getsockopt(s, IPPROTO_IP, MCAST_MSFILTER, &u, &l) < 0) {
        printf("client: get MCAST_MSFILTER %s: %s\n", what, errno_name(errno));
        return;
    }
    printf("client: get MCAST_MSFILTER %s: len %u, %s, %u sources:", what, (unsigned)l, mode_name(u.f.gf_fmode),
           u.f.gf_numsrc);
    for (unsigned i = 0; i < room && i < u.f.gf_numsrc && GROUP_FILTER_SIZE(i + 1) <= l; i++) {
        struct sockaddr_in *in = (struct sockaddr_in *)&(&u.f.gf_slist[0])[i];
        printf(" %s/%d", inet_ntoa(in->sin_addr), in->sin_family);
    }
    printf("\n");
}

static long mreq_opt(int s, int opt, const char *group, struct in_addr iface) {
    struct ip_mreq m = { ip(group), iface };
    return setsockopt(s, IPPROTO_IP, opt, &m, sizeof m);
}

static long source_opt(int s, int opt, const char *group, struct in_addr iface, const char *src) {
    struct ip_mreq_source m;
    m.imr_multiaddr = ip(group);
    m.imr_interface = iface;
    m.imr_sourceaddr = ip(src);
    return setsockopt(s, IPPROTO_IP, opt, &m, sizeof m);
}

static void checks(unsigned idx, struct in_addr own) {
    const char *two[] = { S2, S1 }, *one[] = { S3 }, *many[11];
    for (int i = 0; i < 11; i++) many[i] = S1;
    struct in_addr other = ip("10.9.9.9");
    const socklen_t IL = IP_MSFILTER_SIZE(8), GL = GROUP_FILTER_SIZE(4);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    get_ip("short value", s, own, G, 0, IP_MSFILTER_SIZE(0) - 1);
    get_ip("not joined", s, own, G, 4, IL);
    get_ip("not a group", s, own, "10.0.0.5", 4, IL);
    get_ip("unknown interface", s, other, G, 4, IL);
    get_gf("short value", s, idx, G, 0, GROUP_FILTER_SIZE(0) - 1);
    get_gf("not joined", s, idx, G, 4, GL);
    get_gf("not a group", s, idx, "10.0.0.5", 4, GL);
    printf("client: set IP_MSFILTER not joined: %s\n", res(set_ip(s, own, G, MCAST_EXCLUDE, 1, one, 0)));
    printf("client: set IP_MSFILTER (INCLUDE, {}) not joined: %s\n", res(set_ip(s, own, G, MCAST_INCLUDE, 0, one, 0)));
    printf("client: set IP_MSFILTER short value: %s\n", res(set_ip(s, own, G, MCAST_EXCLUDE, 0, one, 15)));
    printf("client: set IP_MSFILTER count beyond the value: %s\n",
           res(set_ip(s, own, G, MCAST_INCLUDE, 2, two, IP_MSFILTER_SIZE(1))));
    printf("client: set IP_MSFILTER 11 sources: %s\n", res(set_ip(s, own, G, MCAST_INCLUDE, 11, many, IL)));
    printf("client: set IP_MSFILTER bad mode: %s\n", res(set_ip(s, own, G, 7, 1, one, 0)));
    printf("client: set IP_MSFILTER not a group: %s\n", res(set_ip(s, own, "10.0.0.5", MCAST_INCLUDE, 1, one, 0)));
    printf("client: set IP_MSFILTER unknown interface: %s\n", res(set_ip(s, other, G, MCAST_INCLUDE, 1, one, 0)));
    printf("client: set MCAST_MSFILTER not joined: %s\n", res(set_gf(s, idx, G, MCAST_EXCLUDE, 1, one)));
    printf("client: set MCAST_MSFILTER unknown index: %s\n", res(set_gf(s, 9999, G, MCAST_EXCLUDE, 1, one)));

    printf("client: IP_ADD_MEMBERSHIP: %s\n", res(mreq_opt(s, IP_ADD_MEMBERSHIP, G, own)));
    get_ip("any-source", s, own, G, 4, IL);
    get_gf("any-source", s, idx, G, 4, GL);
    get_gf("index 0", s, 0, G, 4, GL);
    printf("client: IP_BLOCK_SOURCE: %s\n", res(source_opt(s, IP_BLOCK_SOURCE, G, own, S1)));
    get_ip("one blocked", s, own, G, 4, IL);
    printf("client: set IP_MSFILTER INCLUDE {" S2 ", " S1 "}: %s\n", res(set_ip(s, own, G, MCAST_INCLUDE, 2, two, 0)));
    get_ip("room for 4", s, own, G, 4, IL);
    get_ip("room for 1", s, own, G, 1, IL);
    get_ip("room for 0", s, own, G, 0, IL);
    get_gf("room for 4", s, idx, G, 4, GL);
    get_gf("room for 1", s, idx, G, 1, GL);
    printf("client: IP_ADD_SOURCE_MEMBERSHIP " S3 ": %s\n", res(source_opt(s, IP_ADD_SOURCE_MEMBERSHIP, G, own, S3)));
    get_gf("three", s, idx, G, 4, GL);
    printf("client: set MCAST_MSFILTER EXCLUDE {" S3 "}: %s\n", res(set_gf(s, idx, G, MCAST_EXCLUDE, 1, one)));
    get_ip("after MCAST_MSFILTER", s, own, G, 4, IL);
    printf("client: IP_UNBLOCK_SOURCE " S3 ": %s\n", res(source_opt(s, IP_UNBLOCK_SOURCE, G, own, S3)));
    get_ip("unblocked", s, own, G, 4, IL);
    printf("client: set MCAST_MSFILTER EXCLUDE {}: %s\n", res(set_gf(s, idx, G, MCAST_EXCLUDE, 0, one)));
    get_gf("EXCLUDE {}", s, idx, G, 4, GL);
    printf("client: set MCAST_MSFILTER (INCLUDE, {}): %s\n", res(set_gf(s, idx, G, MCAST_INCLUDE, 0, one)));
    get_ip("after (INCLUDE, {})", s, own, G, 4, IL);
    printf("client: IP_DROP_MEMBERSHIP: %s\n", res(mreq_opt(s, IP_DROP_MEMBERSHIP, G, own)));
    close(s);
}

/* Receives one datagram on s (IP_PKTINFO on): the index of its interface, our address in *me. */
static unsigned recv_info(int s, struct in_addr *me) {
    char buf[64], cbuf[256];
    struct iovec io = { buf, sizeof buf };
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    struct pollfd p = { s, POLLIN, 0 };
    if (poll(&p, 1, 10000) != 1 || recvmsg(s, &m, 0) < 0) die("no datagram", errno);
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
        if (h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo *pi = (struct in_pktinfo *)CMSG_DATA(h);
            *me = pi->ipi_addr;
            return (unsigned)pi->ipi_ifindex;
        }
    die("no IP_PKTINFO", 0);
    return 0;
}

static int server(const struct opts *o) {
    int c = udp_bound(NULL, o->port, 1);
    signal_ready(o);
    struct sockaddr_in client;
    answer_hello(c, &client);
    printf("server: answered\n");
    return 0;
}

static int client(const struct opts *o) {
    struct sockaddr_in srv;
    make_addr(&srv, o->host, o->port);
    int c = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
    if (c < 0 || connect(c, (struct sockaddr *)&srv, sizeof srv) < 0) DIE("connect");
    if (setsockopt(c, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0) DIE("IP_PKTINFO");
    if (send(c, "hello", 5, 0) != 5) DIE("hello");
    struct in_addr own;
    unsigned idx = recv_info(c, &own);
    if (idx == 0) die("ipi_ifindex 0", 0);
    checks(idx, own);
    close(c);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: mcast_msf server -p PORT | client -c HOST -p PORT", server, client);
}
