//! Datagrams in batches: one `recvmmsg` system call fills up to [`BATCH`]
//! buffers where `recv_from` took one call per datagram ([`Batch`]), each
//! buffer one datagram or, with UDP GRO, a run of one sender's ([`gro`]);
//! and the replies sent during a batch go out with one `sendmmsg`
//! ([`Outbox`]), runs to one peer grouped with UDP GSO. Linux only (as
//! the crate).
//!
//! Both call `libc` directly, with headers, `iovec`s and addresses
//! allocated once and reused: `nix`'s `recvmmsg` set up every header
//! again on each call and walked its results through an iterator (about
//! 140 instructions per datagram, where the system call's own share is a
//! few), and its `sendmmsg` reports its count only through an iterator
//! that reads addresses `sendmmsg` never writes. The `unsafe` blocks are
//! the system calls (`recvmmsg`, `sendmmsg`, `sendmsg` for one grouped
//! send, `sendto` for an outbox of one, the `getsockopt` that asks for
//! UDP GSO, the `setsockopt` that turns UDP GRO on), the reading of a
//! received or queued address (and of a queued one as words, to compare
//! destinations) and of a received `UDP_GRO` control message, `libc`'s
//! `CMSG_*` length helpers in constants, and the all-zero C structs; each
//! says why it is sound, and the tests (`udp_batch/tests.rs` and its
//! `tests/`) run each of them.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use crate::udp::MAX_DATAGRAM;

/// Datagrams received, and sent, per system call at most.
pub(crate) const BATCH: usize = 16;

/// The datagrams an [`Outbox`] holds at most; a full outbox is sent
/// before the next reply joins it. 64 (one grouped send's most) was
/// tried: the replies to a coalesced receive then left as one send, but
/// between two reel endpoints each side then sent one burst and waited
/// for the other's (one burst in flight: 0.4 of a core each, a fifth of
/// the throughput, and more CPU per datagram at 64 in flight), where
/// bursts of 16 keep both sides busy (docs/PERFORMANCE.md).
pub(crate) const OUTBOX_DATAGRAMS: usize = 16;

/// The payload bytes an [`Outbox`] holds at most: a larger reply is sent
/// on its own (after the outbox), so an endpoint never keeps more than
/// this (plus the headers) for its replies.
pub(crate) const OUTBOX_BYTES: usize = 64 * 1024;

/// The reactor's receive buffers (`BATCH` × 64 KiB, made on the first
/// datagram event) and the headers `recvmmsg` fills.
///
/// The headers point at the `iovec`s and the address slots, the `iovec`s
/// at the buffers: all four are heap allocations made once in
/// [`Batch::new`] and never resized, so the pointers set there stay valid
/// for the batch's life (moving the `Batch` moves none of them). A receive
/// only resets the address lengths the last one overwrote.
pub(crate) struct Batch {
    buffers: Vec<u8>,
    /// Never read by Rust: the headers point at them.
    _iovecs: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_storage>,
    headers: Vec<libc::mmsghdr>,
    /// Each header's control buffer (UDP GRO's segment size).
    _controls: Vec<gro::Control>,
    /// The sender of each message of the last receive, read from
    /// `names` right after it, in one pass.
    senders: [Option<SocketAddr>; BATCH],
    /// Messages the last receive filled.
    count: usize,
    /// Whether a message of the last receive held several datagrams (or
    /// is not to be delivered): `sizes` then says how to cut each.
    coalesced: bool,
    /// The datagram size of each coalesced message of the last receive
    /// (0: one datagram; [`UNKNOWN_SIZE`]: not delivered), set only when
    /// one was.
    sizes: [usize; BATCH],
    /// Datagrams of the last receive.
    datagrams: usize,
    /// Messages of the last receive with datagrams lost: a coalesced one
    /// cut short by the kernel (`MSG_TRUNC`: its incomplete last datagram
    /// and any after it), or one whose control messages were cut short
    /// without a `UDP_GRO` one (`MSG_CTRUNC`: its datagrams may be
    /// joined; none delivered).
    lost: usize,
}

/// A message's datagram size when its control messages were cut short
/// without saying it: the message is not delivered.
const UNKNOWN_SIZE: usize = usize::MAX;

/// Where a walk through the datagrams of a receive is
/// ([`Batch::next_datagram`]): the next message, and within a coalesced
/// message being cut (the one before it), the next datagram's start, the
/// end of what is delivered of it, and its datagram size.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cursor {
    next_message: usize,
    at: usize,
    end: usize,
    size: usize,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("count", &self.count).finish()
    }
}

/// An all-zero `mmsghdr` (null pointers, zero lengths).
fn zeroed_header() -> libc::mmsghdr {
    // SAFETY: `mmsghdr` is a C struct of integers and raw pointers, for
    // which all-zero bytes are a valid value (null pointers, zero lengths),
    // as C code that `memset`s it to zero relies on.
    unsafe { zeroed() }
}

