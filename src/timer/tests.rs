//! The timer queue's unit tests: order, cancel, reset, compaction,
//! repeating timers, owned timer lists.

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
    TimerId { index, generation: std::num::NonZeroU32::MIN }
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
