//! Closing connections that say nothing for too long.

use std::time::{Duration, Instant};

use crate::{Context, Protocol, Reason, TimerId};

/// Wraps a protocol and closes its connection (flushing first) when the
/// peer sends nothing for `timeout` while it has nothing of ours to read
/// and the server is reading from it; `connection_lost` then gets
/// [`Reason::TimedOut`].
///
/// Silence the server causes is not the peer's idleness. While output is
/// queued for the peer, or reading is paused (by flow control: the peer is
/// behind on its replies, and a client busy reading a backlog sends nothing
/// the server reads because the server stopped reading; or by the
/// protocol's own back-pressure), the connection is not idle, however long
/// that lasts. So a slow reader is never closed for being slow, and every
/// reply reaches it once it reads. The end of a pause, and output drained
/// to the low water mark, count as activity: the peer gets a whole timeout
/// of silence after them. A peer that stops reading altogether is left to
/// the output limits
/// ([`TcpOptions::output_limit`](crate::TcpOptions::output_limit) and
/// [`output_stall`](crate::TcpOptions::output_stall)), as it would be
/// without an idle timeout.
///
/// A read only notes the loop time (one store): the timer is not touched.
/// When it fires, the connection is closed if it has really been idle for
/// `timeout`; otherwise the timer is set again for what is left of the
/// timeout counted from the last activity (a whole timeout while output is
/// queued or reading is paused: both are looked at only then). So a busy
/// connection costs one timer event per `timeout`, not a timer update per
/// read, and a silent one is closed on time (to the loop clock's
/// precision).
///
/// ```
/// use std::time::Duration;
/// use reel::policies::IdleTimeout;
/// use reel::protocols::echo::Echo;
/// use reel::testing::Harness;
/// use reel::Reason;
///
/// let mut h = Harness::new(IdleTimeout::new(Echo, Duration::from_secs(60)));
/// h.advance(Duration::from_secs(59));
/// h.feed(b"still here");
/// h.advance(Duration::from_secs(59));
/// assert_eq!(h.lost(), None);
/// h.advance(Duration::from_secs(1));
/// assert_eq!(h.lost(), Some(Reason::TimedOut));
/// ```
#[derive(Debug)]
pub struct IdleTimeout<P> {
    inner: P,
    timeout: Duration,
    timer: Option<TimerId>,
    /// The loop time of the last activity: a read, the connection's
    /// start, output drained to the low water mark, the end of a pause of
    /// reading (or a look while output is queued or reading paused).
    last_activity: Option<Instant>,
}

impl<P: Protocol> IdleTimeout<P> {
    /// Closes `inner`'s connection after `timeout` of idleness (see the
    /// type's rules). A zero timeout disables it.
    pub fn new(inner: P, timeout: Duration) -> Self {
        IdleTimeout { inner, timeout, timer: None, last_activity: None }
    }

    /// The wrapped protocol.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The wrapped protocol, mutably.
    pub fn inner_mut(&mut self) -> &mut P {
        &mut self.inner
    }
}

