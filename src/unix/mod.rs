//! Unix domain sockets: addresses (filesystem paths and Linux abstract
//! names), stream listeners (stale socket files, file mode), client
//! connections, peer credentials; datagram endpoints in [`dgram`].
//!
//! A Unix stream connection is one more [`Stream`] variant, inline like
//! TCP: the state machine, flow control, output limits and the `Protocol`
//! trait are the same. Addresses that are not IP addresses are exposed as
//! [`SocketAddress`] (see [`Context::peer_address`](crate::Context::peer_address)).

pub(crate) mod dgram;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::addr::unspecified;
use crate::conn::{Origin, Phase};
use crate::core::Core;
use crate::tcp::ListenSocket;
use crate::transport::Stream;
use crate::{ConnId, Factory, ListenOptions, ListenerId, Protocol, TcpOptions};

/// The address of a Unix domain socket: a filesystem path, a Linux
/// abstract name (no file; it vanishes with the last socket bound to it),
/// or nothing (a client socket that never bound, as most are).
///
/// ```
/// use reel::{ToUnixAddr, UnixAddr};
/// assert_eq!("/run/app.sock".to_unix_addr()?, UnixAddr::Path("/run/app.sock".into()));
/// // A leading NUL byte names an abstract socket, as in C.
/// assert_eq!("\0app".to_unix_addr()?, UnixAddr::Abstract(b"app".to_vec()));
/// assert_eq!(UnixAddr::Abstract(b"app".to_vec()).to_string(), "@app");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UnixAddr {
    /// A socket file at this path.
    Path(PathBuf),
    /// A Linux abstract name (without the leading NUL byte).
    Abstract(Vec<u8>),
    /// No address (an unbound client socket).
    Unnamed,
}

impl UnixAddr {
    /// The path of a socket file, if this is one.
    pub fn as_path(&self) -> Option<&Path> {
        match self {
            UnixAddr::Path(p) => Some(p),
            _ => None,
        }
    }

    /// The address as the kernel takes it.
    pub(crate) fn to_sockaddr(&self) -> io::Result<SockAddr> {
        match self {
            UnixAddr::Path(p) => SockAddr::unix(p),
            UnixAddr::Abstract(name) => {
                let mut bytes = Vec::with_capacity(name.len() + 1);
                bytes.push(0);
                bytes.extend_from_slice(name);
                SockAddr::unix(std::ffi::OsStr::from_bytes(&bytes))
            }
            UnixAddr::Unnamed => Err(io::Error::new(io::ErrorKind::InvalidInput, "an unnamed Unix address")),
        }
    }

    /// The address of a Unix socket as the kernel reported it.
    pub(crate) fn from_sockaddr(addr: &SockAddr) -> UnixAddr {
        if let Some(name) = addr.as_abstract_namespace() {
            UnixAddr::Abstract(name.to_vec())
        } else if let Some(path) = addr.as_pathname() {
            UnixAddr::Path(path.to_path_buf())
        } else {
            UnixAddr::Unnamed
        }
    }
}

impl fmt::Display for UnixAddr {
    /// A path as it is, an abstract name as `@name` (as `ss` shows it),
    /// an unnamed socket as `(unnamed)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnixAddr::Path(p) => write!(f, "{}", p.display()),
            UnixAddr::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
            UnixAddr::Unnamed => f.write_str("(unnamed)"),
        }
    }
}

/// Something that names a Unix socket: a [`UnixAddr`], a path, or text.
/// Text or a path whose first byte is NUL (`"\0name"`) names a Linux
/// abstract socket.
pub trait ToUnixAddr {
    /// The address.
    ///
    /// # Errors
    ///
    /// `ErrorKind::InvalidInput` for an empty path.
    fn to_unix_addr(&self) -> io::Result<UnixAddr>;
}

impl ToUnixAddr for UnixAddr {
    fn to_unix_addr(&self) -> io::Result<UnixAddr> {
        Ok(self.clone())
    }
}

