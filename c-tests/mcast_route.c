/* mcast_route server -p PORT | mcast_route client -c HOST -p PORT
 * A datagram to a group that no route covers (run with no default route: the compare case sets
 * TAPSTACK_GW=none, and the kernel namespaces have only their /24): Linux's route lookup
 * (ip_route_output_key_hash) fails it with ENETUNREACH unless the socket names the device: an
 * interface set by IP_MULTICAST_IF (by address or index), a source address of ours (the socket
 * bound to it, or set by an earlier connect, or IP_PKTINFO's ipi_spec_dst), or IP_PKTINFO's
 * ipi_ifindex. The same holds for connect() to a group, and for the local groups 224.0.0.x;
 * a membership on 0.0.0.0 finds no interface (ENODEV).
 * The server joins 239.7.3.8 on PORT and prints every datagram that reaches it; the client
 * prints each attempt's result. */
#include "common.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define GROUP "239.7.3.8"

static const char *res(long r) { return r < 0 ? errno_name(errno) : "ok"; }

/* Reads one datagram (waiting up to MS) into buf as text, with its IP_PKTINFO interface index
 * in *ifindex when asked; 0 if none came. */
static long take(int s, char *buf, size_t len, struct sockaddr_in *from, int *ifindex, int ms) {
    struct pollfd p = { s, POLLIN, 0 };
    if (poll(&p, 1, ms) != 1) return 0;
    char cbuf[256];
    struct iovec io = { buf, len - 1 };
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_name = from;
    m.msg_namelen = sizeof *from;
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    long n = recvmsg(s, &m, 0);
    if (n < 0) DIE("recvmsg");
    buf[n] = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (ifindex && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
            *ifindex = ((struct in_pktinfo *)CMSG_DATA(c))->ipi_ifindex;
    return n;
}

static void pktinfo_on(int s) {
    int one = 1;
    if (setsockopt(s, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0) DIE("IP_PKTINFO");
}

static int server(const struct opts *o) {
    int s = udp_bound(NULL, o->port, 1);
    pktinfo_on(s);
    signal_ready(o);
    /* The client's hello: its address, and ours (IP_PKTINFO's ipi_addr) to join on. */
    char buf[64];
    struct sockaddr_in client, from;
    struct ip_mreq mr;
    memset(&mr, 0, sizeof mr);
    inet_pton(AF_INET, GROUP, &mr.imr_multiaddr);
    mr.imr_interface = recv_hello(s, &client);
    if (setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) DIE("IP_ADD_MEMBERSHIP");
    if (sendto(s, "joined", 6, 0, (struct sockaddr *)&client, sizeof client) != 6) DIE("joined");
    printf("server: hello\n");
    for (int i = 0; i < 30; i++) {
        if (!take(s, buf, sizeof buf, &from, NULL, 5000)) {
            printf("server: nothing more\n");
            break;
        }
        printf("server: '%s' from %s\n", buf, from.sin_addr.s_addr == client.sin_addr.s_addr ? "the client" : "elsewhere");
        if (!strcmp(buf, "end")) break;
    }
    close(s);
    return 0;
}

static struct sockaddr_in group_addr(const char *g, int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, g, &a.sin_addr);
    return a;
}

/* Sends `tag` to the group (GROUP unless g) and prints the result. */
static void send_tag(int s, const char *what, const char *g, const char *tag, int port) {
    struct sockaddr_in a = group_addr(g ? g : GROUP, port);
    long n = sendto(s, tag, strlen(tag), 0, (struct sockaddr *)&a, sizeof a);
    printf("client: sendto %s ('%s'): %s\n", what, tag, res(n));
    sleep_ms(100);
}

/* sendmsg to the group with an IP_PKTINFO message (interface index, source address). */
static void send_pktinfo(int s, const char *what, int ifindex, struct in_addr spec, const char *tag, int port) {
    struct sockaddr_in a = group_addr(GROUP, port);
    char cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec io = { (void *)tag, strlen(tag) };
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_name = &a;
    m.msg_namelen = sizeof a;
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    struct in_pktinfo pi;
    memset(&pi, 0, sizeof pi);
    pi.ipi_ifindex = ifindex;
    pi.ipi_spec_dst = spec;
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
    long n = sendmsg(s, &m, 0);
    printf("client: sendmsg %s ('%s'): %s\n", what, tag, res(n));
    sleep_ms(100);
}

static long set_if(int s, in_addr_t a, int ifindex) {
    struct ip_mreqn m;
    memset(&m, 0, sizeof m);
    m.imr_address.s_addr = a;
    m.imr_ifindex = ifindex;
    return setsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m);
}

static long connect_group(int s, const char *g, int port) {
    struct sockaddr_in a = group_addr(g, port);
    return connect(s, (struct sockaddr *)&a, sizeof a);
}

