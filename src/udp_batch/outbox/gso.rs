//! UDP GSO for the outbox: a flush's datagrams planned as `sendmmsg`
//! entries, each run of equal-size datagrams to one peer as one entry
//! with a `UDP_SEGMENT` control message ([`Outbox::plan`]), those entries
//! sent ([`Outbox::send_planned`]), and what a refused group says about
//! grouping on the endpoint. The parent module holds the outbox itself
//! and its sends without groups.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::RawFd;

use super::{CAddr, Flushed, Outbox};
use crate::udp_batch::OUTBOX_DATAGRAMS;

/// The segments of one grouped send at most (the kernel's
/// `UDP_MAX_SEGMENTS` before Linux 6.2; 128 since).
const GSO_MAX_SEGMENTS: usize = 64;

/// The payload bytes of one grouped send at most: the largest IPv4 UDP
/// payload (IPv6 allows 20 more; one figure keeps both simple).
pub(in crate::udp_batch) const GSO_MAX_BYTES: usize = 65_507;

/// The segment size that fits any path a datagram may take: IPv6's
/// minimum MTU (1,280) less its and UDP's headers (48). Grouped sends
/// with larger segments are tried until the kernel refuses one that then
/// goes out one datagram at a time (the segment and its headers exceed
/// the path MTU: `EINVAL`, or `EMSGSIZE` from the IPv6 path with a
/// socket MTU); after that the endpoint groups only segments up to this
/// size.
pub(in crate::udp_batch) const GSO_SAFE_SEGMENT: usize = 1_232;

/// The length of a `UDP_SEGMENT` control message (header and its `u16`)
/// and the room it takes in a control buffer.
// SAFETY: `CMSG_LEN` and `CMSG_SPACE` are arithmetic on their argument
// (alignment of lengths); they read no memory.
const CONTROL_LEN: usize = unsafe { libc::CMSG_LEN(size_of::<u16>() as libc::c_uint) } as usize;
// SAFETY: as above.
const CONTROL_SPACE: usize = unsafe { libc::CMSG_SPACE(size_of::<u16>() as libc::c_uint) } as usize;
// SAFETY: as above.
const CONTROL_DATA: usize = unsafe { libc::CMSG_LEN(0) } as usize;

/// The control buffer of a grouped send: one `cmsghdr` (`SOL_UDP`,
/// `UDP_SEGMENT`) followed by the segment size, laid out as `CMSG_DATA`
/// and `CMSG_SPACE` say (asserted below, and walked with
/// `CMSG_FIRSTHDR`, `CMSG_DATA` and `CMSG_NXTHDR` in a test), so that a
/// flush writes the size as a field, with no pointer arithmetic.
#[repr(C)]
#[derive(Clone, Copy)]
pub(in crate::udp_batch) struct SegmentControl {
    pub(in crate::udp_batch) header: libc::cmsghdr,
    pub(in crate::udp_batch) size: u16,
    _pad: [u8; CONTROL_SPACE - CONTROL_LEN],
}

const _: () = assert!(std::mem::offset_of!(SegmentControl, size) == CONTROL_DATA);
const _: () = assert!(size_of::<SegmentControl>() == CONTROL_SPACE);

impl SegmentControl {
    pub(in crate::udp_batch) fn new() -> SegmentControl {
        // SAFETY: `SegmentControl` is C data (a `cmsghdr` of integers,
        // possibly with padding fields, a `u16` and bytes): all-zero
        // bytes are a valid value of it.
        let mut c: SegmentControl = unsafe { zeroed() };
        c.header.cmsg_len = CONTROL_LEN as _;
        c.header.cmsg_level = libc::SOL_UDP;
        c.header.cmsg_type = libc::UDP_SEGMENT;
        c
    }
}

/// Whether an endpoint sends runs of datagrams as one (UDP GSO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::udp_batch) enum Gso {
    /// Not asked yet: the first flush with two datagrams or more asks
    /// the socket (`getsockopt(SOL_UDP, UDP_SEGMENT)`).
    Unknown,
    On,
    /// The kernel has no UDP GSO (or not on this socket, a Unix one), or
    /// the device refused a grouped send (`EIO`, `ENOPROTOOPT`), or the
    /// socket refused one of small segments whose datagrams then went
    /// alone (see [`Outbox::grouping_refused`]).
    Off,
}

/// Whether the socket `fd` takes `UDP_SEGMENT`: Linux 4.18 and later
/// answer its `getsockopt` on a UDP socket; an older kernel, or another
/// kind of socket, refuses it (and would ignore the control message,
/// sending a group as one datagram: never risked).
fn gso_supported(fd: RawFd) -> bool {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are locals valid for writes of their
    // sizes, and `len` says how large `value` is: the kernel writes at
    // most that many bytes there, and the new length into `len`.
    let r = unsafe {
        libc::getsockopt(fd, libc::SOL_UDP, libc::UDP_SEGMENT, (&mut value as *mut libc::c_int).cast(), &mut len)
    };
    r == 0
}