impl ToUnixAddr for Path {
    fn to_unix_addr(&self) -> io::Result<UnixAddr> {
        match self.as_os_str().as_bytes() {
            [] => Err(io::Error::new(io::ErrorKind::InvalidInput, "an empty Unix socket path")),
            [0, name @ ..] => Ok(UnixAddr::Abstract(name.to_vec())),
            _ => Ok(UnixAddr::Path(self.to_path_buf())),
        }
    }
}

impl ToUnixAddr for PathBuf {
    fn to_unix_addr(&self) -> io::Result<UnixAddr> {
        self.as_path().to_unix_addr()
    }
}

impl ToUnixAddr for str {
    fn to_unix_addr(&self) -> io::Result<UnixAddr> {
        Path::new(self).to_unix_addr()
    }
}

impl ToUnixAddr for String {
    fn to_unix_addr(&self) -> io::Result<UnixAddr> {
        Path::new(self).to_unix_addr()
    }
}

impl<T: ToUnixAddr + ?Sized> ToUnixAddr for &T {
    fn to_unix_addr(&self) -> io::Result<UnixAddr> {
        (**self).to_unix_addr()
    }
}

/// Any socket's address: an IP address and port, or a Unix socket's.
///
/// Why a second type beside [`SocketAddr`]: the common case (TCP) keeps
/// [`Context::peer_addr`](crate::Context::peer_addr) returning a plain
/// `SocketAddr` read from the connection's slot, with no system call and
/// no allocation, and every existing protocol compiles unchanged. A
/// protocol that may run over a Unix socket asks for
/// [`Context::peer_address`](crate::Context::peer_address) instead, which
/// for a Unix connection asks the kernel (`getpeername`) when called.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SocketAddress {
    /// An IPv4 or IPv6 address and port.
    Inet(SocketAddr),
    /// A Unix domain socket's address.
    Unix(UnixAddr),
}

impl SocketAddress {
    /// The IP address and port, if this is one.
    pub fn as_inet(&self) -> Option<SocketAddr> {
        match self {
            SocketAddress::Inet(a) => Some(*a),
            SocketAddress::Unix(_) => None,
        }
    }

    /// The Unix socket address, if this is one.
    pub fn as_unix(&self) -> Option<&UnixAddr> {
        match self {
            SocketAddress::Unix(a) => Some(a),
            SocketAddress::Inet(_) => None,
        }
    }

    /// An address as the kernel reported it.
    pub(crate) fn from_sockaddr(addr: &SockAddr) -> SocketAddress {
        match addr.as_socket() {
            Some(a) => SocketAddress::Inet(a),
            None if addr.is_unix() => SocketAddress::Unix(UnixAddr::from_sockaddr(addr)),
            None => SocketAddress::Inet(unspecified(false)),
        }
    }
}

impl fmt::Display for SocketAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketAddress::Inet(a) => a.fmt(f),
            SocketAddress::Unix(a) => a.fmt(f),
        }
    }
}

impl From<SocketAddr> for SocketAddress {
    fn from(a: SocketAddr) -> Self {
        SocketAddress::Inet(a)
    }
}

impl From<UnixAddr> for SocketAddress {
    fn from(a: UnixAddr) -> Self {
        SocketAddress::Unix(a)
    }
}

/// The credentials of the process at the other end of a Unix socket, as
/// the kernel recorded them when it connected (`SO_PEERCRED`): they cannot
/// be forged by the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerCred {
    /// Process id.
    pub pid: u32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// Reads `SO_PEERCRED` from a socket.
pub(crate) fn peer_cred(sock: &socket2::SockRef<'_>) -> io::Result<PeerCred> {
    let cred = rustix::net::sockopt::socket_peercred(&**sock)?;
    Ok(PeerCred { pid: cred.pid.as_raw_nonzero().get() as u32, uid: cred.uid.as_raw(), gid: cred.gid.as_raw() })
}

