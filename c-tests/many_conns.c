/* many_conns server -p PORT -k K | many_conns client -c HOST -p PORT -k K [-H MS] [-t]
 * The client opens K connections at once with non-blocking connect() and epoll, sends an 8-byte
 * request on each as soon as it is connected, checks each 8-byte reply, holds all K open and
 * idle for MS milliseconds, then closes them all. The server (epoll, non-blocking) answers
 * every request (bench/src/idle_conns.c sends a second one after its hold) and exits once it
 * has seen K connections closed by the client. With -t the
 * client also prints its peak RSS (bench: memory per connection). */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MSG 8

struct conn {
    int fd;
    int state; /* 0 connecting, 1 waiting reply, 2 done, 3 failed / server: 0 reading, 1 replied */
    int got;
    char buf[MSG];
};

static void encode(char *buf, char tag, uint32_t v) {
    buf[0] = tag; buf[1] = 'M'; buf[2] = 'C'; buf[3] = ':';
    buf[4] = (char)(v >> 24); buf[5] = (char)(v >> 16); buf[6] = (char)(v >> 8); buf[7] = (char)v;
}

static uint32_t decode(const char *buf) {
    return (uint32_t)(uint8_t)buf[4] << 24 | (uint32_t)(uint8_t)buf[5] << 16 |
           (uint32_t)(uint8_t)buf[6] << 8 | (uint32_t)(uint8_t)buf[7];
}

static int client(const struct opts *o, long k) {
    struct sockaddr_in sa;
    make_addr(&sa, o->host, o->port);
    struct conn *c = calloc((size_t)k, sizeof *c);
    if (!c) die("out of memory", 0);
    int ep = epoll_create1(0);
    if (ep < 0) DIE("epoll_create1");
    long inprogress = 0, immediate = 0, failed_connect = 0;
    for (long i = 0; i < k; i++) {
        c[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (c[i].fd < 0) DIE("socket");
        if (connect(c[i].fd, (struct sockaddr *)&sa, sizeof sa) == 0) immediate++;
        else if (errno == EINPROGRESS) inprogress++;
        else { failed_connect++; c[i].state = 3; continue; }
        struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = (uint64_t)i };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev) < 0) DIE("epoll_ctl ADD");
    }
    long connected = 0, so_errors = 0, replies_ok = 0, bad = 0, pending = inprogress + immediate;
    struct epoll_event evs[256];
    while (pending > 0) {
        int n = epoll_wait(ep, evs, 256, 10000);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) DIE("epoll_wait");
        if (n == 0) die("no progress for 10 s", 0);
        for (int j = 0; j < n; j++) {
            struct conn *cc = &c[evs[j].data.u64];
            uint32_t idx = (uint32_t)evs[j].data.u64;
            if (cc->state == 0) {
                int err = 0;
                socklen_t len = sizeof err;
                if (getsockopt(cc->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) DIE("SO_ERROR");
                if (err) { so_errors++; cc->state = 3; pending--;
                           epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL); continue; }
                connected++;
                char req[MSG];
                encode(req, 'Q', idx);
                if (write(cc->fd, req, MSG) != MSG) DIE("write request");
                cc->state = 1;
                struct epoll_event ev = { .events = EPOLLIN, .data.u64 = idx };
                if (epoll_ctl(ep, EPOLL_CTL_MOD, cc->fd, &ev) < 0) DIE("epoll_ctl MOD");
            } else if (cc->state == 1) {
                ssize_t r = read(cc->fd, cc->buf + cc->got, (size_t)(MSG - cc->got));
                if (r < 0 && errno == EAGAIN) continue;
                if (r <= 0) { bad++; cc->state = 3; pending--;
                              epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL); continue; }
                cc->got += (int)r;
                if (cc->got < MSG) continue;
                if (cc->buf[0] == 'A' && decode(cc->buf) == idx * 7u + 1u) replies_ok++;
                else bad++;
                cc->state = 2;
                pending--;
                epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL);
            }
        }
    }
    if (o->hold_ms > 0) sleep_ms(o->hold_ms);
    long rss = peak_rss_kb();
    long closed = 0;
    for (long i = 0; i < k; i++)
        if (c[i].fd >= 0 && close(c[i].fd) == 0) closed++;
    close(ep);
    printf("connections %ld\n", k);
    printf("connect: EINPROGRESS %ld, immediate %ld, failed %ld\n", inprogress, immediate, failed_connect);
    printf("connected %ld, SO_ERROR set %ld\n", connected, so_errors);
    printf("replies ok %ld, bad %ld\n", replies_ok, bad);
    printf("closed %ld\n", closed);
    if (o->timing) printf("peak_rss_kb %ld\n", rss);
    free(c);
    return replies_ok == k ? 0 : 1;
}

