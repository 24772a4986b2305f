/* pingpong server -p PORT | pingpong client -c HOST -p PORT -n ROUNDS [-N] [-t]
 * One-byte request, one-byte response, ROUNDS times on one connection. Prints the number of
 * rounds completed; with -t (bench) also the median and 99th percentile round-trip time in
 * microseconds (not compared). -N sets TCP_NODELAY on both ends' sockets it controls. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 4);
    signal_ready(o);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) DIE("accept");
    if (o->nodelay) set_nodelay(fd);
    long rounds = 0;
    char b;
    for (;;) {
        ssize_t r = read(fd, &b, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) DIE("read");
        if (r == 0) break;
        b ^= 0x5a;
        if (write_all(fd, &b, 1) < 0) DIE("write");
        rounds++;
    }
    printf("server: rounds %ld\n", rounds);
    close(fd);
    close(lfd);
    return 0;
}

static int client(const struct opts *o) {
    long n = o->n > 0 ? o->n : 1000;
    int fd = tcp_connect(o->host, o->port);
    if (o->nodelay) set_nodelay(fd);
    uint64_t *rtt = o->timing ? malloc((size_t)n * sizeof *rtt) : NULL;
    if (o->timing && !rtt) die("out of memory", 0);
    long ok = 0;
    for (long i = 0; i < n; i++) {
        char b = (char)i, got;
        uint64_t t0 = o->timing ? now_ns() : 0;
        if (write_all(fd, &b, 1) < 0) DIE("write");
        if (read_full(fd, &got, 1) != 1) die("read", errno);
        if (o->timing) rtt[i] = now_ns() - t0;
        if (got == (char)(b ^ 0x5a)) ok++;
    }
    close(fd);
    printf("client: rounds %ld ok %ld\n", n, ok);
    if (o->timing) {
        qsort(rtt, (size_t)n, sizeof *rtt, cmp_u64);
        printf("median_us %.1f\np99_us %.1f\n", percentile_u64(rtt, (size_t)n, 0.5) / 1e3,
               percentile_u64(rtt, (size_t)n, 0.99) / 1e3);
        free(rtt);
    }
    return ok == n ? 0 : 1;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: pingpong server -p PORT | client -c HOST -p PORT -n ROUNDS [-N] [-t]", server, client);
}
