/* signals server -p PORT | signals client -c HOST -p PORT
 * A signal arriving while a socket call blocks (signal(7)): without SA_RESTART read() fails
 * with EINTR; with SA_RESTART it is restarted and returns the data that comes later; a socket
 * with SO_RCVTIMEO set is not restarted (EINTR); poll() and epoll_wait() always fail with EINTR;
 * accept() without SA_RESTART fails with EINTR. A helper thread sends SIGUSR1 to the blocked
 * thread 200 ms after each call starts; the server answers 'w' with 'x' only after 600 ms. */
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t handled;
static void on_usr1(int sig) { (void)sig; handled++; }

static void handler(int restart) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGUSR1, &sa, NULL);
}

static pthread_t target;
static void *kicker(void *arg) {
    (void)arg;
    sleep_ms(200);
    pthread_kill(target, SIGUSR1);
    return NULL;
}

/* Starts the helper that interrupts this thread in 200 ms. */
static pthread_t arm(void) {
    pthread_t t;
    target = pthread_self();
    handled = 0;
    if (pthread_create(&t, NULL, kicker, NULL)) die("pthread_create", 0);
    return t;
}

static const char *res(long r) {
    static char buf[32];
    if (r < 0) return errno_name(errno);
    snprintf(buf, sizeof buf, "returned %ld", r);
    return buf;
}

static int server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 4);
    signal_ready(o);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) DIE("accept");
    long cmds = 0;
    for (;;) {
        char c;
        long n = read_full(fd, &c, 1);
        if (n != 1) break;
        cmds++;
        if (c == 'w') { sleep_ms(600); if (write_all(fd, "x", 1) < 0) DIE("write"); }
    }
    printf("server: %ld commands\n", cmds);
    close(fd);
    close(lfd);
    return 0;
}

static int client(const struct opts *o) {
    int s = tcp_connect(o->host, o->port);
    char b[8];
    pthread_t t;

    handler(0);
    t = arm();
    long r = read(s, b, 1);
    pthread_join(t, NULL);
    printf("read, no SA_RESTART: %s, handler ran %d\n", res(r), (int)handled);

    handler(1);
    if (write(s, "w", 1) != 1) DIE("write w");
    t = arm();
    r = read(s, b, 1);
    pthread_join(t, NULL);
    printf("read, SA_RESTART: %s, handler ran %d\n", res(r), (int)handled);

    struct timeval tv = { 5, 0 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    t = arm();
    r = read(s, b, 1);
    pthread_join(t, NULL);
    printf("read, SA_RESTART with SO_RCVTIMEO: %s, handler ran %d\n", res(r), (int)handled);
    tv.tv_sec = 0;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

    struct pollfd p = { .fd = s, .events = POLLIN };
    t = arm();
    r = poll(&p, 1, 5000);
    pthread_join(t, NULL);
    printf("poll, SA_RESTART: %s, handler ran %d\n", res(r), (int)handled);

    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 1 }, out[2];
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    t = arm();
    r = epoll_wait(ep, out, 2, 5000);
    pthread_join(t, NULL);
    printf("epoll_wait, SA_RESTART: %s, handler ran %d\n", res(r), (int)handled);
    close(ep);

    handler(0);
    int l = tcp_socket();
    struct sockaddr_in any;
    make_addr(&any, NULL, 0);
    if (bind(l, (struct sockaddr *)&any, sizeof any) < 0 || listen(l, 4) < 0) DIE("listen");
    t = arm();
    r = accept(l, NULL, NULL);
    pthread_join(t, NULL);
    printf("accept, no SA_RESTART: %s, handler ran %d\n", res(r), (int)handled);
    close(l);

    if (shutdown(s, SHUT_WR) < 0) DIE("shutdown");
    r = read_full(s, b, 1);
    printf("end: %s\n", r == 0 ? "EOF" : "unexpected");
    close(s);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: signals server -p PORT | client -c HOST -p PORT", server, client);
}
