//! Coalesced receives (UDP GRO, Linux 5.0 and later): with `UDP_GRO` on,
//! the kernel may hand a socket a run of datagrams from one sender, all of
//! one size but the last (which may be shorter), as one buffer, with a
//! `UDP_GRO` control message giving the size of each. A sender's grouped
//! send (UDP GSO, see `outbox/gso.rs`) reaches a local socket that way
//! whole, instead of being cut into datagrams on the sender's CPU, and a
//! network card's receive offload may join one flow's datagrams the same
//! way. [`Batch`](super::Batch) cuts such a buffer back into its
//! datagrams, so each is still its own `datagram_received`.
//!
//! Without room for the control message the size would be lost and the
//! datagrams delivered as one: every receive header has a control buffer
//! ([`Control`]) of 512 bytes, room for `UDP_GRO` after every socket-level
//! message the kernel writes first (timestamps, `SO_TIMESTAMPING`'s 64
//! bytes included, drop counts, marks) and the IP-level ones an adopted
//! socket may have asked for. A message whose control messages were cut
//! short anyway (`MSG_CTRUNC`) without a `UDP_GRO` one is not delivered:
//! its datagrams may be joined ([`Batch`](super::Batch) counts it lost).

use std::mem::size_of;
use std::os::fd::RawFd;

/// A receive header's control buffer: room for the `UDP_GRO` message (24
/// bytes) after any others, aligned as a `cmsghdr` must be.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub(in crate::udp_batch) struct Control(pub(in crate::udp_batch) [u8; CONTROL_BYTES]);

/// The bytes of a [`Control`].
pub(in crate::udp_batch) const CONTROL_BYTES: usize = 512;

// SAFETY: `CMSG_SPACE` is arithmetic on its argument; it reads no memory.
const GRO_SPACE: usize = unsafe { libc::CMSG_SPACE(size_of::<libc::c_int>() as libc::c_uint) } as usize;
const _: () = assert!(GRO_SPACE <= CONTROL_BYTES);
const _: () = assert!(std::mem::align_of::<Control>() >= std::mem::align_of::<libc::cmsghdr>());

impl Control {
    pub(in crate::udp_batch) const fn new() -> Control {
        Control([0; CONTROL_BYTES])
    }
}

/// Turns `UDP_GRO` on for the socket `fd`; false if the kernel refuses
/// (before Linux 5.0, or not a UDP socket), and receives stay one
/// datagram per buffer.
pub(crate) fn enable(fd: RawFd) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a local `c_int`, valid for reads of the length
    // given; the kernel only reads it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_UDP,
            libc::UDP_GRO,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    r == 0
}

/// The size of each datagram of a coalesced receive, from its header's
/// control messages (`None` when there is no `UDP_GRO` message: one
/// datagram). Only called when the kernel wrote control messages
/// (`msg_controllen` > 0).
#[cold]
#[inline(never)]
pub(in crate::udp_batch) fn segment_size(header: &libc::msghdr) -> Option<usize> {
    // SAFETY: `header` is one of the batch's receive headers, just filled
    // by `recvmmsg`: its `msg_control` points at its own `Control` (alive
    // and unaliased for the batch's life) and `msg_controllen` is the
    // length the kernel wrote there, at most `CONTROL_BYTES`. `CMSG_FIRSTHDR`
    // and `CMSG_NXTHDR` return a header only when a whole `cmsghdr` lies
    // within that length (else null), and the kernel wrote whole messages:
    // each `cmsghdr` read is initialised and aligned (the buffer is aligned
    // for it, and each message starts at `CMSG_ALIGN`ed offsets). The
    // `c_int` read from `CMSG_DATA` is checked to lie within the message
    // (`cmsg_len`) first, and is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(header);
        while !c.is_null() {
            let m = &*c;
            if m.cmsg_level == libc::SOL_UDP
                && m.cmsg_type == libc::UDP_GRO
                && m.cmsg_len as usize >= libc::CMSG_LEN(size_of::<libc::c_int>() as libc::c_uint) as usize
            {
                let size = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                return usize::try_from(size).ok().filter(|&s| s > 0);
            }
            c = libc::CMSG_NXTHDR(header, c);
        }
    }
    None
}
