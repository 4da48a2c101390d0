//! Echo, RFC 862: every byte (TCP) or datagram (UDP) comes back unchanged.

use std::net::SocketAddr;

use crate::{Context, DatagramContext, DatagramProtocol, Protocol};

/// TCP echo. When the peer stops reading, it stops reading from the peer
/// (at the high water mark) and resumes when the output drains (at the low
/// one): memory stays bounded whatever the peer sends.
///
/// ```
/// use reel::protocols::echo::Echo;
/// use reel::Protocol;
/// # fn main() -> std::io::Result<()> {
/// let mut reactor = reel::Reactor::new()?;
/// reactor.listen_tcp("127.0.0.1:0", |_| Box::new(Echo) as Box<dyn Protocol>)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        cx.write(data);
    }

    fn pause_writing(&mut self, cx: &mut Context<'_>) {
        cx.pause_reading();
    }

    fn resume_writing(&mut self, cx: &mut Context<'_>) {
        cx.resume_reading();
    }
}

/// UDP echo: each datagram goes back to its sender, except to source port
/// 0 and to the ports of other echo-type services (7, 13, 17, 19, 37), so
/// that two such services cannot be made to bounce datagrams at each other
/// forever.
#[derive(Debug, Default, Clone, Copy)]
pub struct UdpEcho;

impl DatagramProtocol for UdpEcho {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        if is_reflector_port(from) {
            log::debug!("not answering {from}: a reflector port");
            return;
        }
        cx.send_to(data, from);
    }
}

/// Whether a datagram from `from` must not be answered: source port 0, or
/// the port of an echo-type service (echo 7, daytime 13, qotd 17, chargen
/// 19, time 37).
pub fn is_reflector_port(from: SocketAddr) -> bool {
    matches!(from.port(), 0 | 7 | 13 | 17 | 19 | 37)
}
