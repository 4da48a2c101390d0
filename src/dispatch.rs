//! The parts of the loop that run user code: calling protocols, and the
//! settle phase that applies what they asked for.
//!
//! The rule everywhere: never call user code while a borrow of loop state
//! is held. A protocol is taken out of its slot, called with a
//! [`Context`] over the whole [`Core`], and put back; whatever it asked for
//! (writes, closes, timers) is applied by [`Core::settle`].

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::conn::{flag, Phase};
use crate::core::{conn_slot, Core};
use crate::transport::Stream;
use crate::{ConnId, Context, Protocol, ReactorContext, Reason};

mod datagram;
mod plain;

pub(crate) use self::datagram::errors_wait;

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
        self.read_conn_after(id, scratch, 0, 0);
    }

    /// [`read_conn`](Self::read_conn) after `reads` reads of `bytes` bytes
    /// in this dispatch already (the common path's first read).
    pub(crate) fn read_conn_after(&mut self, id: ConnId, scratch: &mut [u8], mut reads: usize, mut bytes: usize) {
        // A budget of 0 means one read, as for datagrams: never reading would
        // keep the connection on the ready list for ever.
        let (read_budget, byte_budget) = (self.config.read_budget.max(1), self.config.read_byte_budget.max(1));
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
        if plain::is_plain_read(event) && self.plain_read(id, scratch) {
            return;
        }
        self.conn_event_general(id, event, scratch);
    }

    /// [`conn_event`](Self::conn_event) for every event the common path
    /// does not take (out of line: the common path's frame stays small).
    #[inline(never)]
    fn conn_event_general(&mut self, id: ConnId, event: &mio::event::Event, scratch: &mut [u8]) {
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
    #[inline]
    pub(crate) fn settle(&mut self) {
        // Most dispatches leave nothing to settle (the common path flushes
        // its own answer): four length checks, inlined.
        if self.dirty.is_empty() && self.dirty_udp.is_empty() && self.dirty_unix.is_empty() && self.failed.is_empty() {
            return;
        }
        self.settle_lists();
    }

    /// [`settle`](Self::settle) when a list has entries.
    #[inline(never)]
    fn settle_lists(&mut self) {
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
}
