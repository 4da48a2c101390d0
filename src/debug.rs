//! The debug mode (asyncio's is the model): with
//! [`ReactorConfig::slow_callback`](crate::ReactorConfig::slow_callback)
//! set, every callback and every turn of the loop is timed, and any that
//! takes longer than the threshold is logged as a warning naming the
//! connection (or endpoint) and the callback. Off, it costs one test of an
//! `Option` per callback: no clock is read.

use std::fmt;
use std::time::{Duration, Instant};

use crate::core::Core;

/// The environment variable that turns the debug mode on for reactors
/// made with [`ReactorConfig::default`](crate::ReactorConfig::default):
/// `REEL_DEBUG=1` (a threshold of 100 ms) or `REEL_DEBUG=<milliseconds>`.
pub(crate) const ENV: &str = "REEL_DEBUG";

/// The threshold when the debug mode is on and none is given: 100 ms, as
/// asyncio's `slow_callback_duration`.
pub(crate) const DEFAULT_SLOW: Duration = Duration::from_millis(100);

/// The threshold `REEL_DEBUG` asks for, if any.
pub(crate) fn from_env() -> Option<Duration> {
    let value = std::env::var(ENV).ok()?;
    let value = value.trim();
    match value {
        "" | "0" | "false" | "off" | "no" => None,
        "1" | "true" | "on" | "yes" => Some(DEFAULT_SLOW),
        ms => match ms.parse::<u64>() {
            Ok(ms) => Some(Duration::from_millis(ms)),
            Err(_) => {
                log::warn!("{ENV}={ms:?} is not a number of milliseconds: debug mode at {DEFAULT_SLOW:?}");
                Some(DEFAULT_SLOW)
            }
        },
    }
}

impl Core {
    /// The time now if the debug mode is on (the only cost when it is
    /// off: this test).
    #[inline]
    pub(crate) fn debug_clock(&self) -> Option<Instant> {
        if self.config.slow_callback.is_some() {
            Some(Instant::now())
        } else {
            None
        }
    }

    /// Warns if what started at `started` took longer than the threshold.
    #[cold]
    pub(crate) fn took(&self, started: Instant, what: fmt::Arguments<'_>) {
        let Some(threshold) = self.config.slow_callback else { return };
        let took = started.elapsed();
        if took >= threshold {
            log::warn!("slow callback: {what} took {} ms (threshold {} ms)", took.as_millis(), threshold.as_millis());
        }
    }
}

/// Warns about a turn that worked (not counting the wait in poll) longer
/// than the threshold.
#[cold]
pub(crate) fn slow_turn(threshold: Duration, busy: Duration, events: usize) {
    if busy >= threshold {
        log::warn!(
            "slow turn: {} ms of work for {events} event(s) (threshold {} ms)",
            busy.as_millis(),
            threshold.as_millis()
        );
    }
}
