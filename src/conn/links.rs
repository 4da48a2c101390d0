//! Producer/consumer links between connections (see [`crate::producer`]):
//! who pauses whom, counted so that a producer feeding several consumers
//! is paused while any of them is full.
//!
//! The rules, checked by `check.rs`:
//! - the lists are symmetric: `a` is among `b`'s consumers exactly when
//!   `b` is among `a`'s producers;
//! - `CONSUMER_FULL` is set on a consumer with producers whose queue
//!   passed its high mark and has not yet drained to the low mark;
//! - a producer's `full` is the number of its consumers with
//!   `CONSUMER_FULL`, and `PRODUCER_PAUSED` is set exactly when it is not
//!   zero;
//! - `PULLING` is set exactly when a pull producer is registered.
//!
//! Connections that take part in none of this have no `Links` (`None`):
//! the write path's check for them is one pointer test on its cold path.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{flag, Conn};
use crate::core::{conn_slot, Core};
use crate::producer::{Pull, PullProducer, PushProducer};
use crate::{ConnId, ProducerId, ReactorContext, Reason};

/// How much a pull producer may write for one consumer in one turn of the
/// loop before the others get their turn (like the read budget).
const PULL_BYTE_BUDGET: usize = 256 * 1024;

/// What feeds a consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Feeder {
    /// A connection: paused by not being read.
    Conn(ConnId),
    /// A registered push producer: told.
    Push(ProducerId),
}

/// A registered push producer (`Core::pushers`).
#[derive(Debug)]
pub(crate) struct Pusher {
    pub(crate) generation: u32,
    /// Taken out while one of its methods runs.
    pub(crate) producer: Option<Box<dyn PushProducer>>,
    pub(crate) consumers: Vec<ConnId>,
    /// How many of them are full.
    pub(crate) full: u32,
    /// What it was last told: paused or not.
    pub(crate) told_paused: bool,
}

/// One connection's producer/consumer links.
#[derive(Debug, Default)]
pub(crate) struct Links {
    /// Connections this one produces for.
    pub(crate) consumers: Vec<ConnId>,
    /// How many of them are full (`CONSUMER_FULL`).
    pub(crate) full: u32,
    /// What produces for this one.
    pub(crate) producers: Vec<Feeder>,
    /// The pull producer feeding this connection (taken out while it runs).
    pub(crate) pull: Option<Box<dyn PullProducer>>,
    /// The turn `pulled` counts for.
    pull_turn: u32,
    /// Bytes the pull producer wrote this turn.
    pulled: usize,
}

impl Links {
    fn is_empty(&self) -> bool {
        self.consumers.is_empty() && self.producers.is_empty() && self.pull.is_none()
    }
}

impl Core {
    /// A connection's links, if it has any.
    pub(crate) fn links_of(&self, id: ConnId) -> Option<&Links> {
        self.links.get(&id)
    }

    fn links_of_mut(&mut self, id: ConnId) -> Option<&mut Links> {
        self.links.get_mut(&id)
    }

    /// A connection's links, made if it has none (and marked `LINKED`).
    fn links_mut(&mut self, id: ConnId) -> &mut Links {
        if let Some(c) = conn_slot(&mut self.conns, id) {
            c.set(flag::LINKED);
        }
        self.links.entry(id).or_default()
    }

    /// Drops a connection's links once nothing is left in them.
    fn trim_links(&mut self, id: ConnId) {
        if self.links.get(&id).is_some_and(Links::is_empty) {
            self.links.remove(&id);
            if let Some(c) = conn_slot(&mut self.conns, id) {
                c.clear(flag::LINKED);
            }
        }
    }

    /// Whether producers feed this connection.
    fn has_producers(&self, id: ConnId) -> bool {
        self.links.get(&id).is_some_and(|l| !l.producers.is_empty())
    }
}

/// Whether a connection can still take part in a link.
fn linkable(c: &Conn) -> bool {
    use super::Phase;
    matches!(c.phase, Phase::Open | Phase::WriteClosed | Phase::Connecting) && !c.has(flag::DOOMED)
}

