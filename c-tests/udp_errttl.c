/* udp_errttl server -p PORT | udp_errttl client -c HOST -p PORT
 * The control messages of an ICMP error read from the error queue (Linux's ip_recv_error,
 * which calls ip_cmsg_recv for an ICMP error): IP_TTL with IP_RECVTTL and IP_TOS with
 * IP_RECVTOS (the TTL and TOS of the ICMP message's IP header: tracepath's "back N"), before
 * IP_RECVERR; a control buffer too small for all of them (MSG_CTRUNC).
 * The client's IP_RECVERR sockets send to PORT+1 on the server's host, where nothing listens:
 * the host answers with a port unreachable. PORT is the control port (hello, done). */
#include "common.h"

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void show(const char *what, int s, size_t room) {
    char buf[64], cbuf[256];
    struct iovec io = { buf, sizeof buf };
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = room;
    if (send(s, "probe", 5, 0) != 5) DIE("send");
    /* POLLIN asked: the error (POLLERR) wakes it on both stacks (with no event asked, tapstack's
     * poll does not wake for a queued error: the socketpair under it is not readable then). */
    struct pollfd p = { s, POLLIN, 0 };
    if (poll(&p, 1, 5000) != 1) die("no error queued", errno);
    long n = recvmsg(s, &m, MSG_ERRQUEUE);
    if (n < 0) {
        printf("client: %s: recvmsg: %s\n", what, errno_name(errno));
        return;
    }
    printf("client: %s: %ld bytes, controllen %zu%s%s:", what, n, (size_t)m.msg_controllen,
           m.msg_flags & MSG_ERRQUEUE ? " MSG_ERRQUEUE" : "", m.msg_flags & MSG_CTRUNC ? " MSG_CTRUNC" : "");
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
        if (h->cmsg_level != IPPROTO_IP) {
            printf(" level %d", h->cmsg_level);
        } else if (h->cmsg_type == IP_TTL && h->cmsg_len == CMSG_LEN(sizeof(int))) {
            int ttl;
            memcpy(&ttl, CMSG_DATA(h), sizeof ttl);
            printf(" IP_TTL %d", ttl);
        } else if (h->cmsg_type == IP_TOS && h->cmsg_len == CMSG_LEN(1)) {
            printf(" IP_TOS 0x%02x", *(unsigned char *)CMSG_DATA(h));
        } else if (h->cmsg_type == IP_RECVERR && h->cmsg_len >= CMSG_LEN(sizeof(struct sock_extended_err))) {
            struct sock_extended_err ee;
            memcpy(&ee, CMSG_DATA(h), sizeof ee);
            printf(" IP_RECVERR %s origin %u type %u code %u", errno_name((int)ee.ee_errno), ee.ee_origin, ee.ee_type,
                   ee.ee_code);
        } else {
            printf(" type %d len %zu", h->cmsg_type, (size_t)h->cmsg_len);
        }
    }
    printf("\n");
}

static int errsock(const struct sockaddr_in *to, int ttl, int tos) {
    int s = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
    if (s < 0 || connect(s, (const struct sockaddr *)to, sizeof *to) < 0) DIE("connect");
    if (setsockopt(s, IPPROTO_IP, IP_RECVERR, &one, sizeof one) < 0) DIE("IP_RECVERR");
    if (setsockopt(s, IPPROTO_IP, IP_RECVTTL, &ttl, sizeof ttl) < 0) DIE("IP_RECVTTL");
    if (setsockopt(s, IPPROTO_IP, IP_RECVTOS, &tos, sizeof tos) < 0) DIE("IP_RECVTOS");
    return s;
}

static int server(const struct opts *o) {
    int c = udp_bound(NULL, o->port, 1);
    signal_ready(o);
    struct sockaddr_in client;
    answer_hello(c, &client);
    char buf[64];
    struct pollfd p = { c, POLLIN, 0 };
    if (poll(&p, 1, 20000) != 1 || recv(c, buf, sizeof buf, 0) < 0) die("no done", errno);
    printf("server: done\n");
    return 0;
}

static int client(const struct opts *o) {
    struct sockaddr_in srv, closed;
    make_addr(&srv, o->host, o->port);
    make_addr(&closed, o->host, o->port + 1);
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&srv, sizeof srv) < 0) DIE("connect");
    if (send(c, "hello", 5, 0) != 5) DIE("hello");
    char buf[16];
    struct pollfd p = { c, POLLIN, 0 };
    if (poll(&p, 1, 10000) != 1 || recv(c, buf, sizeof buf, 0) < 0) die("no answer", errno);
    const size_t all = 256; /* six errors: Linux's ICMP rate limit lets a burst of 6 through */
    int s = errsock(&closed, 1, 0);
    show("IP_RECVTTL", s, all);
    close(s);
    s = errsock(&closed, 1, 1);
    show("IP_RECVTTL and IP_RECVTOS", s, all);
    show("again, room for IP_TTL and IP_TOS", s, CMSG_SPACE(sizeof(int)) + CMSG_SPACE(1));
    close(s);
    s = errsock(&closed, 0, 1);
    show("IP_RECVTOS", s, all);
    show("again, room for IP_TOS and part of IP_RECVERR", s, CMSG_SPACE(1) + CMSG_LEN(4));
    close(s);
    s = errsock(&closed, 0, 0);
    show("neither", s, all);
    close(s);
    if (send(c, "done", 4, 0) != 4) DIE("done");
    close(c);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: udp_errttl server -p PORT | client -c HOST -p PORT", server, client);
}
