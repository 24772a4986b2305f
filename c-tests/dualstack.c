/* dualstack server -p PORT | dualstack client -c HOST -p PORT
 * AF_INET6 sockets carrying IPv4 as Linux serves them (issue 10, dual-stack): a server bound to
 * :: (IPV6_V6ONLY off) accepts an IPv4 client and reports ::ffff:a.b.c.d from accept,
 * getpeername and getsockname; a client connects to ::ffff:HOST; UDP recvfrom reports the mapped
 * sender; IPV6_V6ONLY is honoured (a v6-only listener refuses IPv4, a v6-only socket cannot
 * connect to a mapped address (ENETUNREACH) nor bind one (EINVAL), the option cannot change after
 * bind); a dual-stack bind conflicts with an IPv4 bind of the same port and a v6-only one does
 * not; native IPv6 fails as on a host with no IPv6 route (connect/sendto ENETUNREACH, bind
 * EADDRNOTAVAIL); getaddrinfo(AF_INET6, AI_V4MAPPED) maps an IPv4 answer.
 * Output names address kinds ("v4-mapped of the peer"), never addresses or ports. */
#include "common.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static const char *res(long r) { return r < 0 ? errno_name(errno) : "OK"; }

static void make6(struct sockaddr_in6 *sa, const char *text, int port) {
    memset(sa, 0, sizeof *sa);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, text, &sa->sin6_addr) != 1) die("bad IPv6 literal", 0);
}

/* ::ffff:HOST for an IPv4 text address. */
static void mapped(struct sockaddr_in6 *sa, const char *v4, int port) {
    char t[64];
    snprintf(t, sizeof t, "::ffff:%s", v4);
    make6(sa, t, port);
}

static int sock6(int type, int v6only) {
    int s = socket(AF_INET6, type, 0);
    if (s < 0) DIE("socket AF_INET6");
    if (v6only >= 0 && setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0) DIE("IPV6_V6ONLY");
    return s;
}

/* "family AF_INET6 len 28 v4-mapped port P flowinfo 0 scope 0"; the text address goes to txt. */
static const char *describe(const struct sockaddr_storage *ss, socklen_t len, int port, char *txt, size_t tl) {
    static char out[160];
    txt[0] = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)ss;
        inet_ntop(AF_INET, &a->sin_addr, txt, (socklen_t)tl);
        snprintf(out, sizeof out, "family AF_INET len %u", (unsigned)len);
        return out;
    }
    if (ss->ss_family != AF_INET6) {
        snprintf(out, sizeof out, "family %d len %u", ss->ss_family, (unsigned)len);
        return out;
    }
    const struct sockaddr_in6 *a = (const void *)ss;
    inet_ntop(AF_INET6, &a->sin6_addr, txt, (socklen_t)tl);
    const char *kind = IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) ? "v4-mapped"
                       : IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr) ? "unspecified"
                       : IN6_IS_ADDR_LOOPBACK(&a->sin6_addr) ? "loopback" : "native";
    int p = ntohs(a->sin6_port);
    const char *pk = p == 0 ? "0" : (port > 0 && p == port) ? "the expected one" : "another";
    snprintf(out, sizeof out, "family AF_INET6 len %u %s port %s flowinfo %u scope %u", (unsigned)len, kind, pk,
             a->sin6_flowinfo, a->sin6_scope_id);
    return out;
}

static void show_name(const char *who, int fd, int peer, int port, char *txt, size_t tl) {
    struct sockaddr_storage ss;
    memset(&ss, 0xa5, sizeof ss);
    socklen_t len = sizeof ss;
    int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len) : getsockname(fd, (struct sockaddr *)&ss, &len);
    if (r < 0) { printf("%s: %s\n", who, errno_name(errno)); txt[0] = 0; return; }
    printf("%s: %s\n", who, describe(&ss, len, port, txt, tl));
}

/* Sends a line of text; reads one (the peers exchange their own view of their addresses). */
static void send_line(int fd, const char *t) {
    char b[128];
    snprintf(b, sizeof b, "%s\n", t);
    if (write_all(fd, b, strlen(b)) < 0) DIE("send_line");
}
static void read_line(int fd, char *b, size_t n) {
    size_t i = 0;
    while (i + 1 < n) {
        char c;
        if (read_full(fd, &c, 1) != 1) break;
        if (c == '\n') break;
        b[i++] = c;
    }
    b[i] = 0;
}

