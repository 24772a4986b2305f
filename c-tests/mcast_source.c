/* mcast_source server -p PORT | mcast_source client -c HOST -p PORT
 * Source-specific multicast on the receiving side (Linux's ip_mc_source, ip_mc_sf_allow):
 * IP_ADD_SOURCE_MEMBERSHIP / IP_DROP_SOURCE_MEMBERSHIP (INCLUDE mode) and IP_BLOCK_SOURCE /
 * IP_UNBLOCK_SOURCE (EXCLUDE mode, on an any-source join).
 * The client checks the options' errors on sockets of its own (bad length, not a group, another
 * interface, no prior join, a source twice or not there, a mode change, more than 10 sources,
 * a stream socket, the last INCLUDE source dropped leaves the group), then sends one datagram
 * to each of three groups on PORT+1. The server's sockets on PORT+1 (IP_MULTICAST_ALL off)
 * joined them with filters: INCLUDE the client, INCLUDE another host only, any-source with the
 * client blocked, any-source plain; a bystander bound to the port that joined nothing
 * (IP_MULTICAST_ALL on) hears what the host's combined filter lets in. Each socket prints what
 * it received. PORT is the control port (hello, done). */
#include "common.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define G_INC "239.7.3.11"   /* the server: INCLUDE {client} */
#define G_OTHER "239.7.3.12" /* the server: INCLUDE {10.0.0.99} */
#define G_ASM "239.7.3.13"   /* the server: one socket blocks the client, one does not */
#define OTHER_SRC "10.0.0.99"

static const char *res(long r) { return r < 0 ? errno_name(errno) : "ok"; }

static long source_opt(int s, int opt, const char *group, struct in_addr iface, const char *src, socklen_t len) {
    struct ip_mreq_source m;
    memset(&m, 0, sizeof m);
    inet_pton(AF_INET, group, &m.imr_multiaddr);
    m.imr_interface = iface;
    inet_pton(AF_INET, src, &m.imr_sourceaddr);
    return setsockopt(s, IPPROTO_IP, opt, &m, len);
}

static long member_opt(int s, int opt, const char *group, struct in_addr iface) {
    struct ip_mreq m;
    inet_pton(AF_INET, group, &m.imr_multiaddr);
    m.imr_interface = iface;
    return setsockopt(s, IPPROTO_IP, opt, &m, sizeof m);
}

static int data_socket(int port, int mc_all) {
    int s = udp_bound(NULL, port, 1);
    if (setsockopt(s, IPPROTO_IP, IP_MULTICAST_ALL, &mc_all, sizeof mc_all) < 0) DIE("IP_MULTICAST_ALL");
    return s;
}

static void must(long r, const char *what) {
    if (r < 0) DIE(what);
}

