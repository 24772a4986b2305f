/* res_client [state]: libc's raw DNS calls (resolver(3)) against the nameserver of
 * /etc/resolv.conf (search test), each result on one line: the length or -1 with h_errno, the
 * rcode, and the answer records (MX, TXT, A, SRV); gethostbyaddr(_r); getaddrinfo_a (GAI_WAIT,
 * and GAI_NOWAIT with gai_suspend and a SIGEV_THREAD notification). With "state": the nameserver is set in the
 * program's resolver state (_res.nsaddr_list: 10.0.0.1) instead, and one TXT query is made. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, int n, const unsigned char *ans) {
    if (n < 0) {
        printf("%s: -1 h_errno %d\n", what, h_errno);
        return;
    }
    ns_msg m;
    if (ns_initparse(ans, n, &m) < 0) {
        printf("%s: %d bytes, unparsable\n", what, n);
        return;
    }
    printf("%s: rcode %d answers %d", what, ns_msg_getflag(m, ns_f_rcode), ns_msg_count(m, ns_s_an));
    for (int i = 0; i < ns_msg_count(m, ns_s_an); i++) {
        ns_rr rr;
        if (ns_parserr(&m, ns_s_an, i, &rr) < 0) break;
        const unsigned char *d = ns_rr_rdata(rr);
        char name[NS_MAXDNAME];
        switch (ns_rr_type(rr)) {
        case ns_t_a: printf(" A %s", inet_ntop(AF_INET, d, name, sizeof name)); break;
        case ns_t_txt: printf(" TXT \"%.*s\"", d[0], (const char *)d + 1); break;
        case ns_t_mx:
            ns_name_uncompress(ns_msg_base(m), ns_msg_end(m), d + 2, name, sizeof name);
            printf(" MX %d %s", ns_get16(d), name);
            break;
        case ns_t_srv:
            ns_name_uncompress(ns_msg_base(m), ns_msg_end(m), d + 6, name, sizeof name);
            printf(" SRV %d %d %d %s", ns_get16(d), ns_get16(d + 2), ns_get16(d + 4), name);
            break;
        default: printf(" type %d", ns_rr_type(rr));
        }
    }
    printf("\n");
}

static volatile int notes;
static void notified(union sigval v) {
    (void)v;
    notes++;
}

static const char *gerr(int e) { return e == 0 ? "ok" : gai_strerror(e); }

/* The first IPv4 address of a getaddrinfo result. */
static const char *show_ai(const struct addrinfo *ai) {
    static char b[INET_ADDRSTRLEN];
    if (!ai) return "none";
    return inet_ntop(AF_INET, &((const struct sockaddr_in *)ai->ai_addr)->sin_addr, b, sizeof b);
}

