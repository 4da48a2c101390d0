//! The datagram half of the dispatch: calling a UDP endpoint's protocol,
//! receiving in batches, and the endpoint's settle phase (its `started`,
//! errors and `stopped`). The same rule as the parent module: user code is
//! never called while a borrow of loop state is held.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::log_panic;
use crate::core::Core;
use crate::id::Source;
use crate::{DatagramContext, DatagramProtocol, UdpId};

impl Core {
    /// Calls `f` on an endpoint's protocol. A panic is logged; the endpoint
    /// goes on.
    pub(crate) fn call_udp(
        &mut self,
        id: UdpId,
        what: &'static str,
        f: impl FnOnce(&mut dyn DatagramProtocol, &mut DatagramContext<'_>),
    ) {
        let Some(mut protocol) = self.udp_mut(id).and_then(|u| u.protocol.take()) else {
            return;
        };
        let started = self.debug_clock();
        let result = {
            let mut cx = DatagramContext::new(self, id);
            catch_unwind(AssertUnwindSafe(|| f(protocol.as_mut(), &mut cx)))
        };
        if let Some(started) = started {
            self.took(started, format_args!("{id}: {what}"));
        }
        if let Err(payload) = result {
            datagram_protocol_panicked(id, payload);
        }
        if let Some(u) = self.udp_mut(id) {
            u.protocol = Some(protocol);
        }
    }

    /// Hands one received datagram to an endpoint's protocol (a panic is
    /// logged; the endpoint goes on). False, and nothing is delivered, if
    /// the endpoint is gone or closing.
    #[inline]
    fn deliver_datagram(&mut self, id: UdpId, data: &[u8], from: SocketAddr) -> bool {
        let Some(u) = self.udp_mut(id) else { return false };
        if u.closing {
            return false;
        }
        let protocol = u.protocol.take();
        self.counters.datagrams_in += 1;
        log::trace!("{id}: datagram of {} bytes from {from}", data.len());
        let Some(mut protocol) = protocol else { return true };
        let started = self.debug_clock();
        let result = {
            let mut cx = DatagramContext::new(self, id);
            catch_unwind(AssertUnwindSafe(|| protocol.datagram_received(&mut cx, data, from)))
        };
        if let Some(started) = started {
            self.took(started, format_args!("{id}: datagram_received"));
        }
        if let Err(payload) = result {
            datagram_protocol_panicked(id, payload);
        }
        if let Some(u) = self.udp_mut(id) {
            u.protocol = Some(protocol);
        }
        true
    }

    /// [`Core::settle`] after each datagram, where mostly nothing is dirty:
    /// then four length tests, inlined, and no call. Kept to the datagram
    /// loops (after a TCP callback something is mostly dirty).
    #[inline]
    fn settle_after_datagram(&mut self) {
        if self.unsettled() {
            self.settle();
        }
    }

    /// Whether a callback left something for [`Core::settle`].
    #[inline]
    fn unsettled(&self) -> bool {
        !(self.dirty.is_empty() && self.dirty_udp.is_empty() && self.dirty_unix.is_empty() && self.failed.is_empty())
    }

    pub(super) fn settle_udp(&mut self, id: UdpId) {
        let limit = self.config.udp_queue_limit;
        let Some(u) = self.udp_mut(id) else { return };
        u.in_dirty = false;
        // Replies of a batch in progress go before its errors and its stop.
        u.flush_outbox(limit);
        self.sync_udp_interest(id);
        let Some(u) = self.udp_mut(id) else { return };
        if !u.started {
            u.started = true;
            self.call_udp(id, "started", |p, cx| p.started(cx));
        }
        // In the order they happened (a batch's send errors are those of
        // its datagrams, in order). Errors that these callbacks cause (a
        // send that fails at once) wait for the next round of the loop:
        // an endpoint that answers every error with another failing send
        // must not hold the reactor here for ever.
        let round = self.ready_round;
        if let Some(u) = self.udp_mut(id) {
            if errors_wait(!u.errors.is_empty(), u.closing, &mut u.errors_round, round) {
                if !u.in_ready {
                    u.in_ready = true;
                    self.ready.push_back(Source::Udp(id));
                }
                return;
            }
        }
        let errors = self.udp_mut(id).map(|u| std::mem::take(&mut u.errors)).unwrap_or_default();
        for e in errors {
            self.call_udp(id, "error_received", |p, cx| p.error_received(cx, &e));
        }
        if self.udp(id).is_some_and(|u| u.closing) {
            self.call_udp(id, "stopped", |p, cx| p.stopped(cx));
            let owned = self.udp_mut(id).map(|u| std::mem::take(&mut u.timers)).unwrap_or_default();
            self.cancel_all(owned);
            let mut u = self.udps.remove(id.index as usize);
            self.counters.datagrams_out += u.sent;
            // What still waits in the send queue is never sent: dropped too.
            let unsent = u.queue.len() as u64;
            self.counters.datagrams_dropped += u.dropped + unsent;
            if let Err(e) = u.socket.deregister(&self.registry) {
                log::trace!("{id}: deregister failed: {e}");
            }
            if unsent > 0 {
                log::debug!("{id}: udp endpoint on {} closed, {unsent} queued datagrams dropped", u.local);
            } else {
                log::debug!("{id}: udp endpoint on {} closed", u.local);
            }
        }
    }

    /// Receives datagrams until drained or the budget is spent: from a UDP
    /// socket in batches of up to `udp_batch::BATCH` per system call
    /// (`recvmmsg`), from an in-memory one (the harness's) one by one. Each
    /// datagram is still its own `datagram_received`, followed by a settle
    /// phase; an endpoint that closes drops the rest of its batch.
    pub(crate) fn read_udp(&mut self, id: UdpId, scratch: &mut [u8]) {
        let drained = if self.udp(id).is_some_and(|u| u.socket.udp().is_some()) {
            let mut batch = self.udp_batch.take().unwrap_or_else(|| Box::new(crate::udp_batch::Batch::new()));
            if let Some(u) = self.udp_mut(id) {
                u.begin_batch();
            }
            let drained = self.read_udp_batches(id, &mut batch);
            self.udp_batch = Some(batch);
            let limit = self.config.udp_queue_limit;
            if self.udp_mut(id).is_some_and(|u| u.end_batch(limit)) {
                self.mark_udp_dirty(id);
            }
            drained
        } else {
            self.read_udp_singly(id, scratch)
        };
        if drained {
            return;
        }
        if let Some(u) = self.udp_mut(id) {
            if !u.in_ready {
                u.in_ready = true;
                self.ready.push_back(Source::Udp(id));
            }
        }
    }

    /// [`Core::read_udp`]'s loop; returns whether the socket was drained
    /// (or the endpoint is gone or closing) rather than the budget spent.
    /// The budget counts datagrams, and the receive that passes it is the
    /// turn's last (as `read_byte_budget`'s read for a connection): with
    /// UDP GRO a receive of up to 16 messages may hold up to 64 datagrams
    /// each.
    fn read_udp_batches(&mut self, id: UdpId, batch: &mut crate::udp_batch::Batch) -> bool {
        let mut budget = self.config.read_budget.max(1) * 4;
        while budget > 0 {
            let Some(u) = self.udp_mut(id) else { return true };
            if u.closing {
                return true;
            }
            let connected = u.connected;
            // Only an IPv6 socket hears IPv4-mapped senders: the others'
            // are canonical already.
            let mapped = u.local.is_ipv6();
            let Some(socket) = u.socket.udp() else { return true };
            let want = budget.min(crate::udp_batch::BATCH);
            let count = match batch.receive(socket.as_raw_fd(), want) {
                Ok(count) => count,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    budget -= 1;
                    self.call_udp(id, "error_received", |p, cx| p.error_received(cx, &e));
                    self.settle();
                    continue;
                }
            };
            batch.resolve_senders(mapped, connected);
            let datagrams = batch.len();
            if batch.lost() > 0 {
                self.coalesced_lost(id, batch.lost());
            }
            if !self.deliver_batch(id, batch) {
                return true;
            }
            // The replies of this batch go out before the next is read.
            let limit = self.config.udp_queue_limit;
            if self.udp_mut(id).is_some_and(|u| u.flush_outbox(limit)) {
                self.mark_udp_dirty(id);
                self.settle();
            }
            // Fewer than asked: the socket's queue was empty then, and with
            // edge-triggered epoll every datagram that arrives later raises
            // a new event, so a read that could only say `WouldBlock` is
            // skipped. Not for a connected socket: when an error (a
            // refusal) stops `recvmmsg` early, Linux keeps it for the next
            // call and raises no event, with datagrams possibly behind it.
            if count < want && connected.is_none() {
                return true;
            }
            budget = budget.saturating_sub(datagrams.max(1));
        }
        false
    }

