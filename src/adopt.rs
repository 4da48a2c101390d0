//! Adopting sockets created elsewhere: a listener, stream or datagram
//! socket opened by other code, inherited from a parent, or passed by a
//! service manager (systemd socket activation, see [`crate::activation`]).
//!
//! An adopted socket is made non-blocking and served like one reel opened
//! itself. reel never removes the file of an adopted Unix listener: it did
//! not create it.

use std::io;
use std::net::SocketAddr;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};

use crate::addr::unspecified;
use crate::conn::{Origin, Phase};
use crate::tcp::ListenSocket;
use crate::transport::Stream;
use crate::unix::{UnixAddr, UnixListenSocket};
use crate::{
    ConnId, DatagramProtocol, Factory, ListenOptions, ListenerId, Protocol, ReactorContext, TcpOptions, UdpId,
    UnixDatagramProtocol, UnixDgramId,
};

impl ReactorContext<'_> {
    /// Serves a listening TCP socket created elsewhere (it must be
    /// listening already: reel does not call `listen`). Its backlog and
    /// socket options are kept; `opts.backlog` is not used.
    ///
    /// # Errors
    ///
    /// When it cannot be made non-blocking or registered.
    pub fn adopt_tcp_listener(
        &mut self,
        listener: std::net::TcpListener,
        factory: impl Factory + 'static,
        opts: ListenOptions,
    ) -> io::Result<ListenerId> {
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let socket = ListenSocket::Tcp(mio::net::TcpListener::from_std(listener));
        let id = self.core.insert_listener(socket, local, Box::new(factory), opts)?;
        log::debug!("{id}: listening on {local} (tcp, adopted)");
        Ok(id)
    }

    /// Serves a listening Unix stream socket created elsewhere. Its file
    /// is left alone when the listener closes.
    ///
    /// # Errors
    ///
    /// When it cannot be made non-blocking or registered.
    pub fn adopt_unix_listener(
        &mut self,
        listener: UnixListener,
        factory: impl Factory + 'static,
        opts: ListenOptions,
    ) -> io::Result<ListenerId> {
        listener.set_nonblocking(true)?;
        let addr = socket2::SockRef::from(&listener)
            .local_addr()
            .map(|a| UnixAddr::from_sockaddr(&a))
            .unwrap_or(UnixAddr::Unnamed);
        let socket = UnixListenSocket { socket: mio::net::UnixListener::from_std(listener), addr, _file: None };
        self.core.add_unix_listener(socket, Box::new(factory), opts)
    }

    /// Serves a connected TCP stream created elsewhere through `protocol`
    /// (`connection_made` is called at once). Flow control follows
    /// `opts.flow_control`; `Auto` counts an adopted stream as a client
    /// connection (off): set `FlowControl::On` for one a server accepted.
    ///
    /// # Errors
    ///
    /// When it is not connected, or cannot be made non-blocking or
    /// registered.
    pub fn adopt_tcp_stream(
        &mut self,
        stream: std::net::TcpStream,
        protocol: impl Protocol + 'static,
        opts: &TcpOptions,
    ) -> io::Result<ConnId> {
        stream.set_nonblocking(true)?;
        let peer = stream.peer_addr()?;
        let local = stream.local_addr().unwrap_or(unspecified(peer.is_ipv6()));
        let stream = mio::net::TcpStream::from_std(stream);
        if let Err(e) = stream.set_nodelay(opts.nodelay) {
            log::debug!("set_nodelay failed: {e}");
        }
        self.adopt_stream(Stream::Tcp(stream), (local, peer), Box::new(protocol), opts)
    }

    /// Serves a connected Unix stream socket created elsewhere (one end of
    /// a `UnixStream::pair()`, a socket inherited from a parent) through
    /// `protocol`, as [`adopt_tcp_stream`](Self::adopt_tcp_stream) does.
    ///
    /// # Errors
    ///
    /// When it cannot be made non-blocking or registered.
    pub fn adopt_unix_stream(
        &mut self,
        stream: UnixStream,
        protocol: impl Protocol + 'static,
        opts: &TcpOptions,
    ) -> io::Result<ConnId> {
        stream.set_nonblocking(true)?;
        let any = unspecified(false);
        let stream = Stream::Unix(mio::net::UnixStream::from_std(stream));
        self.adopt_stream(stream, (any, any), Box::new(protocol), opts)
    }

    fn adopt_stream(
        &mut self,
        stream: Stream,
        addrs: (SocketAddr, SocketAddr),
        protocol: Box<dyn Protocol>,
        opts: &TcpOptions,
    ) -> io::Result<ConnId> {
        let id = self.core.insert_conn(stream, Some(protocol), Phase::Open, addrs, opts, Origin::Own)?;
        log::debug!("{id}: adopted a connection");
        self.core.made(id);
        self.core.settle();
        Ok(id)
    }

    /// Serves a bound UDP socket created elsewhere (connected or not)
    /// through `protocol`.
    ///
    /// # Errors
    ///
    /// When it cannot be made non-blocking or registered.
    pub fn adopt_udp(
        &mut self,
        socket: std::net::UdpSocket,
        protocol: impl DatagramProtocol + 'static,
    ) -> io::Result<UdpId> {
        socket.set_nonblocking(true)?;
        let remote = socket.peer_addr().ok();
        self.core.insert_udp(mio::net::UdpSocket::from_std(socket), remote, Box::new(protocol))
    }

    /// Serves a bound Unix datagram socket created elsewhere through
    /// `protocol`.
    ///
    /// # Errors
    ///
    /// When it cannot be made non-blocking or registered.
    pub fn adopt_unix_datagram(
        &mut self,
        socket: UnixDatagram,
        protocol: impl UnixDatagramProtocol + 'static,
    ) -> io::Result<UnixDgramId> {
        socket.set_nonblocking(true)?;
        self.core.insert_unix_dgram(mio::net::UnixDatagram::from_std(socket), None, Box::new(protocol))
    }
}
