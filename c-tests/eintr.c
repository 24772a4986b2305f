/* eintr server -p PORT | eintr client -c HOST -p PORT
 * Blocking recv/accept/connect interrupted by a signal, as signal(7) says Linux does (issue 10,
 * signals): without SA_RESTART the call fails with EINTR; with SA_RESTART it is restarted and
 * completes later, except on a socket with a timeout (SO_RCVTIMEO for the recv calls and accept, SO_SNDTIMEO
 * for connect), where it fails with EINTR; a signal whose disposition is "ignore" (SIGWINCH's
 * default) does not interrupt at all; data that arrives after an EINTR is not lost; a connect
 * interrupted without SA_RESTART goes on in the background (a second blocking connect waits for
 * its end).
 * A helper thread sends the signal 200 ms after each call starts. Server commands: 'w' -> 'x'
 * after 600 ms; 'c' -> after 600 ms connects back to the client's PORT+1 and sends 'z'.
 * Connects go to HOST's /24 at .77, where nobody answers ARP (EHOSTUNREACH after ~3 s). */
#include "common.h"

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t handled;
static void on_sig(int sig) { (void)sig; handled++; }

static void handler(int sig, int restart) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(sig, &sa, NULL);
}

static pthread_t target;
static int kick_sig;
static void *kicker(void *arg) {
    (void)arg;
    sleep_ms(200);
    pthread_kill(target, kick_sig);
    return NULL;
}

/* Starts the helper that sends sig to this thread in 200 ms. */
static pthread_t arm(int sig) {
    pthread_t t;
    target = pthread_self();
    kick_sig = sig;
    handled = 0;
    if (pthread_create(&t, NULL, kicker, NULL)) die("pthread_create", 0);
    return t;
}

static const char *res(long r, const char *buf) {
    static char out[48];
    if (r < 0) return errno_name(errno);
    if (r == 1 && buf) snprintf(out, sizeof out, "returned '%c'", buf[0]);
    else snprintf(out, sizeof out, "returned %ld", r);
    return out;
}

static void timeo(int fd, int opt, int secs) {
    struct timeval tv = { secs, 0 };
    if (setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv) < 0) DIE("setsockopt timeout");
}

static int server(const struct opts *o) {
    int lfd = tcp_listener(o->port, 4);
    signal_ready(o);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) DIE("accept");
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    getpeername(fd, (struct sockaddr *)&peer, &len);
    long cmds = 0;
    char c;
    while (read_full(fd, &c, 1) == 1) {
        cmds++;
        sleep_ms(600);
        if (c == 'w') {
            if (write_all(fd, "x", 1) < 0) DIE("write");
        } else if (c == 'c') {
            peer.sin_port = htons((uint16_t)(o->port + 1));
            int s = tcp_socket();
            if (connect(s, (struct sockaddr *)&peer, sizeof peer) < 0) DIE("connect back");
            if (write_all(s, "z", 1) < 0) DIE("write z");
            close(s);
        }
    }
    printf("server: %ld commands\n", cmds);
    close(fd);
    close(lfd);
    return 0;
}

