//! TLS over Unix domain stream sockets: the same session as over TCP, on a
//! [`Link`](super::Link) that is a `UnixStream`.

use std::io;
use std::sync::Arc;

use super::{ClientConfig, ServerConfig, TlsRole, TlsStream};
use crate::conn::{Origin, Phase};
use crate::core::Core;
use crate::transport::Stream;
use crate::unix::{ToUnixAddr, UnixAddr, UnixListenOptions};
use crate::{ConnId, Factory, ListenerId, Protocol, Reactor, ReactorContext, TcpOptions};

impl ReactorContext<'_> {
    /// Starts a TLS listener on a Unix domain socket: as
    /// [`listen_unix_with`](Self::listen_unix_with) (stale files, mode,
    /// limits), each accepted connection then handshaking as on a
    /// [`listen_tls`](Self::listen_tls) listener.
    ///
    /// # Errors
    ///
    /// As [`listen_unix_with`](Self::listen_unix_with).
    pub fn listen_unix_tls(
        &mut self,
        addr: impl ToUnixAddr,
        config: Arc<ServerConfig>,
        factory: impl Factory + 'static,
        opts: UnixListenOptions,
    ) -> io::Result<ListenerId> {
        let id = self.listen_unix_with(addr, factory, opts)?;
        self.set_listener_tls(id, config);
        Ok(id)
    }

    /// Connects to a Unix domain stream socket and runs a TLS client
    /// handshake over it (`server_name` is what the certificate must name,
    /// and the SNI sent). The protocol hears `connection_made` once the
    /// handshake is done, or `connection_failed` with the reason.
    pub fn connect_unix_tls(
        &mut self,
        addr: impl ToUnixAddr,
        server_name: &str,
        config: Arc<ClientConfig>,
        protocol: impl Protocol + 'static,
    ) -> ConnId {
        let session = TlsRole::client(server_name, config).and_then(TlsRole::connection);
        match (addr.to_unix_addr(), session) {
            (Ok(addr), Ok(session)) => {
                self.core.connect_unix_tls(&addr, session, Box::new(protocol), &TcpOptions::default())
            }
            (Err(e), _) | (_, Err(e)) => self.core.connect_failed_at_once(Box::new(protocol), &e),
        }
    }
}

impl Reactor {
    /// A TLS listener on a Unix domain socket; see
    /// [`ReactorContext::listen_unix_tls`].
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound or its mode set.
    pub fn listen_unix_tls(
        &mut self,
        addr: impl ToUnixAddr,
        config: Arc<ServerConfig>,
        factory: impl Factory + 'static,
        opts: UnixListenOptions,
    ) -> io::Result<ListenerId> {
        self.context().listen_unix_tls(addr, config, factory, opts)
    }

    /// TLS over a Unix domain stream socket; see
    /// [`ReactorContext::connect_unix_tls`].
    pub fn connect_unix_tls(
        &mut self,
        addr: impl ToUnixAddr,
        server_name: &str,
        config: Arc<ClientConfig>,
        protocol: impl Protocol + 'static,
    ) -> ConnId {
        self.context().connect_unix_tls(addr, server_name, config, protocol)
    }
}

impl Core {
    /// A client TLS connection over a Unix socket: in phase `Connecting`
    /// through the handshake, bounded by the handshake timeout.
    fn connect_unix_tls(
        &mut self,
        addr: &UnixAddr,
        session: rustls::Connection,
        protocol: Box<dyn Protocol>,
        opts: &TcpOptions,
    ) -> ConnId {
        let any = crate::addr::unspecified(false);
        let opts = TcpOptions { connect_timeout: opts.handshake_timeout, ..opts.clone() };
        let result = crate::unix::connect_stream(addr).and_then(|s| {
            let tls = TlsStream::new(s, session, false, opts.handshake_timeout);
            self.insert_conn(Stream::Other(Box::new(tls)), None, Phase::Connecting, (any, any), &opts, Origin::Own)
        });
        self.attach_client(result, protocol, &format!("{addr} (tls)"))
    }
}
