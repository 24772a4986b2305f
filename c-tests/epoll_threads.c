/* epoll_threads server -p PORT | epoll_threads client -c HOST -p PORT
 * A thread already blocked in epoll_wait sees what another thread does to the set (issue 10):
 * a socket added (listener, connection, non-blocking connect in progress), modified or deleted
 * while it waits, with the program's own epoll_data (a 64-bit value: never anything of the
 * stack's) and the right events; edge-triggered sockets report new data once and nothing
 * spurious. The set also holds a pipe that never becomes ready (mixed sets). */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAGIC_PIPE 0x70697065deadbeefULL
#define MAGIC_LISTEN 0x1111222233334444ULL
#define MAGIC_CONN 0x5555666677778888ULL
#define MAGIC_OUT 0x99990000aaaabbbbULL
#define MAGIC_RDHUP 0xccccddddeeeeffffULL
#define MAGIC_CONNECT 0x0123456789abcdefULL
#define MAGIC_GO 0xfedcba9876543210ULL

struct waiter {
    pthread_t th;
    int ep, timeout, n, err;
    struct epoll_event ev[4];
};

static void *wait_thread(void *arg) {
    struct waiter *w = arg;
    do {
        w->n = epoll_wait(w->ep, w->ev, 4, w->timeout);
    } while (w->n < 0 && errno == EINTR);
    w->err = errno;
    return NULL;
}

/* Starts a thread blocked in epoll_wait(ep, timeout) and gives it 100 ms to block. */
static void start_wait(struct waiter *w, int ep, int timeout) {
    memset(w, 0, sizeof *w);
    w->ep = ep;
    w->timeout = timeout;
    if (pthread_create(&w->th, NULL, wait_thread, w)) die("pthread_create", 0);
    sleep_ms(100);
}

static void finish_wait(struct waiter *w, const char *step, uint64_t want) {
    pthread_join(w->th, NULL);
    if (w->n < 0) { printf("%s: epoll_wait %s\n", step, errno_name(w->err)); return; }
    printf("%s: %d event(s)", step, w->n);
    for (int i = 0; i < w->n; i++) {
        char fl[128];
        uint64_t d = w->ev[i].data.u64;
        printf(" [%s, data %s]", epoll_flags(w->ev[i].events, fl, sizeof fl),
               d == want ? "ours" : d == MAGIC_PIPE ? "the pipe's" : "NOT OURS");
        if (d != want && d != MAGIC_PIPE) printf(" (0x%llx)", (unsigned long long)d);
    }
    printf("\n");
}

static void ctl(int ep, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = { .events = events, .data.u64 = data };
    if (epoll_ctl(ep, op, fd, &ev) < 0) DIE("epoll_ctl");
}

static int epoll_with_pipe(int pipefd[2]) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) DIE("epoll_create1");
    if (pipe(pipefd) < 0) DIE("pipe");
    ctl(ep, EPOLL_CTL_ADD, pipefd[0], EPOLLIN, MAGIC_PIPE);
    return ep;
}

static int server(const struct opts *o) {
    int pfd[2];
    int l = tcp_listener(o->port, 4);
    int ep = epoll_with_pipe(pfd);
    struct waiter w;
    char b[8];
    signal_ready(o);

    start_wait(&w, ep, 10000);
    ctl(ep, EPOLL_CTL_ADD, l, EPOLLIN, MAGIC_LISTEN);
    finish_wait(&w, "listener added while waiting", MAGIC_LISTEN);
    int c = accept(l, NULL, NULL);
    if (c < 0) DIE("accept");
    ctl(ep, EPOLL_CTL_DEL, l, 0, 0);

    start_wait(&w, ep, 10000);
    ctl(ep, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLET, MAGIC_CONN);
    if (write_all(c, "g", 1) < 0) DIE("write g");
    finish_wait(&w, "connection added (edge-triggered), data arrives", MAGIC_CONN);
    printf("read: %ld\n", read_full(c, b, 5));

    start_wait(&w, ep, 300);
    finish_wait(&w, "edge-triggered, nothing new", MAGIC_CONN);

    start_wait(&w, ep, 10000);
    if (write_all(c, "g", 1) < 0) DIE("write g");
    finish_wait(&w, "edge-triggered, new data", MAGIC_CONN);
    printf("read: %ld\n", read_full(c, b, 5));

    start_wait(&w, ep, 10000);
    ctl(ep, EPOLL_CTL_MOD, c, EPOLLOUT, MAGIC_OUT);
    finish_wait(&w, "modified to EPOLLOUT while waiting", MAGIC_OUT);

    ctl(ep, EPOLL_CTL_MOD, c, EPOLLIN | EPOLLET, MAGIC_CONN); /* nothing to read: quiet */
    start_wait(&w, ep, 400);
    ctl(ep, EPOLL_CTL_DEL, c, 0, 0);
    if (write_all(c, "g", 1) < 0) DIE("write g");
    finish_wait(&w, "deleted while waiting, then data", MAGIC_CONN);
    printf("read: %ld\n", read_full(c, b, 5));

    start_wait(&w, ep, 10000);
    ctl(ep, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLRDHUP, MAGIC_RDHUP);
    if (write_all(c, "e", 1) < 0) DIE("write e");
    finish_wait(&w, "added with EPOLLRDHUP, peer shuts down", MAGIC_RDHUP);
    printf("end: %ld\n", read_full(c, b, 1));
    close(c);
    close(l);
    close(ep);
    return 0;
}

static int client(const struct opts *o) {
    int pfd[2];
    int ep = epoll_with_pipe(pfd);
    struct waiter w;
    char b[8];
    struct sockaddr_in sa;
    make_addr(&sa, o->host, o->port);

    start_wait(&w, ep, 10000);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (s < 0) DIE("socket");
    int r = connect(s, (struct sockaddr *)&sa, sizeof sa);
    printf("non-blocking connect: %s\n", r < 0 ? errno_name(errno) : "connected at once");
    ctl(ep, EPOLL_CTL_ADD, s, EPOLLOUT, MAGIC_CONNECT);
    finish_wait(&w, "connecting socket added while waiting", MAGIC_CONNECT);
    int err = -1;
    socklen_t len = sizeof err;
    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
    printf("SO_ERROR: %s\n", errno_name(err));
    set_nonblock(s, 0);

    ctl(ep, EPOLL_CTL_DEL, s, 0, 0); /* writable: would wake the next wait at once */
    start_wait(&w, ep, 10000);
    ctl(ep, EPOLL_CTL_ADD, s, EPOLLIN, MAGIC_GO);
    finish_wait(&w, "added again with EPOLLIN while waiting, data arrives", MAGIC_GO);
    for (;;) {
        long n = read_full(s, b, 1);
        if (n != 1) { printf("unexpected end\n"); return 1; }
        if (b[0] == 'g') {
            if (write_all(s, "hello", 5) < 0) DIE("write");
        } else {
            break;
        }
    }
    shutdown(s, SHUT_WR);
    printf("end: %ld\n", read_full(s, b, 1));
    close(s);
    close(ep);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: epoll_threads server -p PORT | client -c HOST -p PORT", server, client);
}
