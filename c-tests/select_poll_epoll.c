/* select_poll_epoll server -p PORT | select_poll_epoll client -c HOST -p PORT
 * The same waits done four ways (select, poll, epoll level-triggered, epoll edge-triggered),
 * each on its own connection, over a mix of the TCP socket and a pipe: nothing ready (timeout),
 * only the pipe, only the socket, both, write readiness, a read/write mix, a partial read (LT
 * reports again, ET does not), and the peer's FIN before and after our own shutdown; then a
 * listener of the client's own, asked for reading and writing (never writable, readable once a
 * connection waits), with select and poll a socket never connected (CLOSE: POLLHUP, and
 * POLLOUT if asked, at once) and bound, then (every way) connected to that listener, and with
 * select and poll the listener stopped by shutdown() (CLOSE again).
 * The server answers one-byte commands: 'a' -> "x", 'b' -> "yy", 'q' -> close. It serves the
 * four connections one after another and exits. */
#include "common.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>

enum mech { SELECT, POLL, EPOLL_LT, EPOLL_ET };
static const char *mech_names[] = { "select", "poll", "epoll-lt", "epoll-et" };

struct item { int fd; int rd; int wr; const char *name; };

/* epoll registrations persist across steps; an fd's interest is modified only when it changes,
 * so edge-triggered behaviour between steps is what a real program would see (data = fd). */
static int ep = -1;
static struct { int fd; uint32_t ev; } reg[8];
static int nreg;

static void epoll_sync(const struct item *it, int n, int et) {
    for (int i = 0; i < nreg; i++) { /* drop fds not in this wait */
        int keep = 0;
        for (int j = 0; j < n; j++) keep |= it[j].fd == reg[i].fd;
        if (!keep) {
            if (epoll_ctl(ep, EPOLL_CTL_DEL, reg[i].fd, NULL) < 0) DIE("epoll_ctl DEL");
            reg[i--] = reg[--nreg];
        }
    }
    for (int j = 0; j < n; j++) {
        uint32_t ev = (it[j].rd ? EPOLLIN | EPOLLRDHUP : 0) | (it[j].wr ? EPOLLOUT : 0) |
                      (et ? EPOLLET : 0);
        struct epoll_event e = { .events = ev, .data.u32 = (uint32_t)it[j].fd };
        int found = -1;
        for (int i = 0; i < nreg; i++) if (reg[i].fd == it[j].fd) found = i;
        if (found < 0) {
            if (epoll_ctl(ep, EPOLL_CTL_ADD, it[j].fd, &e) < 0) DIE("epoll_ctl ADD");
            reg[nreg].fd = it[j].fd; reg[nreg].ev = ev; nreg++;
        } else if (reg[found].ev != ev) {
            if (epoll_ctl(ep, EPOLL_CTL_MOD, it[j].fd, &e) < 0) DIE("epoll_ctl MOD");
            reg[found].ev = ev;
        }
    }
}

