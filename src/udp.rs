//! UDP state: datagram endpoints and their sockets.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol as SockProtocol, Socket, Type};

use crate::udp_batch::Outbox;
use crate::{DatagramProtocol, UdpOptions};

/// The largest UDP payload (65,527 bytes over IPv6, 65,507 over IPv4)
/// fits in this: the read buffer is never smaller.
pub(crate) const MAX_DATAGRAM: usize = 64 * 1024;

/// One UDP socket and its protocol.
pub(crate) struct Endpoint {
    pub(crate) generation: u32,
    pub(crate) socket: DgramSocket,
    /// `None` only while one of its callbacks runs.
    pub(crate) protocol: Option<Box<dyn DatagramProtocol>>,
    pub(crate) local: SocketAddr,
    /// The peer of a connected endpoint.
    pub(crate) connected: Option<SocketAddr>,
    /// Datagrams waiting for the socket buffer to drain (bounded).
    pub(crate) queue: VecDeque<(Vec<u8>, SocketAddr)>,
    /// Whether the socket is registered for writable events as well as
    /// readable ones: only while `queue` holds datagrams
    /// (`Core::sync_udp_interest`). A UDP socket raises a writable edge
    /// each time a sent datagram's buffer is freed (on loopback, within
    /// the send itself), which without a queue to flush was one more
    /// `epoll_wait` for about every other reply at one datagram in flight.
    pub(crate) write_interest: bool,
    /// Datagrams dropped because the queue was full.
    pub(crate) dropped: u64,
    /// Datagrams sent.
    pub(crate) sent: u64,
    /// Send errors waiting to be delivered to `error_received`.
    pub(crate) errors: Vec<io::Error>,
    /// Replies sent during a receive batch, for one `sendmmsg` after it
    /// (made on the first batch; a UDP socket's only).
    pub(crate) outbox: Option<Box<Outbox>>,
    /// Whether sends go to the outbox: set while a receive batch is
    /// served ([`Endpoint::begin_batch`]).
    pub(crate) batching: bool,
    pub(crate) in_ready: bool,
    pub(crate) in_dirty: bool,
    /// The ready round (`Core::ready_round`) in which errors were last
    /// delivered: errors raised again in the same round wait for the next.
    pub(crate) errors_round: Option<u64>,
    pub(crate) closing: bool,
    pub(crate) started: bool,
    /// The protocol's own timers, cancelled when the endpoint closes.
    pub(crate) timers: crate::timer::OwnedTimers,
    /// Where a datagram sent in parts is joined when it cannot go to the
    /// outbox (kept, so that joining allocates only once).
    pub(crate) joined: Vec<u8>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("local", &self.local).field("connected", &self.connected).finish()
    }
}

/// What an endpoint sends and receives through: a UDP socket, or an
/// in-memory one (the test harness's).
pub(crate) enum DgramSocket {
    Udp(mio::net::UdpSocket),
    Memory(Box<dyn DatagramTransport>),
}

/// An endpoint's socket without the OS: `recv_from` and `send_to`, with
/// `WouldBlock` when there is nothing to read.
pub(crate) trait DatagramTransport {
    fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)>;
    fn send_to(&self, data: &[u8], to: SocketAddr) -> io::Result<usize>;
}

impl DgramSocket {
    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            DgramSocket::Udp(s) => s.recv(buf),
            DgramSocket::Memory(m) => m.recv_from(buf).map(|(n, _)| n),
        }
    }

    pub(crate) fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match self {
            DgramSocket::Udp(s) => s.recv_from(buf),
            DgramSocket::Memory(m) => m.recv_from(buf),
        }
    }

    fn send_to(&self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        match self {
            DgramSocket::Udp(s) => s.send_to(data, to),
            DgramSocket::Memory(m) => m.send_to(data, to),
        }
    }

    /// The OS socket, `None` for an in-memory endpoint.
    pub(crate) fn udp(&self) -> Option<&mio::net::UdpSocket> {
        match self {
            DgramSocket::Udp(s) => Some(s),
            DgramSocket::Memory(_) => None,
        }
    }

    /// Takes the socket out of the poll (nothing to do in memory).
    pub(crate) fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        match self {
            DgramSocket::Udp(s) => registry.deregister(s),
            DgramSocket::Memory(_) => Ok(()),
        }
    }
}

/// Opens a non-blocking UDP socket bound to `addr`: `SO_REUSEPORT` if
/// asked, `IPV6_V6ONLY` for IPv6 unless dual stack is asked.
pub(crate) fn bind_udp(addr: SocketAddr, opts: &UdpOptions) -> io::Result<mio::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(SockProtocol::UDP))?;
    if opts.reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(!opts.dual_stack)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(mio::net::UdpSocket::from_std(socket.into()))
}

