//! The "Hello, X!" service of docs/protocols.md (`echo_hello`): the server over
//! TCP and UDP, and the client. Used by `examples/echo_hello.rs`, by the
//! `demo` example and by `tests/example_echo_hello.rs`, each including it
//! next to `common`:
//!
//! ```ignore
//! mod common;
//! #[path = "common/echo_hello.rs"]
//! mod echo_hello;
//! ```
//!
//! TCP: `Welcome!\n` on connect, then `Hello, X!\n` for each line `X`; the
//! line `exit` closes. The tutorials' "sticky packet" problem (several lines in
//! one read, one line over several reads) is the framer's business: the
//! handler sees whole lines. UDP: datagram `X` → `Hello, X!`.

#![allow(dead_code)] // each program uses a part

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use reel::framing::{FrameHandler, Framed, Framer, Lines, DEFAULT_MAX_LINE};
use reel::policies::IdleTimeout;
use reel::{Context, DatagramContext, DatagramProtocol, Factory, Protocol, Reactor, Reason};

use crate::common::{self, ServerArgs};

/// Where the server listens by default (TCP and UDP).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9999";
/// The default idle timeout, in seconds.
pub const DEFAULT_IDLE_SECS: u64 = 60;
/// The longest line accepted (16 KiB), `\n` (and `\r`) not counted.
pub const MAX_LINE: usize = DEFAULT_MAX_LINE;
/// Sent on connect.
pub const WELCOME: &[u8] = b"Welcome!\n";
/// Sent before closing a connection whose line is over [`MAX_LINE`].
pub const LINE_TOO_LONG: &[u8] = b"error: line too long\n";
/// Sent to a client over `--max-conns`, before closing it.
pub const BUSY: &[u8] = b"error: server busy\n";
/// The names the client sends when given none (the tutorial client's).
pub const DEFAULT_NAMES: [&str; 3] = ["Michael", "Tracy", "Sarah"];

/// The server's default arguments.
pub fn default_args() -> ServerArgs {
    ServerArgs::new(DEFAULT_LISTEN, DEFAULT_IDLE_SECS)
}

/// Starts the TCP listener and the UDP endpoint on `args.listen` (the UDP
/// endpoint on the port the TCP listener got, for port 0). Returns that
/// address. A bind failure prints one line and exits 1.
pub fn start(reactor: &mut Reactor, args: &ServerArgs) -> SocketAddr {
    let factory = HelloFactory { idle_timeout: args.idle_timeout };
    common::listen_unix(reactor, args, factory.clone(), common::listen_options(args));
    if !args.serve_tcp() {
        return args.listen;
    }
    let tcp = common::listen(reactor, args, factory, common::listen_options(args));
    let bound = reactor.listener_addr(tcp).unwrap_or(args.listen);
    common::listen_udp(reactor, bound, UdpHello);
    bound
}

/// Builds a [`Hello`] per connection, framed and with the idle timeout, and
/// tells clients over the limit that the server is busy.
#[derive(Debug, Clone)]
pub struct HelloFactory {
    /// Closes a connection silent for this long (zero: never).
    pub idle_timeout: Duration,
}

impl Factory for HelloFactory {
    fn build_protocol(&mut self, _peer: SocketAddr) -> Box<dyn Protocol> {
        let framed = Framed::new(Lines::lf().max_length(MAX_LINE), Hello);
        Box::new(IdleTimeout::new(framed, self.idle_timeout))
    }

    fn busy_farewell(&mut self, _peer: SocketAddr) -> Vec<u8> {
        BUSY.to_vec()
    }
}

/// One TCP connection of the server, line by line.
#[derive(Debug, Default)]
pub struct Hello;

impl Hello {
    #[inline]
    fn answer(cx: &mut Context<'_>, line: &[u8]) {
        if line == b"exit" {
            // Flushes the earlier replies; nothing more is delivered.
            cx.close();
        } else {
            // Written directly rather than through the framer: the reply is
            // longer than the line, which may be MAX_LINE already. Nothing
            // is allocated, and the reactor sends all the replies of one
            // read with one system call.
            cx.write_with(|out| {
                out.extend_from_slice(b"Hello, ");
                out.extend_from_slice(line);
                out.extend_from_slice(b"!\n");
            });
        }
    }
}

