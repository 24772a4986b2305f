//! IP_RECVERR and recvmsg(MSG_ERRQUEUE), laid out as Linux's ip_recv_error does (msg_name = the
//! original destination, data = the original payload, one SOL_IP/IP_RECVERR control message
//! holding `struct sock_extended_err` followed by the offender's `sockaddr_in`, MSG_ERRQUEUE in
//! msg_flags). The queue itself lives in the
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

/// The control message bytes (header + sock_extended_err + offender), CMSG_SPACE-aligned.
fn cmsg_bytes(e: &ErrEntry) -> Vec<u8> {
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
    let ee_len = std::mem::size_of::<SockExtendedErr>();
    let data_len = ee_len + std::mem::size_of::<sockaddr_in>();
    // SAFETY: CMSG_* are pure arithmetic on lengths.
    let (space, len) =
        unsafe { (libc::CMSG_SPACE(data_len as u32) as usize, libc::CMSG_LEN(data_len as u32) as usize) };
    let mut out = vec![0u8; space];
    let hdr = libc::cmsghdr { cmsg_len: len as _, cmsg_level: libc::SOL_IP, cmsg_type: libc::IP_RECVERR };
    let hl = len - data_len;
    // SAFETY: plain-old-data structs copied into a buffer sized for them.
    unsafe {
        std::ptr::copy_nonoverlapping(&hdr as *const _ as *const u8, out.as_mut_ptr(), std::mem::size_of_val(&hdr));
        std::ptr::copy_nonoverlapping(&ee as *const _ as *const u8, out.as_mut_ptr().add(hl), ee_len);
        std::ptr::copy_nonoverlapping(
            &off as *const _ as *const u8,
            out.as_mut_ptr().add(hl + ee_len),
            std::mem::size_of::<sockaddr_in>(),
        );
    }
    out
}

/// Lays out one dequeued error in `m` as Linux's ip_recv_error: the payload in the iovecs
/// (MSG_TRUNC if cut), the original destination through `name`, one IP_RECVERR control
/// message (MSG_CTRUNC if cut), MSG_ERRQUEUE in msg_flags. Returns the bytes copied.
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
    // put_cmsg: no room for the header -> MSG_CTRUNC and nothing; else as much as fits.
    let cm = cmsg_bytes(e);
    let hdr_len = libc::CMSG_LEN(0) as usize;
    if m.msg_control.is_null() || m.msg_controllen < hdr_len {
        m.msg_flags |= libc::MSG_CTRUNC;
        m.msg_controllen = 0;
    } else {
        let room = m.msg_controllen;
        let n = cm.len().min(room);
        std::ptr::copy_nonoverlapping(cm.as_ptr(), m.msg_control as *mut u8, n);
        if n < cm.len() {
            m.msg_flags |= libc::MSG_CTRUNC;
            // The header's cmsg_len says what was copied.
            let h = m.msg_control as *mut libc::cmsghdr;
            (*h).cmsg_len = n as _;
        }
        m.msg_controllen = n;
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
