//! A connection limit shared by several listeners, in one reactor or in
//! several (a [`ReactorGroup`](crate::ReactorGroup)'s, one per thread):
//! [`ConnectionLimit`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// At most `max` connections at once over every listener whose
/// [`ListenOptions::shared_limit`](crate::ListenOptions::shared_limit)
/// holds a clone of it (clones share one count, across threads). A client
/// over it is refused as one over `max_connections` is: the factory's
/// `busy_farewell`, then the close.
///
/// ```
/// let limit = reel::ConnectionLimit::new(1000);
/// // The same limit for the listener of every reactor of a group:
/// let opts = reel::ListenOptions { shared_limit: Some(limit.clone()), ..Default::default() };
/// assert_eq!((limit.max(), limit.in_use()), (1000, 0));
/// # let _ = opts;
/// ```
#[derive(Clone)]
pub struct ConnectionLimit {
    max: usize,
    in_use: Arc<AtomicUsize>,
}

impl ConnectionLimit {
    /// A limit of `max` connections at once, none in use.
    pub fn new(max: usize) -> ConnectionLimit {
        ConnectionLimit { max, in_use: Arc::new(AtomicUsize::new(0)) }
    }

    /// The most connections at once.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Connections that hold a place now (over every listener sharing
    /// the limit).
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// Takes a place for a new connection; false (nothing taken) at the
    /// limit.
    pub(crate) fn try_acquire(&self) -> bool {
        self.in_use.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max).then_some(n + 1)).is_ok()
    }

    /// Gives back a place taken by [`ConnectionLimit::try_acquire`].
    pub(crate) fn release(&self) {
        self.release_many(1);
    }

    /// Gives back `n` places (never below zero).
    pub(crate) fn release_many(&self, n: usize) {
        let _ = self.in_use.fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| Some(held.saturating_sub(n)));
    }
}

impl std::fmt::Debug for ConnectionLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionLimit").field("max", &self.max).field("in_use", &self.in_use()).finish()
    }
}

/// Clones of one limit are equal (they share the count); two limits made
/// apart are not, whatever their `max`.
impl PartialEq for ConnectionLimit {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.in_use, &other.in_use)
    }
}

impl Eq for ConnectionLimit {}

#[cfg(test)]
mod tests {
    use super::ConnectionLimit;

    #[test]
    fn places_are_taken_up_to_the_limit_and_given_back_across_clones_and_threads() {
        let limit = ConnectionLimit::new(100);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let l = limit.clone();
                std::thread::spawn(move || (0..60).filter(|_| l.try_acquire()).count())
            })
            .collect();
        let taken: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!((taken, limit.in_use()), (100, 100), "exactly the limit, no more");
        assert!(!limit.clone().try_acquire());
        limit.release();
        assert_eq!(limit.in_use(), 99);
        assert!(limit.try_acquire());
        assert_eq!(limit, limit.clone());
        assert_ne!(limit, ConnectionLimit::new(100));
        let empty = ConnectionLimit::new(1);
        empty.release();
        assert_eq!(empty.in_use(), 0, "never below zero");
    }
}
