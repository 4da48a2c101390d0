//! The datagram callback's context.

use std::io;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use super::ReactorContext;
use crate::core::{Core, TimerTask};
use crate::{TimerId, UdpId};

/// What a datagram callback may do: everything a [`ReactorContext`] offers
/// (it dereferences to one), plus "this endpoint": send, its timers and
/// its address.
///
/// Every callback of a [`DatagramProtocol`](crate::DatagramProtocol) gets
/// one.
#[derive(Debug)]
pub struct DatagramContext<'a> {
    inner: ReactorContext<'a>,
    id: UdpId,
}

impl<'a> Deref for DatagramContext<'a> {
    type Target = ReactorContext<'a>;
    fn deref(&self) -> &ReactorContext<'a> {
        &self.inner
    }
}

impl DerefMut for DatagramContext<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl<'a> DatagramContext<'a> {
    pub(crate) fn new(core: &'a mut Core, id: UdpId) -> DatagramContext<'a> {
        DatagramContext { inner: ReactorContext::new(core), id }
    }

    /// The endpoint this callback is for.
    pub fn udp_id(&self) -> UdpId {
        self.id
    }

    /// The local address of this endpoint.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.core.udp(self.id).map(|u| u.local).unwrap_or_else(|| crate::addr::unspecified(false))
    }

    /// Sends a datagram from this endpoint to `to`. Never blocks: queued
    /// (bounded) when the socket buffer is full; errors reach
    /// `error_received`. Returns false once the endpoint is closing
    /// (nothing is sent), as [`send_from`](ReactorContext::send_from) does.
    ///
    /// From `datagram_received` on a UDP endpoint, the datagram is
    /// copied and sent with the other replies of the receive batch (up
    /// to 16, one `sendmmsg`; a connected endpoint's with one call per
    /// run to its peer) right after the batch's callbacks, in the order
    /// sent, runs of equal-size datagrams to one peer grouped (UDP GSO);
    /// an error for it reaches `error_received` then, and the others
    /// still go.
    #[inline]
    pub fn send_to(&mut self, data: &[u8], to: SocketAddr) -> bool {
        // A reply during a receive batch joins the outbox here, inlined
        // into the callback; anything else takes the general path.
        if self.inner.core.udp_mut(self.id).is_some_and(|u| u.push_batched(data, to)) {
            return true;
        }
        self.inner.core.send_to(self.id, data, to)
    }

    /// Sends one datagram made of `parts`, in order, to `to`, as
    /// [`send_to`](Self::send_to) does with their concatenation: the
    /// parts are copied straight into the batch's outbox (no buffer to
    /// fill first, one copy of each byte).
    ///
    /// ```
    /// # use std::net::SocketAddr;
    /// # use reel::{DatagramContext, DatagramProtocol};
    /// struct Hello;
    /// impl DatagramProtocol for Hello {
    ///     fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, name: &[u8], from: SocketAddr) {
    ///         cx.send_parts_to(&[b"Hello, ", name, b"!"], from);
    ///     }
    /// }
    /// ```
    #[inline]
    pub fn send_parts_to(&mut self, parts: &[&[u8]], to: SocketAddr) -> bool {
        if self.inner.core.udp_mut(self.id).is_some_and(|u| u.push_parts_batched(parts, to)) {
            return true;
        }
        // A full outbox: sent, and the parts copied into it after all.
        if self.inner.core.flush_outbox_then_push(self.id, parts, to) {
            return true;
        }
        self.send_joined(parts, to)
    }

    /// [`DatagramContext::send_parts_to`] outside the outbox: the parts
    /// joined in the endpoint's reused buffer, then sent as one.
    #[cold]
    #[inline(never)]
    fn send_joined(&mut self, parts: &[&[u8]], to: SocketAddr) -> bool {
        let Some(u) = self.inner.core.udp_mut(self.id) else { return false };
        let mut joined = std::mem::take(&mut u.joined);
        joined.clear();
        for part in parts {
            joined.extend_from_slice(part);
        }
        let sent = self.inner.core.send_to(self.id, &joined, to);
        // Kept for the next join, unless an oversized datagram (refused by
        // the kernel anyway) grew it past the largest one that can be sent.
        if joined.capacity() <= crate::udp::MAX_DATAGRAM {
            if let Some(u) = self.inner.core.udp_mut(self.id) {
                u.joined = joined;
            }
        }
        sent
    }

    /// Sends a datagram to the peer of a connected endpoint
    /// ([`Reactor::connect_udp`](crate::Reactor::connect_udp)).
    ///
    /// # Errors
    ///
    /// `ErrorKind::NotConnected` if the endpoint has no connected peer;
    /// `ErrorKind::NotConnected` too once it is closing.
    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        let Some(to) = self.inner.core.udp(self.id).and_then(|u| u.connected) else {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "send: this endpoint has no connected peer"));
        };
        if self.inner.core.send_to(self.id, data, to) {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::NotConnected, "send: this endpoint is closing"))
        }
    }

    /// Closes this endpoint; `stopped` follows.
    pub fn close(&mut self) {
        self.inner.core.close_udp(self.id);
    }

    /// Sets a one-shot timer for this endpoint: after `delay`, the
    /// protocol's `timer_fired` is called with the returned id. Cancelled
    /// automatically when the endpoint closes. `Duration::MAX` means never.
    pub fn set_timer(&mut self, delay: Duration) -> TimerId {
        self.inner.core.add_owned_timer(delay, TimerTask::Udp(self.id, None))
    }

    /// Like [`set_timer`](Self::set_timer), repeating every `interval`.
    pub fn set_interval(&mut self, interval: Duration) -> TimerId {
        self.inner.core.add_owned_timer(interval, TimerTask::Udp(self.id, Some(interval)))
    }
}
