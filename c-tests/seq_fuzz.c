/* Random sequences of socket calls, the same on every stack: a differential test. From a seed,
 * draws N calls (socket, bind, listen, connect, accept, send, recv, shutdown, close, poll,
 * SO_ERROR, SO_LINGER, SO_REUSEADDR, SO_REUSEPORT, getsockname/getpeername, FIONREAD, UDP
 * connect/disconnect) on up to six descriptors and prints each call with its result: the count
 * or the errno, with no address, ephemeral port or timing. Every socket lives on the client
 * host: TCP and UDP over its own loopback (127.0.0.1, three fixed ports), and connections to
 * the server host's listener (TCP, port -p) and UDP echo (port -p). A call that could wait is bounded the same way
 * on both stacks: SO_RCVTIMEO/SO_SNDTIMEO of 200 ms on blocking sockets, recv and send with
 * MSG_DONTWAIT, and 30 ms for the traffic to settle after each call.
 *
 *   seq_fuzz server -p PORT            TCP listener (accepts, echoes) + UDP echo on PORT
 *   seq_fuzz client -c HOST -p PORT -s SEED -n CALLS [-k SEEDS]
 */
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 6
#define SETTLE_US 30000

struct slot {
    int fd;
    int udp;
    int nb;     /* O_NONBLOCK */
    int conn;   /* TCP: connected once (connect 0, or accepted); UDP: connected */
    int lo;     /* UDP: connected to a loopback port */
    int lobound; /* UDP: bound to a loopback address */
    int failed; /* TCP: a connect failed or did not finish */
    int listening;
    int shut; /* UDP: the shutdown() directions asked (1 RD, 2 WR) */
};

static struct slot S[SLOTS];
static int LPORT[3];        /* loopback ports */
static int RPORT;           /* the server host's port */
static const char *RHOST;
static uint64_t rng;

static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static int pick(int n) { return (int)(next() % (uint64_t)n); }

static void settle(void) { usleep(SETTLE_US); }

static int res(int r) { return r < 0 ? -errno : r; }
static void show(int step, const char *what, int r) {
    if (r < 0) printf("%3d %s -> %s\n", step, what, errno_name(-r));
    else printf("%3d %s -> %d\n", step, what, r);
}

/* A destination: 0-2 loopback ports, 3 the server host. */
static void dest(struct sockaddr_in *sa, int which) {
    if (which < 3) make_addr(sa, "127.0.0.1", LPORT[which]);
    else make_addr(sa, RHOST, RPORT);
}
static const char *dname(int which) {
    static const char *n[] = {"lo:A", "lo:B", "lo:C", "remote"};
    return n[which];
}

/* Names a local or peer port without printing ephemeral numbers. */
static const char *pname(int port) {
    if (port == 0) return "0";
    for (int i = 0; i < 3; i++)
        if (port == LPORT[i]) return i == 0 ? "A" : i == 1 ? "B" : "C";
    if (port == RPORT) return "R";
    return "eph";
}

