//! The socket surface of the contexts: Unix domain sockets, addresses
//! that are not IP addresses, peer credentials, and `socket2::SockRef`
//! access for options reel does not wrap.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

use socket2::SockRef;

use super::{Context, DatagramContext, ReactorContext};
use crate::core::Core;
use crate::unix::{PeerCred, SocketAddress, ToUnixAddr, UnixListenOptions};
use crate::{ConnId, Factory, ListenerId, Protocol, Reactor, TcpOptions, UdpId};

impl ReactorContext<'_> {
    /// Listens on a Unix domain stream socket at `addr` (a path, or
    /// `"\0name"` / [`UnixAddr::Abstract`](crate::UnixAddr::Abstract) for a
    /// Linux abstract name); each accepted connection gets a protocol from
    /// `factory`, as with TCP. A stale socket file at the path (nobody
    /// answers on it) is removed first; the file is removed again when the
    /// listener closes. See [`UnixListenOptions`].
    ///
    /// The factory is called with the unspecified address `0.0.0.0:0`: a
    /// Unix client has no IP address. The protocol asks
    /// [`Context::peer_cred`] or [`Context::peer_address`] instead.
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound: the path is taken by a live server
    /// or by a file that is not a socket (`AddrInUse`, the message names
    /// the path and which), the directory does not exist or is not
    /// writable, the path is too long (108 bytes on Linux).
    pub fn listen_unix(&mut self, addr: impl ToUnixAddr, factory: impl Factory + 'static) -> io::Result<ListenerId> {
        self.listen_unix_with(addr, factory, UnixListenOptions::default())
    }

    /// [`listen_unix`](Self::listen_unix) with options (file mode, stale
    /// files, connection limits).
    ///
    /// # Errors
    ///
    /// As [`listen_unix`](Self::listen_unix), or when the mode cannot be
    /// set.
    pub fn listen_unix_with(
        &mut self,
        addr: impl ToUnixAddr,
        factory: impl Factory + 'static,
        opts: UnixListenOptions,
    ) -> io::Result<ListenerId> {
        let addr = addr.to_unix_addr()?;
        self.core.listen_unix(&addr, Box::new(factory), opts)
    }

    /// Connects to a Unix domain stream socket. As with TCP, every failure
    /// (no such file, refused, a full backlog) reaches the protocol through
    /// `connection_failed`.
    pub fn connect_unix(&mut self, addr: impl ToUnixAddr, protocol: impl Protocol + 'static) -> ConnId {
        self.connect_unix_with(addr, protocol, &TcpOptions::default())
    }

    /// [`connect_unix`](Self::connect_unix) with options.
    pub fn connect_unix_with(
        &mut self,
        addr: impl ToUnixAddr,
        protocol: impl Protocol + 'static,
        opts: &TcpOptions,
    ) -> ConnId {
        match addr.to_unix_addr() {
            Ok(addr) => self.core.connect_unix(&addr, Box::new(protocol), opts),
            Err(e) => self.core.connect_failed_at_once(Box::new(protocol), &e),
        }
    }

    /// The address a listener is bound to, TCP or Unix.
    pub fn listener_address(&self, id: ListenerId) -> Option<SocketAddress> {
        self.core.listener_address(id)
    }

    /// Connects to `host` (a name, or a literal IPv4 or IPv6 address, with
    /// or without brackets) on `port`. The name is resolved on a worker
    /// thread ([`defer_to_thread`](Self::defer_to_thread)), never on the
    /// loop; then each address is tried in turn, the address families
    /// interleaved (RFC 8305's order), until one connects. An attempt with
    /// no answer after 250 ms (a black-holed address) gets the next
    /// address raced beside it, and the first to connect wins (RFC 8305's
    /// connection attempt delay; at most two attempts in flight). The
    /// protocol hears `connection_made` once, or one `connection_failed`
    /// with the last attempt's error (or the resolver's). The connect
    /// timeout bounds the whole.
    ///
    /// The returned id is the connection's from the start: closing it
    /// while the name resolves cancels the connect.
    pub fn connect_host(&mut self, host: &str, port: u16, protocol: impl Protocol + 'static) -> ConnId {
        self.connect_host_with(host, port, protocol, &TcpOptions::default())
    }

    /// [`connect_host`](Self::connect_host) with options.
    pub fn connect_host_with(
        &mut self,
        host: &str,
        port: u16,
        protocol: impl Protocol + 'static,
        opts: &TcpOptions,
    ) -> ConnId {
        self.core.connect_host(host, port, crate::resolve::system_resolver(), Box::new(protocol), opts)
    }

    /// [`connect_host_with`](Self::connect_host_with) with a resolver of
    /// the application's own (a DNS client library, a service directory,
    /// a fixed table in tests). `resolve` runs on a worker thread and may
    /// block; its addresses are tried as `connect_host` tries the system
    /// resolver's.
    pub fn connect_host_using(
        &mut self,
        host: &str,
        port: u16,
        resolve: impl FnOnce(&str, u16) -> io::Result<Vec<std::net::SocketAddr>> + Send + 'static,
        protocol: impl Protocol + 'static,
        opts: &TcpOptions,
    ) -> ConnId {
        self.core.connect_host(host, port, Box::new(resolve), Box::new(protocol), opts)
    }

    /// Connects to the first of `addrs` that answers, tried in the given
    /// order as [`connect_host`](Self::connect_host) tries a name's
    /// addresses (for addresses resolved elsewhere: a service
    /// directory, a resolver of the application's own). Fails as
    /// [`connect_host`](Self::connect_host) does; an empty list fails with
    /// `NotFound`.
    pub fn connect_addrs(&mut self, addrs: Vec<std::net::SocketAddr>, protocol: impl Protocol + 'static) -> ConnId {
        self.connect_addrs_with(addrs, protocol, &TcpOptions::default())
    }

    /// [`connect_addrs`](Self::connect_addrs) with options.
    pub fn connect_addrs_with(
        &mut self,
        addrs: Vec<std::net::SocketAddr>,
        protocol: impl Protocol + 'static,
        opts: &TcpOptions,
    ) -> ConnId {
        self.core.connect_addrs(addrs, Box::new(protocol), opts)
    }

    /// A connection's peer address, TCP or Unix (see
    /// [`Context::peer_address`]).
    pub fn peer_address_of(&self, id: ConnId) -> Option<SocketAddress> {
        self.core.peer_address(id)
    }

    /// A connection's socket, for options reel does not wrap (`None` for
    /// standard input, an in-memory connection, or a gone one).
    pub fn conn_sock_ref(&self, id: ConnId) -> Option<SockRef<'_>> {
        conn_sock_ref(self.core, id)
    }

    /// A listener's socket, for options reel does not wrap.
    pub fn listener_sock_ref(&self, id: ListenerId) -> Option<SockRef<'_>> {
        listener_sock_ref(self.core, id)
    }

    /// A datagram endpoint's socket, for options reel does not wrap (`None`
    /// for an endpoint gone or in memory).
    pub fn udp_sock_ref(&self, id: UdpId) -> Option<SockRef<'_>> {
        udp_sock_ref(self.core, id)
    }
}