impl Core {
    /// Makes `producer` a producer for `consumer`'s output. False if either
    /// is gone or ending, they are the same, or the pair exists already.
    pub(crate) fn register_producer(&mut self, consumer: ConnId, producer: ConnId) -> bool {
        if consumer == producer {
            return false;
        }
        let ok = |c: Option<&Conn>| c.is_some_and(linkable);
        if !ok(self.conn(consumer)) || !ok(self.conn(producer)) {
            return false;
        }
        if !self.link(consumer, Feeder::Conn(producer)) {
            return false;
        }
        if self.conn(producer).is_some() {
            self.links_mut(producer).consumers.push(consumer);
        }
        true
    }

    /// Adds `feeder` to a consumer's producers (its own side of the link
    /// is made by the caller) and counts the consumer as full for it if it
    /// is. False if the link exists already.
    fn link(&mut self, consumer: ConnId, feeder: Feeder) -> bool {
        if self.links_of(consumer).is_some_and(|l| l.producers.contains(&feeder)) {
            return false;
        }
        let Some(c) = self.conn(consumer) else { return false };
        let (full, above) = (c.has(flag::CONSUMER_FULL), c.above_high());
        self.links_mut(consumer).producers.push(feeder);
        if full {
            self.add_full(feeder);
        } else if above {
            self.consumer_full(consumer);
        }
        true
    }

    /// Registers a push producer feeding `consumer`.
    pub(crate) fn register_push(&mut self, consumer: ConnId, producer: Box<dyn PushProducer>) -> Option<ProducerId> {
        if !self.conn(consumer).is_some_and(linkable) {
            return None;
        }
        let generation = self.generation();
        let entry = self.pushers.vacant_entry();
        let id = ProducerId { index: crate::core::checked_index(entry.key()).ok()?, generation };
        entry.insert(Pusher {
            generation,
            producer: Some(producer),
            consumers: vec![consumer],
            full: 0,
            told_paused: false,
        });
        self.link(consumer, Feeder::Push(id));
        Some(id)
    }

    fn pusher_mut(&mut self, id: ProducerId) -> Option<&mut Pusher> {
        self.pushers.get_mut(id.index as usize).filter(|p| p.generation == id.generation)
    }

    /// One more consumer for a push producer (fan-out).
    pub(crate) fn add_consumer(&mut self, id: ProducerId, consumer: ConnId) -> bool {
        if !self.conn(consumer).is_some_and(linkable) {
            return false;
        }
        let Some(p) = self.pusher_mut(id) else { return false };
        if p.consumers.contains(&consumer) {
            return false;
        }
        p.consumers.push(consumer);
        self.link(consumer, Feeder::Push(id))
    }

    /// Removes a push producer from every consumer and drops it (without
    /// `stop_producing`). False if it is gone.
    pub(crate) fn unregister_push(&mut self, id: ProducerId) -> bool {
        let Some(p) = self.pusher_mut(id) else { return false };
        let consumers = p.consumers.clone();
        for c in consumers {
            self.unlink(c, Feeder::Push(id));
        }
        // The last unlink removed it (a method of it may be running: then
        // it is dropped when that returns).
        true
    }

    /// Tells a push producer what it has not been told yet: paused when a
    /// consumer is full, resumed when none is. Skipped while one of its
    /// methods runs; the caller of that method tells it afterwards.
    fn sync_pusher(&mut self, id: ProducerId) {
        for _ in 0..8 {
            let Some(p) = self.pusher_mut(id) else { return };
            let paused = p.full > 0;
            if p.told_paused == paused {
                return;
            }
            let Some(mut producer) = p.producer.take() else { return };
            p.told_paused = paused;
            self.call_reactor("push producer", |cx| {
                if paused {
                    producer.pause_producing(cx);
                } else {
                    producer.resume_producing(cx);
                }
            });
            match self.pusher_mut(id) {
                Some(p) if !p.consumers.is_empty() => p.producer = Some(producer),
                // Its last consumer went away while it ran.
                _ => {
                    self.drop_pusher(id, producer);
                    return;
                }
            }
        }
    }

