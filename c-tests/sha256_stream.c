/* Prints the SHA-256 of stdin and its length: checks common.c's SHA-256 against sha256sum. */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    struct sha256 c;
    sha256_init(&c);
    static char buf[65536];
    long long total = 0;
    for (;;) {
        ssize_t r = read(0, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) DIE("read");
        if (r == 0) break;
        sha256_update(&c, buf, (size_t)r);
        total += r;
    }
    char hex[65];
    sha256_hex(&c, hex);
    printf("%s  %lld\n", hex, total);
    return 0;
}
