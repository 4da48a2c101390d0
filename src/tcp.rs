//! TCP state: connections and listeners, and the sockets under them.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol as SockProtocol, Socket, Type};

use crate::buffer::OutBuf;
use crate::stream::Stream;
use crate::{Factory, ListenOptions, Protocol, Reason, TcpOptions, TimerId};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A client connect is in progress.
    Connecting,
    /// Established: reading and writing.
    Open,
    /// `close()` was asked: flushing what is queued, reading no more.
    Closing,
    /// The protocol is gone (`connection_lost` ran); the socket reads and
    /// discards until the peer closes too, or the linger timer fires.
    Lingering,
}

/// Per-connection flags.
pub(crate) mod flag {
    pub(crate) const READ_PAUSED: u16 = 1;
    pub(crate) const EOF: u16 = 1 << 1;
    pub(crate) const WRITE_BLOCKED: u16 = 1 << 2;
    pub(crate) const WRITING_PAUSED: u16 = 1 << 3;
    pub(crate) const IN_DIRTY: u16 = 1 << 4;
    pub(crate) const IN_READY: u16 = 1 << 5;
    /// End the connection now: abort, error, panic, or output limit.
    pub(crate) const DOOMED: u16 = 1 << 6;
    /// No readiness events come for it (standard input from a regular
    /// file): it stays on the ready list until EOF.
    pub(crate) const ALWAYS_READY: u16 = 1 << 7;
    /// An event reported the peer's EOF (or an error) as pending. Sticky,
    /// like tokio's closed readiness: a short read no longer proves the
    /// socket drained, since the EOF may have come in the same edge as the
    /// data and no new edge will come for it.
    pub(crate) const READ_CLOSED: u16 = 1 << 8;
    /// Standard input: never written.
    pub(crate) const READ_ONLY: u16 = 1 << 9;
}

/// Output thresholds and linger time of one connection, copied from its
/// [`TcpOptions`] (as `u32`s: 16 bytes per connection rather than 40).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) high_water: u32,
    pub(crate) low_water: u32,
    pub(crate) output_limit: u32,
    /// Linger time after a clean close, in milliseconds.
    pub(crate) linger_ms: u32,
}

fn clamp_u32(n: u128) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl From<&TcpOptions> for Limits {
    fn from(o: &TcpOptions) -> Self {
        Limits {
            high_water: clamp_u32(o.high_water as u128),
            low_water: clamp_u32(o.low_water.min(o.high_water) as u128),
            output_limit: clamp_u32(o.output_limit as u128),
            linger_ms: clamp_u32(o.close_linger.as_millis()),
        }
    }
}

impl Limits {
    /// Whether `queued` bytes pass the hard output limit.
    #[inline]
    pub(crate) fn over_limit(&self, queued: usize) -> bool {
        queued > self.output_limit as usize
    }
}

/// One connection: socket, queued output, state, and its protocol.
///
/// Invariants: `protocol` is `None` only while one of its callbacks runs,
/// or once `connection_lost`/`connection_failed` has run (phase
/// `Lingering`), or for a connection refused at a connection limit. `out`
/// holds storage only while bytes are queued.
pub(crate) struct Conn {
    pub(crate) generation: u32,
    pub(crate) stream: Stream,
    pub(crate) protocol: Option<Box<dyn Protocol>>,
    /// Whether a protocol is attached at all (false for refused clients).
    pub(crate) has_protocol: bool,
    pub(crate) out: OutBuf,
    pub(crate) phase: Phase,
    pub(crate) flags: u16,
    /// Why the connection is ending; the first reason set wins.
    pub(crate) reason: Option<Reason>,
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
    /// The listener that accepted it, for connection-limit accounting.
    pub(crate) listener: Option<crate::ListenerId>,
    pub(crate) limits: Limits,
    /// The connect timeout while connecting, the linger timer while lingering.
    pub(crate) timer: Option<TimerId>,
    /// The protocol's own timers, cancelled when the connection ends (no
    /// storage until the first one is set).
    pub(crate) timers: crate::timer::OwnedTimers,
}

impl Conn {
    #[inline]
    pub(crate) fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }
    pub(crate) fn set(&mut self, f: u16) {
        self.flags |= f;
    }
    pub(crate) fn clear(&mut self, f: u16) {
        self.flags &= !f;
    }
    /// Whether the protocol may still write.
    #[inline]
    pub(crate) fn writable(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::Connecting) && self.flags & (flag::DOOMED | flag::READ_ONLY) == 0
    }
    /// Sets the reason the connection ends, unless one is set already.
    ///
    /// A clean reason (`Closed`, `PeerClosed`, set by `close`) is
    /// provisional until the queue is flushed: if the connection fails
    /// first (reset, output limit, abort, the grace period's shutdown),
    /// queued output is lost and the failure is the reason.
    pub(crate) fn set_reason(&mut self, reason: Reason) {
        match &self.reason {
            None => self.reason = Some(reason),
            Some(old) if old.is_clean() && !reason.is_clean() => self.reason = Some(reason),
            Some(_) => {}
        }
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("peer", &self.peer)
            .field("phase", &self.phase)
            .field("queued", &self.out.len())
            .field("flags", &self.flags)
            .finish()
    }
}

/// One listening socket and its factory.
pub(crate) struct Listener {
    pub(crate) generation: u32,
    pub(crate) socket: mio::net::TcpListener,
    pub(crate) factory: Box<dyn Factory>,
    pub(crate) local: SocketAddr,
    pub(crate) opts: ListenOptions,
    /// Connections from this listener still open.
    pub(crate) active: usize,
    /// Open connections per peer IP (kept only with `max_per_peer`).
    pub(crate) per_peer: HashMap<IpAddr, usize>,
    /// Clients refused at a connection limit.
    pub(crate) refused: u64,
    /// Accepting is paused (descriptors ran out) until this timer fires.
    pub(crate) retry: Option<TimerId>,
    pub(crate) in_ready: bool,
    /// Descriptors ran out and have not come back yet (one log line per episode).
    pub(crate) starved: bool,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").field("local", &self.local).field("active", &self.active).finish()
    }
}

/// Opens a non-blocking listening socket with `SO_REUSEADDR`, `IPV6_V6ONLY`
/// for IPv6 addresses, and the given backlog.
pub(crate) fn bind_listener(addr: SocketAddr, backlog: i32) -> io::Result<mio::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(SockProtocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// Whether an `accept` error means "out of descriptors or memory".
pub(crate) fn is_resource_exhaustion(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

/// Whether an `accept` error concerns one client only: go on accepting.
pub(crate) fn is_transient_accept_error(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted | io::ErrorKind::ConnectionReset)
        || matches!(
            err.raw_os_error(),
            Some(
                libc::EPROTO
                    | libc::ENOPROTOOPT
                    | libc::EHOSTDOWN
                    | libc::ENONET
                    | libc::EHOSTUNREACH
                    | libc::EOPNOTSUPP
                    | libc::ENETUNREACH
                    | libc::ENETDOWN
                    | libc::EPERM
            )
        )
}

#[cfg(test)]
mod tests {
    /// The per-connection state stays small: it is most of what an idle
    /// connection costs (with the protocol and its idle timer).
    #[test]
    fn a_connection_is_small() {
        let size = std::mem::size_of::<super::Conn>();
        assert!(size <= 256, "Conn is {size} bytes");
    }
}
