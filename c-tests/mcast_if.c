/* mcast_if server -p PORT | mcast_if client -c HOST -p PORT
 * IP_MULTICAST_IF chooses the interface a socket's datagrams to a group leave by (Linux's
 * udp_sendmsg: the route to the group is looked up with oif = inet->mc_index, and the source is
 * inet->mc_addr when the socket is not bound to an address). The server joins 239.7.3.7 on
 * PORT and prints every datagram that reaches it; the client, which has a member socket of its
 * own on PORT, sends one tagged datagram to the group per setting: none, its own address,
 * 127.0.0.1 or 127.0.0.9 (the loopback interface: nothing reaches the server, nor the client's
 * own member, which joined on the link's interface), an ip_mreqn naming the loopback by index,
 * an ip_mreqn with its own address; a foreign address fails (EADDRNOTAVAIL) and keeps the
 * setting; 0.0.0.0 goes back to the route's choice (not sent: without a route to the group
 * Linux gives ENETUNREACH, so that depends on the host). Each setting is read back. */
#include "common.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define GROUP "239.7.3.7"

static const char *res(long r) { return r < 0 ? errno_name(errno) : "ok"; }

static struct in_addr own; /* the client's address on the link */

/* Joins the group on the interface that holds address `on`. */
static void join(int s, struct in_addr on) {
    struct ip_mreq m;
    inet_pton(AF_INET, GROUP, &m.imr_multiaddr);
    m.imr_interface = on;
    if (setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) < 0) DIE("IP_ADD_MEMBERSHIP");
}

/* Reads one datagram (waiting up to MS); its text in buf, its source in from; 0 if none. */
static long take(int s, char *buf, size_t len, struct sockaddr_in *from, int ms) {
    struct pollfd p = { s, POLLIN, 0 };
    if (poll(&p, 1, ms) != 1) return 0;
    socklen_t fl = sizeof *from;
    long n = recvfrom(s, buf, len - 1, 0, (struct sockaddr *)from, &fl);
    if (n < 0) DIE("recvfrom");
    buf[n] = 0;
    return n;
}

static int server(const struct opts *o) {
    int s = udp_bound(NULL, o->port, 1);
    int one = 1;
    if (setsockopt(s, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0) DIE("IP_PKTINFO");
    signal_ready(o);
    /* The client's hello tells the server its own address (IP_PKTINFO), to join on. */
    char buf[64];
    struct sockaddr_in from, client;
    join(s, recv_hello(s, &client));
    if (sendto(s, "joined", 6, 0, (struct sockaddr *)&client, sizeof client) != 6) DIE("joined");
    printf("server: hello\n");
    for (int i = 0; i < 20; i++) {
        if (!take(s, buf, sizeof buf, &from, 5000)) {
            printf("server: nothing more\n");
            break;
        }
        const char *src = from.sin_addr.s_addr == client.sin_addr.s_addr ? "the client's address"
                          : ntohl(from.sin_addr.s_addr) >> 24 == 127  ? "a loopback address"
                                                                       : "another address";
        printf("server: '%s' from %s\n", buf, src);
        if (!strcmp(buf, "end")) break;
    }
    close(s);
    return 0;
}

/* IP_MULTICAST_IF as read back: which address it holds. */
static const char *if_now(int s) {
    struct in_addr a;
    socklen_t l = sizeof a;
    if (getsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &a, &l) < 0) return errno_name(errno);
    if (a.s_addr == htonl(INADDR_ANY)) return "0.0.0.0";
    if (a.s_addr == own.s_addr) return "own address";
    if (ntohl(a.s_addr) == INADDR_LOOPBACK) return "127.0.0.1";
    return "other";
}

/* Prints the setting's result and read-back, then sends `tag` to the group (NULL: no send: the
 * route's choice depends on the host's routing table, ENETUNREACH with no route to the group). */
static void send_tag(int s, const char *setting, long set, const char *tag, int port) {
    struct sockaddr_in g;
    memset(&g, 0, sizeof g);
    g.sin_family = AF_INET;
    g.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, GROUP, &g.sin_addr);
    printf("client: IP_MULTICAST_IF %s: %s, reads %s", setting, res(set), if_now(s));
    if (!tag) {
        printf("\n");
        return;
    }
    long n = sendto(s, tag, strlen(tag), 0, (struct sockaddr *)&g, sizeof g);
    printf(", send '%s': %s\n", tag, res(n));
    sleep_ms(100);
}

static long set_addr(int s, in_addr_t a) {
    struct in_addr v = { a };
    return setsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &v, sizeof v);
}

static long set_mreqn(int s, in_addr_t a, int ifindex) {
    struct ip_mreqn m;
    memset(&m, 0, sizeof m);
    m.imr_address.s_addr = a;
    m.imr_ifindex = ifindex;
    return setsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m);
}

static long set_mreq(int s, in_addr_t a) {
    struct ip_mreq m;
    inet_pton(AF_INET, GROUP, &m.imr_multiaddr);
    m.imr_interface.s_addr = a;
    return setsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m);
}

static int client(const struct opts *o) {
    struct sockaddr_in srv;
    make_addr(&srv, o->host, o->port);
    /* Our own address: the source of a socket connected to the server. */
    int probe = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    if (connect(probe, (struct sockaddr *)&srv, sizeof srv) < 0 || getsockname(probe, (struct sockaddr *)&me, &ml) < 0)
        DIE("probe");
    own = me.sin_addr;
    close(probe);

    int local = udp_bound(NULL, o->port, 1);
    join(local, own);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0) DIE("socket");
    char buf[64];
    struct sockaddr_in from;
    if (sendto(s, "hello", 5, 0, (struct sockaddr *)&srv, sizeof srv) != 5) DIE("hello");
    if (!take(s, buf, sizeof buf, &from, 5000)) die("no answer to hello", 0);

    send_tag(s, "not set", 0, NULL, o->port);
    send_tag(s, "own address", set_addr(s, own.s_addr), "own", o->port);
    send_tag(s, "127.0.0.1", set_addr(s, htonl(INADDR_LOOPBACK)), "loopback", o->port);
    send_tag(s, "0.0.0.0", set_addr(s, htonl(INADDR_ANY)), NULL, o->port);
    send_tag(s, "127.0.0.9", set_addr(s, inet_addr("127.0.0.9")), "loopback-9", o->port);
    send_tag(s, "ip_mreqn loopback index", set_mreqn(s, 0, (int)if_nametoindex("lo")), "lo-index", o->port);
    send_tag(s, "ip_mreqn own address", set_mreqn(s, own.s_addr, 0), "own-mreqn", o->port);
    send_tag(s, "ip_mreq own address", set_mreq(s, own.s_addr), "own-mreq", o->port);
    send_tag(s, "a foreign address", set_addr(s, inet_addr("10.9.9.9")), "foreign", o->port);
    send_tag(s, "ip_mreqn loopback index again", set_mreqn(s, 0, 1), "lo-1", o->port);
    send_tag(s, "own address again", set_addr(s, own.s_addr), "end", o->port);

    printf("client: its own member received:");
    while (take(local, buf, sizeof buf, &from, 200)) printf(" '%s'", buf);
    printf("\n");
    close(s);
    close(local);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: mcast_if server -p PORT | client -c HOST -p PORT", server, client);
}
