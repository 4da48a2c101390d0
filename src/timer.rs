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
use std::time::{Duration, Instant};

use slab::Slab;

use crate::TimerId;

#[derive(Debug)]
struct Entry<T> {
    generation: u32,
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
    next_generation: u32,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> TimerQueue<T> {
    pub(crate) fn new() -> Self {
        TimerQueue { heap: BinaryHeap::new(), slots: Slab::new(), next_seq: 0, next_generation: 1 }
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
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
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
mod tests {
    use super::*;

    fn drain(q: &mut TimerQueue<u32>, now: Instant) -> Vec<u32> {
        let limit = q.next_seq();
        let mut out = Vec::new();
        while let Some((id, v, _)) = q.pop_due(now, limit) {
            out.push(v);
            q.finish(id);
        }
        out
    }

    #[test]
    fn equal_deadlines_fire_in_order_set() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        for i in 0..100 {
            q.insert(t0 + Duration::from_millis(5), i);
        }
        q.insert(t0, 1000);
        assert_eq!(q.len(), 101);
        assert_eq!(drain(&mut q, t0 + Duration::from_millis(4)), vec![1000]);
        assert_eq!(q.len(), 100);
        assert_eq!(drain(&mut q, t0 + Duration::from_millis(5)), (0..100).collect::<Vec<_>>());
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn cancelled_never_fire_and_stale_ids_miss() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        let a = q.insert(t0, 1);
        let b = q.insert(t0, 2);
        assert!(q.cancel(a).is_some());
        assert!(q.cancel(a).is_none());
        assert!(!q.is_active(a));
        // The slot of `a` is reused with a new generation.
        let c = q.insert(t0, 3);
        assert_eq!(c.index, a.index);
        assert!(q.cancel(a).is_none());
        assert!(q.is_active(c));
        assert_eq!(drain(&mut q, t0), vec![2, 3]);
        assert!(!q.is_active(b));
    }

    #[test]
    fn reset_later_and_earlier() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut q = TimerQueue::new();
        let a = q.insert(t0 + ms(10), 1);
        let b = q.insert(t0 + ms(20), 2);
        assert!(q.reset(a, t0 + ms(30)));
        // Conservative: the old deadline may still show, never a later one.
        assert!(q.next_deadline() <= Some(t0 + ms(20)));
        assert!(drain(&mut q, t0 + ms(15)).is_empty(), "the reset timer does not fire at its old deadline");
        assert_eq!(drain(&mut q, t0 + ms(25)), vec![2]);
        assert!(q.reset(a, t0 + ms(5)));
        assert_eq!(q.next_deadline(), Some(t0 + ms(5)));
        assert_eq!(drain(&mut q, t0 + ms(6)), vec![1]);
        assert!(!q.is_active(b));
        assert_eq!(q.next_deadline(), None);
    }

    #[test]
    fn repeated_resets_keep_the_heap_small() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        let a = q.insert(t0 + Duration::from_secs(1), 1);
        for i in 0..10_000u64 {
            q.reset(a, t0 + Duration::from_secs(1) + Duration::from_micros(i));
        }
        assert_eq!(q.heap.len(), 1);
        for i in 0..10_000u64 {
            q.reset(a, t0 + Duration::from_secs(1) - Duration::from_micros(i));
        }
        assert!(q.heap.len() <= 130, "heap grew to {}", q.heap.len());
    }

