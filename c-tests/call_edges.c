/* call_edges client -c HOST -p PORT (the server side is `seq_fuzz server`, ended with QUIT)
 * The argument checks of the socket-state calls, on a fresh TCP socket, a UDP socket, a
 * listener, a connection to the server host and a bound TCP socket: shutdown() with every `how`
 * (and 3, -1, 100), listen() with odd backlogs, accept4() with odd flags (EINVAL before the
 * socket's own EOPNOTSUPP or EINVAL), getsockname()/getpeername() with address lengths from 0
 * to 128 (the length they report back, the family they write) and null pointers, accept() with
 * bad pointers, bind() with short and long lengths. Every result printed. */
#include "common.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *res(int r) { return r < 0 ? errno_name(errno) : "ok"; }

static int make(const struct opts *o, int kind) { /* 0 TCP, 1 UDP, 2 listener, 3 connection, 4 bound */
    int fd = socket(AF_INET, kind == 1 ? SOCK_DGRAM : SOCK_STREAM, 0);
    if (fd < 0) DIE("socket");
    struct sockaddr_in a;
    make_addr(&a, "0.0.0.0", 0);
    if ((kind == 2 || kind == 4) && bind(fd, (struct sockaddr *)&a, sizeof a) < 0) DIE("bind");
    if (kind == 2 && listen(fd, 4) < 0) DIE("listen");
    make_addr(&a, o->host, o->port);
    if (kind == 3 && connect(fd, (struct sockaddr *)&a, sizeof a) < 0) DIE("connect");
    return fd;
}

static int client(const struct opts *o) {
    static const char *const kinds[] = {"tcp", "udp", "listener", "connection", "bound"};
    static const int hows[] = {SHUT_RD, SHUT_WR, SHUT_RDWR, 3, -1, 100};
    static const int backlogs[] = {-1, 0, 1, 1000000, 0x7fffffff};
    static const int aflags[] = {0, SOCK_NONBLOCK, SOCK_CLOEXEC, 1, 0x40000000, O_NONBLOCK | 2};
    static const socklen_t lens[] = {0, 1, 4, 8, 15, 16, 17, 128};
    static const socklen_t blens[] = {0, 2, 15, 16, 17, 200};
    for (int k = 0; k < 5; k++) {
        const char *n = kinds[k];
        for (size_t i = 0; i < sizeof hows / sizeof *hows; i++) {
            int fd = make(o, k);
            printf("%s shutdown %d: %s\n", n, hows[i], res(shutdown(fd, hows[i])));
            close(fd);
        }
        for (size_t i = 0; i < sizeof backlogs / sizeof *backlogs; i++) {
            int fd = make(o, k);
            printf("%s listen %d: %s\n", n, backlogs[i], res(listen(fd, backlogs[i])));
            close(fd);
        }
        for (size_t i = 0; i < sizeof aflags / sizeof *aflags; i++) {
            int fd = make(o, k);
            set_nonblock(fd, 1);
            int r = accept4(fd, NULL, NULL, aflags[i]);
            printf("%s accept4 %#x: %s\n", n, (unsigned)aflags[i], res(r));
            if (r >= 0) close(r);
            close(fd);
        }
        for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
            int fd = make(o, k);
            struct sockaddr_in a;
            memset(&a, 0xee, sizeof a);
            socklen_t l = lens[i];
            int r = getsockname(fd, (struct sockaddr *)&a, &l);
            printf("%s getsockname len %u: %s, len %u, family %d", n, lens[i], res(r), l,
                   r == 0 && lens[i] >= 2 ? a.sin_family : -1);
            l = lens[i];
            r = getpeername(fd, (struct sockaddr *)&a, &l);
            printf("; getpeername: %s, len %u\n", res(r), l);
            close(fd);
        }
        int fd = make(o, k);
        socklen_t l = 16;
        printf("%s getsockname null address: %s", n, res(getsockname(fd, NULL, &l)));
        printf(", null length: %s\n", res(getsockname(fd, (struct sockaddr *)&l, NULL)));
        set_nonblock(fd, 1);
        printf("%s accept with bad pointers: %s\n", n, res(accept(fd, (struct sockaddr *)16, (socklen_t *)16)));
        close(fd);
        fd = make(o, k);
        struct sockaddr_in a;
        make_addr(&a, "0.0.0.0", 0);
        for (size_t i = 0; i < sizeof blens / sizeof *blens; i++)
            printf("%s bind length %u: %s\n", n, blens[i], res(bind(fd, (struct sockaddr *)&a, blens[i])));
        close(fd);
    }
    seq_fuzz_quit(o);
    return 0;
}

int main(int argc, char **argv) {
    watchdog(60);
    return run_role(argc, argv, "call_edges client -c HOST -p PORT", seq_fuzz_only, client);
}
