/* raw_ip server -p PORT | raw_ip client -c HOST -p PORT
 * Raw IPv4 sockets (raw(7)), as traceroute -I/-T, mtr, ping's fallback and nmap use them: the
 * errno of socket() for a bad protocol; SO_TYPE, SO_PROTOCOL, IP_HDRINCL and getsockname (the
 * protocol in the port); an echo request written by hand and its reply read back with its IP
 * header (ICMP); ICMP_FILTER; a connected raw socket hears only its peer and has no peer name
 * (getpeername: ENOTCONN); IPPROTO_RAW (the IP
 * header written by hand: its source, identification, length and checksum left 0 and filled
 * in); a UDP datagram written on a raw UDP socket, echoed by the server and its copy read with
 * its header; IP_RECVERR on a raw UDP socket: the port unreachable for a datagram to a closed
 * port, from the error queue; EADDRNOTAVAIL, EDESTADDRREQ, EINVAL, EMSGSIZE; a protocol HOST
 * does not speak (253): its "protocol unreachable" does not fail the next send of a raw socket
 * (raw_sendmsg never looks at the pending error) unless IP_HDRINCL is on (raw_send_hdrinc
 * does), and is read from the error queue.
 * The server echoes UDP datagrams on PORT until "done" (PORT+1 is closed). */
#include "common.h"

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <linux/icmp.h>
#include <netinet/ip.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint16_t csum(const void *p, size_t n) {
    const uint8_t *b = p;
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(b[i] << 8 | b[i + 1]);
    if (n & 1) s += (uint32_t)(b[n - 1] << 8);
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* An echo request: identifier ID, sequence SEQ, 32 bytes of data; returns its length. */
static size_t echo(uint8_t *buf, uint16_t id, uint16_t seq) {
    memset(buf, 0, 40);
    buf[0] = ICMP_ECHO;
    buf[4] = (uint8_t)(id >> 8), buf[5] = (uint8_t)id;
    buf[6] = (uint8_t)(seq >> 8), buf[7] = (uint8_t)seq;
    for (int i = 8; i < 40; i++) buf[i] = (uint8_t)('a' + i % 26);
    uint16_t c = csum(buf, 40);
    buf[2] = (uint8_t)(c >> 8), buf[3] = (uint8_t)c;
    return 40;
}

static void send_echo(int s, const struct sockaddr_in *to, uint16_t id, uint16_t seq) {
    uint8_t b[64];
    size_t n = echo(b, id, seq);
    if (sendto(s, b, n, 0, (const struct sockaddr *)to, sizeof *to) != (ssize_t)n) DIE("sendto echo");
}

/* Waits up to MS for the echo reply with ID (and SEQ) on S; prints what it is, or "nothing". */
static void await_reply(const char *what, int s, uint16_t id, uint16_t seq, int ms, in_addr_t host) {
    uint8_t b[2048];
    for (;;) {
        struct pollfd p = { s, POLLIN, 0 };
        if (poll(&p, 1, ms) != 1) {
            printf("client: %s: nothing\n", what);
            return;
        }
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(s, b, sizeof b, 0, (struct sockaddr *)&from, &fl);
        if (n < 0) DIE("recvfrom");
        size_t ihl = (size_t)(b[0] & 15) * 4;
        if ((size_t)n < ihl + 8 || b[ihl] != ICMP_ECHOREPLY) continue; /* not ours */
        if ((b[ihl + 4] << 8 | b[ihl + 5]) != id || (b[ihl + 6] << 8 | b[ihl + 7]) != seq) continue;
        struct iphdr h;
        memcpy(&h, b, sizeof h);
        uint8_t want[64];
        echo(want, id, seq);
        printf("client: %s: reply %zd bytes, version %u ihl %zu tot_len %s ttl %u protocol %u frag_off 0x%x "
               "header sum %s, from %s port %u%s, data %s, icmp sum %s\n",
               what, n, (unsigned)h.version, ihl, ntohs(h.tot_len) == n ? "= read" : "!= read", (unsigned)h.ttl,
               (unsigned)h.protocol, (unsigned)ntohs(h.frag_off) & ~IP_DF, csum(b, ihl) == 0 ? "ok" : "bad",
               from.sin_addr.s_addr == host ? "HOST" : inet_ntoa(from.sin_addr), ntohs(from.sin_port),
               h.saddr == host ? "" : " (header source differs)",
               memcmp(b + ihl + 8, want + 8, 32) == 0 ? "echoed" : "differs", csum(b + ihl, (size_t)n - ihl) == 0 ? "ok" : "bad");
        return;
    }
}

