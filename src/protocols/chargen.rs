//! Character generator, RFC 864: the rotating pattern of printable ASCII,
//! as a stream (TCP) or one burst per datagram (UDP).
//!
//! The pattern is the classic one: lines of 72 characters taken from the
//! 95 printable ASCII characters (`' '` to `'~'`), each line starting one
//! character later than the one before, each ending in CRLF. It repeats
//! every 95 lines.
//!
//! ```text
//! reactor.listen_tcp(addr, |_| Box::new(Chargen::new()) as Box<dyn Protocol>)?;
//! reactor.listen_udp(addr, UdpChargen::new())?;
//! nc 127.0.0.1 PORT | head -3        # the first three lines, then nc quits
//! echo | nc -u 127.0.0.1 PORT        # one burst of lines per datagram
//! ```

use std::net::SocketAddr;

use super::echo::is_reflector_port;
use crate::producer::{Pull, PullProducer};
use crate::{ConnId, Context, DatagramContext, DatagramProtocol, Protocol, ReactorContext};

/// Characters per line, not counting the CRLF.
pub const LINE_LEN: usize = 72;
/// Bytes per line, CRLF included.
pub const LINE_BYTES: usize = LINE_LEN + 2;
/// Lines before the pattern repeats: one per printable ASCII character.
pub const CYCLE_LINES: usize = 95;
/// Lines in each UDP answer: as many as fit in 512 bytes (RFC 864 asks for
/// 0 to 512).
pub const UDP_LINES: usize = 512 / LINE_BYTES;

/// The whole cycle of 95 lines, built at compile time.
const CYCLE: [u8; CYCLE_LINES * LINE_BYTES] = build_cycle();

const fn build_cycle() -> [u8; CYCLE_LINES * LINE_BYTES] {
    let mut out = [0u8; CYCLE_LINES * LINE_BYTES];
    let mut line = 0;
    while line < CYCLE_LINES {
        let mut i = 0;
        while i < LINE_LEN {
            out[line * LINE_BYTES + i] = b' ' + ((line + i) % CYCLE_LINES) as u8;
            i += 1;
        }
        out[line * LINE_BYTES + LINE_LEN] = b'\r';
        out[line * LINE_BYTES + LINE_LEN + 1] = b'\n';
        line += 1;
    }
    out
}

/// Line `n` of the pattern (counting from 0), CRLF included.
///
/// ```
/// use reel::protocols::chargen::line;
/// assert!(line(0).starts_with(b" !\"#$%&"));
/// assert!(line(1).starts_with(b"!\"#$%&'"));
/// assert_eq!(line(95), line(0));
/// assert!(line(0).ends_with(b"efg\r\n"));
/// ```
pub fn line(n: usize) -> &'static [u8] {
    let start = (n % CYCLE_LINES) * LINE_BYTES;
    &CYCLE[start..start + LINE_BYTES]
}

/// TCP chargen: writes the pattern for as long as the peer reads it, and no
/// longer.
///
/// The pattern comes from a pull producer ([`ChargenSource`]): the reactor
/// asks it for a batch (two cycles, 14 KiB) whenever the connection's
/// queued output is at or below the low water mark, so the queue never
/// holds more than the low mark plus one batch. No timers: a peer that
/// stops reading costs no CPU, and one that reads fast is fed as fast as
/// its socket takes it.
///
/// Input is ignored; a half-close from the peer does not stop the stream
/// (RFC 864: the service sends until the user closes).
///
/// ```
/// use reel::protocols::chargen::{line, Chargen};
/// use reel::testing::Harness;
///
/// let mut h = Harness::new(Chargen::new());
/// assert!(h.written().starts_with(&[line(0), line(1)].concat()));
/// h.set_peer_window(Some(0)); // the peer stops reading
/// for _ in 0..10 {
///     h.advance(std::time::Duration::ZERO);
/// }
/// // Bounded: the low water mark (32 KiB by default) plus one batch.
/// assert!(h.queued() <= 32 * 1024 + 2 * 95 * 74);
/// ```
#[derive(Debug, Default)]
pub struct Chargen;

impl Chargen {
    /// A generator that starts on connect.
    pub fn new() -> Chargen {
        Chargen
    }
}

impl Protocol for Chargen {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        let me = cx.conn_id();
        cx.register_pull_producer(me, ChargenSource);
    }

    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}

    fn eof_received(&mut self, _cx: &mut Context<'_>) {}
}

/// The chargen pattern as a pull producer, for any connection: each call
/// writes two whole cycles (so every batch starts at line 0), forever.
///
/// ```
/// # use reel::{ConnId, Context, Protocol};
/// use reel::protocols::chargen::ChargenSource;
/// /// Streams the pattern once the peer says anything.
/// struct OnDemand;
/// impl Protocol for OnDemand {
///     fn data_received(&mut self, cx: &mut Context<'_>, _data: &[u8]) {
///         let me = cx.conn_id();
///         cx.register_pull_producer(me, ChargenSource); // false once it runs
///     }
/// }
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct ChargenSource;

impl PullProducer for ChargenSource {
    fn resume_producing(&mut self, cx: &mut ReactorContext<'_>, consumer: ConnId) -> Pull {
        cx.write_to(consumer, &CYCLE);
        cx.write_to(consumer, &CYCLE);
        Pull::More
    }
}

/// UDP chargen: each datagram (an empty one too) gets one datagram of
/// [`UDP_LINES`] lines (444 bytes) back, starting one line further in the
/// pattern each time, unless it comes from a reflector port (see
/// [`is_reflector_port`]).
#[derive(Debug, Default, Clone)]
pub struct UdpChargen {
    /// The pattern line the next answer starts with.
    next_line: usize,
}

impl UdpChargen {
    /// A generator starting at line 0.
    pub fn new() -> UdpChargen {
        UdpChargen::default()
    }

    /// The next answer, moving the start line on by one.
    pub fn next_answer(&mut self) -> Vec<u8> {
        let first = self.next_line;
        self.next_line = (self.next_line + 1) % CYCLE_LINES;
        (first..first + UDP_LINES).flat_map(|n| line(n).iter().copied()).collect()
    }
}

impl DatagramProtocol for UdpChargen {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, _data: &[u8], from: SocketAddr) {
        if is_reflector_port(from) {
            log::debug!("not answering {from}: a reflector port");
            return;
        }
        let answer = self.next_answer();
        cx.send_to(&answer, from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_is_the_rfc_pattern() {
        for n in 0..CYCLE_LINES {
            let l = line(n);
            assert_eq!(l.len(), LINE_BYTES);
            assert!(l[..LINE_LEN].iter().all(|b| (b' '..=b'~').contains(b)));
            assert_eq!(&l[LINE_LEN..], b"\r\n");
            assert_eq!(l[0], b' ' + n as u8);
            // Each line is the one before, shifted by one character.
            assert_eq!(&line(n + 1)[..LINE_LEN - 1], &l[1..LINE_LEN]);
        }
        assert_eq!(&line(94)[..3], b"~ !");
    }

    #[test]
    fn udp_answers_rotate_and_fit() {
        let mut g = UdpChargen::new();
        let a = g.next_answer();
        let b = g.next_answer();
        assert!(a.len() <= 512 && a.len() == UDP_LINES * LINE_BYTES);
        assert_eq!(&a[..LINE_BYTES], line(0));
        assert_eq!(&b[..LINE_BYTES], line(1));
    }
}