    /// Received messages with datagrams lost (`Batch::lost`), each
    /// counted as one dropped datagram (at least one was). Not expected:
    /// a coalesced message fits the 64 KiB buffer, and its size message
    /// the 512-byte control buffer.
    #[cold]
    #[inline(never)]
    fn coalesced_lost(&mut self, id: UdpId, messages: usize) {
        self.counters.datagrams_dropped += messages as u64;
        log::warn!(
            "{id}: {messages} received message(s) cut short by the kernel (data or control messages): \
             datagrams dropped"
        );
    }

    /// Hands the datagrams of a receive batch to the endpoint's protocol,
    /// each its own `datagram_received` followed by a settle phase when a
    /// callback left something to settle. False, and the rest of the
    /// batch dropped, once the endpoint is gone or closing.
    ///
    /// The protocol is taken out of the endpoint, and a panic caught, once
    /// for a run of datagrams rather than once for each: a run ends when a
    /// callback leaves something to settle (a close, a send error, a
    /// write to a connection...), and the protocol is put back before
    /// that settle phase, which may call it (`error_received`,
    /// `stopped`). Nothing else can reach the endpoint meanwhile: only
    /// its own callbacks run, and whatever they change is on the dirty
    /// lists (closing always is), so that an endpoint still in a run is
    /// there and open. A panic in one callback is logged as before and
    /// the run goes on with the next datagram. With the slow-callback
    /// warning on, each callback is timed on its own
    /// ([`Core::deliver_singly`]).
    #[inline]
    fn deliver_batch(&mut self, id: UdpId, batch: &crate::udp_batch::Batch) -> bool {
        let mut cursor = crate::udp_batch::Cursor::default();
        if self.config.slow_callback.is_some() {
            return self.deliver_singly(id, batch, cursor);
        }
        let mut done = false;
        while !done {
            let Some(u) = self.udp_mut(id) else { return false };
            if u.closing {
                return false;
            }
            let Some(mut protocol) = u.protocol.take() else {
                return self.deliver_singly(id, batch, cursor);
            };
            let result = catch_unwind(AssertUnwindSafe(|| {
                self.deliver_run(id, protocol.as_mut(), batch, &mut cursor, &mut done)
            }));
            if let Err(payload) = result {
                datagram_protocol_panicked(id, payload);
            }
            if let Some(u) = self.udp_mut(id) {
                u.protocol = Some(protocol);
            }
            self.settle_after_datagram();
        }
        true
    }

