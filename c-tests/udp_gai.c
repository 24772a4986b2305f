/* udp_gai: prints what getaddrinfo / getnameinfo / gethostbyname(_r) return for a fixed set of
 * inputs that need no DNS (numeric hosts, services, hints, error codes, "localhost" from the
 * hosts file). Run once on glibc and once under tapstack: the outputs must be identical.
 * Optional arguments: a name to resolve and an address to look up in reverse (PTR), e.g. ones
 * served by a test DNS server.
 * Self-contained (no common.c symbols). */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

struct gai_case {
    const char *node, *service;
    int flags, family, socktype, protocol;
};

static const char *fam_name(int f) {
    return f == AF_INET ? "INET" : f == AF_INET6 ? "INET6" : f == AF_UNSPEC ? "UNSPEC" : "?";
}

static void show_gai(const struct gai_case *c, int use_hints) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_flags = c->flags;
    hints.ai_family = c->family;
    hints.ai_socktype = c->socktype;
    hints.ai_protocol = c->protocol;
    int r = getaddrinfo(c->node, c->service, use_hints ? &hints : NULL, &res);
    printf("getaddrinfo(%s, %s, flags=%#x fam=%s type=%d proto=%d%s) = %d", c->node ? c->node : "NULL",
           c->service ? c->service : "NULL", c->flags, fam_name(c->family), c->socktype, c->protocol,
           use_hints ? "" : " nohints", r);
    if (r != 0) {
        printf(" (%s)\n", gai_strerror(r));
        return;
    }
    printf("\n");
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        char host[INET6_ADDRSTRLEN] = "?";
        int port = -1;
        if (a->ai_family == AF_INET) {
            struct sockaddr_in *s = (struct sockaddr_in *)a->ai_addr;
            inet_ntop(AF_INET, &s->sin_addr, host, sizeof host);
            port = ntohs(s->sin_port);
        } else if (a->ai_family == AF_INET6) {
            struct sockaddr_in6 *s = (struct sockaddr_in6 *)a->ai_addr;
            inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof host);
            port = ntohs(s->sin6_port);
        }
        printf("  %s type=%d proto=%d addrlen=%u %s port %d canon=%s\n", fam_name(a->ai_family), a->ai_socktype,
               a->ai_protocol, (unsigned)a->ai_addrlen, host, port, a->ai_canonname ? a->ai_canonname : "-");
    }
    freeaddrinfo(res);
}

static void show_gni(const char *ip, int port, int flags, size_t hostlen, size_t servlen) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    char host[256] = "", serv[64] = "";
    int r = getnameinfo((struct sockaddr *)&sa, sizeof sa, hostlen ? host : NULL, (socklen_t)hostlen,
                        servlen ? serv : NULL, (socklen_t)servlen, flags);
    printf("getnameinfo(%s:%d, flags=%#x, %zu, %zu) = %d", ip, port, flags, hostlen, servlen, r);
    if (r != 0)
        printf(" (%s)\n", gai_strerror(r));
    else
        printf(" host=%s serv=%s\n", host, serv);
}

static void show_hostent(const char *what, struct hostent *h) {
    if (!h) {
        printf("%s = NULL h_errno=%d\n", what, h_errno);
        return;
    }
    printf("%s = name=%s type=%d len=%d", what, h->h_name, h->h_addrtype, h->h_length);
    for (char **a = h->h_addr_list; *a; a++) {
        char s[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, *a, s, sizeof s);
        printf(" %s", s);
    }
    printf("\n");
}

