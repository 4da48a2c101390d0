//! Listeners (TCP and Unix domain stream sockets), and the socket calls
//! under them.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol as SockProtocol, Socket, Type};

use crate::transport::Stream;
use crate::{Factory, ListenOptions, TimerId};

/// A listening socket: TCP, or a Unix domain stream socket.
pub(crate) enum ListenSocket {
    Tcp(mio::net::TcpListener),
    Unix(crate::unix::UnixListenSocket),
}

impl ListenSocket {
    /// Accepts one client: its stream and its address (a Unix client's is
    /// the unspecified IPv4 address; see `Context::peer_address`).
    pub(crate) fn accept(&self) -> io::Result<(Stream, SocketAddr)> {
        match self {
            ListenSocket::Tcp(l) => l.accept().map(|(s, peer)| (Stream::Tcp(s), peer)),
            ListenSocket::Unix(l) => l.socket.accept().map(|(s, _)| (Stream::Unix(s), crate::addr::unspecified(false))),
        }
    }

    /// The socket, for options reel does not wrap.
    pub(crate) fn sock_ref(&self) -> socket2::SockRef<'_> {
        match self {
            ListenSocket::Tcp(l) => socket2::SockRef::from(l),
            ListenSocket::Unix(l) => socket2::SockRef::from(&l.socket),
        }
    }
}

impl mio::event::Source for ListenSocket {
    fn register(&mut self, registry: &mio::Registry, token: mio::Token, interests: mio::Interest) -> io::Result<()> {
        match self {
            ListenSocket::Tcp(l) => l.register(registry, token, interests),
            ListenSocket::Unix(l) => l.socket.register(registry, token, interests),
        }
    }

    fn reregister(&mut self, registry: &mio::Registry, token: mio::Token, interests: mio::Interest) -> io::Result<()> {
        match self {
            ListenSocket::Tcp(l) => l.reregister(registry, token, interests),
            ListenSocket::Unix(l) => l.socket.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        match self {
            ListenSocket::Tcp(l) => l.deregister(registry),
            ListenSocket::Unix(l) => l.socket.deregister(registry),
        }
    }
}

/// One listening socket and its factory.
pub(crate) struct Listener {
    pub(crate) generation: u32,
    pub(crate) socket: ListenSocket,
    pub(crate) factory: Box<dyn Factory>,
    /// The bound address (for a Unix listener, the unspecified address:
    /// its own is in `socket`).
    pub(crate) local: SocketAddr,
    pub(crate) opts: ListenOptions,
    /// Connections from this listener still open (kept by `crate::conn`).
    pub(crate) active: usize,
    /// Clients refused at a limit and not yet freed (flushing their
    /// farewell, or lingering after it): each holds a descriptor, so they
    /// are capped too (kept by `crate::conn`).
    pub(crate) refusing: usize,
    /// Open connections per peer IP (kept only with `max_per_peer`).
    pub(crate) per_peer: HashMap<IpAddr, usize>,
    /// Clients refused at a connection limit.
    pub(crate) refused: u64,
    /// Accepting is paused (descriptors ran out) until this timer fires.
    pub(crate) retry: Option<TimerId>,
    pub(crate) in_ready: bool,
    /// Descriptors ran out and have not come back yet (one log line per episode).
    pub(crate) starved: bool,
    /// A TLS listener's configuration: each accepted connection runs the
    /// handshake first.
    pub(crate) tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").field("local", &self.local).field("active", &self.active).finish()
    }
}

/// Opens a non-blocking listening socket with `SO_REUSEADDR`, the given
/// backlog, `SO_REUSEPORT` if asked, and `IPV6_V6ONLY` for IPv6 addresses
/// unless dual stack is asked.
pub(crate) fn bind_listener(addr: SocketAddr, opts: &ListenOptions) -> io::Result<mio::net::TcpListener> {
    let backlog = opts.backlog;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(SockProtocol::TCP))?;
    socket.set_reuse_address(true)?;
    if opts.reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(!opts.dual_stack)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// A peer of a dual-stack socket as the address it has: `127.0.0.1`, not
/// `::ffff:127.0.0.1` (so limits per peer count one client once).
pub(crate) fn canonical(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(peer.ip().to_canonical(), peer.port())
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