static void set_timeouts(int fd) {
    struct timeval tv = {0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int free_slot(void) {
    for (int i = 0; i < SLOTS; i++)
        if (S[i].fd < 0) return i;
    return -1;
}

static void op(int step) {
    char what[160];
    int i = pick(SLOTS);
    struct slot *s = &S[i];
    int r, kind = pick(17);
    if (s->fd < 0 && kind != 16) kind = 0; /* an empty slot gets a socket */
    else if (s->fd >= 0 && kind == 0) kind = 11; /* a full one is closed first */
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    char buf[4096];
    switch (kind) {
    case 0: { /* socket */
        s->udp = pick(4) == 0;
        s->nb = pick(3) == 0;
        r = res(socket(AF_INET, (s->udp ? SOCK_DGRAM : SOCK_STREAM) | (s->nb ? SOCK_NONBLOCK : 0), 0));
        snprintf(what, sizeof what, "s%d socket %s%s", i, s->udp ? "udp" : "tcp", s->nb ? " nb" : "");
        if (r >= 0) {
            s->fd = r;
            s->conn = s->lo = s->lobound = s->failed = s->listening = s->shut = 0;
            set_timeouts(r);
            r = 0;
        }
        break;
    }
    case 1: { /* bind */
        int a = pick(3), p = pick(4);
        make_addr(&sa, a == 0 ? "127.0.0.1" : a == 1 ? "0.0.0.0" : "127.0.0.2", p < 3 ? LPORT[p] : 0);
        r = res(bind(s->fd, (struct sockaddr *)&sa, sizeof sa));
        if (r == 0 && s->udp && a != 1) s->lobound = 1;
        snprintf(what, sizeof what, "s%d bind %s:%s", i, a == 0 ? "127.0.0.1" : a == 1 ? "any" : "127.0.0.2",
                 p < 3 ? pname(LPORT[p]) : "0");
        break;
    }
    case 2: { /* listen */
        int b = pick(3) == 0 ? 0 : 8;
        r = res(listen(s->fd, b));
        if (r == 0) s->listening = 1;
        snprintf(what, sizeof what, "s%d listen %d", i, b);
        break;
    }
    case 3:
    case 4: { /* connect, or AF_UNSPEC (disconnect) */
        int d = pick(4);
        if (pick(s->udp ? 4 : 10) == 0) {
            struct sockaddr un = {.sa_family = AF_UNSPEC};
            r = res(connect(s->fd, &un, sizeof un));
            if (s->udp && r == 0) s->conn = s->lo = 0;
            if (!s->udp && r == 0) s->listening = s->conn = 0; /* a listener stops, a connection resets */
            snprintf(what, sizeof what, "s%d connect unspec", i);
            break;
        }
        dest(&sa, d);
        r = res(connect(s->fd, (struct sockaddr *)&sa, sizeof sa));
        if (r == 0) {
            s->conn = 1;
            s->lo = s->udp && d < 3;
        } else if (!s->udp && r != -EISCONN && r != -EALREADY)
            s->failed = 1;
        if (r == -EINPROGRESS) {
            struct pollfd p = {s->fd, POLLOUT, 0};
            int n = poll(&p, 1, 1500);
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            char pf[64];
            snprintf(what, sizeof what, "s%d connect %s EINPROGRESS, poll %d %s, SO_ERROR %s", i, dname(d), n,
                     poll_flags(p.revents, pf, sizeof pf), err ? errno_name(err) : "0");
            if (n == 1 && !err) {
                s->conn = 1;
                s->failed = 0;
            } else
                s->failed = 1;
            r = 0;
        } else
            snprintf(what, sizeof what, "s%d connect %s", i, dname(d));
        break;
    }
    case 5: { /* accept */
        int j = free_slot();
        r = res(accept4(s->fd, NULL, NULL, 0));
        snprintf(what, sizeof what, "s%d accept", i);
        if (r >= 0) {
            if (j < 0) {
                close(r);
            } else {
                S[j] = (struct slot){.fd = r, .conn = 1};
                set_timeouts(r);
                snprintf(what, sizeof what, "s%d accept into s%d", i, j);
            }
            r = 0;
        }
        break;
    }
    case 6:
    case 7: { /* send */
        int n = pick(3) == 0 ? 1 : pick(2) ? 100 : 1000, d = pick(5);
        memset(buf, 'a' + step % 26, (size_t)n);
        /* Known difference: a UDP socket whose connect chose a loopback source, or that is
         * bound to one, sends to a remote address (Linux: EINVAL). */
        if (s->udp && (s->lo || s->lobound) && d >= 3) d = pick(3);
        /* After SHUT_WR: EPIPE, where Linux binds first (shut_wake tests EPIPE); after SHUT_RD
         * an ICMP error a send causes is dropped, not reported by the next send. */
        if (s->udp && s->shut) {
            snprintf(what, sizeof what, "wait");
            r = 0;
            break;
        }
        if (s->udp && d < 4) {
            dest(&sa, d);
            r = res(sendto(s->fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof sa));
            snprintf(what, sizeof what, "s%d sendto %s %d", i, dname(d), n);
        } else {
            r = res(send(s->fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL));
            snprintf(what, sizeof what, "s%d send %d", i, n);
        }
        break;
    }
    case 8:
    case 9: { /* recv */
        int peek = pick(4) == 0;
        if (s->udp && (s->shut & 1)) { /* known: datagrams after SHUT_RD are dropped */
            snprintf(what, sizeof what, "wait");
            r = 0;
            break;
        }
        r = res(recvfrom(s->fd, buf, sizeof buf, MSG_DONTWAIT | (peek ? MSG_PEEK : 0), (struct sockaddr *)&sa, &sl));
        if (s->udp && r >= 0)
            snprintf(what, sizeof what, "s%d recv%s from %s", i, peek ? " peek" : "", pname(ntohs(sa.sin_port)));
        else
            snprintf(what, sizeof what, "s%d recv%s", i, peek ? " peek" : "");
        break;
    }
    case 10: { /* shutdown */
        int how = pick(3);
        /* Known difference: an unconnected TCP socket keeps no shutdown flags. */
        if (!s->udp && !s->conn && !s->listening) {
            snprintf(what, sizeof what, "wait");
            r = 0;
            break;
        }
        r = res(shutdown(s->fd, how));
        if (s->udp) s->shut |= how + 1;
        if (!s->udp && s->listening && how != 1 && r == 0) s->listening = 0; /* stopped: unconnected */
        snprintf(what, sizeof what, "s%d shutdown %s", i, how == 0 ? "RD" : how == 1 ? "WR" : "RDWR");
        break;
    }
    case 11: /* close */
        r = res(close(s->fd));
        s->fd = -1;
        snprintf(what, sizeof what, "s%d close", i);
        break;
    case 12: { /* poll */
        struct pollfd p = {s->fd, POLLIN | POLLOUT | POLLRDHUP, 0};
        /* Known difference: readiness is the socketpair's, which cannot show a TCP socket
         * that is not connected (POLLOUT|POLLHUP), a listener (no POLLOUT), nor the POLLHUP of
         * a UDP socket shut both ways; after UDP's SHUT_RD an ICMP error gives no POLLERR
         * (what arrives then is dropped, as datagrams are). */
        if ((!s->udp && (!s->conn || s->failed || s->listening)) || (s->udp && (s->shut & 1))) {
            snprintf(what, sizeof what, "wait");
            r = 0;
            break;
        }
        r = res(poll(&p, 1, 0));
        char pf[64];
        snprintf(what, sizeof what, "s%d poll %s", i, poll_flags(p.revents, pf, sizeof pf));
        break;
    }
    case 13: { /* SO_ERROR, FIONREAD */
        int v = 0, q = -1;
        if (s->udp && (s->shut & 1)) { /* known, as recv */
            snprintf(what, sizeof what, "wait");
            r = 0;
            break;
        }
        socklen_t vl = sizeof v;
        r = res(getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &v, &vl));
        int rq = res(ioctl(s->fd, FIONREAD, &q));
        snprintf(what, sizeof what, "s%d SO_ERROR %s FIONREAD %s %d", i, v ? errno_name(v) : "0",
                 rq < 0 ? errno_name(-rq) : "ok", rq < 0 ? 0 : q);
        break;
    }
    case 14: { /* options */
        int o = pick(4);
        if (o < 2) {
            struct linger l = {1, 0};
            r = res(setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l));
            snprintf(what, sizeof what, "s%d SO_LINGER 1,0", i);
        } else {
            int one = pick(2), name = o == 2 ? SO_REUSEADDR : SO_REUSEPORT;
            r = res(setsockopt(s->fd, SOL_SOCKET, name, &one, sizeof one));
            snprintf(what, sizeof what, "s%d %s %d", i, o == 2 ? "SO_REUSEADDR" : "SO_REUSEPORT", one);
        }
        break;
    }
    case 15: { /* names */
        int rn = res(getsockname(s->fd, (struct sockaddr *)&sa, &sl));
        char a[INET_ADDRSTRLEN] = "-", pn[8] = "-";
        if (rn == 0) {
            inet_ntop(AF_INET, &sa.sin_addr, a, sizeof a);
            if (strncmp(a, "127.", 4) != 0 && strcmp(a, "0.0.0.0") != 0) snprintf(a, sizeof a, "own"); /* per topology */
            snprintf(pn, sizeof pn, "%s", pname(ntohs(sa.sin_port)));
        }
        struct sockaddr_in pa;
        socklen_t pl = sizeof pa;
        r = res(getpeername(s->fd, (struct sockaddr *)&pa, &pl));
        snprintf(what, sizeof what, "s%d getsockname %s:%s getpeername %s%s", i, a, pn,
                 r < 0 ? "" : pa.sin_addr.s_addr == htonl(INADDR_LOOPBACK) ? "lo:" : "remote:",
                 r < 0 ? "" : pname(ntohs(pa.sin_port)));
        break;
    }
    default: /* nothing: time passes */
        snprintf(what, sizeof what, "wait");
        usleep(100000);
        r = 0;
        break;
    }
    settle();
    show(step, what, r);
}