/// Settings of a Unix domain stream listener.
///
/// ```
/// let opts = reel::UnixListenOptions { mode: Some(0o660), ..Default::default() };
/// assert!(opts.remove_stale);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixListenOptions {
    /// Backlog, connection limits and per-connection settings, as for TCP
    /// (`tcp.nodelay` means nothing here; `max_per_peer` counts every
    /// client of a Unix listener as one peer, so use `max_connections`).
    pub listen: ListenOptions,
    /// The socket file's permission bits (as `chmod` takes them, e.g.
    /// `0o660`), set between `bind` and `listen` so that no client can
    /// connect through looser ones. Default `None`: what the umask gives.
    /// Ignored for abstract names, which have no file.
    pub mode: Option<u32>,
    /// If the path exists and is a socket nobody answers on (the file a
    /// crashed server left), remove it and bind. A socket somebody answers
    /// on, or a file that is not a socket, is never removed: listening
    /// fails with `AddrInUse` and a message naming the path. Default
    /// `true`.
    pub remove_stale: bool,
}

impl Default for UnixListenOptions {
    fn default() -> Self {
        UnixListenOptions { listen: ListenOptions::default(), mode: None, remove_stale: true }
    }
}

/// A listening Unix stream socket, its address, and the file to remove
/// when it closes (only one this listener created).
pub(crate) struct UnixListenSocket {
    pub(crate) socket: mio::net::UnixListener,
    pub(crate) addr: UnixAddr,
    pub(crate) _file: Option<SocketFile>,
}

/// The socket file a listener created; removed when the listener is
/// dropped, if it is still the same file (a later server may have
/// replaced it).
pub(crate) struct SocketFile {
    path: PathBuf,
    id: (u64, u64),
}

impl SocketFile {
    fn new(path: &Path) -> Option<SocketFile> {
        let m = std::fs::symlink_metadata(path).ok()?;
        Some(SocketFile { path: path.to_path_buf(), id: (m.dev(), m.ino()) })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(m) = std::fs::symlink_metadata(&self.path) {
            if (m.dev(), m.ino()) == self.id {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    log::debug!("could not remove {}: {e}", self.path.display());
                }
            }
        }
    }
}

fn with_path(addr: &UnixAddr, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{addr}: {e}"))
}

/// Whether a socket answers at `addr`: a non-blocking connect succeeds, or
/// would block (its backlog is full). Refused means nobody listens.
fn answers(addr: &SockAddr, ty: Type) -> io::Result<bool> {
    let probe = Socket::new(Domain::UNIX, ty, None)?;
    probe.set_nonblocking(true)?;
    match probe.connect(addr) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(false),
        Err(e) => Err(e),
    }
}

/// The path is taken: remove it if it is a stale socket file, else say
/// why not.
fn clear_stale(path: &Path, addr: &UnixAddr, sockaddr: &SockAddr, ty: Type) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()), // gone meanwhile
        Err(e) => return Err(with_path(addr, e)),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{addr}: the path exists and is not a socket; not removing it"),
        ));
    }
    if answers(sockaddr, ty).map_err(|e| with_path(addr, e))? {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{addr}: another server is listening on this socket"),
        ));
    }
    log::info!("removing stale socket file {addr} (nobody answers on it)");
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(with_path(addr, e)),
    }
}

/// Opens a non-blocking listening Unix stream socket at `addr`.
pub(crate) fn bind_listener(addr: &UnixAddr, opts: &UnixListenOptions) -> io::Result<UnixListenSocket> {
    let sockaddr = addr.to_sockaddr()?;
    let mut cleared = false;
    let socket = loop {
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        match socket.bind(&sockaddr) {
            Ok(()) => break socket,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && opts.remove_stale && !cleared => {
                let UnixAddr::Path(path) = addr else { return Err(with_path(addr, e)) };
                clear_stale(path, addr, &sockaddr, Type::STREAM)?;
                cleared = true;
            }
            Err(e) => return Err(with_path(addr, e)),
        }
    };
    let file = match addr {
        UnixAddr::Path(path) => {
            let file = SocketFile::new(path);
            if let Some(mode) = opts.mode {
                // Before `listen`: no client can connect through looser
                // permissions in between.
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| with_path(addr, e))?;
            }
            file
        }
        _ => None,
    };
    socket.listen(opts.listen.backlog).map_err(|e| with_path(addr, e))?;
    let std: std::os::unix::net::UnixListener = socket.into();
    Ok(UnixListenSocket { socket: mio::net::UnixListener::from_std(std), addr: addr.clone(), _file: file })
}