static int server(const struct opts *o) {
    int c = udp_bound(NULL, o->port, 1);
    int one = 1;
    if (setsockopt(c, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0) DIE("IP_PKTINFO");
    signal_ready(o);
    char buf[64];
    struct sockaddr_in client;
    struct in_addr me = recv_hello(c, &client);
    char csrc[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &client.sin_addr, csrc, sizeof csrc);
    int dp = o->port + 1;
    int inc = data_socket(dp, 0), other = data_socket(dp, 0), block = data_socket(dp, 0), asm_ = data_socket(dp, 0);
    must(source_opt(inc, IP_ADD_SOURCE_MEMBERSHIP, G_INC, me, csrc, sizeof(struct ip_mreq_source)), "include");
    must(source_opt(other, IP_ADD_SOURCE_MEMBERSHIP, G_OTHER, me, OTHER_SRC, sizeof(struct ip_mreq_source)), "other");
    must(member_opt(block, IP_ADD_MEMBERSHIP, G_ASM, me), "join asm");
    must(source_opt(block, IP_BLOCK_SOURCE, G_ASM, me, csrc, sizeof(struct ip_mreq_source)), "block");
    must(member_opt(asm_, IP_ADD_MEMBERSHIP, G_ASM, me), "join asm 2");
    int bystander = data_socket(dp, 1);
    if (sendto(c, "joined", 6, 0, (struct sockaddr *)&client, sizeof client) != 6) DIE("joined");
    printf("server: joined\n");
    struct pollfd p = { c, POLLIN, 0 };
    if (poll(&p, 1, 10000) != 1 || recv(c, buf, sizeof buf, 0) < 0) die("no done", errno);
    print_datagrams(inc, "INCLUDE {client} of " G_INC);
    print_datagrams(other, "INCLUDE {" OTHER_SRC "} of " G_OTHER);
    print_datagrams(block, "any-source " G_ASM " blocking the client");
    print_datagrams(asm_, "any-source " G_ASM);
    print_datagrams(bystander, "the bystander (no group, IP_MULTICAST_ALL on)");
    /* Unblocked, the client's next datagram reaches it. */
    must(source_opt(block, IP_UNBLOCK_SOURCE, G_ASM, me, csrc, sizeof(struct ip_mreq_source)), "unblock");
    if (sendto(c, "again", 5, 0, (struct sockaddr *)&client, sizeof client) != 5) DIE("again");
    if (poll(&p, 1, 10000) != 1 || recv(c, buf, sizeof buf, 0) < 0) die("no done", errno);
    print_datagrams(block, "any-source " G_ASM " after IP_UNBLOCK_SOURCE");
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

static int client(const struct opts *o) {
    struct sockaddr_in srv;
    make_addr(&srv, o->host, o->port);
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&srv, sizeof srv) < 0) DIE("connect");
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    if (getsockname(c, (struct sockaddr *)&me, &ml) < 0) DIE("getsockname");
    struct in_addr own = me.sin_addr, foreign;
    inet_pton(AF_INET, "10.9.9.9", &foreign);
    const socklen_t L = sizeof(struct ip_mreq_source);
    const char *g = "239.7.3.20", *s1 = "10.0.0.77";

    int s = socket(AF_INET, SOCK_DGRAM, 0);
    printf("client: ADD_SOURCE short value: %s\n", res(source_opt(s, IP_ADD_SOURCE_MEMBERSHIP, g, own, s1, 8)));
    printf("client: ADD_SOURCE long value: %s\n", res(source_opt(s, IP_ADD_SOURCE_MEMBERSHIP, g, own, s1, L + 4)));
    printf("client: ADD_SOURCE not a group: %s\n", res(source_opt(s, IP_ADD_SOURCE_MEMBERSHIP, "10.0.0.5", own, s1, L)));
    printf("client: ADD_SOURCE another interface: %s\n", res(source_opt(s, IP_ADD_SOURCE_MEMBERSHIP, g, foreign, s1, L)));
    printf("client: DROP_SOURCE not joined: %s\n", res(source_opt(s, IP_DROP_SOURCE_MEMBERSHIP, g, own, s1, L)));
    printf("client: DROP_SOURCE not a group: %s\n", res(source_opt(s, IP_DROP_SOURCE_MEMBERSHIP, "10.0.0.5", own, s1, L)));
    printf("client: BLOCK_SOURCE not joined: %s\n", res(source_opt(s, IP_BLOCK_SOURCE, g, own, s1, L)));
    printf("client: UNBLOCK_SOURCE not joined: %s\n", res(source_opt(s, IP_UNBLOCK_SOURCE, g, own, s1, L)));
    printf("client: ADD_SOURCE: %s\n", res(source_opt(s, IP_ADD_SOURCE_MEMBERSHIP, g, own, s1, L)));
    printf("client: ADD_SOURCE the same source: %s\n", res(source_opt(s, IP_ADD_SOURCE_MEMBERSHIP, g, own, s1, L)));
    printf("client: ADD_MEMBERSHIP on it: %s\n", res(member_opt(s, IP_ADD_MEMBERSHIP, g, own)));
    printf("client: BLOCK_SOURCE on the INCLUDE filter: %s\n", res(source_opt(s, IP_BLOCK_SOURCE, g, own, s1, L)));
    printf("client: DROP_SOURCE a source not there: %s\n", res(source_opt(s, IP_DROP_SOURCE_MEMBERSHIP, g, own, "10.0.0.78", L)));
    char a[32];
    int i;
    for (i = 0; i < 12; i++) {
        snprintf(a, sizeof a, "10.0.1.%d", i);
        if (source_opt(s, IP_ADD_SOURCE_MEMBERSHIP, g, own, a, L) < 0) break;
    }
    printf("client: more sources: %d added, then %s\n", i, errno_name(errno));
    for (int j = 0; j < i; j++) {
        snprintf(a, sizeof a, "10.0.1.%d", j);
        if (source_opt(s, IP_DROP_SOURCE_MEMBERSHIP, g, own, a, L) < 0) DIE("drop source");
    }
    printf("client: DROP_SOURCE the last source: %s\n", res(source_opt(s, IP_DROP_SOURCE_MEMBERSHIP, g, own, s1, L)));
    printf("client: then DROP_MEMBERSHIP: %s\n", res(member_opt(s, IP_DROP_MEMBERSHIP, g, own)));
    printf("client: ADD_MEMBERSHIP again: %s\n", res(member_opt(s, IP_ADD_MEMBERSHIP, g, own)));
    printf("client: UNBLOCK_SOURCE nothing blocked: %s\n", res(source_opt(s, IP_UNBLOCK_SOURCE, g, own, s1, L)));
    printf("client: BLOCK_SOURCE: %s\n", res(source_opt(s, IP_BLOCK_SOURCE, g, own, s1, L)));
    printf("client: BLOCK_SOURCE again: %s\n", res(source_opt(s, IP_BLOCK_SOURCE, g, own, s1, L)));
    printf("client: ADD_SOURCE on the EXCLUDE filter: %s\n", res(source_opt(s, IP_ADD_SOURCE_MEMBERSHIP, g, own, s1, L)));
    printf("client: UNBLOCK_SOURCE: %s\n", res(source_opt(s, IP_UNBLOCK_SOURCE, g, own, s1, L)));
    printf("client: ADD_SOURCE on the emptied EXCLUDE filter: %s\n", res(source_opt(s, IP_ADD_SOURCE_MEMBERSHIP, g, own, s1, L)));
    printf("client: DROP_MEMBERSHIP: %s\n", res(member_opt(s, IP_DROP_MEMBERSHIP, g, own)));
    printf("client: ADD_MEMBERSHIP: %s\n", res(member_opt(s, IP_ADD_MEMBERSHIP, g, own)));
    /* An any-source join has no filter yet: the mode changes to INCLUDE, with nothing in it. */
    printf("client: DROP_SOURCE on it: %s\n", res(source_opt(s, IP_DROP_SOURCE_MEMBERSHIP, g, own, s1, L)));
    printf("client: then ADD_SOURCE: %s\n", res(source_opt(s, IP_ADD_SOURCE_MEMBERSHIP, g, own, s1, L)));
    close(s);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    printf("client: ADD_SOURCE on a stream socket: %s\n", res(source_opt(t, IP_ADD_SOURCE_MEMBERSHIP, g, own, s1, L)));
    printf("client: BLOCK_SOURCE on a stream socket: %s\n", res(source_opt(t, IP_BLOCK_SOURCE, g, own, s1, L)));
    close(t);

    /* The datagrams for the server's filters. */
    if (send(c, "hello", 5, 0) != 5) DIE("hello");
    char buf[64];
    struct pollfd p = { c, POLLIN, 0 };
    if (poll(&p, 1, 10000) != 1 || recv(c, buf, sizeof buf, 0) < 0) die("no answer to hello", errno);
    int m = socket(AF_INET, SOCK_DGRAM, 0);
    if (setsockopt(m, IPPROTO_IP, IP_MULTICAST_IF, &own, sizeof own) < 0) DIE("IP_MULTICAST_IF");
    int dp = o->port + 1;
    send_group(m, G_INC, dp, "to " G_INC);
    send_group(m, G_OTHER, dp, "to " G_OTHER);
    send_group(m, G_ASM, dp, "to " G_ASM);
    sleep_ms(300);
    if (send(c, "done", 4, 0) != 4) DIE("done");
    if (poll(&p, 1, 10000) != 1 || recv(c, buf, sizeof buf, 0) < 0) die("no again", errno);
    send_group(m, G_ASM, dp, "again to " G_ASM);
    sleep_ms(300);
    if (send(c, "done", 4, 0) != 4) DIE("done");
    printf("client: sent\n");
    close(m);
    close(c);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: mcast_source server -p PORT | client -c HOST -p PORT", server, client);
}
