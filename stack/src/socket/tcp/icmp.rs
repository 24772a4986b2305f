//! ICMP errors for TCP (Linux tcp_v4_err): validated against the quoted sequence number
//! (RFC 5927 4.1), path MTU discovery (RFC 1191), errors during the handshake (abort, and the
//! IP_RECVERR queue), soft errors afterwards (RFC 1122 4.2.3.9).
use crate::wire::ip::IpAddress;

use super::seq::SeqNum;
use super::table::TcpStack;
use super::tcb::Tcb;
use super::types::{TcpHandle, TcpState};
use crate::error::{Error, Result};
use crate::socket::errqueue::{IcmpReport, SockError};
use crate::time::{Duration, Instant};

/// Linux's ip_rt_min_pmtu: a "fragmentation needed" never lowers the path MTU below this.
pub const MIN_PMTU: u32 = 552;
/// RFC 1191 6.3 / Linux mtu_expires: a learned path MTU is forgotten after 10 minutes.
const PMTU_EXPIRES: Duration = Duration::from_secs(600);
/// Destinations whose path MTU is remembered.
const MAX_PMTU_ENTRIES: usize = 1024;

impl Tcb {
    /// RFC 1191 6.4 / Linux tcp_simple_retransmit: the path MTU fell to `mss` + 40; segments in
    /// flight were too big and are lost, so resend from snd_una now (no congestion response:
    /// nothing was lost to congestion).
    pub fn pmtu_reduced(&mut self, mss: u16) {
        if mss >= self.opts.mtu_mss {
            return;
        }
        self.opts.mtu_mss = mss;
        if self.synchronized() && self.snd.una < self.snd.max {
            self.snd.nxt = self.snd.una;
            self.loss.in_recovery = false;
            self.loss.dupacks = 0;
            self.loss.recover = self.snd.max;
            self.rtt_probe = None; // Karn: the resent segments are not timed
            self.loss.rexmit_head = false;
        }
        self.pending = true;
    }
}

impl TcpStack {
    /// An ICMP error quoting a segment we sent. Returns false if it was ignored: no such
    /// connection, an unknown type, fewer than 8 quoted bytes, or (RFC 5927 4.1) a quoted
    /// sequence number outside snd_una..=snd_max, so a forged error that only knows the 4-tuple
    /// cannot abort a connection nor shrink its MSS.
    pub fn icmp_error(&mut self, now: Instant, r: &IcmpReport<'_>) -> bool {
        let Some((errno, _hard)) = r.errno() else { return false };
        let Some(seq) = r.quoted.get(4..8) else { return false };
        let seq = SeqNum(u32::from_be_bytes([seq[0], seq[1], seq[2], seq[3]]));
        if let Some(req) = self.reqs.get(&(r.local, r.remote)) {
            // Linux tcp_req_err: only an error quoting our SYN-ACK's ISN drops the request.
            if SeqNum(req.iss) != seq {
                self.stats.icmp_out_of_window += 1;
                return false;
            }
            if !r.frag_needed() {
                self.drop_req((r.local, r.remote));
            }
            return true;
        }
        let Some(&id) = self.conns.get(&(r.local, r.remote)) else { return false };
        let t = self.socks.get_mut(&id).expect("conns entry without tcb");
        if matches!(t.state, TcpState::TimeWait | TcpState::Closed | TcpState::Listen)
            || seq < t.snd.una
            || seq > t.snd.max
        {
            self.stats.icmp_out_of_window += 1;
            return false;
        }
        self.note(id);
        let t = self.socks.get_mut(&id).unwrap();
        if r.frag_needed() {
            let mtu = if r.info == 0 { 576 } else { r.info }.clamp(MIN_PMTU, u16::MAX as u32);
            let mss = (mtu - 40) as u16;
            t.pmtu_reduced(mss);
            self.remember_pmtu(now, *r.remote.ip(), mss);
            return true;
        }
        if matches!(t.state, TcpState::SynSent | TcpState::SynReceived) {
            // Linux tcp_v4_err: an ICMP error during the handshake aborts it.
            t.errq.push(SockError::from_icmp(r, errno, 0));
            let e = if t.parent.is_some() { None } else { Some(errno) };
            t.terminate(e);
            self.after_event(id);
        } else if !t.orphan {
            // RFC 1122 4.2.3.9: a soft error, reported by SO_ERROR only.
            t.soft_error = Some(errno);
        }
        true
    }

    fn remember_pmtu(&mut self, now: Instant, dst: IpAddress, mss: u16) {
        if self.pmtu.len() >= MAX_PMTU_ENTRIES {
            self.pmtu.retain(|_, (_, until)| *until > now);
            if self.pmtu.len() >= MAX_PMTU_ENTRIES {
                return;
            }
        }
        self.pmtu.insert(dst, (mss, now + PMTU_EXPIRES));
    }

    /// The MSS the path to `dst` allows, if a "fragmentation needed" taught us one recently.
    pub fn path_mss(&self, now: Instant, dst: IpAddress) -> Option<u16> {
        self.pmtu.get(&dst).filter(|(_, until)| *until > now).map(|(m, _)| *m)
    }

    /// IP_RECVERR: queue ICMP errors on this socket (off: the queue is purged).
    pub fn set_recverr(&mut self, h: TcpHandle, on: bool) -> Result<()> {
        self.user_mut(h)?.errq.set_enabled(on);
        Ok(())
    }
    pub fn recverr(&self, h: TcpHandle) -> Result<bool> {
        Ok(self.user(h)?.errq.enabled)
    }
    /// recvmsg(MSG_ERRQUEUE): the oldest queued error, WouldBlock (EAGAIN) if none.
    pub fn recv_error(&mut self, h: TcpHandle) -> Result<SockError> {
        let t = self.user_mut(h)?;
        let e = t.errq.pop().ok_or(Error::WouldBlock)?;
        t.changed = true;
        Ok(e)
    }
}
