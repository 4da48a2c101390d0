//! Datagrams in batches: one `recvmmsg` system call fills up to [`BATCH`]
//! buffers where `recv_from` took one call per datagram ([`Batch`]), and
//! the replies sent during a batch go out with one `sendmmsg`
//! ([`Outbox`]). Linux only (as the crate).
//!
//! Both call `libc` directly, with headers, `iovec`s and addresses
//! allocated once and reused: `nix`'s `recvmmsg` set up every header
//! again on each call and walked its results through an iterator (about
//! 140 instructions per datagram, where the system call's own share is a
//! few), and its `sendmmsg` reports its count only through an iterator
//! that reads addresses `sendmmsg` never writes. The `unsafe` blocks are
//! the system calls (`recvmmsg`, `sendmmsg`, `sendmsg` for one grouped
//! send, `sendto` for an outbox of one, the `getsockopt` that asks for
//! UDP GSO), the reading of a received or queued address (and of a queued
//! one as words, to compare destinations), `libc`'s `CMSG_*` length
//! helpers in constants, and the all-zero C structs; each says why it is
//! sound, and the tests (`udp_batch/tests.rs`) run each of them.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use crate::udp::MAX_DATAGRAM;

/// Datagrams received, and sent, per system call at most.
pub(crate) const BATCH: usize = 16;

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
    /// The sender of each datagram of the last receive, read from
    /// `names` right after it, in one pass.
    senders: [Option<SocketAddr>; BATCH],
    count: usize,
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
        let (iov, name) = (iovecs.as_mut_ptr(), names.as_mut_ptr());
        let headers = (0..BATCH)
            .map(|i| {
                let mut h = zeroed_header();
                h.msg_hdr.msg_iov = iov.wrapping_add(i);
                h.msg_hdr.msg_iovlen = 1;
                h.msg_hdr.msg_name = name.wrapping_add(i).cast();
                h.msg_hdr.msg_namelen = STORAGE_LEN;
                h
            })
            .collect();
        Batch { buffers, _iovecs: iovecs, names, headers, senders: [None; BATCH], count: 0 }
    }

    /// Receives up to `max` (at most [`BATCH`], at least 1) datagrams
    /// without blocking; returns how many. `WouldBlock` when none waits.
    pub(crate) fn receive(&mut self, fd: RawFd, max: usize) -> io::Result<usize> {
        self.count = 0;
        let max = max.clamp(1, BATCH);
        // SAFETY: `headers` holds `BATCH` >= `max` initialised `mmsghdr`s,
        // each pointing (since `new`) at one `iovec` of `_iovecs` that
        // covers its own `MAX_DATAGRAM` bytes of `buffers`, and at its own
        // `sockaddr_storage` of `names` with `msg_namelen` its full size
        // (reset above): every pointer the kernel follows is valid for
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
        // Each sender read in `std` form, and the address length the
        // kernel wrote given its full size back for the next receive.
        for ((h, name), sender) in self.headers.iter_mut().zip(&self.names).zip(&mut self.senders).take(self.count) {
            *sender = storage_to_addr(name, h.msg_hdr.msg_namelen);
            h.msg_hdr.msg_namelen = STORAGE_LEN;
        }
        Ok(self.count)
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

    /// Datagram `i` of the last receive and its sender (`None` if the
    /// kernel gave no address, which a connected socket may).
    #[inline]
    pub(crate) fn datagram(&self, i: usize) -> Option<(&[u8], Option<&SocketAddr>)> {
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

mod outbox;

#[cfg(test)]
use self::outbox::gso::{Gso, SegmentControl, GSO_MAX_BYTES, GSO_SAFE_SEGMENT};
pub(crate) use self::outbox::Outbox;
#[cfg(test)]
use self::outbox::{zeroed_in6, CAddr, Flushed};

#[cfg(test)]
mod tests;
