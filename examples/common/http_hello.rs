//! The HTTP hello page server of docs/protocols.md (`http_hello`): the
//! per-connection protocol [`HelloConn`], its factory [`HelloFactory`], and
//! [`start`], which registers the listener on a reactor so that one reactor
//! can serve this page next to other services.
//!
//! Parsing is [`reel::protocols::http`]'s; this module adds what a
//! connection needs around it:
//!
//! - **Pipelining.** Every complete request of a read is answered in order,
//!   into one buffer written to the connection once per callback, so the
//!   reactor sends the answers to a pipelined burst with one system call.
//!   When the queued output passes [`OUTPUT_PAUSE`] (a peer that sends
//!   requests without reading the answers), answering stops and reading
//!   pauses until the peer catches up: memory stays bounded.
//! - **Bodies.** A `Content-Length` body is counted off as it streams by,
//!   never buffered, so the next pipelined request parses.
//! - **Errors.** After an error response (`400`, `413`, `414`, `431`, `501`,
//!   `505`) nothing more is parsed: a request smuggled behind a bad one is
//!   never answered. The reactor's close flushes the answer, then
//!   half-closes and reads and discards for a linger period, so a client
//!   still sending gets its answer rather than a reset.
//! - **Deadlines.** One timer per connection guards, in turn: the request
//!   head ([`Deadlines::head`], from the connection or from the first byte
//!   of the next request; bytes arriving never extend it), the idle
//!   keep-alive time ([`Deadlines::idle`], from the last response), a body
//!   (the idle time from the end of its head), and a peer that stopped
//!   reading its answers (the idle time without progress).
//! - **`Date`.** Formatted at most once per second, cached by Unix second
//!   and shared by the connections of a factory.
//!
//! The per-request path does not allocate once the connection's two
//! buffers have grown to their working size.

// The binaries and test crates that include this file each use a part.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use reel::protocols::http::{self, Parsed};
use reel::{ConnId, Context, Factory, ListenerId, Protocol, Reactor, Reason, TimerId};

/// The default address: `127.0.0.1:12345`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:12345";

/// The page served at `/`.
pub const PAGE: &[u8] = b"<html><head><meta charset=\"utf-8\"><title>Hello</title></head>\
<body><h1>Hello World</h1></body></html>";

/// `Content-Type` of the page.
pub const HTML: &str = "text/html; charset=utf-8";

/// `Content-Type` of the short text bodies of errors.
pub const TEXT: &str = "text/plain; charset=utf-8";

/// How long a whole request head may take: 10 s (docs/protocols.md).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a keep-alive connection may stay idle between requests: 30 s
/// (docs/protocols.md).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Queued output above which a connection stops answering pipelined
/// requests (and stops reading) until the peer reads: the reactor's default
/// high water mark. It must not exceed the listener's high water mark: a
/// connection held back and not told `pause_writing` then always has room
/// for at least one more answer, so going on never spins.
pub const OUTPUT_PAUSE: usize = 64 * 1024;

/// An incomplete head is parsed again when new bytes bring a line feed (a
/// head can only end in one) or this many more bytes, so that a head sent
/// a byte at a time costs a rescan per line, not per byte, while an error
/// within a line is still found within this many bytes.
const RESCAN_STEP: usize = 2048;

/// The length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

/// The deadlines of a connection. The defaults are the contract's; tests
/// shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// A request head must be complete within this time from the
    /// connection (first request) or from its first byte (later ones).
    pub head: Duration,
    /// A connection with nothing in progress is closed after this time; it
    /// also bounds a body and a peer that stopped reading.
    pub idle: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines { head: HEAD_TIMEOUT, idle: IDLE_TIMEOUT }
    }
}

/// Starts the hello page on `args.listen` with the contract's deadlines
/// and `args.max_conns`, logging `listening on ADDR (tcp)`; exits the
/// process (status 1, one clear line) if the address cannot be bound.
pub fn start(reactor: &mut Reactor, args: &crate::common::ServerArgs) -> ListenerId {
    start_with(reactor, args, Deadlines::default())
}

