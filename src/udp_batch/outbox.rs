//! The send half of datagram batching: replies queued during a receive
//! batch and sent with one `sendmmsg`, each run of equal-size datagrams
//! to one peer as one entry with a `UDP_SEGMENT` control message (UDP
//! GSO; see [`Outbox::flush`], and the submodule `gso` for the grouping),
//! and the parent module for the receive half and for why `libc` is
//! called directly.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::RawFd;

use super::{storage_to_addr, zeroed_header, zeroed_storage, OUTBOX_BYTES, OUTBOX_DATAGRAMS};

pub(super) mod gso;

use self::gso::{Gso, SegmentControl, GSO_MAX_BYTES};

/// A destination as `sendmmsg` reads it: IPv4 or IPv6, `repr(C)` so that
/// a pointer to it points at either (writing a field of a union is safe;
/// only the kernel reads it, as the family and length say).
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) union CAddr {
    pub(super) v4: libc::sockaddr_in,
    pub(super) v6: libc::sockaddr_in6,
    /// The same bytes as words, to compare two destinations: the first
    /// 16 (a `sockaddr_in`, or the start of a `sockaddr_in6`) as two
    /// `u64`s, all 28 (a `sockaddr_in6`) as seven `u32`s.
    head: [u64; 2],
    words: [u32; 7],
}

// `words` covers the bytes of a `sockaddr_in6`, the larger address, and
// `head` those of a `sockaddr_in` (the union is 4 bytes longer, for
// `head`'s alignment: bytes never read).
const _: () = assert!(size_of::<[u32; 7]>() == size_of::<libc::sockaddr_in6>());
const _: () = assert!(size_of::<[u64; 2]>() == size_of::<libc::sockaddr_in>());

impl CAddr {
    /// Writes `addr` in C form; returns its length.
    #[cfg(test)]
    pub(super) fn set(&mut self, addr: SocketAddr) -> libc::socklen_t {
        self.set_as(&addr, false)
    }

    /// Writes `addr` in C form (returning its length), an IPv4 address as
    /// its IPv4-mapped IPv6 one when
    /// `mapped` (what a dual-stack socket sends to), written as such
    /// rather than made into a new `SocketAddr` first.
    #[inline]
    pub(super) fn set_as(&mut self, addr: &SocketAddr, mapped: bool) -> libc::socklen_t {
        match addr {
            SocketAddr::V4(a) if mapped => {
                let [a0, a1, a2, a3] = a.ip().octets();
                self.v6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: 0,
                    sin6_addr: libc::in6_addr { s6_addr: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a0, a1, a2, a3] },
                    sin6_scope_id: 0,
                };
                size_of::<libc::sockaddr_in6>() as libc::socklen_t
            }
            SocketAddr::V4(a) => {
                self.v4 = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                    sin_zero: [0; 8],
                };
                size_of::<libc::sockaddr_in>() as libc::socklen_t
            }
            SocketAddr::V6(a) => {
                self.v6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    // As it is, not byte-swapped: as `std`, `socket2` and `mio` write it.
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                    sin6_scope_id: a.scope_id(),
                };
                size_of::<libc::sockaddr_in6>() as libc::socklen_t
            }
        }
    }

    /// Whether `self` and `other` have the same first 16 bytes: the
    /// whole of an IPv4 address, and the family, so that equal ones are
    /// of one kind (and length).
    #[inline]
    pub(super) fn same_head(&self, other: &CAddr) -> bool {
        // SAFETY: the first 28 bytes of a `CAddr` are initialised: each is
        // made from an all-zero `sockaddr_in6` (28 bytes), and `set_as`
        // writes whole members of C structs without padding
        // (`sockaddr_in`: 2 + 2 + 4 + 8 bytes; `sockaddr_in6`: 2 + 2 + 4
        // + 16 + 4), which leaves the other bytes as they were. `head`
        // reads the first 16 of them, and any bytes are valid `u64`s.
        let (a, b) = unsafe { (&self.head, &other.head) };
        ((a[0] ^ b[0]) | (a[1] ^ b[1])) == 0
    }

    /// Whether `self` and `other`, of the same family (see
    /// [`CAddr::same_head`]), are the same IPv6 address: all 28 bytes.
    #[inline]
    pub(super) fn same_v6(&self, other: &CAddr) -> bool {
        // SAFETY: as in `same_head`: `words` reads the first 28 bytes,
        // all initialised.
        let (a, b) = unsafe { (&self.words, &other.words) };
        a == b
    }

    /// The address [`CAddr::set_as`] wrote with length `len`, back in `std`
    /// form (`None` if nothing valid was written).
    pub(super) fn get(&self, len: libc::socklen_t) -> Option<SocketAddr> {
        let mut storage = zeroed_storage();
        let len = (len as usize).min(size_of::<libc::sockaddr_in6>());
        // SAFETY: both are plain C data: the first 28 bytes of `self` (a
        // `sockaddr_in6`'s size) are initialised (every `CAddr` is made
        // from an all-zero `sockaddr_in6`, and `set` writes whole members;
        // the 4 bytes after them, `head`'s alignment, are never read), and
        // `storage` is a distinct local at least that large (a
        // `sockaddr_storage` holds every address type); `len` is at most
        // 28.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (self as *const CAddr).cast::<u8>(),
                (&mut storage as *mut libc::sockaddr_storage).cast::<u8>(),
                len,
            );
        }
        storage_to_addr(&storage, len as libc::socklen_t)
    }
}

