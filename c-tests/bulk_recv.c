/* bulk_recv (-c HOST | -l) -p PORT [-t]: reads until EOF and prints the byte count and the
 * SHA-256 of the stream. With -t (bench) nothing is hashed and it prints the throughput from
 * the connection being established to EOF ("mib_per_s X", not compared). */
#include "common.h"
#include "bulk_io.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct opts o;
    opts_parse(&o, argc, argv, "usage: bulk_recv (-c HOST | -l) -p PORT [-t]");
    int fd = bulk_open(&o);
    uint64_t t0 = now_ns();
    static char buf[262144];
    struct sha256 c;
    sha256_init(&c);
    long long total = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) DIE("read");
        if (r == 0) break;
        if (!o.timing) sha256_update(&c, buf, (size_t)r);
        total += r;
    }
    uint64_t t1 = now_ns();
    close(fd);
    printf("received %lld bytes\n", total);
    if (o.timing) {
        double secs = (double)(t1 - t0) / 1e9;
        printf("mib_per_s %.1f\n", secs > 0 ? (double)total / 1048576.0 / secs : 0.0);
    } else {
        char hex[65];
        sha256_hex(&c, hex);
        printf("sha256 %s\n", hex);
    }
    return 0;
}