int main(int argc, char **argv) {
    unsigned char ans[4096], q[512];
    if (res_init() != 0) { printf("res_init failed\n"); return 1; }
    if (argc > 1 && strcmp(argv[1], "state") == 0) {
        _res.nscount = 1;
        _res.nsaddr_list[0].sin_family = AF_INET;
        _res.nsaddr_list[0].sin_port = htons(53);
        inet_pton(AF_INET, "10.0.0.1", &_res.nsaddr_list[0].sin_addr);
        show("state res_query txt.test TXT", res_query("txt.test", C_IN, T_TXT, ans, sizeof ans), ans);
        return 0;
    }
    show("res_query mx.test MX", res_query("mx.test", C_IN, T_MX, ans, sizeof ans), ans);
    show("res_query txt.test TXT", res_query("txt.test", C_IN, T_TXT, ans, sizeof ans), ans);
    show("res_query _ldap._tcp.test SRV", res_query("_ldap._tcp.test", C_IN, T_SRV, ans, sizeof ans), ans);
    show("res_search seven A", res_search("seven", C_IN, T_A, ans, sizeof ans), ans);
    show("res_query seven A", res_query("seven", C_IN, T_A, ans, sizeof ans), ans);
    show("res_querydomain seven test A", res_querydomain("seven", "test", C_IN, T_A, ans, sizeof ans), ans);
    show("res_query nope.test A", res_query("nope.test", C_IN, T_A, ans, sizeof ans), ans);
    show("res_query seven.test MX", res_query("seven.test", C_IN, T_MX, ans, sizeof ans), ans);
    int ql = res_mkquery(QUERY, "txt.test", C_IN, T_TXT, NULL, 0, NULL, q, sizeof q);
    show("res_send txt.test TXT", res_send(q, ql, ans, sizeof ans), ans);
    ql = res_mkquery(QUERY, "nope.test", C_IN, T_A, NULL, 0, NULL, q, sizeof q);
    show("res_send nope.test A", res_send(q, ql, ans, sizeof ans), ans);
    struct __res_state st;
    memset(&st, 0, sizeof st);
    if (res_ninit(&st) != 0) { printf("res_ninit failed\n"); return 1; }
    show("res_nsearch mx MX", res_nsearch(&st, "mx", C_IN, T_MX, ans, sizeof ans), ans);
    res_nclose(&st);
    /* gethostbyaddr: the PTR record (glibc's looks it up inside libc too). */
    struct in_addr a7, a99;
    inet_pton(AF_INET, "10.0.0.7", &a7);
    inet_pton(AF_INET, "10.0.0.99", &a99);
    struct hostent *he = gethostbyaddr(&a7, sizeof a7, AF_INET);
    printf("gethostbyaddr 10.0.0.7: %s\n", he ? he->h_name : "none");
    he = gethostbyaddr(&a99, sizeof a99, AF_INET);
    printf("gethostbyaddr 10.0.0.99: %s h_errno %d\n", he ? he->h_name : "none", he ? 0 : h_errno);
    struct hostent hb, *hr = NULL;
    char hbuf[1024];
    int herr = 0;
    int rr = gethostbyaddr_r(&a7, sizeof a7, AF_INET, &hb, hbuf, sizeof hbuf, &hr, &herr);
    printf("gethostbyaddr_r 10.0.0.7: %d %s\n", rr, hr ? hr->h_name : "none");
    /* getaddrinfo_a: one list waited for, one resolved in the background (gai_suspend, then a
     * SIGEV_THREAD notification). */
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    struct gaicb g1 = {.ar_name = "seven.test", .ar_request = &hints}, g2 = {.ar_name = "mail.test", .ar_request = &hints},
                 g3 = {.ar_name = "nope.test", .ar_request = &hints};
    struct gaicb *wait_list[] = {&g1, NULL, &g3};
    int r = getaddrinfo_a(GAI_WAIT, wait_list, 3, NULL);
    printf("getaddrinfo_a GAI_WAIT: %d; seven.test %s %s; nope.test %s\n", r, gerr(gai_error(&g1)),
           show_ai(g1.ar_result), gerr(gai_error(&g3)));
    struct gaicb *bg[] = {&g2};
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = notified;
    r = getaddrinfo_a(GAI_NOWAIT, bg, 1, &sev);
    struct timespec tmo = {10, 0};
    const struct gaicb *const *susp = (const struct gaicb *const *)bg;
    /* 0 after waiting, or EAI_ALLDONE when the lookup was done before the call: a race. */
    int sr = gai_suspend(susp, 1, &tmo);
    for (int i = 0; i < 1000 && !notes; i++) usleep(10000);
    printf("getaddrinfo_a GAI_NOWAIT: %d; gai_suspend %s; mail.test %s %s; notified %d\n", r,
           sr == 0 || sr == EAI_ALLDONE ? "done" : gerr(sr), gerr(gai_error(&g2)), show_ai(g2.ar_result), notes);
    printf("gai_suspend of a finished request: %s\n", gai_suspend(susp, 1, &tmo) == EAI_ALLDONE ? "EAI_ALLDONE" : "other");
    printf("gai_cancel of a finished request: %s\n", gai_cancel(&g2) == EAI_ALLDONE ? "EAI_ALLDONE" : "other");
    freeaddrinfo(g1.ar_result);
    freeaddrinfo(g2.ar_result);
    int n = res_query("txt.test", C_IN, T_TXT, ans, 20);
    printf("res_query into 20 bytes: %d, TC %d\n", n, n >= 3 ? (ans[2] & 2) != 0 : -1);
    return 0;
}
