/* ioctl_fcntl server -p PORT | ioctl_fcntl client -c HOST -p PORT
 * Every ioctl and fcntl a program uses on sockets, with the kernel's argument conventions
 * (issue 11 item 1b): FIOCLEX/FIONCLEX take no argument (NULL is fine: Python's
 * set_inheritable passes none), FIONBIO takes an int*, FIONREAD/SIOCINQ/SIOCOUTQ/SIOCOUTQNSD/
 * SIOCATMARK write an int, an unknown request is ENOTTY, a NULL result pointer is EFAULT, and
 * FIONREAD on a listener is EINVAL. fcntl: F_GETFL/F_SETFL (O_NONBLOCK, O_APPEND kept in the flags),
 * F_GETFD/F_SETFD, F_DUPFD/F_DUPFD_CLOEXEC (the copy is the same socket), F_GETOWN/F_SETOWN.
 * SIOCGSTAMP/SIOCGSTAMPNS: ENOENT on TCP and on UDP until a datagram arrived, then a recent
 * time; the IPv4 interface-address requests on AF_INET6 sockets: ENOTTY (inet6_ioctl).
 * Each result is printed as OK/value or the errno name and compared with the kernel's. */
#include "common.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *res(long r) {
    static char buf[32];
    if (r < 0) return errno_name(errno);
    snprintf(buf, sizeof buf, "OK (%ld)", r);
    return buf;
}

