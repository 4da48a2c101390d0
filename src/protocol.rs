//! The traits a user implements: [`Protocol`], [`Factory`] and
//! [`DatagramProtocol`].

use std::io;
use std::net::SocketAddr;

use crate::{Context, DatagramContext, Reason, TimerId};

/// The handler of one TCP connection: Twisted's `Protocol`.
///
/// # The contract
///
/// The reactor guarantees, for every connection:
///
/// - **Call order.** `connection_made` once, then any number of
///   `data_received`, at most one `eof_received`, and `connection_lost`
///   exactly once, last, with the [`Reason`]. A client connection that never
///   gets established gets `connection_failed` instead, and nothing else.
/// - **Arbitrary chunking.** TCP is a byte stream: one message may arrive in
///   many `data_received` calls, and one call may hold many messages. Use a
///   framing adapter ([`crate::framing`]) rather than assuming a read is a
///   message.
/// - **Writes never block, and are lost only with the connection.**
///   [`Context::write`] queues the bytes in the connection's own buffer;
///   the reactor sends them after the callback returns (one system call for
///   all the writes of one callback). Once the callback has returned and
///   the queue is above the high water mark, the reactor calls
///   [`pause_writing`](Protocol::pause_writing) (advice: not during the
///   write, so a producer writes in pieces and yields, see the guide), and
///   [`resume_writing`](Protocol::resume_writing) once it drains to the low
///   water mark. While the output answering this connection's input is
///   above the high mark, the reactor stops reading from it (flow control,
///   [`TcpOptions::flow_control`](crate::TcpOptions::flow_control)).
///   Queued output is dropped, and the connection reset, only when it
///   ends otherwise than cleanly: [`Context::abort`], a peer that reads
///   nothing for the stall period with more than the soft output limit
///   queued, or output past the ceiling ([`Reason::OutputLimitExceeded`]),
///   a close that cannot flush within the close timeout
///   ([`Reason::TimedOut`]), the end of a stop's grace period.
/// - **`close` flushes first.** [`Context::close`] sends everything queued,
///   then ends the connection; no more data is delivered after it.
///   [`Context::abort`] drops the queue and resets the connection.
/// - **Panics are contained.** A panic in any callback is caught and logged;
///   it ends this connection only (queued output dropped, reason
///   [`Reason::ProtocolPanicked`]).
/// - Peer and local addresses stay readable through the context during
///   every callback, `connection_lost` included.
///
/// Every method but `data_received` has a default, so a protocol is often
/// a few lines:
///
/// ```
/// use reel::{Context, Protocol};
///
/// struct Echo;
///
/// impl Protocol for Echo {
///     fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
///         cx.write(data);
///     }
/// }
/// ```
pub trait Protocol {
    /// The connection is established; the context can write already.
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        let _ = cx;
    }

    /// Bytes arrived. `data` is only valid during the call; keep what you
    /// need of it.
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]);

    /// The peer closed its sending side (half-close). The connection can
    /// still be written to. The default closes the connection (after
    /// flushing what is queued); override it to keep writing, and call
    /// [`Context::close`] when done. After our own
    /// [`Context::write_eof`] both directions are done: the connection
    /// ends cleanly ([`Reason::PeerClosed`]) once this returns, whatever
    /// it does.
    fn eof_received(&mut self, cx: &mut Context<'_>) {
        cx.close();
    }

    /// The connection is gone; `reason` says why. Called exactly once. The
    /// context may still reach other connections, timers and the reactor,
    /// and read this connection's addresses, but writes to this connection
    /// are dropped.
    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        let _ = (cx, reason);
    }

    /// A client connection could not be established (refused, timed out,
    /// unreachable, no descriptors), or a TLS connection's handshake failed
    /// or timed out, on either side ([`Reason::Tls`], [`Reason::TimedOut`]):
    /// `connection_made` comes only after the handshake. Called instead of
    /// every other method.
    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        let _ = (cx, reason);
    }

    /// The queued output passed the high water mark: stop producing until
    /// [`resume_writing`](Protocol::resume_writing). Writes still succeed;
    /// this is advice.
    fn pause_writing(&mut self, cx: &mut Context<'_>) {
        let _ = cx;
    }

    /// The queued output drained to the low water mark (after a
    /// `pause_writing`).
    fn resume_writing(&mut self, cx: &mut Context<'_>) {
        let _ = cx;
    }

    /// Reading resumed after a pause, the protocol's own
    /// ([`Context::resume_reading`]) or flow control's (queued output fell
    /// to the low water mark). Called before anything new is read, so that
    /// a protocol that held back input while paused (a framer's buffered
    /// frames) delivers it first, in order. It may pause again. A protocol
    /// that wraps another (as the policies do) must forward it, or what the
    /// inner one holds waits for the peer's next bytes.
    fn reading_resumed(&mut self, cx: &mut Context<'_>) {
        let _ = cx;
    }

    /// A connection timer set with [`Context::set_timer`] or
    /// [`Context::set_interval`] fired.
    fn timer_fired(&mut self, cx: &mut Context<'_>, timer: TimerId) {
        let _ = (cx, timer);
    }

    /// The reactor is stopping gracefully. The default closes the
    /// connection after flushing; override it to send a farewell first.
    /// The reactor aborts whatever is still open when the grace period ends.
    fn stop_requested(&mut self, cx: &mut Context<'_>) {
        cx.close();
    }
}

