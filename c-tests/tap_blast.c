/* tap_blast -i TAP [-T SECS] [-b FRAME_BYTES]: the raw ceiling of a TAP device. Attaches to
 * the (existing, up) TAP device and writes MTU-sized Ethernet/IPv4/UDP frames in a tight loop
 * for SECS seconds (default 1), then prints frames/s and MiB/s. The frames are addressed to a
 * MAC nobody owns, so the kernel drops them at the IP layer: the figure is what one writer
 * can push through the device, the bound for any stack behind it. Run it inside a namespace. */
#include "common.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static uint16_t csum(const uint8_t *p, size_t n) {
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1) s += (uint32_t)p[n - 1] << 8;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

int main(int argc, char **argv) {
    struct opts o;
    opts_parse(&o, argc, argv, "usage: tap_blast -i TAP [-T SECS] [-b FRAME_BYTES]");
    if (!o.iface) die("-i TAP is required", 0);
    double secs = o.secs > 0 ? o.secs : 1.0;
    size_t flen = o.bytes > 0 ? (size_t)o.bytes : 1514;
    if (flen < 60 || flen > 9000) die("frame size must be 60..9000", 0);
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) DIE("open /dev/net/tun");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", o.iface);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) DIE("TUNSETIFF");

    static uint8_t f[9000];
    memset(f, 0, sizeof f);
    static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 0x99 }, src[6] = { 0x02, 0, 0, 0, 0, 0x98 };
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = 0x08; f[13] = 0x00;
    uint8_t *ip = f + 14;
    size_t iplen = flen - 14;
    ip[0] = 0x45; ip[2] = (uint8_t)(iplen >> 8); ip[3] = (uint8_t)iplen;
    ip[8] = 64; ip[9] = 17;
    ip[12] = 10; ip[13] = 0; ip[14] = 0; ip[15] = 98;
    ip[16] = 10; ip[17] = 0; ip[18] = 0; ip[19] = 99;
    uint16_t c = csum(ip, 20);
    ip[10] = (uint8_t)(c >> 8); ip[11] = (uint8_t)c;
    uint8_t *udp = ip + 20;
    size_t ulen = iplen - 20;
    udp[0] = 0x30; udp[1] = 0x39; udp[2] = 0x00; udp[3] = 0x09;
    udp[4] = (uint8_t)(ulen >> 8); udp[5] = (uint8_t)ulen;

    uint64_t t0 = now_ns(), limit = (uint64_t)(secs * 1e9), elapsed = 0;
    long long frames = 0, errors = 0;
    for (;;) {
        for (int i = 0; i < 256; i++) {
            if (write(fd, f, flen) == (ssize_t)flen) frames++;
            else errors++;
        }
        elapsed = now_ns() - t0;
        if (elapsed >= limit) break;
    }
    close(fd);
    double s = (double)elapsed / 1e9;
    printf("frames %lld errors %lld\n", frames, errors);
    printf("frames_per_s %.0f\nmib_per_s %.1f\n", frames / s, (double)frames * (double)flen / 1048576.0 / s);
    return frames > 0 ? 0 : 1;
}
