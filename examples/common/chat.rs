//! The chat rooms of PROTOCOLS.md ("chat"): the server, the interactive
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
//! [`start_client`] connects to the server with the reactor's TCP client
//! and, once the server said `success`, attaches an input source (standard
//! input in the program, anything else in a test) whose bytes go to the
//! server as they are typed. Both directions run on the one reactor thread.

#![allow(dead_code)] // each program uses a part

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use reel::framing::{FrameHandler, Framed, Framer, Lines};
use reel::policies::IdleTimeout;
use reel::protocols::clock_text::{ClockText, WallClock};
use reel::{ConnId, Context, Factory, ListenerId, Protocol, Reactor, Reason};

use crate::common::{self, ServerArgs};

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
    let factory = ChatFactory { rooms, idle_timeout: args.server.idle_timeout };
    common::listen(reactor, &args.server, factory, opts)
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
        line.clear();
        line.push(b'[');
        line.extend_from_slice(self.clock.now().as_bytes()); // an `Rc` clone, no allocation
        line.extend_from_slice(b"] ");
        body(line);
        line.push(b'\n');
        for &id in members.values() {
            if id != except {
                cx.write_to(id, line);
            }
        }
    }
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
                cx.write(b"error: ");
                cx.write(why.as_bytes());
                cx.write(b"\n");
                self.state = State::Left;
                cx.close_with(Reason::Protocol(why));
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

// ----- the client -------------------------------------------------------------------

/// The options of `chat client`.
#[derive(Debug, Clone)]
pub struct ClientArgs {
    /// `--user NAME`.
    pub user: String,
    /// `--room ROOM`.
    pub room: String,
    /// `--connect ADDR` (default 127.0.0.1:8888).
    pub connect: SocketAddr,
}

/// How a client session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientExit {
    /// The user left (`quit` typed, or the end of input) and the server
    /// confirmed it.
    Quit,
    /// A signal stopped the client; it said `quit` on its way out.
    Interrupted,
    /// The server refused to let us in; the words say why.
    Refused(String),
    /// The connection could not be made.
    ConnectFailed(Reason),
    /// The server ended the session (shutdown, idle timeout, an error
    /// line, a crash): the last `error:` it sent, if any.
    ServerClosed(Option<String>),
    /// The input source could not be read.
    Input(String),
}

impl ClientExit {
    /// The process exit status: 0 for a quit or a signal, 1 otherwise.
    pub fn code(&self) -> i32 {
        match self {
            ClientExit::Quit | ClientExit::Interrupted => 0,
            _ => 1,
        }
    }

    /// What to tell the user on the way out, if anything.
    pub fn message(&self) -> Option<String> {
        match self {
            ClientExit::Quit | ClientExit::Interrupted => None,
            ClientExit::Refused(why) => Some(why.clone()),
            ClientExit::ConnectFailed(reason) => Some(format!("cannot connect: {reason}")),
            ClientExit::ServerClosed(None) => Some("the server closed the connection".into()),
            ClientExit::ServerClosed(Some(why)) => Some(format!("the server closed the connection: {why}")),
            ClientExit::Input(why) => Some(format!("cannot read the input: {why}")),
        }
    }
}

/// Where the client prints: room lines to `out`, its own notices to `err`.
pub struct Console {
    /// Room lines, one per line, as they arrive.
    pub out: Box<dyn Write>,
    /// Notices (joined, and so on).
    pub err: Box<dyn Write>,
}

impl fmt::Debug for Console {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Console").finish_non_exhaustive()
    }
}

impl Console {
    /// Standard output and standard error.
    pub fn stdio() -> Console {
        Console { out: Box::new(io::stdout()), err: Box::new(io::stderr()) }
    }
}