/* Waits on the items with the mechanism and prints "<mech> <step>: name=flags ..." */
static void wait_print(enum mech m, const char *step, struct item *it, int n, int timeout_ms) {
    char line[512], fl[128];
    int len = snprintf(line, sizeof line, "%s %s:", mech_names[m], step);
    int ready = 0;
    if (m == SELECT) {
        fd_set r, w;
        FD_ZERO(&r); FD_ZERO(&w);
        int maxfd = -1;
        for (int i = 0; i < n; i++) {
            if (it[i].rd) FD_SET(it[i].fd, &r);
            if (it[i].wr) FD_SET(it[i].fd, &w);
            if (it[i].fd > maxfd) maxfd = it[i].fd;
        }
        struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
        int k = select(maxfd + 1, &r, &w, NULL, &tv);
        if (k < 0) DIE("select");
        for (int i = 0; i < n; i++) {
            int rr = it[i].rd && FD_ISSET(it[i].fd, &r), ww = it[i].wr && FD_ISSET(it[i].fd, &w);
            if (rr || ww) {
                len += snprintf(line + len, sizeof line - (size_t)len, " %s=%s%s", it[i].name,
                                rr ? "r" : "", ww ? "w" : "");
                ready++;
            }
        }
    } else if (m == POLL) {
        struct pollfd p[8];
        for (int i = 0; i < n; i++) {
            p[i].fd = it[i].fd;
            p[i].events = (short)((it[i].rd ? POLLIN | POLLRDHUP : 0) | (it[i].wr ? POLLOUT : 0));
            p[i].revents = 0;
        }
        int k = poll(p, (nfds_t)n, timeout_ms);
        if (k < 0) DIE("poll");
        for (int i = 0; i < n; i++) {
            if (!p[i].revents) continue;
            len += snprintf(line + len, sizeof line - (size_t)len, " %s=%s", it[i].name,
                            poll_flags(p[i].revents, fl, sizeof fl));
            ready++;
        }
    } else {
        epoll_sync(it, n, m == EPOLL_ET);
        struct epoll_event evs[8];
        int k = epoll_wait(ep, evs, 8, timeout_ms);
        if (k < 0) DIE("epoll_wait");
        /* Print in item order, whatever order epoll returned. */
        for (int i = 0; i < n; i++)
            for (int e = 0; e < k; e++)
                if (evs[e].data.u32 == (uint32_t)it[i].fd) {
                    len += snprintf(line + len, sizeof line - (size_t)len, " %s=%s", it[i].name,
                                    epoll_flags(evs[e].events, fl, sizeof fl));
                    ready++;
                }
    }
    if (!ready) snprintf(line + len, sizeof line - (size_t)len, " none");
    printf("%s\n", line);
}

static void cmd(int s, char c) { if (write(s, &c, 1) != 1) DIE("write command"); }

static void drain(int fd, size_t n) {
    char b[16];
    if (read_full(fd, b, n) != (long)n) die("short read while draining", errno);
}

/* Blocks (bounded) until the socket is readable, without printing: keeps steps deterministic. */
static void await_readable(int s) {
    struct pollfd p = { .fd = s, .events = POLLIN };
    if (poll(&p, 1, 5000) != 1) die("socket not readable within 5 s", 0);
}