static int server(const struct opts *o) {
    char t1[64], t2[64], line[128];
    int v = -1;
    socklen_t vl = sizeof v;
    int l = sock6(SOCK_STREAM, -1);
    getsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl);
    printf("server: IPV6_V6ONLY default %d\n", v);
    show_name("server: unbound AF_INET6 socket name", l, 0, o->port, t1, sizeof t1);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in6 any;
    make6(&any, "::", o->port);
    if (bind(l, (struct sockaddr *)&any, sizeof any) < 0) DIE("bind ::");
    if (listen(l, 4) < 0) DIE("listen");
    show_name("server: listener name", l, 0, o->port, t1, sizeof t1);
    int zero = 0;
    printf("server: IPV6_V6ONLY after bind: %s\n",
           res(setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero)));

    /* A v6-only listener on PORT+1: IPv4 clients are refused there. */
    int l6 = sock6(SOCK_STREAM, 1);
    setsockopt(l6, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    make6(&any, "::", o->port + 1);
    printf("server: v6-only bind :: %s\n", res(bind(l6, (struct sockaddr *)&any, sizeof any)));
    printf("server: v6-only listen %s\n", res(listen(l6, 4)));

    /* PORT+2: an IPv4 bind of 0.0.0.0, then AF_INET6 binds of :: to the same port. */
    int l4 = tcp_socket();
    struct sockaddr_in a4;
    make_addr(&a4, NULL, o->port + 2);
    printf("server: AF_INET bind 0.0.0.0: %s\n", res(bind(l4, (struct sockaddr *)&a4, sizeof a4)));
    listen(l4, 1);
    int d = sock6(SOCK_STREAM, 0);
    make6(&any, "::", o->port + 2);
    printf("server: dual-stack bind :: on the same port: %s\n", res(bind(d, (struct sockaddr *)&any, sizeof any)));
    close(d);
    d = sock6(SOCK_STREAM, 1);
    printf("server: v6-only bind :: on the same port: %s\n", res(bind(d, (struct sockaddr *)&any, sizeof any)));
    close(d);
    close(l4);

    /* UDP on PORT, dual-stack. */
    int u = sock6(SOCK_DGRAM, -1);
    make6(&any, "::", o->port);
    if (bind(u, (struct sockaddr *)&any, sizeof any) < 0) DIE("udp bind ::");
    struct timeval tv = { 10, 0 };
    setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    signal_ready(o);

    struct sockaddr_storage ss;
    memset(&ss, 0xa5, sizeof ss);
    socklen_t len = sizeof ss;
    int c = accept(l, (struct sockaddr *)&ss, &len);
    if (c < 0) DIE("accept");
    printf("server: accept address: %s\n", describe(&ss, len, -1, t1, sizeof t1));
    show_name("server: getpeername", c, 1, -1, t2, sizeof t2);
    printf("server: accept and getpeername agree: %s\n", strcmp(t1, t2) == 0 ? "yes" : "no");
    show_name("server: getsockname", c, 0, o->port, t2, sizeof t2);
    printf("server: local address differs from the peer's: %s\n", strcmp(t1, t2) != 0 ? "yes" : "no");
    read_line(c, line, sizeof line); /* the client's own name */
    printf("server: the client's own name is our peer: %s\n", strcmp(line, t1) == 0 ? "yes" : "no");
    send_line(c, t2);
    /* Then a datagram from the same client. */
    char dg[64];
    memset(&ss, 0xa5, sizeof ss);
    len = sizeof ss;
    long n = recvfrom(u, dg, sizeof dg, 0, (struct sockaddr *)&ss, &len);
    if (n < 0) { printf("server: recvfrom: %s\n", errno_name(errno)); return 1; }
    printf("server: recvfrom %ld bytes from %s\n", n, describe(&ss, len, -1, t2, sizeof t2));
    printf("server: datagram from the client's address: %s\n", strcmp(t1, t2) == 0 ? "yes" : "no");
    printf("server: sendto the mapped sender: %s\n", res(sendto(u, "pong", 4, 0, (struct sockaddr *)&ss, len)));
    n = read_full(c, dg, 1);
    printf("server: end: %s\n", n == 0 ? "EOF" : "unexpected");
    close(c);
    close(u);
    close(l6);
    close(l);
    return 0;
}

