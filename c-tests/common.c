/* Shared helpers for the c-tests programs; see common.h. */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---- options ---------------------------------------------------------------------------- */

static long parse_long(const char *s, const char *usage) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (errno || *end || end == s) {
        fprintf(stderr, "bad number '%s'\n%s\n", s, usage);
        exit(2);
    }
    return v;
}

void opts_parse(struct opts *o, int argc, char **argv, const char *usage) {
    /* Line-buffered: whatever was printed survives a watchdog exit, for the diff. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(o, 0, sizeof *o);
    o->port = 7000;
    o->n = -1;
    o->k = -1;
    o->bytes = -1;
    o->seed = 1;
    o->max_size = -1;
    o->secs = -1;
    o->watchdog = 60;
    o->hold_ms = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == 0 || a[2] != 0) {
            if (!o->role && a[0] != '-') { o->role = a; continue; }
            fprintf(stderr, "unexpected argument '%s'\n%s\n", a, usage);
            exit(2);
        }
        char f = a[1];
        if (f == 'l') { o->listen = 1; continue; }
        if (f == 't') { o->timing = 1; continue; }
        if (f == 'N') { o->nodelay = 1; continue; }
        if (i + 1 >= argc) { fprintf(stderr, "option -%c needs a value\n%s\n", f, usage); exit(2); }
        const char *v = argv[++i];
        switch (f) {
        case 'c': o->host = v; break;
        case 'p': o->port = (int)parse_long(v, usage); break;
        case 'R': o->ready_file = v; break;
        case 'n': o->n = parse_long(v, usage); break;
        case 'k': o->k = parse_long(v, usage); break;
        case 'm': o->bytes = (long long)parse_long(v, usage) << 20; break;
        case 'b': o->bytes = parse_long(v, usage); break;
        case 's': o->seed = (uint64_t)parse_long(v, usage); break;
        case 'M': o->max_size = parse_long(v, usage); break;
        case 'T': o->secs = atof(v); break;
        case 'w': o->watchdog = (int)parse_long(v, usage); break;
        case 'H': o->hold_ms = parse_long(v, usage); break;
        case 'i': o->iface = v; break;
        default: fprintf(stderr, "unknown option -%c\n%s\n", f, usage); exit(2);
        }
    }
    watchdog(o->watchdog);
}

void die(const char *what, int errnum) {
    if (errnum)
        fprintf(stderr, "fatal: %s: %s (%s)\n", what, errno_name(errnum), strerror(errnum));
    else
        fprintf(stderr, "fatal: %s\n", what);
    fflush(stdout);
    exit(2);
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "fatal: watchdog expired\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(3);
}

void watchdog(int secs) {
    if (secs <= 0) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)secs);
}

/* ---- names ------------------------------------------------------------------------------ */

#define E(x) { x, #x }
static const struct { int v; const char *n; } errnames[] = {
    E(EPERM), E(ENOENT), E(EINTR), E(EIO), E(EBADF), E(EAGAIN), E(ENOMEM), E(EACCES),
    E(EFAULT), E(EBUSY), E(EEXIST), E(ENODEV), E(EINVAL), E(ENFILE), E(EMFILE), E(ENOSPC),
    E(EPIPE), E(ERANGE), E(ENOSYS), E(ENOTSOCK), E(EDESTADDRREQ), E(EMSGSIZE), E(EPROTOTYPE), E(EPROTO),
    E(ENOPROTOOPT), E(EPROTONOSUPPORT), E(ESOCKTNOSUPPORT), E(EOPNOTSUPP), E(EPFNOSUPPORT),
    E(EAFNOSUPPORT), E(EADDRINUSE), E(EADDRNOTAVAIL), E(ENETDOWN), E(ENETUNREACH),
    E(ENETRESET), E(ECONNABORTED), E(ECONNRESET), E(ENOBUFS), E(EISCONN), E(ENOTCONN),
    E(ESHUTDOWN), E(ETIMEDOUT), E(ECONNREFUSED), E(EHOSTDOWN), E(EHOSTUNREACH), E(EALREADY),
    E(EINPROGRESS), E(ENOTTY), E(ESPIPE), E(ENXIO),
};
#undef E

const char *errno_name(int e) {
    static char unknown[24];
    if (e == 0) return "OK";
    for (size_t i = 0; i < sizeof errnames / sizeof errnames[0]; i++)
        if (errnames[i].v == e) return errnames[i].n;
    snprintf(unknown, sizeof unknown, "E?%d", e);
    return unknown;
}

static void append_flag(char *buf, size_t len, const char *name) {
    size_t used = strlen(buf);
    snprintf(buf + used, len - used, "%s%s", used ? "|" : "", name);
}

const char *poll_flags(short revents, char *buf, size_t len) {
    static const struct { short v; const char *n; } f[] = {
        { POLLIN, "POLLIN" }, { POLLPRI, "POLLPRI" }, { POLLOUT, "POLLOUT" },
        { POLLRDHUP, "POLLRDHUP" }, { POLLERR, "POLLERR" }, { POLLHUP, "POLLHUP" },
        { POLLNVAL, "POLLNVAL" },
    };
    buf[0] = 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (revents & f[i].v) append_flag(buf, len, f[i].n);
    /* POLLRDNORM/POLLWRNORM etc. are not requested by our programs and so never reported. */
    if (!buf[0]) snprintf(buf, len, "0");
    return buf;
}

const char *epoll_flags(uint32_t events, char *buf, size_t len) {
    static const struct { uint32_t v; const char *n; } f[] = {
        { EPOLLIN, "EPOLLIN" }, { EPOLLPRI, "EPOLLPRI" }, { EPOLLOUT, "EPOLLOUT" },
        { EPOLLRDHUP, "EPOLLRDHUP" }, { EPOLLERR, "EPOLLERR" }, { EPOLLHUP, "EPOLLHUP" },
    };
    buf[0] = 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (events & f[i].v) append_flag(buf, len, f[i].n);
    if (!buf[0]) snprintf(buf, len, "0");
    return buf;
}

/* ---- sockets ---------------------------------------------------------------------------- */

int tcp_socket(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) DIE("socket");
    return fd;
}