/// Where the demo serves the page over HTTPS.
pub const DEFAULT_HTTPS_LISTEN: &str = "127.0.0.1:12346";

/// Makes a self-signed certificate for `localhost`, `127.0.0.1` and
/// `::1` (rcgen), and writes it and its key to `cert.pem` and `key.pem`
/// in `dir` (created; the key readable by its owner only). Returns their
/// paths.
///
/// # Errors
///
/// When the directory or a file cannot be written.
pub fn demo_certificate(dir: &std::path::Path) -> std::io::Result<(std::path::PathBuf, std::path::PathBuf)> {
    use std::os::unix::fs::OpenOptionsExt;
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    let made = rcgen::generate_simple_self_signed(names).map_err(std::io::Error::other)?;
    std::fs::create_dir_all(dir)?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem())?;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&key)
        .and_then(|mut f| std::io::Write::write_all(&mut f, made.signing_key.serialize_pem().as_bytes()))?;
    Ok((cert, key))
}

/// [`start`] with other deadlines.
pub fn start_with(reactor: &mut Reactor, args: &crate::common::ServerArgs, deadlines: Deadlines) -> ListenerId {
    let opts = crate::common::listen_options(args);
    let factory = HelloFactory::new(deadlines);
    match crate::common::listen_unix(reactor, args, factory.clone(), opts.clone()) {
        Some(id) if !args.serve_tcp() => id,
        _ => crate::common::listen(reactor, args, factory, opts),
    }
}

#[path = "http_date.rs"]
mod date;
pub use date::*;

#[path = "http_answer.rs"]
mod answer;
use answer::{answer, is_plain_page, write_error};

#[path = "http_background.rs"]
mod background;
#[allow(unused_imports)] // the programs that serve on the main thread use none of it
pub use background::*;

// ----- the factory -------------------------------------------------------------

/// Builds a [`HelloConn`] per connection; refuses clients over the
/// listener's limit with `503` and `Connection: close`.
#[derive(Debug, Clone, Default)]
pub struct HelloFactory {
    deadlines: Deadlines,
    dates: Rc<DateCache>,
}

impl HelloFactory {
    /// A factory whose connections use `deadlines`.
    pub fn new(deadlines: Deadlines) -> Self {
        HelloFactory { deadlines, dates: Rc::default() }
    }
}

impl Factory for HelloFactory {
    fn build_protocol(&mut self, _peer: SocketAddr) -> Box<dyn Protocol> {
        Box::new(HelloConn::new(self.deadlines, Rc::clone(&self.dates)))
    }

    fn busy_farewell(&mut self, peer: SocketAddr) -> Vec<u8> {
        log::debug!("{peer}: server busy, answering 503");
        let mut out = Vec::with_capacity(256);
        let date = self.dates.now();
        http::write_response(
            &mut out,
            503,
            "Service Unavailable",
            &date,
            &[],
            Some(TEXT),
            b"server busy\n",
            false,
            true,
        );
        out
    }
}

// ----- one connection ------------------------------------------------------------

/// What the connection's one deadline timer guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    /// A request head is due (from the connection, or from its first byte).
    Head,
    /// Nothing in progress: the keep-alive idle time.
    Idle,
    /// A body is being discarded.
    Body,
    /// Answers are held back until the peer reads.
    Stalled,
}

/// The connection's deadline timer. A deadline moved later does not move
/// the timer (which would cost a timer-queue update per request): the
/// timer fires at `fires`, sees that `due` is later, and is set again for
/// the rest. A deadline moved earlier resets it.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    id: TimerId,
    guard: Guard,
    /// When the timer fires (loop time); `None` past the clock's range.
    fires: Option<Instant>,
    /// The delay the timer was set with (from a loop time no later than
    /// now): a deadline at least this far from now is not earlier.
    set_for: Duration,
    /// `guard`'s time is up `delay` after `from` (never before `fires`).
    from: Instant,
    delay: Duration,
}

