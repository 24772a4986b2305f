/* tcp_opts server -p PORT | tcp_opts client -c HOST -p PORT
 * TCP socket behaviours a sweep of real programs found, by result:
 *  - TCP_WINDOW_CLAMP: 0 on a fresh socket, Linux's minimum, set 0 allowed only before
 *    connecting, inherited from the listener by an accepted socket, and honoured: the window
 *    the client sees (tcpi_snd_wnd) after the handshake is within the server's clamp;
 *  - TCP_FASTOPEN (a listener's queue length, capped at somaxconn), TCP_FASTOPEN_CONNECT and
 *    MSG_FASTOPEN with Linux's default net.ipv4.tcp_fastopen = 1 (client only, no cookie from
 *    a server without Fast Open): connect or sendto returns as after a plain handshake and the
 *    data goes through;
 *  - TCP_INFO: the size answered and fields that must be sane on any stack;
 *  - shutdown(SHUT_RD): queued data stays readable, then 0, poll flags, writing still works,
 *    the peer sees nothing, and data that arrives later makes close() reset the connection;
 *  - UDP send sizes: EMSGSIZE above 65535 before the destination's checks, as udp_sendmsg. */
#include "common.h"

#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *res(long r) { return r < 0 ? errno_name(errno) : "OK"; }

static uint8_t pat(long i) { return (uint8_t)(i * 13 + 5); }

static int geti(int fd, int name) {
    int v = -12345;
    socklen_t l = sizeof v;
    if (getsockopt(fd, IPPROTO_TCP, name, &v, &l) < 0) return -errno;
    return v;
}

static const char *seti(int fd, int name, int v) {
    return res(setsockopt(fd, IPPROTO_TCP, name, &v, sizeof v));
}

/* Prints "WHAT: result, reads value" with the set done before the read. */
static void set_get(const char *what, int fd, int name, int v) {
    const char *r = seti(fd, name, v);
    printf("%s: %s, reads %d\n", what, r, geti(fd, name));
}

/* tcpi_snd_wnd (Linux 6.2+, offset 228 of the uapi struct tcp_info); -1 if not answered. */
static long snd_wnd(int fd) {
    uint8_t b[512];
    socklen_t l = sizeof b;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, b, &l) < 0 || l < 232) return -1;
    uint32_t v;
    memcpy(&v, b + 228, 4);
    return v;
}

static void info_report(const char *who, int fd) {
    struct tcp_info ti;
    memset(&ti, 0, sizeof ti);
    socklen_t l = sizeof ti;
    int r = getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l);
    printf("%s: TCP_INFO %s, length %s\n", who, res(r), l == sizeof ti ? "sizeof(struct tcp_info)" : "other");
    printf("%s: tcpi_state ESTABLISHED %d, rto >= 200 ms %d, snd_mss 536..65535 %d, rcv_mss 536..65535 %d,"
           " rtt > 0 %d, snd_cwnd >= 2 %d\n",
           who, ti.tcpi_state == TCP_ESTABLISHED, ti.tcpi_rto >= 200000, ti.tcpi_snd_mss >= 536 && ti.tcpi_snd_mss <= 65535,
           ti.tcpi_rcv_mss >= 536 && ti.tcpi_rcv_mss <= 65535, ti.tcpi_rtt > 0, ti.tcpi_snd_cwnd >= 2);
}

/* Answers one request: reads `n` bytes, replies with them upper-cased. */
static void echo_upper(int lfd, long n) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) DIE("accept");
    char b[64];
    long r = read_full(fd, b, (size_t)n);
    for (long i = 0; i < r; i++) if (b[i] >= 'a' && b[i] <= 'z') b[i] -= 32;
    if (r > 0 && write_all(fd, b, (size_t)r) < 0) DIE("write reply");
    read_full(fd, b, 1); /* the client's close */
    close(fd);
}

#define CLAMP 8000