void make_addr(struct sockaddr_in *sa, const char *host, int port) {
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (!host) {
        sa->sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
        fprintf(stderr, "fatal: '%s' is not an IPv4 address\n", host);
        exit(2);
    }
}

int tcp_connect(const char *host, int port) {
    struct sockaddr_in sa;
    make_addr(&sa, host, port);
    int fd = tcp_socket();
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("connect");
    return fd;
}

void seq_fuzz_quit(const struct opts *o) {
    int q = tcp_connect(o->host, o->port);
    char b;
    if (write(q, "QUIT", 4) != 4) DIE("quit");
    if (read(q, &b, 1) < 0) DIE("quit");
    close(q);
}

int seq_fuzz_only(const struct opts *o) {
    (void)o;
    fprintf(stderr, "the server side of this program is `seq_fuzz server`\n");
    return 2;
}

int tcp_listener(int port, int backlog) {
    struct sockaddr_in sa;
    make_addr(&sa, NULL, port);
    int fd = tcp_socket();
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) DIE("SO_REUSEADDR");
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("bind");
    if (listen(fd, backlog) < 0) DIE("listen");
    return fd;
}

int udp_bound(const char *host, int port, int reuse) {
    struct sockaddr_in sa;
    make_addr(&sa, host, port);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) DIE("socket");
    int one = 1;
    if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) DIE("SO_REUSEADDR");
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("bind");
    return fd;
}

struct in_addr recv_hello(int s, struct sockaddr_in *client) {
    char buf[64], cbuf[256];
    struct iovec io = { buf, sizeof buf - 1 };
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_name = client;
    m.msg_namelen = sizeof *client;
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    if (recvmsg(s, &m, 0) != 5) die("no hello", errno);
    struct in_addr me = { 0 };
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
        if (h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_PKTINFO) me = ((struct in_pktinfo *)CMSG_DATA(h))->ipi_addr;
    return me;
}

void signal_ready(const struct opts *o) {
    if (!o->ready_file) return;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", o->ready_file);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) DIE("open ready file");
    close(fd);
    if (rename(tmp, o->ready_file) < 0) DIE("rename ready file");
}

void set_nonblock(int fd, int on) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) DIE("F_GETFL");
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    if (fcntl(fd, F_SETFL, fl) < 0) DIE("F_SETFL");
}

void set_nodelay(int fd) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) DIE("TCP_NODELAY");
}