impl Endpoint {
    /// A new endpoint; its `started` is owed (the caller puts it on the
    /// dirty list).
    pub(crate) fn new(
        generation: u32,
        socket: DgramSocket,
        protocol: Box<dyn DatagramProtocol>,
        local: SocketAddr,
        connected: Option<SocketAddr>,
    ) -> Endpoint {
        Endpoint {
            generation,
            socket,
            protocol: Some(protocol),
            local,
            connected,
            queue: VecDeque::new(),
            write_interest: false,
            dropped: 0,
            sent: 0,
            errors: Vec::new(),
            outbox: None,
            batching: false,
            in_ready: false,
            errors_round: None,
            in_dirty: true,
            closing: false,
            started: false,
            timers: Default::default(),
            joined: Vec::new(),
        }
    }

    /// Sends one datagram now, or queues it if the socket buffer is full;
    /// during a receive batch, puts it in the outbox (sent after the
    /// batch). Errors other than `WouldBlock` are kept for
    /// `error_received`. Returns whether the endpoint needs settling:
    /// errors were recorded, or its queue went from empty to holding
    /// datagrams (the socket is to be polled for writable events).
    #[inline]
    pub(crate) fn send(&mut self, data: &[u8], to: SocketAddr, queue_limit: usize) -> bool {
        if self.batching && self.queue.is_empty() {
            let mapped = self.local.is_ipv6();
            if let Some(out) = self.outbox.as_mut() {
                if out.push_to(data, &to, mapped) {
                    return false;
                }
            }
            return self.send_past_outbox(data, self.wire_addr(to), queue_limit);
        }
        self.send_unbatched(data, to, queue_limit)
    }

    /// [`Endpoint::send`]'s common case on its own, small enough to be
    /// inlined into a protocol's callback: during a receive batch of an
    /// open endpoint with nothing queued, the datagram joins the outbox.
    /// False, and nothing done, in every other case, which
    /// [`Core::send_to`](crate::core::Core) then handles (an outbox
    /// that is full included).
    #[inline]
    pub(crate) fn push_batched(&mut self, data: &[u8], to: SocketAddr) -> bool {
        if !self.batching || self.closing || !self.queue.is_empty() {
            return false;
        }
        // No new `SocketAddr` for a dual-stack endpoint's IPv4 peer (as
        // `wire_addr` makes): the outbox writes the mapped C address.
        let mapped = self.local.is_ipv6();
        match self.outbox.as_mut() {
            Some(out) => out.push_to(data, &to, mapped),
            None => false,
        }
    }

    /// [`Endpoint::push_batched`] for a datagram made of `parts`.
    #[inline]
    pub(crate) fn push_parts_batched(&mut self, parts: &[&[u8]], to: SocketAddr) -> bool {
        if !self.batching || self.closing || !self.queue.is_empty() {
            return false;
        }
        let mapped = self.local.is_ipv6();
        match self.outbox.as_mut() {
            Some(out) => out.push_parts_to(parts, &to, mapped),
            None => false,
        }
    }

    /// A datagram the outbox has no room for: the outbox goes first, then
    /// this one joins the emptied outbox, or is sent on its own when it is
    /// larger than an outbox holds (or queued behind a blocked flush).
    #[cold]
    fn send_past_outbox(&mut self, data: &[u8], to: SocketAddr, queue_limit: usize) -> bool {
        let errors = self.flush_outbox(queue_limit);
        if self.queue.is_empty() {
            if let Some(out) = self.outbox.as_mut() {
                if out.push(data, to) {
                    return errors;
                }
            }
        }
        self.send_unbatched(data, to, queue_limit) | errors
    }

    /// [`Endpoint::send_past_outbox`] for a datagram in `parts` that
    /// found the outbox full during a batch: the outbox goes first, then
    /// the parts join the emptied outbox (copied once). Returns whether
    /// they joined it, and whether the endpoint needs settling (as
    /// [`Endpoint::flush_outbox`]). Nothing is done when there is no batch
    /// or the outbox is empty (the datagram is larger than an outbox); a
    /// flush that blocked leaves its rest queued and the parts out.
    #[cold]
    pub(crate) fn push_parts_past_outbox(
        &mut self,
        parts: &[&[u8]],
        to: SocketAddr,
        queue_limit: usize,
    ) -> (bool, bool) {
        if !self.batching
            || self.closing
            || !self.queue.is_empty()
            || !self.outbox.as_ref().is_some_and(|o| !o.is_empty())
        {
            return (false, false);
        }
        let settle = self.flush_outbox(queue_limit);
        (self.push_parts_batched(parts, to), settle)
    }

    /// [`Endpoint::send`] outside a batch: one system call.
    fn send_unbatched(&mut self, data: &[u8], to: SocketAddr, queue_limit: usize) -> bool {
        if self.queue.is_empty() {
            match self.send_now(data, to) {
                Ok(()) => {
                    self.sent += 1;
                    return false;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    self.errors.push(e);
                    return true;
                }
            }
        }
        self.enqueue(data, to, queue_limit)
    }

