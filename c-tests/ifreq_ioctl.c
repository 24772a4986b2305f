/* ifreq_ioctl server -p PORT | ifreq_ioctl client -c HOST -p PORT
 * The interface-address ioctls of netdevice(7) on a listener, a connected TCP socket and a UDP
 * socket, as a program finds its own interface: SIOCGIFADDR on each name of if_nameindex()
 * until one holds the socket's local address (getsockname), then SIOCGIFNETMASK (the peer is
 * in that subnet), SIOCGIFBRDADDR, SIOCGIFINDEX, and SIOCGIFCONF listing the same address when
 * the kernel lists the interface at all. Also lo (127.0.0.1, 255.0.0.0), an unknown name
 * (ENODEV) and a NULL argument (EFAULT). A tapstack socket is an AF_UNIX socketpair end, on
 * which Linux answers the address requests with ENOTTY: Java's NetworkInterface showed the
 * TAP with prefix 0 and busybox ifconfig no address. Addresses are printed only as relations
 * (the topologies use different ones).
 * SIOCGARP (arp(7)) on that interface: the peer's entry (resolved, an Ethernet address), none
 * for an address never used (ENXIO), and Linux's errors (no or an unknown device ENODEV, an
 * IPv6 address EPFNOSUPPORT, ATF_NETMASK without ATF_PUBL EINVAL).
 */
#include "common.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* ioctl REQ on s for interface NAME; the IPv4 address of the answer, or -1 with errno. */
static int ifaddr(int s, unsigned long req, const char *name, struct in_addr *out) {
    struct ifreq r;
    memset(&r, 0, sizeof r);
    snprintf(r.ifr_name, sizeof r.ifr_name, "%s", name);
    if (ioctl(s, req, &r) < 0) return -1;
    if (r.ifr_addr.sa_family != AF_INET) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    *out = ((struct sockaddr_in *)&r.ifr_addr)->sin_addr;
    return 0;
}

/* SIOCGARP of ADDR on interface DEV (family FAM, flags FLAGS) on s: "OK ..." or the errno. */
static const char *arp(int s, const char *dev, int fam, in_addr_t addr, int flags) {
    static char out[96];
    struct arpreq r;
    memset(&r, 0, sizeof r);
    r.arp_pa.sa_family = (sa_family_t)fam;
    ((struct sockaddr_in *)&r.arp_pa)->sin_addr.s_addr = addr;
    r.arp_flags = flags;
    snprintf(r.arp_dev, sizeof r.arp_dev, "%s", dev);
    if (ioctl(s, SIOCGARP, &r) < 0) return errno_name(errno);
    static const unsigned char zero[6];
    snprintf(out, sizeof out, "OK, flags%s%s, hardware %s, address %s, device %s", r.arp_flags & ATF_COM ? " ATF_COM" : "",
             r.arp_flags & ATF_PERM ? " ATF_PERM" : "", r.arp_ha.sa_family == ARPHRD_ETHER ? "Ethernet" : "other",
             memcmp(r.arp_ha.sa_data, zero, 6) ? "set" : "zero", strcmp(r.arp_dev, dev) ? "changed" : "kept");
    return out;
}

