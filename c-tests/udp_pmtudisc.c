/* udp_pmtudisc server -p PORT | udp_pmtudisc client -c HOST -p PORT
 * IP_MTU_DISCOVER on UDP sockets, as DTLS (OpenSSL) and QUIC stacks use it: with
 * IP_PMTUDISC_DO, PROBE and INTERFACE a datagram that does not fit the MTU (1500 on every
 * topology's link: 1472 bytes of payload) fails with EMSGSIZE instead of leaving in fragments;
 * DONT, WANT and OMIT fragment it. Each mode: send() on a connected socket and sendto() and
 * sendmsg() on an unconnected one, of 1472, 1473, 4000, 65507 and 65508 bytes; each datagram
 * that was sent must reach the server, which answers its size (a 4-byte datagram), so the client
 * paces itself and sees what arrived. Also 4000 bytes with DO to the loopback (its MTU is 65536:
 * sent) and getsockopt IP_MTU. Before tapstack checked, a DO socket's 4000-byte datagram left
 * in fragments (`openssl s_client -dtls` over tapstack never saw the EMSGSIZE that makes it
 * query the MTU and fragment its records).
 */
#include "common.h"

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <sys/epoll.h>
#include <poll.h>
#include <sys/select.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAXD 65536

static int server(const struct opts *o) {
    int s = udp_bound("0.0.0.0", o->port, 1);
    signal_ready(o);
    static char buf[MAXD];
    long got = 0, bytes = 0;
    for (;;) {
        struct pollfd p = { .fd = s, .events = POLLIN };
        if (poll(&p, 1, 10000) <= 0) break; /* the client is done (or gone) */
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (n < 0) DIE("recvfrom");
        if (n == 3 && memcmp(buf, "end", 3) == 0) break;
        got++;
        bytes += n;
        uint32_t v = htonl((uint32_t)n);
        if (sendto(s, &v, sizeof v, 0, (struct sockaddr *)&from, fl) < 0) DIE("sendto");
    }
    printf("server: %ld datagrams, %ld bytes\n", got, bytes);
    close(s);
    return 0;
}

/* After a send that succeeded: the server's answer (its size), or 0 if none came in 2 s. */
static long answer(int s) {
    struct pollfd p = { .fd = s, .events = POLLIN };
    if (poll(&p, 1, 2000) <= 0) return 0;
    uint32_t v = 0;
    if (recv(s, &v, sizeof v, 0) != sizeof v) return 0;
    return (long)ntohl(v);
}

static const char *result(int s, ssize_t r, size_t n) {
    static char b[64];
    if (r < 0) return errno_name(errno);
    long a = answer(s);
    snprintf(b, sizeof b, "%s", a == (long)n ? "sent" : a == 0 ? "sent, lost" : "sent, wrong answer");
    return b;
}

/* select(s) for reading and writing, without waiting: "n r w" (POLLERR puts a socket in both
 * sets, fs/select.c). */
static const char *select_now(int s, char *buf, size_t len) {
    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(s, &r);
    FD_SET(s, &w);
    struct timeval tv = { 0, 0 };
    int n = select(s + 1, &r, &w, NULL, &tv);
    snprintf(buf, len, "%d%s%s", n, FD_ISSET(s, &r) ? " readable" : "", FD_ISSET(s, &w) ? " writable" : "");
    return buf;
}

/* With IP_RECVERR the refused send queues a local error (Linux's ip_local_error): no data, the
 * destination with the socket's peer port (0 unconnected) as msg_name, EMSGSIZE from
 * SO_EE_ORIGIN_LOCAL with the MTU in ee_info, no offender; poll, epoll and select report it
 * (POLLERR; readable and writable) until it is read. Then the queue is empty. */