static int intopt(int s, int level, int name) {
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(s, level, name, &v, &l) < 0) return -errno;
    return v;
}

static void try_socket(int protocol) {
    int s = socket(AF_INET, SOCK_RAW, protocol);
    printf("client: socket(SOCK_RAW, %d): %s\n", protocol, s < 0 ? errno_name(errno) : "ok");
    if (s >= 0) close(s);
}

static int server(const struct opts *o) {
    int c = udp_bound(NULL, o->port, 1);
    signal_ready(o);
    struct sockaddr_in client;
    answer_hello(c, &client);
    char buf[256];
    for (;;) {
        struct pollfd p = { c, POLLIN, 0 };
        if (poll(&p, 1, 20000) != 1) die("no done", errno);
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(c, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (n < 0) DIE("recvfrom");
        if (n == 4 && memcmp(buf, "done", 4) == 0) break;
        if (sendto(c, buf, (size_t)n, 0, (struct sockaddr *)&from, fl) != n) DIE("echo");
        printf("server: echoed %zd bytes to port %s\n", n, ntohs(from.sin_port) == o->port + 2 ? "PORT+2" : "other");
    }
    printf("server: done\n");
    return 0;
}

static int client(const struct opts *o) {
    struct sockaddr_in srv, far;
    make_addr(&srv, o->host, o->port);
    make_addr(&far, "10.0.0.77", 0);
    in_addr_t host = srv.sin_addr.s_addr;
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&srv, sizeof srv) < 0) DIE("connect");
    if (send(c, "hello", 5, 0) != 5) DIE("hello");
    char hb[16];
    struct pollfd hp = { c, POLLIN, 0 };
    if (poll(&hp, 1, 10000) != 1 || recv(c, hb, sizeof hb, 0) < 0) die("no answer", errno);
    uint16_t id = (uint16_t)(getpid() ^ 0x5a5a);

    try_socket(0);
    try_socket(256);
    int r = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    if (r < 0) DIE("socket ICMP");
    struct sockaddr_in name;
    socklen_t nl = sizeof name;
    if (getsockname(r, (struct sockaddr *)&name, &nl) < 0) DIE("getsockname");
    printf("client: ICMP: SO_TYPE %s, SO_PROTOCOL %d, IP_HDRINCL %d, ICMP_FILTER %d, name %s port %u\n",
           intopt(r, SOL_SOCKET, SO_TYPE) == SOCK_RAW ? "SOCK_RAW" : "other", intopt(r, SOL_SOCKET, SO_PROTOCOL),
           intopt(r, IPPROTO_IP, IP_HDRINCL), intopt(r, SOL_RAW, ICMP_FILTER), inet_ntoa(name.sin_addr),
           ntohs(name.sin_port));

    send_echo(r, &srv, id, 1);
    await_reply("echo", r, id, 1, 3000, host);

    uint32_t mask = 1u << ICMP_ECHOREPLY;
    if (setsockopt(r, SOL_RAW, ICMP_FILTER, &mask, sizeof mask) < 0) DIE("ICMP_FILTER");
    printf("client: ICMP_FILTER now 0x%x\n", intopt(r, SOL_RAW, ICMP_FILTER));
    send_echo(r, &srv, id, 2);
    await_reply("echo reply filtered out", r, id, 2, 400, host);
    mask = 0;
    if (setsockopt(r, SOL_RAW, ICMP_FILTER, &mask, sizeof mask) < 0) DIE("ICMP_FILTER 0");

    /* A second ICMP socket connected elsewhere hears nothing of HOST. */
    int r2 = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    if (r2 < 0 || connect(r2, (struct sockaddr *)&far, sizeof far) < 0) DIE("connect far");
    /* Connected, yet no peer name: a raw socket has no port (inet_getname). */
    struct sockaddr_in pn;
    socklen_t pnl = sizeof pn;
    errno = 0;
    int pr = getpeername(r2, (struct sockaddr *)&pn, &pnl);
    printf("getpeername connected raw: %d %s\n", pr, errno_name(errno));
    send_echo(r, &srv, id, 3);
    await_reply("unconnected socket", r, id, 3, 3000, host);
    await_reply("socket connected elsewhere", r2, id, 3, 300, host);
    close(r2);

    /* IPPROTO_RAW: the header by hand, source, id, length and checksum left to the stack. */
    int w = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    if (w < 0) DIE("socket IPPROTO_RAW");
    printf("client: IPPROTO_RAW: IP_HDRINCL %d, SO_PROTOCOL %d\n", intopt(w, IPPROTO_IP, IP_HDRINCL),
           intopt(w, SOL_SOCKET, SO_PROTOCOL));
    static uint8_t pkt[2048];
    pkt[0] = 0x45, pkt[8] = 64, pkt[9] = IPPROTO_ICMP;
    memcpy(pkt + 16, &host, 4);
    size_t n = 20 + echo(pkt + 20, id, 4);
    if (sendto(w, pkt, n, 0, (struct sockaddr *)&srv, sizeof srv) != (ssize_t)n) DIE("sendto hdrincl");
    await_reply("header written by hand", r, id, 4, 3000, host);
    printf("client: header of 10 bytes: %s\n",
           sendto(w, pkt, 10, 0, (struct sockaddr *)&srv, sizeof srv) < 0 ? errno_name(errno) : "sent");
    static uint8_t big[65536];
    printf("client: header and 1,600 bytes: %s\n",
           sendto(w, pkt, 1620, 0, (struct sockaddr *)&srv, sizeof srv) < 0 ? errno_name(errno) : "sent");
    printf("client: 65,515 bytes on an ICMP socket: %s\n",
           sendto(r, big, 65515, MSG_DONTWAIT, (struct sockaddr *)&srv, sizeof srv) < 0 ? errno_name(errno) : "sent");
    printf("client: 65,516 bytes on an ICMP socket: %s\n",
           sendto(r, big, 65516, 0, (struct sockaddr *)&srv, sizeof srv) < 0 ? errno_name(errno) : "sent");
    printf("client: send without a destination: %s\n", send(r, big, 8, 0) < 0 ? errno_name(errno) : "sent");
    printf("client: bind to 10.9.9.9: %s\n",
           bind(r, (struct sockaddr *)&(struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = inet_addr("10.9.9.9") },
                sizeof(struct sockaddr_in)) < 0 ? errno_name(errno) : "bound");
    close(w);
    close(r);

    /* A UDP datagram written on a raw UDP socket (checksum 0: none), echoed by the server: the
     * copy of the echo, header included. */
    int u = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
    if (u < 0) DIE("socket UDP");
    uint8_t d[64];
    uint16_t sport = (uint16_t)(o->port + 2);
    memset(d, 0, sizeof d);
    d[0] = (uint8_t)(sport >> 8), d[1] = (uint8_t)sport;
    d[2] = (uint8_t)(o->port >> 8), d[3] = (uint8_t)o->port;
    d[5] = 8 + 12;
    memcpy(d + 8, "raw udp data", 12);
    if (sendto(u, d, 20, 0, (struct sockaddr *)&srv, sizeof srv) != 20) DIE("sendto udp");
    for (;;) {
        struct pollfd p = { u, POLLIN, 0 };
        if (poll(&p, 1, 3000) != 1) {
            printf("client: raw UDP: no echo\n");
            break;
        }
        uint8_t b[256];
        ssize_t m = recv(u, b, sizeof b, 0);
        if (m < 0) DIE("recv udp");
        size_t ihl = (size_t)(b[0] & 15) * 4;
        if ((size_t)m < ihl + 8 || (b[ihl + 2] << 8 | b[ihl + 3]) != sport) continue;
        printf("client: raw UDP: %zd bytes, protocol %u, from port %s, data %s\n", m, b[9],
               (b[ihl] << 8 | b[ihl + 1]) == o->port ? "PORT" : "other",
               (size_t)m == ihl + 20 && memcmp(b + ihl + 8, "raw udp data", 12) == 0 ? "echoed" : "differs");
        break;
    }
    /* The ICMP errors HOST sends from here on (4) must pass Linux's per-peer rate limit (one a
     * second, bursts of 6, spent by the cases before this one in the same namespaces, as
     * udp_errttl's six): wait for the bucket to fill that far. */
    sleep(4);
    /* To the closed PORT+1 with IP_RECVERR: the port unreachable in the error queue. */
    int one = 1;
    if (setsockopt(u, IPPROTO_IP, IP_RECVERR, &one, sizeof one) < 0) DIE("IP_RECVERR");
    d[2] = (uint8_t)((o->port + 1) >> 8), d[3] = (uint8_t)(o->port + 1);
    if (sendto(u, d, 20, 0, (struct sockaddr *)&srv, sizeof srv) != 20) DIE("sendto closed");
    struct pollfd ep = { u, POLLIN, 0 };
    for (int i = 0; i < 30 && !(ep.revents & POLLERR); i++) {
        if (poll(&ep, 1, 100) == 1 && (ep.revents & POLLIN)) {
            uint8_t b[256];
            (void)recv(u, b, sizeof b, MSG_DONTWAIT); /* the ICMP copy is not UDP: none expected */
        }
    }
    char buf[64], cbuf[256];
    struct iovec io = { buf, sizeof buf };
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &io, mh.msg_iovlen = 1, mh.msg_control = cbuf, mh.msg_controllen = sizeof cbuf;
    ssize_t en = recvmsg(u, &mh, MSG_ERRQUEUE);
    if (en < 0) {
        printf("client: error queue: %s\n", errno_name(errno));
    } else {
        struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
        struct sock_extended_err ee;
        memset(&ee, 0, sizeof ee);
        if (h && h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_RECVERR) memcpy(&ee, CMSG_DATA(h), sizeof ee);
        printf("client: error queue: %zd bytes (%s), %s origin %u type %u code %u\n", en,
               en == 20 && memcmp(buf + 8, "raw udp data", 12) == 0 ? "the datagram" : "other",
               errno_name((int)ee.ee_errno), ee.ee_origin, ee.ee_type, ee.ee_code);
    }
    close(u);

    int x = socket(AF_INET, SOCK_RAW, 253);
    if (x < 0 || setsockopt(x, IPPROTO_IP, IP_RECVERR, &one, sizeof one) < 0 ||
        connect(x, (struct sockaddr *)&srv, sizeof srv) < 0)
        DIE("socket 253");
    const char *s1 = send(x, "exp45678", 8, 0) < 0 ? errno_name(errno) : "sent";
    usleep(300000);
    const char *s2 = send(x, "exp45678", 8, 0) < 0 ? errno_name(errno) : "sent";
    usleep(300000);
    printf("client: protocol 253: send, send -> %s, %s\n", s1, s2);
    int entries = 0;
    struct sock_extended_err first;
    memset(&first, 0, sizeof first);
    for (;;) {
        mh.msg_control = cbuf, mh.msg_controllen = sizeof cbuf;
        if (recvmsg(x, &mh, MSG_ERRQUEUE) < 0) break;
        struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
        if (entries++ == 0 && h && h->cmsg_type == IP_RECVERR) memcpy(&first, CMSG_DATA(h), sizeof first);
    }
    int soerr = 0;
    socklen_t sol = sizeof soerr;
    getsockopt(x, SOL_SOCKET, SO_ERROR, &soerr, &sol);
    printf("client: protocol 253: %s, error queue %s, first %s type %u code %u\n", errno_name(soerr),
           entries ? "not empty" : "empty", errno_name((int)first.ee_errno), first.ee_type, first.ee_code);
    if (setsockopt(x, IPPROTO_IP, IP_HDRINCL, &one, sizeof one) < 0) DIE("IP_HDRINCL");
    memset(pkt, 0, 40);
    pkt[0] = 0x45, pkt[8] = 64, pkt[9] = 253;
    memcpy(pkt + 16, &host, 4);
    memcpy(pkt + 20, "exp45678", 8);
    s1 = send(x, pkt, 28, 0) < 0 ? errno_name(errno) : "sent";
    usleep(300000);
    s2 = send(x, pkt, 28, 0) < 0 ? errno_name(errno) : "sent";
    printf("client: protocol 253 with IP_HDRINCL: send, send -> %s, %s\n", s1, s2);
    close(x);

    if (send(c, "done", 4, 0) != 4) DIE("done");
    close(c);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: raw_ip server -p PORT | client -c HOST -p PORT", server, client);
}
