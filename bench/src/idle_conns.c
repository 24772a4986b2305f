/* idle_conns -c HOST -p PORT -P NPORTS -k K [-W WINDOW] [-H HOLD_MS] [-R] [-w SECS]
 * The bench's idle-connection client (`make bench`, row "idle connections"; tests/net/t_42).
 * Opens K connections to HOST, connection i to port PORT + i % NPORTS (several server ports, so
 * the 4-tuples of 50,000 connections fit one client address's ephemeral port range), at most
 * WINDOW (default 512) connects in flight per process, sends each the 8-byte request of
 * c-tests/many_conns.c and checks its reply, so `many_conns server -p PORT+j -k K/NPORTS`
 * answers it. One process holds at most its RLIMIT_NOFILE less 64 connections: K beyond that
 * is split over as many processes as needed (the same split for every stack), all forked
 * before any connects. Once every connection is done (or failed, or no progress for 10 s) it
 * prints "held N", "processes P", the processes' summed "rss_kb" (VmRSS) and "peak_rss_kb"
 * (VmHWM) and flushes: the bench then reads the stack's memory while all N are held idle for
 * HOLD_MS (default 2000) ms. With -R each held connection then carries a second request and
 * its reply ("second_ok N": connections idle that long still carry data). Then it closes them
 * all ("closed N"). Bounded by SECS (default 120, SIGALRM). Exit 0 when all K were held (and
 * with -R all answered again). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG 8

struct conn { int fd; int state; int got; char buf[MSG]; };
/* What one process reports: after connecting, and after the second round and the close. */
struct part { long held, failed, bad, rss_kb, peak_kb, second_ok, closed; double secs, second_secs; };

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

static void encode(char *b, char tag, uint32_t v) {
    b[0] = tag; b[1] = 'M'; b[2] = 'C'; b[3] = ':';
    b[4] = (char)(v >> 24); b[5] = (char)(v >> 16); b[6] = (char)(v >> 8); b[7] = (char)v;
}
static uint32_t decode(const char *b) {
    return (uint32_t)(uint8_t)b[4] << 24 | (uint32_t)(uint8_t)b[5] << 16 | (uint32_t)(uint8_t)b[6] << 8 |
           (uint32_t)(uint8_t)b[7];
}

static int full_io(int fd, void *p, size_t n, int wr) {
    for (size_t d = 0; d < n;) {
        ssize_t r = wr ? write(fd, (char *)p + d, n - d) : read(fd, (char *)p + d, n - d);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        d += (size_t)r;
    }
    return 0;
}

/* Connections lo..hi-1 (their index names the request and the server port). */
static void connect_all(struct conn *cs, long lo, long hi, struct sockaddr_in sa, long port, long nports,
                        long window, int ep, struct part *r) {
    long opened = lo, inflight = 0;
    double t0 = now_s(), last = t0;
    struct epoll_event evs[256];
    while (r->held + r->failed < hi - lo) {
        while (opened < hi && inflight < window) {
            struct conn *cc = &cs[opened - lo];
            sa.sin_port = htons((uint16_t)(port + opened % nports));
            cc->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (cc->fd < 0 || (connect(cc->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)) {
                if (r->failed == 0) perror("socket/connect");
                if (cc->fd >= 0) close(cc->fd);
                cc->fd = -1; cc->state = 3; r->failed++; opened++;
                continue;
            }
            struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = (uint64_t)opened };
            if (epoll_ctl(ep, EPOLL_CTL_ADD, cc->fd, &ev) < 0) { perror("epoll_ctl"); exit(1); }
            opened++; inflight++;
        }
        int n = epoll_wait(ep, evs, 256, 1000);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { perror("epoll_wait"); exit(1); }
        if (n > 0) last = now_s();
        else if (now_s() - last > 10) { fprintf(stderr, "no progress for 10 s\n"); break; }
        for (int j = 0; j < n; j++) {
            uint64_t i = evs[j].data.u64;
            struct conn *cc = &cs[i - (uint64_t)lo];
            if (cc->state == 0) {
                int err = 0;
                socklen_t len = sizeof err;
                char req[MSG];
                encode(req, 'Q', (uint32_t)i);
                if (getsockopt(cc->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err ||
                    write(cc->fd, req, MSG) != MSG) {
                    cc->state = 3; r->failed++; inflight--;
                    epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL);
                    continue;
                }
                cc->state = 1;
                struct epoll_event ev = { .events = EPOLLIN, .data.u64 = i };
                epoll_ctl(ep, EPOLL_CTL_MOD, cc->fd, &ev);
            } else if (cc->state == 1) {
                ssize_t rd = read(cc->fd, cc->buf + cc->got, (size_t)(MSG - cc->got));
                if (rd < 0 && errno == EAGAIN) continue;
                if (rd <= 0) { cc->state = 3; r->failed++; inflight--; epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL); continue; }
                cc->got += (int)rd;
                if (cc->got < MSG) continue;
                if (cc->buf[0] != 'A' || decode(cc->buf) != (uint32_t)i * 7u + 1u) r->bad++;
                cc->state = 2; r->held++; inflight--;
                epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL);
            }
        }
    }
    r->failed = (hi - lo) - r->held;
    r->secs = now_s() - t0;
    r->rss_kb = status_kb("VmRSS");
    r->peak_kb = status_kb("VmHWM");
}

