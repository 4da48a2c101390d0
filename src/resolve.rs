//! Connecting by host name: the name is resolved on a worker thread (the
//! loop never blocks on a resolver), then every address is tried in turn
//! until one connects; the protocol hears one `connection_failed`, with
//! the last error, if none does.
//!
//! The connection exists from the call on, in phase `Connecting`, so the
//! caller holds a `ConnId` it can close, and the connect timeout bounds
//! the whole: resolution and every attempt. While the name resolves, its
//! stream is a placeholder that is not polled; each attempt swaps in a
//! fresh TCP socket under the same token.
//!
//! Order of attempts (RFC 8305, section 4): the resolver's order, with the
//! address families interleaved, starting with the first one's family, so
//! that a host whose IPv6 addresses are all dead reaches its IPv4 ones
//! after one failure, not after all of them. An attempt that has no
//! answer after [`ATTEMPT_DELAY`] (250 ms: a black-holed address) gets the
//! next address raced beside it (section 5, with at most two attempts in
//! flight); the first to connect wins and the other is closed. Both
//! sockets are registered under the connection's token: an event for
//! either reaches `finish_connect`, which asks both.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use mio::Interest;

use crate::addr::unspecified;
use crate::conn::{flag, Origin, Phase};
use crate::core::{Core, TimerTask};
use crate::id::Source;
use crate::transport::{Stream, Transport};
use crate::{ConnId, Protocol, TcpOptions};

/// A name resolver run on a worker thread: host and port in, addresses
/// out.
pub(crate) type Resolver = Box<dyn FnOnce(&str, u16) -> io::Result<Vec<SocketAddr>> + Send>;

/// The system's resolver (`getaddrinfo`, through the standard library).
pub(crate) fn system_resolver() -> Resolver {
    Box::new(|host, port| (host, port).to_socket_addrs().map(Iterator::collect))
}

/// The addresses still to try for a connection, and what to set on each
/// socket.
#[derive(Debug)]
pub(crate) struct Dial {
    rest: VecDeque<SocketAddr>,
    nodelay: bool,
    /// The second attempt in flight, started when the connection's own
    /// had no answer for [`ATTEMPT_DELAY`].
    racer: Option<(mio::net::TcpStream, SocketAddr)>,
    /// Counts attempts started, so that the delay timer of an attempt
    /// that already ended starts nothing.
    attempts: u32,
}

/// How long an attempt has before the next address is tried beside it
/// (RFC 8305's "Connection Attempt Delay", recommended 250 ms).
pub(crate) const ATTEMPT_DELAY: std::time::Duration = std::time::Duration::from_millis(250);

/// The stream of a connection whose name is being resolved: nothing to
/// read or write yet.
#[derive(Debug)]
struct Resolving;

impl Transport for Resolving {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
    fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn set_reset_on_close(&mut self) {}
}