// The socket accessors of both `ReactorContext` and `Reactor` (which has
// no context to forward to from `&self`).

fn conn_sock_ref(core: &Core, id: ConnId) -> Option<SockRef<'_>> {
    core.conn(id).and_then(|c| c.stream.sock_ref())
}

fn listener_sock_ref(core: &Core, id: ListenerId) -> Option<SockRef<'_>> {
    core.listener(id).map(|l| l.socket.sock_ref())
}

fn udp_sock_ref(core: &Core, id: UdpId) -> Option<SockRef<'_>> {
    core.udp(id).and_then(|u| u.socket.udp()).map(SockRef::from)
}

impl Context<'_> {
    /// The peer's address, whatever the transport: `Inet` for TCP (the
    /// same value as [`peer_addr`](Self::peer_addr), no system call),
    /// `Unix` for a Unix socket (asked of the kernel; a client that never
    /// bound is [`UnixAddr::Unnamed`](crate::UnixAddr::Unnamed)).
    pub fn peer_address(&self) -> SocketAddress {
        let id = self.conn_id();
        self.core.peer_address(id).unwrap_or(SocketAddress::Inet(crate::addr::unspecified(false)))
    }

    /// This end's address, whatever the transport (for an accepted Unix
    /// connection, the listener's path or name).
    pub fn local_address(&self) -> SocketAddress {
        let id = self.conn_id();
        self.core.local_address(id).unwrap_or(SocketAddress::Inet(crate::addr::unspecified(false)))
    }

    /// The credentials of the process at the other end of a Unix socket
    /// (`SO_PEERCRED`: pid, uid, gid as of its connect), for access
    /// control without passwords.
    ///
    /// # Errors
    ///
    /// `ErrorKind::Unsupported` on a connection that is not a Unix
    /// socket; the kernel's error otherwise.
    pub fn peer_cred(&self) -> io::Result<PeerCred> {
        let id = self.conn_id();
        let unsupported = || io::Error::new(io::ErrorKind::Unsupported, "peer credentials exist for Unix sockets only");
        let sock = self.core.conn(id).and_then(|c| c.stream.sock_ref()).ok_or_else(unsupported)?;
        if !sock.local_addr().is_ok_and(|a| a.is_unix()) {
            return Err(unsupported());
        }
        crate::unix::peer_cred(&sock)
    }

    /// This connection's socket, for options reel does not wrap
    /// (keep-alive, buffer sizes, `TCP_INFO`...). `None` for standard
    /// input and in-memory connections.
    ///
    /// Reel keeps the socket non-blocking and registered with its poll:
    /// do not change either, nor read, write or shut it down through this.
    ///
    /// ```no_run
    /// # use reel::{Context, Protocol};
    /// struct KeepAlive;
    /// impl Protocol for KeepAlive {
    ///     fn connection_made(&mut self, cx: &mut Context<'_>) {
    ///         if let Some(sock) = cx.sock_ref() {
    ///             let _ = sock.set_keepalive(true);
    ///         }
    ///     }
    ///     fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
    /// }
    /// ```
    pub fn sock_ref(&self) -> Option<SockRef<'_>> {
        let id = self.conn_id();
        self.conn_sock_ref(id)
    }
}

