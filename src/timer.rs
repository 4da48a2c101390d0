//! The timer queue: a binary heap of deadlines over a slab of timers.
//!
//! - `insert` and `cancel` are O(log n) and O(1) (a cancelled timer's heap
//!   entry is dropped lazily when it reaches the top; the heap is rebuilt
//!   when dead entries outnumber live ones).
//! - `reset` to a *later* deadline, the common case of an idle timeout
//!   pushed back on every read, is O(1): only the slab entry changes, and
//!   the old heap entry, when it surfaces, is re-pushed with the new
//!   deadline. A reset to an earlier deadline pushes a new entry.
//! - Timers with equal deadlines fire in the order they were set (or last
//!   reset): the heap orders by `(deadline, sequence number)`.
//!
//! Time is a parameter: the queue never reads a clock.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::TimerId;

#[derive(Debug)]
struct Entry<T> {
    generation: NonZeroU32,
    /// The deadline the timer really has.
    deadline: Instant,
    /// Sequence number of the last set/reset: orders equal deadlines.
    seq: u64,
    /// The key of this timer's one live heap entry; `None` while it fires.
    queued: Option<(Instant, u64)>,
    /// `None` while the payload is lent out to a firing callback.
    payload: Option<T>,
}

/// A queue of timers carrying payloads of type `T`.
#[derive(Debug)]
pub(crate) struct TimerQueue<T> {
    heap: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    slots: Slab<Entry<T>>,
    next_seq: u64,
    next_generation: NonZeroU32,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> TimerQueue<T> {
    pub(crate) fn new() -> Self {
        TimerQueue { heap: BinaryHeap::new(), slots: Slab::new(), next_seq: 0, next_generation: NonZeroU32::MIN }
    }

    /// Number of timers, firing ones included.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The sequence number the next set or reset will get.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    fn bump_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Adds a timer due at `deadline`.
    pub(crate) fn insert(&mut self, deadline: Instant, payload: T) -> TimerId {
        let seq = self.bump_seq();
        let generation = self.next_generation;
        self.next_generation = self.next_generation.checked_add(1).unwrap_or(NonZeroU32::MIN);
        let entry = Entry { generation, deadline, seq, queued: Some((deadline, seq)), payload: Some(payload) };
        let index = self.slots.insert(entry);
        self.heap.push(Reverse((deadline, seq, index as u32)));
        TimerId { index: index as u32, generation }
    }

    fn entry(&self, id: TimerId) -> Option<&Entry<T>> {
        self.slots.get(id.index as usize).filter(|e| e.generation == id.generation)
    }

    fn entry_mut(&mut self, id: TimerId) -> Option<&mut Entry<T>> {
        self.slots.get_mut(id.index as usize).filter(|e| e.generation == id.generation)
    }

    /// Whether the timer is waiting to fire (not cancelled, not fired, not
    /// in the middle of firing unless it was re-armed).
    pub(crate) fn is_active(&self, id: TimerId) -> bool {
        self.entry(id).is_some_and(|e| e.queued.is_some())
    }

    /// The deadline of an active timer.
    #[cfg(test)]
    pub(crate) fn deadline(&self, id: TimerId) -> Option<Instant> {
        self.entry(id).filter(|e| e.queued.is_some()).map(|e| e.deadline)
    }

    /// Removes a timer (active or firing); returns its payload if it was
    /// not lent out. Returns `None` for an unknown or stale id.
    pub(crate) fn cancel(&mut self, id: TimerId) -> Option<Option<T>> {
        self.entry(id)?;
        let entry = self.slots.remove(id.index as usize);
        self.maybe_compact();
        Some(entry.payload)
    }

    /// Moves a timer to a new deadline, as if set now. Works on a firing
    /// timer too: it will fire again. Returns false for a stale id.
    pub(crate) fn reset(&mut self, id: TimerId, deadline: Instant) -> bool {
        let seq = self.bump_seq();
        let Some(entry) = self.entry_mut(id) else {
            return false;
        };
        entry.deadline = deadline;
        entry.seq = seq;
        let push = match entry.queued {
            // O(1): the live heap entry is earlier; it is re-pushed when it surfaces.
            Some((queued, _)) if queued <= deadline => false,
            _ => true,
        };
        if push {
            entry.queued = Some((deadline, seq));
            self.heap.push(Reverse((deadline, seq, id.index)));
            self.maybe_compact();
        }
        true
    }

    /// The earliest deadline in the queue, or earlier: dead entries are
    /// dropped from the top, but a live entry whose timer was reset to a
    /// later deadline is left where it is until it comes due (then
    /// [`pop_due`](Self::pop_due) re-queues it). So an idle timeout pushed
    /// back on every read costs O(1) per read, and at most one early wake-up
    /// per timeout period.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        loop {
            let &Reverse((deadline, seq, index)) = self.heap.peek()?;
            match self.slots.get(index as usize) {
                Some(e) if e.queued == Some((deadline, seq)) => return Some(deadline),
                _ => {
                    self.heap.pop();
                }
            }
        }
    }

    /// Like [`next_deadline`](Self::next_deadline), but re-queues extended
    /// entries until the top is exact.
    fn exact_top(&mut self) -> Option<Instant> {
        loop {
            let deadline = self.next_deadline()?;
            let &Reverse((_, seq, index)) = self.heap.peek()?;
            let e = &mut self.slots[index as usize];
            if (e.deadline, e.seq) == (deadline, seq) {
                return Some(deadline);
            }
            // Reset to a later deadline: re-queue under the real key.
            e.queued = Some((e.deadline, e.seq));
            let key = Reverse((e.deadline, e.seq, index));
            self.heap.pop();
            self.heap.push(key);
        }
    }

    /// The earliest timer due at `now` that was set before sequence number
    /// `seq_limit`, with its payload lent out and the deadline it was due.
    /// The caller gives the payload back with [`give_back`](Self::give_back) or ends the timer with
    /// [`finish`](Self::finish).
    pub(crate) fn pop_due(&mut self, now: Instant, seq_limit: u64) -> Option<(TimerId, T, Instant)> {
        if self.next_deadline()? > now {
            return None;
        }
        let deadline = self.exact_top()?;
        if deadline > now {
            return None;
        }
        let &Reverse((_, seq, index)) = self.heap.peek()?;
        if seq >= seq_limit {
            return None;
        }
        self.heap.pop();
        let entry = &mut self.slots[index as usize];
        entry.queued = None;
        let payload = entry.payload.take()?;
        Some((TimerId { index, generation: entry.generation }, payload, deadline))
    }

    /// Returns the payload of a fired timer. If the timer was reset while
    /// firing it stays at that deadline; otherwise it is re-armed at
    /// `repeat_at`, or removed when that is `None`. Returns whether the
    /// timer is still active; when it is not, the payload is dropped.
    pub(crate) fn give_back(&mut self, id: TimerId, payload: T, repeat_at: Option<Instant>) -> bool {
        let seq = self.bump_seq();
        let Some(entry) = self.entry_mut(id) else {
            return false;
        };
        if entry.queued.is_some() {
            entry.payload = Some(payload);
            return true;
        }
        match repeat_at {
            Some(deadline) => {
                entry.payload = Some(payload);
                entry.deadline = deadline;
                entry.seq = seq;
                entry.queued = Some((deadline, seq));
                self.heap.push(Reverse((deadline, seq, id.index)));
                true
            }
            None => {
                self.slots.remove(id.index as usize);
                false
            }
        }
    }

    /// Ends a fired timer whose payload was consumed.
    pub(crate) fn finish(&mut self, id: TimerId) {
        if self.entry(id).is_some() {
            self.slots.remove(id.index as usize);
        }
    }

    fn maybe_compact(&mut self) {
        if self.heap.len() > 64 && self.heap.len() > 2 * self.slots.len() {
            let live = self.slots.iter().filter_map(|(i, e)| e.queued.map(|(d, s)| Reverse((d, s, i as u32))));
            self.heap = live.collect();
        }
    }
}

