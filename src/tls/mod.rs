//! TLS on [rustls], with the `ring` crypto provider: one more transport
//! under the same [`Protocol`](crate::Protocol) trait.
//!
//! A protocol never knows which transport carries it: it sees plaintext
//! in `data_received` and writes plaintext, and the water marks, the
//! output limits and flow control count plaintext. What TLS adds:
//!
//! - [`Reactor::listen_tls`](crate::Reactor::listen_tls) and
//!   [`Reactor::connect_tls`](crate::Reactor::connect_tls) (and the same
//!   on [`ReactorContext`](crate::ReactorContext)): the handshake runs
//!   first, on the reactor thread, never blocking another connection;
//!   `connection_made` is called once it is done, so that what it
//!   negotiated ([`Context::tls_info`](crate::Context::tls_info): the
//!   server name a client asked for, ALPN, the protocol version, the
//!   peer's certificates) can be read there. A handshake that fails or
//!   times out ([`TcpOptions::handshake_timeout`](crate::TcpOptions::handshake_timeout),
//!   default 10 s) reaches the protocol through `connection_failed`, on
//!   either side.
//! - [`Context::start_tls`](crate::Context::start_tls): the switch of an
//!   open connection to TLS (SMTP's, IMAP's STARTTLS; Twisted's
//!   `startTLS`).
//! - `close()` sends `close_notify`, then closes as over TCP; the peer's
//!   end without `close_notify` is [`Reason::TlsTruncated`];
//!   a TLS error sends its alert and ends the connection with
//!   [`Reason::Tls`], in rustls's words.
//!
//! Configurations are rustls's own ([`ServerConfig`], [`ClientConfig`]),
//! re-exported here with the crate ([`rustls`]) so that their version
//! always matches reel's. [`server_config`] and [`client_config`] build
//! the usual ones from PEM files; anything else (ALPN, client
//! certificates, a certificate per server name with
//! [`rustls::server::ResolvesServerCertUsingSni`], session resumption) is
//! set on the configuration directly:
//!
//! ```no_run
//! use std::sync::Arc;
//! use reel::{Context, Protocol, Reactor};
//!
//! struct Hello;
//! impl Protocol for Hello {
//!     fn connection_made(&mut self, cx: &mut Context<'_>) {
//!         let alpn = cx.tls_info().and_then(|t| t.alpn);
//!         log::info!("ALPN: {alpn:?}");
//!         cx.write(b"hello over TLS\n");
//!     }
//!     fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
//! }
//!
//! # fn main() -> std::io::Result<()> {
//! let mut config = reel::tls::server_config("cert.pem", "key.pem")?;
//! config.alpn_protocols = vec![b"http/1.1".to_vec()];
//! let mut reactor = Reactor::new()?;
//! reactor.listen_tls("127.0.0.1:8443", Arc::new(config), |_| Hello)?;
//! reactor.run()
//! # }
//! ```

mod api;
mod link;
mod stream;
mod unix;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

pub use rustls;
pub use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
pub use rustls::{ClientConfig, ServerConfig};

/// The byte stream a TLS session runs over, for links other than TCP
/// (a Unix stream socket) to implement.
#[allow(unused_imports)]
pub(crate) use self::link::Link;
pub(crate) use self::stream::TlsStream;
use crate::Reason;

/// What a TLS handshake negotiated
/// ([`Context::tls_info`](crate::Context::tls_info)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The server name the client asked for (SNI), on the server side;
    /// `None` on the client side or when the client sent none (an IP
    /// address).
    pub server_name: Option<String>,
    /// The application protocol agreed on (ALPN), e.g. `b"http/1.1"`.
    pub alpn: Option<Vec<u8>>,
    /// The protocol version (`TLSv1_3`, `TLSv1_2`).
    pub version: Option<rustls::ProtocolVersion>,
    /// The cipher suite.
    pub cipher_suite: Option<rustls::CipherSuite>,
    /// The peer's certificate chain, its own first: the server's on the
    /// client side, the client's (if it sent one) on the server side.
    pub peer_certificates: Option<Vec<CertificateDer<'static>>>,
}

/// Which end of a TLS session this side is, for
/// [`Context::start_tls`](crate::Context::start_tls).
#[derive(Debug, Clone)]
pub enum TlsRole {
    /// The server: answers the client's hello with this configuration.
    Server(Arc<ServerConfig>),
    /// The client: verifies the server as `server_name` (also sent as SNI
    /// when it is a DNS name).
    Client {
        /// The name the server's certificate must hold.
        server_name: ServerName<'static>,
        /// The client configuration (trusted roots, ALPN).
        config: Arc<ClientConfig>,
    },
}

