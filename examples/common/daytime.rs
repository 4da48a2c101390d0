//! The daytime service of docs/protocols.md (`daytime`, RFC 867): the server over TCP and UDP on the library's
//! [`Daytime`] and [`UdpDaytime`], and the one-datagram UDP client. Used by
//! `examples/daytime.rs`, by the `demo` example and by
//! `tests/example_daytime.rs`, each including it next to `common`:
//!
//! ```ignore
//! mod common;
//! #[path = "common/daytime.rs"]
//! mod daytime;
//! ```

#![allow(dead_code)] // each program uses a part

use std::cell::Cell;
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use reel::protocols::clock_text::{ClockText, WallClock};
use reel::protocols::daytime::{Daytime, UdpDaytime};
use reel::{Context, DatagramContext, DatagramProtocol, Factory, Protocol, Reactor, Reason};

use crate::common::{self, ServerArgs};

/// Where the server listens by default (TCP and UDP); the standard port 13
/// needs privileges.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:1313";
/// Sent to a client over `--max-conns`, before closing it.
pub const BUSY: &[u8] = b"error: server busy\n";
/// How long the client waits for the answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// The server's default arguments (no idle timeout: a connection is closed
/// as soon as the line is sent).
pub fn default_args() -> ServerArgs {
    ServerArgs::new(DEFAULT_LISTEN, 0)
}

/// Starts the TCP listener and the UDP endpoint on `args.listen`, telling
/// the system time. Returns the address bound. A bind failure prints one
/// line and exits 1.
pub fn start(reactor: &mut Reactor, args: &ServerArgs) -> SocketAddr {
    start_with_clock(reactor, args, WallClock::system())
}

/// [`start`] with the time read from `clock` (a manual one in tests).
pub fn start_with_clock(reactor: &mut Reactor, args: &ServerArgs, clock: WallClock) -> SocketAddr {
    // One cache for both sides: the line is formatted at most once a second.
    let text = Rc::new(ClockText::daytime(clock));
    let factory = DaytimeFactory { text: Rc::clone(&text) };
    common::listen_unix(reactor, args, factory.clone(), common::listen_options(args));
    if !args.serve_tcp() {
        return args.listen;
    }
    let tcp = common::listen(reactor, args, factory, common::listen_options(args));
    let bound = reactor.listener_addr(tcp).unwrap_or(args.listen);
    common::listen_udp(reactor, bound, common::Guarded(UdpDaytime::new(text)));
    bound
}

/// Builds a [`Daytime`] per connection, all sharing one [`ClockText`];
/// tells clients over the limit that the server is busy.
#[derive(Debug, Clone)]
pub struct DaytimeFactory {
    /// The shared, per-second cache of the line.
    pub text: Rc<ClockText>,
}

impl Factory for DaytimeFactory {
    fn build_protocol(&mut self, _peer: SocketAddr) -> Box<dyn Protocol> {
        Box::new(Daytime::new(Rc::clone(&self.text)))
    }

    fn busy_farewell(&mut self, _peer: SocketAddr) -> Vec<u8> {
        BUSY.to_vec()
    }
}

// ----- the client ---------------------------------------------------------

/// Sends one (empty) datagram to `addr` from a connected UDP endpoint and
/// prints the answer to `out`, then stops the reactor. No answer within
/// `timeout` (a timer set with `call_later`), or a refusal from the
/// peer's host, prints one line to stderr. The returned cell holds the exit
/// status once the reactor stopped: 0 with an answer, else 1.
///
/// # Errors
///
/// When the local endpoint cannot be bound or connected.
pub fn start_client(
    reactor: &mut Reactor,
    addr: SocketAddr,
    timeout: Duration,
    out: Box<dyn Write>,
) -> io::Result<Rc<Cell<i32>>> {
    let status = Rc::new(Cell::new(1));
    let answered = Rc::new(Cell::new(false));
    let local: SocketAddr =
        if addr.is_ipv6() { (Ipv6Addr::UNSPECIFIED, 0).into() } else { (Ipv4Addr::UNSPECIFIED, 0).into() };
    let client = DaytimeClient { addr, out, status: Rc::clone(&status), answered: Rc::clone(&answered) };
    reactor.connect_udp(local, addr, client)?;
    reactor.call_later(timeout, move |cx| {
        if !answered.get() {
            common::report!("error: no answer from {addr} within {timeout:?}");
            cx.stop();
        }
    });
    Ok(status)
}