impl DatagramContext<'_> {
    /// This endpoint's socket, for options reel does not wrap (the same
    /// rules as [`Context::sock_ref`]).
    pub fn sock_ref(&self) -> Option<SockRef<'_>> {
        let id = self.udp_id();
        self.udp_sock_ref(id)
    }

    fn socket(&self) -> io::Result<&mio::net::UdpSocket> {
        let id = self.udp_id();
        match self.core.udp(id) {
            None => Err(io::Error::new(io::ErrorKind::NotConnected, "endpoint gone")),
            Some(u) => {
                u.socket.udp().ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "an in-memory endpoint"))
            }
        }
    }

    /// Joins the IPv4 multicast `group` on the interface with address
    /// `interface` (`Ipv4Addr::UNSPECIFIED`: the kernel's choice). The
    /// endpoint receives the group's datagrams sent to its port; bind it
    /// to the group address (or the unspecified one) for that.
    ///
    /// # Errors
    ///
    /// The kernel's: not a multicast address, no such interface, no
    /// multicast route (`ENODEV`), already a member.
    pub fn join_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.socket()?.join_multicast_v4(&group, &interface)
    }

    /// Leaves an IPv4 multicast group joined with
    /// [`join_multicast_v4`](Self::join_multicast_v4).
    ///
    /// # Errors
    ///
    /// `EADDRNOTAVAIL` if the endpoint is not a member.
    pub fn leave_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.socket()?.leave_multicast_v4(&group, &interface)
    }

    /// Joins the IPv6 multicast `group` on the interface of index
    /// `interface` (0: the kernel's choice).
    ///
    /// # Errors
    ///
    /// The kernel's, as for IPv4.
    pub fn join_multicast_v6(&self, group: Ipv6Addr, interface: u32) -> io::Result<()> {
        self.socket()?.join_multicast_v6(&group, interface)
    }

    /// Leaves an IPv6 multicast group.
    ///
    /// # Errors
    ///
    /// `EADDRNOTAVAIL` if the endpoint is not a member.
    pub fn leave_multicast_v6(&self, group: Ipv6Addr, interface: u32) -> io::Result<()> {
        self.socket()?.leave_multicast_v6(&group, interface)
    }

    /// The time-to-live of the IPv4 multicast datagrams this endpoint sends
    /// (`IP_MULTICAST_TTL`; the kernel's default is 1: this network only).
    ///
    /// # Errors
    ///
    /// The kernel's (a value over 255).
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.socket()?.set_multicast_ttl_v4(ttl)
    }

    /// The hop limit of the IPv6 multicast datagrams this endpoint sends
    /// (`IPV6_MULTICAST_HOPS`; default 1).
    ///
    /// # Errors
    ///
    /// The kernel's.
    pub fn set_multicast_hops_v6(&self, hops: u32) -> io::Result<()> {
        SockRef::from(self.socket()?).set_multicast_hops_v6(hops)
    }

    /// Whether this host's own members of a group receive the IPv4
    /// multicast datagrams this endpoint sends (`IP_MULTICAST_LOOP`;
    /// default on).
    ///
    /// # Errors
    ///
    /// The kernel's.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.socket()?.set_multicast_loop_v4(on)
    }

    /// [`set_multicast_loop_v4`](Self::set_multicast_loop_v4) for IPv6
    /// (`IPV6_MULTICAST_LOOP`).
    ///
    /// # Errors
    ///
    /// The kernel's.
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.socket()?.set_multicast_loop_v6(on)
    }

    /// The interface IPv4 multicast datagrams leave by, by its address
    /// (`IP_MULTICAST_IF`).
    ///
    /// # Errors
    ///
    /// The kernel's (no interface has that address).
    pub fn set_multicast_if_v4(&self, interface: Ipv4Addr) -> io::Result<()> {
        SockRef::from(self.socket()?).set_multicast_if_v4(&interface)
    }

    /// The interface IPv6 multicast datagrams leave by, by index
    /// (`IPV6_MULTICAST_IF`).
    ///
    /// # Errors
    ///
    /// The kernel's.
    pub fn set_multicast_if_v6(&self, interface: u32) -> io::Result<()> {
        SockRef::from(self.socket()?).set_multicast_if_v6(interface)
    }

    /// Allows sending to broadcast addresses (`SO_BROADCAST`; without it
    /// such a send fails with `EACCES`, reported to `error_received`).
    ///
    /// # Errors
    ///
    /// The kernel's.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.socket()?.set_broadcast(on)
    }
}