static void local_error(const char *who, int s, const struct sockaddr_in *server, int connected) {
    char data[64], ctl[512];
    struct sockaddr_in from;
    memset(&from, 0xff, sizeof from);
    struct iovec io = { data, sizeof data };
    struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &io, .msg_iovlen = 1,
                        .msg_control = ctl, .msg_controllen = sizeof ctl };
    /* datagram_poll: POLLERR while the error queue holds it, asked for or not. */
    char pf[64];
    struct pollfd p = { .fd = s, .events = POLLIN };
    int pr = poll(&p, 1, 0);
    printf("%s: poll before: %d %s\n", who, pr, poll_flags(p.revents, pf, sizeof pf));
    printf("%s: select before: %s\n", who, select_now(s, pf, sizeof pf));
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 77 };
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) < 0) DIE("epoll");
    ev.events = 0;
    ev.data.u64 = 0;
    pr = epoll_wait(ep, &ev, 1, 0);
    printf("%s: epoll before: %d %s data %llu\n", who, pr, epoll_flags(ev.events, pf, sizeof pf),
           (unsigned long long)ev.data.u64);
    ssize_t n = recvmsg(s, &m, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (n < 0) {
        printf("%s: MSG_ERRQUEUE: %s\n", who, errno_name(errno));
        return;
    }
    printf("%s: MSG_ERRQUEUE: %zd bytes, flags%s%s, name %s, port %s\n", who, n,
           m.msg_flags & MSG_ERRQUEUE ? " MSG_ERRQUEUE" : "", m.msg_flags & MSG_CTRUNC ? " MSG_CTRUNC" : "",
           from.sin_addr.s_addr == server->sin_addr.s_addr ? "the server" : "another address",
           from.sin_port == 0 ? "0" : from.sin_port == server->sin_port ? (connected ? "the peer's" : "the server's") : "another");
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_IP || c->cmsg_type != IP_RECVERR) {
            printf("%s:   cmsg level %d type %d\n", who, c->cmsg_level, c->cmsg_type);
            continue;
        }
        struct sock_extended_err *e = (struct sock_extended_err *)CMSG_DATA(c);
        struct sockaddr_in *off = (struct sockaddr_in *)SO_EE_OFFENDER(e);
        printf("%s:   IP_RECVERR %s origin %s type %d code %d info %u, offender family %d\n", who, errno_name((int)e->ee_errno),
               e->ee_origin == SO_EE_ORIGIN_LOCAL ? "LOCAL" : "other", e->ee_type, e->ee_code, e->ee_info, off->sin_family);
    }
    n = recvmsg(s, &m, MSG_ERRQUEUE | MSG_DONTWAIT);
    printf("%s: MSG_ERRQUEUE again: %s\n", who, n < 0 ? errno_name(errno) : "an entry");
    p.revents = 0;
    pr = poll(&p, 1, 0);
    printf("%s: poll after: %d %s\n", who, pr, poll_flags(p.revents, pf, sizeof pf));
    printf("%s: select after: %s\n", who, select_now(s, pf, sizeof pf));
    ev.events = 0;
    pr = epoll_wait(ep, &ev, 1, 0);
    printf("%s: epoll after: %d\n", who, pr);
    close(ep);
}

