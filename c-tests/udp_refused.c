/* udp_refused HOST PORT: PORT on HOST has no UDP socket.
 *  1. A connected UDP socket sends one datagram; the ICMP port unreachable that comes back
 *     must surface as ECONNREFUSED on the next recv() (poll reports it readable/POLLERR).
 *  2. An unconnected socket sendto()s the same port: the ICMP error must NOT be reported to
 *     it (Linux without IP_RECVERR, RFC 1122 4.1.3.3 leaves it to the application).
 *  3. A connected socket that only sends: the error fails its next send (Linux's sock_error
 *     in sock_alloc_send_pskb; that datagram is not sent) and the one after succeeds; again,
 *     then SO_ERROR reads the error once.
 * Prints one line per case; exit 0 if both behave as Linux does. Self-contained. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *refused_errname(int e) {
    switch (e) {
    case ECONNREFUSED: return "ECONNREFUSED";
    case EAGAIN: return "EAGAIN";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case 0: return "none";
    default: return strerror(e);
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: udp_refused HOST PORT\n");
        return 2;
    }
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &peer.sin_addr) != 1) {
        fprintf(stderr, "udp_refused: %s is not an IPv4 address\n", argv[1]);
        return 2;
    }
    int ok = 1;
    char buf[64];

    /* Case 1: connected. */
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&peer, sizeof peer) < 0) {
        perror("udp_refused: socket/connect");
        return 2;
    }
    int err = 0;
    for (int attempt = 0; attempt < 3 && err != ECONNREFUSED; attempt++) {
        if (send(c, "ping", 4, 0) < 0) {
            err = errno; /* a pending error may already be reported by send */
            break;
        }
        struct pollfd p = {.fd = c, .events = POLLIN};
        int r = poll(&p, 1, 2000);
        if (r > 0) {
            ssize_t n = recv(c, buf, sizeof buf, MSG_DONTWAIT);
            err = n < 0 ? errno : 0;
            printf("connected: poll revents%s%s, recv -> %s\n", (p.revents & POLLIN) ? " POLLIN" : "",
                   (p.revents & POLLERR) ? " POLLERR" : "", n < 0 ? refused_errname(err) : "data");
        }
    }
    printf("connected socket: %s\n", refused_errname(err));
    if (err != ECONNREFUSED) ok = 0;
    /* The error is reported once. */
    ssize_t n = recv(c, buf, sizeof buf, MSG_DONTWAIT);
    if (!(n < 0 && errno == EAGAIN)) {
        printf("connected socket: second recv should be EAGAIN, got %s\n", n < 0 ? refused_errname(errno) : "data");
        ok = 0;
    }
    close(c);

    /* Case 2: unconnected. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    if (u < 0) {
        perror("udp_refused: socket");
        return 2;
    }
    if (sendto(u, "ping", 4, 0, (struct sockaddr *)&peer, sizeof peer) < 0) {
        printf("unconnected sendto: %s\n", refused_errname(errno));
        ok = 0;
    }
    struct pollfd p = {.fd = u, .events = POLLIN};
    int r = poll(&p, 1, 1500);
    n = recvfrom(u, buf, sizeof buf, MSG_DONTWAIT, NULL, NULL);
    int e2 = n < 0 ? errno : 0;
    printf("unconnected socket: poll %d, recvfrom -> %s\n", r, n < 0 ? refused_errname(e2) : "data");
    if (!(r == 0 && n < 0 && e2 == EAGAIN)) ok = 0;
    close(u);

    /* Case 3: a sender only. */
    int s3 = socket(AF_INET, SOCK_DGRAM, 0);
    if (s3 < 0 || connect(s3, (struct sockaddr *)&peer, sizeof peer) < 0) {
        perror("udp_refused: socket/connect");
        return 2;
    }
    const char *got[3];
    for (int i = 0; i < 3; i++) {
        got[i] = send(s3, "ping", 4, 0) < 0 ? refused_errname(errno) : "sent";
        usleep(300000);
    }
    printf("sender: send, send, send -> %s, %s, %s\n", got[0], got[1], got[2]);
    if (strcmp(got[1], "ECONNREFUSED") != 0 || strcmp(got[2], "sent") != 0) ok = 0;
    int so = -1, so2 = -1;
    socklen_t sl = sizeof so;
    getsockopt(s3, SOL_SOCKET, SO_ERROR, &so, &sl);
    getsockopt(s3, SOL_SOCKET, SO_ERROR, &so2, &sl);
    printf("sender: SO_ERROR %s, then %s\n", refused_errname(so), refused_errname(so2));
    if (so != ECONNREFUSED || so2 != 0) ok = 0;
    close(s3);
    printf("%s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