static int server(const struct opts *o) {
    int lfd = tcp_socket();
    printf("fresh socket: TCP_WINDOW_CLAMP %d, TCP_FASTOPEN %d, TCP_FASTOPEN_CONNECT %d\n",
           geti(lfd, TCP_WINDOW_CLAMP), geti(lfd, TCP_FASTOPEN), geti(lfd, TCP_FASTOPEN_CONNECT));
    const char *r = seti(lfd, TCP_WINDOW_CLAMP, 100);
    int v = geti(lfd, TCP_WINDOW_CLAMP);
    printf("TCP_WINDOW_CLAMP 100: %s, raised to Linux's minimum (1000..2400): %d\n", r, v >= 1000 && v <= 2400);
    set_get("TCP_WINDOW_CLAMP 0 before connecting", lfd, TCP_WINDOW_CLAMP, 0);
    set_get("TCP_WINDOW_CLAMP 8000", lfd, TCP_WINDOW_CLAMP, CLAMP);
    printf("TCP_FASTOPEN -1: %s\n", seti(lfd, TCP_FASTOPEN, -1));
    short two = 5;
    printf("TCP_FASTOPEN with a 2-byte value: %s\n",
           res(setsockopt(lfd, IPPROTO_TCP, TCP_FASTOPEN, &two, sizeof two)));
    printf("TCP_FASTOPEN 5: %s\n", seti(lfd, TCP_FASTOPEN, 5));
    struct sockaddr_in sa;
    make_addr(&sa, NULL, o->port);
    int one = 1;
    if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) DIE("SO_REUSEADDR");
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("bind");
    if (listen(lfd, 8) < 0) DIE("listen");
    printf("listener: TCP_FASTOPEN %d\n", geti(lfd, TCP_FASTOPEN));
    set_get("listener: TCP_FASTOPEN 100000", lfd, TCP_FASTOPEN, 100000);
    printf("listener: TCP_FASTOPEN_CONNECT 1: %s\n", seti(lfd, TCP_FASTOPEN_CONNECT, 1));
    printf("listener: TCP_WINDOW_CLAMP 0: %s\n", seti(lfd, TCP_WINDOW_CLAMP, 0));
    set_get("listener: TCP_FASTOPEN_NO_COOKIE 1", lfd, TCP_FASTOPEN_NO_COOKIE, 1);
    signal_ready(o);

    /* Connection 1: the clamp the accepted socket inherited; the client's 100 kB. */
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) DIE("accept 1");
    printf("accepted: TCP_WINDOW_CLAMP %d\n", geti(fd, TCP_WINDOW_CLAMP));
    printf("accepted: TCP_FASTOPEN %d\n", geti(fd, TCP_FASTOPEN));
    printf("accepted: TCP_FASTOPEN 1: %s\n", seti(fd, TCP_FASTOPEN, 1));
    printf("accepted: TCP_WINDOW_CLAMP 0: %s\n", seti(fd, TCP_WINDOW_CLAMP, 0));
    /* The client sends only now: Linux's receive autotuning may raise the clamp once data
     * flows. */
    if (write_all(fd, "g", 1) < 0) DIE("write g");
    static uint8_t buf[200000];
    long n = read_full(fd, buf, 100000);
    printf("server: read %ld bytes through the clamped window\n", n);
    info_report("server", fd);
    if (write_all(fd, "d", 1) < 0) DIE("write d");
    read_full(fd, buf, 1);
    close(fd);

    /* Connection 2: the client shuts its reading down with 50 kB queued. */
    fd = accept(lfd, NULL, NULL);
    if (fd < 0) DIE("accept 2");
    for (long i = 0; i < 50000; i++) buf[i] = pat(i);
    if (write_all(fd, buf, 50000) < 0) DIE("write 50000");
    char c = 0;
    n = read_full(fd, &c, 1);
    printf("server: after the client's SHUT_RD it still writes: %s\n", n == 1 && c == 'k' ? "k" : "bad");
    printf("server: write 700 bytes after the client's SHUT_RD: %s\n", res(write_all(fd, buf, 700)));
    n = read(fd, &c, 1);
    printf("server: read after the client closed with those unread: %s\n", n == 0 ? "EOF" : res(n));
    close(fd);

    echo_upper(lfd, 5); /* connection 3: TCP_FASTOPEN_CONNECT */
    echo_upper(lfd, 8); /* connection 4: MSG_FASTOPEN, blocking */
    echo_upper(lfd, 4); /* connection 5: MSG_FASTOPEN, non-blocking */
    close(lfd);
    return 0;
}

static void read_reply(int fd, const char *what, long n) {
    char b[64] = { 0 };
    long r = read_full(fd, b, (size_t)n);
    printf("%s: reply %ld bytes '%s'\n", what, r, r > 0 ? b : "");
}