    /// Keeps a datagram for when the socket buffer drains (bounded).
    /// Returns whether the socket's poll interest is to change (see
    /// [`Endpoint::interest_stale`]).
    pub(crate) fn enqueue(&mut self, data: &[u8], to: SocketAddr, queue_limit: usize) -> bool {
        if self.queue.len() < queue_limit {
            self.queue.push_back((data.to_vec(), to));
        } else {
            self.dropped += 1;
            // `to` may be the IPv4-mapped address a dual-stack socket
            // sends to (a blocked flush's rest): said as the peer is known.
            let to = crate::tcp::canonical(to);
            log::warn!("udp {}: send queue full, datagram to {to} dropped ({} so far)", self.local, self.dropped);
        }
        self.interest_stale()
    }

    /// Whether the socket's registration no longer fits its queue: polled
    /// for writable events with nothing queued, or not with datagrams
    /// queued (`Core::sync_udp_interest` puts it right).
    #[inline]
    pub(crate) fn interest_stale(&self) -> bool {
        self.queue.is_empty() == self.write_interest
    }

    /// Starts a receive batch: from here to [`Endpoint::end_batch`], sends
    /// go to the outbox. A connected socket's outbox sends each of its
    /// entries (a run of datagrams grouped with UDP GSO, or one datagram)
    /// with a call of its own, so that the refusals a connected socket
    /// learns of are reported as separate sends would report them
    /// ([`Outbox::set_connected`]).
    #[inline]
    pub(crate) fn begin_batch(&mut self) {
        if matches!(self.socket, DgramSocket::Udp(_)) {
            let (local, connected) = (self.local, self.connected.is_some());
            self.outbox.get_or_insert_with(|| {
                let mut out = Outbox::new();
                out.local = Some(local);
                if connected {
                    out.set_connected();
                }
                out
            });
            self.batching = true;
        }
    }

    /// Ends a receive batch: sends what the outbox holds. Returns whether
    /// the endpoint needs settling (as [`Endpoint::flush_outbox`]).
    #[inline]
    pub(crate) fn end_batch(&mut self, queue_limit: usize) -> bool {
        self.batching = false;
        self.flush_outbox(queue_limit)
    }

    /// Sends what the outbox holds with as few `sendmmsg` calls as the
    /// kernel takes; each datagram's error is kept for `error_received`
    /// (the others still go), and what the socket has no room for joins
    /// the send queue, in order. Returns whether the endpoint needs
    /// settling: errors were recorded, or datagrams joined an empty queue
    /// (see [`Endpoint::send`]).
    #[inline]
    pub(crate) fn flush_outbox(&mut self, queue_limit: usize) -> bool {
        match self.outbox.as_ref() {
            Some(out) if !out.is_empty() => self.flush_outbox_now(queue_limit),
            _ => false,
        }
    }

    fn flush_outbox_now(&mut self, queue_limit: usize) -> bool {
        let (DgramSocket::Udp(socket), Some(out)) = (&self.socket, self.outbox.as_mut()) else { return false };
        let errors = &mut self.errors;
        let before = errors.len();
        let done = out.flush(socket.as_raw_fd(), |e| errors.push(e));
        self.sent += done.sent;
        let recorded = self.errors.len() > before;
        if done.blocked {
            let mut out = self.outbox.take();
            if let Some(out) = out.as_mut() {
                out.take_unsent(|data, to| {
                    self.enqueue(data, to, queue_limit);
                });
            }
            self.outbox = out;
            return recorded || self.interest_stale();
        }
        recorded
    }

    #[inline(always)]
    fn send_now(&self, data: &[u8], to: SocketAddr) -> io::Result<()> {
        // The UDP socket's path kept apart from the in-memory one, so that
        // it stays small enough to be inlined into `send`.
        let DgramSocket::Udp(socket) = &self.socket else {
            return self.send_now_memory(data, to);
        };
        loop {
            let r = match self.connected {
                Some(_) => socket.send(data),
                None => socket.send_to(data, self.wire_addr(to)),
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(_) => return Ok(()),
            }
        }
    }

