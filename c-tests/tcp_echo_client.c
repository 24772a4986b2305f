/* tcp_echo_client -c HOST -p PORT [-n MSGS] [-M MAXSIZE] [-s SEED]: sends MSGS messages of
 * seeded random sizes (1..MAXSIZE) and contents, reads each echo back in full and compares it,
 * then shuts down writing and expects EOF. Prints counts, mismatches and the stream's SHA-256. */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct opts o;
    opts_parse(&o, argc, argv, "usage: tcp_echo_client -c HOST -p PORT [-n MSGS] [-M MAX] [-s SEED]");
    if (!o.host) die("-c HOST is required", 0);
    long msgs = o.n >= 0 ? o.n : 500;
    long max = o.max_size > 0 ? o.max_size : 16384;
    struct rng r;
    rng_seed(&r, o.seed);
    char *out = malloc((size_t)max), *in = malloc((size_t)max);
    if (!out || !in) die("out of memory", 0);
    int fd = tcp_connect(o.host, o.port);
    struct sha256 c;
    sha256_init(&c);
    long long total = 0;
    long mismatches = 0, short_reads = 0;
    for (long i = 0; i < msgs; i++) {
        size_t len = (size_t)(rng_next(&r) % (uint64_t)max) + 1;
        rng_fill(&r, out, len);
        if (write_all(fd, out, len) < 0) DIE("write");
        long got = read_full(fd, in, len);
        if (got < 0) DIE("read");
        if ((size_t)got != len) { short_reads++; break; }
        if (memcmp(in, out, len) != 0) mismatches++;
        sha256_update(&c, in, len);
        total += (long long)len;
    }
    if (shutdown(fd, SHUT_WR) < 0) DIE("shutdown");
    char extra;
    long tail = read_full(fd, &extra, 1);
    char hex[65];
    sha256_hex(&c, hex);
    printf("messages %ld bytes %lld mismatches %ld short %ld\n", msgs, total, mismatches, short_reads);
    printf("sha256 %s\n", hex);
    printf("after shutdown: %s\n", tail == 0 ? "eof" : tail < 0 ? errno_name(errno) : "extra data");
    close(fd);
    free(out);
    free(in);
    return mismatches || short_reads ? 1 : 0;
}