impl Outbox {
    /// Plans a grouped send of datagrams `start..count` (at least two)
    /// into `sends`: each run of consecutive datagrams to one destination,
    /// of one size but for a last one that may be shorter (and none
    /// empty), at most [`GSO_MAX_SEGMENTS`] and [`GSO_MAX_BYTES`], becomes
    /// one entry with a `UDP_SEGMENT` control message; every other
    /// datagram an entry of its own. The outbox's order is the order of
    /// the entries, so each destination's datagrams (and their errors)
    /// keep theirs. Returns the number of entries, or `None` when no run
    /// has two datagrams (the plain `sendmmsg` of `headers` does then) or
    /// the socket has no GSO (asked on the first plan).
    pub(super) fn plan(&mut self, fd: RawFd, start: usize, count: usize) -> Option<usize> {
        if self.gso == Gso::Unknown {
            self.gso = if gso_supported(fd) { Gso::On } else { Gso::Off };
            if self.gso == Gso::Off {
                return None;
            }
        }
        let mut entries = 0;
        let mut grouped = false;
        let mut i = start;
        while i < count {
            let first = i;
            let (Some(iov), Some(h)) = (self.iovecs.get(first), self.headers.get(first)) else { break };
            let (size, namelen) = (iov.iov_len, h.msg_hdr.msg_namelen);
            let (segments, total) = if size > 0 && size <= self.gso_segment_max {
                self.run(first, count, size, namelen)
            } else {
                (1, size)
            };
            i = first + segments;
            let (Some(send), Some(send_iov), Some(control), Some(end)) = (
                self.sends.get_mut(entries),
                self.send_iovecs.get_mut(entries),
                self.controls.get_mut(entries),
                self.ends.get_mut(entries),
            ) else {
                break;
            };
            // The run's bytes are contiguous: each push appends to `bytes`.
            *send_iov = libc::iovec { iov_base: iov.iov_base, iov_len: total };
            send.msg_hdr.msg_name = h.msg_hdr.msg_name;
            send.msg_hdr.msg_namelen = namelen;
            if i - first > 1 {
                grouped = true;
                control.size = size as u16;
                send.msg_hdr.msg_controllen = CONTROL_SPACE as _;
            } else {
                send.msg_hdr.msg_controllen = 0;
            }
            *end = i;
            entries += 1;
        }
        grouped.then_some(entries)
    }

    /// The run of datagrams from `first` (of `size` bytes, not empty, to
    /// an address of length `namelen`) that one grouped send can carry,
    /// before `count`: how many (at least 1) and their bytes. Datagrams
    /// of `size` bytes to the same address, at most [`GSO_MAX_SEGMENTS`]
    /// and [`GSO_MAX_BYTES`], and then one shorter (not empty) if it fits.
    #[inline]
    fn run(&self, first: usize, count: usize, size: usize, namelen: libc::socklen_t) -> (usize, usize) {
        let end = count.min(first + GSO_MAX_SEGMENTS);
        let full = end.min(first + GSO_MAX_BYTES / size);
        let Some(name) = self.names.get(first) else { return (1, size) };
        let v6 = namelen as usize != size_of::<libc::sockaddr_in>();
        let same = |next: &CAddr| next.same_head(name) && (!v6 || next.same_v6(name));
        let mut i = first + 1;
        if let (Some(iovecs), Some(names)) = (self.iovecs.get(i..full), self.names.get(i..full)) {
            // Two loops, so that the common one (IPv4) tests nothing else.
            let run = if v6 {
                iovecs.iter().zip(names).take_while(|(iov, next)| iov.iov_len == size && same(next)).count()
            } else {
                iovecs.iter().zip(names).take_while(|(iov, next)| iov.iov_len == size && next.same_head(name)).count()
            };
            i += run;
        }
        let mut total = (i - first) * size;
        if i < end {
            if let (Some(iov), Some(next)) = (self.iovecs.get(i), self.names.get(i)) {
                let len = iov.iov_len;
                if len > 0 && len < size && total + len <= GSO_MAX_BYTES && same(next) {
                    total += len;
                    i += 1;
                }
            }
        }
        (i - first, total)
    }

