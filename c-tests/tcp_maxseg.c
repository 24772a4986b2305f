/* tcp_maxseg server -p PORT | tcp_maxseg client -c HOST -p PORT
 * TCP_MAXSEG as Linux has it (tcp(7), do_tcp_setsockopt / do_tcp_getsockopt): out of
 * [88, 32767] (0 aside) is EINVAL; a new socket reads 536 (TCP_MSS_DEFAULT) until set, then
 * what was set while closed or listening; the value bounds the MSS advertised in the SYN and
 * the one sent with, and a listener's is inherited by its accepted connections. The client
 * sets 500 before connecting, the server 700 on its listener: each end then sends with
 * min(the peer's advertised MSS, its own) less the timestamp option, both ways with data. */
#include "common.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int get_mss(int fd) {
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &v, &l) < 0) return -errno;
    return v;
}

static const char *set_mss(int fd, int v) {
    return setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &v, sizeof v) < 0 ? errno_name(errno) : "0";
}

static void exchange(int fd, const char *who, int send_first) {
    static char buf[6000];
    memset(buf, 'x', sizeof buf);
    long got = 0;
    if (send_first && write_all(fd, buf, sizeof buf) < 0) DIE("write");
    while (got < (long)sizeof buf) {
        long n = read(fd, buf, sizeof buf - (size_t)got);
        if (n <= 0) DIE("read");
        got += n;
    }
    if (!send_first && write_all(fd, buf, sizeof buf) < 0) DIE("write");
    printf("%s: 6000 bytes each way, TCP_MAXSEG now %d\n", who, get_mss(fd));
}

static int server(const struct opts *o) {
    int l = tcp_socket();
    printf("server: new socket TCP_MAXSEG %d\n", get_mss(l));
    printf("server: set 700 -> %s, reads %d\n", set_mss(l, 700), get_mss(l));
    int one = 1;
    if (setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) DIE("SO_REUSEADDR");
    struct sockaddr_in sa;
    make_addr(&sa, NULL, o->port);
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("bind");
    if (listen(l, 4) < 0) DIE("listen");
    printf("server: listening, TCP_MAXSEG %d\n", get_mss(l));
    signal_ready(o);
    int fd = accept(l, NULL, NULL);
    if (fd < 0) DIE("accept");
    printf("server: accepted, TCP_MAXSEG %d\n", get_mss(fd));
    exchange(fd, "server", 0);
    close(fd);
    close(l);
    return 0;
}

static int client(const struct opts *o) {
    int fd = tcp_socket();
    printf("client: new socket TCP_MAXSEG %d\n", get_mss(fd));
    printf("client: set 87 -> %s, 32768 -> %s, -1 -> %s\n", set_mss(fd, 87), set_mss(fd, 32768), set_mss(fd, -1));
    printf("client: set 0 -> %s, reads %d\n", set_mss(fd, 0), get_mss(fd));
    printf("client: set 500 -> %s, reads %d\n", set_mss(fd, 500), get_mss(fd));
    struct sockaddr_in sa;
    make_addr(&sa, o->host, o->port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("connect");
    printf("client: connected, TCP_MAXSEG %d\n", get_mss(fd));
    exchange(fd, "client", 1);
    close(fd);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: tcp_maxseg server -p PORT | client -c HOST -p PORT", server, client);
}