impl FrameHandler<Lines> for Hello {
    fn connection_made(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>) {
        cx.write(WELCOME);
    }

    fn frame_received(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, line: &[u8]) {
        Hello::answer(cx, line);
    }

    fn frame_too_long(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, _announced: u64) {
        cx.write(LINE_TOO_LONG);
        cx.close_with(Reason::Protocol(Cow::Borrowed("line too long")));
    }

    /// A last line without its `\n` is answered too (`printf bob | nc -N`),
    /// then the connection closes.
    fn eof_received(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, pending: &[u8]) {
        let last = pending.strip_suffix(b"\r").unwrap_or(pending);
        if !last.is_empty() {
            Hello::answer(cx, last);
        }
        cx.close();
    }
}

/// The UDP side: datagram `X` (trailing CR and LF dropped) → `Hello, X!`.
#[derive(Debug, Default, Clone)]
pub struct UdpHello;

impl DatagramProtocol for UdpHello {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        if common::refuses_source(from) {
            log::debug!("not answering {from}: a reflector port");
            return;
        }
        let end = data.iter().rposition(|&b| b != b'\r' && b != b'\n').map_or(0, |i| i + 1);
        // Written straight into the reactor's batch of replies.
        cx.send_parts_to(&[b"Hello, ", &data[..end], b"!"], from);
    }
}

// ----- the client ---------------------------------------------------------

/// Connects to `addr`, prints the welcome, sends each name as a line and
/// prints each reply (one at a time, as the tutorial's client does), then sends
/// `exit` and stops the reactor once the server closed. Replies go to
/// `out`, errors to stderr. The returned cell holds the exit status once
/// the reactor stopped: 0 when every reply came, else 1.
pub fn start_client(
    reactor: &mut Reactor,
    addr: SocketAddr,
    names: Vec<Vec<u8>>,
    out: Box<dyn Write>,
) -> Rc<Cell<i32>> {
    start_client_over(reactor, addr, &common::ClientTls::default(), names, out)
}

/// [`start_client`] over TLS when `tls` says so (`--tls`, `--ca FILE`).
pub fn start_client_over(
    reactor: &mut Reactor,
    addr: SocketAddr,
    tls: &common::ClientTls,
    names: Vec<Vec<u8>>,
    out: Box<dyn Write>,
) -> Rc<Cell<i32>> {
    let status = Rc::new(Cell::new(1));
    let client = HelloClient { addr, names: names.into(), sent_exit: false, out, status: Rc::clone(&status) };
    common::connect(reactor, addr, tls, Framed::new(Lines::lf().max_length(MAX_LINE + 16), client));
    status
}

/// The client's side of one connection.
pub struct HelloClient {
    addr: SocketAddr,
    /// Names still to send.
    names: VecDeque<Vec<u8>>,
    sent_exit: bool,
    out: Box<dyn Write>,
    status: Rc<Cell<i32>>,
}

impl std::fmt::Debug for HelloClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HelloClient").field("addr", &self.addr).field("names", &self.names).finish_non_exhaustive()
    }
}

impl FrameHandler<Lines> for HelloClient {
    fn frame_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<Lines>, line: &[u8]) {
        // Printing fails only when stdout is gone; the server still gets
        // its `exit`.
        let _ = self.out.write_all(line).and_then(|()| self.out.write_all(b"\n")).and_then(|()| self.out.flush());
        if self.sent_exit {
            return;
        }
        match self.names.pop_front() {
            Some(name) => {
                if let Err(e) = framer.send(cx, &name) {
                    common::report!("error: cannot send {:?}: {e}", String::from_utf8_lossy(&name));
                    cx.close();
                }
            }
            None => {
                self.sent_exit = true;
                let _ = framer.send(cx, b"exit");
            }
        }
    }

    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        if self.sent_exit && reason.is_clean() {
            self.status.set(0);
        } else {
            common::report!("error: {}: connection ended early: {reason}", self.addr);
        }
        cx.stop();
    }

    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        common::report!("error: cannot connect to {}: {reason}", self.addr);
        cx.stop();
    }
}