static int cloexec(int fd) { return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }
static int nonblock(int fd) { return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

/* The requests that take or return an int, on a socket in its current state. */
static void int_ioctls(const char *what, int fd) {
    static const struct { unsigned long req; const char *name; } reqs[] = {
        { FIONREAD, "FIONREAD" }, { SIOCOUTQ, "SIOCOUTQ" }, { SIOCOUTQNSD, "SIOCOUTQNSD" },
        { SIOCATMARK, "SIOCATMARK" },
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        int v = -7;
        long r = ioctl(fd, reqs[i].req, &v);
        if (r < 0) printf("%s: %s: %s\n", what, reqs[i].name, errno_name(errno));
        else printf("%s: %s: OK value %d\n", what, reqs[i].name, v);
    }
}

/* R(call): the call's result as text, evaluated before anything else on the line reads the
 * descriptor's state (printf's arguments have no evaluation order). */
#define SHOW(fmt, call, ...)                                                                       \
    do {                                                                                           \
        const char *r_ = res(call);                                                                \
        printf(fmt, who, r_, __VA_ARGS__);                                                         \
    } while (0)

static void common_calls(const char *who, int fd) {
    SHOW("%s: FIOCLEX with NULL: %s, FD_CLOEXEC %d\n", ioctl(fd, FIOCLEX, NULL), cloexec(fd));
    SHOW("%s: FIONCLEX with NULL: %s, FD_CLOEXEC %d\n", ioctl(fd, FIONCLEX, NULL), cloexec(fd));
    SHOW("%s: FIOCLEX with no argument: %s, FD_CLOEXEC %d\n", ioctl(fd, FIOCLEX), cloexec(fd));
    SHOW("%s: FIONCLEX with no argument: %s, FD_CLOEXEC %d\n", ioctl(fd, FIONCLEX), cloexec(fd));
    int on = 1;
    SHOW("%s: FIONBIO 1: %s, O_NONBLOCK %d\n", ioctl(fd, FIONBIO, &on), nonblock(fd));
    on = 0;
    SHOW("%s: FIONBIO 0: %s, O_NONBLOCK %d\n", ioctl(fd, FIONBIO, &on), nonblock(fd));
    SHOW("%s: FIONBIO NULL: %s%s\n", ioctl(fd, FIONBIO, NULL), "");
    SHOW("%s: FIONREAD NULL: %s%s\n", ioctl(fd, FIONREAD, NULL), "");
    SHOW("%s: unknown request 0x7801: %s%s\n", ioctl(fd, 0x7801, &on), "");
    SHOW("%s: TCGETS (not a tty): %s%s\n", ioctl(fd, 0x5401, &on), "");

    int fl = fcntl(fd, F_GETFL);
    printf("%s: F_GETFL O_RDWR %d O_NONBLOCK %d\n", who, (fl & O_ACCMODE) == O_RDWR, (fl & O_NONBLOCK) != 0);
    SHOW("%s: F_SETFL O_NONBLOCK: %s, O_NONBLOCK %d\n", fcntl(fd, F_SETFL, fl | O_NONBLOCK), nonblock(fd));
    SHOW("%s: F_SETFL 0: %s, O_NONBLOCK %d\n", fcntl(fd, F_SETFL, 0), nonblock(fd));
    SHOW("%s: F_SETFL O_APPEND: %s, F_GETFL has O_APPEND %d\n", fcntl(fd, F_SETFL, O_APPEND),
         (fcntl(fd, F_GETFL) & O_APPEND) != 0);
    fcntl(fd, F_SETFL, 0);
    SHOW("%s: F_SETFD FD_CLOEXEC: %s, F_GETFD %d\n", fcntl(fd, F_SETFD, FD_CLOEXEC), fcntl(fd, F_GETFD));
    SHOW("%s: F_SETFD 0: %s, F_GETFD %d\n", fcntl(fd, F_SETFD, 0), fcntl(fd, F_GETFD));
    SHOW("%s: F_GETOWN: %s%s\n", fcntl(fd, F_GETOWN), "");
    SHOW("%s: F_SETOWN self: %s, F_GETOWN is self %d\n", fcntl(fd, F_SETOWN, getpid()), fcntl(fd, F_GETOWN) == getpid());
    SHOW("%s: F_SETOWN 0: %s%s\n", fcntl(fd, F_SETOWN, 0), "");
}

/* F_DUPFD / F_DUPFD_CLOEXEC: a copy at or above the floor; returns it. */
static int dup_calls(const char *who, int fd) {
    int d1 = fcntl(fd, F_DUPFD, 50);
    printf("%s: F_DUPFD 50: %s, at or above 50 %d, FD_CLOEXEC %d\n", who, d1 < 0 ? errno_name(errno) : "OK",
           d1 >= 50, d1 >= 0 ? cloexec(d1) : -1);
    int d2 = fcntl(fd, F_DUPFD_CLOEXEC, 60);
    printf("%s: F_DUPFD_CLOEXEC 60: %s, at or above 60 %d, FD_CLOEXEC %d\n", who,
           d2 < 0 ? errno_name(errno) : "OK", d2 >= 60, d2 >= 0 ? cloexec(d2) : -1);
    if (d1 >= 0) close(d1);
    return d2;
}

static int server(const struct opts *o) {
    int l = tcp_listener(o->port, 4);
    common_calls("listener", l);
    int_ioctls("listener", l);
    int ld = dup_calls("listener", l);
    signal_ready(o);
    /* accept through the F_DUPFD_CLOEXEC copy: it is the same listener. */
    int c = accept(ld >= 0 ? ld : l, NULL, NULL);
    if (c < 0) DIE("accept");
    close(ld);
    char b[16];
    /* The client sends 10 bytes and waits for our 'k'. */
    if (read_full(c, b, 1) != 1) DIE("read");
    struct pollfd p = { .fd = c, .events = POLLIN };
    for (int i = 0; i < 100; i++) { /* until all 10 bytes are here */
        int v = 0;
        ioctl(c, FIONREAD, &v);
        if (v >= 9) break;
        sleep_ms(20);
    }
    poll(&p, 1, 1000);
    int_ioctls("server with 9 bytes queued", c);
    common_calls("server", c);
    if (read_full(c, b, 9) != 9) DIE("read 9");
    int_ioctls("server after reading them", c);
    if (write_all(c, "k", 1) < 0) DIE("write");
    if (read_full(c, b, 1) != 0) printf("server: expected EOF\n");
    close(c);
    close(l);
    return 0;
}

/* SIOCGSTAMP/SIOCGSTAMPNS on UDP socket `u`: ENOENT until a datagram arrived (sent to itself
 * over the loopback), then a recent time. */
static void stamp_calls(int u) {
    struct timeval tv;
    struct timespec ts;
    printf("udp: SIOCGSTAMP before any datagram: %s\n", res(ioctl(u, SIOCGSTAMP, &tv)));
    struct sockaddr_in lo;
    socklen_t l = sizeof lo;
    memset(&lo, 0, sizeof lo);
    lo.sin_family = AF_INET;
    lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(u, (struct sockaddr *)&lo, sizeof lo) < 0 || getsockname(u, (struct sockaddr *)&lo, &l) < 0) DIE("bind");
    if (sendto(u, "x", 1, 0, (struct sockaddr *)&lo, sizeof lo) != 1) DIE("sendto");
    struct pollfd p = { .fd = u, .events = POLLIN };
    poll(&p, 1, 2000);
    printf("udp: SIOCGSTAMP with a datagram queued, unread: %s\n", res(ioctl(u, SIOCGSTAMP, &tv)));
    char b[4];
    if (recv(u, b, sizeof b, 0) != 1) DIE("recv");
    long r = ioctl(u, SIOCGSTAMP, &tv);
    struct timeval now;
    gettimeofday(&now, NULL);
    printf("udp: SIOCGSTAMP after a datagram: %s, within 10 s: %s\n", res(r), r == 0 && labs(now.tv_sec - tv.tv_sec) < 10 ? "yes" : "no");
    r = ioctl(u, SIOCGSTAMPNS, &ts);
    printf("udp: SIOCGSTAMPNS: %s, nanoseconds in range: %s\n", res(r), r == 0 && ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000 ? "yes" : "no");
}