/// The hello page server for one connection.
#[derive(Debug)]
pub struct HelloConn {
    deadlines: Deadlines,
    dates: Rc<DateCache>,
    /// Received and not yet consumed: an incomplete head, or requests held
    /// back while the peer does not read. At most [`http::MAX_HEAD_LEN`]
    /// plus one read.
    input: Vec<u8>,
    /// Bytes of the current request's body still to discard.
    body_left: usize,
    /// An error was answered or the last answer closes the connection:
    /// nothing more is parsed.
    done: bool,
    /// Answering is held back because the output passed [`OUTPUT_PAUSE`];
    /// reading is paused.
    held: bool,
    /// The reactor called `pause_writing` and not yet `resume_writing`.
    write_paused: bool,
    /// The peer half-closed while answers were held back: close once they
    /// are out.
    eof: bool,
    /// Do not parse the incomplete head in `input` again before it reaches
    /// this length, unless a line feed arrives.
    rescan_at: usize,
    /// The deadline timer and what it guards.
    deadline: Option<Deadline>,
    /// A timer to go on answering held-back requests on the next turn.
    kick: Option<TimerId>,
}

impl HelloConn {
    /// A connection with the given deadlines, sharing a `Date` cache.
    pub fn new(deadlines: Deadlines, dates: Rc<DateCache>) -> Self {
        HelloConn {
            deadlines,
            dates,
            input: Vec::new(),
            body_left: 0,
            done: false,
            held: false,
            write_paused: false,
            eof: false,
            rescan_at: 0,
            deadline: None,
            kick: None,
        }
    }

    /// Answers what `input` holds, in order. Returns the bytes consumed and
    /// whether anything was answered; what is left is an incomplete head,
    /// or requests held back (`self.held`).
    ///
    /// All the answers of one call go into the output buffer through one
    /// [`Context::write_with`], and the queued output is counted from one
    /// [`Context::queued`] at the start: nothing is sent during a callback,
    /// so the queue only grows by what is appended here.
    fn consume(&mut self, cx: &mut Context<'_>, input: &[u8]) -> (usize, bool) {
        if self.done {
            return (input.len(), false);
        }
        let pos = skip_body(&mut self.body_left, input, 0);
        if pos == input.len() {
            return (pos, false);
        }
        let queued = cx.queued();
        if queued > OUTPUT_PAUSE {
            self.held = true;
            return (pos, false);
        }
        let now = cx.now();
        let id = cx.conn_id();
        cx.write_with(|out| self.answer_all(out, input, pos, queued, now, id)).unwrap_or((input.len(), false))
    }

    /// [`consume`](Self::consume)'s loop from `input[pos..]`, appending to
    /// `out` (which may hold other bytes already: only what is appended is
    /// counted on top of `queued`). The `Date` text and the prebuilt page
    /// answer are looked up once per call, at the first answer.
    fn answer_all(
        &mut self,
        out: &mut Vec<u8>,
        input: &[u8],
        mut pos: usize,
        queued: usize,
        now: Instant,
        id: ConnId,
    ) -> (usize, bool) {
        let start = out.len();
        let mut answered = false;
        let mut date = None;
        let mut page = None;
        let dates = &*self.dates;
        loop {
            let rest = input.get(pos..).unwrap_or_default();
            if rest.is_empty() {
                return (pos, answered);
            }
            if queued + (out.len() - start) > OUTPUT_PAUSE {
                self.held = true;
                return (pos, answered);
            }
            match &http::parse_request(rest) {
                Parsed::Partial => {
                    self.rescan_at = rest.len() + RESCAN_STEP;
                    return (pos, answered);
                }
                Parsed::Request(request) => {
                    if is_plain_page(request) {
                        out.extend_from_slice(page.get_or_insert_with(|| dates.page_at(now)));
                    } else {
                        answer(out, request, date.get_or_insert_with(|| dates.now_at(now)));
                    }
                    answered = true;
                    pos += request.head_len;
                    self.body_left = request.body_len;
                    if !request.keep_alive {
                        self.done = true;
                        return (input.len(), answered);
                    }
                    pos = skip_body(&mut self.body_left, input, pos);
                }
                &Parsed::Error(status) => {
                    log::debug!("{id}: {} {}, closing", status.code(), status.reason());
                    write_error(out, status, date.get_or_insert_with(|| dates.now_at(now)));
                    self.done = true;
                    return (input.len(), true);
                }
            }
        }
    }

