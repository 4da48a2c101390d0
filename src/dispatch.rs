//! The parts of the loop that run user code: calling protocols, and the
//! settle phase that applies what they asked for.
//!
//! The rule everywhere: never call user code while a borrow of loop state
//! is held. A protocol is taken out of its slot, called with a
//! [`Context`] over the whole [`Core`], and put back; whatever it asked for
//! (writes, closes, timers) is applied by [`Core::settle`].

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::conn::{flag, Phase};
use crate::core::{conn_slot, Core};
use crate::id::Source;
use crate::transport::Stream;
use crate::{ConnId, Context, DatagramContext, DatagramProtocol, Protocol, ReactorContext, Reason, UdpId};

/// Logs a datagram protocol's caught panic (the endpoint goes on). Out of
/// line: not on the path of a datagram.
#[cold]
#[inline(never)]
fn datagram_protocol_panicked(id: UdpId, payload: Box<dyn std::any::Any + Send>) {
    log_panic(&format!("{id}: datagram protocol callback"), payload.as_ref());
}

/// Logs a caught panic payload.
pub(crate) fn log_panic(what: &str, payload: &(dyn std::any::Any + Send)) {
    let msg = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string panic payload)");
    log::error!("{what} panicked: {msg}");
}

impl Core {
    /// Calls `f` on a connection's protocol with a context for it. Returns
    /// false if there was no protocol to call. A panic dooms the connection.
    ///
    /// `what` names the callback for the debug mode's slow-callback
    /// warning ([`ReactorConfig::slow_callback`](crate::ReactorConfig::slow_callback)).
    #[inline]
    pub(crate) fn call_conn(
        &mut self,
        id: ConnId,
        what: &'static str,
        f: impl FnOnce(&mut dyn Protocol, &mut Context<'_>),
    ) -> bool {
        // One test on the hot path; the timing is out of line.
        if self.config.slow_callback.is_some() {
            return self.call_conn_timed(id, what, f);
        }
        self.call_conn_untimed(id, f)
    }

    /// [`call_conn`](Core::call_conn) in the debug mode.
    #[cold]
    #[inline(never)]
    fn call_conn_timed(
        &mut self,
        id: ConnId,
        what: &'static str,
        f: impl FnOnce(&mut dyn Protocol, &mut Context<'_>),
    ) -> bool {
        let started = std::time::Instant::now();
        let called = self.call_conn_untimed(id, f);
        if called {
            self.took(started, format_args!("{id}: {what}"));
        }
        called
    }

    #[inline(always)]
    fn call_conn_untimed(&mut self, id: ConnId, f: impl FnOnce(&mut dyn Protocol, &mut Context<'_>)) -> bool {
        let Some(mut protocol) = self.conn_mut(id).and_then(|c| c.protocol.take()) else {
            return false;
        };
        let result = {
            let mut cx = Context::new(self, id);
            catch_unwind(AssertUnwindSafe(|| f(protocol.as_mut(), &mut cx)))
        };
        match result {
            Ok(()) => {
                if let Some(c) = conn_slot(&mut self.conns, id) {
                    c.protocol = Some(protocol);
                }
            }
            Err(payload) => self.protocol_panicked(id, protocol, payload),
        }
        true
    }

    /// A connection's protocol callback panicked: logged, the protocol put
    /// back (for `connection_lost`), the connection ended. Out of line.
    #[cold]
    #[inline(never)]
    fn protocol_panicked(&mut self, id: ConnId, protocol: Box<dyn Protocol>, payload: Box<dyn std::any::Any + Send>) {
        log_panic(&format!("{id}: protocol callback"), payload.as_ref());
        if let Some(c) = conn_slot(&mut self.conns, id) {
            c.protocol = Some(protocol);
            if c.phase != Phase::Lingering {
                c.reason = Some(Reason::ProtocolPanicked);
                c.out.release(&mut self.pool);
                c.set(flag::DOOMED | flag::GAVE_UP);
                self.mark_dirty(id);
            }
        }
    }

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

    /// Calls a reactor-level closure.
    pub(crate) fn call_reactor(&mut self, what: &str, f: impl FnOnce(&mut ReactorContext<'_>)) {
        let started = self.debug_clock();
        let result = {
            let mut cx = ReactorContext::new(self);
            catch_unwind(AssertUnwindSafe(|| f(&mut cx)))
        };
        if let Some(started) = started {
            self.took(started, format_args!("{what}"));
        }
        if let Err(payload) = result {
            log_panic(what, payload.as_ref());
        }
    }

    /// Hands received bytes to a connection's protocol, the same way for a
    /// socket read and for the in-memory harness.
    pub(crate) fn deliver(&mut self, id: ConnId, data: &[u8]) {
        match self.conn(id) {
            Some(c) if c.phase == Phase::Open && !c.has(flag::DOOMED) => {}
            // After write_eof: still reading (kept apart so that the open
            // case stays one comparison).
            Some(c) if c.phase == Phase::WriteClosed && !c.has(flag::DOOMED) => {}
            _ => return, // closing, lingering or gone: input is discarded
        }
        self.answer_input(id, "data_received", |p, cx| p.data_received(cx, data));
    }

    /// Calls an input callback of a connection's protocol, noting that
    /// what it writes to that connection answers its input.
    pub(crate) fn answer_input(
        &mut self,
        id: ConnId,
        what: &'static str,
        f: impl FnOnce(&mut dyn Protocol, &mut Context<'_>),
    ) {
        let outer = self.answering.replace(id);
        self.call_conn(id, what, f);
        self.answering = outer;
    }

    /// Reads a connection until drained, its budget is spent, or it pauses.
    ///
    /// A short read counts as drained for a socket (the next edge tells of
    /// more data), except once an event told of the peer's end
    /// (`READ_CLOSED`): no further edge comes for that, so reading goes on
    /// until it is seen. A terminal or an in-memory transport is read until
    /// it would block. While paused, nothing is read: the peer's bytes wait
    /// in the kernel (back-pressure), except that a closing or lingering
    /// connection reads and discards, to see the peer's end.
    pub(crate) fn read_conn(&mut self, id: ConnId, scratch: &mut [u8]) {
        let mut reads = 0;
        let mut bytes = 0;
        let (read_budget, byte_budget) = (self.config.read_budget, self.config.read_byte_budget);
        loop {
            let Some(c) = self.conn_mut(id) else { return };
            let discarding = c.phase == Phase::Lingering || c.phase == Phase::Closing;
            if c.has(flag::EOF) || c.has(flag::DOOMED) || c.phase == Phase::Connecting {
                return;
            }
            if !discarding && (c.reading_paused() || c.has(flag::RESUME_OWED)) {
                return;
            }
            if reads >= read_budget || bytes >= byte_budget {
                self.mark_ready(id);
                return;
            }
            match c.stream.read(scratch) {
                Ok(0) => {
                    log::trace!("{id}: eof");
                    self.peer_eof(id);
                    return;
                }
                Ok(n) => {
                    reads += 1;
                    bytes += n;
                    log::trace!("{id}: read {n} bytes");
                    let short_read_drains = c.stream.short_read_drains();
                    self.counters.bytes_in += n as u64;
                    if !discarding {
                        self.deliver(id, &scratch[..n]);
                    }
                    if n < scratch.len() {
                        let flags = self.conn(id).map_or(0, |c| c.flags);
                        if flags & flag::ALWAYS_READY != 0 {
                            self.mark_ready(id);
                            return;
                        }
                        // A short read drained the socket (epoll edge
                        // semantics): the next edge will tell of more. Not
                        // when the peer's EOF came in the same edge as the
                        // data: no edge will come for it, so read on to it.
                        if short_read_drains && flags & flag::READ_CLOSED == 0 {
                            return;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(id, &e);
                    return;
                }
            }
        }
    }

    /// A readiness event for a connection.
    pub(crate) fn conn_event(&mut self, id: ConnId, event: &mio::event::Event, scratch: &mut [u8]) {
        let Some(c) = self.conn_mut(id) else {
            log::trace!("{id}: stale event dropped");
            return;
        };
        if c.phase == Phase::Connecting {
            self.finish_connect(id);
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            if let Some(c) = self.conn_mut(id) {
                c.clear(flag::WRITE_BLOCKED);
                if !c.out.is_empty() || c.phase == Phase::Closing || c.stream.wants_write() {
                    self.mark_dirty(id);
                }
            }
        }
        if event.is_read_closed() || event.is_error() {
            if let Some(c) = self.conn_mut(id) {
                c.set(flag::READ_CLOSED);
            }
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.read_conn(id, scratch);
        }
        if event.is_error() || event.is_write_closed() {
            self.hang_up(id);
        }
        self.settle();
    }

    /// An error or hang-up was reported. Reading notices it when the
    /// connection is read; this notices it when it is not (half-closed by
    /// the peer, paused, or flushing with nothing to read), so that a reset
    /// ends the connection in every phase. Cold: not on the path of a
    /// plain read.
    #[cold]
    pub(crate) fn hang_up(&mut self, id: ConnId) {
        let Some(c) = self.conn_mut(id) else { return };
        if c.has(flag::DOOMED) || c.phase == Phase::Connecting {
            return;
        }
        match c.stream.take_error() {
            Ok(Some(e)) | Err(e) => self.fail(id, &e),
            // A hang-up without an error while our write side is open:
            // for a transport where that means a reset (TCP), the peer's.
            Ok(None)
                if c.stream.hang_up_is_reset()
                    && matches!(c.phase, Phase::Open | Phase::WriteClosed | Phase::Closing)
                    // Once our side is shut (write_eof), a hang-up is the
                    // peer's EOF meeting ours, not a reset.
                    && !c.has(flag::WRITE_SHUT)
                    && (c.has(flag::EOF) || c.reading_paused()) =>
            {
                self.fail(id, &io::ErrorKind::ConnectionReset.into());
            }
            Ok(None) => {}
        }
    }

    /// A connecting socket reported something: connected, or failed.
    #[cold]
    fn finish_connect(&mut self, id: ConnId) {
        if !self.dials.is_empty() {
            // A host name's second attempt may be the one that answered.
            self.check_racer(id);
        }
        let Some(c) = self.conn_mut(id) else { return };
        if let Stream::Other(_) = c.stream {
            return self.establish(id);
        }
        let outcome = match &c.stream {
            Stream::Tcp(s) => match s.take_error() {
                Ok(Some(e)) | Err(e) => Err(e),
                Ok(None) => match s.peer_addr() {
                    Ok(peer) => Ok((peer, s.local_addr().ok())),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => return, // still in progress
                    Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => return,
                    Err(e) => Err(e),
                },
            },
            // A Unix connect completes at once or fails at once: a
            // connection that exists is connected. Its addresses are read
            // from the socket when asked (`Context::peer_address`).
            Stream::Unix(s) => match s.take_error() {
                Ok(Some(e)) | Err(e) => Err(e),
                Ok(None) => Ok((c.peer, None)),
            },
            _ => return,
        };
        match outcome {
            Ok((peer, local)) => {
                if !self.dials.is_empty() {
                    self.end_dial(id);
                }
                self.connected(id, peer, local)
            }
            // A host name's next address, if one is left.
            Err(e) if self.next_attempt(id, &e) => {}
            Err(e) => self.fail(id, &e),
        }
    }

    /// Moves a transport that establishes itself (TLS: the TCP connect,
    /// then the handshake) along; `connection_made` once it is done.
    pub(crate) fn establish(&mut self, id: ConnId) {
        let Some(c) = self.conn_mut(id) else { return };
        let Stream::Other(t) = &mut c.stream else { return };
        match t.establish() {
            Ok(crate::transport::Establish::Pending) => {}
            Ok(crate::transport::Establish::LinkUp(handshake)) => {
                c.limits.connect_timeout_ms = u32::try_from(handshake.as_millis()).unwrap_or(u32::MAX);
                self.arm_phase_deadline(id);
                // The handshake's first flight may be out already: go on.
                self.establish(id);
            }
            Ok(crate::transport::Establish::Done) => {
                let addrs = t.addrs();
                let (local, peer) = addrs.map_or((None, c.peer), |(l, p)| (Some(l), p));
                self.connected(id, peer, local);
                // Plaintext may have come with the handshake's last flight:
                // no new edge will come for it.
                self.mark_ready(id);
            }
            Err(e) => self.fail(id, &e),
        }
    }

    /// Applies everything callbacks asked for, until nothing is left:
    /// flush dirty connections, deliver water-mark changes, end connections.
    pub(crate) fn settle(&mut self) {
        loop {
            if let Some(id) = self.pop_dirty() {
                self.settle_conn(id);
            } else if let Some(id) = self.dirty_udp.pop() {
                self.settle_udp(id);
            } else if let Some(id) = self.dirty_unix.pop() {
                self.settle_unix_dgram(id);
            } else if !self.failed.is_empty() {
                self.report_failed();
            } else {
                return;
            }
        }
    }

    /// Tells one client protocol whose connection could not be made (out
    /// of line: the settle loop's frame stays small for the common case).
    #[cold]
    #[inline(never)]
    fn report_failed(&mut self) {
        if let Some((id, mut protocol, reason)) = self.failed.pop() {
            let result = {
                let mut cx = Context::new(self, id);
                catch_unwind(AssertUnwindSafe(|| protocol.connection_failed(&mut cx, reason)))
            };
            if let Err(payload) = result {
                log_panic("connection_failed", payload.as_ref());
            }
        }
    }

    /// [`Core::settle`] after each datagram, where mostly nothing is dirty:
    /// then four length tests, inlined, and no call. Kept to the datagram
    /// loops (after a TCP callback something is mostly dirty).
    #[inline]
    fn settle_after_datagram(&mut self) {
        if !(self.dirty.is_empty() && self.dirty_udp.is_empty() && self.dirty_unix.is_empty() && self.failed.is_empty())
        {
            self.settle();
        }
    }

    fn settle_udp(&mut self, id: UdpId) {
        let limit = self.config.udp_queue_limit;
        let Some(u) = self.udp_mut(id) else { return };
        u.in_dirty = false;
        // Replies of a batch in progress go before its errors and its stop.
        u.flush_outbox(limit);
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
                    self.ready.push_back(crate::id::Source::Udp(id));
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
            self.counters.datagrams_dropped += u.dropped;
            if let Err(e) = u.socket.deregister(&self.registry) {
                log::trace!("{id}: deregister failed: {e}");
            }
            log::debug!("{id}: udp endpoint on {} closed", u.local);
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
            for i in 0..count {
                let Some((data, from)) = batch.datagram(i) else { break };
                let from = if mapped { from.map(crate::tcp::canonical) } else { from };
                let Some(from) = from.or(connected) else { continue };
                if !self.deliver_datagram(id, data, from) {
                    return true;
                }
                self.settle_after_datagram();
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
            budget = budget.saturating_sub(count.max(1));
        }
        false
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
        if event.is_writable() && !u.queue.is_empty() && u.flush_queue() {
            self.mark_udp_dirty(id);
        }
        if event.is_readable() || event.is_error() {
            self.read_udp(id, scratch);
        }
        self.settle();
    }
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
