//! What the TLS tests share: throwaway certificates (rcgen), a blocking
//! rustls client on a std socket, and a reactor run on a thread.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reel::tls::rustls;
use reel::tls::{CertificateDer, ClientConfig, PrivateKeyDer, ServerConfig};

/// Every blocking read or write of a test gives up after this long.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A self-signed certificate for `names`, and its key.
pub struct TestCert {
    pub cert: CertificateDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCert {
    pub fn new(names: &[&str]) -> TestCert {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let ck = rcgen::generate_simple_self_signed(names).expect("generate a certificate");
        TestCert { cert: ck.cert.der().clone(), cert_pem: ck.cert.pem(), key_pem: ck.signing_key.serialize_pem() }
    }

    pub fn key(&self) -> PrivateKeyDer<'static> {
        use rustls::pki_types::pem::PemObject;
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).expect("parse the key")
    }

    /// A server configuration serving this certificate.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig::builder_with_provider(reel::tls::provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], self.key())
            .expect("certificate and key")
    }

    /// A client configuration trusting this certificate only.
    pub fn client_config(&self) -> ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.clone()).expect("add the root");
        ClientConfig::builder_with_provider(reel::tls::provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    /// Writes the certificate and key to files in `dir`.
    pub fn write_to(&self, dir: &std::path::Path) -> (PathBuf, PathBuf) {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, &self.cert_pem).expect("write the certificate");
        std::fs::write(&key, &self.key_pem).expect("write the key");
        (cert, key)
    }
}

/// A TCP stream with read and write timeouts.
pub fn tcp(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    s.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
    s
}

/// A blocking rustls client over a std socket.
pub type Client = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

pub fn client(addr: SocketAddr, name: &str, config: ClientConfig) -> Client {
    let name = rustls::pki_types::ServerName::try_from(name.to_string()).expect("server name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client session");
    rustls::StreamOwned::new(conn, tcp(addr))
}

/// Reads until `want` bytes came (or the peer ended).
pub fn read_n(r: &mut impl Read, want: usize) -> io::Result<Vec<u8>> {
    let mut got = vec![0; want];
    r.read_exact(&mut got)?;
    Ok(got)
}

/// Writes and flushes.
pub fn send(w: &mut impl Write, data: &[u8]) -> io::Result<()> {
    w.write_all(data)?;
    w.flush()
}
