//! What the thread-per-connection and tokio baselines share: a
//! connection's protocol state with its buffers, tokio's accept loop, and
//! tokio's read-answer-write loop.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::proto::{Flow, HttpDate, Proto, Session};

/// Each connection's read buffer.
const READ_BUF: usize = 16 * 1024;

/// One connection's protocol state, its read buffer and its output buffer.
pub struct Served {
    session: Session,
    date: HttpDate,
    /// Where the connection reads into.
    pub buf: Vec<u8>,
    /// The answers to send: the greeting at first, then those of the last
    /// read.
    pub out: Vec<u8>,
}

impl Served {
    /// A new connection's state, its greeting (if any) in `out`.
    pub fn new(proto: Proto) -> Self {
        let mut served =
            Served { session: Session::new(proto), date: HttpDate::default(), buf: vec![0; READ_BUF], out: Vec::new() };
        served.session.connected(&mut served.out);
        served
    }

    /// Answers the `n` bytes read into `buf`, into `out` (cleared first).
    pub fn answer(&mut self, n: usize) -> Flow {
        self.out.clear();
        self.session.received(&self.buf[..n], &mut self.out, &mut self.date)
    }
}

/// Runs tokio's current-thread runtime accepting on `listener`, handing
/// each connection to `serve` (which spawns its task), until `stop` is set
/// and the next connection arrives (set it, then connect once to wake the
/// accept).
///
/// # Errors
///
/// When the runtime cannot be built or the listener registered.
pub fn tokio_accept_loop(
    listener: std::net::TcpListener,
    stop: Arc<AtomicBool>,
    mut serve: impl FnMut(TcpStream),
) -> io::Result<()> {
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
                Ok((stream, _peer)) => serve(stream),
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

/// Serves `proto` on `stream`: the greeting, then each read answered with
/// one `write_all` (and a `flush` if `flush`, which tokio-rustls needs to
/// push the records out). Returns true when the protocol closes (the
/// caller then shuts the stream down), false when the peer closed or an
/// error ended it.
pub async fn tokio_session<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, proto: Proto, flush: bool) -> bool {
    let mut served = Served::new(proto);
    if send(stream, &served.out, flush).await.is_err() {
        return false;
    }
    loop {
        let n = match stream.read(&mut served.buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let flow = served.answer(n);
        if send(stream, &served.out, flush).await.is_err() {
            return false;
        }
        if flow == Flow::Close {
            return true;
        }
    }
}

/// Writes all of `out`, then flushes if `flush`.
async fn send<S: AsyncWrite + Unpin>(stream: &mut S, out: &[u8], flush: bool) -> io::Result<()> {
    stream.write_all(out).await?;
    if flush {
        stream.flush().await?;
    }
    Ok(())
}
