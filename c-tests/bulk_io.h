/* Shared by bulk_send and bulk_recv: the connection is made by either end (-c HOST connects,
 * -l listens and accepts one connection), independently of the direction of the data. */
#ifndef CTESTS_BULK_IO_H
#define CTESTS_BULK_IO_H
#include "common.h"

#include <unistd.h>

static inline int bulk_open(const struct opts *o) {
    if (o->listen) {
        int lfd = tcp_listener(o->port, 4);
        signal_ready(o);
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) DIE("accept");
        close(lfd);
        return fd;
    }
    if (!o->host) die("need -c HOST or -l", 0);
    return tcp_connect(o->host, o->port);
}
#endif
