/* unreachable server -p PORT | unreachable client -c HOST -p PORT
 * Connecting to an address on the link that nobody answers ARP for (10.0.0.99): Linux gives up
 * once address resolution fails (about 3 s) with EHOSTUNREACH, for a blocking connect() and
 * as SO_ERROR of a non-blocking one (poll: POLLOUT|POLLERR|POLLHUP). SO_SNDTIMEO (10 s) bounds
 * the blocking connect so a stack that never gives up fails this test in bounded time. The
 * server only waits for the client's final "done" connection. */
#include "common.h"

#include <poll.h>
#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>

static const char *res(long r) { return r < 0 ? errno_name(errno) : "OK"; }

static int server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 4);
    signal_ready(o);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) DIE("accept");
    char c;
    long n = read_full(fd, &c, 1);
    printf("server: %s\n", n == 1 && c == 'd' ? "done" : "bad");
    close(fd);
    close(lfd);
    return 0;
}

static int client(const struct opts *o) {
    char fl[128];
    struct sockaddr_in sa;
    make_addr(&sa, "10.0.0.99", o->port);

    int s = tcp_socket();
    struct timeval tv = { 10, 0 };
    if (setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) DIE("SO_SNDTIMEO");
    uint64_t t0 = now_ns();
    int r = connect(s, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    double secs = (double)(now_ns() - t0) / 1e9;
    errno = e;
    printf("blocking connect: %s, after 1..9 s: %s\n", res(r), secs >= 1.0 && secs < 9.0 ? "yes" : "no");
    close(s);

    s = tcp_socket();
    set_nonblock(s, 1);
    r = connect(s, (struct sockaddr *)&sa, sizeof sa);
    printf("non-blocking connect: %s\n", res(r));
    struct pollfd p = { .fd = s, .events = POLLOUT };
    int k = poll(&p, 1, 10000);
    if (k > 0) {
        /* Linux wakes the poller with the error (sk_error_report) just before tcp_done closes
         * the socket: a poll in between sees POLLERR alone. Read the settled readiness. */
        sleep_ms(50);
        k = poll(&p, 1, 0);
    }
    printf("poll POLLOUT (10 s): %d %s\n", k, poll_flags(k > 0 ? p.revents : 0, fl, sizeof fl));
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
    printf("SO_ERROR: %s\n", errno_name(err));
    close(s);

    s = tcp_connect(o->host, o->port);
    if (write(s, "d", 1) != 1) DIE("write");
    close(s);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: unreachable server -p PORT | client -c HOST -p PORT", server, client);
}
