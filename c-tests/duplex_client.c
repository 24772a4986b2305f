/* duplex_client -c HOST -p PORT [-m MIB | -b BYTES] [-s SEED]  (against tcp_echo_server)
 * Full duplex on one socket from two threads: a writer thread sends a seeded stream in chunks
 * of seeded sizes while a reader thread reads the echo at the same time, then the writer shuts
 * down writing and the reader reads to EOF. Prints counts and both SHA-256 sums (they must be
 * equal). Exercises concurrent blocking read and write on one descriptor. */
#include "common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct shared {
    int fd;
    long long total;
    uint64_t seed;
    long long sent, received;
    char sent_hex[65], recv_hex[65];
    int werr, rerr;
};

static void *writer(void *arg) {
    struct shared *s = arg;
    struct rng r;
    rng_seed(&r, s->seed);
    struct sha256 c;
    sha256_init(&c);
    static char buf[65536];
    while (s->sent < s->total) {
        size_t len = (size_t)(rng_next(&r) % sizeof buf) + 1;
        if ((long long)len > s->total - s->sent) len = (size_t)(s->total - s->sent);
        rng_fill(&r, buf, len);
        sha256_update(&c, buf, len);
        if (write_all(s->fd, buf, len) < 0) { s->werr = errno; break; }
        s->sent += (long long)len;
    }
    if (shutdown(s->fd, SHUT_WR) < 0 && !s->werr) s->werr = errno;
    sha256_hex(&c, s->sent_hex);
    return NULL;
}

static void *reader(void *arg) {
    struct shared *s = arg;
    struct sha256 c;
    sha256_init(&c);
    static char buf[32768];
    for (;;) {
        ssize_t n = read(s->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { s->rerr = errno; break; }
        if (n == 0) break;
        sha256_update(&c, buf, (size_t)n);
        s->received += n;
    }
    sha256_hex(&c, s->recv_hex);
    return NULL;
}

int main(int argc, char **argv) {
    struct opts o;
    opts_parse(&o, argc, argv, "usage: duplex_client -c HOST -p PORT [-m MIB|-b BYTES] [-s SEED]");
    if (!o.host) die("-c HOST is required", 0);
    struct shared s = { .fd = tcp_connect(o.host, o.port), .seed = o.seed,
                        .total = o.bytes >= 0 ? o.bytes : 8ll << 20 };
    pthread_t w, r;
    if (pthread_create(&r, NULL, reader, &s) || pthread_create(&w, NULL, writer, &s))
        die("pthread_create", 0);
    pthread_join(w, NULL);
    pthread_join(r, NULL);
    close(s.fd);
    printf("sent %lld bytes sha256 %s (%s)\n", s.sent, s.sent_hex, errno_name(s.werr));
    printf("echo %lld bytes sha256 %s (%s)\n", s.received, s.recv_hex, errno_name(s.rerr));
    printf("match: %s\n", s.sent == s.received && !strcmp(s.sent_hex, s.recv_hex) ? "yes" : "no");
    return s.werr || s.rerr ? 1 : 0;
}