    /// Sends the `entries` that [`Outbox::plan`] made from datagram
    /// `start` on, with one `sendmsg` (one entry) or `sendmmsg`. A grouped
    /// entry the kernel refuses with an error a group can cause (`EINVAL`,
    /// `EMSGSIZE`, `EIO`, `ENOPROTOOPT`, `EOPNOTSUPP`) is sent again one
    /// datagram at a time, so that errors stay each datagram's own, in
    /// order; any other error is its first datagram's, as without groups.
    /// Three of them (`EMSGSIZE`, `ENOPROTOOPT`, `EOPNOTSUPP`) are also
    /// what an ICMP error kept pending on an `IP_RECVERR` socket becomes,
    /// consumed by whichever send meets it: the group is tried once more
    /// first, and taken then, the error is reported (as without groups)
    /// and grouping left as it was. A refusal of the group's own that says
    /// the device or kernel cannot segment (`EIO`, `ENOPROTOOPT`,
    /// `EOPNOTSUPP`) ends grouping on this endpoint, and so may one whose
    /// datagrams then all go alone ([`Outbox::grouping_refused`]); either
    /// is logged once ([`Outbox::grouping_off`]). Returns whether the
    /// socket would block (the unsent rest kept from `next`).
    pub(super) fn send_planned(
        &mut self,
        fd: RawFd,
        start: usize,
        entries: usize,
        done: &mut Flushed,
        error: &mut impl FnMut(io::Error),
    ) -> bool {
        let entries = entries.min(OUTBOX_DATAGRAMS);
        let sent = if entries == 1 {
            self.send_first_entry(fd).map(|()| 1)
        } else {
            // SAFETY: as in `send_first_entry`, for entries `0..entries`,
            // all written by `plan`; the kernel also writes `msg_len` in
            // them, which are ours to lend (`&mut self`).
            let n = unsafe { libc::sendmmsg(fd, self.sends.as_mut_ptr(), entries as libc::c_uint, libc::MSG_DONTWAIT) };
            // An error is the first entry's (as in `flush`).
            match n {
                n if n > 0 => Ok((n as usize).min(entries)),
                0 => Err(io::Error::from(io::ErrorKind::WriteZero)),
                _ => Err(io::Error::last_os_error()),
            }
        };
        let e = match sent {
            Ok(n) => {
                self.entries_sent(start, n, done);
                return false;
            }
            Err(e) => e,
        };
        match e.kind() {
            io::ErrorKind::Interrupted => return false,
            io::ErrorKind::WouldBlock => return true,
            _ => {}
        }
        let end = self.ends.first().copied().unwrap_or(start + 1).min(self.count);
        if end - start == 1 || !may_be_the_groups(&e) {
            // Any other error (a refusal pending on the socket, `ENOBUFS`,
            // ...) is the first datagram's, as without groups: reported,
            // that datagram dropped, and the rest planned again.
            error(e);
            self.next = start + 1;
            return false;
        }
        let e = if may_be_pending(&e) {
            // The socket's or the group's? A pending error is consumed by
            // the send that meets it: the group is tried once more.
            match self.send_group_again(fd) {
                Ok(()) => {
                    // Taken: the refusal was the socket's, an ICMP error
                    // an `IP_RECVERR` socket kept, and says nothing of
                    // grouping. Reported, as without groups (where the
                    // datagram that met it fails with it; here the second
                    // try sent the group whole).
                    self.entries_sent(start, 1, done);
                    error(e);
                    return false;
                }
                // Nothing sent, and the socket is full: the first refusal
                // was the socket's (Linux hands a pending error over
                // before it looks at the buffer space; a refusal of the
                // group's own would have come again). Reported; the next
                // flush plans the group again.
                Err(again) if again.kind() == io::ErrorKind::WouldBlock => {
                    error(e);
                    return true;
                }
                Err(again) if !may_be_the_groups(&again) => {
                    // A new error, not the group's: the first refusal was
                    // pending as well. Both reported, the second as the
                    // first datagram's (as without groups).
                    error(e);
                    error(again);
                    self.next = start + 1;
                    return false;
                }
                // Refused again: the group's own. A different refusal
                // means the first was the socket's, and is reported
                // (say fragmentation needed, whose lowered path MTU then
                // makes the kernel refuse the group itself).
                Err(again) => {
                    if again.raw_os_error() != e.raw_os_error() {
                        error(e);
                    }
                    again
                }
            }
        } else {
            e
        };
        if matches!(e.raw_os_error(), Some(libc::EIO | libc::ENOPROTOOPT | libc::EOPNOTSUPP)) {
            // The device cannot checksum a grouped send, or the kernel
            // cannot segment one.
            self.grouping_off(&e, start);
        }
        let mut failed = false;
        for i in start..end {
            loop {
                match self.send_one(fd, i) {
                    Ok(()) => done.sent += 1,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.next = i;
                        return true;
                    }
                    Err(e) => {
                        failed = true;
                        error(e);
                    }
                }
                break;
            }
            self.next = i + 1;
        }
        if !failed {
            self.grouping_refused(&e, start);
        }
        false
    }

    /// A grouped send from datagram `first` was refused with `e`, and its
    /// datagrams then went one by one without an error: the refusal was
    /// the group's own (a segment and its headers larger than the path
    /// MTU: `EINVAL`, or `EMSGSIZE` from IPv6 with a socket MTU; or a
    /// socket that cannot segment, such as one with `SO_NO_CHECK`). Larger
    /// segments than [`GSO_SAFE_SEGMENT`] are not grouped any more; a
    /// refused group of smaller ones ends grouping on this endpoint.
    /// (When a datagram of the group fails alone too, the refusal was its
    /// destination's, such as port 0, and says nothing of grouping.)
    #[cold]
    fn grouping_refused(&mut self, e: &io::Error, first: usize) {
        let size = self.segment_size(first);
        if size > GSO_SAFE_SEGMENT && self.gso_segment_max > GSO_SAFE_SEGMENT {
            log::debug!(
                "udp {}: grouped send of {size}-byte segments refused ({e}): grouping up to {GSO_SAFE_SEGMENT} bytes from now on",
                Local(self.local)
            );
            self.gso_segment_max = GSO_SAFE_SEGMENT;
        } else {
            self.grouping_off(e, first);
        }
    }

    /// Ends grouping on this endpoint after a refused group from datagram
    /// `first` (`e`); said once, at `info` level, with the endpoint's
    /// address.
    #[cold]
    fn grouping_off(&mut self, e: &io::Error, first: usize) {
        if self.gso == Gso::On {
            log::info!(
                "udp {}: grouped send of {}-byte segments refused ({e}): UDP GSO off, datagrams go one by one from now on",
                Local(self.local),
                self.segment_size(first)
            );
        }
        self.gso = Gso::Off;
    }

    /// The size of datagram `i` (the segment size of a group it starts).
    fn segment_size(&self, i: usize) -> usize {
        self.iovecs.get(i).map_or(0, |iov| iov.iov_len)
    }

    /// Moves past the first `n` entries of a planned send (the kernel took
    /// them): their datagrams are sent.
    fn entries_sent(&mut self, start: usize, n: usize, done: &mut Flushed) {
        let end = match n.checked_sub(1) {
            Some(last) => self.ends.get(last).copied().unwrap_or(start + 1),
            None => start,
        };
        #[cfg(test)]
        {
            let mut from = start;
            for &e in self.ends.iter().take(n) {
                self.grouped += u64::from(e - from > 1);
                from = e;
            }
        }
        done.sent += (end - start) as u64;
        self.next = end;
    }

    /// Sends entry 0 of the planned sends with one `sendmsg`.
    fn send_first_entry(&self, fd: RawFd) -> io::Result<()> {
        let Some(send) = self.sends.first() else { return Ok(()) };
        // SAFETY: `plan` wrote entry 0: its name points at a C address of
        // `names` with its length (or is null: a connected endpoint's, or the tests' unaddressed mode),
        // its `iovec` (of `send_iovecs`, pointed at in `new`) covers the
        // bytes of consecutive datagrams that `push` initialised inside
        // `bytes`, and its control, when `msg_controllen` is not zero, is
        // its own `SegmentControl`, whole and as long as that length. All
        // of it is owned by `self`, never resized, unchanged during the
        // call, and only read by the kernel.
        let r = unsafe { libc::sendmsg(fd, &send.msg_hdr, libc::MSG_DONTWAIT) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// [`Outbox::send_first_entry`] again, for a refused group: its
    /// datagrams have not moved (the entry is as `plan` wrote it).
    #[cold]
    fn send_group_again(&self, fd: RawFd) -> io::Result<()> {
        loop {
            match self.send_first_entry(fd) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }
}

/// Whether a refused grouped send's error can be the grouping's fault:
/// only these (`udp_send_skb`, `udp_cmsg_send`, the IPv6 path with a
/// socket MTU).
fn may_be_the_groups(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EMSGSIZE | libc::EIO | libc::ENOPROTOOPT | libc::EOPNOTSUPP))
}

/// Whether such an error can also be one kept pending on the socket,
/// which any send meets: an ICMP error on an `IP_RECVERR` socket
/// (fragmentation needed or packet too big `EMSGSIZE`, protocol
/// unreachable `ENOPROTOOPT`, source route failed `EOPNOTSUPP`).
fn may_be_pending(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMSGSIZE | libc::ENOPROTOOPT | libc::EOPNOTSUPP))
}

/// An endpoint's address in a log line (`?` when unknown: an outbox of
/// the unit tests).
struct Local(Option<SocketAddr>);

impl std::fmt::Display for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(a) => write!(f, "{a}"),
            None => f.write_str("?"),
        }
    }
}
