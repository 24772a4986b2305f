/* send_edges server -p PORT | send_edges client -c HOST -p PORT
 * Send calls whose first answer decides what a program does next:
 *  - UDP sizes: Linux's udp_sendmsg checks `len > 0xFFFF` (EMSGSIZE) before it looks for a
 *    destination (EDESTADDRREQ on an unconnected socket without one); 65508..65535 bytes get
 *    past that check and fail later (EDESTADDRREQ unconnected, EMSGSIZE with a destination).
 *    The same through write, writev, send, sendmsg and sendmmsg;
 *  - send(MSG_DONTWAIT | MSG_FASTOPEN) with an address on a blocking TCP socket that is not
 *    connected (its connect to a closed port failed first), with Linux's default net.ipv4.tcp_fastopen = 1 and no cookie: the SYN leaves
 *    and the call returns EINPROGRESS at once (tcp_sendmsg_fastopen passes MSG_DONTWAIT on as
 *    O_NONBLOCK); the connection completes (POLLOUT, SO_ERROR 0) and a plain send follows. */
#include "common.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static const char *res(long r) { return r < 0 ? errno_name(errno) : "OK"; }

static char big[70000];

/* writev of `n` bytes in two pieces. */
static long writev2(int fd, size_t n) {
    struct iovec v[2] = { { big, n / 2 }, { big + n / 2, n - n / 2 } };
    return writev(fd, v, 2);
}

static long sendmsg_n(int fd, size_t n, const struct sockaddr_in *to) {
    struct iovec v = { big, n };
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    if (to) {
        m.msg_name = (void *)to;
        m.msg_namelen = sizeof *to;
    }
    return sendmsg(fd, &m, 0);
}

static const char *sendmmsg_n(int fd, size_t n) {
    struct iovec v = { big, n };
    struct mmsghdr mm;
    memset(&mm, 0, sizeof mm);
    mm.msg_hdr.msg_iov = &v;
    mm.msg_hdr.msg_iovlen = 1;
    int r = sendmmsg(fd, &mm, 1, 0);
    return r < 0 ? errno_name(errno) : r == 1 ? "1 sent" : "0 sent";
}

static void udp_sizes(const struct opts *o) {
    struct sockaddr_in sa;
    make_addr(&sa, o->host, o->port);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    if (u < 0) DIE("socket udp");
    const size_t sizes[] = { 70000, 65536, 65535, 65508 };
    for (int i = 0; i < 4; i++) {
        size_t n = sizes[i];
        printf("udp unconnected %zu bytes: write %s", n, res(write(u, big, n)));
        printf(", writev %s", res(writev2(u, n)));
        printf(", send %s", res(send(u, big, n, 0)));
        printf(", sendmsg %s", res(sendmsg_n(u, n, NULL)));
        printf(", sendmmsg %s\n", sendmmsg_n(u, n));
    }
    printf("udp unconnected 10 bytes: write %s, writev %s\n", res(write(u, big, 10)), res(writev2(u, 10)));
    /* With a destination (none of these leaves: all are too large). */
    printf("udp sendmsg with an address, 65508 bytes: %s\n", res(sendmsg_n(u, 65508, &sa)));
    printf("udp sendmsg with an address, 70000 bytes: %s\n", res(sendmsg_n(u, 70000, &sa)));
    printf("udp connect: %s\n", res(connect(u, (struct sockaddr *)&sa, sizeof sa)));
    for (int i = 0; i < 4; i++) {
        size_t n = sizes[i];
        printf("udp connected %zu bytes: write %s, writev %s, send %s, sendmmsg %s\n", n, res(write(u, big, n)),
               res(writev2(u, n)), res(send(u, big, n, 0)), sendmmsg_n(u, n));
    }
    close(u);
}

static int server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 4);
    signal_ready(o);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) DIE("accept");
    char b[16] = { 0 };
    long n = read_full(fd, b, 4);
    printf("server: read %ld bytes '%s'\n", n, n > 0 ? b : "");
    for (long i = 0; i < n; i++) b[i] = (char)(b[i] - 32);
    if (n > 0 && write_all(fd, b, (size_t)n) < 0) DIE("write");
    n = read_full(fd, b, 1);
    printf("server: then %s\n", n == 0 ? "EOF" : res(n));
    close(fd);
    close(lfd);
    return 0;
}

static int client(const struct opts *o) {
    udp_sizes(o);

    struct sockaddr_in sa;
    make_addr(&sa, o->host, o->port);
    int fd = tcp_socket();
    /* A connect that fails first: MSG_FASTOPEN connects the socket again (Linux's
     * __inet_stream_connect from tcp_sendmsg_fastopen), not EISCONN. */
    struct sockaddr_in closed;
    make_addr(&closed, o->host, o->port + 28); /* nobody listens there */
    printf("connect to a closed port first: %s\n",
           connect(fd, (struct sockaddr *)&closed, sizeof closed) < 0 ? errno_name(errno) : "connected");
    long n = sendto(fd, "dwfo", 4, MSG_DONTWAIT | MSG_FASTOPEN, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    printf("blocking socket, sendto MSG_DONTWAIT|MSG_FASTOPEN: %s\n", n < 0 ? errno_name(e) : "sent");
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    int r = poll(&p, 1, 5000);
    int soerr = -1;
    socklen_t l = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l);
    printf("poll POLLOUT: %d, SO_ERROR %s\n", r, soerr == 0 ? "0" : errno_name(soerr));
    if (n < 0) n = send(fd, "dwfo", 4, 0);
    printf("then send: %ld\n", n);
    char b[16] = { 0 };
    n = read_full(fd, b, 4);
    printf("reply %ld bytes '%s'\n", n, n > 0 ? b : "");
    close(fd);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: send_edges server -p PORT | client -c HOST -p PORT", server, client);
}
