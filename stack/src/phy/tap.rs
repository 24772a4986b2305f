//! The Linux TAP device (IFF_TAP | IFF_NO_PI), opened close-on-exec and nonblocking.
