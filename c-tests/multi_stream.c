/* multi_stream server -p PORT -k K | multi_stream client -c HOST -p PORT -k K [-b BYTES] [-s SEED]
 * K concurrent full-duplex streams through edge-triggered epoll event loops on both ends, the
 * way an event-driven server works: non-blocking connect/accept, reads and writes until EAGAIN,
 * partial writes, EPOLLOUT to resume, shutdown(SHUT_WR) when done. The client sends BYTES
 * seeded bytes on each stream (seed + stream number) and the server echoes them through a
 * bounded buffer (so back-pressure reaches the client). Prints how many streams came back
 * intact (byte count and SHA-256 equal to what was sent). */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define BUF 65536

struct stream {
    int fd;
    int id;
    /* client */
    struct rng rng;
    long long sent, received;
    struct sha256 tx, rx;
    int wr_done, rd_done, connected;
    char out[BUF];
    size_t out_len, out_off;
    /* server: echo buffer */
    char buf[BUF];
    size_t head, len;
    int peer_eof, closed;
};

static int ep;

static void watch(struct stream *s, int op) {
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = s };
    if (epoll_ctl(ep, op, s->fd, &ev) < 0) DIE("epoll_ctl");
}

/* Client: push as much as the socket takes; returns 1 on progress. */
static int client_write(struct stream *s, long long total) {
    int progress = 0;
    while (!s->wr_done) {
        if (s->out_off == s->out_len) {
            if (s->sent >= total) {
                if (shutdown(s->fd, SHUT_WR) < 0) DIE("shutdown");
                s->wr_done = 1;
                return 1;
            }
            size_t n = total - s->sent < BUF ? (size_t)(total - s->sent) : BUF;
            n = n > 1 ? (size_t)(rng_next(&s->rng) % n) + 1 : n; /* uneven write sizes */
            rng_fill(&s->rng, s->out, n);
            sha256_update(&s->tx, s->out, n);
            s->out_len = n;
            s->out_off = 0;
            s->sent += (long long)n;
        }
        ssize_t w = write(s->fd, s->out + s->out_off, s->out_len - s->out_off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) return progress;
        if (w < 0) DIE("client write");
        s->out_off += (size_t)w;
        progress = 1;
    }
    return progress;
}

static int client_read(struct stream *s) {
    char in[BUF];
    int progress = 0;
    while (!s->rd_done) {
        ssize_t r = read(s->fd, in, sizeof in);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) return progress;
        if (r < 0) DIE("client read");
        if (r == 0) { s->rd_done = 1; return 1; }
        sha256_update(&s->rx, in, (size_t)r);
        s->received += r;
        progress = 1;
    }
    return progress;
}

static int client(const struct opts *o, long k) {
    long long total = o->bytes >= 0 ? o->bytes : 512 * 1024;
    struct sockaddr_in sa;
    make_addr(&sa, o->host, o->port);
    ep = epoll_create1(0);
    if (ep < 0) DIE("epoll_create1");
    struct stream *st = calloc((size_t)k, sizeof *st);
    if (!st) die("out of memory", 0);
    for (long i = 0; i < k; i++) {
        struct stream *s = &st[i];
        s->id = (int)i;
        rng_seed(&s->rng, o->seed + (uint64_t)i);
        sha256_init(&s->tx);
        sha256_init(&s->rx);
        s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (s->fd < 0) DIE("socket");
        if (connect(s->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) DIE("connect");
        watch(s, EPOLL_CTL_ADD);
    }
    long finished = 0;
    struct epoll_event evs[64];
    while (finished < k) {
        int n = epoll_wait(ep, evs, 64, 10000);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) DIE("epoll_wait");
        if (n == 0) die("no progress for 10 s", 0);
        for (int j = 0; j < n; j++) {
            struct stream *s = evs[j].data.ptr;
            if (s->rd_done && s->wr_done) continue;
            if (!s->connected) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) die("connect failed", err);
                if (!(evs[j].events & EPOLLOUT)) continue;
                s->connected = 1;
            }
            while (client_write(s, total) | client_read(s)) {}
            if (s->rd_done && s->wr_done) finished++;
        }
    }
    long intact = 0;
    for (long i = 0; i < k; i++) {
        char a[65], b[65];
        sha256_hex(&st[i].tx, a);
        sha256_hex(&st[i].rx, b);
        if (st[i].sent == total && st[i].received == total && strcmp(a, b) == 0) intact++;
        close(st[i].fd);
    }
    printf("streams %ld of %lld bytes each, echoed intact %ld\n", k, total, intact);
    free(st);
    return intact == k ? 0 : 1;
}

