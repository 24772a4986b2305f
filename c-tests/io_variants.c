/* io_variants server -p PORT | io_variants client -c HOST -p PORT
 * The other ways a program moves bytes through a socket, each checked by count and content:
 * ioctl(FIONREAD), recv(MSG_PEEK), readv, recvmsg, writev, sendmsg, a zero-length send,
 * sendto(NULL), recv(MSG_WAITALL) across several segments, recvfrom's address length on TCP,
 * dup/dup2 (the socket lives on through the copy, no FD_CLOEXEC on dup2), F_GETFL, and
 * shutdown(SHUT_RD). */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

static uint8_t pat(long i) { return (uint8_t)(i * 7 + 3); }

static int check_pat(const uint8_t *b, long off, long n) {
    for (long i = 0; i < n; i++) if (b[i] != pat(off + i)) return 0;
    return 1;
}

static const char *res(long r) { return r < 0 ? errno_name(errno) : "OK"; }

static int server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 4);
    signal_ready(o);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) DIE("accept");
    static uint8_t buf[8192];
    char c;
    if (read_full(fd, &c, 1) != 1 || c != 'g') die("expected g", errno);
    for (long i = 0; i < 1000; i++) buf[i] = pat(i);
    if (write_all(fd, buf, 1000) < 0) DIE("write 1000");
    if (read_full(fd, &c, 1) != 1 || c != 'h') die("expected h", errno);
    long n = read_full(fd, buf, 1150);
    struct sha256 h;
    sha256_init(&h);
    sha256_update(&h, buf, n > 0 ? (size_t)n : 0);
    char hex[65];
    sha256_hex(&h, hex);
    printf("server: gathered writes %ld bytes sha256 %s\n", n, hex);
    for (int k = 0; k < 5; k++) {
        for (long i = 0; i < 1000; i++) buf[i] = pat(k * 1000 + i);
        if (write_all(fd, buf, 1000) < 0) DIE("write chunk");
        sleep_ms(20);
    }
    if (write_all(fd, "z", 1) < 0) DIE("write z");
    if (read_full(fd, &c, 1) != 1 || c != 'q') die("expected q", errno);
    if (write_all(fd, "Q", 1) < 0) DIE("write Q");
    n = read_full(fd, buf, 1);
    printf("server: end %s\n", n == 0 ? "EOF" : "unexpected");
    close(fd);
    close(lfd);
    return 0;
}

static int client(const struct opts *o) {
    int fd = tcp_connect(o->host, o->port);
    static uint8_t buf[8192];
    /* SO_RCVTIMEO: a read with nothing to read gives up with EAGAIN after the timeout. */
    struct timeval tv = { 0, 200000 };
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) DIE("SO_RCVTIMEO");
    uint64_t t0 = now_ns();
    long r = read(fd, buf, 1);
    uint64_t waited = now_ns() - t0;
    printf("read with SO_RCVTIMEO 200 ms: %s, waited 150..2000 ms: %s\n", res(r),
           waited >= 150000000ull && waited <= 2000000000ull ? "yes" : "no");
    tv.tv_usec = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) DIE("SO_RCVTIMEO");
    if (write(fd, "g", 1) != 1) DIE("write g");
    int avail = 0;
    for (int i = 0; i < 500 && avail < 1000; i++) {  /* up to 5 s */
        if (ioctl(fd, FIONREAD, &avail) < 0) DIE("FIONREAD");
        if (avail < 1000) sleep_ms(10);
    }
    printf("FIONREAD with 1000 queued: %d\n", avail);
    r = recv(fd, buf, 10, MSG_PEEK);
    printf("recv MSG_PEEK 10: %ld, content %s\n", r, r == 10 && check_pat(buf, 0, 10) ? "ok" : "bad");
    ioctl(fd, FIONREAD, &avail);
    printf("FIONREAD after peek: %d\n", avail);
    struct iovec iov[3] = { { buf, 100 }, { buf + 100, 200 }, { buf + 300, 300 } };
    r = readv(fd, iov, 3);
    printf("readv 100+200+300: %ld, content %s\n", r, r == 600 && check_pat(buf, 0, 600) ? "ok" : "bad");
    struct iovec iov2[2] = { { buf, 150 }, { buf + 150, 250 } };
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov2;
    mh.msg_iovlen = 2;
    r = recvmsg(fd, &mh, 0);
    printf("recvmsg 150+250: %ld, content %s, flags %d\n", r,
           r == 400 && check_pat(buf, 600, 400) ? "ok" : "bad", mh.msg_flags);
    ioctl(fd, FIONREAD, &avail);
    printf("FIONREAD drained: %d\n", avail);

    /* Gathered writes: 600 + 400 + 0 + 50 + 100 = 1150 bytes after the 'h'. */
    struct rng g;
    rng_seed(&g, 99);
    static uint8_t out[1150];
    rng_fill(&g, out, sizeof out);
    if (write(fd, "h", 1) != 1) DIE("write h");
    struct iovec w[3] = { { out, 100 }, { out + 100, 200 }, { out + 300, 300 } };
    printf("writev: %ld\n", (long)writev(fd, w, 3));
    struct iovec w2[2] = { { out + 600, 150 }, { out + 750, 250 } };
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = w2;
    mh.msg_iovlen = 2;
    printf("sendmsg: %ld\n", (long)sendmsg(fd, &mh, 0));
    printf("send 0 bytes: %ld\n", (long)send(fd, out, 0, 0));
    printf("sendto NULL address: %ld\n", (long)sendto(fd, out + 1000, 50, 0, NULL, 0));
    int d = dup(fd);
    printf("write through dup: %ld\n", (long)write(d, out + 1050, 100));
    close(d);
    struct sha256 h;
    sha256_init(&h);
    sha256_update(&h, out, sizeof out);
    char hex[65];
    sha256_hex(&h, hex);
    printf("gathered writes sha256 %s\n", hex);

    r = recv(fd, buf, 5000, MSG_WAITALL);
    printf("recv MSG_WAITALL 5000 (5 segments): %ld, content %s\n", r,
           r == 5000 && check_pat(buf, 0, 5000) ? "ok" : "bad");
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    poll(&p, 1, 5000);
    r = recvfrom(fd, buf, 1, 0, (struct sockaddr *)&from, &flen);
    printf("recvfrom: %ld byte '%c', addrlen %u\n", r, r == 1 ? buf[0] : '?', (unsigned)flen);

    int d1 = dup(fd);
    close(fd);
    int d2 = dup2(d1, 200);
    printf("dup2 to 200: %s\n", d2 == 200 ? "200" : res(d2));
    close(d1);
    printf("FD_CLOEXEC after dup2: %d\n", fcntl(200, F_GETFD) & FD_CLOEXEC ? 1 : 0);
    printf("F_GETFL access mode O_RDWR: %s\n", (fcntl(200, F_GETFL) & O_ACCMODE) == O_RDWR ? "yes" : "no");
    char c = 0;
    r = write(200, "q", 1);
    long rr = read_full(200, &c, 1);
    printf("exchange through the dup2 copy: %s\n", r == 1 && rr == 1 && c == 'Q' ? "ok" : "bad");
    printf("shutdown SHUT_RD: %s\n", res(shutdown(200, SHUT_RD)));
    r = read(200, buf, 10);
    printf("read after SHUT_RD: %s\n", r == 0 ? "EOF" : res(r));
    printf("shutdown SHUT_WR: %s\n", res(shutdown(200, SHUT_WR)));
    close(200);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: io_variants server -p PORT | client -c HOST -p PORT", server, client);
}