static void run(enum mech m, const struct opts *o) {
    int s = tcp_connect(o->host, o->port);
    int pp[2];
    if (pipe(pp) < 0) DIE("pipe");
    if (m >= EPOLL_LT) { ep = epoll_create1(0); if (ep < 0) DIE("epoll_create1"); nreg = 0; }
    struct item rd2[2] = { { s, 1, 0, "sock" }, { pp[0], 1, 0, "pipe_r" } };
    struct item sock_r[1] = { { s, 1, 0, "sock" } };

    wait_print(m, "1 idle", rd2, 2, 100);

    if (write(pp[1], "p", 1) != 1) DIE("write pipe");
    wait_print(m, "2 pipe only", rd2, 2, 5000);
    drain(pp[0], 1);

    cmd(s, 'a');
    wait_print(m, "3 socket only", rd2, 2, 5000);
    drain(s, 1);

    cmd(s, 'a');
    wait_print(m, "4a socket alone", sock_r, 1, 5000);
    if (write(pp[1], "p", 1) != 1) DIE("write pipe");
    wait_print(m, "4b both", rd2, 2, 5000);
    drain(s, 1);
    drain(pp[0], 1);

    struct item wr2[2] = { { s, 0, 1, "sock" }, { pp[1], 0, 1, "pipe_w" } };
    wait_print(m, "5 writable", wr2, 2, 5000);

    struct item mix[2] = { { s, 1, 0, "sock" }, { pp[1], 0, 1, "pipe_w" } };
    wait_print(m, "6 read/write mix", mix, 2, 100);

    cmd(s, 'b');
    await_readable(s);
    wait_print(m, "7a two bytes", sock_r, 1, 5000);
    drain(s, 1);
    wait_print(m, "7b one left", sock_r, 1, 100);
    drain(s, 1);
    wait_print(m, "7c drained", sock_r, 1, 100);

    cmd(s, 'q');
    wait_print(m, "8a peer FIN", sock_r, 1, 5000);
    char b;
    ssize_t r = read(s, &b, 1);
    printf("%s 8b read: %s\n", mech_names[m], r == 0 ? "EOF" : r < 0 ? errno_name(errno) : "data?!");
    struct item rw[1] = { { s, 1, 1, "sock" } };
    wait_print(m, "8c after EOF", rw, 1, 100);
    if (shutdown(s, SHUT_WR) < 0) DIE("shutdown");
    wait_print(m, "8d after our shutdown", rw, 1, 100);

    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in la = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t ll = sizeof la;
    if (l < 0 || bind(l, (struct sockaddr *)&la, sizeof la) < 0 || listen(l, 4) < 0 ||
        getsockname(l, (struct sockaddr *)&la, &ll) < 0)
        DIE("listener");
    struct item lis[1] = { { l, 1, 1, "listener" } };
    wait_print(m, "9a listener", lis, 1, 100);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&la, sizeof la) < 0) DIE("connect to the listener");
    wait_print(m, "9b listener, a connection waiting", lis, 1, 5000);
    close(c);
    struct item fresh[1] = { { socket(AF_INET, SOCK_STREAM, 0), 1, 1, "fresh" } };
    struct item fresh_r[1] = { { fresh[0].fd, 1, 0, "fresh" } };
    if (m <= POLL) { /* Known difference: epoll shows the socketpair's EPOLLOUT alone. */
        wait_print(m, "10a never connected", fresh, 1, 5000);
        wait_print(m, "10a again", fresh, 1, 100);
        wait_print(m, "10b never connected, reading", fresh_r, 1, 5000);
    }
    struct sockaddr_in any = {.sin_family = AF_INET};
    if (bind(fresh[0].fd, (struct sockaddr *)&any, sizeof any) < 0) DIE("bind");
    if (m <= POLL) wait_print(m, "10c bound", fresh, 1, 5000);
    /* Connected after all: the write readiness of a connection, no hang-up. */
    struct item fresh_w[1] = { { fresh[0].fd, 0, 1, "fresh" } };
    if (connect(fresh[0].fd, (struct sockaddr *)&la, sizeof la) < 0) DIE("connect the fresh socket");
    wait_print(m, "10d connected", fresh_w, 1, 5000);
    close(fresh[0].fd);
    if (m <= POLL) {
        if (shutdown(l, SHUT_RDWR) < 0) DIE("shutdown of the listener");
        wait_print(m, "10e listener stopped", lis, 1, 5000);
    }
    if (m >= EPOLL_LT) close(ep);
    close(l);
    close(pp[0]);
    close(pp[1]);
    close(s);
}

static int server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 4);
    signal_ready(o);
    long cmds = 0;
    for (int i = 0; i < 4; i++) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) DIE("accept");
        for (;;) {
            char c;
            ssize_t r = read(fd, &c, 1);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            cmds++;
            if (c == 'a' && write_all(fd, "x", 1) < 0) DIE("write");
            if (c == 'b' && write_all(fd, "yy", 2) < 0) DIE("write");
            if (c == 'q') break;
        }
        close(fd);
    }
    close(lfd);
    printf("server: 4 connections, %ld commands\n", cmds);
    return 0;
}

int main(int argc, char **argv) {
    struct opts o;
    opts_parse(&o, argc, argv, "usage: select_poll_epoll server -p PORT | client -c HOST -p PORT");
    if (o.role && o.role[0] == 's') return server(&o);
    if (!(o.role && o.role[0] == 'c' && o.host)) die("role must be 'server' or 'client -c HOST'", 0);
    for (int m = SELECT; m <= EPOLL_ET; m++) run((enum mech)m, &o);
    return 0;
}
