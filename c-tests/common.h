/* Helpers shared by the c-tests programs: argument parsing, socket set-up, exact I/O, a seeded
 * PRNG, SHA-256 (FIPS 180-4) and errno/poll-flag names. Plain POSIX + Linux socket API only:
 * nothing here knows about tapstack. Output that is compared between stacks must never contain
 * addresses, ports or timings. */
#ifndef CTESTS_COMMON_H
#define CTESTS_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

/* Command-line options understood by every program (each uses the ones it needs):
 *   -c HOST   connect to HOST (client role)      -l        listen (server role)
 *   -p PORT   TCP port                           -R FILE   create FILE once listening
 *   -n N      count (messages, rounds)           -k K      connections
 *   -m MIB    MiB to transfer                    -b BYTES  bytes (overrides -m)
 *   -s SEED   PRNG seed                          -M MAX    maximum message size
 *   -T SECS   duration (bench)                   -t        bench mode: print timings
 *   -w SECS   watchdog: exit(3) after SECS       -N        set TCP_NODELAY
 *   -H MS     hold time in milliseconds          -i IFACE  interface name (tap_blast) */
struct opts {
    const char *host;
    int listen;
    int port;
    const char *ready_file;
    long n;
    long k;
    long long bytes;
    uint64_t seed;
    long max_size;
    double secs;
    int timing;
    int watchdog;
    int nodelay;
    long hold_ms;
    const char *iface;
    const char *role; /* first non-option argument, e.g. "client" / "server" */
};

void opts_parse(struct opts *o, int argc, char **argv, const char *usage);
/* Parses the options and runs `server` (role "server") or `client` (role "client -c HOST"). */
int run_role(int argc, char **argv, const char *usage, int (*server)(const struct opts *),
             int (*client)(const struct opts *));

/* Fatal error: message (+ errno name if errnum != 0) on stderr, exit 2. */
void die(const char *what, int errnum);
#define DIE(what) die((what), errno)

/* Arms SIGALRM so a stuck program exits with status 3 after secs seconds (0 = off). */
void watchdog(int secs);

/* Name of an errno value ("ECONNREFUSED"), or "E?<n>" when unknown. */
const char *errno_name(int e);
/* Writes the names of the set poll bits ("POLLIN|POLLOUT", "0") into buf. */
const char *poll_flags(short revents, char *buf, size_t len);
const char *epoll_flags(uint32_t events, char *buf, size_t len);

/* Sockets. tcp_connect blocks; tcp_listener binds INADDR_ANY:port with SO_REUSEADDR. */
int tcp_socket(void);
void make_addr(struct sockaddr_in *sa, const char *host, int port);
int tcp_connect(const char *host, int port);
/* Ends `seq_fuzz server` on HOST:PORT (QUIT, then its answer): the server side of the
 * client-only programs. Their own server role is `seq_fuzz_only`: it says so and fails. */
void seq_fuzz_quit(const struct opts *o);
int seq_fuzz_only(const struct opts *o);
int tcp_listener(int port, int backlog);
/* A UDP socket bound to host:port (NULL: INADDR_ANY), with SO_REUSEADDR first if reuse. */
int udp_bound(const char *host, int port, int reuse);
/* The multicast cases' first step: receives the client's 5-byte hello on S (IP_PKTINFO on)
 * and returns its sender in CLIENT and the address it came to (IP_PKTINFO's ipi_addr: ours,
 * to join on); dies without it. */
struct in_addr recv_hello(int s, struct sockaddr_in *client);
/* A UDP server's first step: waits up to 10 s for the client's hello on S and answers "hi";
 * returns the client's address in CLIENT; dies without a hello. */
void answer_hello(int s, struct sockaddr_in *client);
/* Prints "server: NAME received:" and every datagram waiting on s (up to 200 ms for each, at most 10). */
void print_datagrams(int s, const char *name);
/* Creates the readiness file (if any) once the listener exists. */
void signal_ready(const struct opts *o);
void set_nonblock(int fd, int on);
void set_nodelay(int fd);

/* Exact I/O with EINTR handling. read_full returns bytes read (< len only at EOF), -1 on
 * error (errno set). write_all returns 0 or -1. */
long read_full(int fd, void *buf, size_t len);
int write_all(int fd, const void *buf, size_t len);

/* Raises RLIMIT_NOFILE's soft limit to the hard limit (for many connections). */
void raise_nofile(void);

/* Monotonic nanoseconds. */
uint64_t now_ns(void);
void sleep_ms(long ms);
/* Peak resident set size of this process in KiB (VmHWM), -1 if unknown. */
long peak_rss_kb(void);

/* xoshiro256** seeded by splitmix64: deterministic across machines. */
struct rng { uint64_t s[4]; };
void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
void rng_fill(struct rng *r, void *buf, size_t len);

/* SHA-256, FIPS 180-4. */
struct sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t used;
};
void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
/* Writes 64 lowercase hex digits + NUL into hex[65]. */
void sha256_hex(struct sha256 *c, char hex[65]);

/* Helpers for the summary statistics of the benchmark modes. */
int cmp_u64(const void *a, const void *b);
uint64_t percentile_u64(uint64_t *sorted, size_t n, double p);

#endif
