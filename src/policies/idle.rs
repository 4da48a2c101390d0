//! Closing connections that say nothing for too long.

use std::time::Duration;

use crate::{Context, Protocol, Reason, TimerId};

/// Wraps a protocol and closes its connection (flushing first) when the
/// peer sends nothing for `timeout`; `connection_lost` then gets
/// [`Reason::TimedOut`]. Every read pushes the deadline back, in O(1) (the
/// timer queue defers the work to when the old deadline comes).
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
}

impl<P: Protocol> IdleTimeout<P> {
    /// Closes `inner`'s connection after `timeout` of silence from the
    /// peer. A zero timeout disables it.
    pub fn new(inner: P, timeout: Duration) -> Self {
        IdleTimeout { inner, timeout, timer: None }
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
            self.timer = Some(cx.set_timer(self.timeout));
        }
        self.inner.connection_made(cx);
    }

    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if let Some(t) = self.timer {
            cx.reset_timer(t, self.timeout);
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
