//! The length-prefixed command service of docs/protocols.md (`framed`, a
//! tutorial's "sticky packet" solution): the server and the client. Used by
//! `examples/framed.rs`, by the `demo` example and by
//! `tests/example_framed.rs`, each including it next to `common`:
//!
//! ```ignore
//! mod common;
//! #[path = "common/framed.rs"]
//! mod framed;
//! ```
//!
//! A request is one frame (4-byte big-endian length, then that many bytes)
//! holding a UTF-8 command. The response is the tutorial's header-then-body
//! design: one frame holding a JSON header `{"status":"ok","total_size":S}`,
//! then `S` raw body bytes. Errors get
//! `{"status":"error","message":"...","total_size":0}`. The tutorial's server
//! ran any shell command it was sent; this one knows four harmless
//! commands and never runs a program.

#![allow(dead_code)] // each program uses a part

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use reel::framing::{FrameHandler, Framed, Framer, LengthPrefixed};
use reel::policies::IdleTimeout;
use reel::protocols::clock_text::{ClockText, WallClock};
use reel::{Context, Factory, Protocol, Reactor, Reason};

use crate::common::{self, ServerArgs};

/// Where the server listens by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default idle timeout, in seconds.
pub const DEFAULT_IDLE_SECS: u64 = 60;
/// The longest request accepted: 64 KiB.
pub const MAX_REQUEST: u64 = 64 * 1024;
/// The longest header the client accepts.
const MAX_HEADER: u64 = 64 * 1024;

/// The server's default arguments.
pub fn default_args() -> ServerArgs {
    ServerArgs::new(DEFAULT_LISTEN, DEFAULT_IDLE_SECS)
}

/// Starts the TCP listener on `args.listen`, telling the system time.
/// Returns the address bound. A bind failure prints one line and exits 1.
pub fn start(reactor: &mut Reactor, args: &ServerArgs) -> SocketAddr {
    start_with_clock(reactor, args, WallClock::system())
}

/// [`start`] with the time read from `clock` (a manual one in tests).
pub fn start_with_clock(reactor: &mut Reactor, args: &ServerArgs, clock: WallClock) -> SocketAddr {
    let factory = CommandFactory { text: Rc::new(ClockText::ctime(clock)), idle_timeout: args.idle_timeout };
    common::listen_unix(reactor, args, factory.clone(), common::listen_options(args));
    if !args.serve_tcp() {
        return args.listen;
    }
    let tcp = common::listen(reactor, args, factory, common::listen_options(args));
    reactor.listener_addr(tcp).unwrap_or(args.listen)
}

/// The codec of both sides: a 4-byte big-endian length.
pub fn codec(max: u64) -> LengthPrefixed {
    LengthPrefixed::u32().max_length(max)
}

/// What a command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The body to send after an `ok` header.
    Ok(Vec<u8>),
    /// The message of an `error` header.
    Error(String),
}