/// What [`Outbox::flush`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Flushed {
    /// Datagrams the kernel took.
    pub(crate) sent: u64,
    /// Whether the socket would block before the end: the datagrams not
    /// sent are still in the outbox (see [`Outbox::take_unsent`]).
    pub(crate) blocked: bool,
}

/// Replies queued during a receive batch, sent with one `sendmmsg` after
/// it: up to [`OUTBOX_DATAGRAMS`] datagrams and [`OUTBOX_BYTES`] bytes, copied into
/// one buffer allocated once (the outbox is made on an endpoint's first
/// batch and reused).
///
/// A push copies the bytes and writes the datagram's `sendmmsg` entry
/// whole (its `iovec` and C address), so that a flush is the system call
/// alone. The headers point at the `iovec`s and the C addresses, the
/// `iovec`s into the bytes: all four are heap allocations made once in
/// [`Outbox::new`] and never resized, so the pointers stay valid for the
/// outbox's life (moving the `Outbox` moves none of them), as the
/// receive half's [`Batch`](super::Batch) does.
pub(crate) struct Outbox {
    /// [`OUTBOX_BYTES`] long.
    bytes: Box<[u8]>,
    /// Where `bytes` starts, taken once: each `iovec` points at
    /// `base + start` for its datagram.
    base: *mut u8,
    /// Bytes of `bytes` in use.
    used: usize,
    /// Never read by Rust but in [`Outbox::take_unsent`]: the headers
    /// point at them.
    names: Box<[CAddr; OUTBOX_DATAGRAMS]>,
    iovecs: Box<[libc::iovec; OUTBOX_DATAGRAMS]>,
    headers: Box<[libc::mmsghdr; OUTBOX_DATAGRAMS]>,
    /// Datagrams queued.
    count: usize,
    /// The first datagram not sent yet (a flush that would block stops
    /// there).
    next: usize,
    /// The `sendmmsg` entries of a grouped flush ([`Outbox::plan`]): one
    /// per run of datagrams to one destination, each pointing (since
    /// `new`) at its own `iovec` of `send_iovecs` and its own control
    /// buffer of `controls`, used when its `msg_controllen` is set.
    sends: Box<[libc::mmsghdr; OUTBOX_DATAGRAMS]>,
    /// Never read by Rust: the entries of `sends` point at them.
    send_iovecs: Box<[libc::iovec; OUTBOX_DATAGRAMS]>,
    controls: Box<[SegmentControl; OUTBOX_DATAGRAMS]>,
    /// For each entry of `sends`, the datagram after its last.
    ends: [usize; OUTBOX_DATAGRAMS],
    pub(super) gso: Gso,
    /// The largest segment grouped ([`gso::GSO_SAFE_SEGMENT`] once a grouped
    /// send of larger ones was refused with `EINVAL`).
    pub(super) gso_segment_max: usize,
    /// The endpoint's address, for the one log line that says grouping
    /// was turned off (set by the endpoint that made the outbox).
    pub(crate) local: Option<SocketAddr>,
    /// Grouped sends (entries with `UDP_SEGMENT`) the kernel took.
    #[cfg(test)]
    pub(super) grouped: u64,
    /// The endpoint's socket is connected: datagrams go without an
    /// address (the socket's cached route to its peer), and each entry
    /// with a call of its own, never a `sendmmsg` of several (see
    /// [`Outbox::set_connected`]).
    connected: bool,
    /// Send without addresses, to the socket's connected peer, but still
    /// with `sendmmsg`: the tests' Unix socket pair, whose full queue
    /// makes `sendmmsg` block (a UDP sender on loopback never blocks).
    #[cfg(test)]
    pub(super) unaddressed: bool,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("count", &self.count).field("next", &self.next).finish()
    }
}