    /// A push producer with no consumer left: `stop_producing`, dropped.
    fn drop_pusher(&mut self, id: ProducerId, mut producer: Box<dyn PushProducer>) {
        if self.pusher_mut(id).is_some() {
            self.pushers.remove(id.index as usize);
        }
        self.call_reactor("push producer", |cx| producer.stop_producing(cx));
    }

    /// Ends a producer/consumer pair of connections. False if there was
    /// none.
    pub(crate) fn unregister_producer(&mut self, consumer: ConnId, producer: ConnId) -> bool {
        self.unlink(consumer, Feeder::Conn(producer))
    }

    /// Ends a producer/consumer pair; a push producer left with no
    /// consumer hears `stop_producing` and is dropped.
    fn unlink(&mut self, consumer: ConnId, feeder: Feeder) -> bool {
        let Some(full) = self.conn(consumer).map(|c| c.has(flag::CONSUMER_FULL)) else { return false };
        let Some(links) = self.links_of_mut(consumer) else { return false };
        let Some(i) = links.producers.iter().position(|p| *p == feeder) else { return false };
        links.producers.swap_remove(i);
        let none_left = links.producers.is_empty();
        if none_left {
            if let Some(c) = self.conn_mut(consumer) {
                c.clear(flag::CONSUMER_FULL);
            }
            self.mark_dirty(consumer);
        }
        self.trim_links(consumer);
        match feeder {
            Feeder::Conn(producer) => {
                if let Some(l) = self.links_of_mut(producer) {
                    l.consumers.retain(|x| *x != consumer);
                }
                if full {
                    self.sub_full(feeder);
                }
                self.trim_links(producer);
            }
            Feeder::Push(id) => {
                let Some(p) = self.pusher_mut(id) else { return true };
                p.consumers.retain(|x| *x != consumer);
                if full {
                    p.full = p.full.saturating_sub(1);
                }
                if p.consumers.is_empty() {
                    // Running now: dropped when its method returns.
                    if let Some(producer) = p.producer.take() {
                        self.drop_pusher(id, producer);
                    }
                } else if full {
                    self.sync_pusher(id);
                }
            }
        }
        true
    }

    /// A consumer's queue passed its high mark (inside the write that
    /// passed it): each of its producers counts it as full, and one that
    /// was not paused yet stops being read now.
    #[cold]
    pub(crate) fn consumer_full(&mut self, id: ConnId) {
        if !self.has_producers(id) {
            return;
        }
        let Some(c) = self.conn_mut(id) else { return };
        if c.has(flag::CONSUMER_FULL) {
            return;
        }
        c.set(flag::CONSUMER_FULL);
        let producers = self.links_of(id).map(|l| l.producers.clone()).unwrap_or_default();
        for p in producers {
            self.add_full(p);
        }
        self.mark_dirty(id);
    }

    /// A consumer drained to its low mark (or its producers leave): its
    /// producers stop counting it, and one with no full consumer left is
    /// read again.
    pub(crate) fn consumer_drained(&mut self, id: ConnId) {
        let Some(c) = self.conn_mut(id) else { return };
        if !c.has(flag::CONSUMER_FULL) {
            return;
        }
        c.clear(flag::CONSUMER_FULL);
        let producers = self.links_of(id).map(|l| l.producers.clone()).unwrap_or_default();
        for p in producers {
            self.sub_full(p);
        }
    }

    fn add_full(&mut self, feeder: Feeder) {
        let producer = match feeder {
            Feeder::Conn(c) => c,
            Feeder::Push(id) => {
                if let Some(p) = self.pusher_mut(id) {
                    p.full += 1;
                }
                return self.sync_pusher(id);
            }
        };
        self.input_epoch = self.input_epoch.wrapping_add(1);
        if self.conn(producer).is_none() {
            return;
        }
        let links = self.links_mut(producer);
        links.full += 1;
        let first = links.full == 1;
        let Some(p) = self.conn_mut(producer) else { return };
        if first {
            p.set(flag::PRODUCER_PAUSED);
            p.clear(flag::RESUME_OWED);
            log::trace!("{producer}: paused (a consumer is full)");
        }
    }