/// The timers a connection or endpoint owns, cancelled when it ends. Holds
/// up to one without heap storage (an idle timeout), in 16 bytes.
#[derive(Debug, Default)]
pub(crate) enum OwnedTimers {
    #[default]
    None,
    One(TimerId),
    // Boxed on purpose: a thin pointer keeps the enum at 16 bytes per
    // connection, and more than one timer per connection is rare.
    #[allow(clippy::box_collection)]
    Many(Box<Vec<TimerId>>),
}

impl OwnedTimers {
    pub(crate) fn push(&mut self, id: TimerId) {
        *self = match std::mem::take(self) {
            OwnedTimers::None => OwnedTimers::One(id),
            OwnedTimers::One(first) => OwnedTimers::Many(Box::new(vec![first, id])),
            OwnedTimers::Many(mut all) => {
                all.push(id);
                OwnedTimers::Many(all)
            }
        };
    }

    pub(crate) fn remove(&mut self, id: TimerId) {
        match self {
            OwnedTimers::One(t) if *t == id => *self = OwnedTimers::None,
            OwnedTimers::Many(all) => {
                all.retain(|t| *t != id);
                match all.len() {
                    0 => *self = OwnedTimers::None,
                    1 => *self = OwnedTimers::One(all[0]),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    pub(crate) fn ids(&self) -> &[TimerId] {
        match self {
            OwnedTimers::None => &[],
            OwnedTimers::One(t) => std::slice::from_ref(t),
            OwnedTimers::Many(all) => all,
        }
    }
}

/// How far "never" is: a deadline this far away is never reached by a
/// running process, and adding it to a monotonic clock's reading cannot
/// overflow.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The instant `delay` after `now`, without panicking: a delay past the
/// clock's range (`Duration::MAX` among them) means "never" (a century).
#[inline]
pub(crate) fn deadline_after(now: Instant, delay: Duration) -> Instant {
    match now.checked_add(delay) {
        Some(deadline) => deadline,
        None => far_future(now),
    }
}

/// "Never", for a delay past the clock's range.
#[cold]
fn far_future(now: Instant) -> Instant {
    now.checked_add(NEVER).or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600))).unwrap_or(now)
}

/// The next deadline of a repeating timer scheduled at `scheduled` with
/// `interval`, skipping the intervals missed by `now` (as Twisted's
/// `LoopingCall` does): the first `scheduled + k * interval` after `now`.
pub(crate) fn next_repeat(scheduled: Instant, interval: Duration, now: Instant) -> Instant {
    let next = deadline_after(scheduled, interval);
    if next > now || interval.is_zero() {
        return next.max(now);
    }
    let behind = now.duration_since(scheduled).as_nanos();
    let step = interval.as_nanos();
    let k = behind / step + 1;
    let add = step.saturating_mul(k);
    deadline_after(scheduled, Duration::from_nanos(u64::try_from(add).unwrap_or(u64::MAX)))
}

#[cfg(test)]
mod tests;