/// An all-zero `sockaddr_storage` (family `AF_UNSPEC`).
fn zeroed_storage() -> libc::sockaddr_storage {
    // SAFETY: `sockaddr_storage` is a C struct of integers (and padding);
    // all-zero bytes are a valid value of it.
    unsafe { zeroed() }
}

const STORAGE_LEN: libc::socklen_t = size_of::<libc::sockaddr_storage>() as libc::socklen_t;

impl Batch {
    pub(crate) fn new() -> Batch {
        let mut buffers = vec![0u8; BATCH * MAX_DATAGRAM];
        let base = buffers.as_mut_ptr();
        let mut iovecs: Vec<libc::iovec> = (0..BATCH)
            .map(|i| libc::iovec { iov_base: base.wrapping_add(i * MAX_DATAGRAM).cast(), iov_len: MAX_DATAGRAM })
            .collect();
        let mut names: Vec<libc::sockaddr_storage> = (0..BATCH).map(|_| zeroed_storage()).collect();
        let mut controls = vec![gro::Control::new(); BATCH];
        let (iov, name, control) = (iovecs.as_mut_ptr(), names.as_mut_ptr(), controls.as_mut_ptr());
        let headers = (0..BATCH)
            .map(|i| {
                let mut h = zeroed_header();
                h.msg_hdr.msg_iov = iov.wrapping_add(i);
                h.msg_hdr.msg_iovlen = 1;
                h.msg_hdr.msg_name = name.wrapping_add(i).cast();
                h.msg_hdr.msg_namelen = STORAGE_LEN;
                h.msg_hdr.msg_control = control.wrapping_add(i).cast();
                h.msg_hdr.msg_controllen = gro::CONTROL_BYTES as _;
                h
            })
            .collect();
        Batch {
            buffers,
            _iovecs: iovecs,
            names,
            headers,
            _controls: controls,
            senders: [None; BATCH],
            count: 0,
            coalesced: false,
            sizes: [0; BATCH],
            datagrams: 0,
            lost: 0,
        }
    }

    /// Receives up to `max` (at most [`BATCH`], at least 1) messages
    /// without blocking; returns how many. `WouldBlock` when none waits.
    /// A message is one datagram, or several from one sender on a socket
    /// with UDP GRO on ([`gro`]); [`Batch::len`] counts the datagrams.
    pub(crate) fn receive(&mut self, fd: RawFd, max: usize) -> io::Result<usize> {
        self.count = 0;
        self.datagrams = 0;
        self.coalesced = false;
        let max = max.clamp(1, BATCH);
        // SAFETY: `headers` holds `BATCH` >= `max` initialised `mmsghdr`s,
        // each pointing (since `new`) at one `iovec` of `_iovecs` that
        // covers its own `MAX_DATAGRAM` bytes of `buffers`, at its own
        // `sockaddr_storage` of `names` with `msg_namelen` its full size,
        // and at its own `Control` of `_controls` with `msg_controllen`
        // its full size (both reset after each receive): every pointer the kernel follows is valid for
        // writes of the length given, nothing else refers to that memory
        // during the call (`&mut self`), and none of these vectors is
        // resized after `new`, so none has moved. A null timeout and
        // `MSG_DONTWAIT` make the call return at once.
        let n = unsafe {
            libc::recvmmsg(fd, self.headers.as_mut_ptr(), max as libc::c_uint, libc::MSG_DONTWAIT, std::ptr::null_mut())
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        self.count = (n as usize).min(max);
        // Each sender read in `std` form, and the address and control
        // lengths the kernel wrote given their full sizes back for the
        // next receive. Control messages come only with UDP GRO on (or
        // options an adopted socket asked for).
        let mut coalesced = false;
        for (i, ((h, name), sender)) in
            self.headers.iter_mut().zip(&self.names).zip(&mut self.senders).take(self.count).enumerate()
        {
            *sender = storage_to_addr(name, h.msg_hdr.msg_namelen);
            h.msg_hdr.msg_namelen = STORAGE_LEN;
            // The kernel writes the length it used, 0 for none: always
            // given back, or the next receive would have no room.
            if h.msg_hdr.msg_controllen != 0 || h.msg_hdr.msg_flags != 0 {
                let size = match gro::segment_size(&h.msg_hdr) {
                    Some(size) => size,
                    None if h.msg_hdr.msg_flags & libc::MSG_CTRUNC != 0 => UNKNOWN_SIZE,
                    None => 0,
                };
                if size != 0 {
                    if !coalesced {
                        self.sizes = [0; BATCH];
                        coalesced = true;
                    }
                    self.sizes[i] = size;
                }
            }
            h.msg_hdr.msg_controllen = gro::CONTROL_BYTES as _;
        }
        self.coalesced = coalesced;
        self.datagrams = self.count;
        if coalesced {
            self.count_coalesced();
        }
        Ok(self.count)
    }

    /// After a receive with a coalesced message: how many datagrams it
    /// holds in all, and how many messages lost some.
    #[cold]
    #[inline(never)]
    fn count_coalesced(&mut self) {
        self.datagrams = 0;
        self.lost = 0;
        for (i, h) in self.headers.iter().enumerate().take(self.count) {
            let len = (h.msg_len as usize).min(MAX_DATAGRAM);
            self.datagrams += match self.sizes[i] {
                0 => 1,
                UNKNOWN_SIZE => {
                    self.lost += 1;
                    0
                }
                // `msg_len` is then what was copied, not the message's
                // length: an incomplete last datagram is not delivered.
                size if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 => {
                    self.lost += 1;
                    len / size
                }
                size => len.div_ceil(size).max(1),
            };
        }
    }

    /// Datagrams of the last receive ([`Batch::receive`] counts messages).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.datagrams
    }

