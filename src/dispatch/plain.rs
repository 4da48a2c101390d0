//! The common connection event, fused: a readable edge for an open TCP or
//! Unix stream connection with nothing queued, owed or paused. It is read,
//! handed to the protocol and its answer flushed with one look-up before
//! the callback and one after, instead of going through the general read
//! loop (a look-up per step) and the settle phase's dirty list.
//!
//! Whatever the callback did beyond queueing output on its own connection
//! (a close, a pause, output past the high water mark, writes to other
//! connections, a short write) is left to the general path: the settle
//! phase finds it on the dirty list as usual. A full read goes on in the
//! general read loop, with this read counted against the budget.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};

use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags};

use crate::conn::{flag, Phase};
use crate::core::{conn_slot, Core};
use crate::{ConnId, Context};

/// The flags a connection may carry and still take the common path.
const PLAIN: u32 = flag::FLOW_CONTROL;

/// Whether an event is a plain readable edge (writable may come with it:
/// epoll reports every ready direction on each edge), with no hang-up or
/// error to look at.
#[inline(always)]
pub(super) fn is_plain_read(event: &mio::event::Event) -> bool {
    event.is_readable() && !event.is_read_closed() && !event.is_error() && !event.is_write_closed()
}

impl Core {
    /// Serves a plain readable edge for a connection in the common state.
    /// Returns false, having done nothing, when the connection is in any
    /// other state: the general path then serves the event.
    #[inline(always)]
    pub(super) fn plain_read(&mut self, id: ConnId, scratch: &mut [u8]) -> bool {
        let Some(c) = conn_slot(&mut self.conns, id) else { return false };
        if c.phase != Phase::Open || c.flags & !PLAIN != 0 || !c.out.is_empty() || self.config.slow_callback.is_some() {
            return false;
        }
        let Some(fd) = c.stream.socket() else { return false };
        let n = match rustix::net::recv(fd, &mut *scratch, RecvFlags::empty()) {
            Ok((0, _)) => {
                log::trace!("{id}: eof");
                self.peer_eof(id);
                self.settle();
                return true;
            }
            Ok((n, _)) => n,
            Err(Errno::AGAIN) => return true,
            Err(Errno::INTR) => return false,
            Err(e) => {
                self.fail(id, &io::Error::from(e));
                self.settle();
                return true;
            }
        };
        log::trace!("{id}: read {n} bytes");
        self.counters.bytes_in += n as u64;
        match c.protocol.take() {
            Some(protocol) => self.plain_answer(id, protocol, &scratch[..n]),
            None => self.deliver(id, &scratch[..n]),
        }
        if n == scratch.len() {
            // Maybe more: the general loop reads on, within the budget.
            self.read_conn_after(id, scratch, 1, n);
        }
        self.settle();
        true
    }

    /// Calls `data_received`, puts the protocol back, and flushes the
    /// answer at once when it is all the callback asked for.
    #[inline(always)]
    fn plain_answer(&mut self, id: ConnId, mut protocol: Box<dyn crate::Protocol>, data: &[u8]) {
        let outer = self.answering.replace(id);
        let result = {
            let mut cx = Context::new(self, id);
            catch_unwind(AssertUnwindSafe(|| protocol.data_received(&mut cx, data)))
        };
        self.answering = outer;
        if let Err(payload) = result {
            return self.protocol_panicked(id, protocol, payload);
        }
        let Some(c) = conn_slot(&mut self.conns, id) else { return };
        // The slot is empty (the protocol was out): no drop to call.
        if let Some(other) = c.protocol.replace(protocol) {
            drop_displaced(other);
        }
        // Answered, and nothing else: the connection is the dirty list's
        // only entry, still open and plain.
        if c.flags & !PLAIN != flag::IN_DIRTY
            || c.phase != Phase::Open
            || c.stall_timer.is_some()
            || self.dirty.len() != 1
        {
            return;
        }
        // Marked with nothing queued (an empty write): nothing to send, as
        // in the settle phase. A send of nothing would still take a pending
        // error (a reset that came after the read), and the next read
        // would see a clean end of stream instead.
        if !c.out.is_empty() {
            let Some(fd) = c.stream.socket() else { return };
            // An error or a short write is the settle phase's to handle: it
            // writes again and sees it.
            let Ok(k) = rustix::net::send(fd, c.out.pending(), SendFlags::NOSIGNAL) else { return };
            log::trace!("{id}: wrote {k} bytes");
            self.counters.bytes_out += k as u64;
            c.out.consume(k, &mut self.pool);
            if !c.out.is_empty() {
                return;
            }
        }
        c.clear(flag::IN_DIRTY);
        self.dirty.clear();
    }
}

/// Drops a protocol found in a slot that should have been empty (never
/// happens: nothing puts a protocol into the slot of one that is out).
#[cold]
#[inline(never)]
fn drop_displaced(protocol: Box<dyn crate::Protocol>) {
    drop(protocol);
}