impl Outbox {
    /// An empty outbox (its bytes, about 64 KiB, and its headers on the
    /// heap).
    pub(crate) fn new() -> Box<Outbox> {
        let mut bytes = vec![0u8; OUTBOX_BYTES].into_boxed_slice();
        let base = bytes.as_mut_ptr();
        let mut names = Box::new([CAddr { v6: zeroed_in6() }; OUTBOX_DATAGRAMS]);
        let mut iovecs = Box::new([libc::iovec { iov_base: base.cast(), iov_len: 0 }; OUTBOX_DATAGRAMS]);
        let (name, iov) = (names.as_mut_ptr(), iovecs.as_mut_ptr());
        let headers = Box::new(std::array::from_fn(|i| {
            let mut h = zeroed_header();
            h.msg_hdr.msg_iov = iov.wrapping_add(i);
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_name = name.wrapping_add(i).cast();
            h
        }));
        let mut send_iovecs = Box::new([libc::iovec { iov_base: base.cast(), iov_len: 0 }; OUTBOX_DATAGRAMS]);
        let mut controls = Box::new([SegmentControl::new(); OUTBOX_DATAGRAMS]);
        let (iov, control) = (send_iovecs.as_mut_ptr(), controls.as_mut_ptr());
        let sends = Box::new(std::array::from_fn(|i| {
            let mut h = zeroed_header();
            h.msg_hdr.msg_iov = iov.wrapping_add(i);
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = control.wrapping_add(i).cast();
            h
        }));
        Box::new(Outbox {
            bytes,
            base,
            used: 0,
            names,
            iovecs,
            headers,
            count: 0,
            next: 0,
            sends,
            send_iovecs,
            controls,
            ends: [0; OUTBOX_DATAGRAMS],
            gso: Gso::Unknown,
            gso_segment_max: GSO_MAX_BYTES,
            local: None,
            connected: false,
            #[cfg(test)]
            grouped: 0,
            #[cfg(test)]
            unaddressed: false,
        })
    }

    /// For a connected socket's endpoint: its datagrams go to the peer
    /// without an address (an address would make the kernel look the
    /// route up again for each), and each grouped or single entry with a
    /// system call of its own. Linux reports an error of `sendmmsg` only
    /// when its first datagram fails; one met by a later datagram is
    /// dropped with it unreported, and a connected socket's refusals (an
    /// ICMP port unreachable) are kept pending on the socket for
    /// whichever send comes next. One call per entry reports each where
    /// separate sends would: a group's first datagram meets it (and is
    /// dropped), the rest go.
    pub(crate) fn set_connected(&mut self) {
        self.connected = true;
        for h in self.headers.iter_mut() {
            h.msg_hdr.msg_name = std::ptr::null_mut();
        }
    }

