/* shut_late server -p PORT | shut_late client -c HOST -p PORT
 * TCP data that arrives after the reader's shutdown(SHUT_RD), as Linux keeps it: SHUT_RD
 * sends nothing and tcp_recvmsg looks at RCV_SHUTDOWN only when the queue is empty, so
 *  - data arriving after SHUT_RD, before the program read its 0, is read, then 0;
 *  - data arriving after the program read its 0 is read too (read, readv, recv with MSG_PEEK,
 *    recvmsg), each time followed by 0 again, and FIONREAD counts it;
 *  - a late burst larger than the receive window arrives whole as the program reads it (each
 *    read returns what is there, 0 when nothing is);
 *  - poll stays POLLIN|POLLOUT|POLLRDHUP throughout; the peer's FIN ends it the same way.
 * The client tells the server when to send each burst (one byte), so no timing decides the
 * output. */
#include "common.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

static const char *res(long r) { return r < 0 ? errno_name(errno) : "OK"; }

static uint8_t pat(long i) { return (uint8_t)(i * 7 + 3); }

#define BIG 300000

/* Sends `n` pattern bytes starting at pattern offset `off`. */
static void burst(int fd, long off, long n) {
    static uint8_t b[BIG];
    for (long i = 0; i < n; i++) b[i] = pat(off + i);
    if (write_all(fd, b, (size_t)n) < 0) DIE("write burst");
}

/* Waits (bounded, 5 s) until FIONREAD shows at least `want` bytes; returns the last value. */
static int wait_avail(int fd, int want) {
    int avail = -1;
    for (int i = 0; i < 500; i++) {
        if (ioctl(fd, FIONREAD, &avail) < 0) return -errno;
        if (avail >= want) break;
        sleep_ms(10);
    }
    return avail;
}

static void poll_report(const char *what, int fd) {
    struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT | POLLRDHUP };
    char fl[64];
    poll(&p, 1, 0);
    printf("client: poll %s: %s\n", what, poll_flags(p.revents, fl, sizeof fl));
}

/* Reads until 0 or an error with read(); prints the count, content and what ended it. */
static long drain(const char *what, int fd, long off) {
    static uint8_t b[65536];
    long total = 0, n;
    int ok = 1;
    for (;;) {
        n = read(fd, b, 1000);
        if (n <= 0) break;
        for (long i = 0; i < n; i++) if (b[i] != pat(off + total + i)) ok = 0;
        total += n;
    }
    printf("client: %s: %ld bytes, content %s, then %s\n", what, total, ok ? "ok" : "bad", n == 0 ? "0" : res(n));
    return total;
}

static void go(int fd, char c) {
    if (write(fd, &c, 1) != 1) DIE("write go");
}

static int server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 4);
    signal_ready(o);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) DIE("accept");
    long off = 0;
    char c;
    /* Each byte from the client asks for the next burst; 'f' for the FIN. */
    const long sizes[] = { 1000, 2000, 3000, 1500, 900, BIG };
    for (int i = 0; i < 6; i++) {
        if (read_full(fd, &c, 1) != 1) die("expected a go byte", errno);
        burst(fd, off, sizes[i]);
        off += sizes[i];
    }
    if (read_full(fd, &c, 1) != 1 || c != 'f') die("expected f", errno);
    if (shutdown(fd, SHUT_WR) < 0) DIE("shutdown");
    long n = read_full(fd, &c, 1);
    printf("server: after its FIN: %s\n", n == 1 ? "one more byte" : n == 0 ? "EOF" : res(n));
    n = read(fd, &c, 1);
    printf("server: then %s\n", n == 0 ? "EOF" : res(n));
    close(fd);
    close(lfd);
    return 0;
}

static int client(const struct opts *o) {
    int fd = tcp_connect(o->host, o->port);
    static uint8_t b[65536];
    long off = 0;

    /* 1000 bytes queued, then SHUT_RD. */
    go(fd, 'a');
    printf("client: queued before SHUT_RD: %d\n", wait_avail(fd, 1000));
    printf("client: shutdown SHUT_RD: %s\n", res(shutdown(fd, SHUT_RD)));
    poll_report("after SHUT_RD", fd);

    /* 2000 more arrive before the program reads anything. */
    go(fd, 'b');
    printf("client: queued after a burst that followed SHUT_RD: %d\n", wait_avail(fd, 3000));
    off += drain("read before the first 0", fd, off);
    poll_report("after the first 0", fd);

    /* 3000 arrive after the program read its 0. */
    go(fd, 'c');
    int avail = wait_avail(fd, 3000);
    printf("client: FIONREAD after a burst that followed the 0: %d\n", avail);
    poll_report("with late data", fd);
    long n = recv(fd, b, 10, MSG_PEEK);
    printf("client: recv MSG_PEEK: %s %ld, content %s\n", res(n), n, n == 10 && b[0] == pat(off) && b[9] == pat(off + 9) ? "ok" : "bad");
    struct iovec iov[2] = { { b, 100 }, { b + 100, 400 } };
    n = readv(fd, iov, 2);
    int ok = n == 500;
    for (long i = 0; ok && i < n; i++) ok = b[i] == pat(off + i);
    printf("client: readv: %s %ld, content %s\n", res(n), n, ok ? "ok" : "bad");
    off += n > 0 ? n : 0;
    struct msghdr m;
    memset(&m, 0, sizeof m);
    struct iovec one = { b, 700 };
    m.msg_iov = &one;
    m.msg_iovlen = 1;
    n = recvmsg(fd, &m, 0);
    ok = n == 700;
    for (long i = 0; ok && i < n; i++) ok = b[i] == pat(off + i);
    printf("client: recvmsg: %s %ld, content %s\n", res(n), n, ok ? "ok" : "bad");
    off += n > 0 ? n : 0;
    off += drain("read the rest of the late burst", fd, off);

    /* Two more late bursts, read with read() alone, each ending in 0. */
    go(fd, 'd');
    printf("client: FIONREAD: %d\n", wait_avail(fd, 1500));
    off += drain("second late burst", fd, off);
    go(fd, 'e');
    printf("client: FIONREAD: %d\n", wait_avail(fd, 900));
    off += drain("third late burst", fd, off);

    /* A burst larger than the window: read as it comes, 0 meaning "nothing yet" (bounded). */
    go(fd, 'g');
    long big = 0;
    int good = 1;
    for (int i = 0; i < 20000 && big < BIG; i++) {
        n = read(fd, b, sizeof b);
        if (n < 0) break;
        if (n == 0) {
            sleep_ms(1);
            continue;
        }
        for (long j = 0; j < n; j++) if (b[j] != pat(off + big + j)) good = 0;
        big += n;
    }
    printf("client: late burst larger than the window: %ld bytes, content %s%s\n", big, good ? "ok" : "bad",
           n < 0 ? res(n) : "");
    off += big;

    /* The peer's FIN: 0, and writing still works. */
    go(fd, 'f');
    sleep_ms(300);
    poll_report("after the peer's FIN", fd);
    n = read(fd, b, 100);
    printf("client: read after the peer's FIN: %s\n", n == 0 ? "0" : res(n));
    printf("client: write after the peer's FIN: %s\n", res(write(fd, "z", 1)));
    printf("client: total read %ld bytes\n", off);
    close(fd);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: shut_late server -p PORT | client -c HOST -p PORT", server, client);
}
