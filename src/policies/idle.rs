//! Closing connections that say nothing for too long.

use std::time::{Duration, Instant};

use crate::{Context, Protocol, Reason, TimerId};

/// Wraps a protocol and closes its connection (flushing first) when the
/// peer sends nothing for `timeout`; `connection_lost` then gets
/// [`Reason::TimedOut`].
///
/// A read only notes the loop time (one store): the timer is not touched.
/// When it fires, the connection is closed if it has really been silent
/// for `timeout`; otherwise the timer is set again for what is left of the
/// timeout counted from the last read. So a busy connection costs one timer
/// event per `timeout`, not a timer update per read, and a silent one is
/// closed on time (to the loop clock's precision).
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
    /// The loop time of the last read (or of the connection's start).
    last_read: Option<Instant>,
}

impl<P: Protocol> IdleTimeout<P> {
    /// Closes `inner`'s connection after `timeout` of silence from the
    /// peer. A zero timeout disables it.
    pub fn new(inner: P, timeout: Duration) -> Self {
        IdleTimeout { inner, timeout, timer: None, last_read: None }
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
            self.last_read = Some(cx.now());
            self.timer = Some(cx.set_timer(self.timeout));
        }
        self.inner.connection_made(cx);
    }

    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if self.timer.is_some() {
            self.last_read = Some(cx.now());
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
        self.inner.resume_writing(cx);
    }

    fn reading_resumed(&mut self, cx: &mut Context<'_>) {
        self.inner.reading_resumed(cx);
    }

    fn timer_fired(&mut self, cx: &mut Context<'_>, timer: TimerId) {
        if Some(timer) == self.timer {
            let silent = self.last_read.map_or(self.timeout, |last| cx.now().saturating_duration_since(last));
            if silent < self.timeout {
                // Read since the timer was set: wait for the rest.
                self.timer = Some(cx.set_timer(self.timeout - silent));
                return;
            }
            self.timer = None;
            log::debug!("{}: idle for {:?}, closing", cx.conn_id(), self.timeout);
            cx.close_with(Reason::TimedOut);
        } else {
            self.inner.timer_fired(cx, timer);
        }
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
    fn a_busy_connection_stays_and_closes_one_timeout_after_its_last_read() {
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
