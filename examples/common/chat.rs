//! The chat rooms of docs/protocols.md ("chat"): the server, the interactive
//! client, and the text rules they share. Used by `examples/chat.rs`, by
//! the `demo` example and by `tests/example_chat.rs`, each including it
//! next to `common`:
//!
//! ```ignore
//! mod common;
//! #[path = "common/chat.rs"]
//! mod chat;
//! ```
//!
//! # The server
//!
//! Every connection is an [`IdleTimeout`] around a [`Framed`] line protocol
//! (`\n`, a `\r` before it dropped, at most 16 KiB) whose handler is a
//! [`Member`]. The rooms live in one [`Rooms`] value shared through the
//! factory as `Rc<RefCell<Rooms>>`; it holds [`ConnId`]s, never references,
//! and a broadcast formats its line once into a reused buffer and queues
//! that same slice on each member with [`Context::write_to`]: no allocation
//! per recipient, none per message once the buffer has grown.
//!
//! A member that does not read is cut off by the reactor when its queued
//! output passes the listener's output limit (`--max-output`); its
//! `connection_lost` announces the leave line like any other departure, so
//! the room goes on at full speed.
//!
//! # The client
//!
//! In `chat_client.rs`, a submodule whose items this module re-exports.
//! [`start_client`] connects to the server with the reactor's TCP client
//! and, once the server said `success`, attaches an input source (standard
//! input in the program, anything else in a test) whose bytes go to the
//! server as they are typed. Both directions run on the one reactor thread.

#![allow(dead_code)] // each program uses a part

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use reel::framing::{FrameHandler, Framed, Framer, Lines};
use reel::policies::IdleTimeout;
use reel::protocols::clock_text::{ClockText, WallClock};
use reel::{ConnId, Context, Factory, ListenerId, Protocol, Reactor, Reason};

use crate::common::{self, ServerArgs};

#[path = "chat_client.rs"]
mod client;
#[allow(unused_imports)] // the server-only programs use none of it
pub use client::*;

/// Where the server listens by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8888";
/// The default idle timeout, in seconds.
pub const DEFAULT_IDLE_SECS: u64 = 300;
/// The default limit of output queued for one member (`--max-output`).
pub const DEFAULT_MAX_OUTPUT: usize = 1024 * 1024;
/// The longest line accepted, `\n` (and `\r`) not counted.
pub const MAX_LINE: usize = 16 * 1024;
/// The longest user or room name, in bytes.
pub const MAX_NAME: usize = 32;
/// What every member receives when the server stops.
pub const SHUTDOWN_LINE: &[u8] = b"* server shutting down\n";
/// What a client over `--max-conns` receives before the close.
pub const BUSY_LINE: &[u8] = b"error: server busy\n";
/// The reply to an over-long line, before the close.
pub const TOO_LONG_LINE: &[u8] = b"error: line too long\n";

// ----- text rules ---------------------------------------------------------------

/// Checks a user or room name: 1 to 32 bytes of UTF-8, no whitespace, no
/// control characters. `what` names the field in the error.
///
/// # Errors
///
/// A lowercase reason, e.g. `"name must be 1 to 32 bytes"`.
pub fn check_name<'a>(what: &'static str, raw: &'a [u8]) -> Result<&'a str, Cow<'static, str>> {
    if raw.is_empty() || raw.len() > MAX_NAME {
        return Err(format!("{what} must be 1 to {MAX_NAME} bytes").into());
    }
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err(format!("{what} is not valid UTF-8").into());
    };
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{what} contains a space or a control character").into());
    }
    Ok(text)
}

/// Parses the first line, `USERNAME ROOM` (runs of spaces between and
/// around the two fields are tolerated, as Python's `split()` does).
///
/// # Errors
///
/// A lowercase reason, sent to the client as `error: <reason>`.
pub fn parse_join(line: &[u8]) -> Result<(&str, &str), Cow<'static, str>> {
    let mut fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty());
    let (Some(name), Some(room), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err("expected USERNAME ROOM".into());
    };
    Ok((check_name("name", name)?, check_name("room", room)?))
}

