/* udp_pktinfo server PORT | udp_pktinfo client HOST PORT
 * IP_PKTINFO (and IP_RECVTTL, IP_RECVTOS) on a UDP socket bound to 0.0.0.0, as dnsmasq
 * without --bind-interfaces uses them. The server (prints "server: ready") reads each
 * datagram with recvmsg and prints its control messages: struct in_pktinfo (ipi_addr = the
 * destination, ipi_spec_dst = the local address, ipi_ifindex = a real, non-loopback
 * interface), the TTL, the TOS; a control buffer too small for them (MSG_CTRUNC, the message
 * cut), none at all, and the options turned off (for datagrams that arrive after: tapstack
 * decides when its service queues a datagram, Linux when recvmsg reads it). It answers with sendmsg and an IP_PKTINFO
 * message naming its address as the source (the client checks where the answer came from),
 * and with ipi_spec_dst 0.0.0.0 (the route's choice); a foreign source, a wrong cmsg_len and
 * an SOL_IP message sendmsg does not take fail. The client reads the answers with
 * SO_TIMESTAMP, then SO_TIMESTAMPNS on (SCM_TIMESTAMP, SCM_TIMESTAMPNS: a receive time within
 * 10 s of now; one on turns the other off, as getsockopt shows). Addresses are never printed,
 * only how they relate. */
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
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int getint(int s, int name) {
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(s, IPPROTO_IP, name, &v, &l) < 0) return -errno;
    return v;
}

static void setint(int s, int name, int v) {
    if (setsockopt(s, IPPROTO_IP, name, &v, sizeof v) < 0) DIE("setsockopt");
}

static const char *ctype(int level, int type) {
    if (level != IPPROTO_IP) return "other";
    switch (type) {
    case IP_PKTINFO: return "IP_PKTINFO";
    case IP_TTL: return "IP_TTL";
    case IP_TOS: return "IP_TOS";
    default: return "other-ip";
    }
}

static struct in_addr own;          /* the server's address, learnt from ipi_spec_dst */
static struct sockaddr_in peer;     /* the client */

/* recvmsg with CTL bytes of control buffer (0: NULL); prints the datagram and its cmsgs. */
static void receive(int s, const char *what, size_t ctl) {
    char buf[256], cbuf[256];
    struct iovec io = {buf, sizeof buf - 1};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    memset(cbuf, 0xee, sizeof cbuf);
    m.msg_name = &peer;
    m.msg_namelen = sizeof peer;
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = ctl ? cbuf : NULL;
    m.msg_controllen = ctl;
    ssize_t n = recvmsg(s, &m, 0);
    if (n < 0) DIE("recvmsg");
    buf[n] = 0;
    printf("server: %s: \"%s\" controllen %zu%s%s\n", what, buf, (size_t)m.msg_controllen,
           m.msg_flags & MSG_CTRUNC ? " MSG_CTRUNC" : "", m.msg_flags & MSG_TRUNC ? " MSG_TRUNC" : "");
    if (!ctl) return;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        printf("server:   cmsg %s len %zu", ctype(c->cmsg_level, c->cmsg_type), (size_t)c->cmsg_len);
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
            struct in_pktinfo p;
            memcpy(&p, CMSG_DATA(c), sizeof p);
            char name[IF_NAMESIZE];
            const char *nm = if_indextoname((unsigned)p.ipi_ifindex, name);
            int real_if = nm && strcmp(nm, "lo") != 0;
            if (!strcmp(what, "first")) own = p.ipi_spec_dst;
            printf(": ifindex names a non-loopback interface %s, ipi_addr == ipi_spec_dst %s,"
                   " ipi_spec_dst == own %s",
                   real_if ? "yes" : "no", p.ipi_addr.s_addr == p.ipi_spec_dst.s_addr ? "yes" : "no",
                   p.ipi_spec_dst.s_addr == own.s_addr ? "yes" : "no");
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL && c->cmsg_len == CMSG_LEN(sizeof(int))) {
            int t;
            memcpy(&t, CMSG_DATA(c), sizeof t);
            printf(": %d", t);
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS && c->cmsg_len == CMSG_LEN(1)) {
            printf(": 0x%02x", *(unsigned char *)CMSG_DATA(c));
        }
        printf("\n");
    }
}

/* sendmsg of TEXT to the client with an IP_PKTINFO message (spec_dst SRC, cmsg_len LEN) or,
 * with TYPE != IP_PKTINFO, an SOL_IP message of that type; prints the result. */