/// The resolver's addresses, families interleaved (RFC 8305, 4).
pub(crate) fn interleave(addrs: Vec<SocketAddr>) -> VecDeque<SocketAddr> {
    let Some(first) = addrs.first() else { return VecDeque::new() };
    let first_v6 = first.is_ipv6();
    let (mut a, mut b): (VecDeque<_>, VecDeque<_>) = addrs.into_iter().partition(|x| x.is_ipv6() == first_v6);
    let mut out = VecDeque::with_capacity(a.len() + b.len());
    loop {
        match (a.pop_front(), b.pop_front()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
}

/// A host name with or without IPv6 brackets, as a literal address if it
/// is one.
fn literal(host: &str) -> Option<IpAddr> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    bare.parse().ok()
}

impl Core {
    /// Connects to `host:port`, resolving the name off the loop with
    /// `resolve`.
    pub(crate) fn connect_host(
        &mut self,
        host: &str,
        port: u16,
        resolve: Resolver,
        protocol: Box<dyn Protocol>,
        opts: &TcpOptions,
    ) -> ConnId {
        if let Some(ip) = literal(host) {
            return self.connect_tcp(SocketAddr::new(ip, port), protocol, opts);
        }
        let what = format!("{host}:{port}");
        let id = self.dial_slot(protocol, opts, &what);
        if id.index == u32::MAX {
            return id;
        }
        let name = host.to_string();
        let nodelay = opts.nodelay;
        self.defer_to_thread(
            move || resolve(&name, port),
            move |cx, result| {
                let result = result.unwrap_or_else(|_| Err(io::Error::other("the resolver panicked")));
                if let Err(e) = &result {
                    log::debug!("{id}: resolving {what} failed: {e}");
                }
                cx.core.resolved(id, result, nodelay);
            },
        );
        id
    }

    /// Connects to the first of `addrs` that answers, in the given order.
    pub(crate) fn connect_addrs(
        &mut self,
        addrs: Vec<SocketAddr>,
        protocol: Box<dyn Protocol>,
        opts: &TcpOptions,
    ) -> ConnId {
        let what = format!("{addrs:?}");
        let id = self.dial_slot(protocol, opts, &what);
        if id.index != u32::MAX {
            self.dial(id, addrs.into(), opts.nodelay);
        }
        id
    }

    /// A connection in phase `Connecting` with no socket yet.
    fn dial_slot(&mut self, protocol: Box<dyn Protocol>, opts: &TcpOptions, what: &str) -> ConnId {
        let any = unspecified(false);
        let stream = Stream::Other(Box::new(Resolving));
        let result = self.insert_conn(stream, None, Phase::Connecting, (any, any), opts, Origin::Own);
        self.attach_client(result, protocol, what)
    }

    /// The name resolved (or not): start trying its addresses.
    fn resolved(&mut self, id: ConnId, result: io::Result<Vec<SocketAddr>>, nodelay: bool) {
        let Some(c) = self.conn(id) else { return };
        if c.phase != Phase::Connecting || c.has(flag::DOOMED) {
            return; // closed or timed out meanwhile
        }
        match result {
            Ok(addrs) => self.dial(id, interleave(addrs), nodelay),
            Err(e) => self.fail(id, &e),
        }
        self.settle();
    }

    fn dial(&mut self, id: ConnId, rest: VecDeque<SocketAddr>, nodelay: bool) {
        if rest.is_empty() {
            let e = io::Error::new(io::ErrorKind::NotFound, "the name has no address");
            return self.fail(id, &e);
        }
        self.dials.insert(id, Dial { rest, nodelay, racer: None, attempts: 0 });
        let e = io::Error::new(io::ErrorKind::NotFound, "no address to try");
        if !self.next_attempt(id, &e) {
            self.fail(id, &e);
        }
    }

    /// The attempt in progress failed with `last` (or none was made yet):
    /// the racing attempt takes its place, or the next address is tried.
    /// Returns whether the failure was taken care of: false when no
    /// address is left (the caller fails the connection with `last`) or
    /// the connection is not dialing.
    pub(crate) fn next_attempt(&mut self, id: ConnId, last: &io::Error) -> bool {
        let Some(dial) = self.dials.get_mut(&id) else { return false };
        if let Some((socket, addr)) = dial.racer.take() {
            log::debug!("{id}: the attempt beside it goes on ({addr}; after: {last})");
            self.swap_in(id, socket, addr);
            self.arm_attempt_delay(id);
            return true;
        }
        match self.start_attempt(id) {
            Ok(Some((socket, addr))) => {
                log::debug!("{id}: trying {addr} (after: {last})");
                self.swap_in(id, socket, addr);
                self.arm_attempt_delay(id);
                true
            }
            Ok(None) => {
                self.dials.remove(&id);
                false
            }
            Err(e) => {
                // Every address left failed at once: that error is the last.
                self.dials.remove(&id);
                self.fail(id, &e);
                true
            }
        }
    }

    /// Connects a socket to the next address that does not fail at once,
    /// registered under the connection's token. `Ok(None)`: no address
    /// left; `Err`: the last one failed at once with this.
    fn start_attempt(&mut self, id: ConnId) -> io::Result<Option<(mio::net::TcpStream, SocketAddr)>> {
        let mut last_err: Option<io::Error> = None;
        while let Some(dial) = self.dials.get_mut(&id) {
            let Some(addr) = dial.rest.pop_front() else { break };
            dial.attempts = dial.attempts.wrapping_add(1);
            let nodelay = dial.nodelay;
            let mut socket = match mio::net::TcpStream::connect(addr) {
                Ok(s) => s,
                Err(e) => {
                    log::debug!("{id}: connect to {addr} failed at once: {e}");
                    last_err = Some(e);
                    continue;
                }
            };
            if let Err(e) = socket.set_nodelay(nodelay) {
                log::debug!("set_nodelay failed: {e}");
            }
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(e) = self.registry.register(&mut socket, Source::Conn(id).token(), interest) {
                last_err = Some(e);
                continue;
            }
            return Ok(Some((socket, addr)));
        }
        last_err.map_or(Ok(None), Err)
    }

    /// Forgets a connection's dialing state (it connected, or ended),
    /// closing the attempt still racing.
    pub(crate) fn end_dial(&mut self, id: ConnId) {
        if let Some(Dial { racer: Some((mut socket, _)), .. }) = self.dials.remove(&id) {
            if let Err(e) = self.registry.deregister(&mut socket) {
                log::trace!("{id}: deregister failed: {e}");
            }
        }
    }

    /// Makes `socket` the connection's, closing the one it replaces.
    fn swap_in(&mut self, id: ConnId, socket: mio::net::TcpStream, addr: SocketAddr) {
        let Some(c) = self.conn_mut(id) else { return };
        let old = std::mem::replace(&mut c.stream, Stream::Tcp(socket));
        c.peer = addr;
        c.local = unspecified(addr.is_ipv6());
        if let Stream::Tcp(mut old) = old {
            if let Err(e) = self.registry.deregister(&mut old) {
                log::trace!("{id}: deregister failed: {e}");
            }
        }
    }

    /// In `ATTEMPT_DELAY`, if the attempt just started has no answer and
    /// an address is left, race the next one beside it.
    fn arm_attempt_delay(&mut self, id: ConnId) {
        let Some(dial) = self.dials.get(&id) else { return };
        if dial.rest.is_empty() {
            return;
        }
        let attempt = dial.attempts;
        self.add_timer(ATTEMPT_DELAY, TimerTask::Once(Box::new(move |cx| cx.core.race(id, attempt))));
    }

    /// The attempt delay passed: start the next address beside the attempt
    /// in flight, unless that attempt ended meanwhile.
    fn race(&mut self, id: ConnId, attempt: u32) {
        let Some(dial) = self.dials.get(&id) else { return };
        if dial.attempts != attempt || dial.racer.is_some() || self.conn(id).map(|c| c.phase) != Some(Phase::Connecting)
        {
            return;
        }
        // Nothing to race (`Ok(None)`, or every address left failed at
        // once): the attempt in flight is the last.
        if let Ok(Some((socket, addr))) = self.start_attempt(id) {
            log::debug!("{id}: no answer yet; trying {addr} beside it");
            if let Some(dial) = self.dials.get_mut(&id) {
                dial.racer = Some((socket, addr));
            }
        }
    }

    /// An event came for a dialing connection: if the racing attempt
    /// connected, it becomes the connection's socket (the caller then
    /// finds it connected); if it failed, the next address races instead.
    pub(crate) fn check_racer(&mut self, id: ConnId) {
        let Some(dial) = self.dials.get_mut(&id) else { return };
        let Some((socket, addr)) = &dial.racer else { return };
        let addr = *addr;
        let outcome = match socket.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match socket.peer_addr() {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
                Err(e) => Err(e),
            },
        };
        match outcome {
            Ok(false) => {}
            Ok(true) => {
                if let Some((socket, addr)) = dial.racer.take() {
                    log::debug!("{id}: {addr} answered first");
                    self.swap_in(id, socket, addr);
                }
            }
            Err(e) => {
                log::debug!("{id}: the attempt beside it, {addr}, failed: {e}");
                if let Some((mut socket, _)) = dial.racer.take() {
                    if let Err(e) = self.registry.deregister(&mut socket) {
                        log::trace!("{id}: deregister failed: {e}");
                    }
                }
                if let Ok(Some(racer)) = self.start_attempt(id) {
                    if let Some(dial) = self.dials.get_mut(&id) {
                        dial.racer = Some(racer);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::interleave;
    use std::net::SocketAddr;

    #[test]
    fn families_alternate_starting_with_the_first() {
        let a: Vec<SocketAddr> = ["[::1]:1", "[::2]:1", "[::3]:1", "127.0.0.1:1", "127.0.0.2:1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let got: Vec<String> = interleave(a).into_iter().map(|a| a.to_string()).collect();
        assert_eq!(got, ["[::1]:1", "127.0.0.1:1", "[::2]:1", "127.0.0.2:1", "[::3]:1"]);
        let b: Vec<SocketAddr> = ["127.0.0.1:1", "[::1]:1"].iter().map(|s| s.parse().unwrap()).collect();
        let got: Vec<String> = interleave(b).into_iter().map(|a| a.to_string()).collect();
        assert_eq!(got, ["127.0.0.1:1", "[::1]:1"]);
        assert!(interleave(Vec::new()).is_empty());
    }
}
