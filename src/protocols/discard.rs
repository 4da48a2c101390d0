//! Discard, RFC 863: everything received is thrown away, nothing is ever
//! sent.
//!
//! ```text
//! reactor.listen_tcp(addr, |_| Box::new(Discard) as Box<dyn Protocol>)?;
//! reactor.listen_udp(addr, UdpDiscard)?;
//! nc 127.0.0.1 PORT        # type; nothing comes back
//! nc -u 127.0.0.1 PORT     # the same over UDP
//! ```
//!
//! Discard never answers, so it needs no reflector-port check.

use std::net::SocketAddr;

use crate::{Context, DatagramContext, DatagramProtocol, Protocol};

/// TCP discard: reads and drops every byte until the peer closes (its EOF
/// closes the connection).
///
/// ```
/// use reel::protocols::discard::Discard;
/// use reel::testing::Harness;
/// use reel::Reason;
///
/// let mut h = Harness::new(Discard);
/// h.feed(b"into the void");
/// h.feed_eof();
/// assert!(h.written().is_empty());
/// assert_eq!(h.lost(), Some(Reason::PeerClosed));
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl Protocol for Discard {
    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
}

/// UDP discard: drops every datagram.
#[derive(Debug, Default, Clone, Copy)]
pub struct UdpDiscard;

impl DatagramProtocol for UdpDiscard {
    fn datagram_received(&mut self, _cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        log::trace!("discarded {} bytes from {from}", data.len());
    }
}