/* Server: move bytes socket -> buffer -> socket until neither direction makes progress. */
static void server_pump(struct stream *s) {
    for (;;) {
        int progress = 0;
        while (!s->peer_eof && s->len < BUF) {
            size_t tail = (s->head + s->len) % BUF;
            size_t room = tail >= s->head ? BUF - tail : s->head - tail;
            if (room > BUF - s->len) room = BUF - s->len;
            ssize_t r = read(s->fd, s->buf + tail, room);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0 && errno == EAGAIN) break;
            if (r < 0) DIE("server read");
            if (r == 0) { s->peer_eof = 1; progress = 1; break; }
            s->len += (size_t)r;
            progress = 1;
        }
        while (s->len > 0) {
            size_t chunk = s->head + s->len <= BUF ? s->len : BUF - s->head;
            ssize_t w = write(s->fd, s->buf + s->head, chunk);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0 && errno == EAGAIN) break;
            if (w < 0) DIE("server write");
            s->head = (s->head + (size_t)w) % BUF;
            s->len -= (size_t)w;
            progress = 1;
        }
        if (s->peer_eof && s->len == 0 && !s->closed) {
            close(s->fd); /* also leaves the epoll set */
            s->closed = 1;
            return;
        }
        if (!progress) return;
    }
}

static int server(const struct opts *o, long k) {
    int lfd = tcp_listener(o->port, (int)(k > 128 ? k : 128));
    set_nonblock(lfd, 1);
    signal_ready(o);
    ep = epoll_create1(0);
    if (ep < 0) DIE("epoll_create1");
    struct epoll_event lev = { .events = EPOLLIN | EPOLLET, .data.ptr = NULL };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) DIE("epoll_ctl listener");
    struct stream *st = calloc((size_t)k, sizeof *st);
    if (!st) die("out of memory", 0);
    long accepted = 0, closed = 0;
    struct epoll_event evs[64];
    while (closed < k) {
        int n = epoll_wait(ep, evs, 64, 10000);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) DIE("epoll_wait");
        if (n == 0) die("no progress for 10 s", 0);
        for (int j = 0; j < n; j++) {
            struct stream *s = evs[j].data.ptr;
            if (!s) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0 && (errno == EAGAIN || errno == EINTR)) break;
                    if (fd < 0) DIE("accept4");
                    if (accepted >= k) die("more connections than expected", 0);
                    struct stream *ns = &st[accepted++];
                    ns->fd = fd;
                    watch(ns, EPOLL_CTL_ADD);
                    server_pump(ns);
                    if (ns->closed) closed++;
                }
                continue;
            }
            if (s->closed) continue;
            server_pump(s);
            if (s->closed) closed++;
        }
    }
    close(lfd);
    close(ep);
    printf("server: %ld streams echoed and closed\n", closed);
    free(st);
    return 0;
}

int main(int argc, char **argv) {
    struct opts o;
    opts_parse(&o, argc, argv, "usage: multi_stream server -p PORT -k K | client -c HOST -p PORT -k K [-b BYTES] [-s SEED]");
    long k = o.k > 0 ? o.k : 16;
    raise_nofile();
    if (o.role && o.role[0] == 's') return server(&o, k);
    if (o.role && o.role[0] == 'c' && o.host) return client(&o, k);
    die("role must be 'server' or 'client -c HOST'", 0);
    return 2;
}
