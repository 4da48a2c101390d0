//! Baseline (c): a thread per connection with `std::net`, the tutorials'
//! design: blocking reads into a 16 KiB buffer, the answers of each read
//! sent with one `write_all`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::proto::{self, Flow, Proto};
use crate::shared::Served;

/// Serves `proto` on `listener` until `stop` is set and the next
/// connection arrives (set it, then connect once to wake the accept).
/// Connection threads are detached: each ends with its connection.
///
/// # Errors
///
/// When the listener cannot be made blocking.
pub fn serve(listener: TcpListener, proto: Proto, stop: Arc<AtomicBool>) -> io::Result<()> {
    listener.set_nonblocking(false)?;
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        match accepted {
            Ok((stream, _peer)) => {
                let spawned = thread::Builder::new().name("conn".into()).spawn(move || connection(stream, proto));
                if let Err(e) = spawned {
                    log::warn!("cannot start a thread: {e}");
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted) => {}
            Err(e) => {
                // Out of descriptors, most likely: back off rather than spin.
                log::warn!("accept failed: {e}");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Serves one connection until the peer closes or the protocol says so.
fn connection(mut stream: TcpStream, proto: Proto) {
    if let Err(e) = stream.set_nodelay(true) {
        log::debug!("set_nodelay failed: {e}");
    }
    let mut served = Served::new(proto);
    if stream.write_all(&served.out).is_err() {
        return;
    }
    loop {
        let n = match stream.read(&mut served.buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let flow = served.answer(n);
        if stream.write_all(&served.out).is_err() {
            return;
        }
        if flow == Flow::Close {
            let _ = stream.shutdown(Shutdown::Write);
            if stream.set_nonblocking(true).is_ok() {
                proto::discard_input(|buf| stream.read(buf));
            }
            return;
        }
    }
}