/// Appends `text` to `out` as clean UTF-8: invalid sequences become
/// U+FFFD, control characters (C0, DEL, C1) other than tab are dropped, so
/// no one can send terminal escape sequences to the others.
pub fn push_sanitized(out: &mut Vec<u8>, text: &[u8]) {
    for chunk in text.utf8_chunks() {
        let valid = chunk.valid();
        // Fast path: no byte that is or may start a control character
        // (0xC2 leads the two-byte C1 range U+0080..U+009F).
        if !valid.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f || b == 0xc2) {
            out.extend_from_slice(valid.as_bytes());
        } else {
            let mut utf8 = [0; 4];
            for c in valid.chars().filter(|&c| c == '\t' || !c.is_control()) {
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
}

// ----- the server -----------------------------------------------------------------

/// How long a member may read nothing while more than `--max-output` is
/// queued for it before it is dropped.
pub const MEMBER_STALL: std::time::Duration = std::time::Duration::from_secs(2);

/// The server's options: the usual ones plus `--max-output`.
#[derive(Debug, Clone)]
pub struct ChatArgs {
    /// `--listen`, `--max-conns`, `--idle-timeout` (zero disables it).
    pub server: ServerArgs,
    /// `--max-output BYTES`: a member whose queued output stays above this
    /// while it reads nothing for [`MEMBER_STALL`], or passes sixteen times
    /// this, is disconnected.
    pub max_output: usize,
    /// Where the `[ctime]` stamps read the time: the system clock, or a
    /// manual one in tests.
    pub clock: WallClock,
}

impl Default for ChatArgs {
    fn default() -> Self {
        ChatArgs {
            server: ServerArgs::new(DEFAULT_LISTEN, DEFAULT_IDLE_SECS),
            max_output: DEFAULT_MAX_OUTPUT,
            clock: WallClock::system(),
        }
    }
}

impl ChatArgs {
    /// Takes a server option (`--max-output` or one of [`ServerArgs`]) if
    /// `long` is one; returns whether it was.
    pub fn take(&mut self, usage: &str, long: Option<&str>, parser: &mut lexopt::Parser) -> bool {
        if long == Some("max-output") {
            self.max_output = common::value(usage, parser, "--max-output");
            return true;
        }
        self.server.take(usage, long, parser)
    }
}

/// Starts the chat server on `reactor` (logging `listening on ADDR (tcp)`;
/// a bind failure prints one line and exits 1, see
/// [`common::listen_tcp`]).
pub fn start(reactor: &mut Reactor, args: &ChatArgs) -> ListenerId {
    let mut opts = common::listen_options(&args.server);
    // Broadcasts are output the member did not ask for, so flow control
    // cannot push back on its senders: a member that reads nothing for
    // MEMBER_STALL while more than `--max-output` waits for it is dropped,
    // and one whose queue passes sixteen times that is dropped at once. A
    // member that reads, however slowly, keeps receiving every line.
    opts.tcp.output_limit = args.max_output;
    opts.tcp.output_stall = MEMBER_STALL;
    opts.tcp.output_ceiling = args.max_output.saturating_mul(16);
    let rooms = Rc::new(RefCell::new(Rooms::new(args.clock.clone())));
    // Members over a Unix socket share the rooms of the TCP ones.
    let unix = ChatFactory { rooms: Rc::clone(&rooms), idle_timeout: args.server.idle_timeout };
    let factory = ChatFactory { rooms, idle_timeout: args.server.idle_timeout };
    match common::listen_unix(reactor, &args.server, unix, opts.clone()) {
        Some(id) if !args.server.serve_tcp() => id,
        _ => common::listen(reactor, &args.server, factory, opts),
    }
}

/// Builds one [`Member`] per connection, all sharing the rooms.
#[derive(Debug)]
pub struct ChatFactory {
    /// The rooms every member of this listener shares.
    pub rooms: Rc<RefCell<Rooms>>,
    /// Silence after which a connection is closed (zero: never).
    pub idle_timeout: Duration,
}

/// The protocol of one chat connection: lines of at most [`MAX_LINE`]
/// bytes, closed after `idle_timeout` of silence (zero: never).
pub fn member_protocol(rooms: &Rc<RefCell<Rooms>>, idle_timeout: Duration) -> IdleTimeout<Framed<Lines, Member>> {
    let member = Member { rooms: Rc::clone(rooms), state: State::Greeting };
    IdleTimeout::new(Framed::new(Lines::lf().max_length(MAX_LINE), member), idle_timeout)
}

impl Factory for ChatFactory {
    fn build_protocol(&mut self, _peer: SocketAddr) -> Box<dyn Protocol> {
        Box::new(member_protocol(&self.rooms, self.idle_timeout))
    }

    fn busy_farewell(&mut self, _peer: SocketAddr) -> Vec<u8> {
        BUSY_LINE.to_vec()
    }
}

/// Every room and its members, by name.
#[derive(Debug)]
pub struct Rooms {
    /// Room name → user name → connection. A room with no member is
    /// removed.
    rooms: HashMap<Box<str>, HashMap<Box<str>, ConnId>>,
    /// Set by the first `stop_requested`: nothing more is broadcast, so
    /// every member's last line is the shutdown notice.
    shutting_down: bool,
    /// The time stamp of broadcast lines, formatted once per second.
    clock: ClockText,
    /// The broadcast line being built; reused, so its capacity is that of
    /// the longest line so far (bounded by [`MAX_LINE`] and U+FFFD growth).
    line: Vec<u8>,
}

impl Default for Rooms {
    fn default() -> Self {
        Rooms::new(WallClock::system())
    }
}

impl Rooms {
    /// No rooms yet; broadcast lines are stamped with `clock`'s time.
    pub fn new(clock: WallClock) -> Rooms {
        Rooms { rooms: HashMap::new(), shutting_down: false, clock: ClockText::ctime(clock), line: Vec::new() }
    }

    /// Members in `room` (0 for a room that does not exist).
    pub fn members(&self, room: &str) -> usize {
        self.rooms.get(room).map_or(0, HashMap::len)
    }

    /// Queues `[ctime] <body>\n` on every member of `room` except `except`:
    /// formatted once, written to each.
    fn broadcast(&mut self, cx: &mut Context<'_>, room: &str, except: ConnId, body: impl FnOnce(&mut Vec<u8>)) {
        if self.shutting_down {
            return;
        }
        let Some(members) = self.rooms.get(room) else { return };
        let line = &mut self.line;
        stamp_line(line, &self.clock, body);
        for &id in members.values() {
            if id != except {
                cx.write_to(id, line);
            }
        }
    }
}

/// Answers a join line that does not parse: `error: <why>`, then closes
/// the connection.
pub fn refuse_join(cx: &mut Context<'_>, why: Cow<'static, str>) {
    cx.write(b"error: ");
    cx.write(why.as_bytes());
    cx.write(b"\n");
    cx.close_with(Reason::Protocol(why));
}

/// Formats a broadcast line into `line` (cleared first): `[ctime] <body>\n`,
/// stamped with `clock`'s time. No allocation once `line` has grown.
pub fn stamp_line(line: &mut Vec<u8>, clock: &ClockText, body: impl FnOnce(&mut Vec<u8>)) {
    line.clear();
    line.push(b'[');
    line.extend_from_slice(clock.now().as_bytes()); // an `Rc` clone, no allocation
    line.extend_from_slice(b"] ");
    body(line);
    line.push(b'\n');
}

/// Where a connection is in its life.
#[derive(Debug)]
enum State {
    /// Waiting for `USERNAME ROOM`.
    Greeting,
    /// In a room.
    Joined { name: Box<str>, room: Box<str> },
    /// Refused, quit, or gone: nothing more to announce.
    Left,
}

/// One chat connection: the handshake, then relaying lines to the room.
#[derive(Debug)]
pub struct Member {
    rooms: Rc<RefCell<Rooms>>,
    state: State,
}

impl Member {
    /// One whole line from the peer (`\n` and `\r` removed).
    fn line(&mut self, cx: &mut Context<'_>, line: &[u8]) {
        let me = cx.conn_id();
        match &self.state {
            State::Greeting => self.join(cx, line),
            State::Joined { .. } if line == b"quit" => {
                cx.write(b"quit\n");
                self.leave(cx);
                cx.close();
            }
            State::Joined { name, room } => self.rooms.borrow_mut().broadcast(cx, room, me, |out| {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
                push_sanitized(out, line);
            }),
            State::Left => {}
        }
    }

    /// The first line: join a room, or say why not and close.
    fn join(&mut self, cx: &mut Context<'_>, line: &[u8]) {
        let me = cx.conn_id();
        let (name, room) = match parse_join(line) {
            Ok(fields) => fields,
            Err(why) => {
                self.state = State::Left;
                refuse_join(cx, why);
                return;
            }
        };
        let mut rooms = self.rooms.borrow_mut();
        let members = rooms.rooms.entry(room.into()).or_default();
        if members.contains_key(name) {
            cx.write(b"reuse\n");
            self.state = State::Left;
            cx.close_with(Reason::Protocol(Cow::Borrowed("name in use")));
            return;
        }
        members.insert(name.into(), me);
        cx.write(b"success\n");
        log::debug!("{me}: {name} joined {room}");
        rooms.broadcast(cx, room, me, |out| {
            out.extend_from_slice(b"* ");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b" joined ");
            out.extend_from_slice(room.as_bytes());
        });
        self.state = State::Joined { name: name.into(), room: room.into() };
    }

    /// Leaves the room, announcing it to the others; does nothing the
    /// second time, so every way out announces exactly once.
    fn leave(&mut self, cx: &mut Context<'_>) {
        let State::Joined { name, room } = std::mem::replace(&mut self.state, State::Left) else { return };
        let me = cx.conn_id();
        let mut rooms = self.rooms.borrow_mut();
        if let Some(members) = rooms.rooms.get_mut(&*room) {
            members.remove(&*name);
            if members.is_empty() {
                rooms.rooms.remove(&*room);
            }
        }
        log::debug!("{me}: {name} left {room}");
        rooms.broadcast(cx, &room, me, |out| {
            out.extend_from_slice(b"* ");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b" left ");
            out.extend_from_slice(room.as_bytes());
        });
    }
}