    /// Answers what is in `self.input` (after more bytes arrived, or when
    /// held-back requests may go on).
    fn consume_input(&mut self, cx: &mut Context<'_>) -> bool {
        let input = std::mem::take(&mut self.input);
        let (used, answered) = self.consume(cx, &input);
        self.input = input;
        self.input.drain(..used.min(self.input.len()));
        answered
    }

    /// After a callback's input: send the answers, close or hold back, and
    /// move the deadline to what is now awaited.
    fn settle(&mut self, cx: &mut Context<'_>, answered: bool) {
        if self.done {
            self.input = Vec::new();
            cx.close();
            return;
        }
        if self.held {
            cx.pause_reading();
            if self.kick.is_none() && !self.write_paused {
                self.kick = Some(cx.set_timer(Duration::ZERO));
            }
            if answered || self.guard() != Some(Guard::Stalled) {
                self.arm(cx, Guard::Stalled, self.deadlines.idle);
            }
            return;
        }
        if self.eof {
            cx.close();
            return;
        }
        // An answer ends the head or body the deadline guarded: what is
        // left of the input (read with the answered request's end) starts
        // the next one's.
        if self.body_left > 0 {
            if answered || self.guard() != Some(Guard::Body) {
                self.arm(cx, Guard::Body, self.deadlines.idle);
            }
        } else if !self.input.is_empty() {
            // The first byte of a head starts its deadline; later ones do
            // not move it.
            if answered || self.guard() != Some(Guard::Head) {
                self.arm(cx, Guard::Head, self.deadlines.head);
            }
        } else if answered || self.guard() != Some(Guard::Head) {
            self.arm(cx, Guard::Idle, self.deadlines.idle);
        }
    }

    fn guard(&self) -> Option<Guard> {
        self.deadline.map(|d| d.guard)
    }

    /// Sets the deadline to `delay` from now, guarding `guard`: the timer
    /// only moves when the deadline comes earlier than it fires.
    fn arm(&mut self, cx: &mut Context<'_>, guard: Guard, delay: Duration) {
        let now = cx.now();
        if let Some(deadline) = &mut self.deadline {
            // The timer fires at `t + set_for` for some loop time `t` no
            // later than `now`: with `delay >= set_for` that is no later
            // than `now + delay`, no clock arithmetic needed.
            let not_later = delay >= deadline.set_for
                || now.checked_add(delay).is_some_and(|due| deadline.fires.is_some_and(|fires| fires <= due));
            if not_later {
                deadline.guard = guard;
                deadline.from = now;
                deadline.delay = delay;
                return;
            }
        }
        self.set_deadline(cx, guard, now, delay);
    }

    /// Sets the timer itself to `delay` from `now` (the loop time).
    fn set_deadline(&mut self, cx: &mut Context<'_>, guard: Guard, now: Instant, delay: Duration) {
        let fires = now.checked_add(delay);
        let id = match self.deadline {
            Some(deadline) if cx.reset_timer(deadline.id, delay) => deadline.id,
            _ => cx.set_timer(delay),
        };
        self.deadline = Some(Deadline { id, guard, fires, set_for: delay, from: now, delay });
    }

