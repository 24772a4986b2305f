/* sockopts server -p PORT | sockopts client -c HOST -p PORT
 * Socket option round trips and socket names, printed only in forms that do not depend on the
 * stack's buffer sizing (e.g. "SO_RCVBUF >= requested: yes", booleans, errno names):
 * SO_TYPE/SO_PROTOCOL/SO_DOMAIN/SO_ACCEPTCONN/SO_ERROR, SO_RCVBUF, SO_SNDBUF, TCP_NODELAY,
 * SO_KEEPALIVE (+ TCP_KEEPIDLE/INTVL/CNT), SO_LINGER, SO_REUSEADDR, SO_RCVTIMEO, IP_TTL,
 * TCP_MAXSEG, IP_MTU (connected: the path MTU; unconnected: ENOTCONN), short optlen (EINVAL),
 * unknown options (ENOPROTOOPT), TCP_CONGESTION by name (reno, cubic, an unknown one: ENOENT;
 * on UDP: ENOPROTOOPT), options Linux keeps (IP_BIND_ADDRESS_NO_PORT, TCP_THIN_LINEAR_TIMEOUTS,
 * UDP_GRO, SO_TIMESTAMPNS); getsockname/getpeername before and after connect; and on the
 * server, what an accepted socket inherits from its listener (TCP_NODELAY, SO_KEEPALIVE,
 * TCP_CONGESTION). */
#include "common.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static const char *res(long r) { return r < 0 ? errno_name(errno) : "OK"; }

static int geti(int fd, int level, int opt, const char *name) {
    int v = 0;
    socklen_t len = sizeof v;
    if (getsockopt(fd, level, opt, &v, &len) < 0) {
        printf("get %s: %s\n", name, errno_name(errno));
        return -1;
    }
    return v;
}

static void seti(int fd, int level, int opt, const char *name, int v) {
    printf("set %s=%d: %s\n", name, v, res(setsockopt(fd, level, opt, &v, sizeof v)));
}

#define GETI(fd, lvl, opt) geti(fd, lvl, opt, #opt)
#define SETI(fd, lvl, opt, v) seti(fd, lvl, opt, #opt, v)

static const char *family(int f) { return f == AF_INET ? "AF_INET" : f == AF_UNSPEC ? "AF_UNSPEC" : "other"; }

static void names(int fd, const char *when, const char *host, int port) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    int r = getsockname(fd, (struct sockaddr *)&a, &len);
    printf("%s getsockname: %s family %s len %u port %s addr %s\n", when, res(r), family(a.sin_family),
           (unsigned)len, a.sin_port ? "nonzero" : "zero",
           a.sin_addr.s_addr == htonl(INADDR_ANY) ? "any" : "specific");
    memset(&a, 0, sizeof a);
    len = sizeof a;
    r = getpeername(fd, (struct sockaddr *)&a, &len);
    if (r < 0) { printf("%s getpeername: %s\n", when, errno_name(errno)); return; }
    struct in_addr want;
    int same_addr = host && inet_pton(AF_INET, host, &want) == 1 && want.s_addr == a.sin_addr.s_addr;
    printf("%s getpeername: OK family %s len %u port %s addr %s\n", when, family(a.sin_family),
           (unsigned)len, port ? (ntohs(a.sin_port) == port ? "= server port" : "wrong")
                               : (a.sin_port ? "nonzero" : "zero"),
           host ? (same_addr ? "= server address" : "wrong") : "-");
}

