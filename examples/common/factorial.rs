//! The factorial service of docs/protocols.md (`factorial`): CPU work off the reactor thread. The server and the client, over
//! UDP. Used by `examples/factorial.rs`, by the `demo` example and by
//! `tests/example_factorial.rs`, each including it next to `common`:
//!
//! ```ignore
//! mod common;
//! #[path = "common/factorial.rs"]
//! mod factorial;
//! ```
//!
//! A datagram holding `n` (0 to 10000, whitespace around it ignored) gets
//! the digits of `n!` back. The multiplication runs on a worker thread
//! ([`ReactorContext::defer_to_thread`](reel::ReactorContext::defer_to_thread)) and its result comes back into the
//! reactor, which answers other datagrams meanwhile. The big integer is
//! done by hand: limbs of nine decimal digits in `u32`s, so that printing
//! is a matter of zero-padding each limb.

#![allow(dead_code)] // each program uses a part

use std::cell::Cell;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use reel::{DatagramContext, DatagramProtocol, Reactor};

use crate::common::{self, ServerArgs};

/// Where the server listens by default (UDP).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9998";
/// The largest `n` computed: 10000! has 35660 digits, which fits in one
/// datagram.
pub const MAX_N: u32 = 10_000;
/// The answer to anything but an integer from 0 to [`MAX_N`].
pub const BAD_REQUEST: &[u8] = b"error: expected an integer from 0 to 10000";
/// Computations queued or running at once; datagrams beyond are dropped
/// (UDP may drop anyway), so a flood cannot queue unbounded work.
pub const MAX_IN_FLIGHT: usize = 64;
/// How long the client waits for the answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The server's default arguments.
pub fn default_args() -> ServerArgs {
    ServerArgs::new(DEFAULT_LISTEN, 0)
}

/// Starts the UDP endpoint on `args.listen`. Returns the address bound. A
/// bind failure prints one line and exits 1.
pub fn start(reactor: &mut Reactor, args: &ServerArgs) -> SocketAddr {
    let id = common::listen_udp(reactor, args.listen, FactorialServer::default());
    reactor.udp_addr(id).unwrap_or(args.listen)
}

/// `n` if `request` is a decimal integer from 0 to [`MAX_N`], ASCII
/// whitespace around it ignored. No sign, nothing else.
pub fn parse_request(request: &[u8]) -> Option<u32> {
    let digits = request.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Leading zeros are fine ("007"); any length of them.
    let significant = &digits[digits.iter().position(|&d| d != b'0').unwrap_or(digits.len())..];
    if significant.len() > 5 {
        return None;
    }
    let n = significant.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    (n <= MAX_N).then_some(n)
}

/// One limb holds nine decimal digits.
const LIMB_BASE: u64 = 1_000_000_000;

/// The decimal digits of `n!`.
///
/// Schoolbook multiplication of a little-endian vector of base-10⁹ limbs
/// by each factor in turn: about `n² / 2 × log₁₀(n) / 9` limb operations
/// (some 20 million for 10000, a few milliseconds).
pub fn factorial_digits(n: u32) -> String {
    let mut limbs: Vec<u32> = vec![1];
    for factor in 2..=u64::from(n) {
        let mut carry = 0u64;
        for limb in limbs.iter_mut() {
            // < 10^9 * 2^32 + carry: fits in u64 for any u32 factor.
            let v = u64::from(*limb) * factor + carry;
            *limb = (v % LIMB_BASE) as u32;
            carry = v / LIMB_BASE;
        }
        while carry > 0 {
            limbs.push((carry % LIMB_BASE) as u32);
            carry /= LIMB_BASE;
        }
    }
    let mut digits = String::with_capacity(limbs.len() * 9);
    let mut from_top = limbs.iter().rev();
    if let Some(top) = from_top.next() {
        let _ = write!(digits, "{top}");
    }
    for limb in from_top {
        let _ = write!(digits, "{limb:09}");
    }
    digits
}

/// The server's endpoint.
#[derive(Debug, Default)]
pub struct FactorialServer {
    /// Computations queued or running; shared with their completions.
    in_flight: Rc<Cell<usize>>,
}

impl DatagramProtocol for FactorialServer {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        if common::refuses_source(from) {
            log::debug!("not answering {from}: a reflector port");
            return;
        }
        let Some(n) = parse_request(data) else {
            cx.send_to(BAD_REQUEST, from);
            return;
        };
        if self.in_flight.get() >= MAX_IN_FLIGHT {
            log::warn!("dropping a request from {from}: {MAX_IN_FLIGHT} computations already under way");
            return;
        }
        self.in_flight.set(self.in_flight.get() + 1);
        let in_flight = Rc::clone(&self.in_flight);
        let endpoint = cx.udp_id();
        cx.defer_to_thread(
            move || factorial_digits(n),
            move |cx, result| {
                in_flight.set(in_flight.get().saturating_sub(1));
                match result {
                    Ok(digits) => {
                        if !cx.send_from(endpoint, digits.as_bytes(), from) {
                            log::debug!("{n}! for {from}: the endpoint is closed");
                        }
                    }
                    Err(_) => log::error!("computing {n}! panicked"),
                }
            },
        );
    }
}

// ----- the client ---------------------------------------------------------

/// Sends `request` (say `"20"`) to `addr` from a connected UDP endpoint and
/// prints the answer to `out` (an `error: ...` answer to stderr), then
/// stops the reactor. No answer within `timeout` prints one line to
/// stderr. The returned cell holds the exit status once the reactor
/// stopped: 0 with a result, else 1.
///
/// # Errors
///
/// When the local endpoint cannot be bound or connected.
pub fn start_client(
    reactor: &mut Reactor,
    addr: SocketAddr,
    request: String,
    timeout: Duration,
    out: Box<dyn Write>,
) -> io::Result<Rc<Cell<i32>>> {
    let status = Rc::new(Cell::new(1));
    let done = Rc::new(Cell::new(false));
    let local: SocketAddr =
        if addr.is_ipv6() { (Ipv6Addr::UNSPECIFIED, 0).into() } else { (Ipv4Addr::UNSPECIFIED, 0).into() };
    let client = FactorialClient { addr, request, out, status: Rc::clone(&status), done: Rc::clone(&done) };
    reactor.connect_udp(local, addr, client)?;
    reactor.call_later(timeout, move |cx| {
        if !done.get() {
            common::report!("error: no answer from {addr} within {timeout:?}");
            cx.stop();
        }
    });
    Ok(status)
}

/// The client's endpoint.
struct FactorialClient {
    addr: SocketAddr,
    request: String,
    out: Box<dyn Write>,
    status: Rc<Cell<i32>>,
    /// Set once an answer or an error ended the wait.
    done: Rc<Cell<bool>>,
}

impl DatagramProtocol for FactorialClient {
    fn started(&mut self, cx: &mut DatagramContext<'_>) {
        if let Err(e) = cx.send(self.request.as_bytes()) {
            self.error_received(cx, &e);
        }
    }

    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], _from: SocketAddr) {
        if self.done.replace(true) {
            return;
        }
        if data.starts_with(b"error:") {
            common::report!("{}", String::from_utf8_lossy(data));
        } else {
            let out = &mut self.out;
            let _ = out.write_all(data).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
            self.status.set(0);
        }
        cx.stop();
    }

    fn error_received(&mut self, cx: &mut DatagramContext<'_>, error: &io::Error) {
        if self.done.replace(true) {
            return;
        }
        common::report!("error: no factorial service at {}: {error}", self.addr);
        cx.stop();
    }
}
