//! Quote of the Day, RFC 865: a short message on connect (TCP, then close)
//! or in answer to any datagram (UDP).
//!
//! ```text
//! reactor.listen_tcp(addr, move |_| Box::new(Qotd::new(quote.clone())) as Box<dyn Protocol>)?;
//! reactor.listen_udp(addr, UdpQotd::new(quote))?;
//! nc 127.0.0.1 PORT             # prints the quote; the server closes
//! echo | nc -u 127.0.0.1 PORT   # any datagram gets the quote back
//! ```

use std::net::SocketAddr;
use std::rc::Rc;

use super::echo::is_reflector_port;
use crate::{Context, DatagramContext, DatagramProtocol, Protocol};

/// The quote served by default, ending in CRLF like the other line-based
/// RFC services.
pub const DEFAULT_QUOTE: &str = "Simple things should be simple, complex things should be possible. - Alan Kay\r\n";

/// TCP quote of the day: on connect, sends the quote and closes (after
/// flushing). Input is ignored.
///
/// The quote is sent byte for byte as given, so include the line end you
/// want. RFC 865 asks that it be under 512 characters, which also lets it
/// fit in one datagram for [`UdpQotd`].
///
/// ```
/// use reel::protocols::qotd::Qotd;
/// use reel::testing::Harness;
/// use reel::Reason;
///
/// let h = Harness::new(Qotd::new(b"Carpe diem.\r\n".as_slice().into()));
/// assert_eq!(h.written(), b"Carpe diem.\r\n");
/// assert_eq!(h.lost(), Some(Reason::Closed));
/// ```
#[derive(Debug, Clone)]
pub struct Qotd {
    quote: Rc<[u8]>,
}

impl Qotd {
    /// Serves `quote` (share one `Rc` between the connections of a
    /// listener).
    pub fn new(quote: Rc<[u8]>) -> Qotd {
        Qotd { quote }
    }

    /// The quote.
    pub fn quote(&self) -> &[u8] {
        &self.quote
    }
}

impl Default for Qotd {
    /// Serves [`DEFAULT_QUOTE`].
    fn default() -> Self {
        Qotd::new(DEFAULT_QUOTE.as_bytes().into())
    }
}

impl Protocol for Qotd {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.write(&self.quote);
        cx.close();
    }

    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
}

/// UDP quote of the day: any datagram (an empty one too) gets one datagram
/// with the quote back, unless it comes from a reflector port (see
/// [`is_reflector_port`]).
#[derive(Debug, Clone)]
pub struct UdpQotd {
    quote: Rc<[u8]>,
}

impl UdpQotd {
    /// Serves `quote`.
    pub fn new(quote: Rc<[u8]>) -> UdpQotd {
        UdpQotd { quote }
    }
}

impl Default for UdpQotd {
    /// Serves [`DEFAULT_QUOTE`].
    fn default() -> Self {
        UdpQotd::new(DEFAULT_QUOTE.as_bytes().into())
    }
}

impl DatagramProtocol for UdpQotd {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, _data: &[u8], from: SocketAddr) {
        if is_reflector_port(from) {
            log::debug!("not answering {from}: a reflector port");
            return;
        }
        cx.send_to(&self.quote, from);
    }
}
