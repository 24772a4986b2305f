/* half_close server -p PORT | half_close client -c HOST -p PORT [-b BYTES] [-s SEED]
 * The client sends BYTES seeded bytes and shuts down writing; the server reads to EOF, then
 * answers with a reply three times as long (derived from the request) while the client keeps
 * reading to the end. The client also checks that writing after SHUT_WR fails with EPIPE
 * (MSG_NOSIGNAL). Both print counts and SHA-256 sums. */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 4);
    signal_ready(o);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) DIE("accept");
    static char buf[65536];
    struct sha256 c;
    sha256_init(&c);
    long long total = 0;
    uint64_t mix = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) DIE("read");
        if (r == 0) break;
        sha256_update(&c, buf, (size_t)r);
        for (ssize_t i = 0; i < r; i++) mix = mix * 31 + (uint8_t)buf[i];
        total += r;
    }
    char hex[65];
    sha256_hex(&c, hex);
    printf("server: request %lld bytes sha256 %s\n", total, hex);
    /* Reply: 3x the request length, contents seeded from the request. */
    struct rng r;
    rng_seed(&r, mix);
    struct sha256 rc;
    sha256_init(&rc);
    long long reply = total * 3, sent = 0;
    while (sent < reply) {
        size_t len = reply - sent < (long long)sizeof buf ? (size_t)(reply - sent) : sizeof buf;
        rng_fill(&r, buf, len);
        sha256_update(&rc, buf, len);
        if (write_all(fd, buf, len) < 0) DIE("write");
        sent += (long long)len;
    }
    sha256_hex(&rc, hex);
    printf("server: reply %lld bytes sha256 %s\n", sent, hex);
    if (close(fd) < 0) DIE("close");
    close(lfd);
    return 0;
}

static int client(const struct opts *o) {
    if (!o->host) die("-c HOST is required", 0);
    long long total = o->bytes >= 0 ? o->bytes : 300000;
    int fd = tcp_connect(o->host, o->port);
    static char buf[65536];
    struct rng r;
    rng_seed(&r, o->seed);
    long long sent = 0;
    while (sent < total) {
        size_t len = total - sent < (long long)sizeof buf ? (size_t)(total - sent) : sizeof buf;
        rng_fill(&r, buf, len);
        if (write_all(fd, buf, len) < 0) DIE("write");
        sent += (long long)len;
    }
    if (shutdown(fd, SHUT_WR) < 0) DIE("shutdown");
    ssize_t w = send(fd, "x", 1, MSG_NOSIGNAL);
    printf("client: sent %lld bytes, write after SHUT_WR: %s\n", sent,
           w < 0 ? errno_name(errno) : "accepted");
    struct sha256 c;
    sha256_init(&c);
    long long got = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) DIE("read");
        if (n == 0) break;
        sha256_update(&c, buf, (size_t)n);
        got += n;
    }
    char hex[65];
    sha256_hex(&c, hex);
    printf("client: reply %lld bytes sha256 %s\n", got, hex);
    close(fd);
    return 0;
}

int main(int argc, char **argv) {
    struct opts o;
    opts_parse(&o, argc, argv, "usage: half_close server -p PORT | client -c HOST -p PORT [-b BYTES] [-s SEED]");
    if (o.role && o.role[0] == 's') return server(&o);
    if (o.role && o.role[0] == 'c') return client(&o);
    die("role must be 'server' or 'client'", 0);
    return 2;
}