static int client(const struct opts *o) {
    int s = tcp_connect(o->host, o->port);
    char b[8];
    long r;
    pthread_t t;

    handler(SIGUSR1, 0);
    t = arm(SIGUSR1);
    r = recv(s, b, 1, 0);
    pthread_join(t, NULL);
    printf("recv, no SA_RESTART: %s, handler ran %d\n", res(r, b), (int)handled);

    handler(SIGUSR1, 1);
    if (write(s, "w", 1) != 1) DIE("write w");
    t = arm(SIGUSR1);
    r = recv(s, b, 1, 0);
    pthread_join(t, NULL);
    printf("recv, SA_RESTART: %s, handler ran %d\n", res(r, b), (int)handled);

    timeo(s, SO_RCVTIMEO, 5);
    struct iovec iov = { b, 1 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    t = arm(SIGUSR1);
    r = recvmsg(s, &mh, 0);
    pthread_join(t, NULL);
    printf("recvmsg, SA_RESTART with SO_RCVTIMEO: %s, handler ran %d\n", res(r, b), (int)handled);
    timeo(s, SO_RCVTIMEO, 0);

    /* SIGWINCH with its default disposition (ignore): nothing is interrupted. */
    signal(SIGWINCH, SIG_DFL);
    if (write(s, "w", 1) != 1) DIE("write w");
    t = arm(SIGWINCH);
    r = recv(s, b, 1, 0);
    pthread_join(t, NULL);
    printf("recv, ignored signal: %s, handler ran %d\n", res(r, b), (int)handled);

    /* EINTR first, then the answer that comes later is still there. */
    handler(SIGUSR1, 0);
    if (write(s, "w", 1) != 1) DIE("write w");
    t = arm(SIGUSR1);
    r = recvfrom(s, b, 1, 0, NULL, NULL);
    pthread_join(t, NULL);
    printf("recvfrom, no SA_RESTART: %s, handler ran %d\n", res(r, b), (int)handled);
    r = recv(s, b, 1, 0);
    printf("recv after the EINTR: %s\n", res(r, b));

    /* poll is never restarted (signal(7)): EINTR even with SA_RESTART; the answer stays. */
    handler(SIGUSR1, 1);
    if (write(s, "w", 1) != 1) DIE("write w");
    t = arm(SIGUSR1);
    struct pollfd pf = { .fd = s, .events = POLLIN };
    r = poll(&pf, 1, 5000);
    pthread_join(t, NULL);
    printf("poll, SA_RESTART: %s, handler ran %d\n", res(r, NULL), (int)handled);
    r = recv(s, b, 1, 0);
    printf("recv after the poll: %s\n", res(r, b));

    /* epoll_wait likewise (never restarted). */
    int ep = epoll_create1(0);
    struct epoll_event ee = { .events = EPOLLIN, .data.fd = s };
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s, &ee) < 0) DIE("epoll");
    if (write(s, "w", 1) != 1) DIE("write w");
    t = arm(SIGUSR1);
    r = epoll_wait(ep, &ee, 1, 5000);
    pthread_join(t, NULL);
    printf("epoll_wait, SA_RESTART: %s, handler ran %d\n", res(r, NULL), (int)handled);
    r = epoll_wait(ep, &ee, 1, 5000);
    printf("epoll_wait again: %s\n", res(r, NULL));
    r = recv(s, b, 1, 0);
    printf("recv after the epoll_wait: %s\n", res(r, b));
    close(ep);
    handler(SIGUSR1, 0);

    /* accept on our PORT+1; the server connects back 600 ms after 'c'. */
    int l = tcp_listener(o->port + 1, 4);
    t = arm(SIGUSR1);
    r = accept(l, NULL, NULL);
    pthread_join(t, NULL);
    printf("accept, no SA_RESTART: %s, handler ran %d\n", r < 0 ? errno_name(errno) : "a connection", (int)handled);
    if (r >= 0) close((int)r);
    handler(SIGUSR1, 1);
    if (write(s, "c", 1) != 1) DIE("write c");
    t = arm(SIGUSR1);
    r = accept(l, NULL, NULL);
    pthread_join(t, NULL);
    printf("accept, SA_RESTART: %s, handler ran %d\n", r < 0 ? errno_name(errno) : "a connection", (int)handled);
    if (r >= 0) {
        long n = read_full((int)r, b, 2);
        printf("accepted connection: %ld byte(s) '%c' then EOF\n", n, n > 0 ? b[0] : '-');
        close((int)r);
    }
    timeo(l, SO_RCVTIMEO, 5);
    t = arm(SIGUSR1);
    r = accept(l, NULL, NULL);
    pthread_join(t, NULL);
    printf("accept, SA_RESTART with SO_RCVTIMEO: %s, handler ran %d\n", r < 0 ? errno_name(errno) : "a connection",
           (int)handled);
    close(l);

    /* connect to an address nobody answers (ARP fails after about 3 s). */
    struct sockaddr_in absent;
    make_addr(&absent, o->host, o->port);
    absent.sin_addr.s_addr = htonl((ntohl(absent.sin_addr.s_addr) & 0xffffff00u) | 77);
    handler(SIGUSR1, 0);
    int c = tcp_socket();
    t = arm(SIGUSR1);
    r = connect(c, (struct sockaddr *)&absent, sizeof absent);
    pthread_join(t, NULL);
    printf("connect, no SA_RESTART: %s, handler ran %d\n", res(r, NULL), (int)handled);
    r = connect(c, (struct sockaddr *)&absent, sizeof absent);
    printf("connect again (blocks until the first attempt ends): %s\n", res(r, NULL));
    close(c);
    handler(SIGUSR1, 1);
    c = tcp_socket();
    timeo(c, SO_SNDTIMEO, 10); /* bounds a stack that never gives up; Linux then never restarts */
    t = arm(SIGUSR1);
    r = connect(c, (struct sockaddr *)&absent, sizeof absent);
    pthread_join(t, NULL);
    printf("connect, SA_RESTART with SO_SNDTIMEO: %s, handler ran %d\n", res(r, NULL), (int)handled);
    close(c);
    c = tcp_socket();
    t = arm(SIGUSR1);
    r = connect(c, (struct sockaddr *)&absent, sizeof absent);
    pthread_join(t, NULL);
    printf("connect, SA_RESTART: %s, handler ran %d\n", res(r, NULL), (int)handled);
    close(c);

    if (shutdown(s, SHUT_WR) < 0) DIE("shutdown");
    r = read_full(s, b, 1);
    printf("end: %s\n", r == 0 ? "EOF" : "unexpected");
    close(s);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: eintr server -p PORT | client -c HOST -p PORT", server, client);
}
