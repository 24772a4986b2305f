/* tcp_states client -c HOST -p PORT (the server side is `seq_fuzz server`, only ended with QUIT:
 * every connection here is over the client's own loopback)
 * A TCP connection brought to a state, then one call made on it, for each state and call:
 * states established, the peer closed (CLOSE-WAIT), we shut down for writing, the peer reset
 * (SO_LINGER 0), we shut down for reading, both ways, the peer sent data and closed, the peer
 * shut down for reading, and we shut down for writing before the peer closed; calls send,
 * recv, poll, SO_ERROR, getpeername, shutdown either way, connect again, listen, FIONREAD,
 * send then recv (a send into CLOSE-WAIT draws a reset: recv still says 0, as tcp_recvmsg looks
 * at SOCK_DONE before sk_err), recv twice, and TCP_INFO's state. Every result printed. */
#include "common.h"

#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *res(long r) { return r < 0 ? errno_name(errno) : "ok"; }
static int lst;
static struct sockaddr_in la;

static void setup(int st, int *c, int *s) {
    *c = socket(AF_INET, SOCK_STREAM, 0);
    if (*c < 0 || connect(*c, (struct sockaddr *)&la, sizeof la) < 0) DIE("connect");
    *s = accept(lst, NULL, NULL);
    if (*s < 0) DIE("accept");
    struct linger l = {1, 0};
    switch (st) {
    case 1: close(*s), *s = -1; break;
    case 2: shutdown(*c, SHUT_WR); break;
    case 3: setsockopt(*s, SOL_SOCKET, SO_LINGER, &l, sizeof l), close(*s), *s = -1; break;
    case 4: shutdown(*c, SHUT_RD); break;
    case 5: shutdown(*c, SHUT_RDWR); break;
    case 6: if (write(*s, "data", 4) != 4) DIE("write"); close(*s), *s = -1; break;
    case 7: shutdown(*s, SHUT_RD); break;
    case 8: shutdown(*c, SHUT_WR), usleep(50000), close(*s), *s = -1; break;
    }
    usleep(100000);
}

static int client(const struct opts *o) {
    lst = socket(AF_INET, SOCK_STREAM, 0);
    make_addr(&la, "127.0.0.1", 0);
    socklen_t al = sizeof la;
    if (lst < 0 || bind(lst, (struct sockaddr *)&la, sizeof la) < 0 || listen(lst, 16) < 0 ||
        getsockname(lst, (struct sockaddr *)&la, &al) < 0)
        DIE("listen");
    static const char *const sn[] = {"established", "peer closed", "shut wr", "peer reset", "shut rd",
                                     "shut rdwr", "peer data+closed", "peer shut rd", "shut wr, peer closed"};
    for (int st = 0; st < 9; st++)
        for (int op = 0; op < 13; op++) {
            int c, s, e = 0, n = -1;
            setup(st, &c, &s);
            char buf[16] = {0};
            long r;
            struct pollfd p = {c, POLLIN | POLLOUT | POLLRDHUP, 0};
            socklen_t el = sizeof e, pl = sizeof(struct sockaddr_in);
            struct sockaddr_in pa;
            struct tcp_info ti;
            socklen_t tl = sizeof ti;
            printf("%s: ", sn[st]);
            switch (op) {
            case 0: r = send(c, "x", 1, MSG_NOSIGNAL), printf("send %ld %s\n", r, res(r)); break;
            case 1: r = recv(c, buf, sizeof buf, MSG_DONTWAIT), printf("recv %ld %s\n", r, res(r)); break;
            case 2: {
                char pf[128];
                r = poll(&p, 1, 0);
                printf("poll %ld %s\n", r, poll_flags(p.revents, pf, sizeof pf));
                break;
            }
            case 3: r = getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &el), printf("SO_ERROR %s %s\n", res(r), e ? errno_name(e) : "0"); break;
            case 4: r = getpeername(c, (struct sockaddr *)&pa, &pl), printf("getpeername %s\n", res(r)); break;
            case 5: r = shutdown(c, SHUT_WR), printf("shutdown wr %s\n", res(r)); break;
            case 6: r = shutdown(c, SHUT_RD), printf("shutdown rd %s\n", res(r)); break;
            case 7: r = connect(c, (struct sockaddr *)&la, sizeof la), printf("connect again %s\n", res(r)); break;
            case 8: r = listen(c, 1), printf("listen %s\n", res(r)); break;
            case 9: r = ioctl(c, FIONREAD, &n), printf("FIONREAD %s %d\n", res(r), n); break;
            case 10:
                r = send(c, "x", 1, MSG_NOSIGNAL);
                printf("send %ld %s", r, res(r));
                usleep(100000);
                r = recv(c, buf, sizeof buf, MSG_DONTWAIT);
                printf(", then recv %ld %s", r, res(r));
                r = getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &el);
                printf(", SO_ERROR %s\n", e ? errno_name(e) : "0");
                break;
            case 11:
                r = recv(c, buf, sizeof buf, MSG_DONTWAIT);
                printf("recv %ld %s", r, res(r));
                r = recv(c, buf, sizeof buf, MSG_DONTWAIT);
                printf(", again %ld %s\n", r, res(r));
                break;
            default:
                r = getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &tl);
                printf("TCP_INFO %s state %d\n", res(r), r == 0 ? ti.tcpi_state : -1);
            }
            close(c);
            if (s >= 0) close(s);
        }
    close(lst);
    seq_fuzz_quit(o);
    return 0;
}

int main(int argc, char **argv) {
    watchdog(90);
    return run_role(argc, argv, "tcp_states client -c HOST -p PORT", seq_fuzz_only, client);
}
