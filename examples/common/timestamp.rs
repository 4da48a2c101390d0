//! The time-stamping service of docs/protocols.md (`timestamp`, after
//! `tsTserv.py`/`tsUserv.py`): the server over TCP and UDP, and the client that
//! reads standard input. Used by `examples/timestamp.rs`, by the `demo`
//! example and by `tests/example_timestamp.rs`, each including it next to
//! `common`:
//!
//! ```ignore
//! mod common;
//! #[path = "common/timestamp.rs"]
//! mod timestamp;
//! ```
//!
//! TCP: each line `X` → `[ctime] X\n`. UDP: datagram `X` → `[ctime] X`.
//! The date is formatted at most once per second ([`ClockText`]), however
//! many lines arrive.

#![allow(dead_code)] // each program uses a part

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use reel::framing::{FrameHandler, Framed, Framer, Lines, DEFAULT_MAX_LINE};
use reel::policies::IdleTimeout;
use reel::protocols::clock_text::{ClockText, WallClock};
use reel::{ConnId, Context, DatagramContext, DatagramProtocol, Factory, Protocol, Reactor, Reason};

use crate::common::{self, ServerArgs};

/// Where the server listens by default (TCP and UDP).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:21567";
/// The default idle timeout, in seconds.
pub const DEFAULT_IDLE_SECS: u64 = 60;
/// The longest line accepted (16 KiB), `\n` (and `\r`) not counted.
pub const MAX_LINE: usize = DEFAULT_MAX_LINE;
/// Sent before closing a connection whose line is over [`MAX_LINE`].
pub const LINE_TOO_LONG: &[u8] = b"error: line too long\n";
/// Sent to a client over `--max-conns`, before closing it.
pub const BUSY: &[u8] = b"error: server busy\n";

/// The server's default arguments.
pub fn default_args() -> ServerArgs {
    ServerArgs::new(DEFAULT_LISTEN, DEFAULT_IDLE_SECS)
}

/// Starts the TCP listener and the UDP endpoint on `args.listen`, telling
/// the system time. Returns the address bound. A bind failure prints one
/// line and exits 1.
pub fn start(reactor: &mut Reactor, args: &ServerArgs) -> SocketAddr {
    start_with_clock(reactor, args, WallClock::system())
}

/// [`start`] with the time read from `clock` (a manual one in tests).
pub fn start_with_clock(reactor: &mut Reactor, args: &ServerArgs, clock: WallClock) -> SocketAddr {
    let text = Rc::new(ClockText::ctime(clock));
    let factory = StampFactory { text: Rc::clone(&text), idle_timeout: args.idle_timeout };
    common::listen_unix(reactor, args, factory.clone(), common::listen_options(args));
    if !args.serve_tcp() {
        return args.listen;
    }
    let tcp = common::listen(reactor, args, factory, common::listen_options(args));
    let bound = reactor.listener_addr(tcp).unwrap_or(args.listen);
    common::listen_udp(reactor, bound, UdpStamp { text });
    bound
}

/// `[ctime] X` followed by `end`.
fn stamp(text: &ClockText, data: &[u8], end: &[u8]) -> Vec<u8> {
    let now = text.now();
    let mut reply = Vec::with_capacity(now.len() + data.len() + 3 + end.len());
    reply.push(b'[');
    reply.extend_from_slice(now.as_bytes());
    reply.extend_from_slice(b"] ");
    reply.extend_from_slice(data);
    reply.extend_from_slice(end);
    reply
}

/// Builds a [`Stamp`] per connection, framed and with the idle timeout,
/// all sharing one [`ClockText`]; tells clients over the limit that the
/// server is busy.
#[derive(Debug, Clone)]
pub struct StampFactory {
    /// The shared, per-second cache of the date.
    pub text: Rc<ClockText>,
    /// Closes a connection silent for this long (zero: never).
    pub idle_timeout: Duration,
}

impl Factory for StampFactory {
    fn build_protocol(&mut self, _peer: SocketAddr) -> Box<dyn Protocol> {
        let framed = Framed::new(Lines::lf().max_length(MAX_LINE), Stamp { text: Rc::clone(&self.text) });
        Box::new(IdleTimeout::new(framed, self.idle_timeout))
    }

    fn busy_farewell(&mut self, _peer: SocketAddr) -> Vec<u8> {
        BUSY.to_vec()
    }
}

/// One TCP connection of the server, line by line.
#[derive(Debug)]
pub struct Stamp {
    text: Rc<ClockText>,
}

impl FrameHandler<Lines> for Stamp {
    fn frame_received(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, line: &[u8]) {
        cx.write(&stamp(&self.text, line, b"\n"));
    }

    fn frame_too_long(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, _announced: u64) {
        cx.write(LINE_TOO_LONG);
        cx.close_with(Reason::Protocol(Cow::Borrowed("line too long")));
    }

    /// A last line without its `\n` is stamped too, then the connection
    /// closes.
    fn eof_received(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, pending: &[u8]) {
        let last = pending.strip_suffix(b"\r").unwrap_or(pending);
        if !last.is_empty() {
            cx.write(&stamp(&self.text, last, b"\n"));
        }
        cx.close();
    }
}

/// The UDP side: datagram `X` → `[ctime] X`, bytes as they came.
#[derive(Debug)]
pub struct UdpStamp {
    text: Rc<ClockText>,
}

impl DatagramProtocol for UdpStamp {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        if common::refuses_source(from) {
            log::debug!("not answering {from}: a reflector port");
            return;
        }
        cx.send_to(&stamp(&self.text, data, b""), from);
    }
}

// ----- the client ---------------------------------------------------------