    /// Messages of the last receive with datagrams lost (at least one
    /// each): a coalesced message the kernel cut short, or one whose
    /// datagram size was lost with its cut-short control messages.
    pub(crate) fn lost(&self) -> usize {
        if self.coalesced {
            self.lost
        } else {
            0
        }
    }

    /// Puts the senders of the last receive as the endpoint reports them:
    /// IPv4-mapped IPv6 ones as IPv4 when `mapped` (only an IPv6 socket
    /// hears them), and a datagram the kernel gave no address for from
    /// `connected` (the peer of a connected socket), if any.
    #[inline]
    pub(crate) fn resolve_senders(&mut self, mapped: bool, connected: Option<SocketAddr>) {
        if !mapped && connected.is_none() {
            return;
        }
        for sender in self.senders.iter_mut().take(self.count) {
            if mapped {
                *sender = sender.map(crate::tcp::canonical);
            }
            if sender.is_none() {
                *sender = connected;
            }
        }
    }

    /// The datagram at `cursor` in the last receive and its sender (`None`
    /// if the kernel gave no address, which a connected socket may), the
    /// cursor moved past it; `None` after the last. A coalesced message
    /// is cut at its datagram size (the last datagram may be shorter; one
    /// cut short by the kernel is not delivered, nor is a message of
    /// unknown size).
    #[inline]
    pub(crate) fn next_datagram(&self, cursor: &mut Cursor) -> Option<(&[u8], Option<&SocketAddr>)> {
        loop {
            if cursor.at < cursor.end {
                let at = cursor.at;
                let take = cursor.size.min(cursor.end - at);
                cursor.at = at + take;
                let sender = self.senders.get(cursor.next_message.wrapping_sub(1))?.as_ref();
                return Some((self.buffers.get(at..at + take)?, sender));
            }
            let m = cursor.next_message;
            if m >= self.count {
                return None;
            }
            cursor.next_message = m + 1;
            let h = self.headers.get(m)?;
            let len = (h.msg_len as usize).min(MAX_DATAGRAM);
            let start = m * MAX_DATAGRAM;
            let size = if self.coalesced { self.sizes.get(m).copied().unwrap_or(0) } else { 0 };
            if size == 0 {
                return Some((self.buffers.get(start..start + len)?, self.senders.get(m)?.as_ref()));
            }
            if size == UNKNOWN_SIZE {
                continue;
            }
            // A message the kernel cut short ends at its last whole
            // datagram (`msg_len` is then what was copied).
            let end = match h.msg_hdr.msg_flags & libc::MSG_TRUNC {
                0 => len,
                _ => len / size * size,
            };
            if len == 0 {
                // Never from a kernel: one empty datagram, unless cut
                // short (counted lost, as `count_coalesced` does).
                if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                    continue;
                }
                return Some((self.buffers.get(start..start)?, self.senders.get(m)?.as_ref()));
            }
            cursor.at = start;
            cursor.end = start + end;
            cursor.size = size;
        }
    }

    /// Datagram `i` of the last receive, walked to from the first.
    #[cfg(test)]
    pub(crate) fn datagram(&self, i: usize) -> Option<(&[u8], Option<&SocketAddr>)> {
        let mut cursor = Cursor::default();
        for _ in 0..i {
            self.next_datagram(&mut cursor)?;
        }
        self.next_datagram(&mut cursor)
    }
}

/// A received address as `std` has it; `None` for a length too short for
/// its family, or a family other than IPv4 and IPv6.
#[inline]
fn storage_to_addr(s: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match s.ss_family as libc::c_int {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: `sockaddr_storage` is as large as, and aligned for,
            // every socket address type (that is its purpose), and the
            // kernel wrote an `AF_INET` address of `len` >= the size of a
            // `sockaddr_in` into it: reading one from its start reads
            // initialised bytes of the right type.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(a.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for an `AF_INET6` address of a
            // `sockaddr_in6`'s size.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            let port = u16::from_be(a.sin6_port);
            Some(SocketAddr::V6(SocketAddrV6::new(ip, port, a.sin6_flowinfo, a.sin6_scope_id)))
        }
        _ => None,
    }
}

pub(crate) mod gro;
mod outbox;

#[cfg(test)]
use self::outbox::gso::{Gso, SegmentControl, GSO_MAX_BYTES, GSO_SAFE_SEGMENT};
pub(crate) use self::outbox::Outbox;
#[cfg(test)]
use self::outbox::{zeroed_in6, CAddr, Flushed};

#[cfg(test)]
mod tests;