/// Attaches the input source once the server let us in: given a
/// [`Keyboard`] protocol, make something feed it and return its id.
/// The program uses `|cx, kb| cx.add_stdin(kb)`; a test can use a TCP
/// connection it writes into (`Ok(cx.connect_tcp(addr, kb))`).
pub type AttachInput = Box<dyn FnOnce(&mut Context<'_>, Keyboard) -> io::Result<ConnId>>;

/// What the two sides of the client share.
struct Session {
    user: String,
    room: String,
    /// The server connection.
    server: Option<ConnId>,
    /// The input source, once attached and until it ends.
    input: Option<ConnId>,
    /// Taken when the server says `success`.
    attach: Option<AttachInput>,
    console: Console,
    joined: bool,
    /// The last byte sent from the input was a newline (or none was sent):
    /// `quit` at the end of input must start a line of its own.
    at_line_start: bool,
    /// The words of the last `error:` line from the server.
    last_error: Option<String>,
    exit: Option<ClientExit>,
    /// Reused to sanitise what is printed.
    scratch: Vec<u8>,
}

impl Session {
    fn finish(&mut self, exit: ClientExit) {
        if self.exit.is_none() {
            self.exit = Some(exit);
        }
    }

    /// Prints a line from the server, cleaned like the server cleans
    /// messages (a hostile server cannot drive the terminal either).
    fn print(&mut self, line: &[u8]) {
        self.scratch.clear();
        push_sanitized(&mut self.scratch, line);
        self.scratch.push(b'\n');
        let out = &mut self.console.out;
        if let Err(e) = out.write_all(&self.scratch).and_then(|()| out.flush()) {
            log::debug!("cannot print: {e}");
        }
    }

    fn notice(&mut self, text: fmt::Arguments<'_>) {
        let err = &mut self.console.err;
        if let Err(e) = writeln!(err, "{text}").and_then(|()| err.flush()) {
            log::debug!("cannot print: {e}");
        }
    }
}

/// Starts a chat client on `reactor`: connects, joins, and once in, reads
/// the input attached by `attach`. Room lines go to `console.out` as they
/// arrive. The reactor is stopped when the session ends; the returned cell
/// then says how (`None` only if the reactor stopped for another reason
/// first).
pub fn start_client(
    reactor: &mut Reactor,
    args: &ClientArgs,
    console: Console,
    attach: AttachInput,
) -> Rc<RefCell<Option<ClientExit>>> {
    let exit = Rc::new(RefCell::new(None));
    let session = Rc::new(RefCell::new(Session {
        user: args.user.clone(),
        room: args.room.clone(),
        server: None,
        input: None,
        attach: Some(attach),
        console,
        joined: false,
        at_line_start: true,
        last_error: None,
        exit: None,
        scratch: Vec::new(),
    }));
    // Server lines grow at most threefold from sanitising, plus a prefix.
    let link = ServerLink { session: Rc::clone(&session), exit: Rc::clone(&exit) };
    let framed = Framed::new(Lines::lf().max_length(4 * MAX_LINE), link);
    let id = reactor.connect_tcp(args.connect, framed);
    session.borrow_mut().server = Some(id);
    exit
}

/// The client's connection to the server.
struct ServerLink {
    session: Rc<RefCell<Session>>,
    /// Published when the session ends.
    exit: Rc<RefCell<Option<ClientExit>>>,
}

impl ServerLink {
    /// Ends the session: the input goes, the reactor stops.
    fn end(&mut self, cx: &mut Context<'_>, default: ClientExit) {
        let (exit, input) = {
            let mut s = self.session.borrow_mut();
            s.finish(default);
            (s.exit.clone(), s.input.take())
        };
        if let Some(input) = input {
            cx.close_conn(input);
        }
        *self.exit.borrow_mut() = exit;
        cx.stop();
    }

    /// The server's answer to the join line.
    fn answer(&mut self, cx: &mut Context<'_>, line: &[u8]) {
        let mut s = self.session.borrow_mut();
        if line == b"success" {
            s.joined = true;
            let (user, room) = (s.user.clone(), s.room.clone());
            s.notice(format_args!("joined room {room} as {user}; type to chat, quit or end of input to leave"));
            let attach = s.attach.take();
            let keyboard = Keyboard { session: Rc::clone(&self.session) };
            drop(s); // the input's connection_made runs inside `attach`
            if let Some(attach) = attach {
                match attach(cx, keyboard) {
                    Ok(id) => self.session.borrow_mut().input = Some(id),
                    Err(e) => {
                        self.session.borrow_mut().finish(ClientExit::Input(e.to_string()));
                        cx.write(b"quit\n");
                        cx.close();
                    }
                }
            }
            return;
        }
        let why = if line == b"reuse" {
            format!("the name {} is already in use in room {}", s.user, s.room)
        } else if let Some(reason) = line.strip_prefix(b"error: ") {
            format!("the server refused: {}", String::from_utf8_lossy(&sanitized(reason)))
        } else {
            format!("unexpected answer from the server: {:?}", String::from_utf8_lossy(&sanitized(line)))
        };
        s.finish(ClientExit::Refused(why));
        cx.close();
    }
}

/// `text`, cleaned by [`push_sanitized`] (for one-off messages).
fn sanitized(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    push_sanitized(&mut out, text);
    out
}

impl FrameHandler<Lines> for ServerLink {
    fn connection_made(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>) {
        let mut s = self.session.borrow_mut();
        let checked = check_name("name", s.user.as_bytes()).and_then(|_| check_name("room", s.room.as_bytes()));
        match checked {
            Ok(_) => cx.write(format!("{} {}\n", s.user, s.room).as_bytes()),
            // Never send a name the server would refuse (or one that smuggles
            // a second line): refuse it here, in the server's words.
            Err(why) => {
                s.finish(ClientExit::Refused(format!("cannot join: {why}")));
                cx.close();
            }
        }
    }

    fn frame_received(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, line: &[u8]) {
        if !self.session.borrow().joined {
            return self.answer(cx, line);
        }
        let mut s = self.session.borrow_mut();
        if line == b"quit" {
            // Our `quit` was heard; the server closes next.
            s.finish(ClientExit::Quit);
            return;
        }
        if let Some(why) = line.strip_prefix(b"error: ") {
            s.last_error = Some(String::from_utf8_lossy(&sanitized(why)).into_owned());
        }
        s.print(line);
    }

    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        log::debug!("server connection lost: {reason}");
        let last_error = self.session.borrow_mut().last_error.take();
        self.end(cx, ClientExit::ServerClosed(last_error));
    }

    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.end(cx, ClientExit::ConnectFailed(reason));
    }

    fn stop_requested(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>) {
        let joined = {
            let mut s = self.session.borrow_mut();
            s.finish(ClientExit::Interrupted);
            s.joined
        };
        if joined {
            cx.write(b"quit\n");
        }
        cx.close();
    }
}

/// The input side of the client: whatever is typed goes to the server as
/// it is typed; at the end of input the client says `quit` and waits for
/// the server to close.
pub struct Keyboard {
    session: Rc<RefCell<Session>>,
}

impl fmt::Debug for Keyboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyboard").finish_non_exhaustive()
    }
}

impl Protocol for Keyboard {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        let server = {
            let mut s = self.session.borrow_mut();
            if let Some(&last) = data.last() {
                s.at_line_start = last == b'\n';
            }
            s.server
        };
        if let Some(server) = server {
            cx.write_to(server, data);
        }
    }

    fn eof_received(&mut self, cx: &mut Context<'_>) {
        let (server, newline) = {
            let mut s = self.session.borrow_mut();
            s.input = None;
            (s.server, !s.at_line_start)
        };
        if let Some(server) = server {
            if newline {
                cx.write_to(server, b"\n");
            }
            cx.write_to(server, b"quit\n");
        }
        cx.close();
    }
}
