/* stdio_sendfile server -p PORT | stdio_sendfile client -c HOST -p PORT [-s SEED]
 * Calls that reach a socket without going through the socket API's entry points: stdio
 * (fdopen + fprintf/fgets/fread, whose writes and reads glibc makes internally), sendfile(2)
 * from a file and splice(2) from a pipe, in both directions. Under the shared stack a tapstack
 * socket is a real kernel descriptor (one end of a socketpair), so all of these work as on the
 * kernel's sockets; the output is the same under every stack.
 *
 * Client: fprintf LINES lines, then "END"; sendfile FILE_BYTES from a temporary file; splice
 * PIPE_BYTES through a pipe; shutdown(SHUT_WR); then fgets the server's summary and fread the
 * server's sendfile reply to the end; a file opened after fclose of a stream on a TCP and on a
 * UDP socket gets its number and reads as a file. Server: the mirror image. Both print
 * digests. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#define LINES 2000
#define FILE_BYTES (1 << 20)
#define PIPE_BYTES (256 << 10)
#define REPLY_BYTES (512 << 10)

/* A temporary file holding `len` bytes of the seeded stream; returns its descriptor at 0. */
static int temp_file(uint64_t seed, size_t len, char hex[65]) {
    char path[] = "/tmp/stdio_sendfile.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) DIE("mkstemp");
    unlink(path);
    struct rng r;
    rng_seed(&r, seed);
    char *buf = malloc(len);
    if (!buf) die("malloc", ENOMEM);
    rng_fill(&r, buf, len);
    struct sha256 c;
    sha256_init(&c);
    sha256_update(&c, buf, len);
    sha256_hex(&c, hex);
    if (write_all(fd, buf, len) < 0) DIE("write temp file");
    free(buf);
    if (lseek(fd, 0, SEEK_SET) != 0) DIE("lseek");
    return fd;
}

