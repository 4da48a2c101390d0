//! Listening, connecting and switching to TLS: the methods TLS adds to
//! [`Reactor`], [`ReactorContext`] and [`Context`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use super::{ClientConfig, ServerConfig, TlsInfo, TlsRole, TlsStream};
use crate::conn::{Origin, Phase};
use crate::core::{Core, TimerTask};
use crate::transport::Stream;
use crate::{
    ConnId, Context, Factory, ListenOptions, ListenerId, Protocol, Reactor, ReactorContext, Reason, TcpOptions,
    ToSocketAddr,
};

impl ReactorContext<'_> {
    /// Starts a TLS listener; see [`Reactor::listen_tls`].
    ///
    /// # Errors
    ///
    /// When the address is not numeric or cannot be bound.
    pub fn listen_tls(
        &mut self,
        addr: impl ToSocketAddr,
        config: Arc<ServerConfig>,
        factory: impl Factory + 'static,
    ) -> io::Result<ListenerId> {
        self.listen_tls_with(addr, config, factory, ListenOptions::default())
    }

    /// Starts a TLS listener with options; see [`Reactor::listen_tls_with`].
    ///
    /// # Errors
    ///
    /// When the address is not numeric or cannot be bound.
    pub fn listen_tls_with(
        &mut self,
        addr: impl ToSocketAddr,
        config: Arc<ServerConfig>,
        factory: impl Factory + 'static,
        opts: ListenOptions,
    ) -> io::Result<ListenerId> {
        let addr = addr.to_socket_addr()?;
        let id = self.core.listen_tcp(addr, Box::new(factory), opts)?;
        self.set_listener_tls(id, config);
        Ok(id)
    }

    /// Makes listener `id` a TLS one: each connection it accepts runs the
    /// handshake with `config` before its protocol hears of it.
    pub(super) fn set_listener_tls(&mut self, id: ListenerId, config: Arc<ServerConfig>) {
        if let Some(l) = self.core.listener_mut(id) {
            l.tls = Some(config);
        }
    }

    /// Connects over TLS; see [`Reactor::connect_tls`].
    pub fn connect_tls(
        &mut self,
        addr: impl ToSocketAddr,
        server_name: &str,
        config: Arc<ClientConfig>,
        protocol: impl Protocol + 'static,
    ) -> ConnId {
        self.connect_tls_with(addr, server_name, config, protocol, &TcpOptions::default())
    }

    /// Connects over TLS with options; see [`Reactor::connect_tls_with`].
    pub fn connect_tls_with(
        &mut self,
        addr: impl ToSocketAddr,
        server_name: &str,
        config: Arc<ClientConfig>,
        protocol: impl Protocol + 'static,
        opts: &TcpOptions,
    ) -> ConnId {
        let session = TlsRole::client(server_name, config).and_then(TlsRole::connection);
        match (addr.to_socket_addr(), session) {
            (Ok(addr), Ok(session)) => self.core.connect_tls(addr, session, Box::new(protocol), opts),
            (Err(e), _) | (_, Err(e)) => self.core.connect_failed_at_once(Box::new(protocol), &e),
        }
    }

    /// What the TLS handshake of a connection negotiated; `None` for a
    /// connection that is not TLS, still handshaking, or gone.
    pub fn tls_info_of(&self, id: ConnId) -> Option<TlsInfo> {
        match &self.core.conn(id)?.stream {
            Stream::Other(t) => t.tls_info(),
            _ => None,
        }
    }
}

