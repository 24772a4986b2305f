/* sig_reenter server -p PORT | sig_reenter client -c HOST -p PORT
 * Socket calls from a signal handler that interrupts socket calls. POSIX lists socket, bind,
 * getsockname, setsockopt, getsockopt and close among the async-signal-safe functions
 * (signal-safety(7)), so a SIGALRM handler may call them while the interrupted code is inside
 * the same calls. A thread sends the client's main thread SIGUSR1 every ~50 us; the handler
 * makes, binds, queries and closes a socket and looks at the client's connection (an AF_INET
 * socket with a local address), while the main loop does the same and round-trips a byte over
 * that connection every 100 turns. Nothing may hang (the watchdog ends a stuck run),
 * fail, or change errno across the handler. */
#include "common.h"

#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t handled, failed, running = 1;
static pthread_t target;
static int conn = -1;

/* One socket's life: socket, bind to an ephemeral port, getsockname, setsockopt, close. */
static int cycle(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int one = 1, r = 0;
    make_addr(&a, NULL, 0);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) r = -1;
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0 || a.sin_port == 0) r = -1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) r = -1;
    if (close(fd) < 0) r = -1;
    return r;
}

/* The connection seen from the handler: an AF_INET stream socket with its local address. */
static int check_conn(void) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int dom = 0;
    socklen_t dl = sizeof dom;
    if (getsockname(conn, (struct sockaddr *)&a, &len) < 0 || a.sin_family != AF_INET || a.sin_port == 0) return -1;
    if (getsockopt(conn, SOL_SOCKET, SO_DOMAIN, &dom, &dl) < 0 || dom != AF_INET) return -1;
    return 0;
}

static void on_usr1(int sig) {
    (void)sig;
    int saved = errno;
    if (cycle() < 0) failed++;
    if (conn >= 0 && check_conn() < 0) failed++;
    handled++;
    errno = saved;
}

static void *kicker(void *arg) {
    (void)arg;
    struct timespec ts = { 0, 50000 };
    while (running) {
        pthread_kill(target, SIGUSR1);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static int server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 4);
    signal_ready(o);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) DIE("accept");
    long n = 0;
    char c;
    while (read_full(fd, &c, 1) == 1) {
        if (write_all(fd, &c, 1) < 0) DIE("write");
        n++;
    }
    printf("server: echoed %ld bytes\n", n);
    close(fd);
    close(lfd);
    return 0;
}

static int client(const struct opts *o) {
    /* The signals start before the first socket call (under tapstack that one may start the
     * shared service). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    target = pthread_self();
    pthread_t k;
    if (pthread_create(&k, NULL, kicker, NULL) != 0) DIE("pthread_create");
    int s = tcp_connect(o->host, o->port);
    conn = s;
    int loops = 3000, bad = 0, echoes = 0;
    for (int i = 0; i < loops; i++) {
        if (cycle() < 0) bad++;
        if (i % 100 == 0) {
            char c = 'a' + i % 26, back = 0;
            if (write_all(s, &c, 1) < 0 || read_full(s, &back, 1) != 1 || back != c) bad++;
            else echoes++;
        }
    }
    running = 0;
    pthread_join(k, NULL);
    printf("loops: %d, failed in the loop: %d, echoes: %d\n", loops, bad, echoes);
    printf("handler ran: %s, failed in the handler: %d\n", handled > 0 ? "yes" : "no", (int)failed);
    if (shutdown(s, SHUT_WR) < 0) DIE("shutdown");
    char b;
    printf("end: %s\n", read_full(s, &b, 1) == 0 ? "EOF" : "unexpected");
    close(s);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: sig_reenter server -p PORT | client -c HOST -p PORT", server, client);
}
