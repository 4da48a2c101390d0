//! TCP listeners, and the socket calls under them.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol as SockProtocol, Socket, Type};

use crate::{Factory, ListenOptions, TimerId};

/// One listening socket and its factory.
pub(crate) struct Listener {
    pub(crate) generation: u32,
    pub(crate) socket: mio::net::TcpListener,
    pub(crate) factory: Box<dyn Factory>,
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