static int client(const struct opts *o) {
    char t1[64], t2[64], line[128];
    struct sockaddr_in6 sa;

    /* Errors that need no peer. */
    int s = sock6(SOCK_STREAM, -1);
    make6(&sa, "2001:db8::1", o->port);
    printf("connect to a native IPv6 address: %s\n", res(connect(s, (struct sockaddr *)&sa, sizeof sa)));
    close(s);
    s = sock6(SOCK_STREAM, -1);
    make6(&sa, "2001:db8::5", 0);
    printf("bind to a native IPv6 address: %s\n", res(bind(s, (struct sockaddr *)&sa, sizeof sa)));
    struct sockaddr_in a4;
    make_addr(&a4, NULL, 0);
    printf("bind with a sockaddr_in: %s\n", res(bind(s, (struct sockaddr *)&a4, sizeof a4)));
    close(s);
    s = sock6(SOCK_DGRAM, -1);
    make6(&sa, "2001:db8::1", o->port);
    printf("UDP sendto a native IPv6 address: %s\n", res(sendto(s, "x", 1, 0, (struct sockaddr *)&sa, sizeof sa)));
    close(s);
    s = sock6(SOCK_STREAM, 1);
    mapped(&sa, o->host, o->port);
    printf("v6-only connect to a mapped address: %s\n", res(connect(s, (struct sockaddr *)&sa, sizeof sa)));
    close(s);
    s = sock6(SOCK_STREAM, 1);
    mapped(&sa, "0.0.0.0", 0);
    printf("v6-only bind to a mapped address: %s\n", res(bind(s, (struct sockaddr *)&sa, sizeof sa)));
    close(s);

    /* The v6-only listener on PORT+1 refuses IPv4, from AF_INET6 and from AF_INET. */
    s = sock6(SOCK_STREAM, -1);
    mapped(&sa, o->host, o->port + 1);
    printf("connect to the v6-only listener: %s\n", res(connect(s, (struct sockaddr *)&sa, sizeof sa)));
    close(s);
    s = tcp_socket();
    make_addr(&a4, o->host, o->port + 1);
    printf("AF_INET connect to the v6-only listener: %s\n", res(connect(s, (struct sockaddr *)&a4, sizeof a4)));
    close(s);

    /* The dual-stack server. */
    s = sock6(SOCK_STREAM, -1);
    show_name("unbound name", s, 0, -1, t1, sizeof t1);
    mapped(&sa, o->host, o->port);
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("connect to the mapped server");
    show_name("getpeername", s, 1, o->port, t1, sizeof t1);
    snprintf(line, sizeof line, "::ffff:%s", o->host);
    printf("peer is ::ffff:HOST: %s\n", strcmp(t1, line) == 0 ? "yes" : "no");
    show_name("getsockname", s, 0, -1, t2, sizeof t2);
    /* Our address is not the peer's: a connection the kernel looped back to itself has both
     * ends on one address (what a shim that let AF_INET6 reach the kernel would produce). */
    printf("local address differs from the peer's: %s\n", strcmp(t1, t2) != 0 ? "yes" : "no");
    send_line(s, t2);
    read_line(s, line, sizeof line); /* the server's own name */
    printf("the server's own name is our peer: %s\n", strcmp(line, t1) == 0 ? "yes" : "no");

    /* UDP from an AF_INET6 socket bound to the same local address as the TCP connection. */
    int u = sock6(SOCK_DGRAM, -1);
    struct sockaddr_in6 me;
    make6(&me, t2, 0);
    if (bind(u, (struct sockaddr *)&me, sizeof me) < 0) DIE("udp bind to our mapped address");
    show_name("UDP bound name", u, 0, -1, t2, sizeof t2);
    printf("UDP sendto the mapped server: %s\n", res(sendto(u, "ping", 4, 0, (struct sockaddr *)&sa, sizeof sa)));
    struct timeval tv = { 10, 0 };
    setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_storage ss;
    memset(&ss, 0xa5, sizeof ss);
    socklen_t len = sizeof ss;
    char dg[64];
    long n = recvfrom(u, dg, sizeof dg, 0, (struct sockaddr *)&ss, &len);
    if (n < 0) printf("UDP recvfrom: %s\n", errno_name(errno));
    else {
        printf("UDP recvfrom %ld bytes from %s\n", n, describe(&ss, len, o->port, t2, sizeof t2));
        printf("UDP reply from the server's address: %s\n", strcmp(t1, t2) == 0 ? "yes" : "no");
    }
    close(u);
    shutdown(s, SHUT_WR);
    n = read_full(s, dg, 1);
    printf("end: %s\n", n == 0 ? "EOF" : "unexpected");
    close(s);

    /* The resolver maps an IPv4 answer for AF_INET6 + AI_V4MAPPED. */
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET6;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_V4MAPPED | AI_NUMERICHOST;
    int g = getaddrinfo(o->host, "80", &hints, &ai);
    if (g != 0) printf("getaddrinfo AF_INET6 AI_V4MAPPED: %s\n", gai_strerror(g));
    else {
        printf("getaddrinfo AF_INET6 AI_V4MAPPED: %s\n",
               describe((struct sockaddr_storage *)ai->ai_addr, ai->ai_addrlen, 80, t1, sizeof t1));
        freeaddrinfo(ai);
    }
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: dualstack server -p PORT | client -c HOST -p PORT", server, client);
}
