//! Baseline (d): tokio's current-thread runtime with tokio-rustls, one
//! task per connection, the same rustls (0.23, `ring` provider) and the
//! same server configuration as reel's `--tls-cert`/`--tls-key` servers
//! (`reel::tls::server_config`, ALPN `http/1.1`). Written the idiomatic
//! way, as `tokio_ct.rs`: a 16 KiB read buffer per task, each read
//! answered into an output buffer sent with one `write_all` (and a flush,
//! which tokio-rustls needs to push the records out).

use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::proto::Proto;
use crate::shared;

/// How long a handshake may take, as reel's default.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `proto` over TLS on `listener` until `stop` is set and the next
/// connection arrives.
///
/// # Errors
///
/// When the runtime cannot be built or the listener registered.
pub fn serve(
    listener: std::net::TcpListener,
    proto: Proto,
    config: Arc<reel::tls::ServerConfig>,
    stop: Arc<AtomicBool>,
) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    shared::tokio_accept_loop(listener, stop, move |stream| {
        tokio::spawn(connection(acceptor.clone(), stream, proto));
    })
}

/// The handshake, then the protocol until the peer closes or it says so.
async fn connection(acceptor: TlsAcceptor, stream: TcpStream, proto: Proto) {
    if let Err(e) = stream.set_nodelay(true) {
        log::debug!("set_nodelay failed: {e}");
    }
    let mut stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            log::debug!("handshake failed: {e}");
            return;
        }
        Err(_) => return,
    };
    if shared::tokio_session(&mut stream, proto, true).await {
        // close_notify, then the socket's write side.
        let _ = stream.shutdown().await;
    }
}
