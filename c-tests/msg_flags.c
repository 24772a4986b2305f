/* msg_flags client -c HOST -p PORT (the server side is `seq_fuzz server`: a TCP and a UDP echo
 * on PORT, ended with QUIT)
 * send() and then recv() with each MSG_* flag alone (and two bits Linux ignores or refuses), on
 * a TCP connection and a connected UDP socket to the echo: what each call returns, whether the
 * echo comes back within a second, and what a recv with the same flag reads of it. E.g.
 * MSG_PROBE (0x10) sends nothing on UDP, MSG_OOB is EOPNOTSUPP on UDP sends and ignored by its
 * receives, MSG_CMSG_COMPAT means nothing to send()/recv(). Left out: MSG_MORE (a timing on
 * TCP, where tapstack sends at once and Linux holds; `cork.c` has it on UDP). */
#include "common.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct flag {
    int v;
    const char *n;
};
#define F(x) {x, #x}
static const struct flag FLAGS[] = {
    {0, "0"}, F(MSG_OOB), F(MSG_PEEK), F(MSG_DONTROUTE), F(MSG_CTRUNC), {0x10, "MSG_PROBE"}, F(MSG_TRUNC),
    F(MSG_DONTWAIT), F(MSG_EOR), F(MSG_WAITALL), F(MSG_FIN), F(MSG_SYN), F(MSG_CONFIRM), F(MSG_RST),
    F(MSG_ERRQUEUE), F(MSG_NOSIGNAL), F(MSG_WAITFORONE), F(MSG_BATCH), F(MSG_ZEROCOPY), F(MSG_FASTOPEN),
    F(MSG_CMSG_CLOEXEC), {0x40000000, "0x40000000"}, {(int)0x80000000u, "MSG_CMSG_COMPAT"},
};

static const char *res(ssize_t r) { return r < 0 ? errno_name(errno) : "ok"; }

static int client(const struct opts *o) {
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in a;
    make_addr(&a, o->host, o->port);
    for (int udp = 0; udp < 2; udp++)
        for (size_t i = 0; i < sizeof FLAGS / sizeof *FLAGS; i++) {
            const struct flag *f = &FLAGS[i];
            const char *k = udp ? "udp" : "tcp";
            int fd = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
            if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) DIE("connect");
            char out[16], in[16] = {0};
            memset(out, 'a' + (int)i, sizeof out);
            ssize_t r = send(fd, out, 10, f->v);
            printf("%s send %s: %zd %s", k, f->n, r, res(r));
            struct pollfd p = {fd, POLLIN, 0};
            int ready = poll(&p, 1, r > 0 ? 1000 : 100);
            printf("; echo %s", ready > 0 ? "back" : "none");
            r = recv(fd, in, 4, f->v | MSG_DONTWAIT);
            printf("; recv %zd %s [%.4s]\n", r, res(r), r > 0 ? in : "");
            close(fd);
        }
    seq_fuzz_quit(o);
    return 0;
}

int main(int argc, char **argv) {
    watchdog(60);
    return run_role(argc, argv, "msg_flags client -c HOST -p PORT", seq_fuzz_only, client);
}