/// The client's endpoint.
struct DaytimeClient {
    addr: SocketAddr,
    out: Box<dyn Write>,
    status: Rc<Cell<i32>>,
    /// Set once an answer or an error ended the wait.
    answered: Rc<Cell<bool>>,
}

impl DatagramProtocol for DaytimeClient {
    fn started(&mut self, cx: &mut DatagramContext<'_>) {
        // Any datagram asks for the time (RFC 867); an empty one will do.
        if let Err(e) = cx.send(b"") {
            self.error_received(cx, &e);
        }
    }

    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], _from: SocketAddr) {
        if self.answered.replace(true) {
            return;
        }
        let line = data.strip_suffix(b"\n").unwrap_or(data);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let out = &mut self.out;
        let _ = out.write_all(line).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
        self.status.set(0);
        cx.stop();
    }

    fn error_received(&mut self, cx: &mut DatagramContext<'_>, error: &io::Error) {
        if self.answered.replace(true) {
            return;
        }
        common::report!("error: no daytime service at {}: {error}", self.addr);
        cx.stop();
    }
}

/// The client over TLS (`--tls`, `--ca FILE`): TLS runs over TCP, not
/// UDP, so this connects to `addr`, reads the line the server sends on
/// connect until it closes, prints it to `out` and stops the reactor. No
/// line within `timeout`, a failed connection or handshake, or a close
/// before a whole line prints one line to stderr. The returned cell holds
/// the exit status once the reactor stopped: 0 with a line, else 1.
pub fn start_tls_client(
    reactor: &mut Reactor,
    addr: SocketAddr,
    tls: &common::ClientTls,
    timeout: Duration,
    out: Box<dyn Write>,
) -> Rc<Cell<i32>> {
    let status = Rc::new(Cell::new(1));
    let answered = Rc::new(Cell::new(false));
    let client =
        StreamClient { addr, out, line: Vec::new(), status: Rc::clone(&status), answered: Rc::clone(&answered) };
    common::connect(reactor, addr, tls, client);
    reactor.call_later(timeout, move |cx| {
        if !answered.get() {
            common::report!("error: no answer from {addr} within {timeout:?}");
            cx.stop();
        }
    });
    status
}

/// The most a daytime line may hold before the client gives up on it.
const MAX_STREAM_LINE: usize = 1024;

/// The client's connection over TLS.
struct StreamClient {
    addr: SocketAddr,
    out: Box<dyn Write>,
    /// What came so far.
    line: Vec<u8>,
    status: Rc<Cell<i32>>,
    /// Set once the answer or an error ended the wait.
    answered: Rc<Cell<bool>>,
}

impl StreamClient {
    /// Ends the wait with `error` (unless it ended already).
    fn fail(&mut self, cx: &mut Context<'_>, error: std::fmt::Arguments<'_>) {
        if !self.answered.replace(true) {
            common::report!("error: {error}");
        }
        cx.stop();
    }
}

impl Protocol for StreamClient {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.line.extend_from_slice(data);
        if self.line.len() > MAX_STREAM_LINE {
            let addr = self.addr;
            self.fail(cx, format_args!("the answer from {addr} is too long"));
            cx.abort();
        }
    }

    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        if self.answered.get() {
            cx.stop();
            return;
        }
        let addr = self.addr;
        let Some(line) = self.line.strip_suffix(b"\n") else {
            return self.fail(cx, format_args!("no whole line from {addr} ({reason})"));
        };
        self.answered.set(true);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let out = &mut self.out;
        let _ = out.write_all(line).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
        self.status.set(0);
        cx.stop();
    }

    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        let addr = self.addr;
        self.fail(cx, format_args!("cannot connect to {addr}: {reason}"));
    }
}