static int client(const struct opts *o) {
    RHOST = o->host;
    RPORT = o->port;
    long seeds = o->k > 0 ? o->k : 1;
    for (long k = 0; k < seeds; k++) {
        uint64_t seed = o->seed + (uint64_t)k;
        rng = seed * 0x9E3779B97F4A7C15ull + 1;
        /* Ports of this seed's loopback sockets: apart from every other seed's (TIME_WAIT). */
        for (int j = 0; j < 3; j++) LPORT[j] = 20000 + (int)(seed % 3000) * 3 + j;
        for (int j = 0; j < SLOTS; j++) S[j].fd = -1;
        printf("seed %llu\n", (unsigned long long)seed);
        for (int step = 0; step < (o->n > 0 ? o->n : 40); step++) op(step);
        for (int j = 0; j < SLOTS; j++)
            if (S[j].fd >= 0) {
                struct linger l = {1, 0}; /* no FIN_WAIT left behind for the next seed */
                setsockopt(S[j].fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
                close(S[j].fd);
            }
        fflush(stdout);
    }
    int q = tcp_connect(RHOST, RPORT); /* the server's end */
    if (write(q, "QUIT", 4) != 4) DIE("quit");
    char b;
    if (read(q, &b, 1) < 0) DIE("quit");
    close(q);
    return 0;
}

/* The server host: a TCP listener whose connections are echoed until closed, and a UDP echo. */
static void *tcp_conn(void *arg) {
    int c = (int)(intptr_t)arg;
    char b[4096];
    ssize_t n = read(c, b, sizeof b);
    if (n == 4 && memcmp(b, "QUIT", 4) == 0) exit(0);
    for (; n > 0; n = read(c, b, sizeof b))
        if (write(c, b, (size_t)n) < 0) break;
    close(c);
    return NULL;
}
static void *udp_echo(void *arg) {
    int u = (int)(intptr_t)arg;
    char b[65536];
    for (;;) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(u, b, sizeof b, 0, (struct sockaddr *)&from, &fl);
        if (n >= 0) sendto(u, b, (size_t)n, 0, (struct sockaddr *)&from, fl);
    }
    return NULL;
}
static int server(const struct opts *o) {
    int l = tcp_listener(o->port, 64);
    int u = udp_bound(NULL, o->port, 1);
    pthread_t t;
    pthread_create(&t, NULL, udp_echo, (void *)(intptr_t)u);
    signal_ready(o);
    for (;;) {
        int c = accept(l, NULL, NULL);
        if (c < 0) continue;
        pthread_create(&t, NULL, tcp_conn, (void *)(intptr_t)c);
        pthread_detach(t);
    }
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "seq_fuzz server -p PORT | client -c HOST -p PORT -s SEED -n CALLS [-k SEEDS]",
                    server, client);
}