/// What the two sides of the client share.
struct ClientState {
    addr: SocketAddr,
    /// The server connection, once connected.
    server: Option<ConnId>,
    /// Lines sent and not answered yet.
    outstanding: u64,
    /// Standard input ended (everything read was sent).
    input_done: bool,
    out: Box<dyn Write>,
    status: Rc<Cell<i32>>,
}

impl ClientState {
    /// Whether every line read was sent and answered.
    fn finished(&self) -> bool {
        self.input_done && self.outstanding == 0
    }
}

/// Connects to `addr`; once connected, reads standard input as one more
/// event source of the reactor, sends each line and prints each reply to
/// `out`. At the end of input it waits for the last reply, closes, and
/// stops the reactor. The returned cell holds the exit status once the
/// reactor stopped: 0 when every line was answered, else 1.
pub fn start_client(reactor: &mut Reactor, addr: SocketAddr, out: Box<dyn Write>) -> Rc<Cell<i32>> {
    start_client_with_input(reactor, addr, Input::Stdin, out)
}

/// [`start_client`] over TLS when `tls` says so (`--tls`, `--ca FILE`).
pub fn start_client_over(
    reactor: &mut Reactor,
    addr: SocketAddr,
    tls: &common::ClientTls,
    out: Box<dyn Write>,
) -> Rc<Cell<i32>> {
    connect_client(reactor, addr, tls, Input::Stdin, out)
}

/// Where the client reads its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Standard input (the program).
    Stdin,
    /// A TCP connection to this address, read the same way (tests).
    Connect(SocketAddr),
}

/// [`start_client`] reading its lines from `input`.
pub fn start_client_with_input(
    reactor: &mut Reactor,
    addr: SocketAddr,
    input: Input,
    out: Box<dyn Write>,
) -> Rc<Cell<i32>> {
    connect_client(reactor, addr, &common::ClientTls::default(), input, out)
}

/// Connects the client to `addr` (over TLS when `tls` says so), reading
/// its lines from `input`.
fn connect_client(
    reactor: &mut Reactor,
    addr: SocketAddr,
    tls: &common::ClientTls,
    input: Input,
    out: Box<dyn Write>,
) -> Rc<Cell<i32>> {
    let status = Rc::new(Cell::new(1));
    let state = Rc::new(RefCell::new(ClientState {
        addr,
        server: None,
        outstanding: 0,
        input_done: false,
        out,
        status: Rc::clone(&status),
    }));
    // Replies are at most a stamp longer than the longest line.
    common::connect(
        reactor,
        addr,
        tls,
        Framed::new(Lines::lf().max_length(MAX_LINE + 64), ServerSide { state, input }),
    );
    status
}

/// The client's connection to the server.
struct ServerSide {
    state: Rc<RefCell<ClientState>>,
    input: Input,
}

impl FrameHandler<Lines> for ServerSide {
    fn connection_made(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>) {
        self.state.borrow_mut().server = Some(cx.conn_id());
        let input = Framed::new(Lines::lf().max_length(MAX_LINE), InputSide { state: Rc::clone(&self.state) });
        match self.input {
            Input::Stdin => {
                if let Err(e) = cx.add_stdin(input) {
                    common::report!("error: cannot read standard input: {e}");
                    cx.close();
                }
            }
            Input::Connect(from) => {
                cx.connect_tcp(from, input);
            }
        }
    }

    fn frame_received(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, line: &[u8]) {
        let mut state = self.state.borrow_mut();
        let out = &mut state.out;
        let _ = out.write_all(line).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
        state.outstanding = state.outstanding.saturating_sub(1);
        if state.finished() {
            cx.close();
        }
    }

    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        let state = self.state.borrow();
        if state.finished() {
            state.status.set(0);
        } else {
            common::report!("error: {}: connection ended before every line was answered: {reason}", state.addr);
        }
        cx.stop();
    }

    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        common::report!("error: cannot connect to {}: {reason}", self.state.borrow().addr);
        cx.stop();
    }
}

/// Standard input, line by line.
struct InputSide {
    state: Rc<RefCell<ClientState>>,
}

impl InputSide {
    fn send(&self, cx: &mut Context<'_>, line: &[u8]) {
        let mut state = self.state.borrow_mut();
        let Some(server) = state.server else { return };
        let mut framed = Vec::with_capacity(line.len() + 1);
        framed.extend_from_slice(line);
        framed.push(b'\n');
        if cx.write_to(server, &framed) {
            state.outstanding += 1;
        }
    }
}

impl FrameHandler<Lines> for InputSide {
    fn frame_received(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, line: &[u8]) {
        self.send(cx, line);
    }

    /// The server would refuse it and close: skip it here instead.
    fn frame_too_long(&mut self, _cx: &mut Context<'_>, _framer: &mut Framer<Lines>, _announced: u64) {
        common::report!("warning: skipping an input line over {MAX_LINE} bytes");
    }

    fn eof_received(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, pending: &[u8]) {
        let last = pending.strip_suffix(b"\r").unwrap_or(pending);
        if !last.is_empty() {
            self.send(cx, last);
        }
        self.input_done(cx);
        cx.close();
    }

    /// Input that ends without an end of file (a read error) ends too.
    fn connection_lost(&mut self, cx: &mut Context<'_>, _reason: Reason) {
        if !self.state.borrow().input_done {
            self.input_done(cx);
        }
    }

    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        common::report!("error: cannot open the input: {reason}");
        self.input_done(cx);
    }
}

impl InputSide {
    /// No more input: close once every line sent is answered.
    fn input_done(&self, cx: &mut Context<'_>) {
        let mut state = self.state.borrow_mut();
        state.input_done = true;
        if let (true, Some(server)) = (state.finished(), state.server) {
            cx.close_conn(server);
        }
    }
}