impl TlsRole {
    /// A client role verifying `server_name` (a DNS name or an IP
    /// address).
    ///
    /// # Errors
    ///
    /// When `server_name` is neither.
    pub fn client(server_name: &str, config: Arc<ClientConfig>) -> io::Result<TlsRole> {
        Ok(TlsRole::Client { server_name: parse_server_name(server_name)?, config })
    }

    /// The rustls session for this role.
    pub(crate) fn connection(self) -> io::Result<rustls::Connection> {
        let conn: rustls::Connection = match self {
            TlsRole::Server(config) => rustls::ServerConnection::new(config).map_err(tls_io)?.into(),
            TlsRole::Client { server_name, config } => {
                rustls::ClientConnection::new(config, server_name).map_err(tls_io)?.into()
            }
        };
        Ok(conn)
    }
}

/// Parses a server name for a client session.
pub(crate) fn parse_server_name(name: &str) -> io::Result<ServerName<'static>> {
    ServerName::try_from(name.to_owned())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("invalid TLS server name {name:?}: {e}")))
}

fn tls_io(e: rustls::Error) -> io::Error {
    TlsFailure::Error(e.to_string()).into_io()
}

/// A TLS failure ([`Reason::Tls`]): rustls's error, in its words (for
/// example `invalid peer certificate: NotValidForName`, or
/// `received fatal alert: BadCertificate` for the peer's refusal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(Arc<str>);

impl TlsError {
    /// rustls's words.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a TLS session failed, carried inside an `io::Error` from the
/// transport to [`Reason::from_io`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TlsFailure {
    /// rustls's error, in its words.
    Error(String),
    /// The link ended without `close_notify`.
    Truncated,
}

impl TlsFailure {
    pub(crate) fn into_io(self) -> io::Error {
        let kind = match self {
            TlsFailure::Error(_) => io::ErrorKind::InvalidData,
            TlsFailure::Truncated => io::ErrorKind::UnexpectedEof,
        };
        io::Error::new(kind, self)
    }

    pub(crate) fn reason(&self) -> Reason {
        match self {
            TlsFailure::Error(text) => Reason::Tls(TlsError(Arc::from(text.as_str()))),
            TlsFailure::Truncated => Reason::TlsTruncated,
        }
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFailure::Error(text) => f.write_str(text),
            TlsFailure::Truncated => f.write_str("peer closed without close_notify"),
        }
    }
}

impl std::error::Error for TlsFailure {}

/// The crypto provider reel's helpers use: rustls's `ring` provider.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pem_error(path: &Path, what: &str, e: rustls::pki_types::pem::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{}: {what}: {e}", path.display()))
}

/// Loads every certificate of a PEM file (a chain: the server's own
/// first).
///
/// # Errors
///
/// When the file cannot be read or holds no certificate.
pub fn load_certs(path: impl AsRef<Path>) -> io::Result<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let path = path.as_ref();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, "reading certificates", e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, "reading certificates", e))?;
    if certs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{}: no certificate found", path.display())));
    }
    Ok(certs)
}

/// Loads the first private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
///
/// # Errors
///
/// When the file cannot be read or holds no key.
pub fn load_private_key(path: impl AsRef<Path>) -> io::Result<PrivateKeyDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    let path = path.as_ref();
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_error(path, "reading the private key", e))
}

/// A server configuration with the certificate chain and key of two PEM
/// files, the `ring` provider, TLS 1.3 and 1.2, no client certificates.
/// Set `alpn_protocols` on it (and anything else) before wrapping it in
/// an `Arc`.
///
/// # Errors
///
/// When a file cannot be read, or the key does not fit the certificate.
pub fn server_config(cert_pem: impl AsRef<Path>, key_pem: impl AsRef<Path>) -> io::Result<ServerConfig> {
    let certs = load_certs(cert_pem)?;
    let key = load_private_key(key_pem)?;
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_io)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("certificate and key: {e}")))
}

/// A client configuration trusting the certificates of a PEM file (a
/// private CA, or a self-signed server certificate) or, with `None`,
/// Mozilla's roots (`webpki-roots`); the `ring` provider, TLS 1.3 and 1.2.
///
/// # Errors
///
/// When the CA file cannot be read or holds no usable certificate.
pub fn client_config(ca_pem: Option<&Path>) -> io::Result<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(path) => {
            for cert in load_certs(path)? {
                roots.add(cert).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("{}: not a CA: {e}", path.display()))
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_io)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