    /// Whether nothing waits to be sent.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.count == self.next
    }

    /// Queues a copy of `data` for `to` (the address as the socket takes
    /// it). False, and nothing queued, when the outbox is full: [`OUTBOX_DATAGRAMS`]
    /// datagrams, or no room for `data` in [`OUTBOX_BYTES`].
    #[inline]
    pub(crate) fn push(&mut self, data: &[u8], to: SocketAddr) -> bool {
        self.push_to(data, &to, false)
    }

    /// [`Outbox::push`] for an endpoint that may be dual stack: with
    /// `mapped`, an IPv4 `to` goes to its IPv4-mapped IPv6 address.
    #[inline]
    pub(crate) fn push_to(&mut self, data: &[u8], to: &SocketAddr, mapped: bool) -> bool {
        let i = self.count;
        // `i` checked first, against the arrays' constant length: the
        // lookups below then compile to no test at all.
        if i >= OUTBOX_DATAGRAMS {
            return false;
        }
        let start = self.used;
        let Some(room) = self.bytes.get_mut(start..start + data.len()) else { return false };
        // The entry before the copy: `to` is read before the call to
        // `memcpy`, not kept across it.
        if let (Some(iov), Some(h), Some(name)) =
            (self.iovecs.get_mut(i), self.headers.get_mut(i), self.names.get_mut(i))
        {
            *iov = libc::iovec { iov_base: self.base.wrapping_add(start).cast(), iov_len: data.len() };
            h.msg_hdr.msg_namelen = name.set_as(to, mapped);
        }
        room.copy_from_slice(data);
        self.used = start + data.len();
        self.count = i + 1;
        true
    }

    /// [`Outbox::push_to`] for one datagram made of `parts`, in order,
    /// each copied straight into place (kept apart from `push_to`, whose
    /// one copy compiles smaller).
    #[inline]
    pub(crate) fn push_parts_to(&mut self, parts: &[&[u8]], to: &SocketAddr, mapped: bool) -> bool {
        let i = self.count;
        // `i` checked first, against the arrays' constant length: the
        // lookups below then compile to no test at all.
        if i >= OUTBOX_DATAGRAMS {
            return false;
        }
        let start = self.used;
        let len = parts.iter().fold(0usize, |n, p| n.saturating_add(p.len()));
        let Some(room) = self.bytes.get_mut(start..start.saturating_add(len)) else { return false };
        // The entry before the copy: `to` is read before the calls to
        // `memcpy`, not kept across them.
        if let (Some(iov), Some(h), Some(name)) =
            (self.iovecs.get_mut(i), self.headers.get_mut(i), self.names.get_mut(i))
        {
            *iov = libc::iovec { iov_base: self.base.wrapping_add(start).cast(), iov_len: len };
            h.msg_hdr.msg_namelen = name.set_as(to, mapped);
        }
        let mut rest = room;
        for part in parts {
            // Always some: `room` is the parts' total length.
            let Some((here, after)) = rest.split_at_mut_checked(part.len()) else { break };
            here.copy_from_slice(part);
            rest = after;
        }
        self.used = start + len;
        self.count = i + 1;
        true
    }

    /// Applies the result of one send of datagrams from `next` on: moves
    /// past those sent, or past the one that failed (its error handed to
    /// `error`). Returns true when the socket would block (the rest kept).
    fn sent_or_failed(
        &mut self,
        sent: io::Result<usize>,
        done: &mut Flushed,
        error: &mut impl FnMut(io::Error),
    ) -> bool {
        match sent {
            Ok(n) => {
                self.next += n;
                done.sent += n as u64;
            }
            Err(e) => match e.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => {
                    done.blocked = true;
                    return true;
                }
                _ => {
                    error(e);
                    self.next += 1;
                }
            },
        }
        false
    }

    /// Sends what is queued, in order, with as few `sendmmsg` calls as the
    /// kernel allows. An error on one datagram (other than `WouldBlock`
    /// and `Interrupted`) is handed to `error` for that datagram, which is
    /// dropped, and the rest are still tried. When the socket would block,
    /// stops with the rest kept (`blocked`); otherwise the outbox is empty
    /// afterwards.
    ///
    /// Where the socket takes UDP GSO, runs of datagrams to one peer go
    /// as one grouped entry each ([`Outbox::plan`], [`Outbox::send_planned`]);
    /// a refused group is sent again one datagram at a time, so that the
    /// above holds for each datagram of it.
    pub(crate) fn flush(&mut self, fd: RawFd, mut error: impl FnMut(io::Error)) -> Flushed {
        let mut done = Flushed::default();
        let count = self.count.min(OUTBOX_DATAGRAMS);
        #[cfg(test)]
        if self.unaddressed {
            // (Linux ignores the length of a null name.)
            for h in self.headers.iter_mut() {
                h.msg_hdr.msg_name = std::ptr::null_mut();
            }
        }
        while self.next < count {
            let start = self.next;
            if count - start == 1 {
                // One datagram (a reply with one datagram in flight): a
                // `sendto`, the kernel's shorter path, rather than a
                // `sendmmsg` of one.
                let sent = self.send_one(fd, start).map(|()| 1);
                if self.sent_or_failed(sent, &mut done, &mut error) {
                    return done;
                }
                continue;
            }
            if self.gso != Gso::Off {
                if let Some(entries) = self.plan(fd, start, count) {
                    // Connected: the first entry alone, the rest planned
                    // again (`set_connected`).
                    let entries = if self.connected { 1 } else { entries };
                    if self.send_planned(fd, start, entries, &mut done, &mut error) {
                        done.blocked = true;
                        return done;
                    }
                    continue;
                }
            }
            if self.connected {
                let sent = self.send_one(fd, start).map(|()| 1);
                if self.sent_or_failed(sent, &mut done, &mut error) {
                    return done;
                }
                continue;
            }
            // SAFETY: headers `start..count` were written by `push` (their
            // `iovec` and name pointers and `msg_iovlen` of 1 in `new`):
            // each points at its own `iovec`, covering bytes of `bytes`
            // that `push` initialised (inside it), and at its own C
            // address with that address's length. These are heap
            // allocations that are never resized, kept alive by `self`,
            // and `&mut self` keeps them unaliased for the call; the
            // kernel only reads through these pointers (it writes
            // `msg_len` in the headers, which are ours to lend).
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    self.headers.as_mut_ptr().wrapping_add(start),
                    (count - start) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            // Linux reports an error only when the first datagram of the
            // call failed (after that it returns the count sent): the
            // error is this one's.
            let sent = match n {
                n if n > 0 => Ok((n as usize).min(count - start)),
                0 => Err(io::Error::from(io::ErrorKind::WriteZero)),
                _ => Err(io::Error::last_os_error()),
            };
            if self.sent_or_failed(sent, &mut done, &mut error) {
                return done;
            }
        }
        self.clear();
        done
    }

    /// Sends datagram `i` alone with `sendto`.
    fn send_one(&mut self, fd: RawFd, i: usize) -> io::Result<()> {
        let (Some(iov), Some(h)) = (self.iovecs.get(i), self.headers.get(i)) else { return Ok(()) };
        // SAFETY: `push` wrote entry `i` (it is below `count`): its
        // `iovec` covers initialised bytes of `bytes`, and its header's
        // name points at its own C address with that address's length
        // (a null name, of a connected endpoint or the tests' unaddressed
        // mode, with any length, is no address to Linux). All of it is owned by `self`, unchanged
        // during the call, and the kernel only reads it.
        let n = unsafe {
            libc::sendto(
                fd,
                iov.iov_base,
                iov.iov_len,
                libc::MSG_DONTWAIT,
                h.msg_hdr.msg_name.cast(),
                h.msg_hdr.msg_namelen,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The datagrams a blocked flush left, in order, handed to `keep`;
    /// the outbox is empty afterwards.
    pub(crate) fn take_unsent(&mut self, mut keep: impl FnMut(&[u8], SocketAddr)) {
        let count = self.count.min(OUTBOX_DATAGRAMS);
        let base = self.base as usize;
        for i in self.next..count {
            let (Some(iov), Some(h), Some(name)) = (self.iovecs.get(i), self.headers.get(i), self.names.get(i)) else {
                break;
            };
            let start = (iov.iov_base as usize).wrapping_sub(base);
            let (Some(data), Some(to)) = (self.bytes.get(start..start + iov.iov_len), name.get(h.msg_hdr.msg_namelen))
            else {
                continue;
            };
            keep(data, to);
        }
        self.clear();
    }

    #[inline]
    fn clear(&mut self) {
        self.used = 0;
        self.count = 0;
        self.next = 0;
    }
}

/// An all-zero `sockaddr_in6`.
pub(super) fn zeroed_in6() -> libc::sockaddr_in6 {
    // SAFETY: `sockaddr_in6` is a C struct of integers; all-zero bytes
    // are a valid value of it.
    unsafe { zeroed() }
}
