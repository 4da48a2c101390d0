//! The send half of datagram batching: replies queued during a receive
//! batch and sent with one `sendmmsg` (see the parent module for the
//! receive half and for why `libc` is called directly).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::RawFd;

use super::{zeroed_header, BATCH, OUTBOX_BYTES};

/// A destination as `sendmmsg` reads it: IPv4 or IPv6, `repr(C)` so that
/// a pointer to it points at either (writing a field of a union is safe;
/// only the kernel reads it, as the family and length say).
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) union CAddr {
    pub(super) v4: libc::sockaddr_in,
    pub(super) v6: libc::sockaddr_in6,
}

impl CAddr {
    /// Writes `addr` in C form; returns its length.
    #[inline]
    pub(super) fn set(&mut self, addr: SocketAddr) -> libc::socklen_t {
        match addr {
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
                    sin6_flowinfo: a.flowinfo().to_be(),
                    sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                    sin6_scope_id: a.scope_id(),
                };
                size_of::<libc::sockaddr_in6>() as libc::socklen_t
            }
        }
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
/// it: up to [`BATCH`] datagrams and [`OUTBOX_BYTES`] bytes, copied into
/// one buffer allocated once (the outbox is boxed by its endpoint, made on
/// the first batch and reused). A push copies the bytes and keeps the
/// destination; the flush writes the C addresses, `iovec`s and headers,
/// taking every pointer right before the system call, so nothing here
/// points into itself between flushes.
pub(crate) struct Outbox {
    bytes: [u8; OUTBOX_BYTES],
    /// Bytes of `bytes` in use.
    used: usize,
    /// Where each datagram's bytes start and end in `bytes`.
    spans: [(u32, u32); BATCH],
    to: [SocketAddr; BATCH],
    names: [CAddr; BATCH],
    iovecs: [libc::iovec; BATCH],
    headers: [libc::mmsghdr; BATCH],
    /// Datagrams queued.
    count: usize,
    /// The first datagram not sent yet (a flush that would block stops
    /// there).
    next: usize,
    /// Send without addresses, to the socket's connected peer: the
    /// tests' Unix socket pair, whose full queue makes `sendmmsg` block
    /// (a UDP sender on loopback never blocks).
    #[cfg(test)]
    pub(super) connected: bool,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("count", &self.count).field("next", &self.next).finish()
    }
}

impl Outbox {
    /// An empty outbox, on the heap (it is about 70 KiB).
    pub(crate) fn new() -> Box<Outbox> {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        Box::new(Outbox {
            bytes: [0; OUTBOX_BYTES],
            used: 0,
            spans: [(0, 0); BATCH],
            to: [unspecified; BATCH],
            names: [CAddr { v6: zeroed_in6() }; BATCH],
            iovecs: [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; BATCH],
            headers: std::array::from_fn(|_| {
                let mut h = zeroed_header();
                h.msg_hdr.msg_iovlen = 1;
                h
            }),
            count: 0,
            next: 0,
            #[cfg(test)]
            connected: false,
        })
    }

    /// Whether nothing waits to be sent.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.count == self.next
    }

    /// Queues a copy of `data` for `to` (the address as the socket takes
    /// it). False, and nothing queued, when the outbox is full: [`BATCH`]
    /// datagrams, or no room for `data` in [`OUTBOX_BYTES`].
    #[inline]
    pub(crate) fn push(&mut self, data: &[u8], to: SocketAddr) -> bool {
        let (i, start) = (self.count, self.used);
        let end = start + data.len();
        let (Some(span), Some(dst), Some(room)) =
            (self.spans.get_mut(i), self.to.get_mut(i), self.bytes.get_mut(start..end))
        else {
            return false;
        };
        room.copy_from_slice(data);
        // Both fit in a u32: `end` <= OUTBOX_BYTES.
        *span = (start as u32, end as u32);
        *dst = to;
        self.used = end;
        self.count = i + 1;
        true
    }

    /// Sends what is queued, in order, with as few `sendmmsg` calls as the
    /// kernel allows. An error on one datagram (other than `WouldBlock`
    /// and `Interrupted`) is handed to `error` for that datagram, which is
    /// dropped, and the rest are still tried. When the socket would block,
    /// stops with the rest kept (`blocked`); otherwise the outbox is empty
    /// afterwards.
    pub(crate) fn flush(&mut self, fd: RawFd, mut error: impl FnMut(io::Error)) -> Flushed {
        let mut done = Flushed::default();
        let count = self.count.min(BATCH);
        if self.next >= count {
            self.clear();
            return done;
        }
        let base = self.bytes.as_mut_ptr();
        for i in self.next..count {
            let (Some(&(start, end)), Some(&to), Some(name), Some(iov), Some(h)) = (
                self.spans.get(i),
                self.to.get(i),
                self.names.get_mut(i),
                self.iovecs.get_mut(i),
                self.headers.get_mut(i),
            ) else {
                break;
            };
            *iov = libc::iovec { iov_base: base.wrapping_add(start as usize).cast(), iov_len: (end - start) as usize };
            h.msg_hdr.msg_namelen = name.set(to);
            h.msg_hdr.msg_name = (name as *mut CAddr).cast();
            h.msg_hdr.msg_iov = iov;
            #[cfg(test)]
            if self.connected {
                h.msg_hdr.msg_name = std::ptr::null_mut();
                h.msg_hdr.msg_namelen = 0;
            }
        }
        while self.next < count {
            let start = self.next;
            // SAFETY: headers `start..count` were filled just above (their
            // `msg_iovlen` of 1 in `new`), with no change to the outbox
            // since: each points at its own
            // `iovec` (covering initialised bytes of `bytes`, inside it)
            // and at its own C address with that address's length.
            // `&mut self` keeps all of it alive and unaliased for the
            // call, and the kernel only reads through these pointers (it
            // writes `msg_len` in the headers, which are ours to lend).
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    self.headers.as_mut_ptr().wrapping_add(start),
                    (count - start) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                self.next += (n as usize).min(count - start);
                done.sent += n as u64;
                continue;
            }
            // Linux reports an error only when the first datagram of the
            // call failed (after that it returns the count sent): the
            // error is this one's.
            let e = if n == 0 { io::Error::from(io::ErrorKind::WriteZero) } else { io::Error::last_os_error() };
            match e.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => {
                    done.blocked = true;
                    return done;
                }
                _ => {
                    error(e);
                    self.next += 1;
                }
            }
        }
        self.clear();
        done
    }

    /// The datagrams a blocked flush left, in order, handed to `keep`;
    /// the outbox is empty afterwards.
    pub(crate) fn take_unsent(&mut self, mut keep: impl FnMut(&[u8], SocketAddr)) {
        let count = self.count.min(BATCH);
        for (&(start, end), &to) in self.spans.iter().zip(&self.to).take(count).skip(self.next) {
            if let Some(data) = self.bytes.get(start as usize..end as usize) {
                keep(data, to);
            }
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
