/* idle_conns -c HOST -p PORT -P NPORTS -k K [-W WINDOW] [-H HOLD_MS] [-w SECS]
 * The bench's idle-connection client (`make bench`, row "idle connections"). Opens K
 * connections to HOST, connection i to port PORT + i % NPORTS (several server ports, so the
 * 4-tuples of 50,000 connections fit one client address's ephemeral port range), at most
 * WINDOW (default 512) connects in flight, sends each the 8-byte request of
 * c-tests/many_conns.c and checks its reply, so `many_conns server -p PORT+j -k K/NPORTS`
 * answers it. Once every connection is done (or failed, or no progress for 10 s) it prints
 * "held N", its own "rss_kb" (VmRSS) and "peak_rss_kb" (VmHWM) and flushes: the bench then
 * reads the stack's memory while all N are held idle for HOLD_MS (default 2000) ms. Then it
 * closes them all. Bounded by SECS (default 120, SIGALRM). Exit 0 when all K were held. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 8

struct conn { int fd; int state; int got; char buf[MSG]; };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* /proc/self/status, opened before the connections take every descriptor. */
static int status_fd = -1;

static long status_kb(const char *key) {
    static char buf[8192];
    ssize_t r = status_fd < 0 ? -1 : pread(status_fd, buf, sizeof buf - 1, 0);
    if (r <= 0) return -1;
    buf[r] = 0;
    size_t n = strlen(key);
    for (char *l = buf; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (strncmp(l, key, n) == 0 && l[n] == ':') return strtol(l + n + 1, NULL, 10);
    return -1;
}

int main(int argc, char **argv) {
    const char *host = NULL;
    long port = 0, nports = 1, k = 0, window = 512, hold_ms = 2000, secs = 120;
    int c;
    while ((c = getopt(argc, argv, "c:p:P:k:W:H:w:")) != -1) {
        switch (c) {
        case 'c': host = optarg; break;
        case 'p': port = atol(optarg); break;
        case 'P': nports = atol(optarg); break;
        case 'k': k = atol(optarg); break;
        case 'W': window = atol(optarg); break;
        case 'H': hold_ms = atol(optarg); break;
        case 'w': secs = atol(optarg); break;
        default: goto usage;
        }
    }
    if (!host || port <= 0 || nports <= 0 || port + nports > 65536 || k <= 0 || window <= 0) {
    usage:
        fprintf(stderr, "usage: idle_conns -c HOST -p PORT -P NPORTS -k K [-W WINDOW] [-H HOLD_MS] [-w SECS]\n");
        return 2;
    }
    alarm((unsigned)secs);
    status_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct sockaddr_in sa = { .sin_family = AF_INET };
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) { fprintf(stderr, "bad host %s\n", host); return 2; }
    struct conn *cs = calloc((size_t)k, sizeof *cs);
    int ep = epoll_create1(0);
    if (!cs || ep < 0) { perror("setup"); return 1; }
    long opened = 0, inflight = 0, held = 0, failed = 0, bad = 0;
    double t0 = now_s(), last = t0;
    struct epoll_event evs[256];
    while (held + failed < k) {
        while (opened < k && inflight < window) {
            struct conn *cc = &cs[opened];
            sa.sin_port = htons((uint16_t)(port + opened % nports));
            cc->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (cc->fd < 0 || (connect(cc->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)) {
                if (failed == 0) perror("socket/connect");
                if (cc->fd >= 0) close(cc->fd);
                cc->fd = -1; cc->state = 3; failed++; opened++;
                continue;
            }
            struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = (uint64_t)opened };
            if (epoll_ctl(ep, EPOLL_CTL_ADD, cc->fd, &ev) < 0) { perror("epoll_ctl"); return 1; }
            opened++; inflight++;
        }
        int n = epoll_wait(ep, evs, 256, 1000);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { perror("epoll_wait"); return 1; }
        if (n > 0) last = now_s();
        else if (now_s() - last > 10) { fprintf(stderr, "no progress for 10 s\n"); break; }
        for (int j = 0; j < n; j++) {
            uint64_t i = evs[j].data.u64;
            struct conn *cc = &cs[i];
            if (cc->state == 0) {
                int err = 0;
                socklen_t len = sizeof err;
                char req[MSG] = { 'Q', 'M', 'C', ':', (char)(i >> 24), (char)(i >> 16), (char)(i >> 8), (char)i };
                if (getsockopt(cc->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err ||
                    write(cc->fd, req, MSG) != MSG) {
                    cc->state = 3; failed++; inflight--;
                    epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL);
                    continue;
                }
                cc->state = 1;
                struct epoll_event ev = { .events = EPOLLIN, .data.u64 = i };
                epoll_ctl(ep, EPOLL_CTL_MOD, cc->fd, &ev);
            } else if (cc->state == 1) {
                ssize_t r = read(cc->fd, cc->buf + cc->got, (size_t)(MSG - cc->got));
                if (r < 0 && errno == EAGAIN) continue;
                if (r <= 0) { cc->state = 3; failed++; inflight--; epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL); continue; }
                cc->got += (int)r;
                if (cc->got < MSG) continue;
                uint32_t v = (uint32_t)(uint8_t)cc->buf[4] << 24 | (uint32_t)(uint8_t)cc->buf[5] << 16 |
                             (uint32_t)(uint8_t)cc->buf[6] << 8 | (uint32_t)(uint8_t)cc->buf[7];
                if (cc->buf[0] != 'A' || v != (uint32_t)i * 7u + 1u) bad++;
                cc->state = 2; held++; inflight--;
                epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL);
            }
        }
    }
    double t1 = now_s();
    printf("connections %ld\nheld %ld\nfailed %ld\nbad_replies %ld\n", k, held, failed + (k - held - failed), bad);
    printf("connect_secs %.2f\nrss_kb %ld\npeak_rss_kb %ld\n", t1 - t0, status_kb("VmRSS"), status_kb("VmHWM"));
    fflush(stdout);
    struct timespec ts = { hold_ms / 1000, (hold_ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
    long closed = 0;
    for (long i = 0; i < k; i++)
        if (cs[i].fd > 0 && close(cs[i].fd) == 0) closed++;
    printf("closed %ld\n", closed);
    return held == k && bad == 0 ? 0 : 1;
}