static int client(const struct opts *o) {
    static char data[MAXD];
    memset(data, 'd', sizeof data);
    struct sockaddr_in sa;
    make_addr(&sa, o->host, o->port);
    static const struct { int v; const char *name; } modes[] = {
        { IP_PMTUDISC_DONT, "DONT" }, { IP_PMTUDISC_WANT, "WANT" }, { IP_PMTUDISC_DO, "DO" },
        { IP_PMTUDISC_PROBE, "PROBE" }, { IP_PMTUDISC_INTERFACE, "INTERFACE" }, { IP_PMTUDISC_OMIT, "OMIT" },
    };
    static const size_t sizes[] = { 1472, 1473, 4000, 65507, 65508 };
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        int c = socket(AF_INET, SOCK_DGRAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
        if (c < 0 || u < 0) DIE("socket");
        if (setsockopt(c, IPPROTO_IP, IP_MTU_DISCOVER, &modes[m].v, sizeof(int)) < 0) DIE("IP_MTU_DISCOVER");
        if (setsockopt(u, IPPROTO_IP, IP_MTU_DISCOVER, &modes[m].v, sizeof(int)) < 0) DIE("IP_MTU_DISCOVER");
        if (connect(c, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("connect");
        int mtu = 0;
        socklen_t ml = sizeof mtu;
        int mr = getsockopt(c, IPPROTO_IP, IP_MTU, &mtu, &ml);
        printf("%s: IP_MTU %s %d\n", modes[m].name, mr < 0 ? errno_name(errno) : "OK", mtu);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            printf("%s %zu: send %s", modes[m].name, n, result(c, send(c, data, n, 0), n));
            printf(", sendto %s", result(u, sendto(u, data, n, 0, (struct sockaddr *)&sa, sizeof sa), n));
            struct iovec io[2] = { { data, n / 2 }, { data + n / 2, n - n / 2 } };
            struct msghdr mh = { .msg_name = &sa, .msg_namelen = sizeof sa, .msg_iov = io, .msg_iovlen = 2 };
            printf(", sendmsg %s\n", result(u, sendmsg(u, &mh, 0), n));
        }
        close(c);
        close(u);
    }
    /* IP_RECVERR: the local error queued with the refusal. */
    int on = 1, dov2 = IP_PMTUDISC_DO;
    int rc = socket(AF_INET, SOCK_DGRAM, 0), ru = socket(AF_INET, SOCK_DGRAM, 0);
    if (rc < 0 || ru < 0) DIE("socket");
    for (int i = 0; i < 2; i++) {
        int s = i ? ru : rc;
        if (setsockopt(s, IPPROTO_IP, IP_RECVERR, &on, sizeof on) < 0) DIE("IP_RECVERR");
        if (setsockopt(s, IPPROTO_IP, IP_MTU_DISCOVER, &dov2, sizeof dov2) < 0) DIE("IP_MTU_DISCOVER");
    }
    if (connect(rc, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("connect");
    printf("RECVERR connected: send 4000 %s\n", send(rc, data, 4000, 0) < 0 ? errno_name(errno) : "sent");
    local_error("RECVERR connected", rc, &sa, 1);
    printf("RECVERR connected: sendto 4000 %s\n",
           sendto(rc, data, 4000, 0, (struct sockaddr *)&sa, sizeof sa) < 0 ? errno_name(errno) : "sent");
    local_error("RECVERR connected, sendto", rc, &sa, 1);
    printf("RECVERR unconnected: sendto 4000 %s\n",
           sendto(ru, data, 4000, 0, (struct sockaddr *)&sa, sizeof sa) < 0 ? errno_name(errno) : "sent");
    local_error("RECVERR unconnected", ru, &sa, 0);
    close(rc);
    close(ru);
    /* The loopback's MTU is 65536: DO sends 4000 bytes there. */
    int l = socket(AF_INET, SOCK_DGRAM, 0), r = udp_bound("127.0.0.1", 0, 0);
    int dov = IP_PMTUDISC_DO;
    if (l < 0 || setsockopt(l, IPPROTO_IP, IP_MTU_DISCOVER, &dov, sizeof dov) < 0) DIE("loopback socket");
    struct sockaddr_in ra;
    socklen_t rl = sizeof ra;
    if (getsockname(r, (struct sockaddr *)&ra, &rl) < 0) DIE("getsockname");
    ssize_t k = sendto(l, data, 4000, 0, (struct sockaddr *)&ra, sizeof ra);
    printf("DO 4000 to the loopback: %s\n", k < 0 ? errno_name(errno) : "sent");
    close(l);
    close(r);
    int e = socket(AF_INET, SOCK_DGRAM, 0);
    sendto(e, "end", 3, 0, (struct sockaddr *)&sa, sizeof sa);
    close(e);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: udp_pmtudisc server -p PORT | udp_pmtudisc client -c HOST -p PORT", server,
                    client);
}