/// Starts a non-blocking connect to `addr` (a Unix connect completes or
/// fails at once; a full backlog fails with `WouldBlock`).
pub(crate) fn connect_stream(addr: &UnixAddr) -> io::Result<mio::net::UnixStream> {
    let sockaddr = addr.to_sockaddr()?;
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    match socket.connect(&sockaddr) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(with_path(addr, e)),
    }
    let std: std::os::unix::net::UnixStream = socket.into();
    Ok(mio::net::UnixStream::from_std(std))
}

impl Core {
    pub(crate) fn listen_unix(
        &mut self,
        addr: &UnixAddr,
        factory: Box<dyn Factory>,
        opts: UnixListenOptions,
    ) -> io::Result<ListenerId> {
        let socket = bind_listener(addr, &opts)?;
        self.add_unix_listener(socket, factory, opts.listen)
    }

    pub(crate) fn add_unix_listener(
        &mut self,
        socket: UnixListenSocket,
        factory: Box<dyn Factory>,
        opts: ListenOptions,
    ) -> io::Result<ListenerId> {
        let addr = socket.addr.to_string();
        let id = self.insert_listener(ListenSocket::Unix(socket), unspecified(false), factory, opts)?;
        log::debug!("{id}: listening on {addr} (unix)");
        Ok(id)
    }

    pub(crate) fn connect_unix(&mut self, addr: &UnixAddr, protocol: Box<dyn Protocol>, opts: &TcpOptions) -> ConnId {
        let any = unspecified(false);
        let result = connect_stream(addr)
            .and_then(|s| self.insert_conn(Stream::Unix(s), None, Phase::Connecting, (any, any), opts, Origin::Own));
        self.attach_client(result, protocol, &addr.to_string())
    }

    /// Gives a client connection just inserted (in phase `Connecting`) its
    /// protocol, or fails it through `connection_failed`.
    pub(crate) fn attach_client(
        &mut self,
        result: io::Result<ConnId>,
        protocol: Box<dyn Protocol>,
        what: &str,
    ) -> ConnId {
        match result {
            Ok(id) => {
                if let Some(c) = self.conn_mut(id) {
                    c.protocol = Some(protocol);
                    c.has_protocol = true;
                }
                log::debug!("{id}: connecting to {what}");
                id
            }
            Err(e) => {
                log::debug!("connect to {what} failed at once: {e}");
                self.connect_failed_at_once(protocol, &e)
            }
        }
    }

    /// The peer's address of a connection: the stored one for TCP (no
    /// system call), the kernel's for other sockets.
    pub(crate) fn peer_address(&self, id: ConnId) -> Option<SocketAddress> {
        let c = self.conn(id)?;
        Some(match &c.stream {
            Stream::Tcp(_) => SocketAddress::Inet(c.peer),
            s => match s.sock_ref().and_then(|r| r.peer_addr().ok()) {
                Some(a) => SocketAddress::from_sockaddr(&a),
                None if matches!(s, Stream::Unix(_)) => SocketAddress::Unix(UnixAddr::Unnamed),
                None => SocketAddress::Inet(c.peer),
            },
        })
    }

    /// The local address of a connection (see `peer_address`).
    pub(crate) fn local_address(&self, id: ConnId) -> Option<SocketAddress> {
        let c = self.conn(id)?;
        Some(match &c.stream {
            Stream::Tcp(_) => SocketAddress::Inet(c.local),
            s => match s.sock_ref().and_then(|r| r.local_addr().ok()) {
                Some(a) => SocketAddress::from_sockaddr(&a),
                None if matches!(s, Stream::Unix(_)) => SocketAddress::Unix(UnixAddr::Unnamed),
                None => SocketAddress::Inet(c.local),
            },
        })
    }

    /// A listener's address.
    pub(crate) fn listener_address(&self, id: ListenerId) -> Option<SocketAddress> {
        let l = self.listener(id)?;
        Some(match &l.socket {
            ListenSocket::Tcp(_) => SocketAddress::Inet(l.local),
            ListenSocket::Unix(u) => SocketAddress::Unix(u.addr.clone()),
        })
    }
}
