//! The connection table's invariants, recounted from scratch. The reactor
//! runs this after every turn in debug builds (and so in every test): a
//! counter that drifts from its recount is a bug in a transition.

use super::{flag, Phase};
use crate::core::Core;
use crate::id::Source;
use crate::{ConnId, ListenerId};

impl Core {
    /// Panics, naming the first broken invariant, if a count kept by the
    /// transitions differs from a recount of the connections' phases.
    pub(crate) fn check_invariants(&self) {
        let lingering = self.conns.iter().filter(|(_, c)| c.phase == Phase::Lingering).count();
        assert_eq!(self.lingering, lingering, "lingering count drifted from the phases");
        for (index, c) in self.conns.iter() {
            let id = ConnId { index: index as u32, generation: c.generation };
            assert_eq!(c.has(flag::IN_DIRTY), self.dirty.contains(&id), "{id}: IN_DIRTY disagrees with the dirty list");
            assert_eq!(
                c.has(flag::IN_READY),
                self.ready.contains(&Source::Conn(id)),
                "{id}: IN_READY disagrees with the ready list"
            );
            if c.phase == Phase::Lingering {
                assert!(c.protocol.is_none() && !c.has_protocol, "{id}: a lingering connection keeps its protocol");
                assert!(c.out.is_empty(), "{id}: a lingering connection holds output");
                assert!(c.timers.ids().is_empty(), "{id}: a lingering connection owns timers");
            } else if c.has_protocol {
                assert!(c.protocol.is_some(), "{id}: protocol missing outside a callback");
            }
            if c.out.is_empty() {
                assert!(!c.out.has_storage(), "{id}: an empty output buffer holds storage");
            }
            if c.has(flag::WRITE_SHUT) {
                assert!(
                    matches!(c.phase, Phase::WriteClosed | Phase::Closing),
                    "{id}: write side shut in phase {:?}",
                    c.phase
                );
                assert!(c.out.is_empty(), "{id}: output queued behind our EOF");
            }
            if c.phase == Phase::WriteClosed {
                assert!(
                    !c.has(flag::EOF) || c.has(flag::DOOMED),
                    "{id}: both directions done and the connection not ending"
                );
                assert!(!c.has(flag::READ_ONLY), "{id}: standard input write-closed");
                if !c.has(flag::WRITE_SHUT) {
                    assert!(
                        !c.out.is_empty() || c.has(flag::IN_DIRTY | flag::DOOMED),
                        "{id}: queue flushed, write side not shut, and no settle owed"
                    );
                }
            }
            for t in c.timers.ids().iter().chain(c.timer.iter()).chain(c.stall_timer.iter()) {
                assert!(self.timers.is_active(*t), "{id}: owns a timer that is gone ({t:?})");
            }
        }
        self.check_links();
        // Recounts without allocating (the allocation-counting tests run
        // with this check on): one pass over the connections per count.
        for (index, l) in self.listeners.iter() {
            let lid = ListenerId { index: index as u32, generation: l.generation };
            let from_here = || self.conns.iter().filter(move |(_, c)| c.listener == Some(lid));
            let active = from_here().filter(|(_, c)| !c.has(flag::REFUSED)).count();
            let refusing = from_here().filter(|(_, c)| c.has(flag::REFUSED)).count();
            assert_eq!(l.active, active, "{lid}: open count drifted");
            assert_eq!(l.refusing, refusing, "{lid}: refused-client count drifted");
            if l.opts.max_per_peer.is_some() {
                for (ip, n) in &l.per_peer {
                    let recount = from_here().filter(|(_, c)| !c.has(flag::REFUSED) && c.peer.ip() == *ip).count();
                    assert_eq!(*n, recount, "{lid}: count for {ip} drifted");
                }
                assert!(l.per_peer.values().all(|&n| n > 0), "{lid}: a peer with no connection is still counted");
                let peers_counted: usize = l.per_peer.values().sum();
                assert_eq!(peers_counted, active, "{lid}: per-peer table misses a peer");
            }
        }
        for id in &self.dirty {
            assert!(self.conn(*id).is_some(), "{id}: a freed connection is on the dirty list");
        }
        for source in &self.ready {
            if let Source::Conn(id) = source {
                assert!(self.conn(*id).is_some(), "{id}: a freed connection is on the ready list");
            }
        }
    }

    /// The producer/consumer links (see `links.rs`): symmetric lists,
    /// counts of full consumers, and the flags that follow from them.
    fn check_links(&self) {
        for (index, c) in self.conns.iter() {
            let id = ConnId { index: index as u32, generation: c.generation };
            assert_eq!(c.has(flag::LINKED), self.links.contains_key(&id), "{id}: LINKED disagrees with the links");
            let Some(links) = self.links.get(&id) else {
                assert!(
                    !c.has(flag::PRODUCER_PAUSED | flag::CONSUMER_FULL | flag::PULLING),
                    "{id}: a producer/consumer flag without links"
                );
                continue;
            };
            assert!(c.phase != Phase::Lingering, "{id}: an ended connection still linked");
            for feeder in &links.producers {
                let back = match feeder {
                    super::links::Feeder::Conn(p) => self.links.get(p).is_some_and(|l| l.consumers.contains(&id)),
                    super::links::Feeder::Push(p) => self
                        .pushers
                        .get(p.index as usize)
                        .is_some_and(|e| e.generation == p.generation && e.consumers.contains(&id)),
                };
                assert!(back, "{id}: producer {feeder:?} does not list it as a consumer");
            }
            let mut full = 0;
            for k in &links.consumers {
                let consumer = self.conn(*k);
                let back = self.links.get(k).is_some_and(|l| l.producers.contains(&super::links::Feeder::Conn(id)));
                assert!(back, "{id}: consumer {k} does not list it as a producer");
                full += u32::from(consumer.is_some_and(|k| k.has(flag::CONSUMER_FULL)));
            }
            assert_eq!(links.full, full, "{id}: full-consumer count drifted");
            assert_eq!(
                c.has(flag::PRODUCER_PAUSED),
                full > 0,
                "{id}: paused as a producer disagrees with its consumers"
            );
            if c.has(flag::CONSUMER_FULL) {
                assert!(!links.producers.is_empty(), "{id}: full with no producer to pause");
            }
            assert_eq!(c.has(flag::PULLING), links.pull.is_some(), "{id}: PULLING disagrees with its pull producer");
        }
        for id in self.links.keys() {
            assert!(self.conn(*id).is_some(), "{id}: links kept for a connection that is gone");
        }
        for (index, p) in self.pushers.iter() {
            let pid = crate::ProducerId { index: index as u32, generation: p.generation };
            assert!(p.producer.is_some(), "{pid}: missing outside its own call");
            assert!(!p.consumers.is_empty(), "{pid}: kept with no consumer");
            let mut full = 0;
            for c in &p.consumers {
                let consumer = self.conn(*c);
                let back = self.links.get(c).is_some_and(|l| l.producers.contains(&super::links::Feeder::Push(pid)));
                assert!(back, "{pid}: consumer {c} does not list it");
                full += u32::from(consumer.is_some_and(|k| k.has(flag::CONSUMER_FULL)));
            }
            assert_eq!(p.full, full, "{pid}: full-consumer count drifted");
            assert_eq!(p.told_paused, full > 0, "{pid}: not told of a crossing");
        }
    }
}