static void client(const struct opts *o) {
    int s = tcp_socket();
    printf("SO_TYPE stream: %s\n", GETI(s, SOL_SOCKET, SO_TYPE) == SOCK_STREAM ? "yes" : "no");
    printf("SO_PROTOCOL tcp: %s\n", GETI(s, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP ? "yes" : "no");
    printf("SO_DOMAIN inet: %s\n", GETI(s, SOL_SOCKET, SO_DOMAIN) == AF_INET ? "yes" : "no");
    printf("SO_ACCEPTCONN: %d\n", GETI(s, SOL_SOCKET, SO_ACCEPTCONN));
    printf("SO_ERROR: %d\n", GETI(s, SOL_SOCKET, SO_ERROR));
    printf("defaults: TCP_NODELAY %d SO_KEEPALIVE %d SO_REUSEADDR %d\n",
           GETI(s, IPPROTO_TCP, TCP_NODELAY) != 0, GETI(s, SOL_SOCKET, SO_KEEPALIVE) != 0,
           GETI(s, SOL_SOCKET, SO_REUSEADDR) != 0);
    printf("default SO_RCVBUF > 0: %s, SO_SNDBUF > 0: %s\n",
           GETI(s, SOL_SOCKET, SO_RCVBUF) > 0 ? "yes" : "no",
           GETI(s, SOL_SOCKET, SO_SNDBUF) > 0 ? "yes" : "no");
    printf("default IP_TTL: %d\n", GETI(s, IPPROTO_IP, IP_TTL));

    SETI(s, SOL_SOCKET, SO_RCVBUF, 65536);
    printf("SO_RCVBUF >= requested: %s\n", GETI(s, SOL_SOCKET, SO_RCVBUF) >= 65536 ? "yes" : "no");
    SETI(s, SOL_SOCKET, SO_SNDBUF, 65536);
    printf("SO_SNDBUF >= requested: %s\n", GETI(s, SOL_SOCKET, SO_SNDBUF) >= 65536 ? "yes" : "no");
    SETI(s, IPPROTO_TCP, TCP_NODELAY, 1);
    printf("TCP_NODELAY on: %d\n", GETI(s, IPPROTO_TCP, TCP_NODELAY) != 0);
    SETI(s, IPPROTO_TCP, TCP_NODELAY, 0);
    printf("TCP_NODELAY off: %d\n", GETI(s, IPPROTO_TCP, TCP_NODELAY) != 0);
    SETI(s, SOL_SOCKET, SO_KEEPALIVE, 1);
    printf("SO_KEEPALIVE: %d\n", GETI(s, SOL_SOCKET, SO_KEEPALIVE) != 0);
    SETI(s, IPPROTO_TCP, TCP_KEEPIDLE, 30);
    SETI(s, IPPROTO_TCP, TCP_KEEPINTVL, 5);
    SETI(s, IPPROTO_TCP, TCP_KEEPCNT, 3);
    printf("keepalive idle/intvl/cnt: %d/%d/%d\n", GETI(s, IPPROTO_TCP, TCP_KEEPIDLE),
           GETI(s, IPPROTO_TCP, TCP_KEEPINTVL), GETI(s, IPPROTO_TCP, TCP_KEEPCNT));
    SETI(s, SOL_SOCKET, SO_REUSEADDR, 1);
    printf("SO_REUSEADDR: %d\n", GETI(s, SOL_SOCKET, SO_REUSEADDR) != 0);
    SETI(s, IPPROTO_IP, IP_TTL, 33);
    printf("IP_TTL: %d\n", GETI(s, IPPROTO_IP, IP_TTL));

    struct linger l = { 0, 0 };
    socklen_t len = sizeof l;
    getsockopt(s, SOL_SOCKET, SO_LINGER, &l, &len);
    printf("default SO_LINGER: onoff %d linger %d\n", l.l_onoff != 0, l.l_linger);
    l.l_onoff = 1; l.l_linger = 5;
    printf("set SO_LINGER {1,5}: %s\n", res(setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof l)));
    memset(&l, 0, sizeof l);
    len = sizeof l;
    getsockopt(s, SOL_SOCKET, SO_LINGER, &l, &len);
    printf("SO_LINGER: onoff %d linger %d\n", l.l_onoff != 0, l.l_linger);

    struct timeval tv = { 1, 500000 };
    printf("set SO_RCVTIMEO 1.5 s: %s\n", res(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv)));
    memset(&tv, 0, sizeof tv);
    len = sizeof tv;
    getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, &len);
    printf("SO_RCVTIMEO: %ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);
    tv.tv_sec = 0; tv.tv_usec = 0;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

    /* Options a program may set and read back though they change nothing observable here:
     * each reads back as Linux stores it (booleans as 0/1, TCP_DEFER_ACCEPT rounded to the
     * seconds its SYN-ACK retransmissions cover). */
    printf("defaults: TCP_CORK %d TCP_USER_TIMEOUT %d TCP_DEFER_ACCEPT %d SO_RCVLOWAT %d SO_OOBINLINE %d "
           "IP_MTU_DISCOVER %d\n", GETI(s, IPPROTO_TCP, TCP_CORK), GETI(s, IPPROTO_TCP, TCP_USER_TIMEOUT),
           GETI(s, IPPROTO_TCP, TCP_DEFER_ACCEPT), GETI(s, SOL_SOCKET, SO_RCVLOWAT),
           GETI(s, SOL_SOCKET, SO_OOBINLINE), GETI(s, IPPROTO_IP, IP_MTU_DISCOVER));
    SETI(s, IPPROTO_TCP, TCP_CORK, 5);
    SETI(s, IPPROTO_TCP, TCP_USER_TIMEOUT, 4000);
    SETI(s, IPPROTO_TCP, TCP_USER_TIMEOUT, -1);
    SETI(s, IPPROTO_TCP, TCP_DEFER_ACCEPT, 5);
    SETI(s, SOL_SOCKET, SO_RCVLOWAT, 0);
    SETI(s, SOL_SOCKET, SO_OOBINLINE, 3);
    SETI(s, IPPROTO_IP, IP_MTU_DISCOVER, 9);
    SETI(s, IPPROTO_IP, IP_MULTICAST_TTL, 2);
    printf("read back: TCP_CORK %d TCP_USER_TIMEOUT %d TCP_DEFER_ACCEPT %d SO_RCVLOWAT %d SO_OOBINLINE %d\n",
           GETI(s, IPPROTO_TCP, TCP_CORK), GETI(s, IPPROTO_TCP, TCP_USER_TIMEOUT),
           GETI(s, IPPROTO_TCP, TCP_DEFER_ACCEPT), GETI(s, SOL_SOCKET, SO_RCVLOWAT),
           GETI(s, SOL_SOCKET, SO_OOBINLINE));
    SETI(s, IPPROTO_TCP, TCP_CORK, 0);
    printf("defaults: TCP_SYNCNT %d TCP_LINGER2 %d SO_SNDLOWAT %d\n", GETI(s, IPPROTO_TCP, TCP_SYNCNT),
           GETI(s, IPPROTO_TCP, TCP_LINGER2), GETI(s, SOL_SOCKET, SO_SNDLOWAT));
    SETI(s, IPPROTO_TCP, TCP_SYNCNT, 0);
    SETI(s, IPPROTO_TCP, TCP_SYNCNT, 3);
    SETI(s, IPPROTO_TCP, TCP_LINGER2, 500);
    SETI(s, SOL_SOCKET, SO_SNDLOWAT, 4);
    printf("read back: TCP_SYNCNT %d TCP_LINGER2 %d SO_SNDLOWAT %d\n", GETI(s, IPPROTO_TCP, TCP_SYNCNT),
           GETI(s, IPPROTO_TCP, TCP_LINGER2), GETI(s, SOL_SOCKET, SO_SNDLOWAT));

    /* Options Linux answers on any socket (a fresh one: nothing received yet, so no CPU or
     * NAPI queue): they were ENOPROTOOPT under tapstack. */
    int f = tcp_socket();
    printf("defaults: SO_BUSY_POLL %d SO_PREFER_BUSY_POLL %d SO_INCOMING_CPU %d SO_INCOMING_NAPI_ID %d "
           "SO_RXQ_OVFL %d SO_WIFI_STATUS %d SO_NOFCS %d SO_MAX_PACING_RATE %d\n", GETI(f, SOL_SOCKET, SO_BUSY_POLL),
           GETI(f, SOL_SOCKET, SO_PREFER_BUSY_POLL), GETI(f, SOL_SOCKET, SO_INCOMING_CPU),
           GETI(f, SOL_SOCKET, SO_INCOMING_NAPI_ID), GETI(f, SOL_SOCKET, SO_RXQ_OVFL), GETI(f, SOL_SOCKET, SO_WIFI_STATUS),
           GETI(f, SOL_SOCKET, SO_NOFCS), GETI(f, SOL_SOCKET, SO_MAX_PACING_RATE));
    SETI(f, SOL_SOCKET, SO_BUSY_POLL, 50);
    SETI(f, SOL_SOCKET, SO_BUSY_POLL, -1);
    SETI(f, SOL_SOCKET, SO_INCOMING_CPU, 1);
    SETI(f, SOL_SOCKET, SO_INCOMING_NAPI_ID, 1);
    SETI(f, SOL_SOCKET, SO_RXQ_OVFL, 7);
    SETI(f, SOL_SOCKET, SO_MAX_PACING_RATE, 1000000);
    printf("read back: SO_BUSY_POLL %d SO_INCOMING_CPU %d SO_RXQ_OVFL %d SO_MAX_PACING_RATE %d\n",
           GETI(f, SOL_SOCKET, SO_BUSY_POLL), GETI(f, SOL_SOCKET, SO_INCOMING_CPU), GETI(f, SOL_SOCKET, SO_RXQ_OVFL),
           GETI(f, SOL_SOCKET, SO_MAX_PACING_RATE));
    struct ucred uc;
    memset(&uc, 0x55, sizeof uc);
    len = sizeof uc;
    int pc = getsockopt(f, SOL_SOCKET, SO_PEERCRED, &uc, &len);
    printf("SO_PEERCRED: %s, length %u, pid %d uid %d gid %d\n", res(pc), (unsigned)len, (int)uc.pid, (int)uc.uid, (int)uc.gid);
    close(f);

    char one = 1;
    printf("set SO_KEEPALIVE with optlen 1: %s\n", res(setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, 1)));
    printf("set TCP_NODELAY with optlen 1: %s\n", res(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, 1)));
    int v = 0;
    len = sizeof v;
    printf("get unknown SOL_SOCKET option: %s\n", res(getsockopt(s, SOL_SOCKET, 9999, &v, &len)));
    len = sizeof v;
    printf("get unknown IPPROTO_TCP option: %s\n", res(getsockopt(s, IPPROTO_TCP, 9999, &v, &len)));

    /* Not bound to a device: an empty name (sshd asks it of every connection). */
    char dev[IFNAMSIZ + 1] = "junk";
    len = sizeof dev - 1;
    int rc = getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, dev, &len);
    printf("get SO_BINDTODEVICE: %s, length %u\n", res(rc), rc == 0 ? (unsigned)len : 0u);

    /* TCP_CONGESTION by name (not the default: the host's sysctl), and options Linux keeps. */
    char ca[16];
    socklen_t cal = sizeof ca;
    printf("set TCP_CONGESTION reno: %s\n", res(setsockopt(s, IPPROTO_TCP, TCP_CONGESTION, "reno", 4)));
    memset(ca, 0, sizeof ca);
    printf("get TCP_CONGESTION: %s %s\n", res(getsockopt(s, IPPROTO_TCP, TCP_CONGESTION, ca, &cal)), ca);
    printf("set TCP_CONGESTION nosuch: %s\n", res(setsockopt(s, IPPROTO_TCP, TCP_CONGESTION, "nosuch", 6)));
    printf("set TCP_CONGESTION cubic: %s\n", res(setsockopt(s, IPPROTO_TCP, TCP_CONGESTION, "cubic", 5)));
    cal = sizeof ca;
    memset(ca, 0, sizeof ca);
    printf("get TCP_CONGESTION: %s %s\n", res(getsockopt(s, IPPROTO_TCP, TCP_CONGESTION, ca, &cal)), ca);
    SETI(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
    printf("IP_BIND_ADDRESS_NO_PORT: %d\n", GETI(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT));
    SETI(s, IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, 1);
    SETI(s, IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, 2);
    printf("TCP_THIN_LINEAR_TIMEOUTS: %d\n", GETI(s, IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS));
    SETI(s, IPPROTO_UDP, 104 /* UDP_GRO */, 1);
    int us = socket(AF_INET, SOCK_DGRAM, 0);
    printf("udp set TCP_CONGESTION: %s\n", res(setsockopt(us, IPPROTO_TCP, TCP_CONGESTION, "reno", 4)));
    SETI(us, IPPROTO_UDP, 104 /* UDP_GRO */, 1);
    printf("udp UDP_GRO: %d\n", GETI(us, IPPROTO_UDP, 104));
    SETI(us, SOL_SOCKET, SO_TIMESTAMPNS, 1);
    printf("udp SO_TIMESTAMPNS: %d\n", GETI(us, SOL_SOCKET, SO_TIMESTAMPNS));
    close(us);

    names(s, "before connect:", NULL, 0);
    struct sockaddr_in sa;
    make_addr(&sa, o->host, o->port);
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("connect");
    names(s, "connected:", o->host, o->port);
    int mss = GETI(s, IPPROTO_TCP, TCP_MAXSEG);
    printf("TCP_MAXSEG in (0,1460]: %s\n", mss > 0 && mss <= 1460 ? "yes" : "no");
    printf("IP_MTU connected: %d\n", GETI(s, IPPROTO_IP, IP_MTU));
    int fresh = tcp_socket();
    printf("IP_MTU unconnected: %d\n", GETI(fresh, IPPROTO_IP, IP_MTU));
    SETI(fresh, IPPROTO_IP, IP_MTU, 1400);
    close(fresh);
    printf("after connect: SO_KEEPALIVE %d, SO_ERROR %d\n", GETI(s, SOL_SOCKET, SO_KEEPALIVE) != 0,
           GETI(s, SOL_SOCKET, SO_ERROR));

    char b;
    if (write(s, "x", 1) != 1 || read_full(s, &b, 1) != 1 || b != 'y') die("exchange failed", errno);
    printf("exchange: ok\n");

    /* A local listener on an ephemeral port. */
    int ls = tcp_socket();
    struct sockaddr_in any;
    make_addr(&any, NULL, 0);
    if (bind(ls, (struct sockaddr *)&any, sizeof any) < 0) DIE("bind");
    names(ls, "bound to port 0:", NULL, 0);
    if (listen(ls, 4) < 0) DIE("listen");
    printf("listener SO_ACCEPTCONN: %d\n", GETI(ls, SOL_SOCKET, SO_ACCEPTCONN));
    close(ls);

    if (shutdown(s, SHUT_WR) < 0) DIE("shutdown");
    long r = read_full(s, &b, 1);
    printf("end: %s\n", r == 0 ? "EOF" : "unexpected");
    close(s);
}