static void send_file(int sock, int fd, size_t len) {
    off_t off = 0;
    while ((size_t)off < len) {
        ssize_t n = sendfile(sock, fd, &off, len - (size_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) DIE("sendfile");
    }
}

/* Splices `len` bytes of the seeded stream into `sock` through a pipe. */
static void splice_bytes(int sock, uint64_t seed, size_t len, char hex[65]) {
    int p[2];
    if (pipe(p) < 0) DIE("pipe");
    struct rng r;
    rng_seed(&r, seed);
    struct sha256 c;
    sha256_init(&c);
    char buf[16384];
    size_t done = 0;
    while (done < len) {
        size_t n = len - done < sizeof buf ? len - done : sizeof buf;
        rng_fill(&r, buf, n);
        sha256_update(&c, buf, n);
        if (write_all(p[1], buf, n) < 0) DIE("write pipe");
        size_t left = n;
        while (left > 0) {
            ssize_t m = splice(p[0], NULL, sock, NULL, left, SPLICE_F_MOVE);
            if (m < 0 && errno == EINTR) continue;
            if (m <= 0) DIE("splice");
            left -= (size_t)m;
        }
        done += n;
    }
    sha256_hex(&c, hex);
    close(p[0]);
    close(p[1]);
}

/* Reads exactly `len` bytes with fread and hashes them. */
static void fread_digest(FILE *f, size_t len, char hex[65]) {
    struct sha256 c;
    sha256_init(&c);
    char buf[8192];
    size_t done = 0;
    while (done < len) {
        size_t want = len - done < sizeof buf ? len - done : sizeof buf;
        size_t n = fread(buf, 1, want, f);
        if (n == 0) die("fread: early end", ferror(f) ? errno : 0);
        sha256_update(&c, buf, n);
        done += n;
    }
    sha256_hex(&c, hex);
}

static int server(const struct opts *o) {
    int l = tcp_listener(o->port, 4);
    signal_ready(o);
    int s = accept(l, NULL, NULL);
    if (s < 0) DIE("accept");
    FILE *in = fdopen(dup(s), "r");
    if (!in) DIE("fdopen r");
    struct sha256 c;
    sha256_init(&c);
    char line[256];
    long lines = 0;
    while (fgets(line, sizeof line, in) && strcmp(line, "END\n") != 0) {
        sha256_update(&c, line, strlen(line));
        lines++;
    }
    char hex[65];
    sha256_hex(&c, hex);
    printf("server: %ld lines by fgets, sha256 %s\n", lines, hex);
    fread_digest(in, FILE_BYTES, hex);
    printf("server: %d bytes sent with sendfile, sha256 %s\n", FILE_BYTES, hex);
    fread_digest(in, PIPE_BYTES, hex);
    printf("server: %d bytes spliced from a pipe, sha256 %s\n", PIPE_BYTES, hex);
    char extra;
    printf("server: then end of stream: %s\n", fread(&extra, 1, 1, in) == 0 && feof(in) ? "yes" : "no");
    /* The reply: a summary by fprintf, then a file by sendfile. */
    FILE *out = fdopen(dup(s), "w");
    if (!out) DIE("fdopen w");
    fprintf(out, "got %ld lines\n", lines);
    fprintf(out, "sending %d bytes\n", REPLY_BYTES);
    if (fflush(out) != 0) DIE("fflush");
    int fd = temp_file(o->seed + 1, REPLY_BYTES, hex);
    send_file(s, fd, REPLY_BYTES);
    close(fd);
    fclose(out);
    fclose(in);
    close(s);
    close(l);
    fflush(stdout);
    return 0;
}

/* A file opened after fclose freed NUM1 or NUM2 (the numbers of a stream on a WHAT socket):
 * read whole, and poll says POLLIN. */
static void reopened_file(const struct opts *o, int num1, int num2, const char *what) {
    char hex[65], buf[8192], fl[128];
    int f = temp_file(o->seed + 5, 3000, hex);
    long got = read_full(f, buf, sizeof buf);
    struct pollfd p = {.fd = f, .events = POLLIN};
    int k = poll(&p, 1, 0);
    printf("client: a file on the number of a closed %s stream: %s, read %ld bytes, poll %d %s\n", what,
           f == num1 || f == num2 ? "yes" : "no", got, k, poll_flags(p.revents, fl, sizeof fl));
    close(f);
}

static int client(const struct opts *o) {
    int s = tcp_connect(o->host, o->port);
    FILE *out = fdopen(dup(s), "w");
    if (!out) DIE("fdopen w");
    struct rng r;
    rng_seed(&r, o->seed);
    struct sha256 c;
    sha256_init(&c);
    char line[128];
    for (int i = 0; i < LINES; i++) {
        int n = snprintf(line, sizeof line, "line %d %016llx\n", i, (unsigned long long)rng_next(&r));
        sha256_update(&c, line, (size_t)n);
        if (fputs(line, out) < 0) DIE("fputs");
    }
    fprintf(out, "END\n");
    if (fflush(out) != 0) DIE("fflush");
    char hex[65];
    sha256_hex(&c, hex);
    printf("client: %d lines by fprintf, sha256 %s\n", LINES, hex);
    int fd = temp_file(o->seed + 2, FILE_BYTES, hex);
    send_file(s, fd, FILE_BYTES);
    close(fd);
    printf("client: %d bytes sent with sendfile, sha256 %s\n", FILE_BYTES, hex);
    splice_bytes(s, o->seed + 3, PIPE_BYTES, hex);
    printf("client: %d bytes spliced from a pipe, sha256 %s\n", PIPE_BYTES, hex);
    if (shutdown(s, SHUT_WR) < 0) DIE("shutdown");
    FILE *in = fdopen(dup(s), "r");
    if (!in) DIE("fdopen r");
    while (fgets(line, sizeof line, in)) {
        printf("client: read by fgets: %s", line);
        if (strncmp(line, "sending", 7) == 0) break;
    }
    fread_digest(in, REPLY_BYTES, hex);
    printf("client: %d bytes by fread (the server's sendfile), sha256 %s\n", REPLY_BYTES, hex);
    int nin = fileno(in), nout = fileno(out);
    fclose(in);
    fclose(out);
    /* The numbers fclose freed (glibc closes inside libc) go to the next files: files, not
     * sockets, whether the stream wrapped a TCP or a UDP socket. */
    reopened_file(o, nin, nout, "TCP");
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    FILE *uf = u < 0 ? NULL : fdopen(u, "w");
    if (!uf) DIE("fdopen udp");
    fclose(uf);
    reopened_file(o, u, u, "UDP");
    close(s);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "stdio_sendfile server -p PORT | stdio_sendfile client -c HOST -p PORT [-s SEED]",
                    server, client);
}
