/* bulk_send [noclose] (-c HOST | -l) -p PORT [-m MIB | -b BYTES] [-s SEED] [-t]: sends a
 * seeded pseudo-random stream of the given size, closes right after the last write (with
 * "noclose": never closes, just returns from main, so exit() must deliver the data), and prints
 * the byte count and SHA-256 of the stream. With -t (bench) the payload is a constant buffer and
 * nothing is hashed, so the sender costs as little CPU as possible. */
#include "common.h"
#include "bulk_io.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CHUNK 65536

int main(int argc, char **argv) {
    struct opts o;
    opts_parse(&o, argc, argv, "usage: bulk_send (-c HOST | -l) -p PORT [-m MIB|-b BYTES] [-s SEED] [-t]");
    long long total = o.bytes >= 0 ? o.bytes : 16ll << 20;
    int fd = bulk_open(&o);
    if (o.nodelay) set_nodelay(fd);
    static char buf[CHUNK];
    struct rng r;
    rng_seed(&r, o.seed);
    struct sha256 c;
    sha256_init(&c);
    memset(buf, 'x', sizeof buf);
    long long sent = 0;
    while (sent < total) {
        size_t len = total - sent < CHUNK ? (size_t)(total - sent) : CHUNK;
        if (!o.timing) {
            rng_fill(&r, buf, len);
            sha256_update(&c, buf, len);
        }
        if (write_all(fd, buf, len) < 0) DIE("write");
        sent += (long long)len;
    }
    int noclose = o.role && strcmp(o.role, "noclose") == 0;
    if (!noclose && close(fd) < 0) DIE("close");
    printf("sent %lld bytes\n", sent);
    if (!o.timing) {
        char hex[65];
        sha256_hex(&c, hex);
        printf("sha256 %s\n", hex);
    }
    return 0;
}