impl Context<'_> {
    /// What this connection's TLS handshake negotiated (the server name
    /// the client asked for, ALPN, the version, the peer's certificates);
    /// `None` over plain TCP or while the handshake runs. Readable from
    /// `connection_made` on: that is called once the handshake is done.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        let id = self.conn_id();
        self.tls_info_of(id)
    }

    /// Switches this open TCP connection to TLS (STARTTLS; Twisted's
    /// `startTLS`), as the server or the client of the handshake.
    ///
    /// What the protocol queued before the call is sent first, in the
    /// clear (the "go ahead" reply); everything written after it is
    /// encrypted (held until the handshake is done). Input from now on is
    /// decrypted. `already_received` is the input the protocol was given
    /// but that follows the switch: bytes that came in the same read as
    /// the STARTTLS command are the peer's first TLS records, and go to
    /// the TLS layer, not to the protocol. A protocol built on
    /// [`Framed`](crate::framing::Framed) passes `&[]`: the framer hands
    /// over what follows the frame it is delivering by itself.
    ///
    /// `connection_made` is not called again. A handshake that fails ends
    /// the connection with [`Reason::Tls`]; one that takes longer than
    /// the default [`handshake_timeout`](crate::TcpOptions::handshake_timeout)
    /// (10 s; see [`start_tls_with`](Self::start_tls_with)) with
    /// [`Reason::TimedOut`]. See [`tls_info`](Self::tls_info) once data
    /// arrives.
    ///
    /// # Errors
    ///
    /// When the connection is not an open TCP connection (already TLS,
    /// closing, standard input), or rustls refuses the configuration.
    pub fn start_tls(&mut self, role: TlsRole, already_received: &[u8]) -> io::Result<()> {
        self.start_tls_with(role, already_received, TcpOptions::default().handshake_timeout)
    }

    /// [`start_tls`](Self::start_tls) with a handshake timeout of its own
    /// (`Duration::MAX`: none).
    ///
    /// # Errors
    ///
    /// As `start_tls`.
    pub fn start_tls_with(
        &mut self,
        role: TlsRole,
        already_received: &[u8],
        handshake_timeout: std::time::Duration,
    ) -> io::Result<()> {
        let id = self.conn_id();
        self.core.start_tls(id, role, already_received, handshake_timeout)
    }

    /// Hands input the protocol was given back to the TLS layer, for a
    /// framer delivering frames when its handler switched to TLS.
    pub(crate) fn hand_over_input(&mut self, rest: &[u8]) {
        let id = self.conn_id();
        if let Some(c) = self.core.conn_mut(id) {
            if let Stream::Other(t) = &mut c.stream {
                t.take_early_input(rest);
            }
        }
    }
}

impl Reactor {
    /// Listens on `addr` for TLS connections: each accepted connection
    /// runs the handshake with `config` first (on the reactor thread,
    /// never blocking the others), then gets a protocol from `factory`,
    /// whose `connection_made` can read what was negotiated
    /// ([`Context::tls_info`]). A handshake that fails or times out ends
    /// the connection with `connection_failed` (for instance
    /// [`Reason::Tls`] with rustls's words, or [`Reason::TimedOut`]).
    /// Clients over a connection limit are closed without a farewell (it
    /// would not be TLS).
    ///
    /// To serve a certificate per server name, give `config` a
    /// [`rustls::server::ResolvesServerCertUsingSni`]
    /// as its `cert_resolver`; the name asked for is in
    /// [`TlsInfo::server_name`].
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub fn listen_tls(
        &mut self,
        addr: impl ToSocketAddr,
        config: Arc<ServerConfig>,
        factory: impl Factory + 'static,
    ) -> io::Result<ListenerId> {
        self.context().listen_tls(addr, config, factory)
    }

    /// [`listen_tls`](Reactor::listen_tls) with options (backlog, limits,
    /// per-connection settings, among them
    /// [`handshake_timeout`](TcpOptions::handshake_timeout)).
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub fn listen_tls_with(
        &mut self,
        addr: impl ToSocketAddr,
        config: Arc<ServerConfig>,
        factory: impl Factory + 'static,
        opts: ListenOptions,
    ) -> io::Result<ListenerId> {
        self.context().listen_tls_with(addr, config, factory, opts)
    }

    /// Connects to `addr` over TLS, verifying the server as `server_name`
    /// (a DNS name, sent as SNI, or an IP address) against `config`'s
    /// roots. The protocol gets `connection_made` once the handshake is
    /// done, or `connection_failed`: refused, timed out (the connect
    /// timeout, then the handshake timeout), or [`Reason::Tls`] (a bad
    /// certificate, a name that does not match, an alert).
    pub fn connect_tls(
        &mut self,
        addr: impl ToSocketAddr,
        server_name: &str,
        config: Arc<ClientConfig>,
        protocol: impl Protocol + 'static,
    ) -> ConnId {
        self.context().connect_tls(addr, server_name, config, protocol)
    }

    /// [`connect_tls`](Reactor::connect_tls) with options.
    pub fn connect_tls_with(
        &mut self,
        addr: impl ToSocketAddr,
        server_name: &str,
        config: Arc<ClientConfig>,
        protocol: impl Protocol + 'static,
        opts: &TcpOptions,
    ) -> ConnId {
        self.context().connect_tls_with(addr, server_name, config, protocol, opts)
    }
}

/// A placeholder for the moment a connection's stream is moved into the
/// TLS transport that wraps it.
#[derive(Debug)]
struct Detached;

