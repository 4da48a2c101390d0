//! The time source of timers: the monotonic system clock, or a manual
//! clock that tests drive by hand (Twisted's `task.Clock`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a reactor's timers read the time.
///
/// ```
/// use std::time::Duration;
/// let clock = reel::Clock::manual();
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now() - t0, Duration::from_secs(5));
/// ```
#[derive(Debug, Clone)]
pub struct Clock {
    manual: Option<Arc<ManualState>>,
}

#[derive(Debug)]
struct ManualState {
    base: Instant,
    offset_nanos: AtomicU64,
}

impl Clock {
    /// The monotonic system clock.
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A clock that only moves when [`advance`](Clock::advance) is called.
    /// Clones share the same time.
    pub fn manual() -> Clock {
        Clock { manual: Some(Arc::new(ManualState { base: Instant::now(), offset_nanos: AtomicU64::new(0) })) }
    }

    /// Whether this is a manual clock.
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        match &self.manual {
            None => Instant::now(),
            Some(m) => m.base + Duration::from_nanos(m.offset_nanos.load(Ordering::Acquire)),
        }
    }

    /// Moves a manual clock forward by `by`.
    ///
    /// # Panics
    ///
    /// Panics on the system clock, which cannot be moved.
    pub fn advance(&self, by: Duration) {
        match &self.manual {
            None => panic!("Clock::advance called on the system clock"),
            Some(m) => {
                let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
                m.offset_nanos.fetch_add(nanos, Ordering::AcqRel);
            }
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}