/// The JSON header of a reply, keys in the contract's order.
pub fn header(reply: &Reply) -> String {
    match reply {
        Reply::Ok(body) => format!(r#"{{"status":"ok","total_size":{}}}"#, body.len()),
        Reply::Error(message) => {
            // serde_json escapes quotes, backslashes and control characters.
            let message = serde_json::to_string(message).unwrap_or_else(|_| r#""error""#.to_string());
            format!(r#"{{"status":"error","message":{message},"total_size":0}}"#)
        }
    }
}

/// The header frame (length prefix included) of a reply.
pub fn header_frame(reply: &Reply) -> Vec<u8> {
    let header = header(reply);
    let mut frame = Vec::with_capacity(4 + header.len());
    // Headers are short: the length always fits.
    frame.extend_from_slice(&u32::try_from(header.len()).unwrap_or(u32::MAX).to_be_bytes());
    frame.extend_from_slice(header.as_bytes());
    frame
}

/// Runs one request: `date` (ctime), `os` (the operating system's name),
/// `upper TEXT`, `echo TEXT`. `date` reads `clock`.
pub fn execute(request: &[u8], clock: &ClockText) -> Reply {
    let Ok(text) = std::str::from_utf8(request) else {
        return Reply::Error("the request is not valid UTF-8".to_string());
    };
    let (command, arg) = match text.split_once(' ') {
        Some((command, arg)) => (command, Some(arg)),
        None => (text, None),
    };
    match (command, arg) {
        ("date", None) => Reply::Ok(clock.now().as_bytes().to_vec()),
        ("os", None) => Reply::Ok(std::env::consts::OS.as_bytes().to_vec()),
        ("date" | "os", Some(_)) => Reply::Error(format!("{command} takes no argument")),
        ("upper", arg) => Reply::Ok(arg.unwrap_or("").to_uppercase().into_bytes()),
        ("echo", arg) => Reply::Ok(arg.unwrap_or("").as_bytes().to_vec()),
        _ => {
            let shown: String = command.chars().take(64).collect();
            Reply::Error(format!("unknown command {shown:?}; try date, os, upper TEXT or echo TEXT"))
        }
    }
}

/// Builds a [`Commands`] per connection, framed and with the idle timeout,
/// all sharing one [`ClockText`]; tells clients over the limit that the
/// server is busy, in an error header.
#[derive(Debug, Clone)]
pub struct CommandFactory {
    /// The shared, per-second cache of `date`.
    pub text: Rc<ClockText>,
    /// Closes a connection silent for this long (zero: never).
    pub idle_timeout: Duration,
}

impl Factory for CommandFactory {
    fn build_protocol(&mut self, _peer: SocketAddr) -> Box<dyn Protocol> {
        let framed = Framed::new(codec(MAX_REQUEST), Commands { text: Rc::clone(&self.text) });
        Box::new(IdleTimeout::new(framed, self.idle_timeout))
    }

    fn busy_farewell(&mut self, _peer: SocketAddr) -> Vec<u8> {
        header_frame(&Reply::Error("server busy".to_string()))
    }
}

/// One connection of the server, request by request.
#[derive(Debug)]
pub struct Commands {
    text: Rc<ClockText>,
}

impl FrameHandler<LengthPrefixed> for Commands {
    fn frame_received(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<LengthPrefixed>, request: &[u8]) {
        let reply = execute(request, &self.text);
        cx.write(&header_frame(&reply));
        if let Reply::Ok(body) = reply {
            cx.write(&body);
        }
    }

    /// The codec saw the announced length in the 4-byte prefix and stopped
    /// there: nothing of the announced size was allocated or read.
    fn frame_too_long(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<LengthPrefixed>, announced: u64) {
        let message = format!("request of {announced} bytes is over the limit of {MAX_REQUEST}");
        cx.write(&header_frame(&Reply::Error(message)));
        cx.close_with(Reason::Protocol(Cow::Borrowed("request too long")));
    }
}

// ----- the client ---------------------------------------------------------

/// Connects to `addr`, sends each command as a frame (one at a time) and
/// prints each body to `out` (followed by a newline if it has none), errors
/// to stderr; closes after the last one and stops the reactor. The returned
/// cell holds the exit status once the reactor stopped: 0 when every
/// command succeeded, else 1.
pub fn start_client(
    reactor: &mut Reactor,
    addr: SocketAddr,
    commands: Vec<String>,
    out: Box<dyn Write>,
) -> Rc<Cell<i32>> {
    start_client_over(reactor, addr, &common::ClientTls::default(), commands, out)
}

/// [`start_client`] over TLS when `tls` says so (`--tls`, `--ca FILE`).
pub fn start_client_over(
    reactor: &mut Reactor,
    addr: SocketAddr,
    tls: &common::ClientTls,
    commands: Vec<String>,
    out: Box<dyn Write>,
) -> Rc<Cell<i32>> {
    let status = Rc::new(Cell::new(1));
    let client = CommandClient {
        addr,
        commands: commands.into(),
        awaiting: 0,
        body_left: 0,
        body_ends_in_newline: true,
        failed: false,
        out,
        status: Rc::clone(&status),
    };
    common::connect(reactor, addr, tls, Framed::new(codec(MAX_HEADER), client));
    status
}

/// The client's connection.
struct CommandClient {
    addr: SocketAddr,
    /// Commands not sent yet.
    commands: VecDeque<String>,
    /// Commands sent and not fully answered (0 or 1).
    awaiting: u32,
    /// Body bytes of the current answer still to come (raw mode).
    body_left: u64,
    body_ends_in_newline: bool,
    /// Some command got an error.
    failed: bool,
    out: Box<dyn Write>,
    status: Rc<Cell<i32>>,
}

impl CommandClient {
    /// Sends the next command, or closes when none is left.
    fn next(&mut self, cx: &mut Context<'_>, framer: &mut Framer<LengthPrefixed>) {
        match self.commands.pop_front() {
            Some(command) => match framer.send(cx, command.as_bytes()) {
                Ok(()) => self.awaiting = 1,
                Err(e) => {
                    common::report!("error: cannot send {command:?}: {e}");
                    self.failed = true;
                    self.next(cx, framer);
                }
            },
            None => cx.close(),
        }
    }

    /// The current answer is complete.
    fn answered(&mut self, cx: &mut Context<'_>, framer: &mut Framer<LengthPrefixed>) {
        if !self.body_ends_in_newline {
            let _ = self.out.write_all(b"\n");
        }
        let _ = self.out.flush();
        self.awaiting = 0;
        self.next(cx, framer);
    }
}

impl FrameHandler<LengthPrefixed> for CommandClient {
    fn connection_made(&mut self, cx: &mut Context<'_>, framer: &mut Framer<LengthPrefixed>) {
        self.next(cx, framer);
    }

    fn frame_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<LengthPrefixed>, header: &[u8]) {
        let parsed: Result<serde_json::Value, _> = serde_json::from_slice(header);
        let header = match parsed {
            Ok(serde_json::Value::Object(map)) => map,
            _ => {
                common::report!("error: {}: the header is not a JSON object", self.addr);
                self.failed = true;
                cx.close();
                return;
            }
        };
        let size = header.get("total_size").and_then(serde_json::Value::as_u64).unwrap_or(0);
        let ok = header.get("status").and_then(serde_json::Value::as_str) == Some("ok");
        if !ok {
            let message = header.get("message").and_then(serde_json::Value::as_str).unwrap_or("unknown error");
            common::report!("error: {message}");
            self.failed = true;
        }
        self.body_left = size;
        // An empty body still prints its (empty) line; an error prints none.
        self.body_ends_in_newline = !ok;
        if size == 0 {
            self.answered(cx, framer);
        } else {
            framer.set_raw_mode();
        }
    }

    fn raw_data_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<LengthPrefixed>, data: &[u8]) -> usize {
        let take = usize::try_from(self.body_left).map_or(data.len(), |left| left.min(data.len()));
        let body = &data[..take];
        let _ = self.out.write_all(body);
        if let Some(&last) = body.last() {
            self.body_ends_in_newline = last == b'\n';
        }
        self.body_left -= take as u64;
        if self.body_left == 0 {
            framer.set_frame_mode();
            self.answered(cx, framer);
        }
        take
    }

    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        if self.awaiting > 0 || !self.commands.is_empty() {
            common::report!("error: {}: connection ended before every answer came: {reason}", self.addr);
        } else if !self.failed {
            self.status.set(0);
        }
        cx.stop();
    }

    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        common::report!("error: cannot connect to {}: {reason}", self.addr);
        cx.stop();
    }
}