    #[test]
    fn give_back_rearms_and_respects_reset_and_cancel() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut q = TimerQueue::new();
        let a = q.insert(t0, 7);
        let (id, v, _) = q.pop_due(t0, u64::MAX).unwrap();
        assert_eq!(id, a);
        assert!(!q.is_active(a));
        assert!(q.give_back(id, v, Some(t0 + ms(10))));
        assert_eq!(q.deadline(a), Some(t0 + ms(10)));
        let (id, v, _) = q.pop_due(t0 + ms(10), u64::MAX).unwrap();
        q.reset(id, t0 + ms(50));
        assert!(q.give_back(id, v, Some(t0 + ms(20))));
        assert_eq!(q.deadline(a), Some(t0 + ms(50)));
        let (id, v, _) = q.pop_due(t0 + ms(50), u64::MAX).unwrap();
        q.cancel(id);
        assert!(!q.give_back(id, v, Some(t0 + ms(60))));
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn timers_set_while_firing_wait_for_the_next_turn() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        q.insert(t0, 1);
        let limit = q.next_seq();
        let (id, _, _) = q.pop_due(t0, limit).unwrap();
        q.finish(id);
        q.insert(t0, 2);
        assert!(q.pop_due(t0, limit).is_none());
        assert!(q.pop_due(t0, q.next_seq()).is_some());
    }

    #[test]
    fn a_cancelled_timer_leaves_no_deadline() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        let a = q.insert(t0 + Duration::from_millis(5), 1);
        let b = q.insert(t0 + Duration::from_millis(9), 2);
        assert_eq!(q.cancel(a), Some(Some(1)));
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_millis(9)), "the dead entry is skipped");
        assert_eq!(q.cancel(b), Some(Some(2)));
        assert_eq!(q.next_deadline(), None);
        assert!(q.heap.is_empty(), "dead entries were dropped from the top");
        assert!(q.pop_due(t0 + Duration::from_secs(1), u64::MAX).is_none());
    }

    #[test]
    fn the_dead_entry_of_a_reused_slot_is_no_deadline() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        let a = q.insert(t0 + Duration::from_millis(5), 1);
        q.cancel(a);
        let b = q.insert(t0 + Duration::from_millis(9), 2);
        assert_eq!(b.index, a.index, "the slot is reused");
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_millis(9)));
        assert_eq!(q.heap.len(), 1, "the dead entry was dropped");
    }

    #[test]
    fn cancelling_the_firing_timer_gives_no_payload() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        let a = q.insert(t0, 5);
        let (id, payload, due) = q.pop_due(t0, u64::MAX).unwrap();
        assert_eq!((id, payload, due), (a, 5, t0));
        assert_eq!(q.cancel(a), Some(None), "the payload is lent out");
        assert_eq!(q.len(), 0);
    }

    /// A queue of `n` timers, all due at `t0 + 1 s`.
    fn queue_of(n: u32, t0: Instant) -> (TimerQueue<u32>, Vec<TimerId>) {
        let mut q = TimerQueue::new();
        let ids = (0..n).map(|i| q.insert(t0 + Duration::from_secs(1), i)).collect();
        (q, ids)
    }

    #[test]
    fn dead_entries_are_compacted_once_they_outnumber_live_ones() {
        let t0 = Instant::now();
        let (mut q, ids) = queue_of(100, t0);
        // Cancelling is O(1): the heap keeps the dead entries for now.
        for &id in &ids[..3] {
            q.cancel(id);
        }
        assert_eq!(q.heap.len(), 100);
        for &id in &ids[3..50] {
            q.cancel(id);
        }
        assert_eq!((q.len(), q.heap.len()), (50, 100), "as many dead as live: not yet");
        q.cancel(ids[50]);
        assert_eq!((q.len(), q.heap.len()), (49, 49), "more dead than live: rebuilt");
        // What is left still fires, in order.
        assert_eq!(drain(&mut q, t0 + Duration::from_secs(1)), (51..100).collect::<Vec<_>>());
    }

    #[test]
    fn many_cancelled_timers_do_not_pile_up_in_the_heap() {
        let t0 = Instant::now();
        let (mut q, ids) = queue_of(1000, t0);
        for (cancelled, &id) in ids.iter().enumerate() {
            q.cancel(id);
            let live = 1000 - cancelled - 1;
            assert!(q.heap.len() <= (2 * live).max(64) + 1, "{} heap entries for {live} timers", q.heap.len());
        }
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_small_heap_is_never_rebuilt() {
        let t0 = Instant::now();
        let (mut q, ids) = queue_of(64, t0);
        for &id in &ids[..60] {
            q.cancel(id);
        }
        assert_eq!((q.len(), q.heap.len()), (4, 64));
        assert_eq!(drain(&mut q, t0 + Duration::from_secs(1)), vec![60, 61, 62, 63]);
        assert!(q.heap.is_empty());
    }

    #[test]
    fn a_reset_to_the_same_deadline_pushes_nothing_but_moves_it_behind_its_peers() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        let a = q.insert(t0, 1);
        q.insert(t0, 2);
        assert!(q.reset(a, t0));
        assert_eq!(q.heap.len(), 2);
        assert_eq!(drain(&mut q, t0), vec![2, 1], "a reset counts as set now");
    }

    #[test]
    fn a_timer_reset_later_fires_at_its_new_deadline_exactly() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut q = TimerQueue::new();
        let a = q.insert(t0 + ms(10), 1);
        q.reset(a, t0 + ms(20));
        assert!(q.pop_due(t0 + ms(19), u64::MAX).is_none());
        let (id, payload, due) = q.pop_due(t0 + ms(20), u64::MAX).expect("due at its new deadline");
        assert_eq!((id, payload, due), (a, 1, t0 + ms(20)));
    }

    #[test]
    fn a_stale_id_is_neither_reset_nor_given_back() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        let a = q.insert(t0, 1);
        q.cancel(a);
        let b = q.insert(t0 + Duration::from_secs(1), 2);
        assert_eq!(b.index, a.index);
        assert!(!q.reset(a, t0));
        assert_eq!(q.deadline(b), Some(t0 + Duration::from_secs(1)));
        assert!(!q.give_back(a, 9, Some(t0)));
        q.finish(a);
        assert!(q.is_active(b));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn a_one_shot_timer_given_back_is_removed() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        let a = q.insert(t0, 1);
        let (id, payload, _) = q.pop_due(t0, u64::MAX).unwrap();
        assert_eq!(q.len(), 1, "a firing timer still counts");
        assert!(!q.give_back(id, payload, None));
        assert!(!q.is_active(a));
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_zero_interval_repeat_fires_once_per_turn() {
        // `call_every(Duration::ZERO)`: due again at once, but set during
        // the turn, so it waits for the next one instead of spinning.
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        let a = q.insert(t0, 1);
        for turn in 1..=3u64 {
            let now = t0 + Duration::from_millis(turn);
            let limit = q.next_seq();
            let (id, payload, scheduled) = q.pop_due(now, limit).expect("fires each turn");
            assert_eq!(id, a);
            let next = next_repeat(scheduled, Duration::ZERO, now);
            assert_eq!(next, now, "due again right away, never in the past");
            assert!(q.give_back(id, payload, Some(next)));
            assert!(q.pop_due(now, limit).is_none(), "not twice in one turn");
        }
    }

    #[test]
    fn next_repeat_with_a_zero_interval_is_now() {
        let t0 = Instant::now();
        assert_eq!(next_repeat(t0, Duration::ZERO, t0), t0);
        assert_eq!(next_repeat(t0, Duration::ZERO, t0 + Duration::from_secs(5)), t0 + Duration::from_secs(5));
    }

    fn tid(index: u32) -> TimerId {
        TimerId { index, generation: 1 }
    }

    #[test]
    fn owned_timers_forget_ended_ones() {
        let mut owned = OwnedTimers::default();
        assert!(owned.ids().is_empty());
        owned.push(tid(1));
        assert!(matches!(owned, OwnedTimers::One(_)), "one timer, no heap storage");
        assert_eq!(owned.ids(), [tid(1)]);
        owned.remove(tid(2));
        assert_eq!(owned.ids(), [tid(1)], "removing a timer not owned changes nothing");
        owned.remove(tid(1));
        assert!(matches!(owned, OwnedTimers::None));
        assert!(owned.ids().is_empty());

        for i in 1..=3 {
            owned.push(tid(i));
        }
        assert_eq!(owned.ids(), [tid(1), tid(2), tid(3)]);
        owned.remove(tid(4));
        assert_eq!(owned.ids(), [tid(1), tid(2), tid(3)]);
        owned.remove(tid(2));
        assert_eq!(owned.ids(), [tid(1), tid(3)]);
        owned.remove(tid(1));
        assert!(matches!(owned, OwnedTimers::One(t) if t == tid(3)), "back to no heap storage");
        owned.remove(tid(3));
        assert!(matches!(owned, OwnedTimers::None));
    }

    #[test]
    fn owned_timers_emptied_at_once_hold_nothing() {
        let mut owned = OwnedTimers::default();
        owned.push(tid(7));
        owned.push(tid(7));
        owned.remove(tid(7));
        assert!(matches!(owned, OwnedTimers::None));
    }

    #[test]
    fn next_repeat_skips_missed_intervals() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(next_repeat(t0, s(1), t0), t0 + s(1));
        assert_eq!(next_repeat(t0, s(1), t0 + s(1)), t0 + s(2));
        assert_eq!(next_repeat(t0, s(1), t0 + Duration::from_millis(3500)), t0 + s(4));
    }
}