    /// [`Endpoint::send_now`] for an in-memory endpoint.
    #[cold]
    fn send_now_memory(&self, data: &[u8], to: SocketAddr) -> io::Result<()> {
        let to = self.wire_addr(to);
        loop {
            match self.socket.send_to(data, to) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(_) => return Ok(()),
            }
        }
    }

    /// Where a datagram for `to` goes: a dual-stack endpoint reports IPv4
    /// peers as IPv4, and sends to them through their mapped IPv6 address.
    #[inline]
    fn wire_addr(&self, to: SocketAddr) -> SocketAddr {
        match to {
            SocketAddr::V4(v4) if self.local.is_ipv6() => SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port()),
            other => other,
        }
    }

    /// Sends queued datagrams until the socket would block. Returns whether
    /// errors were recorded.
    pub(crate) fn flush_queue(&mut self) -> bool {
        let mut errors = false;
        while let Some((data, to)) = self.queue.front() {
            match self.send_now(data, *to) {
                Ok(()) => self.sent += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.errors.push(e);
                    errors = true;
                }
            }
            self.queue.pop_front();
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use std::net::{SocketAddr, UdpSocket};
    use std::time::{Duration, Instant};

    use crate::{DatagramContext, DatagramProtocol, Reactor};

    struct Quiet;

    impl DatagramProtocol for Quiet {
        fn datagram_received(&mut self, _cx: &mut DatagramContext<'_>, _data: &[u8], _from: SocketAddr) {}
    }

    #[test]
    fn the_socket_is_polled_for_writable_events_only_while_datagrams_wait_in_its_queue() {
        let mut reactor = Reactor::new().unwrap();
        let id = reactor.listen_udp("127.0.0.1:0", Quiet).unwrap();
        reactor.turn(Some(Duration::ZERO)).unwrap();
        assert!(!reactor.core.udp(id).unwrap().write_interest, "readable events alone to begin with");
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let to = peer.local_addr().unwrap();
        // What a send the socket had no room for leaves (`send_unbatched`
        // after `WouldBlock`; a UDP socket on loopback never blocks, so
        // the queue is filled here as that path fills it).
        let u = reactor.core.udp_mut(id).unwrap();
        assert!(u.enqueue(b"one", to, 8), "a first queued datagram asks for writable events");
        u.enqueue(b"two", to, 8);
        reactor.core.mark_udp_dirty(id);
        // The settle phase adds the interest; the socket, writable, is
        // reported at once and its queue flushed, in order.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !reactor.core.udp(id).unwrap().queue.is_empty() {
            assert!(Instant::now() < deadline, "the queue was never flushed");
            reactor.turn(Some(Duration::from_millis(100))).unwrap();
        }
        let mut buf = [0u8; 16];
        for want in [&b"one"[..], b"two"] {
            let (n, _) = peer.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], want);
        }
        let u = reactor.core.udp(id).unwrap();
        assert_eq!((u.sent, u.write_interest), (2, false), "drained: readable events alone again");
    }

    #[test]
    fn datagrams_in_the_send_queue_of_a_closing_endpoint_are_counted_as_dropped() {
        let mut reactor = Reactor::new().unwrap();
        let id = reactor.listen_udp("127.0.0.1:0", Quiet).unwrap();
        reactor.turn(Some(Duration::ZERO)).unwrap();
        let to: SocketAddr = "127.0.0.1:9".parse().unwrap();
        // As sends the socket had no room for leave them (see above), one
        // over a limit of 2: dropped at once.
        let u = reactor.core.udp_mut(id).unwrap();
        for data in [&b"one"[..], b"two", b"three"] {
            u.enqueue(data, to, 2);
        }
        assert_eq!(reactor.udp_dropped(id), Some(1));
        assert_eq!(reactor.stats().datagrams_dropped, 1, "queued ones are not dropped while it is open");
        assert!(reactor.context().close_udp(id));
        reactor.turn(Some(Duration::ZERO)).unwrap();
        assert!(reactor.core.udp(id).is_none(), "closed");
        let stats = reactor.stats();
        assert_eq!((stats.endpoints, stats.datagrams_out, stats.datagrams_dropped), (0, 0, 3));
    }

    #[test]
    fn a_datagram_dropped_by_a_full_queue_is_logged_with_its_peer_as_known() {
        // A dual-stack endpoint's blocked flush leaves its rest with the
        // IPv4-mapped addresses it sends to; the warning names the peer.
        let opts = crate::UdpOptions { dual_stack: true, ..Default::default() };
        let mut reactor = Reactor::new().unwrap();
        let Ok(id) = reactor.listen_udp_with("[::]:0", Quiet, &opts) else { return };
        let local = reactor.udp_addr(id).unwrap();
        crate::test_log::capture();
        let u = reactor.core.udp_mut(id).unwrap();
        for to in ["[::ffff:192.0.2.7]:9", "[2001:db8::1]:9"] {
            u.enqueue(b"x", to.parse().unwrap(), 0);
        }
        let said: Vec<_> = crate::test_log::records_here().into_iter().map(|(_, m)| m).collect();
        assert_eq!(
            said,
            [
                format!("udp {local}: send queue full, datagram to 192.0.2.7:9 dropped (1 so far)"),
                format!("udp {local}: send queue full, datagram to [2001:db8::1]:9 dropped (2 so far)"),
            ]
        );
    }
}
