//! Daytime, RFC 867: the date and time as one human-readable line, on
//! connect (TCP, then close) or in answer to any datagram (UDP).
//!
//! The line names the time zone by its offset and ends in CRLF:
//! `Saturday, November 21, 2026 23:53:24 +00:00\r\n`, in local time (the
//! `TZ` environment variable is honoured); see
//! [`clock_text::daytime`](super::clock_text::daytime).
//!
//! ```text
//! let text = Rc::new(ClockText::daytime(WallClock::system()));
//! reactor.listen_tcp(addr, move |_| Box::new(Daytime::new(text.clone())) as Box<dyn Protocol>)?;
//! nc 127.0.0.1 PORT              # prints the line; the server closes
//! echo | nc -u 127.0.0.1 PORT    # any datagram gets the line back
//! ```

use std::net::SocketAddr;
use std::rc::Rc;

use super::clock_text::{ClockText, WallClock};
use super::echo::is_reflector_port;
use crate::{Context, DatagramContext, DatagramProtocol, Protocol};

/// TCP daytime: on connect, sends the line and closes (after flushing).
/// Input is ignored.
///
/// Share one [`ClockText`] between the connections of a listener (and the
/// UDP endpoint) so that the date is formatted at most once per second.
///
/// ```
/// use std::rc::Rc;
/// use std::time::{Duration, UNIX_EPOCH};
/// use reel::protocols::clock_text::{daytime_local, ClockText, WallClock};
/// use reel::protocols::daytime::Daytime;
/// use reel::testing::Harness;
///
/// let t = UNIX_EPOCH + Duration::from_secs(1_795_305_204);
/// let text = Rc::new(ClockText::daytime(WallClock::manual(t)));
/// let h = Harness::new(Daytime::new(text));
/// assert_eq!(h.written(), format!("{}\r\n", daytime_local(t)).into_bytes());
/// assert!(h.lost().is_some());
/// ```
#[derive(Debug, Clone)]
pub struct Daytime {
    text: Rc<ClockText>,
}

impl Daytime {
    /// Tells the time of `text` (a [`ClockText::daytime`]).
    pub fn new(text: Rc<ClockText>) -> Daytime {
        Daytime { text }
    }
}

impl Default for Daytime {
    /// Tells the system time, with a cache of its own.
    fn default() -> Self {
        Daytime::new(Rc::new(ClockText::daytime(WallClock::system())))
    }
}

/// The line with its CRLF.
fn line(text: &ClockText) -> Vec<u8> {
    let now = text.now();
    let mut line = Vec::with_capacity(now.len() + 2);
    line.extend_from_slice(now.as_bytes());
    line.extend_from_slice(b"\r\n");
    line
}

impl Protocol for Daytime {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.write(&line(&self.text));
        cx.close();
    }

    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
}

/// UDP daytime: any datagram (an empty one too) gets one datagram with the
/// line, CRLF included, unless it comes from a reflector port (see
/// [`is_reflector_port`]).
#[derive(Debug, Clone)]
pub struct UdpDaytime {
    text: Rc<ClockText>,
}

impl UdpDaytime {
    /// Tells the time of `text` (a [`ClockText::daytime`]).
    pub fn new(text: Rc<ClockText>) -> UdpDaytime {
        UdpDaytime { text }
    }
}

impl Default for UdpDaytime {
    /// Tells the system time, with a cache of its own.
    fn default() -> Self {
        UdpDaytime::new(Rc::new(ClockText::daytime(WallClock::system())))
    }
}

impl DatagramProtocol for UdpDaytime {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, _data: &[u8], from: SocketAddr) {
        if is_reflector_port(from) {
            log::debug!("not answering {from}: a reflector port");
            return;
        }
        cx.send_to(&line(&self.text), from);
    }
}
