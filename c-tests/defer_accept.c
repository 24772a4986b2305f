/* defer_accept server -p PORT | defer_accept client -c HOST -p PORT
 * TCP_DEFER_ACCEPT (Linux tcp_check_req, syn_ack_recalc): the listener, deferring one SYN-ACK
 * timeout (1 s), takes a connection when its first data arrives, not at the handshake's bare
 * ACK; a peer that stays silent is taken after the deferral (the SYN-ACK goes again at 1 s and
 * its ACK completes the connection); a FIN completes it at once. Three clients one after the
 * other: A connects and sends 300 ms later, B sends nothing, C connects and shuts down for
 * writing. The server accepts each, says whether data (or the end) was readable within 20 ms
 * of the accept, and answers one byte; the clients time that answer, in bands far from the
 * limits. */
#include "common.h"

#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *yn(int b) { return b ? "yes" : "no"; }

static long ms_since(uint64_t t0) { return (long)((now_ns() - t0) / 1000000); }

static int server(const struct opts *o) {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0) DIE("socket");
    int one = 1, v = 1;
    if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) DIE("setsockopt");
    if (setsockopt(lfd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &v, sizeof v) < 0) DIE("setsockopt");
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)o->port);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0) DIE("bind");
    if (listen(lfd, 8) < 0) DIE("listen");
    socklen_t l = sizeof v;
    v = -1;
    if (getsockopt(lfd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &v, &l) < 0) DIE("getsockopt");
    printf("server: TCP_DEFER_ACCEPT 1 reads %d\n", v);
    signal_ready(o);
    for (int i = 0; i < 3; i++) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) DIE("accept");
        struct pollfd p = { fd, POLLIN, 0 };
        int ready = poll(&p, 1, 20);
        char buf[16];
        ssize_t n = ready == 1 ? recv(fd, buf, sizeof buf, MSG_DONTWAIT) : -1;
        printf("server: accepted %c: readable within 20 ms: %s, read %zd\n", 'A' + i, yn(ready == 1), n);
        if (write(fd, "k", 1) != 1) DIE("write");
        char c;
        while (read(fd, &c, 1) > 0) { /* the client's close */
        }
        close(fd);
    }
    close(lfd);
    return 0;
}

/* Waits for the server's byte on `fd`: the milliseconds since `t0`, or -1. */
static long answer(int fd, uint64_t t0) {
    struct pollfd p = { fd, POLLIN, 0 };
    if (poll(&p, 1, 6000) != 1) return -1;
    char c;
    if (read(fd, &c, 1) != 1) return -1;
    return ms_since(t0);
}

static int client(const struct opts *o) {
    if (!o->host) die("-c HOST is required", 0);
    uint64_t t0 = now_ns();
    int fd = tcp_connect(o->host, o->port);
    sleep_ms(300);
    if (write(fd, "a", 1) != 1) DIE("write");
    long ms = answer(fd, t0);
    printf("client: A (data after 300 ms): answered after >= 250 ms: %s, before 1000 ms: %s\n", yn(ms >= 250),
           yn(ms >= 0 && ms < 1000));
    close(fd);
    t0 = now_ns();
    fd = tcp_connect(o->host, o->port);
    ms = answer(fd, t0);
    printf("client: B (silent): answered after >= 800 ms: %s, before 2500 ms: %s\n", yn(ms >= 800),
           yn(ms >= 0 && ms < 2500));
    close(fd);
    t0 = now_ns();
    fd = tcp_connect(o->host, o->port);
    if (shutdown(fd, SHUT_WR) < 0) DIE("shutdown");
    ms = answer(fd, t0);
    printf("client: C (FIN): answered before 500 ms: %s\n", yn(ms >= 0 && ms < 500));
    close(fd);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: defer_accept server -p PORT | client -c HOST -p PORT", server, client);
}