impl<P: Protocol> Protocol for IdleTimeout<P> {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        if !self.timeout.is_zero() {
            self.last_activity = Some(cx.now());
            self.timer = Some(cx.set_timer(self.timeout));
        }
        self.inner.connection_made(cx);
    }

    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if self.timer.is_some() {
            self.last_activity = Some(cx.now());
        }
        self.inner.data_received(cx, data);
    }

    fn eof_received(&mut self, cx: &mut Context<'_>) {
        self.inner.eof_received(cx);
    }

    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        if let Some(t) = self.timer.take() {
            cx.cancel_timer(t);
        }
        self.inner.connection_lost(cx, reason);
    }

    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.inner.connection_failed(cx, reason);
    }

    fn pause_writing(&mut self, cx: &mut Context<'_>) {
        self.inner.pause_writing(cx);
    }

    fn resume_writing(&mut self, cx: &mut Context<'_>) {
        // The peer took our output down to the low water mark: activity
        // (a water mark crossing, not a per-read cost).
        if self.timer.is_some() {
            self.last_activity = Some(cx.now());
        }
        self.inner.resume_writing(cx);
    }

    fn reading_resumed(&mut self, cx: &mut Context<'_>) {
        // The pause, ours, ends: the peer's silence counts from here.
        if self.timer.is_some() {
            self.last_activity = Some(cx.now());
        }
        self.inner.reading_resumed(cx);
    }

    fn timer_fired(&mut self, cx: &mut Context<'_>, timer: TimerId) {
        if Some(timer) != self.timer {
            return self.inner.timer_fired(cx, timer);
        }
        let now = cx.now();
        let idle = self.last_activity.map_or(self.timeout, |last| now.saturating_duration_since(last));
        if idle < self.timeout {
            // Activity since the timer was set: wait for the rest.
            self.timer = Some(cx.set_timer(self.timeout - idle));
            return;
        }
        if cx.queued() > 0 || cx.is_reading_paused() {
            // The peer has our output still to read, or we are the ones
            // not reading (flow control: it has our replies to read first;
            // or the protocol's back-pressure): its silence is not
            // idleness. Look again a timeout later.
            self.last_activity = Some(now);
            self.timer = Some(cx.set_timer(self.timeout));
            return;
        }
        self.timer = None;
        log::debug!("{}: idle for {:?}, closing", cx.conn_id(), self.timeout);
        cx.close_with(Reason::TimedOut);
    }

    fn stop_requested(&mut self, cx: &mut Context<'_>) {
        self.inner.stop_requested(cx);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::IdleTimeout;
    use crate::protocols::echo::Echo;
    use crate::testing::Harness;
    use crate::Reason;

    const TIMEOUT: Duration = Duration::from_secs(60);

    /// Reads only note the time; the timer, when it comes, waits again for
    /// what is left. A connection read every 25 s for 10 minutes stays,
    /// and is closed exactly one timeout after its last read.
    #[test]
    fn a_busy_connection_stays_and_closes_one_timeout_after_its_last_activity() {
        let mut h = Harness::new(IdleTimeout::new(Echo, TIMEOUT));
        for _ in 0..24 {
            h.advance(Duration::from_secs(25));
            h.feed(b"x");
            assert_eq!(h.lost(), None);
        }
        h.advance(TIMEOUT - Duration::from_millis(1));
        assert_eq!(h.lost(), None, "closed before a whole timeout of silence");
        h.advance(Duration::from_millis(1));
        assert_eq!(h.lost(), Some(Reason::TimedOut));
    }

    /// A read just before the first deadline moves the close to one timeout
    /// after that read, not to the first deadline.
    #[test]
    fn a_read_just_before_the_deadline_moves_it() {
        let mut h = Harness::new(IdleTimeout::new(Echo, TIMEOUT));
        h.advance(TIMEOUT - Duration::from_millis(1));
        h.feed(b"x");
        h.advance(Duration::from_millis(1));
        assert_eq!(h.lost(), None);
        h.advance(TIMEOUT - Duration::from_millis(2));
        assert_eq!(h.lost(), None);
        h.advance(Duration::from_millis(1));
        assert_eq!(h.lost(), Some(Reason::TimedOut));
    }

    /// Flow control stops reading from a peer that is behind on its
    /// replies: the silence that follows is the server's, and the
    /// connection stays however long the peer takes to read (ten minutes
    /// here, taking a byte every 20 s: a peer that takes nothing at all is
    /// cut by the output stall limit, 30 s by default, not by this
    /// policy). Every byte is echoed once it reads; then, silent, it is
    /// closed one timeout after the last activity.
    #[test]
    fn no_timeout_while_flow_control_has_paused_reading() {
        let mut h = Harness::new(IdleTimeout::new(Echo, TIMEOUT));
        h.set_peer_window(Some(0));
        let sent: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
        h.feed_chunks(&sent, 1024);
        assert!(h.is_reading_paused(), "the echoes passed the high water mark");
        assert!(h.unread() > 0, "input is left unread while paused");
        for _ in 0..30 {
            h.advance(Duration::from_secs(20));
            h.peer_reads(1);
            assert_eq!(h.lost(), None, "timed out while the server was the one not reading");
        }
        assert!(h.is_reading_paused(), "30 bytes taken: still paused");
        assert!(!h.with_context(|cx| cx.is_closing()));
        h.set_peer_window(None);
        assert_eq!(h.written(), sent, "every byte echoed once the peer reads");
        h.advance(TIMEOUT - Duration::from_millis(1));
        assert_eq!(h.lost(), None);
        h.advance(Duration::from_millis(1));
        assert_eq!(h.lost(), Some(Reason::TimedOut));
    }

    /// A peer reading slowly (1 KiB every 20 s, never reaching the low
    /// water mark within a timeout) is not idle either, nor at the end,
    /// when it has sent everything and reads the last replies, reading no
    /// longer paused. Once it has read them all and says nothing more, it
    /// is closed a timeout later.
    #[test]
    fn a_slow_reader_stays() {
        let mut h = Harness::new(IdleTimeout::new(Echo, TIMEOUT));
        h.set_peer_window(Some(0));
        let sent = vec![b'x'; 128 * 1024];
        h.feed_chunks(&sent, 1024);
        while h.written().len() < sent.len() {
            h.advance(Duration::from_secs(20));
            h.peer_reads(1024);
            assert_eq!(h.lost(), None, "closed a slow reader after {} bytes", h.written().len());
        }
        assert_eq!(h.written(), sent);
        h.advance(TIMEOUT);
        assert_eq!(h.lost(), Some(Reason::TimedOut));
    }

    /// Reading paused by the protocol (its own back-pressure) with nothing
    /// queued: the peer cannot be heard, so it is not idle; once reading
    /// resumes, a whole timeout of silence closes it.
    #[test]
    fn no_timeout_while_the_protocol_has_paused_reading() {
        let mut h = Harness::new(IdleTimeout::new(Echo, TIMEOUT));
        h.with_context(|cx| cx.pause_reading());
        h.advance(10 * TIMEOUT + Duration::from_secs(30));
        assert_eq!(h.lost(), None);
        h.with_context(|cx| cx.resume_reading());
        h.advance(TIMEOUT - Duration::from_millis(1));
        assert_eq!(h.lost(), None, "closed before a whole timeout of silence after the pause");
        h.advance(TIMEOUT);
        assert_eq!(h.lost(), Some(Reason::TimedOut));
    }

    /// A zero timeout never closes.
    #[test]
    fn zero_disables() {
        let mut h = Harness::new(IdleTimeout::new(Echo, Duration::ZERO));
        h.advance(Duration::from_secs(3600 * 24));
        assert_eq!(h.lost(), None);
    }
}
/// Memory per idle connection is mostly the connection's slot and its
/// protocol object: the usual line protocol (an idle timeout around a line
/// framer) stays in the allocator's 128-byte class (120 bytes asked, plus
/// the allocator's 8-byte header).
#[cfg(test)]
mod size {
    use crate::framing::{FrameHandler, Framed, Framer, Lines};

    struct Handler;

    impl FrameHandler<Lines> for Handler {
        fn frame_received(&mut self, _: &mut crate::Context<'_>, _: &mut Framer<Lines>, _: &[u8]) {}
    }

    #[test]
    fn an_idle_timeout_around_a_line_framer_is_at_most_120_bytes() {
        assert!(std::mem::size_of::<Lines>() <= 48, "Lines is {} bytes", std::mem::size_of::<Lines>());
        let size = std::mem::size_of::<super::IdleTimeout<Framed<Lines, Handler>>>();
        assert!(size <= 120, "IdleTimeout<Framed<Lines, _>> is {size} bytes");
    }
}