int main(int argc, char **argv) {
    static const struct gai_case cases[] = {
        {"10.0.0.1", "80", 0, AF_INET, SOCK_STREAM, 0},
        {"10.0.0.1", "80", 0, AF_INET, 0, 0},
        {"10.0.0.1", "80", 0, AF_UNSPEC, 0, 0},
        {"10.0.0.1", NULL, 0, AF_INET, 0, 0},
        {"10.0.0.1", "http", 0, AF_INET, 0, 0},
        {"10.0.0.1", "domain", 0, AF_INET, SOCK_DGRAM, 0},
        {"10.0.0.1", "http", AI_NUMERICSERV, AF_INET, 0, 0},
        {"10.0.0.1", "no-such-service", 0, AF_INET, 0, 0},
        {"10.0.0.1", "80", 0, AF_INET, SOCK_RAW, 0},
        {"10.0.0.1", NULL, 0, AF_INET, SOCK_RAW, 0},
        {"10.0.0.1", "80", 0, AF_INET, SOCK_STREAM, IPPROTO_TCP},
        {"10.0.0.1", "80", 0, AF_INET, SOCK_DGRAM, IPPROTO_UDP},
        {"10.0.0.1", "80", 0, AF_INET, 0, IPPROTO_UDP},
        {"10.0.0.1", "80", 0, AF_INET, 99, 0},
        {"10.0.0.1", "80", AI_CANONNAME, AF_INET, SOCK_STREAM, 0},
        {"10.0.0.1", "80", AI_NUMERICHOST, AF_INET, SOCK_STREAM, 0},
        {"127.1", "7", 0, AF_INET, SOCK_STREAM, 0},
        {"0x7f000001", "7", 0, AF_INET, SOCK_STREAM, 0},
        {"1.2.3.4.5", "7", AI_NUMERICHOST, AF_INET, SOCK_STREAM, 0},
        {"files.test", "80", AI_NUMERICHOST, AF_INET, SOCK_STREAM, 0},
        {"::1", "80", 0, AF_INET, SOCK_STREAM, 0},
        {"::1", "80", 0, AF_INET6, SOCK_STREAM, 0},
        {"::1", "80", 0, AF_UNSPEC, SOCK_STREAM, 0},
        {"10.0.0.1", "80", 0, AF_INET6, SOCK_STREAM, 0},
        {"10.0.0.1", "80", AI_V4MAPPED, AF_INET6, SOCK_STREAM, 0},
        {NULL, "8080", AI_PASSIVE, AF_INET, SOCK_STREAM, 0},
        {NULL, "8080", 0, AF_INET, SOCK_STREAM, 0},
        {NULL, NULL, 0, AF_INET, SOCK_STREAM, 0},
        {NULL, "80", AI_CANONNAME, AF_INET, SOCK_STREAM, 0},
        {"10.0.0.1", "80", 0x10000, AF_INET, SOCK_STREAM, 0},
        {"10.0.0.1", "80", 0, AF_PACKET, SOCK_STREAM, 0},
        {"localhost", "80", 0, AF_INET, SOCK_STREAM, 0},
        {"localhost", "80", AI_CANONNAME, AF_INET, SOCK_DGRAM, 0},
        {"LocalHost", "80", 0, AF_INET, SOCK_STREAM, 0},
        {"10.0.0.1", "65535", 0, AF_INET, SOCK_STREAM, 0},
        {"10.0.0.1", "65536", 0, AF_INET, SOCK_STREAM, 0},
        {"10.0.0.1", "-1", 0, AF_INET, SOCK_STREAM, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) show_gai(&cases[i], 1);
    struct gai_case nohints = {"10.0.0.1", "80", 0, 0, 0, 0};
    show_gai(&nohints, 0);
    if (argc > 1) {
        struct gai_case named[] = {
            {argv[1], "80", AI_CANONNAME, AF_INET, SOCK_STREAM, 0},
            {argv[1], "80", 0, AF_UNSPEC, SOCK_STREAM, 0},
            {argv[1], "80", 0, AF_INET6, SOCK_STREAM, 0},
            {argv[1], "80", AI_V4MAPPED, AF_INET6, SOCK_STREAM, 0},
        };
        for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) show_gai(&named[i], 1);
    }

    show_gni("10.0.0.1", 80, NI_NUMERICHOST | NI_NUMERICSERV, 256, 64);
    show_gni("10.0.0.1", 80, NI_NUMERICHOST, 256, 64);
    show_gni("10.0.0.1", 53, NI_NUMERICHOST | NI_DGRAM, 256, 64);
    show_gni("10.0.0.1", 80, NI_NUMERICHOST, 5, 64);
    show_gni("10.0.0.1", 80, NI_NUMERICHOST, 256, 2);
    show_gni("10.0.0.1", 80, NI_NUMERICHOST, 0, 64);
    show_gni("127.0.0.1", 80, NI_NUMERICSERV, 256, 64);
    show_gni("127.0.0.1", 80, NI_NUMERICSERV | NI_NOFQDN, 256, 64);
    show_gni("10.0.0.1", 12345, NI_NUMERICHOST, 256, 64);
    show_gni("10.0.0.1", 80, 0x4000, 256, 64);
    show_gni("10.0.0.1", 80, NI_NUMERICHOST, 0, 0);
    if (argc > 2) { /* reverse lookups (PTR over DNS): argv[2] has a PTR record, 10.0.0.77 not */
        show_gni(argv[2], 80, NI_NUMERICSERV, 256, 64);
        show_gni(argv[2], 80, NI_NUMERICSERV | NI_NOFQDN, 256, 64);
        show_gni(argv[2], 80, NI_NAMEREQD, 256, 64);
        show_gni("10.0.0.77", 80, NI_NUMERICSERV, 256, 64);
        show_gni("10.0.0.77", 80, NI_NAMEREQD, 256, 64);
    }

    show_hostent("gethostbyname(10.0.0.1)", gethostbyname("10.0.0.1"));
    show_hostent("gethostbyname(localhost)", gethostbyname("localhost"));
    show_hostent("gethostbyname2(10.0.0.1, INET)", gethostbyname2("10.0.0.1", AF_INET));
    struct hostent he, *res = NULL;
    char buf[1024];
    int herr = 0;
    int r = gethostbyname_r("localhost", &he, buf, sizeof buf, &res, &herr);
    printf("gethostbyname_r(localhost) = %d\n", r);
    if (r == 0) show_hostent("  result", res);
    r = gethostbyname_r("no-such-host.invalid", &he, buf, sizeof buf, &res, &herr);
    printf("gethostbyname_r(no-such-host.invalid) = %d herr=%d result=%s\n", r, herr, res ? "set" : "NULL");
    r = gethostbyname_r("localhost", &he, buf, 8, &res, &herr);
    printf("gethostbyname_r(localhost, 8-byte buffer) = %d result=%s\n", r, res ? "set" : "NULL");
    if (argc > 1) {
        char what[300];
        snprintf(what, sizeof what, "gethostbyname(%s)", argv[1]);
        show_hostent(what, gethostbyname(argv[1]));
    }
    return 0;
}