/* The address relations of socket s (peer: the other side's address, or 0.0.0.0). */
static void report(const char *who, int s, struct in_addr peer) {
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    if (getsockname(s, (struct sockaddr *)&me, &ml) < 0) DIE("getsockname");
    struct in_addr a, mask, brd;
    char found[IF_NAMESIZE + 1] = "";
    struct if_nameindex *ni = if_nameindex();
    for (struct if_nameindex *p = ni; p && p->if_index; p++)
        if (ifaddr(s, SIOCGIFADDR, p->if_name, &a) == 0 && a.s_addr == me.sin_addr.s_addr) {
            snprintf(found, sizeof found, "%s", p->if_name);
            break;
        }
    if (ni) if_freenameindex(ni);
    printf("%s: SIOCGIFADDR finds an interface with my address: %s\n", who, found[0] ? "yes" : "no");
    if (found[0]) {
        int m = ifaddr(s, SIOCGIFNETMASK, found, &mask);
        printf("%s: SIOCGIFNETMASK: %s, peer in my subnet: %s\n", who, m < 0 ? errno_name(errno) : "OK",
               m < 0 ? "-" : peer.s_addr == 0 ? "no peer" :
               ((peer.s_addr ^ me.sin_addr.s_addr) & mask.s_addr) == 0 ? "yes" : "no");
        printf("%s: SIOCGIFBRDADDR: %s\n", who, ifaddr(s, SIOCGIFBRDADDR, found, &brd) < 0 ? errno_name(errno) : "OK");
        struct ifreq r;
        memset(&r, 0, sizeof r);
        snprintf(r.ifr_name, sizeof r.ifr_name, "%s", found);
        int ix = ioctl(s, SIOCGIFINDEX, &r);
        printf("%s: SIOCGIFINDEX is if_nametoindex: %s\n", who,
               ix < 0 ? errno_name(errno) : (unsigned)r.ifr_ifindex == if_nametoindex(found) ? "yes" : "no");
        /* SIOCGIFCONF: the interface, if listed, with my address. */
        struct ifreq rs[32];
        struct ifconf c = { .ifc_len = sizeof rs, .ifc_req = rs };
        if (ioctl(s, SIOCGIFCONF, &c) < 0) {
            printf("%s: SIOCGIFCONF: %s\n", who, errno_name(errno));
        } else {
            const char *v = "not listed";
            for (int i = 0; i < c.ifc_len / (int)sizeof rs[0]; i++)
                if (strcmp(rs[i].ifr_name, found) == 0 && !strcmp(v, "not listed"))
                    v = ((struct sockaddr_in *)&rs[i].ifr_addr)->sin_addr.s_addr == me.sin_addr.s_addr
                            ? "my address" : "another address";
            /* The kernel lists only interfaces with an IPv4 address: "not listed" is as good. */
            printf("%s: SIOCGIFCONF shows my interface with: %s\n", who,
                   strcmp(v, "another address") == 0 ? v : "my address or nothing");
        }
        if (peer.s_addr) {
            in_addr_t unused = (peer.s_addr & mask.s_addr) | htonl(99);
            printf("%s: SIOCGARP peer: %s\n", who, arp(s, found, AF_INET, peer.s_addr, 0));
            printf("%s: SIOCGARP unused address: %s\n", who, arp(s, found, AF_INET, unused, 0));
            printf("%s: SIOCGARP no device: %s\n", who, arp(s, "", AF_INET, peer.s_addr, 0));
            printf("%s: SIOCGARP nosuch0: %s\n", who, arp(s, "nosuch0", AF_INET, peer.s_addr, 0));
            printf("%s: SIOCGARP AF_INET6: %s\n", who, arp(s, found, AF_INET6, peer.s_addr, 0));
            printf("%s: SIOCGARP ATF_NETMASK: %s\n", who, arp(s, found, AF_INET, peer.s_addr, ATF_NETMASK));
            printf("%s: SIOCGARP NULL: %s\n", who, ioctl(s, SIOCGARP, NULL) < 0 ? errno_name(errno) : "OK");
        }
    }
    int r = ifaddr(s, SIOCGIFADDR, "lo", &a);
    int e = errno;
    int r2 = ifaddr(s, SIOCGIFNETMASK, "lo", &mask);
    int e2 = errno;
    char sa[INET_ADDRSTRLEN] = "-", sm[INET_ADDRSTRLEN] = "-";
    if (r == 0) inet_ntop(AF_INET, &a, sa, sizeof sa);
    if (r2 == 0) inet_ntop(AF_INET, &mask, sm, sizeof sm);
    printf("%s: lo: %s %s, %s %s\n", who, r < 0 ? errno_name(e) : "OK", sa, r2 < 0 ? errno_name(e2) : "OK", sm);
    printf("%s: SIOCGIFADDR nosuch0: %s\n", who, ifaddr(s, SIOCGIFADDR, "nosuch0", &a) < 0 ? errno_name(errno) : "OK");
    printf("%s: SIOCGIFNETMASK NULL: %s\n", who, ioctl(s, SIOCGIFNETMASK, NULL) < 0 ? errno_name(errno) : "OK");
}

static int server(const struct opts *o) {
    int l = tcp_listener(o->port, 4);
    signal_ready(o);
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    int c = accept(l, (struct sockaddr *)&peer, &pl);
    if (c < 0) DIE("accept");
    struct in_addr none = { 0 };
    report("listener", l, none);
    report("server", c, peer.sin_addr);
    if (write_all(c, "k", 1) < 0) DIE("write");
    char b;
    read_full(c, &b, 1);
    close(c);
    close(l);
    return 0;
}

static int client(const struct opts *o) {
    struct sockaddr_in sa;
    make_addr(&sa, o->host, o->port);
    int s = tcp_connect(o->host, o->port);
    char b;
    if (read_full(s, &b, 1) != 1) DIE("read");
    report("client", s, sa.sin_addr);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    if (u < 0) DIE("udp socket");
    if (connect(u, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("udp connect");
    report("udp", u, sa.sin_addr);
    close(u);
    close(s);
    return 0;
}

int main(int argc, char **argv) {
    return run_role(argc, argv, "usage: ifreq_ioctl server -p PORT | ifreq_ioctl client -c HOST -p PORT", server,
                    client);
}