static void answer(int s, const char *text, struct in_addr src, size_t len, int type) {
    union {
        char b[CMSG_SPACE(sizeof(struct in_pktinfo))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct iovec io = {(void *)text, strlen(text)};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_name = &peer;
    m.msg_namelen = sizeof peer;
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = u.b;
    m.msg_controllen = sizeof u.b;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = type;
    c->cmsg_len = len;
    struct in_pktinfo p;
    memset(&p, 0, sizeof p);
    p.ipi_spec_dst = src;
    memcpy(CMSG_DATA(c), &p, sizeof p);
    ssize_t n = sendmsg(s, &m, 0);
    printf("server: sendmsg \"%s\" -> %s\n", text, n < 0 ? errno_name(errno) : "sent");
}

static int server(int port) {
    int s = udp_bound(NULL, port, 0);
    printf("server: IP_PKTINFO %d", getint(s, IP_PKTINFO));
    setint(s, IP_PKTINFO, 5);
    printf(", after set %d\n", getint(s, IP_PKTINFO));
    setint(s, IP_RECVTTL, 1);
    setint(s, IP_RECVTOS, 1);
    printf("server: ready\n");
    fflush(stdout);
    receive(s, "first", 256);
    answer(s, "from own address", own, CMSG_LEN(sizeof(struct in_pktinfo)), IP_PKTINFO);
    struct in_addr any = {0}, foreign;
    inet_pton(AF_INET, "10.9.9.9", &foreign);
    answer(s, "foreign source", foreign, CMSG_LEN(sizeof(struct in_pktinfo)), IP_PKTINFO);
    answer(s, "short cmsg", own, CMSG_LEN(8), IP_PKTINFO);
    answer(s, "IP_RECVERR cmsg", own, CMSG_LEN(sizeof(struct in_pktinfo)), IP_RECVERR);
    answer(s, "route's choice", any, CMSG_LEN(sizeof(struct in_pktinfo)), IP_PKTINFO);
    receive(s, "small buffer", 20);
    receive(s, "no buffer", 0);
    receive(s, "header only", sizeof(struct cmsghdr));
    setint(s, IP_PKTINFO, 0);
    setint(s, IP_RECVTTL, 0);
    setint(s, IP_RECVTOS, 0);
    /* Datagrams that arrive from now on (tapstack decides when the service queues them). */
    answer(s, "options off", own, CMSG_LEN(sizeof(struct in_pktinfo)), IP_PKTINFO);
    receive(s, "options off", 256);
    printf("server: IP_PKTINFO %d at the end\n", getint(s, IP_PKTINFO));
    return 0;
}

/* Waits (5 s at most) for an answer; prints it and whether it came from HOST. */
static void reply(int s, const char *host) {
    struct pollfd p = {s, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) {
        printf("client: no answer\n");
        return;
    }
    char buf[256];
    struct sockaddr_in from;
    union {
        char b[256];
        struct cmsghdr align;
    } u;
    struct iovec io = {buf, sizeof buf - 1};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = u.b;
    m.msg_controllen = sizeof u.b;
    ssize_t n = recvmsg(s, &m, 0);
    if (n < 0) DIE("recvmsg");
    buf[n] = 0;
    char f[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &from.sin_addr, f, sizeof f);
    printf("client: answer \"%s\" from the server's address %s\n", buf, strcmp(f, host) ? "no" : "yes");
    /* SO_TIMESTAMP / SO_TIMESTAMPNS: the receive time, within 10 s of now. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET) {
            printf("client:   cmsg level %d type %d\n", c->cmsg_level, c->cmsg_type);
            continue;
        }
        long long sec = -1, sub = -1;
        if (c->cmsg_type == SCM_TIMESTAMP && c->cmsg_len == CMSG_LEN(sizeof(struct timeval))) {
            struct timeval tv;
            memcpy(&tv, CMSG_DATA(c), sizeof tv);
            sec = tv.tv_sec, sub = tv.tv_usec < 1000000 ? 0 : -1;
        } else if (c->cmsg_type == SCM_TIMESTAMPNS && c->cmsg_len == CMSG_LEN(sizeof(struct timespec))) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            sec = ts.tv_sec, sub = ts.tv_nsec < 1000000000 ? 0 : -1;
        }
        printf("client:   cmsg %s, within 10 s of now: %s\n",
               c->cmsg_type == SCM_TIMESTAMP ? "SCM_TIMESTAMP" : c->cmsg_type == SCM_TIMESTAMPNS ? "SCM_TIMESTAMPNS" : "other",
               sub == 0 && sec <= now.tv_sec && sec >= now.tv_sec - 10 ? "yes" : "no");
    }
}

static void timestamps(int s) {
    int ts = -1, ns = -1;
    socklen_t l = sizeof ts;
    getsockopt(s, SOL_SOCKET, SO_TIMESTAMP, &ts, &l);
    l = sizeof ns;
    getsockopt(s, SOL_SOCKET, SO_TIMESTAMPNS, &ns, &l);
    printf("client: SO_TIMESTAMP %d SO_TIMESTAMPNS %d\n", ts, ns);
}

static void set_sol(int s, int name, int v) {
    if (setsockopt(s, SOL_SOCKET, name, &v, sizeof v) < 0) DIE("setsockopt SOL_SOCKET");
}

static int client(const char *host, int port) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0) DIE("socket");
    setint(s, IP_TOS, 0x10);
    struct sockaddr_in a;
    make_addr(&a, host, port);
    const char *msgs[] = {"one", "two", "three", "four", "five"};
    /* Receive timestamps, set before the answers are sent (tapstack stamps a datagram when its
     * service queues it): SO_TIMESTAMP for the first two, SO_TIMESTAMPNS for the third. */
    set_sol(s, SO_TIMESTAMP, 1);
    timestamps(s);
    if (sendto(s, msgs[0], strlen(msgs[0]), 0, (struct sockaddr *)&a, sizeof a) < 0) DIE("sendto");
    reply(s, host);
    reply(s, host);
    set_sol(s, SO_TIMESTAMPNS, 1);
    timestamps(s);
    for (int i = 1; i < 4; i++)
        if (sendto(s, msgs[i], strlen(msgs[i]), 0, (struct sockaddr *)&a, sizeof a) < 0) DIE("sendto");
    reply(s, host);
    set_sol(s, SO_TIMESTAMP, 0);
    timestamps(s);
    if (sendto(s, msgs[4], strlen(msgs[4]), 0, (struct sockaddr *)&a, sizeof a) < 0) DIE("sendto");
    printf("client: done\n");
    return 0;
}

int main(int argc, char **argv) {
    watchdog(30);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && !strcmp(argv[1], "server")) return server(atoi(argv[2]));
    if (argc == 4 && !strcmp(argv[1], "client")) return client(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: udp_pktinfo server PORT | udp_pktinfo client HOST PORT\n");
    return 2;
}
