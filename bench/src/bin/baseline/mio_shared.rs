//! What the two mio baselines (`mio_loop.rs`, `lenient.rs`) share: the
//! poll loop around a listener, and a write that queues what would block.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

/// The listener's token; connections use their slab key.
pub const LISTENER: Token = Token(usize::MAX);

/// Registers `listener` on a new poller and hands every event to
/// `on_event` with the poller and the listener (the listener's events
/// carry [`LISTENER`]), until `stop` is set and the loop next wakes (set
/// it, then connect once to wake it).
///
/// # Errors
///
/// When the poller cannot be created or fails.
pub fn poll_loop(
    listener: std::net::TcpListener,
    stop: &AtomicBool,
    mut on_event: impl FnMut(&Poll, &TcpListener, &Event),
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        for event in events.iter() {
            on_event(&poll, &listener, event);
        }
    }
}

/// Writes `data` straight away, appending to `queued` what would block.
/// Returns false on an error.
pub fn write_or_queue(stream: &TcpStream, data: &[u8], queued: &mut Vec<u8>) -> bool {
    let mut stream = stream;
    let mut written = 0;
    while written < data.len() {
        match stream.write(&data[written..]) {
            Ok(0) => return false,
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                queued.extend_from_slice(&data[written..]);
                return true;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}
