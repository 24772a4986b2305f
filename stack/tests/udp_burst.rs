//! A burst of datagrams larger than a socket's receive queue, all waiting on the device at
//! once (a kernel sender fills the TAP while the service is busy elsewhere): a poll must hand
//! the first ones over before it takes in more than the queue holds (`stack.rs`,
//! `UDP_RX_BATCH`). The test plays the service: it drains the socket after every poll.
mod common;

use std::net::SocketAddrV4;

use common::{stack_pair, B_IP};
use tapstack::error::Error;
use tapstack::phy::link::Link;

const N: usize = 300;
const SIZE: usize = 1400;

fn payload(i: usize) -> Vec<u8> {
    (0..SIZE).map(|k| (i * 31 + k) as u8).collect()
}

#[test]
fn a_burst_waiting_on_the_device_is_handed_over_in_parts_without_loss() {
    let mut sim = stack_pair(Link::new(1500, None, None), 5);
    let dst = SocketAddrV4::new(B_IP, 5001);
    let rx = sim.b.stack.udp.socket();
    sim.b.stack.udp.bind(rx, dst.into()).unwrap();
    let tx = sim.a.stack.udp.socket();
    let mut buf = vec![0u8; 2048];
    // ARP first: one datagram through, both polling.
    sim.a.stack.udp.send_to(tx, b"hello", Some(dst.into())).unwrap();
    let ok = sim.run_until(tapstack::time::Duration::from_secs(1), |s| {
        s.b.stack.udp.recv_from(rx, &mut buf, false).is_ok_and(|m| m.len == 5)
    });
    assert!(ok, "the first datagram never arrived");
    // The burst: every datagram on the link before B polls once.
    let now = sim.now;
    for i in 0..N {
        loop {
            match sim.a.stack.udp.send_to(tx, &payload(i), Some(dst.into())) {
                Ok(_) => break,
                Err(Error::WouldBlock) => {
                    sim.a.stack.poll(now, &mut sim.a.dev);
                }
                Err(e) => panic!("send {i}: {e:?}"),
            }
        }
    }
    sim.a.stack.poll(now, &mut sim.a.dev);
    let mut got = 0;
    for _ in 0..N {
        sim.b.stack.poll(now, &mut sim.b.dev);
        while let Ok(m) = sim.b.stack.udp.recv_from(rx, &mut buf, false) {
            assert_eq!(&buf[..m.len], &payload(got)[..], "datagram {got}");
            got += 1;
        }
        if got == N {
            break;
        }
    }
    assert_eq!(sim.b.stack.udp.stats().rcvbuf_errors, 0, "datagrams dropped for a full queue");
    assert_eq!(got, N);
}