static int server(const struct opts *o, long k) {
    raise_nofile();
    int lfd = tcp_listener(o->port, k > 128 ? (int)k : 128);
    set_nonblock(lfd, 1);
    signal_ready(o);
    int ep = epoll_create1(0);
    if (ep < 0) DIE("epoll_create1");
    struct epoll_event lev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) DIE("epoll_ctl listener");
    struct conn *c = calloc((size_t)k, sizeof *c);
    if (!c) die("out of memory", 0);
    long accepted = 0, served = 0, closed = 0, bad = 0, peak = 0;
    struct epoll_event evs[256];
    while (closed + bad < k) {
        int n = epoll_wait(ep, evs, 256, 10000);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) DIE("epoll_wait");
        if (n == 0) die("no progress for 10 s", 0);
        for (int j = 0; j < n; j++) {
            if (evs[j].data.u64 == UINT64_MAX) {
                for (;;) {
                    int fd = accept(lfd, NULL, NULL);
                    if (fd < 0) {
                        if (errno == EAGAIN || errno == EINTR) break;
                        DIE("accept");
                    }
                    if (accepted >= k) die("more connections than expected", 0);
                    set_nonblock(fd, 1);
                    c[accepted].fd = fd;
                    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)accepted };
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) DIE("epoll_ctl ADD");
                    accepted++;
                }
                if (accepted - closed - bad > peak) peak = accepted - closed - bad;
                continue;
            }
            struct conn *cc = &c[evs[j].data.u64];
            /* state 0: within a request (got bytes of it); 1: answered, between requests. */
            ssize_t r = read(cc->fd, cc->buf + cc->got, (size_t)(MSG - cc->got));
            if (r < 0 && errno == EAGAIN) continue;
            if (r <= 0) {
                if (r == 0 && cc->state == 1 && cc->got == 0) closed++; else bad++;
                epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL);
                close(cc->fd);
                continue;
            }
            cc->got += (int)r;
            cc->state = 0;
            if (cc->got < MSG) continue;
            char rep[MSG];
            encode(rep, 'A', decode(cc->buf) * 7u + 1u);
            if (cc->buf[0] != 'Q' || write(cc->fd, rep, MSG) != MSG) {
                bad++; epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL); close(cc->fd); continue;
            }
            served++;
            cc->state = 1;
            cc->got = 0;
        }
    }
    close(ep);
    close(lfd);
    printf("accepted %ld, served %ld, closed by client %ld, bad %ld\n", accepted, served, closed, bad);
    printf("peak open %ld\n", peak);
    free(c);
    return bad ? 1 : 0;
}

int main(int argc, char **argv) {
    struct opts o;
    opts_parse(&o, argc, argv, "usage: many_conns server -p PORT -k K | client -c HOST -p PORT -k K [-H MS] [-t]");
    long k = o.k > 0 ? o.k : 200;
    raise_nofile();
    if (o.role && o.role[0] == 's') return server(&o, k);
    if (o.role && o.role[0] == 'c' && o.host) return client(&o, k);
    die("role must be 'server' or 'client -c HOST'", 0);
    return 2;
}
