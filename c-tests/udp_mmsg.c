/* udp_mmsg server PORT | udp_mmsg client HOST PORT
 * sendmmsg/recvmmsg as Linux does them. The server (prints "server: ready") echoes 12
 * datagrams and exits. The client sends 3 with one sendmmsg (each with its own address), then
 * a thread sends 3 more 300 ms later while the client sits in a blocking recvmmsg for 6
 * without MSG_WAITFORONE: Linux waits for all 6. Then 3 more and recvmmsg(6, MSG_WAITFORONE)
 * takes the 3 there are; recvmmsg(MSG_DONTWAIT) on an empty socket fails with EAGAIN; a
 * datagram longer than its buffer comes back cut with MSG_TRUNC in msg_flags; a connected
 * sendmmsg without addresses, then recvmmsg with msg_name NULL. A warm-up datagram goes and
 * comes back first: without it the server's first echo may wait for ARP, and Linux sends the
 * echoes it queued meanwhile around one made on another CPU (the queue is flushed with the
 * neighbour lock dropped), so the kernel itself could reorder the batch. */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOTAL 12

static int server(int port) {
    int s = udp_bound(NULL, port, 0);
    printf("server: ready\n");
    fflush(stdout);
    for (int i = 0; i < TOTAL + 1; i++) { /* + the warm-up */
        char buf[2048];
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (n < 0) DIE("recvfrom");
        if (sendto(s, buf, (size_t)n, 0, (struct sockaddr *)&from, fl) < 0) DIE("sendto");
    }
    printf("server: echoed %d datagrams\n", TOTAL);
    return 0;
}

static int fd;
static struct sockaddr_in peer;
static char rb[8][64];
static struct iovec rio[8];
static struct sockaddr_in from[8];
static struct mmsghdr rm[8];

/* What the second thread's send_batch printed, printed by the main thread after the join (the
 * echoes can reach the blocked recvmmsg, and its lines be printed, before that thread's printf
 * runs: the order of the output would be a race). */
static char later_line[160];

/* Sends datagrams FIRST..FIRST+N-1 ("datagram K") with one sendmmsg; with_addr: each names
 * the peer. Prints the result, or keeps it in OUT (of OUTLEN bytes) if OUT is not NULL. */
static void send_batch_to(int first, int n, int with_addr, char *out, size_t outlen);
static void send_batch(int first, int n, int with_addr) { send_batch_to(first, n, with_addr, NULL, 0); }
static void send_batch_to(int first, int n, int with_addr, char *out, size_t outlen) {
    struct mmsghdr m[8];
    struct iovec io[8];
    char b[8][32];
    memset(m, 0, sizeof m);
    for (int i = 0; i < n; i++) {
        io[i].iov_base = b[i];
        io[i].iov_len = (size_t)snprintf(b[i], sizeof b[i], "datagram %d", first + i);
        m[i].msg_hdr.msg_iov = &io[i];
        m[i].msg_hdr.msg_iovlen = 1;
        if (with_addr) {
            m[i].msg_hdr.msg_name = &peer;
            m[i].msg_hdr.msg_namelen = sizeof peer;
        }
    }
    int r = sendmmsg(fd, m, (unsigned)n, 0);
    char line[160];
    int k = snprintf(line, sizeof line, "client: sendmmsg(%d) -> %d, lengths", n, r);
    for (int i = 0; i < r && k > 0 && (size_t)k < sizeof line; i++)
        k += snprintf(line + k, sizeof line - (size_t)k, " %u", m[i].msg_len);
    if (out) {
        size_t l = strlen(line);
        if (l + 2 > outlen) l = outlen - 2;
        memcpy(out, line, l);
        out[l] = '\n';
        out[l + 1] = 0;
    } else {
        printf("%s\n", line);
    }
}

static void *later(void *arg) {
    (void)arg;
    sleep_ms(300);
    send_batch_to(3, 3, 1, later_line, sizeof later_line);
    return NULL;
}

/* recvmmsg into the 8 receive slots, each LEN bytes; prints what came. */
static void receive(const char *what, unsigned vlen, int flags, size_t len, int names) {
    memset(rm, 0, sizeof rm);
    for (int i = 0; i < 8; i++) {
        rio[i].iov_base = rb[i];
        rio[i].iov_len = len;
        rm[i].msg_hdr.msg_iov = &rio[i];
        rm[i].msg_hdr.msg_iovlen = 1;
        if (names) {
            rm[i].msg_hdr.msg_name = &from[i];
            rm[i].msg_hdr.msg_namelen = sizeof from[i];
        }
    }
    int r = recvmmsg(fd, rm, vlen, flags, NULL);
    if (r < 0) {
        printf("client: %s -> -1 %s\n", what, errno_name(errno));
        return;
    }
    printf("client: %s -> %d\n", what, r);
    for (int i = 0; i < r; i++) {
        const struct msghdr *h = &rm[i].msg_hdr;
        int same = names && h->msg_namelen == sizeof peer && from[i].sin_port == peer.sin_port &&
                   from[i].sin_addr.s_addr == peer.sin_addr.s_addr;
        printf("   \"%.*s\" msg_len %u, from the server: %s%s\n", (int)rm[i].msg_len, rb[i], rm[i].msg_len,
               names ? (same ? "yes" : "NO") : "(no name asked)", h->msg_flags & MSG_TRUNC ? ", MSG_TRUNC" : "");
    }
}

static int client(const char *host, int port) {
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) DIE("socket");
    make_addr(&peer, host, port);
    char w[16];
    if (sendto(fd, "warm-up", 7, 0, (struct sockaddr *)&peer, sizeof peer) != 7) DIE("sendto");
    if (recv(fd, w, sizeof w, 0) != 7) DIE("recv");
    printf("client: the warm-up datagram came back\n");
    send_batch(0, 3, 1);
    pthread_t t;
    pthread_create(&t, NULL, later, NULL);
    receive("blocking recvmmsg(6), 3 now and 3 in 300 ms", 6, 0, 64, 1);
    pthread_join(t, NULL);
    printf("%s", later_line); /* the second thread's send, after the receive it raced */
    send_batch(6, 3, 1);
    sleep_ms(300);
    receive("recvmmsg(6, MSG_WAITFORONE) with 3 there", 6, MSG_WAITFORONE, 64, 1);
    receive("recvmmsg(6, MSG_DONTWAIT) on an empty socket", 6, MSG_DONTWAIT, 64, 1);
    send_batch(9, 1, 1);
    receive("recvmmsg(1) into 4 bytes", 1, 0, 4, 1);
    if (connect(fd, (struct sockaddr *)&peer, sizeof peer) < 0) DIE("connect");
    send_batch(10, 2, 0);
    receive("connected recvmmsg(2), no names", 2, 0, 64, 0);
    return 0;
}

int main(int argc, char **argv) {
    watchdog(20);
    if (argc == 3 && !strcmp(argv[1], "server")) return server(atoi(argv[2]));
    if (argc == 4 && !strcmp(argv[1], "client")) return client(argv[2], atoi(argv[3]));
    die("usage: udp_mmsg server PORT | client HOST PORT", 0);
    return 2;
}
