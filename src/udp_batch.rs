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
    /// The datagrams of the last receive when a message held several
    /// (UDP GRO): each message cut at its segment size. Used only when
    /// `coalesced`; else every message was one datagram, read from the
    /// headers.
    pieces: Vec<Piece>,
    coalesced: bool,
    /// The datagram size of each coalesced message of the last receive
    /// (0: one datagram; [`UNKNOWN_SIZE`]: not delivered), set only when
    /// one was.
    sizes: [usize; BATCH],
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

/// One datagram of a coalesced receive: its bytes in the batch's buffers
/// and the message it came in (for its sender).
#[derive(Debug, Clone, Copy)]
struct Piece {
    start: u32,
    len: u32,
    message: u32,
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
            pieces: Vec::with_capacity(BATCH * 64),
            coalesced: false,
            sizes: [0; BATCH],
            lost: 0,
        }
    }

    /// Receives up to `max` (at most [`BATCH`], at least 1) messages
    /// without blocking; returns how many. `WouldBlock` when none waits.
    /// A message is one datagram, or several from one sender on a socket
    /// with UDP GRO on ([`gro`]); [`Batch::len`] counts the datagrams.
    pub(crate) fn receive(&mut self, fd: RawFd, max: usize) -> io::Result<usize> {
        self.count = 0;
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
        if coalesced {
            self.cut_coalesced();
        }
        self.coalesced = coalesced;
        Ok(self.count)
    }

    /// After a receive with a coalesced message: every message's
    /// datagrams, in order, into `pieces` (each coalesced message cut at
    /// its datagram size, one piece for any other).
    #[cold]
    #[inline(never)]
    fn cut_coalesced(&mut self) {
        self.pieces.clear();
        self.lost = 0;
        for (i, h) in self.headers.iter().enumerate().take(self.count) {
            let len = (h.msg_len as usize).min(MAX_DATAGRAM);
            let size = match self.sizes[i] {
                0 => len.max(1),
                UNKNOWN_SIZE => {
                    self.lost += 1;
                    continue;
                }
                size => size,
            };
            // `msg_len` is then what was copied, not the message's length.
            let truncated = self.sizes[i] != 0 && h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            if truncated {
                self.lost += 1;
            }
            let base = i * MAX_DATAGRAM;
            // Whole datagrams, then a shorter last one, unless the kernel
            // cut the message short (it is then incomplete); an empty
            // message is one empty datagram.
            let whole = len / size;
            let rest = len % size;
            let message = i as u32;
            self.pieces.extend((0..whole).map(|k| Piece {
                start: (base + k * size) as u32,
                len: size as u32,
                message,
            }));
            if (rest > 0 && !truncated) || len == 0 {
                self.pieces.push(Piece { start: (base + whole * size) as u32, len: rest as u32, message });
            }
        }
    }

    /// Datagrams of the last receive ([`Batch::receive`] counts messages).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        if self.coalesced {
            self.pieces.len()
        } else {
            self.count
        }
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

    /// Datagram `i` (below [`Batch::len`]) of the last receive and its
    /// sender (`None` if the kernel gave no address, which a connected
    /// socket may).
    #[inline]
    pub(crate) fn datagram(&self, i: usize) -> Option<(&[u8], Option<&SocketAddr>)> {
        if self.coalesced {
            let p = self.pieces.get(i)?;
            let start = p.start as usize;
            return Some((
                self.buffers.get(start..start + p.len as usize)?,
                self.senders.get(p.message as usize)?.as_ref(),
            ));
        }
        if i >= self.count {
            return None;
        }
        let len = (self.headers.get(i)?.msg_len as usize).min(MAX_DATAGRAM);
        let start = i * MAX_DATAGRAM;
        Some((self.buffers.get(start..start + len)?, self.senders.get(i)?.as_ref()))
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