/* After the hold: request K + i on every held connection i, each reply checked. */
static long second_round(struct conn *cs, long lo, long hi, long k, int ep) {
    long pending = 0, ok = 0;
    for (long i = lo; i < hi; i++) {
        struct conn *cc = &cs[i - lo];
        if (cc->state != 2) continue;
        char req[MSG];
        encode(req, 'Q', (uint32_t)(i + k));
        cc->got = 0;
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
        if (write(cc->fd, req, MSG) != MSG || epoll_ctl(ep, EPOLL_CTL_ADD, cc->fd, &ev) < 0) continue;
        pending++;
    }
    struct epoll_event evs[256];
    while (pending > 0) {
        int n = epoll_wait(ep, evs, 256, 10000);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { fprintf(stderr, "second round: %ld replies missing\n", pending); break; }
        for (int j = 0; j < n; j++) {
            long i = (long)evs[j].data.u64;
            struct conn *cc = &cs[i - lo];
            ssize_t rd = read(cc->fd, cc->buf + cc->got, (size_t)(MSG - cc->got));
            if (rd < 0 && errno == EAGAIN) continue;
            if (rd > 0) cc->got += (int)rd;
            if (rd <= 0 || cc->got == MSG) {
                if (rd > 0 && cc->buf[0] == 'A' && decode(cc->buf) == (uint32_t)(i + k) * 7u + 1u) ok++;
                pending--;
                epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL);
            }
        }
    }
    return ok;
}

int main(int argc, char **argv) {
    const char *host = NULL;
    long port = 0, nports = 1, k = 0, window = 512, hold_ms = 2000, secs = 120;
    int c, again = 0;
    while ((c = getopt(argc, argv, "c:p:P:k:W:H:Rw:")) != -1) {
        switch (c) {
        case 'c': host = optarg; break;
        case 'p': port = atol(optarg); break;
        case 'P': nports = atol(optarg); break;
        case 'k': k = atol(optarg); break;
        case 'W': window = atol(optarg); break;
        case 'H': hold_ms = atol(optarg); break;
        case 'R': again = 1; break;
        case 'w': secs = atol(optarg); break;
        default: goto usage;
        }
    }
    if (!host || port <= 0 || nports <= 0 || port + nports > 65536 || k <= 0 || window <= 0) {
    usage:
        fprintf(stderr, "usage: idle_conns -c HOST -p PORT -P NPORTS -k K [-W WINDOW] [-H HOLD_MS] [-R] [-w SECS]\n");
        return 2;
    }
    alarm((unsigned)secs);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    long per = (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) ? (long)rl.rlim_cur - 64 : k;
    if (per < 1) per = 1;
    long nproc = (k + per - 1) / per;
    per = (k + nproc - 1) / nproc;
    struct sockaddr_in sa = { .sin_family = AF_INET };
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) { fprintf(stderr, "bad host %s\n", host); return 2; }
    int res[2], go[2];
    if (pipe(res) < 0 || pipe(go) < 0) { perror("pipe"); return 1; }
    pid_t *kids = calloc((size_t)nproc, sizeof *kids);
    for (long p = 0; p < nproc; p++) {
        long lo = p * per, hi = lo + per < k ? lo + per : k;
        kids[p] = fork();
        if (kids[p] < 0) { perror("fork"); return 1; }
        if (kids[p] > 0) continue;
        close(res[0]); close(go[1]);
        alarm((unsigned)secs);
        status_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        struct conn *cs = calloc((size_t)(hi - lo), sizeof *cs);
        int ep = epoll_create1(0);
        if (!cs || ep < 0) { perror("setup"); _exit(1); }
        struct part r = { 0 };
        connect_all(cs, lo, hi, sa, port, nports, window, ep, &r);
        char b;
        if (full_io(res[1], &r, sizeof r, 1) < 0 || full_io(go[0], &b, 1, 0) < 0) _exit(1);
        double t2 = now_s();
        r.second_ok = again ? second_round(cs, lo, hi, k, ep) : 0;
        r.second_secs = now_s() - t2;
        for (long i = 0; i < hi - lo; i++)
            if (cs[i].fd > 0 && close(cs[i].fd) == 0) r.closed++;
        if (full_io(res[1], &r, sizeof r, 1) < 0) _exit(1);
        _exit(0);
    }
    close(res[1]); close(go[0]);
    struct part sum = { 0 }, r;
    for (long p = 0; p < nproc; p++) {
        if (full_io(res[0], &r, sizeof r, 0) < 0) { fprintf(stderr, "a client process died\n"); return 1; }
        sum.held += r.held; sum.failed += r.failed; sum.bad += r.bad;
        sum.rss_kb += r.rss_kb; sum.peak_kb += r.peak_kb;
        if (r.secs > sum.secs) sum.secs = r.secs;
    }
    printf("connections %ld\nprocesses %ld\nheld %ld\nfailed %ld\nbad_replies %ld\n", k, nproc, sum.held, sum.failed, sum.bad);
    printf("connect_secs %.2f\nrss_kb %ld\npeak_rss_kb %ld\n", sum.secs, sum.rss_kb, sum.peak_kb);
    fflush(stdout);
    struct timespec ts = { hold_ms / 1000, (hold_ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
    for (long p = 0; p < nproc; p++) if (full_io(go[1], "g", 1, 1) < 0) return 1;
    long second = 0, closed = 0;
    double second_secs = 0;
    for (long p = 0; p < nproc; p++) {
        if (full_io(res[0], &r, sizeof r, 0) < 0) { fprintf(stderr, "a client process died\n"); return 1; }
        second += r.second_ok; closed += r.closed;
        if (r.second_secs > second_secs) second_secs = r.second_secs;
    }
    int st, bad_exit = 0;
    for (long p = 0; p < nproc; p++)
        if (waitpid(kids[p], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad_exit = 1;
    if (again) printf("second_ok %ld\nsecond_secs %.2f\n", second, second_secs);
    printf("closed %ld\n", closed);
    return !bad_exit && sum.held == k && sum.bad == 0 && (!again || second == sum.held) ? 0 : 1;
}