static int client(const struct opts *o) {
    int s = tcp_socket();
    common_calls("unconnected", s);
    int_ioctls("unconnected", s);
    struct sockaddr_in sa;
    make_addr(&sa, o->host, o->port);
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("connect");
    int_ioctls("connected", s);
    common_calls("connected", s);
    int d = dup_calls("connected", s);
    /* The copy is the same connection: send through it, close it, the original still works. */
    if (write_all(d, "0123456789", 10) < 0) DIE("write through the copy");
    printf("connected: write through the F_DUPFD_CLOEXEC copy: OK\n");
    close(d);
    char b[4];
    printf("connected: reply after the copy closed: %ld\n", read_full(s, b, 1));
    int_ioctls("connected, idle", s);
    {
        struct timeval tv;
        const char *who = "connected";
        SHOW("%s: SIOCGSTAMP on TCP: %s%s\n", ioctl(s, SIOCGSTAMP, &tv), "");
    }
    shutdown(s, SHUT_WR);
    printf("connected: EOF: %ld\n", read_full(s, b, 1));
    close(s);

    int u = socket(AF_INET, SOCK_DGRAM, 0);
    if (u < 0) DIE("udp socket");
    common_calls("udp", u);
    int_ioctls("udp", u);
    stamp_calls(u);
    close(u);
    /* AF_INET6 sockets: Linux's inet6_ioctl has no IPv4 interface-address requests. */
    for (int k = 0; k < 2; k++) {
        int v6 = socket(AF_INET6, k ? SOCK_DGRAM : SOCK_STREAM, 0);
        if (v6 < 0) DIE("AF_INET6 socket");
        static const struct { unsigned long req; const char *name; } ifr[] = {
            { SIOCGIFADDR, "SIOCGIFADDR" }, { SIOCGIFNETMASK, "SIOCGIFNETMASK" },
            { SIOCGIFBRDADDR, "SIOCGIFBRDADDR" }, { SIOCGIFDSTADDR, "SIOCGIFDSTADDR" },
        };
        for (size_t i = 0; i < sizeof ifr / sizeof ifr[0]; i++) {
            struct ifreq r;
            memset(&r, 0, sizeof r);
            strcpy(r.ifr_name, "lo");
            printf("AF_INET6 %s: %s of lo: %s\n", k ? "udp" : "tcp", ifr[i].name, res(ioctl(v6, ifr[i].req, &r)));
        }
        close(v6);
    }
    /* The calls on a closed descriptor: EBADF, as for any other. */
    const char *who = "closed";
    SHOW("%s: FIOCLEX: %s%s\n", ioctl(s, FIOCLEX, NULL), "");
    SHOW("%s: F_GETFL: %s%s\n", fcntl(s, F_GETFL), "");
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: ioctl_fcntl server -p PORT | client -c HOST -p PORT", server, client);
}