static int client(const struct opts *o) {
    struct sockaddr_in srv, from;
    make_addr(&srv, o->host, o->port);
    /* The hello's answer tells our address (getsockname of the connected probe) and the
     * interface index it came in by (IP_PKTINFO). */
    int probe = socket(AF_INET, SOCK_DGRAM, 0);
    if (probe < 0) DIE("socket");
    pktinfo_on(probe);
    if (connect(probe, (struct sockaddr *)&srv, sizeof srv) < 0) DIE("connect");
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    if (getsockname(probe, (struct sockaddr *)&me, &ml) < 0) DIE("getsockname");
    if (send(probe, "hello", 5, 0) != 5) DIE("hello");
    char buf[64];
    int ifindex = 0;
    if (!take(probe, buf, sizeof buf, &from, &ifindex, 5000)) die("no answer to hello", 0);
    close(probe);
    printf("client: joined: %s, interface index known: %s\n", buf, ifindex > 0 ? "yes" : "no");
    struct in_addr any = { htonl(INADDR_ANY) };
    int p = o->port;

    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0) DIE("socket");
    send_tag(s, "unbound, no IP_MULTICAST_IF", NULL, "none", p);
    send_tag(s, "a local group 224.0.0.251", "224.0.0.251", "local-group", p);
    printf("client: connect to the group: %s\n", res(connect_group(s, GROUP, p)));
    send_pktinfo(s, "IP_PKTINFO with no choice", 0, any, "pktinfo-none", p);
    send_pktinfo(s, "IP_PKTINFO ipi_spec_dst = own address", 0, me.sin_addr, "pktinfo-src", p);
    send_pktinfo(s, "IP_PKTINFO ipi_ifindex", ifindex, any, "pktinfo-index", p);
    printf("client: IP_MULTICAST_IF own address: %s\n", res(set_if(s, me.sin_addr.s_addr, 0)));
    send_tag(s, "IP_MULTICAST_IF own address", NULL, "if-addr", p);
    printf("client: IP_MULTICAST_IF 0.0.0.0: %s\n", res(set_if(s, INADDR_ANY, 0)));
    send_tag(s, "IP_MULTICAST_IF reset", NULL, "if-reset", p);
    printf("client: IP_MULTICAST_IF by index: %s\n", res(set_if(s, INADDR_ANY, ifindex)));
    send_tag(s, "IP_MULTICAST_IF by index", NULL, "if-index", p);
    printf("client: connect to the group: %s\n", res(connect_group(s, GROUP, p)));
    printf("client: IP_MULTICAST_IF 0.0.0.0: %s\n", res(set_if(s, INADDR_ANY, 0)));
    /* connect set the socket's source address: it names the device from now on. */
    printf("client: send on the connected socket ('connected'): %s\n", res(send(s, "connected", 9, 0)));
    sleep_ms(100);
    close(s);

    /* A socket bound to the wildcard has no source address; one bound to ours has. */
    s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in b = me;
    b.sin_port = 0;
    b.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(s, (struct sockaddr *)&b, sizeof b) < 0) DIE("bind any");
    send_tag(s, "bound to 0.0.0.0", NULL, "bound-any", p);
    close(s);
    s = socket(AF_INET, SOCK_DGRAM, 0);
    b.sin_addr = me.sin_addr;
    if (bind(s, (struct sockaddr *)&b, sizeof b) < 0) DIE("bind own");
    send_tag(s, "bound to own address", NULL, "bound-own", p);
    printf("client: connect to a local group from it: %s\n", res(connect_group(s, "224.0.0.251", p)));
    close(s);

    /* A membership on "any interface" looks the group's route up too (ip_mc_find_dev). */
    s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ip_mreq mr;
    inet_pton(AF_INET, GROUP, &mr.imr_multiaddr);
    mr.imr_interface.s_addr = htonl(INADDR_ANY);
    printf("client: IP_ADD_MEMBERSHIP on 0.0.0.0: %s\n", res(setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr)));
    printf("client: IP_DROP_MEMBERSHIP on 0.0.0.0: %s\n", res(setsockopt(s, IPPROTO_IP, IP_DROP_MEMBERSHIP, &mr, sizeof mr)));
    struct ip_mreq_source ms;
    memset(&ms, 0, sizeof ms);
    ms.imr_multiaddr = mr.imr_multiaddr;
    ms.imr_sourceaddr = srv.sin_addr;
    printf("client: IP_ADD_SOURCE_MEMBERSHIP on 0.0.0.0: %s\n",
           res(setsockopt(s, IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, &ms, sizeof ms)));
    mr.imr_interface = me.sin_addr;
    printf("client: IP_ADD_MEMBERSHIP on own address: %s\n", res(setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr)));
    mr.imr_interface.s_addr = htonl(INADDR_ANY);
    printf("client: IP_DROP_MEMBERSHIP on 0.0.0.0 then: %s\n", res(setsockopt(s, IPPROTO_IP, IP_DROP_MEMBERSHIP, &mr, sizeof mr)));
    close(s);

    s = socket(AF_INET, SOCK_DGRAM, 0);
    if (set_if(s, me.sin_addr.s_addr, 0) < 0) DIE("IP_MULTICAST_IF");
    send_tag(s, "IP_MULTICAST_IF own address", NULL, "end", p);
    close(s);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: mcast_route server -p PORT | client -c HOST -p PORT", server, client);
}
