//! Baseline (a): a minimal hand-written mio loop, no framework: the speed
//! limit of reel's design.
//!
//! - Each connection is registered once, edge-triggered, for
//!   `READABLE | WRITABLE`, and lives in a `Slab` keyed by its token.
//! - One loop-wide 64 KiB read buffer and one loop-wide output buffer: each
//!   read is answered into the output buffer and written with one call
//!   straight from it. A connection keeps output of its own only when a
//!   write would block, and stops reading while that passes 1 MiB.
//! - A short read counts as drained (epoll reports new data with a new
//!   edge), except when the event says the peer closed its side: then read
//!   on to the end of the stream, since no edge will come for it.
//! - Steady state allocates nothing: buffers keep their capacity.
//!
//! Not here, on purpose: read budgets per turn (fairness), timeouts, a
//! connection limit, the descriptor-exhaustion dance. Events are hints: a
//! stale one for a slot reused within the same batch only causes a read
//! that finds nothing.

use std::io::{self, Read, Write};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Poll, Token};
use slab::Slab;

use crate::mio_shared::{self, LISTENER};
use crate::proto::{self, Flow, HttpDate, Proto, Session};

/// The loop-wide read buffer.
const READ_BUF: usize = 64 * 1024;

/// Queued output above which a connection stops reading until it is flushed.
const PAUSE_ABOVE: usize = 1024 * 1024;

/// Queued output capacity kept after a flush; more is freed.
const KEEP_QUEUED: usize = 256 * 1024;

/// What all connections share: the loop-wide buffers and the date.
struct Scratch {
    buf: Box<[u8]>,
    out: Vec<u8>,
    date: HttpDate,
}

/// One connection.
struct Conn {
    stream: TcpStream,
    session: Session,
    /// Output a write would have blocked on; written when the socket is
    /// writable again. Empty in the steady state.
    queued: Vec<u8>,
    /// No more input is wanted: close once `queued` is flushed.
    closing: bool,
    /// Reading stopped because `queued` passed [`PAUSE_ABOVE`].
    paused: bool,
}

/// Serves `proto` on `listener` until `stop` is set and the loop next wakes
/// (set it, then connect once to wake it).
///
/// # Errors
///
/// When the poller cannot be created or fails.
pub fn serve(listener: std::net::TcpListener, proto: Proto, stop: Arc<AtomicBool>) -> io::Result<()> {
    let mut conns: Slab<Conn> = Slab::new();
    let mut scratch = Scratch {
        buf: vec![0; READ_BUF].into_boxed_slice(),
        out: Vec::with_capacity(4 * READ_BUF),
        date: HttpDate::default(),
    };
    mio_shared::poll_loop(listener, &stop, |poll, listener, event| {
        if event.token() == LISTENER {
            accept_all(listener, poll, &mut conns, proto, &mut scratch);
            return;
        }
        let key = event.token().0;
        let Some(conn) = conns.get_mut(key) else { return };
        if !conn.ready(event, &mut scratch) {
            conns.remove(key);
        }
    })
}

/// Accepts until the backlog is empty, greeting each new connection.
fn accept_all(listener: &TcpListener, poll: &Poll, conns: &mut Slab<Conn>, proto: Proto, scratch: &mut Scratch) {
    loop {
        let mut stream = match listener.accept() {
            Ok((stream, _peer)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted) => continue,
            Err(e) => {
                // Out of descriptors, most likely: try again on the next edge.
                log::warn!("accept failed: {e}");
                return;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            log::debug!("set_nodelay failed: {e}");
        }
        let entry = conns.vacant_entry();
        if let Err(e) =
            poll.registry().register(&mut stream, Token(entry.key()), Interest::READABLE | Interest::WRITABLE)
        {
            log::warn!("register failed: {e}");
            continue;
        }
        let mut conn = Conn { stream, session: Session::new(proto), queued: Vec::new(), closing: false, paused: false };
        scratch.out.clear();
        conn.session.connected(&mut scratch.out);
        if conn.send(&scratch.out) {
            entry.insert(conn);
        }
    }
}

impl Conn {
    /// Handles one readiness event; returns whether the connection lives on
    /// (if not, it has been shut down and only needs dropping).
    fn ready(&mut self, event: &Event, scratch: &mut Scratch) -> bool {
        if event.is_writable() && !self.queued.is_empty() {
            if !self.flush() {
                return false;
            }
            if self.paused && self.queued.is_empty() {
                // No edge comes for input that arrived while paused.
                self.paused = false;
                if !self.read_all(true, scratch) {
                    return false;
                }
            }
        }
        let readable = event.is_readable() || event.is_read_closed() || event.is_error();
        if readable && !self.paused && !self.closing && !self.read_all(event.is_read_closed(), scratch) {
            return false;
        }
        if self.closing && self.queued.is_empty() {
            self.finish();
            return false;
        }
        true
    }

    /// Reads and answers until drained: a short read, unless `to_end` (the
    /// peer closed its side), or `WouldBlock`. Returns false on an error.
    fn read_all(&mut self, to_end: bool, scratch: &mut Scratch) -> bool {
        loop {
            let n = match (&self.stream).read(&mut scratch.buf) {
                Ok(0) => {
                    self.closing = true;
                    return true;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            };
            scratch.out.clear();
            let flow = self.session.received(&scratch.buf[..n], &mut scratch.out, &mut scratch.date);
            if !self.send(&scratch.out) {
                return false;
            }
            if flow == Flow::Close {
                self.closing = true;
                return true;
            }
            if self.queued.len() > PAUSE_ABOVE {
                self.paused = true;
                return true;
            }
            if n < scratch.buf.len() && !to_end {
                return true;
            }
        }
    }

    /// Writes `data` straight away, queueing what would block (behind
    /// anything queued already). Returns false on an error.
    fn send(&mut self, data: &[u8]) -> bool {
        if !self.queued.is_empty() {
            self.queued.extend_from_slice(data);
            return true;
        }
        mio_shared::write_or_queue(&self.stream, data, &mut self.queued)
    }

    /// Writes queued output until done or `WouldBlock`. Returns false on an
    /// error.
    fn flush(&mut self) -> bool {
        let mut written = 0;
        let ok = loop {
            if written == self.queued.len() {
                break true;
            }
            match (&self.stream).write(&self.queued[written..]) {
                Ok(0) => break false,
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break false,
            }
        };
        if written == self.queued.len() {
            if self.queued.capacity() > KEEP_QUEUED {
                self.queued = Vec::new();
            } else {
                self.queued.clear();
            }
        } else {
            self.queued.drain(..written);
        }
        ok
    }

    /// Closes after the last answer: end our side, and take in what the
    /// peer already sent so that the close is not a reset.
    fn finish(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        proto::discard_input(|buf| (&self.stream).read(buf));
    }
}
