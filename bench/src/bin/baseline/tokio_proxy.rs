//! Baseline for the `proxy` example: the same port forwarder on tokio's
//! current-thread runtime, written the idiomatic way — one task per pair,
//! `tokio::io::copy_bidirectional` (8 KiB buffers per direction, half-close
//! passed on with `shutdown`).

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// Forwards every connection accepted on `listener` to `target`, for ever.
///
/// # Errors
///
/// When the runtime cannot be built or the listener registered.
pub fn serve(listener: std::net::TcpListener, target: SocketAddr) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener)?;
        loop {
            match listener.accept().await {
                Ok((client, peer)) => {
                    tokio::spawn(async move {
                        if let Err(e) = pair(client, target).await {
                            log::debug!("{peer}: {e}");
                        }
                    });
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted) => {}
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    })
}

async fn pair(mut client: TcpStream, target: SocketAddr) -> io::Result<()> {
    client.set_nodelay(true)?;
    let mut server = match TcpStream::connect(target).await {
        Ok(s) => s,
        Err(e) => {
            log::warn!("cannot connect to {target}: {e}; closing the client");
            return Ok(());
        }
    };
    server.set_nodelay(true)?;
    tokio::io::copy_bidirectional(&mut client, &mut server).await.map(|_| ())
}
