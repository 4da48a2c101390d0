//! Baseline (b): tokio's current-thread runtime, one task per connection,
//! written the idiomatic way: each task owns a 16 KiB read buffer and an
//! output buffer, answers each read into the output buffer and sends it
//! with one `write_all`.

use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::proto::{self, Proto};
use crate::shared;

/// Serves `proto` on `listener` until `stop` is set and the next
/// connection arrives (set it, then connect once to wake the accept).
///
/// # Errors
///
/// When the runtime cannot be built or the listener registered.
pub fn serve(listener: std::net::TcpListener, proto: Proto, stop: Arc<AtomicBool>) -> io::Result<()> {
    shared::tokio_accept_loop(listener, stop, |stream| {
        tokio::spawn(connection(stream, proto));
    })
}

/// Serves one connection until the peer closes or the protocol says so.
async fn connection(mut stream: TcpStream, proto: Proto) {
    if let Err(e) = stream.set_nodelay(true) {
        log::debug!("set_nodelay failed: {e}");
    }
    if shared::tokio_session(&mut stream, proto, false).await {
        let _ = stream.shutdown().await;
        proto::discard_input(|buf| stream.try_read(buf));
    }
}
