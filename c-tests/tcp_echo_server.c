/* tcp_echo_server -p PORT [-k CONNS] [-R FILE]: accepts CONNS connections one after another
 * (default 1), echoes every byte back until the client's EOF, closes, and prints per connection
 * the byte count and the SHA-256 of what it echoed. Exits after the last connection. */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct opts o;
    opts_parse(&o, argc, argv, "usage: tcp_echo_server -p PORT [-k CONNS] [-R FILE]");
    long conns = o.k > 0 ? o.k : 1;
    int lfd = tcp_listener(o.port, 16);
    signal_ready(&o);
    static char buf[65536];
    for (long i = 0; i < conns; i++) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) DIE("accept");
        struct sha256 c;
        sha256_init(&c);
        long long total = 0;
        for (;;) {
            ssize_t r = read(fd, buf, sizeof buf);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) DIE("read");
            if (r == 0) break;
            if (write_all(fd, buf, (size_t)r) < 0) DIE("write");
            sha256_update(&c, buf, (size_t)r);
            total += r;
        }
        char hex[65];
        sha256_hex(&c, hex);
        printf("conn %ld: echoed %lld bytes sha256 %s\n", i, total, hex);
        if (close(fd) < 0) DIE("close");
    }
    close(lfd);
    return 0;
}
