//! UDP state: datagram endpoints and their sockets.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol as SockProtocol, Socket, Type};

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
    /// Datagrams dropped because the queue was full.
    pub(crate) dropped: u64,
    /// Datagrams sent.
    pub(crate) sent: u64,
    /// Send errors waiting to be delivered to `error_received`.
    pub(crate) errors: Vec<io::Error>,
    pub(crate) in_ready: bool,
    pub(crate) in_dirty: bool,
    pub(crate) closing: bool,
    pub(crate) started: bool,
    /// The protocol's own timers, cancelled when the endpoint closes.
    pub(crate) timers: crate::timer::OwnedTimers,
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

    fn send(&self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        match self {
            DgramSocket::Udp(s) => s.send(data),
            DgramSocket::Memory(m) => m.send_to(data, to),
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
            dropped: 0,
            sent: 0,
            errors: Vec::new(),
            in_ready: false,
            in_dirty: true,
            closing: false,
            started: false,
            timers: Default::default(),
        }
    }

    /// Sends one datagram now, or queues it if the socket buffer is full.
    /// Errors other than `WouldBlock` are kept for `error_received`.
    pub(crate) fn send(&mut self, data: &[u8], to: SocketAddr, queue_limit: usize) -> bool {
        let (socket, local, connected) = (&self.socket, self.local, self.connected.is_some());
        let sent = send_or_queue(&mut self.queue, &mut self.errors, queue_limit, data, to, |data, to| {
            send_now(socket, local, connected, data, *to)
        });
        match sent {
            SendOutcome::Sent => self.sent += 1,
            SendOutcome::Queued => {}
            SendOutcome::Failed => return true,
            SendOutcome::Dropped => {
                self.dropped += 1;
                log::warn!("udp {}: send queue full, datagram to {to} dropped ({} so far)", self.local, self.dropped);
            }
        }
        false
    }

    /// Sends queued datagrams until the socket would block. Returns whether
    /// errors were recorded.
    pub(crate) fn flush_queue(&mut self) -> bool {
        let (socket, local, connected) = (&self.socket, self.local, self.connected.is_some());
        let (sent, failed) =
            flush_queue(&mut self.queue, &mut self.errors, |data, to| send_now(socket, local, connected, data, *to));
        self.sent += sent;
        failed
    }
}

/// Sends one datagram from the endpoint bound to `local` (on its peer if
/// `connected`), retrying when interrupted.
#[inline]
fn send_now(socket: &DgramSocket, local: SocketAddr, connected: bool, data: &[u8], to: SocketAddr) -> io::Result<()> {
    // A dual-stack endpoint reports IPv4 peers as IPv4: send to them
    // through their mapped IPv6 address.
    let to = match to {
        SocketAddr::V4(v4) if local.is_ipv6() => SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port()),
        other => other,
    };
    loop {
        let r = if connected { socket.send(data, to) } else { socket.send_to(data, to) };
        match r {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(_) => return Ok(()),
        }
    }
}

/// What [`send_or_queue`] did with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendOutcome {
    /// Sent now.
    Sent,
    /// Copied into the queue: the socket would block, or others wait.
    Queued,
    /// Dropped: the queue is full.
    Dropped,
    /// The send failed; the error is in `errors`.
    Failed,
}

/// Sends a datagram with `send_now` unless others wait already, queueing
/// a copy (up to `limit` queued) when the socket would block; other
/// errors are kept in `errors` for `error_received`. Shared by the UDP and
/// the Unix datagram endpoints; generic and inlined, so it costs nothing
/// per datagram.
#[inline]
pub(crate) fn send_or_queue<A>(
    queue: &mut VecDeque<(Vec<u8>, A)>,
    errors: &mut Vec<io::Error>,
    limit: usize,
    data: &[u8],
    to: A,
    send_now: impl FnOnce(&[u8], &A) -> io::Result<()>,
) -> SendOutcome {
    if queue.is_empty() {
        match send_now(data, &to) {
            Ok(()) => return SendOutcome::Sent,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                errors.push(e);
                return SendOutcome::Failed;
            }
        }
    }
    if queue.len() < limit {
        queue.push_back((data.to_vec(), to));
        SendOutcome::Queued
    } else {
        SendOutcome::Dropped
    }
}

/// Sends queued datagrams with `send_now` until the socket would block;
/// errors go to `errors`. Returns how many were sent and whether errors
/// were recorded.
#[inline]
pub(crate) fn flush_queue<A>(
    queue: &mut VecDeque<(Vec<u8>, A)>,
    errors: &mut Vec<io::Error>,
    mut send_now: impl FnMut(&[u8], &A) -> io::Result<()>,
) -> (u64, bool) {
    let (mut sent, mut failed) = (0, false);
    while let Some((data, to)) = queue.front() {
        match send_now(data, to) {
            Ok(()) => sent += 1,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                errors.push(e);
                failed = true;
            }
        }
        queue.pop_front();
    }
    (sent, failed)
}