    fn sub_full(&mut self, feeder: Feeder) {
        let producer = match feeder {
            Feeder::Conn(c) => c,
            Feeder::Push(id) => {
                if let Some(p) = self.pusher_mut(id) {
                    p.full = p.full.saturating_sub(1);
                }
                return self.sync_pusher(id);
            }
        };
        let Some(links) = self.links_of_mut(producer) else { return };
        links.full = links.full.saturating_sub(1);
        let none = links.full == 0;
        let Some(p) = self.conn_mut(producer) else { return };
        if none && p.has(flag::PRODUCER_PAUSED) {
            p.clear(flag::PRODUCER_PAUSED);
            log::trace!("{producer}: resumed (no consumer is full)");
            self.reading_may_resume(producer);
        }
    }

    /// A connection ends: every pair it is in ends, and a pull producer
    /// feeding it hears `stop_producing`.
    pub(crate) fn unlink_all(&mut self, id: ConnId) {
        let Some(links) = self.links_of(id) else { return };
        let (producers, consumers) = (links.producers.clone(), links.consumers.clone());
        for p in producers {
            self.unlink(id, p);
        }
        for c in consumers {
            self.unregister_producer(c, id);
        }
        if let Some(mut pull) = self.take_pull(id) {
            self.call_reactor("pull producer", |cx| pull.stop_producing(cx, id));
        }
        self.links.remove(&id);
        if let Some(c) = self.conn_mut(id) {
            c.clear(flag::PRODUCER_PAUSED | flag::CONSUMER_FULL | flag::PULLING | flag::LINKED);
        }
    }

    /// Registers a pull producer for `consumer`. False if it is gone, not
    /// writable, or has one already.
    pub(crate) fn register_pull(&mut self, consumer: ConnId, producer: Box<dyn PullProducer>) -> bool {
        let Some(c) = self.conn_mut(consumer) else { return false };
        if !c.writable() || c.has(flag::PULLING) {
            return false;
        }
        c.set(flag::PULLING);
        self.links_mut(consumer).pull = Some(producer);
        self.mark_dirty(consumer);
        true
    }

    /// Unregisters and returns a connection's pull producer.
    pub(crate) fn take_pull(&mut self, consumer: ConnId) -> Option<Box<dyn PullProducer>> {
        self.conn_mut(consumer)?.clear(flag::PULLING);
        let pull = self.links_of_mut(consumer).and_then(|l| l.pull.take());
        self.trim_links(consumer);
        pull
    }

    /// Asks a consumer's pull producer for more while its queue is at or
    /// below the low mark, up to the turn's budget (then the connection
    /// waits on the ready list for the next turn).
    pub(crate) fn pull(&mut self, id: ConnId) {
        let turn = self.turn;
        loop {
            let Some(c) = conn_slot(&mut self.conns, id) else { return };
            let before = c.out.len();
            if !c.has(flag::PULLING) || before > c.limits.low_water as usize || !c.writable() {
                return;
            }
            let Some(links) = self.links.get_mut(&id) else { return };
            if links.pull_turn != turn {
                links.pull_turn = turn;
                links.pulled = 0;
            }
            if links.pulled >= PULL_BYTE_BUDGET {
                return self.mark_ready(id);
            }
            let Some(mut producer) = links.pull.take() else { return };
            let result = {
                let mut cx = ReactorContext::new(self);
                catch_unwind(AssertUnwindSafe(|| producer.resume_producing(&mut cx, id)))
            };
            let Some(c) = conn_slot(&mut self.conns, id) else { return };
            let wrote = c.out.len().saturating_sub(before);
            match result {
                Ok(Pull::More) if c.has(flag::PULLING) => {
                    let links = self.links_mut(id);
                    links.pull = Some(producer);
                    links.pulled += wrote;
                    if wrote == 0 {
                        // Nothing now: ask again next turn.
                        return self.mark_ready(id);
                    }
                }
                // Unregistered during the call: it is dropped.
                Ok(Pull::More) => return,
                Ok(Pull::Done) => {
                    self.take_pull(id);
                    return;
                }
                Err(payload) => {
                    crate::dispatch::log_panic(&format!("{id}: pull producer"), payload.as_ref());
                    self.take_pull(id);
                    self.abort(id, Reason::ProtocolPanicked);
                    return;
                }
            }
        }
    }
}
