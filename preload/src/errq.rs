//! IP_RECVERR and recvmsg(MSG_ERRQUEUE), laid out as Linux's ip_recv_error does (msg_name = the
//! original destination, data = the original payload, one SOL_IP/IP_RECVERR control message
//! holding `struct sock_extended_err` followed by the offender's `sockaddr_in`, after IP_TTL and
//! IP_TOS for an ICMP error when IP_RECVTTL / IP_RECVTOS are on, MSG_ERRQUEUE in msg_flags). The queue itself lives in the
//! service (`tapstack::service::errq`, asked by `svc::errq`); these helpers only copy it out.
use libc::{c_int, iovec, msghdr, sockaddr, sockaddr_in};

use tapstack::service::errq::ErrEntry;

/// linux/errqueue.h `struct sock_extended_err`.
#[repr(C)]
#[derive(Copy, Clone)]
struct SockExtendedErr {
    ee_errno: u32,
    ee_origin: u8,
    ee_type: u8,
    ee_code: u8,
    ee_pad: u8,
    ee_info: u32,
    ee_data: u32,
}

/// `struct sock_extended_err` followed by the offender's `sockaddr_in` (IP_RECVERR's data).
fn recverr_bytes(e: &ErrEntry) -> Vec<u8> {
    let ee = SockExtendedErr {
        ee_errno: e.errno as u32,
        ee_origin: e.origin,
        ee_type: e.icmp_type,
        ee_code: e.icmp_code,
        ee_pad: 0,
        ee_info: e.info,
        ee_data: 0,
    };
    let off = sockaddr_in {
        sin_family: if e.offender.is_some() { libc::AF_INET } else { libc::AF_UNSPEC } as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: e.offender.map(|a| u32::from(a).to_be()).unwrap_or(0) },
        sin_zero: [0; 8],
    };
    let (ee_len, off_len) = (std::mem::size_of::<SockExtendedErr>(), std::mem::size_of::<sockaddr_in>());
    let mut out = vec![0u8; ee_len + off_len];
    // SAFETY: plain-old-data structs copied into a buffer sized for them.
    unsafe {
        std::ptr::copy_nonoverlapping(&ee as *const _ as *const u8, out.as_mut_ptr(), ee_len);
        std::ptr::copy_nonoverlapping(&off as *const _ as *const u8, out.as_mut_ptr().add(ee_len), off_len);
    }
    out
}

/// The control messages in Linux's order: ip_cmsg_recv's IP_TTL (an int) and IP_TOS (one
/// byte) for an ICMP error on a socket that asked for them, then IP_RECVERR.
fn cmsgs(e: &ErrEntry) -> Vec<(c_int, Vec<u8>)> {
    let mut v = Vec::new();
    if let Some(ttl) = e.ttl {
        v.push((libc::IP_TTL, (ttl as c_int).to_ne_bytes().to_vec()));
    }
    if let Some(tos) = e.tos {
        v.push((libc::IP_TOS, vec![tos]));
    }
    v.push((libc::IP_RECVERR, recverr_bytes(e)));
    v
}

/// Linux's put_cmsg of one SOL_IP message at `*at` in a control buffer of `room` bytes: no room
/// for a header -> MSG_CTRUNC and nothing; else as much as fits (cmsg_len says how much,
/// MSG_CTRUNC if cut), and `*at` moves past it (CMSG_SPACE, at most to the end).
///
/// # Safety
/// `ctl` is valid for writes of `room` bytes.
unsafe fn put_cmsg(ctl: *mut u8, room: usize, at: &mut usize, flags: &mut c_int, ty: c_int, data: &[u8]) {
    let left = room - *at;
    if left < libc::CMSG_LEN(0) as usize {
        *flags |= libc::MSG_CTRUNC;
        return;
    }
    let full = libc::CMSG_LEN(data.len() as u32) as usize;
    let len = full.min(left);
    if len < full {
        *flags |= libc::MSG_CTRUNC;
    }
    let hdr = libc::cmsghdr { cmsg_len: len as _, cmsg_level: libc::SOL_IP, cmsg_type: ty };
    let hl = libc::CMSG_LEN(0) as usize;
    let mut bytes = vec![0u8; len];
    std::ptr::copy_nonoverlapping(&hdr as *const _ as *const u8, bytes.as_mut_ptr(), std::mem::size_of_val(&hdr));
    bytes[hl..].copy_from_slice(&data[..len - hl]);
    std::ptr::copy_nonoverlapping(bytes.as_ptr(), ctl.add(*at), len);
    *at += (libc::CMSG_SPACE(data.len() as u32) as usize).min(left);
}

/// Lays out one dequeued error in `m` as Linux's ip_recv_error: the payload in the iovecs
/// (MSG_TRUNC if cut), the original destination through `name`, IP_TTL / IP_TOS when given
/// and the IP_RECVERR control message (MSG_CTRUNC if cut), MSG_ERRQUEUE in msg_flags. Returns
/// the bytes copied.
///
/// # Safety
/// `m`'s iovecs, name and control buffer are the program's, valid for their stated lengths.
pub(crate) unsafe fn fill_errqueue_msg(
    m: &mut msghdr,
    e: &ErrEntry,
    name: impl FnOnce(*mut sockaddr, &mut libc::socklen_t),
) -> usize {
    let cnt = m.msg_iovlen.min(c_int::MAX as usize) as c_int;
    scatter(m.msg_iov, cnt, &e.payload);
    let total: usize = (0..cnt as usize).map(|i| (*m.msg_iov.add(i)).iov_len).sum();
    let copied = e.payload.len().min(total);
    m.msg_flags = libc::MSG_ERRQUEUE;
    if copied < e.payload.len() {
        m.msg_flags |= libc::MSG_TRUNC;
    }
    if m.msg_name.is_null() {
        m.msg_namelen = 0;
    } else {
        let mut len = m.msg_namelen;
        name(m.msg_name as *mut sockaddr, &mut len);
        m.msg_namelen = len;
    }
    if m.msg_control.is_null() {
        m.msg_flags |= libc::MSG_CTRUNC;
        m.msg_controllen = 0;
    } else {
        let (ctl, room, mut at) = (m.msg_control as *mut u8, m.msg_controllen, 0);
        for (ty, data) in cmsgs(e) {
            put_cmsg(ctl, room, &mut at, &mut m.msg_flags, ty, &data);
        }
        m.msg_controllen = at;
    }
    copied
}

/// Copies `data` into the iovec array, in order, as far as it reaches.
///
/// # Safety
/// `iov` points to `cnt` iovecs whose buffers are valid for writes of their `iov_len`.
unsafe fn scatter(iov: *const iovec, cnt: c_int, mut data: &[u8]) {
    for i in 0..cnt.max(0) as usize {
        if data.is_empty() {
            break;
        }
        // SAFETY: i < cnt, and the caller vouches for the array.
        let e = unsafe { &*iov.add(i) };
        let n = e.iov_len.min(data.len());
        if n > 0 {
            // SAFETY: the buffer holds iov_len >= n bytes; `data` is ours, so no overlap.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), e.iov_base as *mut u8, n) };
        }
        data = &data[n..];
    }
}
