//! `libtapstack_preload.so`: interposes the libc socket API so unmodified programs get their
//! AF_INET sockets from tapstack. One file per family of intercepted calls (like torsocks).