impl crate::transport::Transport for Detached {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::NotConnected.into())
    }
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::NotConnected.into())
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn set_reset_on_close(&mut self) {}
}

impl Core {
    /// A client TLS connection: the TCP connect, then the handshake, both
    /// in phase `Connecting`.
    fn connect_tls(
        &mut self,
        addr: SocketAddr,
        session: rustls::Connection,
        protocol: Box<dyn Protocol>,
        opts: &TcpOptions,
    ) -> ConnId {
        let result = mio::net::TcpStream::connect(addr).and_then(|s| {
            if let Err(e) = s.set_nodelay(opts.nodelay) {
                log::debug!("set_nodelay failed: {e}");
            }
            let local = s.local_addr().unwrap_or_else(|_| crate::addr::unspecified(addr.is_ipv6()));
            let tls = TlsStream::new(s, session, false, opts.handshake_timeout);
            self.insert_conn(Stream::Other(Box::new(tls)), None, Phase::Connecting, (local, addr), opts, Origin::Own)
        });
        match result {
            Ok(id) => {
                if let Some(c) = self.conn_mut(id) {
                    c.protocol = Some(protocol);
                    c.has_protocol = true;
                }
                log::debug!("{id}: connecting to {addr} (tls)");
                id
            }
            Err(e) => {
                log::debug!("connect to {addr} failed at once: {e}");
                self.connect_failed_at_once(protocol, &e)
            }
        }
    }

    /// An accepted client of a TLS listener: in phase `Connecting` until
    /// its handshake is done, bounded by the handshake timeout.
    pub(crate) fn accepted_tls<L: super::Link + 'static>(
        &mut self,
        stream: L,
        config: Arc<ServerConfig>,
        protocol: Box<dyn Protocol>,
        addrs: (SocketAddr, SocketAddr),
        opts: &TcpOptions,
        origin: Origin,
    ) -> io::Result<ConnId> {
        let session = TlsRole::Server(config).connection()?;
        let tls = TlsStream::new(stream, session, true, opts.handshake_timeout);
        // The phase deadline of `Connecting` is the connect timeout: here
        // it is the handshake's.
        let opts = TcpOptions { connect_timeout: opts.handshake_timeout, ..opts.clone() };
        self.insert_conn(Stream::Other(Box::new(tls)), Some(protocol), Phase::Connecting, addrs, &opts, origin)
    }

    /// See [`Context::start_tls`].
    fn start_tls(
        &mut self,
        id: ConnId,
        role: TlsRole,
        already_received: &[u8],
        handshake_timeout: std::time::Duration,
    ) -> io::Result<()> {
        let Some(c) = crate::core::conn_slot(&mut self.conns, id) else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        if !c.is_live() || !matches!(c.stream, Stream::Tcp(_)) {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "start_tls: not an open TCP connection"));
        }
        let session = role.connection()?;
        let Stream::Tcp(tcp) = std::mem::replace(&mut c.stream, Stream::Other(Box::new(Detached))) else {
            unreachable!("checked above")
        };
        let mut tls = TlsStream::new(tcp, session, true, handshake_timeout);
        // What was queued before the switch goes out in the clear, first.
        tls.set_clear_prefix(c.out.pending().to_vec());
        c.out.release(&mut self.pool);
        tls.push_early_ciphertext(already_received);
        c.stream = Stream::Other(Box::new(tls));
        // The handshake's deadline (an open connection has no other).
        if handshake_timeout != std::time::Duration::MAX {
            let delay = handshake_timeout;
            let old = c.timer.take();
            if let Some(t) = old {
                self.timers.cancel(t);
            }
            let t = self.add_timer(delay, TimerTask::PhaseDeadline(id));
            if let Some(c) = self.conn_mut(id) {
                c.timer = Some(t);
            }
        }
        log::debug!("{id}: switching to tls");
        // Flush the clear prefix (and a client's hello); read what came
        // early.
        self.mark_dirty(id);
        self.mark_ready(id);
        Ok(())
    }

    /// The handshake deadline of an open connection that switched to TLS.
    pub(crate) fn handshake_deadline(&mut self, id: ConnId) {
        let Some(c) = self.conn_mut(id) else { return };
        if let Stream::Other(t) = &c.stream {
            if t.handshaking() {
                log::debug!("{id}: tls handshake timed out");
                self.abort(id, Reason::TimedOut);
            }
        }
    }
}
