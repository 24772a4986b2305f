/* streams -c HOST -p PORT -k K -d up|down [-m MIB] [-w SECS]
 * The bench's parallel bulk client (`make bench`, rows "8 parallel streams"): K threads, thread
 * i connected to PORT + i. "up": each sends MIB MiB, shuts its sending side and reads to EOF
 * (`bulk_recv -l` closes after it read everything, so the data has arrived); "down": each reads
 * to EOF from `bulk_send -l -m MIB`. Prints the aggregate "mib_per_s X" from the moment every
 * stream is connected to the moment the last one is done. Bounded by SECS (default 120). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *host;
static long port, k, mib = 64;
static int up;
static pthread_barrier_t bar;
static double t_start;
static long long total[64];
static int failed;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg) {
    long i = (long)arg;
    static char zero[262144];
    char *buf = malloc(262144);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(port + i)) };
    inet_pton(AF_INET, host, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok = buf && fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (!ok) { perror("connect"); __atomic_store_n(&failed, 1, __ATOMIC_SEQ_CST); }
    pthread_barrier_wait(&bar);
    if (i == 0) t_start = now_s();
    if (!ok) return NULL;
    if (up) {
        long long left = (long long)mib << 20;
        while (left > 0) {
            ssize_t w = write(fd, zero, left < (long long)sizeof zero ? (size_t)left : sizeof zero);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) { perror("write"); failed = 1; break; }
            left -= w; total[i] += w;
        }
        shutdown(fd, SHUT_WR);
    }
    for (;;) {
        ssize_t r = read(fd, buf, 262144);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { perror("read"); failed = 1; break; }
        if (r == 0) break;
        if (!up) total[i] += r;
    }
    close(fd);
    free(buf);
    return NULL;
}

int main(int argc, char **argv) {
    long secs = 120;
    int c;
    const char *dir = NULL;
    while ((c = getopt(argc, argv, "c:p:k:d:m:w:")) != -1) {
        switch (c) {
        case 'c': host = optarg; break;
        case 'p': port = atol(optarg); break;
        case 'k': k = atol(optarg); break;
        case 'd': dir = optarg; break;
        case 'm': mib = atol(optarg); break;
        case 'w': secs = atol(optarg); break;
        default: goto usage;
        }
    }
    if (!host || port <= 0 || k <= 0 || k > 64 || mib <= 0 || !dir || (strcmp(dir, "up") && strcmp(dir, "down"))) {
    usage:
        fprintf(stderr, "usage: streams -c HOST -p PORT -k K(<=64) -d up|down [-m MIB] [-w SECS]\n");
        return 2;
    }
    up = strcmp(dir, "up") == 0;
    alarm((unsigned)secs);
    pthread_t th[64];
    pthread_barrier_init(&bar, NULL, (unsigned)k);
    for (long i = 0; i < k; i++) pthread_create(&th[i], NULL, run, (void *)i);
    for (long i = 0; i < k; i++) pthread_join(th[i], NULL);
    double t = now_s() - t_start;
    long long sum = 0;
    for (long i = 0; i < k; i++) sum += total[i];
    printf("streams %ld bytes %lld\n", k, sum);
    printf("mib_per_s %.1f\n", t > 0 ? (double)sum / 1048576.0 / t : 0.0);
    return failed || sum != k * ((long long)mib << 20) ? 1 : 0;
}