static int client(const struct opts *o) {
    struct sockaddr_in sa;
    make_addr(&sa, o->host, o->port);

    /* UDP send sizes: above 65535 EMSGSIZE comes first, then the destination port 0 (EINVAL),
     * then 65508..65535 (EMSGSIZE, too large for one datagram). */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    if (u < 0) DIE("socket udp");
    static char big[70000];
    struct sockaddr_in z = sa;
    z.sin_port = 0;
    printf("udp sendto port 0, 70000 bytes: %s\n", res(sendto(u, big, 70000, 0, (struct sockaddr *)&z, sizeof z)));
    printf("udp sendto port 0, 65508 bytes: %s\n", res(sendto(u, big, 65508, 0, (struct sockaddr *)&z, sizeof z)));
    printf("udp sendto port 0, 10 bytes: %s\n", res(sendto(u, big, 10, 0, (struct sockaddr *)&z, sizeof z)));
    printf("udp sendto 65508 bytes: %s\n", res(sendto(u, big, 65508, 0, (struct sockaddr *)&sa, sizeof sa)));
    printf("udp send 70000 bytes unconnected: %s\n", res(send(u, big, 70000, 0)));
    printf("udp send 10 bytes unconnected: %s\n", res(send(u, big, 10, 0)));
    close(u);

    /* 1: the server's clamp bounds the window we see. */
    int fd = tcp_connect(o->host, o->port);
    long w = snd_wnd(fd);
    printf("client: window after the handshake within the clamp: %d\n", w > 0 && w <= CLAMP);
    /* (Linux's receive autotuning may raise the clamp later: only the handshake is checked.) */
    static uint8_t buf[200000];
    memset(buf, 'x', sizeof buf);
    char c = 0;
    if (read_full(fd, &c, 1) != 1 || c != 'g') die("expected g", errno);
    if (write_all(fd, buf, 100000) < 0) DIE("write 100000");
    long n = read_full(fd, &c, 1);
    printf("client: 100 kB sent, reply %s\n", n == 1 ? "ok" : "bad");
    info_report("client", fd);
    close(fd);

    /* 2: shutdown(SHUT_RD) with 50 kB queued. */
    fd = tcp_connect(o->host, o->port);
    int avail = 0;
    for (int i = 0; i < 500 && avail < 50000; i++) {
        if (ioctl(fd, FIONREAD, &avail) < 0) DIE("FIONREAD");
        if (avail < 50000) sleep_ms(10);
    }
    printf("client: queued before SHUT_RD: %d\n", avail);
    printf("client: shutdown SHUT_RD: %s\n", res(shutdown(fd, SHUT_RD)));
    char fl[64];
    struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT | POLLRDHUP };
    poll(&p, 1, 0);
    printf("client: poll after SHUT_RD: %s\n", poll_flags(p.revents, fl, sizeof fl));
    long total = 0;
    int ok = 1;
    for (;;) {
        n = read(fd, buf, 7000);
        if (n <= 0) break;
        for (long i = 0; i < n; i++) if (buf[i] != pat(total + i)) ok = 0;
        total += n;
    }
    printf("client: read after SHUT_RD: %ld bytes, content %s, then %s\n", total, ok ? "ok" : "bad",
           n == 0 ? "EOF" : res(n));
    n = read(fd, buf, 10);
    printf("client: read again: %s\n", n == 0 ? "EOF" : res(n));
    p.revents = 0;
    poll(&p, 1, 0);
    printf("client: poll when drained: %s\n", poll_flags(p.revents, fl, sizeof fl));
    printf("client: write after SHUT_RD: %ld\n", (long)write(fd, "k", 1));
    sleep_ms(500); /* the server's 700 bytes arrive and stay unread */
    close(fd);

    /* 3: TCP_FASTOPEN_CONNECT: connect returns as after a plain handshake (no cookie yet). */
    fd = tcp_socket();
    printf("TCP_FASTOPEN_CONNECT 2: %s\n", seti(fd, TCP_FASTOPEN_CONNECT, 2));
    set_get("TCP_FASTOPEN_CONNECT 1", fd, TCP_FASTOPEN_CONNECT, 1);
    printf("connect with TCP_FASTOPEN_CONNECT: %s\n", res(connect(fd, (struct sockaddr *)&sa, sizeof sa)));
    printf("connected: TCP_FASTOPEN_CONNECT 0: %s", seti(fd, TCP_FASTOPEN_CONNECT, 0));
    printf(", TCP_FASTOPEN 1: %s", seti(fd, TCP_FASTOPEN, 1));
    printf(", TCP_FASTOPEN_NO_COOKIE 1: %s\n", seti(fd, TCP_FASTOPEN_NO_COOKIE, 1));
    printf("write hello: %ld\n", (long)write(fd, "hello", 5));
    read_reply(fd, "TCP_FASTOPEN_CONNECT", 5);
    close(fd);

    /* 4: sendto(MSG_FASTOPEN) on an unconnected socket connects and sends. */
    fd = tcp_socket();
    n = sendto(fd, "fastopen", 8, MSG_FASTOPEN, (struct sockaddr *)&sa, sizeof sa);
    printf("sendto MSG_FASTOPEN: %s %ld\n", res(n), n);
    read_reply(fd, "MSG_FASTOPEN", 8);
    n = sendto(fd, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&sa, sizeof sa);
    printf("sendto MSG_FASTOPEN when connected: %s\n", res(n));
    close(fd);

    /* 5: non-blocking: EINPROGRESS without a cookie, then a plain send once connected. */
    fd = tcp_socket();
    set_nonblock(fd, 1);
    n = sendto(fd, "nbfo", 4, MSG_FASTOPEN, (struct sockaddr *)&sa, sizeof sa);
    printf("non-blocking sendto MSG_FASTOPEN: %s\n", res(n));
    p.fd = fd;
    p.events = POLLOUT;
    p.revents = 0;
    poll(&p, 1, 5000);
    set_nonblock(fd, 0);
    if (n < 0) n = send(fd, "nbfo", 4, 0);
    printf("then send: %ld\n", n);
    read_reply(fd, "non-blocking MSG_FASTOPEN", 4);
    close(fd);

    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: tcp_opts server -p PORT | client -c HOST -p PORT", server, client);
}
