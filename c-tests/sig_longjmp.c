/* sig_longjmp server -p PORT | sig_longjmp client -c HOST -p PORT
 * A signal handler that leaves a blocking socket call with siglongjmp (the classic timeout of
 * old programs: alarm + longjmp; here SIGUSR1 from a helper thread after 300 ms, SIGALRM being
 * the watchdog's) out of a blocking read, accept and connect (to an on-link
 * address nobody answers ARP for, 10.0.0.99). After each, the program goes on with socket
 * calls as if nothing happened: a new connection echoes. */
#include "common.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static sigjmp_buf jb;
static void on_usr1(int sig) {
    (void)sig;
    siglongjmp(jb, 1);
}

static int server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 8);
    signal_ready(o);
    int served = 0;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) DIE("accept");
        char c;
        long n = read_full(fd, &c, 1);
        if (n == 1 && c == 'q') {
            close(fd);
            break;
        }
        if (n == 1 && c == 'e' && write_all(fd, "E", 1) == 0) served++;
        /* 's': stay silent until the client goes away (its read is interrupted). */
        while (read_full(fd, &c, 1) == 1) {
        }
        close(fd);
    }
    printf("server: %d echoes\n", served);
    close(lfd);
    return 0;
}

/* A fresh connection that must echo. */
static const char *echo(const struct opts *o) {
    int s = tcp_connect(o->host, o->port);
    char b = 0;
    const char *r = write_all(s, "e", 1) == 0 && read_full(s, &b, 1) == 1 && b == 'E' ? "echo ok" : "echo FAILED";
    close(s);
    return r;
}

static pthread_t target;
static void *kicker(void *arg) {
    (void)arg;
    sleep_ms(300);
    pthread_kill(target, SIGUSR1);
    return NULL;
}

/* SIGUSR1 to this thread in 300 ms (joined after the jump). */
static pthread_t arm(void) {
    pthread_t t;
    target = pthread_self();
    if (pthread_create(&t, NULL, kicker, NULL) != 0) DIE("pthread_create");
    return t;
}

/* The blocking calls to leave, each on descriptor `fd`. */
static long do_read(int fd) {
    char b;
    return read(fd, &b, 1);
}
static long do_accept(int fd) { return accept(fd, NULL, NULL); }
static long do_connect(int fd) {
    struct sockaddr_in nobody;
    make_addr(&nobody, "10.0.0.99", 9);
    return connect(fd, (struct sockaddr *)&nobody, sizeof nobody);
}

/* Runs `call(fd)` until SIGUSR1's handler jumps out of it, closes `fd`, then checks that a new
 * connection echoes. */
static void jump_out(const struct opts *o, const char *what, long (*call)(int), int fd) {
    static pthread_t t;
    if (sigsetjmp(jb, 1) == 0) {
        t = arm();
        long r = call(fd);
        printf("%s: returned %ld (not interrupted)\n", what, r);
    } else {
        printf("%s: left by siglongjmp\n", what);
    }
    pthread_join(t, NULL);
    close(fd);
    printf("after %s: %s\n", what, echo(o));
}

static int client(const struct opts *o) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);

    /* 1. out of a blocking read on a connection whose peer stays silent */
    int s = tcp_connect(o->host, o->port);
    if (write_all(s, "s", 1) < 0) DIE("write");
    jump_out(o, "read", do_read, s);

    /* 2. out of a blocking accept nobody connects to */
    int l = tcp_socket();
    struct sockaddr_in any;
    make_addr(&any, NULL, 0);
    if (bind(l, (struct sockaddr *)&any, sizeof any) < 0 || listen(l, 4) < 0) DIE("listen");
    jump_out(o, "accept", do_accept, l);

    /* 3. out of a blocking connect that waits for address resolution */
    jump_out(o, "connect", do_connect, tcp_socket());

    int q = tcp_connect(o->host, o->port);
    if (write_all(q, "q", 1) < 0) DIE("write q");
    close(q);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: sig_longjmp server -p PORT | client -c HOST -p PORT", server, client);
}