long read_full(int fd, void *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long)got;
}

int write_all(int fd, const void *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t r = write(fd, (const char *)buf + done, len - done);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        done += (size_t)r;
    }
    return 0;
}

void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sleep_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

long peak_rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

/* ---- PRNG: splitmix64 seeding xoshiro256** ---------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(struct rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void rng_fill(struct rng *r, void *buf, size_t len) {
    uint8_t *p = buf;
    while (len >= 8) {
        uint64_t v = rng_next(r);
        memcpy(p, &v, 8);
        p += 8;
        len -= 8;
    }
    if (len) {
        uint64_t v = rng_next(r);
        memcpy(p, &v, len);
    }
}

/* ---- SHA-256 (FIPS 180-4 section 6.2) ----------------------------------------------------- */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(struct sha256 *c, const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3];
    uint32_t e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = h + S1 + ch + K256[i] + w[i];
        uint32_t S0 = ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22);
        uint32_t maj = (a & b) ^ (a & cc) ^ (b & cc);
        uint32_t t2 = S0 + maj;
        h = g; g = f; f = e; e = d + t1; d = cc; cc = b; b = a; a = t1 + t2;
    }
    c->h[0] += a; c->h[1] += b; c->h[2] += cc; c->h[3] += d;
    c->h[4] += e; c->h[5] += f; c->h[6] += g; c->h[7] += h;
}

void sha256_init(struct sha256 *c) {
    static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(c->h, iv, sizeof iv);
    c->len = 0;
    c->used = 0;
}

void sha256_update(struct sha256 *c, const void *data, size_t len) {
    const uint8_t *p = data;
    c->len += len;
    if (c->used) {
        size_t take = 64 - c->used < len ? 64 - c->used : len;
        memcpy(c->buf + c->used, p, take);
        c->used += take; p += take; len -= take;
        if (c->used < 64) return;
        sha256_block(c, c->buf);
        c->used = 0;
    }
    while (len >= 64) { sha256_block(c, p); p += 64; len -= 64; }
    memcpy(c->buf, p, len);
    c->used = len;
}

void sha256_hex(struct sha256 *c, char hex[65]) {
    uint64_t bits = c->len * 8;
    uint8_t pad = 0x80;
    sha256_update(c, &pad, 1);
    uint8_t zero = 0;
    while (c->used != 56) sha256_update(c, &zero, 1);
    uint8_t lenbe[8];
    for (int i = 0; i < 8; i++) lenbe[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(c, lenbe, 8);
    for (int i = 0; i < 8; i++) snprintf(hex + 8 * i, 9, "%08x", c->h[i]);
    hex[64] = 0;
}

/* ---- statistics ------------------------------------------------------------------------- */

int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t percentile_u64(uint64_t *sorted, size_t n, double p) {
    if (n == 0) return 0;
    size_t idx = (size_t)(p * (double)(n - 1) + 0.5);
    if (idx >= n) idx = n - 1;
    return sorted[idx];
}

int run_role(int argc, char **argv, const char *usage, int (*server)(const struct opts *),
             int (*client)(const struct opts *)) {
    struct opts o;
    opts_parse(&o, argc, argv, usage);
    if (o.role && o.role[0] == 's') return server(&o);
    if (o.role && o.role[0] == 'c' && o.host) return client(&o);
    die("role must be 'server' or 'client -c HOST'", 0);
    return 2;
}

void answer_hello(int s, struct sockaddr_in *client) {
    char buf[64];
    socklen_t cl = sizeof *client;
    struct pollfd p = { s, POLLIN, 0 };
    if (poll(&p, 1, 10000) != 1 || recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)client, &cl) < 0)
        die("no hello", errno);
    if (sendto(s, "hi", 2, 0, (struct sockaddr *)client, cl) != 2) DIE("hi");
}

void print_datagrams(int s, const char *name) {
    char buf[64];
    printf("server: %s received:", name);
    for (int i = 0; i < 10; i++) {
        struct pollfd p = { s, POLLIN, 0 };
        if (poll(&p, 1, 200) != 1) break;
        long n = recv(s, buf, sizeof buf - 1, 0);
        if (n < 0) DIE("recv");
        buf[n] = 0;
        printf(" '%s'", buf);
    }
    printf("\n");
}