static void server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 4);
    int on = 1;
    if (setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0) DIE("TCP_NODELAY");
    if (setsockopt(lfd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) < 0) DIE("SO_KEEPALIVE");
    if (setsockopt(lfd, IPPROTO_TCP, TCP_CONGESTION, "reno", 4) < 0) DIE("TCP_CONGESTION");
    printf("server: listener SO_ACCEPTCONN %d\n", GETI(lfd, SOL_SOCKET, SO_ACCEPTCONN));
    signal_ready(o);
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    memset(&peer, 0, sizeof peer);
    int fd = accept(lfd, (struct sockaddr *)&peer, &plen);
    if (fd < 0) DIE("accept");
    printf("server: accept address: family %s len %u port %s\n", family(peer.sin_family),
           (unsigned)plen, peer.sin_port ? "nonzero" : "zero");
    printf("server: accepted inherits TCP_NODELAY %d SO_KEEPALIVE %d, SO_ACCEPTCONN %d\n",
           GETI(fd, IPPROTO_TCP, TCP_NODELAY) != 0, GETI(fd, SOL_SOCKET, SO_KEEPALIVE) != 0,
           GETI(fd, SOL_SOCKET, SO_ACCEPTCONN));
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0) DIE("getsockname");
    printf("server: accepted getsockname port %s addr %s\n",
           ntohs(a.sin_port) == o->port ? "= listen port" : "wrong",
           a.sin_addr.s_addr == htonl(INADDR_ANY) ? "any" : "specific");
    char ca[16] = {0};
    socklen_t cal = sizeof ca;
    getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, ca, &cal);
    printf("server: accepted inherits TCP_CONGESTION %s\n", ca);
    names(fd, "server: accepted", NULL, 0);
    char b;
    if (read_full(fd, &b, 1) != 1 || b != 'x' || write(fd, "y", 1) != 1) die("exchange failed", errno);
    long r = read_full(fd, &b, 1);
    printf("server: end %s\n", r == 0 ? "EOF" : "unexpected");
    close(fd);
    close(lfd);
}

int main(int argc, char **argv) {
    struct opts o;
    opts_parse(&o, argc, argv, "usage: sockopts server -p PORT | client -c HOST -p PORT");
    if (o.role && o.role[0] == 's') { server(&o); return 0; }
    if (o.role && o.role[0] == 'c' && o.host) { client(&o); return 0; }
    die("role must be 'server' or 'client -c HOST'", 0);
    return 2;
}