impl Reactor {
    /// Listens on a Unix domain stream socket; see
    /// [`ReactorContext::listen_unix`].
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound (see [`ReactorContext::listen_unix`]).
    pub fn listen_unix(&mut self, addr: impl ToUnixAddr, factory: impl Factory + 'static) -> io::Result<ListenerId> {
        self.context().listen_unix(addr, factory)
    }

    /// [`listen_unix`](Reactor::listen_unix) with options.
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound or its mode set.
    pub fn listen_unix_with(
        &mut self,
        addr: impl ToUnixAddr,
        factory: impl Factory + 'static,
        opts: UnixListenOptions,
    ) -> io::Result<ListenerId> {
        self.context().listen_unix_with(addr, factory, opts)
    }

    /// Connects to a Unix domain stream socket; see
    /// [`ReactorContext::connect_unix`].
    pub fn connect_unix(&mut self, addr: impl ToUnixAddr, protocol: impl Protocol + 'static) -> ConnId {
        self.context().connect_unix(addr, protocol)
    }

    /// The address a listener is bound to; see
    /// [`ReactorContext::listener_address`].
    pub fn listener_address(&self, id: ListenerId) -> Option<SocketAddress> {
        self.core.listener_address(id)
    }

    /// Connects to `host` on `port`, resolving the name off the loop; see
    /// [`ReactorContext::connect_host`].
    pub fn connect_host(&mut self, host: &str, port: u16, protocol: impl Protocol + 'static) -> ConnId {
        self.context().connect_host(host, port, protocol)
    }

    /// Connects to the first of `addrs` that answers; see
    /// [`ReactorContext::connect_addrs`].
    pub fn connect_addrs(&mut self, addrs: Vec<std::net::SocketAddr>, protocol: impl Protocol + 'static) -> ConnId {
        self.context().connect_addrs(addrs, protocol)
    }

    /// Binds a Unix datagram endpoint; see
    /// [`ReactorContext::bind_unix_datagram`].
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub fn bind_unix_datagram(
        &mut self,
        addr: impl ToUnixAddr,
        protocol: impl crate::UnixDatagramProtocol + 'static,
    ) -> io::Result<crate::UnixDgramId> {
        self.context().bind_unix_datagram(addr, protocol)
    }

    /// A listener's socket; see [`ReactorContext::listener_sock_ref`].
    pub fn listener_sock_ref(&self, id: ListenerId) -> Option<SockRef<'_>> {
        listener_sock_ref(&self.core, id)
    }

    /// A connection's socket; see [`ReactorContext::conn_sock_ref`].
    pub fn conn_sock_ref(&self, id: ConnId) -> Option<SockRef<'_>> {
        conn_sock_ref(&self.core, id)
    }

    /// A datagram endpoint's socket; see [`ReactorContext::udp_sock_ref`].
    pub fn udp_sock_ref(&self, id: UdpId) -> Option<SockRef<'_>> {
        udp_sock_ref(&self.core, id)
    }
}