    /// Goes on answering held-back requests.
    fn go_on(&mut self, cx: &mut Context<'_>) {
        self.held = false;
        let answered = self.consume_input(cx);
        self.settle(cx, answered);
        if !self.held && !self.done && !self.eof {
            cx.resume_reading();
        }
    }

    /// The deadline passed.
    fn deadline_passed(&mut self, cx: &mut Context<'_>, guard: Guard) {
        let id = cx.conn_id();
        match guard {
            Guard::Head if !self.input.is_empty() => {
                log::debug!("{id}: request head not complete in {:?}, answering 408", self.deadlines.head);
                let date = self.dates.now();
                cx.write_with(|out| {
                    http::write_response(
                        out,
                        408,
                        "Request Timeout",
                        &date,
                        &[],
                        Some(TEXT),
                        b"request timeout\n",
                        false,
                        true,
                    )
                });
            }
            Guard::Head => log::debug!("{id}: no request in {:?}, closing", self.deadlines.head),
            Guard::Idle => log::debug!("{id}: idle for {:?}, closing", self.deadlines.idle),
            Guard::Body => log::debug!("{id}: body not complete in {:?}, closing", self.deadlines.idle),
            Guard::Stalled => {
                log::debug!("{id}: peer read nothing for {:?}, aborting", self.deadlines.idle);
                self.done = true;
                return cx.abort();
            }
        }
        self.done = true;
        cx.close_with(Reason::TimedOut);
    }
}

impl Protocol for HelloConn {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.arm(cx, Guard::Head, self.deadlines.head);
    }

    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if self.done {
            return;
        }
        let answered = if self.input.is_empty() {
            // The usual case: answer straight from the read buffer, keep
            // only an incomplete head.
            let (used, answered) = self.consume(cx, data);
            if !self.done {
                self.input.extend_from_slice(data.get(used..).unwrap_or_default());
            }
            answered
        } else {
            self.input.extend_from_slice(data);
            let incomplete_head = !self.held && self.body_left == 0;
            if incomplete_head && self.input.len() < self.rescan_at && memchr::memchr(b'\n', data).is_none() {
                false
            } else {
                self.consume_input(cx)
            }
        };
        self.settle(cx, answered);
    }

    fn eof_received(&mut self, cx: &mut Context<'_>) {
        if self.held {
            self.eof = true;
        } else {
            cx.close();
        }
    }

    fn pause_writing(&mut self, cx: &mut Context<'_>) {
        self.write_paused = true;
        cx.pause_reading();
    }

    fn resume_writing(&mut self, cx: &mut Context<'_>) {
        self.write_paused = false;
        if self.held {
            self.go_on(cx);
        } else if !self.done && !self.eof {
            cx.resume_reading();
        }
    }

    fn timer_fired(&mut self, cx: &mut Context<'_>, timer: TimerId) {
        if self.done {
            return;
        }
        if self.kick == Some(timer) {
            self.kick = None;
            if self.held && !self.write_paused {
                self.go_on(cx);
            }
        } else if let Some(deadline) = self.deadline {
            if deadline.id == timer {
                let now = cx.now();
                let due = deadline.from.checked_add(deadline.delay);
                if let Some(due) = due.filter(|&due| now < due) {
                    // Moved later since the timer was set: wait for the rest.
                    self.deadline = None;
                    return self.set_deadline(cx, deadline.guard, now, due - now);
                }
                self.deadline = None;
                self.deadline_passed(cx, deadline.guard);
            }
        }
    }
}

/// Skips what is left of a body (`body_left` bytes) at `input[pos..]`;
/// returns where the next head starts, or `input.len()` if the body goes on.
fn skip_body(body_left: &mut usize, input: &[u8], pos: usize) -> usize {
    let n = (*body_left).min(input.len().saturating_sub(pos));
    *body_left -= n;
    pos + n
}
