/* accept_rate server -p PORT | accept_rate client -c HOST -p PORT (-n CONNS | -T SECS) [-t]
 * Connection churn. Per connection the client connects, sends 'c', reads the server's 'r' and
 * then EOF (the server closes first, so TIME_WAIT stays on the server), and closes. The server
 * accepts and answers as fast as it can; a final connection with 'q' tells it to exit. With -n
 * the client makes exactly CONNS connections (compared output); with -T it runs for SECS
 * seconds and -t prints connections per second (bench). */
#include "common.h"

#include <stdio.h>
#include <unistd.h>

static int server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 128);
    signal_ready(o);
    long served = 0, bad = 0;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) { if (errno == EINTR || errno == ECONNABORTED) continue; DIE("accept"); }
        char c;
        if (read_full(fd, &c, 1) != 1) { bad++; close(fd); continue; }
        if (write_all(fd, c == 'q' ? "Q" : "r", 1) < 0) bad++;
        close(fd);
        if (c == 'q') break;
        served++;
    }
    close(lfd);
    if (!o->timing) printf("server: served %ld, bad %ld\n", served, bad);
    return 0;
}

/* One connection: returns 1 if the exchange and EOF went as expected. */
static int one(const struct opts *o, char req, char want) {
    int fd = tcp_connect(o->host, o->port);
    char b[2];
    int ok = write(fd, &req, 1) == 1 && read_full(fd, b, 2) == 1 && b[0] == want;
    close(fd);
    return ok;
}

static int client(const struct opts *o) {
    long n = 0, ok = 0;
    uint64_t t0 = now_ns(), limit = o->secs > 0 ? (uint64_t)(o->secs * 1e9) : 0;
    for (;;) {
        if (o->n >= 0 && n >= o->n) break;
        if (o->n < 0 && (limit == 0 || now_ns() - t0 >= limit)) break;
        ok += one(o, 'c', 'r');
        n++;
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    int quit = one(o, 'q', 'Q');
    if (o->timing) {
        printf("connections %ld ok %ld\nconn_per_s %.0f\n", n, ok, secs > 0 ? (double)n / secs : 0.0);
    } else {
        printf("client: connections %ld ok %ld, quit %s\n", n, ok, quit ? "ok" : "failed");
    }
    return ok == n && quit ? 0 : 1;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: accept_rate server -p PORT | client -c HOST -p PORT (-n CONNS | -T SECS) [-t]", server, client);
}
