/* connect_cycles server -p PORT -n N [-R FILE] | connect_cycles client -c HOST -p PORT -n N [-H MS]
 * Many short connections to one server, one after the other, like HTTP/1.0 clients or health
 * checks (issue 11, item 1c). Each cycle: the client connects, sends an 8-byte request, the
 * server answers 8 bytes and closes first (so the server side holds TIME-WAIT, as an HTTP/1.0
 * server does), the client reads to end of stream and closes. The client times every cycle and
 * fails (exit 1) if any took longer than MS milliseconds (default 100); it prints the count, the
 * slowest cycle, the number of distinct local ports and the total time. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MSG 8

static int server(const struct opts *o) {
    int l = tcp_listener(o->port, 128);
    signal_ready(o);
    for (long i = 0; o->n < 0 || i < o->n; i++) {
        int c = accept(l, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED) { i--; continue; }
            DIE("accept");
        }
        char buf[MSG];
        if (read_full(c, buf, MSG) == MSG) {
            buf[0] = 'A';
            if (write_all(c, buf, MSG) < 0) DIE("write reply");
        }
        close(c);
    }
    close(l);
    return 0;
}

static int client(const struct opts *o) {
    long n = o->n < 0 ? 1000 : o->n;
    uint64_t limit = (uint64_t)(o->hold_ms > 0 ? o->hold_ms : 100) * 1000000ull;
    struct sockaddr_in sa;
    make_addr(&sa, o->host, o->port);
    uint64_t start = now_ns(), worst = 0;
    long worst_at = -1, stalls = 0;
    unsigned char *seen = calloc(65536, 1);
    long ports = 0;
    if (!seen) die("out of memory", 0);
    for (long i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        int fd = tcp_socket();
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            fprintf(stderr, "cycle %ld: ", i);
            DIE("connect");
        }
        struct sockaddr_in me;
        socklen_t ml = sizeof me;
        if (getsockname(fd, (struct sockaddr *)&me, &ml) == 0 && !seen[ntohs(me.sin_port)]) {
            seen[ntohs(me.sin_port)] = 1;
            ports++;
        }
        char buf[MSG] = { 'Q', 'C', 'C', ':', (char)(i >> 24), (char)(i >> 16), (char)(i >> 8), (char)i };
        if (write_all(fd, buf, MSG) < 0) DIE("write request");
        char rep[MSG + 1];
        long got = read_full(fd, rep, sizeof rep);
        if (got != MSG || rep[0] != 'A' || memcmp(rep + 1, buf + 1, MSG - 1) != 0) {
            fprintf(stderr, "cycle %ld: bad reply (%ld bytes)\n", i, got);
            return 1;
        }
        close(fd);
        uint64_t dt = now_ns() - t0;
        if (dt > worst) { worst = dt; worst_at = i; }
        if (dt > limit) {
            stalls++;
            if (stalls <= 5) fprintf(stderr, "cycle %ld took %.1f ms\n", i, (double)dt / 1e6);
            if (stalls >= 20) { n = i + 1; break; } /* fail fast: the verdict is clear */
        }
    }
    double total = (double)(now_ns() - start) / 1e9;
    printf("cycles %ld stalls %ld slowest %.1f ms (cycle %ld) distinct-ports %ld total %.2f s\n", n, stalls,
           (double)worst / 1e6, worst_at, ports, total);
    free(seen);
    return stalls ? 1 : 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv,
                    "connect_cycles server -p PORT -n N [-R FILE] | connect_cycles client -c HOST -p PORT -n N [-H MS]",
                    server, client);
}
