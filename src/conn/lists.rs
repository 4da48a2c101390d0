//! Membership of the dirty list (connections with output to flush or a
//! change to apply in the settle phase) and the ready list (connections cut
//! off by a read budget, still readable), kept together with the
//! `IN_DIRTY` / `IN_READY` flags that make marking O(1) and idempotent.

use super::{flag, Conn};
use crate::core::Core;
use crate::id::Source;
use crate::ConnId;

/// Puts a connection on the dirty list unless it is on it (the write hot
/// path's form: the connection is already looked up).
#[inline]
pub(crate) fn push_dirty(dirty: &mut Vec<ConnId>, c: &mut Conn, id: ConnId) {
    if !c.has(flag::IN_DIRTY) {
        c.set(flag::IN_DIRTY);
        dirty.push(id);
    }
}

impl Core {
    /// Marks a connection for the settle phase: something changed that
    /// the settle phase applies (so its input state may have changed too).
    pub(crate) fn mark_dirty(&mut self, id: ConnId) {
        self.input_epoch = self.input_epoch.wrapping_add(1);
        if let Some(c) = crate::core::conn_slot(&mut self.conns, id) {
            push_dirty(&mut self.dirty, c, id);
        }
    }

    /// Takes the next connection off the dirty list. Its `IN_DIRTY` flag
    /// is cleared by `settle_conn`, the one consumer, with the lookup it
    /// makes anyway (a stale id is skipped there).
    #[inline]
    pub(crate) fn pop_dirty(&mut self) -> Option<ConnId> {
        self.dirty.pop()
    }

    /// Puts a connection on the ready list: it is still readable and no
    /// new edge will come for it.
    pub(crate) fn mark_ready(&mut self, id: ConnId) {
        if let Some(c) = self.conn_mut(id) {
            if !c.has(flag::IN_READY) {
                c.set(flag::IN_READY);
                self.ready.push_back(Source::Conn(id));
            }
        }
    }

    /// A connection was taken off the ready list to be served; false if it
    /// is gone.
    pub(crate) fn left_ready(&mut self, id: ConnId) -> bool {
        match self.conn_mut(id) {
            Some(c) => {
                c.clear(flag::IN_READY);
                true
            }
            None => false,
        }
    }
}