    /// [`Core::deliver_batch`]'s run: calls `protocol` for the datagrams
    /// from `cursor` on (the cursor past each before its call, so that a
    /// panic resumes after it) until one leaves something to settle, or
    /// (`done` set) the batch ends.
    #[inline]
    fn deliver_run(
        &mut self,
        id: UdpId,
        protocol: &mut dyn DatagramProtocol,
        batch: &crate::udp_batch::Batch,
        cursor: &mut crate::udp_batch::Cursor,
        done: &mut bool,
    ) {
        while let Some((data, from)) = batch.next_datagram(cursor) {
            let Some(from) = from else { continue };
            self.counters.datagrams_in += 1;
            log::trace!("{id}: datagram of {} bytes from {from}", data.len());
            protocol.datagram_received(&mut DatagramContext::new(self, id), data, *from);
            if self.unsettled() {
                return;
            }
        }
        *done = true;
    }

    /// [`Core::deliver_batch`] from `cursor` on, one datagram at a time:
    /// the protocol taken and put back, and the callback timed, for each.
    #[cold]
    #[inline(never)]
    fn deliver_singly(
        &mut self,
        id: UdpId,
        batch: &crate::udp_batch::Batch,
        mut cursor: crate::udp_batch::Cursor,
    ) -> bool {
        while let Some((data, from)) = batch.next_datagram(&mut cursor) {
            let Some(from) = from else { continue };
            if !self.deliver_datagram(id, data, *from) {
                return false;
            }
            self.settle_after_datagram();
        }
        true
    }

    /// [`Core::read_udp`] for an in-memory endpoint: one datagram per call;
    /// returns whether it was drained (or the endpoint is gone or closing)
    /// rather than the budget spent.
    fn read_udp_singly(&mut self, id: UdpId, scratch: &mut [u8]) -> bool {
        for _ in 0..self.config.read_budget.max(1) * 4 {
            let Some(u) = self.udp_mut(id) else { return true };
            if u.closing {
                return true;
            }
            let r = match u.connected {
                Some(peer) => u.socket.recv(scratch).map(|n| (n, peer)),
                None => u.socket.recv_from(scratch).map(|(n, peer)| (n, crate::tcp::canonical(peer))),
            };
            match r {
                Ok((n, from)) => {
                    self.counters.datagrams_in += 1;
                    log::trace!("{id}: datagram of {n} bytes from {from}");
                    self.call_udp(id, "datagram_received", |p, cx| p.datagram_received(cx, &scratch[..n], from));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.call_udp(id, "error_received", |p, cx| p.error_received(cx, &e)),
            }
            self.settle();
        }
        false
    }

    /// A readiness event for a datagram endpoint.
    pub(crate) fn udp_event(&mut self, id: UdpId, event: &mio::event::Event, scratch: &mut [u8]) {
        let Some(u) = self.udp_mut(id) else { return };
        if event.is_writable() && !u.queue.is_empty() {
            if u.flush_queue() {
                self.mark_udp_dirty(id);
            }
            // Drained: readable events alone again.
            self.sync_udp_interest(id);
        }
        if event.is_readable() || event.is_error() {
            self.read_udp(id, scratch);
        }
        self.settle();
    }
}

/// Logs a datagram protocol's caught panic (the endpoint goes on). Out of
/// line: not on the path of a datagram.
#[cold]
#[inline(never)]
fn datagram_protocol_panicked(id: UdpId, payload: Box<dyn std::any::Any + Send>) {
    log_panic(&format!("{id}: datagram protocol callback"), payload.as_ref());
}

/// Whether a datagram endpoint's pending errors wait for the next round of
/// the ready list: they do when errors were already delivered in this
/// round (so a callback that causes an error for each error it hears
/// cannot hold the loop), unless the endpoint is closing. Notes the round
/// when they are to be delivered now.
pub(crate) fn errors_wait(pending: bool, closing: bool, delivered_in: &mut Option<u64>, round: u64) -> bool {
    if !pending {
        return false;
    }
    if !closing && *delivered_in == Some(round) {
        return true;
    }
    *delivered_in = Some(round);
    false
}
