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
use std::time::Duration;

use super::echo::is_reflector_port;
use crate::{Context, DatagramContext, DatagramProtocol, Protocol, TimerId};

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
/// Memory stays bounded: the protocol writes one batch (two cycles, 14 KiB)
/// per reactor turn, and stops when the reactor calls
/// [`pause_writing`](Protocol::pause_writing) (the connection's queued
/// output passed the high water mark because the peer does not keep up);
/// it starts again on [`resume_writing`](Protocol::resume_writing). So the
/// queue never holds more than the high water mark plus one batch. The next
/// batch is scheduled with a zero-delay timer, which is not re-armed while
/// paused: a peer that stops reading costs no CPU.
///
/// Input is ignored; a half-close from the peer does not stop the stream
/// (RFC 864: the service sends until the user closes).
///
/// ```
/// use reel::protocols::chargen::{line, Chargen};
/// use reel::testing::{Event, Harness};
///
/// let mut h = Harness::new(Chargen::new());
/// assert!(h.written().starts_with(&[line(0), line(1)].concat()));
/// h.set_peer_window(Some(0)); // the peer stops reading
/// for _ in 0..10 {
///     h.advance(std::time::Duration::ZERO);
/// }
/// assert!(h.events().contains(&Event::PauseWriting));
/// assert!(h.queued() <= 64 * 1024 + 2 * 95 * 74);
/// ```
#[derive(Debug, Default)]
pub struct Chargen {
    /// The reactor said the peer does not keep up.
    paused: bool,
    /// The zero-delay timer that writes the next batch, when armed.
    next_batch: Option<TimerId>,
}

impl Chargen {
    /// A generator that starts on connect.
    pub fn new() -> Chargen {
        Chargen::default()
    }

    /// Writes one batch and schedules the next one.
    fn produce(&mut self, cx: &mut Context<'_>) {
        if cx.is_closing() {
            return;
        }
        // Whole cycles, so every batch starts at line 0 of the pattern.
        cx.write(&CYCLE);
        cx.write(&CYCLE);
        if self.next_batch.is_none() {
            self.next_batch = Some(cx.set_timer(Duration::ZERO));
        }
    }
}

impl Protocol for Chargen {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.produce(cx);
    }

    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}

    fn eof_received(&mut self, _cx: &mut Context<'_>) {}

    fn pause_writing(&mut self, _cx: &mut Context<'_>) {
        self.paused = true;
    }

    fn resume_writing(&mut self, cx: &mut Context<'_>) {
        self.paused = false;
        self.produce(cx);
    }

    fn timer_fired(&mut self, cx: &mut Context<'_>, timer: TimerId) {
        if Some(timer) == self.next_batch {
            self.next_batch = None;
            if !self.paused {
                self.produce(cx);
            }
        }
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
