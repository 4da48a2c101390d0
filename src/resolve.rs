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
//! Order of attempts (RFC 8305, section 4, without its parallel
//! attempts): the resolver's order, with the address families
//! interleaved, starting with the first one's family, so that a host whose
//! IPv6 addresses are all dead reaches its IPv4 ones after one failure,
//! not after all of them.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use mio::Interest;

use crate::addr::unspecified;
use crate::conn::{flag, Origin, Phase};
use crate::core::Core;
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
}

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
        self.dials.insert(id, Dial { rest, nodelay });
        let e = io::Error::new(io::ErrorKind::NotFound, "no address to try");
        if !self.next_attempt(id, &e) {
            self.fail(id, &e);
        }
    }

    /// The attempt in progress failed with `last` (or none was made yet):
    /// start the next one. Returns whether the failure was taken care of:
    /// false when no address is left (the caller fails the connection
    /// with `last`) or the connection is not dialing.
    pub(crate) fn next_attempt(&mut self, id: ConnId, last: &io::Error) -> bool {
        let Some(dial) = self.dials.get_mut(&id) else { return false };
        let nodelay = dial.nodelay;
        let mut last_err: Option<io::Error> = None;
        while let Some(addr) = self.dials.get_mut(&id).and_then(|d| d.rest.pop_front()) {
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
            if let Err(e) =
                self.registry.register(&mut socket, Source::Conn(id).token(), Interest::READABLE | Interest::WRITABLE)
            {
                last_err = Some(e);
                continue;
            }
            let Some(c) = self.conn_mut(id) else { return false };
            let old = std::mem::replace(&mut c.stream, Stream::Tcp(socket));
            c.peer = addr;
            c.local = unspecified(addr.is_ipv6());
            if let Stream::Tcp(mut old) = old {
                if let Err(e) = self.registry.deregister(&mut old) {
                    log::trace!("{id}: deregister failed: {e}");
                }
            }
            log::debug!("{id}: trying {addr} (after: {last})");
            return true;
        }
        self.dials.remove(&id);
        if let Some(e) = last_err {
            // Every address left failed at once: that error is the last.
            self.fail(id, &e);
            return true;
        }
        false
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