/// Builds one [`Protocol`] per accepted connection: Twisted's `Factory`.
///
/// State shared by the connections of a listener (a chat room's members)
/// lives in the factory, typically behind an `Rc<RefCell<_>>` that each
/// protocol also holds; store [`ConnId`](crate::ConnId)s in it, not
/// references.
///
/// Any `FnMut(SocketAddr) -> Box<dyn Protocol>` is a factory.
pub trait Factory {
    /// Builds the protocol for a connection from `peer`.
    fn build_protocol(&mut self, peer: SocketAddr) -> Box<dyn Protocol>;

    /// The bytes sent to a client refused because the listener is at its
    /// connection limit (see [`ListenOptions`](crate::ListenOptions)),
    /// before it is closed: a busy line, a `503`. Default: nothing.
    fn busy_farewell(&mut self, peer: SocketAddr) -> Vec<u8> {
        let _ = peer;
        Vec::new()
    }
}

/// Any closure from the peer's address to a protocol is a factory:
/// `|_| Echo` as well as `|_| Box::new(Echo) as Box<dyn Protocol>`.
///
/// ```
/// # use reel::{Context, Protocol, Reactor};
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
///         cx.write(data);
///     }
/// }
/// let mut reactor = Reactor::new()?;
/// reactor.listen_tcp("127.0.0.1:0", |_| Echo)?;
/// # Ok::<(), std::io::Error>(())
/// ```
impl<F, P> Factory for F
where
    F: FnMut(SocketAddr) -> P,
    P: Protocol + 'static,
{
    fn build_protocol(&mut self, peer: SocketAddr) -> Box<dyn Protocol> {
        Box::new(self(peer))
    }
}

/// A boxed protocol is a protocol (so that a factory may choose among
/// protocol types at run time).
impl Protocol for Box<dyn Protocol> {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        (**self).connection_made(cx);
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        (**self).data_received(cx, data);
    }
    fn eof_received(&mut self, cx: &mut Context<'_>) {
        (**self).eof_received(cx);
    }
    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        (**self).connection_lost(cx, reason);
    }
    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        (**self).connection_failed(cx, reason);
    }
    fn pause_writing(&mut self, cx: &mut Context<'_>) {
        (**self).pause_writing(cx);
    }
    fn resume_writing(&mut self, cx: &mut Context<'_>) {
        (**self).resume_writing(cx);
    }
    fn reading_resumed(&mut self, cx: &mut Context<'_>) {
        (**self).reading_resumed(cx);
    }
    fn timer_fired(&mut self, cx: &mut Context<'_>, timer: TimerId) {
        (**self).timer_fired(cx, timer);
    }
    fn stop_requested(&mut self, cx: &mut Context<'_>) {
        (**self).stop_requested(cx);
    }
}

/// The handler of one UDP endpoint: Twisted's `DatagramProtocol`.
///
/// # The contract
///
/// - `started` once, then `datagram_received` for every datagram (an empty
///   datagram is a message too), `error_received` for errors the socket
///   reports (on a connected endpoint, an ICMP "port unreachable" for an
///   earlier send shows up here as [`io::ErrorKind::ConnectionRefused`]),
///   and `stopped` once when the endpoint is closed.
/// - [`DatagramContext::send_to`] never blocks: when the socket buffer is full the
///   datagram is queued (bounded) or dropped and counted.
/// - A panic in a callback is caught and logged; the endpoint goes on.
pub trait DatagramProtocol {
    /// The endpoint is bound (and connected, for a connected endpoint).
    fn started(&mut self, cx: &mut DatagramContext<'_>) {
        let _ = cx;
    }

    /// A datagram arrived from `from`.
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr);

    /// The socket reported an error.
    fn error_received(&mut self, cx: &mut DatagramContext<'_>, error: &io::Error) {
        let _ = cx;
        log::debug!("udp error: {error}");
    }

    /// The endpoint was closed (by [`DatagramContext::close`] or reactor stop).
    fn stopped(&mut self, cx: &mut DatagramContext<'_>) {
        let _ = cx;
    }

    /// A timer set with [`Context::set_timer`] from this endpoint fired.
    fn timer_fired(&mut self, cx: &mut DatagramContext<'_>, timer: TimerId) {
        let _ = (cx, timer);
    }
}
