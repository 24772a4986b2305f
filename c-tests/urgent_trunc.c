/* urgent_trunc server -p PORT | urgent_trunc client -c HOST -p PORT
 * Urgent data and MSG_TRUNC on TCP, as real programs use them. The client sends "abc", one
 * byte with MSG_OOB (telnet's and ftp's interrupt), "def", and shuts down writing; the server
 * (SO_OOBINLINE, so the urgent byte stays in its place on Linux) prints what it read. Then the
 * server sends 20 known bytes and 300000 more and closes; the client counts with
 * recv(NULL, 5, MSG_PEEK | MSG_TRUNC), discards with recv(NULL, 3, MSG_TRUNC) and
 * recv(buf, 4, MSG_TRUNC) (Linux copies nothing: buf stays as it was), reads the rest of the
 * 20, then drains the 300000 with recv(NULL, INT_MAX, MSG_TRUNC | MSG_WAITALL) (HAProxy's
 * drain, with MSG_WAITALL for a count that does not depend on timing) and reads the end. */
#include "common.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BULK 300000

static int server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 4);
    signal_ready(o);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) DIE("accept");
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &on, sizeof on) < 0) DIE("SO_OOBINLINE");
    char got[64];
    long n = read_full(fd, got, sizeof got - 1);
    if (n < 0) DIE("read");
    printf("server: read %ld bytes in line: \"%.*s\"\n", n, (int)n, got);
    if (write_all(fd, "0123456789ABCDEFGHIJ", 20) < 0) DIE("write");
    static char bulk[BULK];
    memset(bulk, 'z', sizeof bulk);
    if (write_all(fd, bulk, sizeof bulk) < 0) DIE("write");
    printf("server: sent 20 + %d bytes\n", BULK);
    close(fd);
    close(lfd);
    return 0;
}

static void show(const char *what, ssize_t r) {
    if (r < 0)
        printf("client: %s -> -1 %s\n", what, errno_name(errno));
    else
        printf("client: %s -> %zd\n", what, r);
}

static int client(const struct opts *o) {
    if (!o->host) die("-c HOST is required", 0);
    int fd = tcp_connect(o->host, o->port);
    if (write_all(fd, "abc", 3) < 0) DIE("write");
    sleep_ms(50);
    show("send(\"!\", MSG_OOB)", send(fd, "!", 1, MSG_OOB));
    sleep_ms(50);
    if (write_all(fd, "def", 3) < 0) DIE("write");
    if (shutdown(fd, SHUT_WR) < 0) DIE("shutdown");
    char buf[32];
    ssize_t r = recv(fd, buf, 20, MSG_PEEK | MSG_WAITALL);
    show("recv(buf, 20, MSG_PEEK | MSG_WAITALL)", r);
    show("recv(NULL, 5, MSG_PEEK | MSG_TRUNC)", recv(fd, NULL, 5, MSG_PEEK | MSG_TRUNC));
    show("recv(NULL, 3, MSG_TRUNC)", recv(fd, NULL, 3, MSG_TRUNC));
    memcpy(buf, "----", 4);
    show("recv(buf, 4, MSG_TRUNC)", recv(fd, buf, 4, MSG_TRUNC));
    printf("client: buf after it: \"%.4s\"\n", buf);
    long n = read_full(fd, buf, 13);
    printf("client: the next 13 bytes: \"%.*s\"\n", (int)(n > 0 ? n : 0), buf);
    show("recv(NULL, INT_MAX, MSG_TRUNC | MSG_WAITALL)", recv(fd, NULL, INT_MAX, MSG_TRUNC | MSG_WAITALL));
    show("recv(buf, 1, 0) at the end", recv(fd, buf, 1, 0));
    close(fd);
    return 0;
}

int main(int argc, char **argv) {
    watchdog(30);
    return run_role(argc, argv, "usage: urgent_trunc server -p PORT | client -c HOST -p PORT", server, client);
}
