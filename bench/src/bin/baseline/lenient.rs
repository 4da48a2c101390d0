//! Baseline (d), `--kind lenient --proto http_hello`: what most people
//! write by hand, a mio loop answering every request head `httparse` accepts
//! with one static response. It checks nothing `httparse` does not (no
//! limits, no `Host` rules, no smuggling checks, bodies not skipped), so it
//! is not the `http_hello` contract: it is the price to beat for the strict
//! parser (issue: strict HTTP at the price of lenient).
//!
//! - One loop-wide 64 KiB read buffer; a connection keeps bytes only for an
//!   unfinished head.
//! - The response is the page's `200` with its `Date`, prebuilt and patched
//!   once per second; the answers of one read go out with one `write`.
//! - A write that would block is queued and the connection stops reading
//!   until it drains (no edge is lost: see `mio_loop.rs`).

use std::io::{self, Read};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use mio::net::TcpStream;
use mio::{Interest, Token};
use slab::Slab;

use crate::mio_shared::{self, LISTENER};
use crate::proto::{self, HttpDate, PAGE, PAGE_TYPE};

const READ_BUF: usize = 64 * 1024;

/// A head longer than this without its end closes the connection.
const MAX_PENDING: usize = 64 * 1024;

/// The static response, with its date at [`Response::date_at`].
struct Response {
    bytes: Vec<u8>,
    date_at: usize,
    secs_text: [u8; 29],
}

impl Response {
    fn new() -> Response {
        let head = format!(
            "HTTP/1.1 200 OK\r\nDate: {}\r\nContent-Length: {}\r\nContent-Type: {PAGE_TYPE}\r\n\r\n",
            " ".repeat(29),
            PAGE.len()
        );
        let date_at = "HTTP/1.1 200 OK\r\nDate: ".len();
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(PAGE);
        Response { bytes, date_at, secs_text: [b' '; 29] }
    }

    /// The response with today's date.
    fn now(&mut self, date: &mut HttpDate) -> &[u8] {
        let text = date.now();
        if text != self.secs_text {
            self.secs_text.copy_from_slice(text);
            self.bytes[self.date_at..self.date_at + 29].copy_from_slice(text);
        }
        &self.bytes
    }
}

struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
    queued: Vec<u8>,
}

/// Serves the hello page leniently until `stop` is set and the loop wakes.
///
/// # Errors
///
/// When the poller cannot be created or fails.
pub fn serve(listener: std::net::TcpListener, stop: Arc<AtomicBool>) -> io::Result<()> {
    let mut conns: Slab<Conn> = Slab::new();
    let mut buf = vec![0u8; READ_BUF];
    let mut out = Vec::with_capacity(4 * READ_BUF);
    let mut response = Response::new();
    let mut date = HttpDate::default();
    mio_shared::poll_loop(listener, &stop, |poll, listener, event| {
        if event.token() == LISTENER {
            loop {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        let entry = conns.vacant_entry();
                        let token = Token(entry.key());
                        if poll.registry().register(&mut stream, token, Interest::READABLE | Interest::WRITABLE).is_ok()
                        {
                            entry.insert(Conn { stream, pending: Vec::new(), queued: Vec::new() });
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log::warn!("accept failed: {e}");
                        break;
                    }
                }
            }
            return;
        }
        let key = event.token().0;
        let Some(conn) = conns.get_mut(key) else { return };
        let alive = conn.ready(&mut buf, &mut out, &mut response, &mut date);
        if !alive {
            let conn = conns.remove(key);
            proto::discard_input(|b| (&conn.stream).read(b));
        }
    })
}

impl Conn {
    /// Flushes queued output, then reads and answers until drained.
    /// Returns whether the connection lives on.
    fn ready(&mut self, buf: &mut [u8], out: &mut Vec<u8>, response: &mut Response, date: &mut HttpDate) -> bool {
        if !self.queued.is_empty() {
            let queued = std::mem::take(&mut self.queued);
            if !self.send(&queued) {
                return false;
            }
            if !self.queued.is_empty() {
                return true;
            }
        }
        loop {
            let n = match (&self.stream).read(buf) {
                Ok(0) => return false,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            };
            out.clear();
            let ok = if self.pending.is_empty() {
                let used = answer_all(&buf[..n], out, response, date);
                used.is_some_and(|used| {
                    self.pending.extend_from_slice(&buf[used..n]);
                    true
                })
            } else {
                self.pending.extend_from_slice(&buf[..n]);
                let used = answer_all(&self.pending, out, response, date);
                used.is_some_and(|used| {
                    self.pending.drain(..used);
                    true
                })
            };
            if !ok || self.pending.len() > MAX_PENDING || !self.send(out) {
                return false;
            }
            if !self.queued.is_empty() {
                return true;
            }
            if n < buf.len() {
                return true;
            }
        }
    }

    /// Writes `data`, queueing what would block. Returns false on an error.
    fn send(&mut self, data: &[u8]) -> bool {
        mio_shared::write_or_queue(&self.stream, data, &mut self.queued)
    }
}

/// Answers every complete head at the front of `input`; returns the bytes
/// used, or `None` for a head `httparse` refuses.
fn answer_all(input: &[u8], out: &mut Vec<u8>, response: &mut Response, date: &mut HttpDate) -> Option<usize> {
    let mut pos = 0;
    let response = response.now(date);
    while pos < input.len() {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&input[pos..]) {
            Ok(httparse::Status::Complete(len)) => {
                out.extend_from_slice(response);
                pos += len;
            }
            Ok(httparse::Status::Partial) => break,
            Err(_) => return None,
        }
    }
    Some(pos)
}
