//! Baseline (b): tokio's current-thread runtime, one task per connection,
//! written the idiomatic way: each task owns a 16 KiB read buffer and an
//! output buffer, answers each read into the output buffer and sends it
//! with one `write_all`.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::proto::{self, Flow, HttpDate, Proto, Session};

/// Each connection's read buffer.
const READ_BUF: usize = 16 * 1024;

/// Serves `proto` on `listener` until `stop` is set and the next
/// connection arrives (set it, then connect once to wake the accept).
///
/// # Errors
///
/// When the runtime cannot be built or the listener registered.
pub fn serve(listener: std::net::TcpListener, proto: Proto, stop: Arc<AtomicBool>) -> io::Result<()> {
    listener.set_nonblocking(true)?;
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
                    tokio::spawn(connection(stream, proto));
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted) => {}
                Err(e) => {
                    // Out of descriptors, most likely: back off rather than spin.
                    log::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}

/// Serves one connection until the peer closes or the protocol says so.
async fn connection(mut stream: TcpStream, proto: Proto) {
    if let Err(e) = stream.set_nodelay(true) {
        log::debug!("set_nodelay failed: {e}");
    }
    let mut session = Session::new(proto);
    let mut date = HttpDate::default();
    let mut buf = vec![0; READ_BUF];
    let mut out = Vec::new();
    session.connected(&mut out);
    if stream.write_all(&out).await.is_err() {
        return;
    }
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        out.clear();
        let flow = session.received(&buf[..n], &mut out, &mut date);
        if stream.write_all(&out).await.is_err() {
            return;
        }
        if flow == Flow::Close {
            let _ = stream.shutdown().await;
            proto::discard_input(|buf| stream.try_read(buf));
            return;
        }
    }
}
