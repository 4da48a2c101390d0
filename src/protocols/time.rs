//! Time, RFC 868: the seconds since 1900-01-01 00:00 UTC as a 32-bit
//! big-endian number, on connect (TCP, then close) or in answer to any
//! datagram (UDP).
//!
//! ```text
//! reactor.listen_tcp(addr, |_| Box::new(Time::default()) as Box<dyn Protocol>)?;
//! reactor.listen_udp(addr, UdpTime::default())?;
//! nc 127.0.0.1 PORT | xxd                # four bytes, then the server closes
//! echo | nc -u 127.0.0.1 PORT | xxd      # any datagram gets four bytes back
//! ```

use std::net::SocketAddr;
use std::time::SystemTime;

use super::clock_text::{unix_seconds, WallClock};
use super::echo::is_reflector_port;
use crate::{Context, DatagramContext, DatagramProtocol, Protocol};

/// Seconds from 1900-01-01 to the Unix epoch.
pub const SECONDS_1900_TO_1970: i64 = 2_208_988_800;

/// `t` as RFC 868 tells it: whole seconds since 1900-01-01 00:00 UTC,
/// modulo 2³² (the count wraps in February 2036 and starts again from 0,
/// as every client in the wild expects).
///
/// ```
/// use std::time::UNIX_EPOCH;
/// assert_eq!(reel::protocols::time::rfc868_seconds(UNIX_EPOCH), 2_208_988_800);
/// ```
pub fn rfc868_seconds(t: SystemTime) -> u32 {
    let since_1900 = i128::from(unix_seconds(t)) + i128::from(SECONDS_1900_TO_1970);
    // rem_euclid keeps it in 0..2^32 even before 1900; the cast is exact.
    since_1900.rem_euclid(1 << 32) as u32
}

/// TCP time: on connect, sends the four bytes and closes (after flushing).
/// Input is ignored.
///
/// ```
/// use std::time::UNIX_EPOCH;
/// use reel::protocols::clock_text::WallClock;
/// use reel::protocols::time::Time;
/// use reel::testing::Harness;
///
/// let h = Harness::new(Time::new(WallClock::manual(UNIX_EPOCH)));
/// assert_eq!(h.written(), 2_208_988_800u32.to_be_bytes());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Time {
    clock: WallClock,
}

impl Time {
    /// Tells the time of `clock`.
    pub fn new(clock: WallClock) -> Time {
        Time { clock }
    }
}

impl Protocol for Time {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.write(&rfc868_seconds(self.clock.now()).to_be_bytes());
        cx.close();
    }

    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
}

/// UDP time: any datagram (an empty one too) gets one four-byte datagram
/// back, unless it comes from a reflector port (see
/// [`is_reflector_port`]).
#[derive(Debug, Clone, Default)]
pub struct UdpTime {
    clock: WallClock,
}

impl UdpTime {
    /// Tells the time of `clock`.
    pub fn new(clock: WallClock) -> UdpTime {
        UdpTime { clock }
    }
}

impl DatagramProtocol for UdpTime {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, _data: &[u8], from: SocketAddr) {
        if is_reflector_port(from) {
            log::debug!("not answering {from}: a reflector port");
            return;
        }
        cx.send_to(&rfc868_seconds(self.clock.now()).to_be_bytes(), from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn wraps_in_2036() {
        let wrap = UNIX_EPOCH + Duration::from_secs((1u64 << 32) - 2_208_988_800);
        assert_eq!(rfc868_seconds(wrap - Duration::from_secs(1)), u32::MAX);
        assert_eq!(rfc868_seconds(wrap), 0);
        assert_eq!(rfc868_seconds(wrap + Duration::from_secs(5)), 5);
    }

    #[test]
    fn before_the_epoch() {
        assert_eq!(rfc868_seconds(UNIX_EPOCH - Duration::from_secs(2_208_988_800)), 0);
        assert_eq!(rfc868_seconds(UNIX_EPOCH - Duration::from_secs(2_208_988_801)), u32::MAX);
    }
}
