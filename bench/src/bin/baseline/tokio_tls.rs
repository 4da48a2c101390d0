//! Baseline (d): tokio's current-thread runtime with tokio-rustls, one
//! task per connection, the same rustls (0.23, `ring` provider) and the
//! same server configuration as reel's `--tls-cert`/`--tls-key` servers
//! (`reel::tls::server_config`, ALPN `http/1.1`). Written the idiomatic
//! way, as `tokio_ct.rs`: a 16 KiB read buffer per task, each read
//! answered into an output buffer sent with one `write_all` (and a flush,
//! which tokio-rustls needs to push the records out).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::proto::{HttpDate, Proto, Session};

/// Each connection's read buffer.
const READ_BUF: usize = 16 * 1024;

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
    listener.set_nonblocking(true)?;
    let acceptor = TlsAcceptor::from(config);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener)?;
        loop {
            let accepted = listener.accept().await;
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            match accepted {
                Ok((stream, _peer)) => {
                    tokio::spawn(connection(acceptor.clone(), stream, proto));
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted) => {}
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
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
    let mut session = Session::new(proto);
    let mut date = HttpDate::default();
    let mut buf = vec![0; READ_BUF];
    let mut out = Vec::new();
    session.connected(&mut out);
    if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
        return;
    }
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        out.clear();
        let flow = session.received(&buf[..n], &mut out, &mut date);
        if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
            return;
        }
        if flow == crate::proto::Flow::Close {
            // close_notify, then the socket's write side.
            let _ = stream.shutdown().await;
            return;
        }
    }
}