impl FrameHandler<Lines> for Member {
    fn frame_received(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, line: &[u8]) {
        self.line(cx, line);
    }

    fn frame_too_long(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, _announced: u64) {
        cx.write(TOO_LONG_LINE);
        self.leave(cx);
        cx.close_with(Reason::Protocol(Cow::Borrowed("line too long")));
    }

    /// A half-close: an unfinished last line still counts (`printf 'hi' |
    /// nc -N` says "hi"), then the member leaves.
    fn eof_received(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, pending: &[u8]) {
        let pending = pending.strip_suffix(b"\r").unwrap_or(pending);
        if pending.len() > MAX_LINE {
            cx.write(TOO_LONG_LINE);
        } else if !pending.is_empty() {
            self.line(cx, pending);
        }
        self.leave(cx);
        cx.close();
    }

    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        if matches!(self.state, State::Joined { .. }) {
            log::debug!("{}: member lost: {reason}", cx.conn_id());
        }
        self.leave(cx);
    }

    fn stop_requested(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>) {
        self.rooms.borrow_mut().shutting_down = true;
        if matches!(self.state, State::Joined { .. }) {
            cx.write(SHUTDOWN_LINE);
        }
        self.leave(cx); // silent now: nothing is broadcast during shutdown
        cx.close();
    }
}
