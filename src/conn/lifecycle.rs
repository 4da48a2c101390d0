//! Every transition of a connection's phase, one function each, and the
//! counts that follow from phases (lingering connections, a listener's
//! open connections, per-peer counts, refused clients still flushing).

use std::io;
use std::net::SocketAddr;

use mio::Interest;

use super::{flag, stored_ms, Conn, Event, Phase};
use crate::core::{checked_index, conn_slot, Core, RunState, TimerTask};
use crate::id::Source;
use crate::transport::Stream;
use crate::{ConnId, ListenerId, Protocol, Reason, TcpOptions};

/// How a new connection relates to the listener that accepted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A client connection, standard input, or an in-memory connection.
    Own,
    /// Accepted by this listener; counts toward its limits.
    Accepted(ListenerId),
    /// Refused at this listener's limit: flushing its farewell, counted
    /// among the listener's refused clients still holding a descriptor.
    Refused(ListenerId),
    /// An in-memory connection of the test harness, standing for an
    /// accepted one.
    Harness,
}

impl Origin {
    /// Whether the connection is the server side, which `FlowControl::Auto`
    /// protects.
    fn answers_clients(self) -> bool {
        matches!(self, Origin::Accepted(_) | Origin::Harness)
    }
}

impl Core {
    /// Inserts a connection in the slab, registers its transport, and
    /// counts it toward its listener.
    pub(crate) fn insert_conn(
        &mut self,
        mut stream: Stream,
        protocol: Option<Box<dyn Protocol>>,
        phase: Phase,
        addrs: (SocketAddr, SocketAddr),
        opts: &TcpOptions,
        origin: Origin,
    ) -> io::Result<ConnId> {
        let generation = self.generation();
        let entry = self.conns.vacant_entry();
        let id = ConnId { index: checked_index(entry.key())?, generation };
        let interest = match &stream {
            Stream::Stdin(_) => Interest::READABLE,
            _ => Interest::READABLE | Interest::WRITABLE,
        };
        let mut always_ready = false;
        match &mut stream {
            Stream::Tcp(s) => self.registry.register(s, Source::Conn(id).token(), interest)?,
            Stream::Unix(s) => self.registry.register(s, Source::Conn(id).token(), interest)?,
            Stream::Stdin(r) => match self.registry.register(r, Source::Conn(id).token(), interest) {
                Ok(()) => {}
                // epoll refuses regular files: they are always readable.
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => always_ready = true,
                Err(e) => return Err(e),
            },
            Stream::Other(t) => {
                if let Some(source) = t.source() {
                    self.registry.register(source, Source::Conn(id).token(), interest)?;
                }
            }
        }
        let listener = match origin {
            Origin::Own | Origin::Harness => None,
            Origin::Accepted(l) | Origin::Refused(l) => Some(l),
        };
        let mut conn = Conn::new(generation, stream, protocol, phase, addrs, opts, listener);
        if matches!(origin, Origin::Refused(_)) {
            conn.set(flag::REFUSED);
        }
        if opts.flow_control == crate::FlowControl::Auto && origin.answers_clients() {
            conn.set(flag::FLOW_CONTROL);
        }
        if matches!(conn.stream, Stream::Stdin(_)) {
            conn.set(flag::READ_ONLY);
            conn.limits.linger_ms = 0;
        }
        if always_ready {
            conn.set(flag::ALWAYS_READY);
        }
        let peer_ip = addrs.1.ip();
        entry.insert(conn);
        if let Some(l) = listener.and_then(|l| self.listener_mut(l)) {
            if matches!(origin, Origin::Refused(_)) {
                l.refusing += 1;
            } else {
                l.active += 1;
                if l.opts.max_per_peer.is_some() {
                    *l.per_peer.entry(peer_ip).or_insert(0) += 1;
                }
            }
        }
        if phase != Phase::Open {
            self.arm_phase_deadline(id);
        }
        if always_ready {
            self.mark_ready(id);
        }
        Ok(id)
    }

    /// Calls `connection_made`; a connection made while the reactor drains
    /// is told to stop at once (a reconnecting client, say).
    pub(crate) fn made(&mut self, id: ConnId) {
        self.call_conn(id, "connection_made", |p, cx| p.connection_made(cx));
        if self.state == RunState::Draining && self.conn(id).is_some_and(Conn::is_live) {
            self.call_conn(id, "stop_requested", |p, cx| p.stop_requested(cx));
        }
        self.mark_dirty(id);
    }

    /// Connecting → Open.
    pub(crate) fn connected(&mut self, id: ConnId, peer: SocketAddr, local: Option<SocketAddr>) {
        let Some(c) = self.conn_mut(id) else { return };
        if c.phase != Phase::Connecting {
            return;
        }
        c.peer = peer;
        if let Some(local) = local {
            c.local = local;
        }
        c.phase = Phase::Open;
        let deadline = c.timer.take();
        if let Some(t) = deadline {
            self.timers.cancel(t);
        }
        log::debug!("{id}: connected to {peer}");
        self.made(id);
    }

    /// Arms the deadline of the phase the connection is in (connect
    /// timeout, close timeout, linger), replacing the previous phase's.
    pub(crate) fn arm_phase_deadline(&mut self, id: ConnId) {
        let Some(c) = self.conn_mut(id) else { return };
        let old = c.timer.take();
        let ms = match c.phase {
            Phase::Connecting => c.limits.connect_timeout_ms,
            Phase::Closing => c.limits.close_timeout_ms,
            Phase::Lingering => c.limits.linger_ms,
            // No deadline of its own: the output limits bound the flush,
            // and a half-closed peer may send for as long as it likes
            // (a protocol's idle timeout bounds that).
            Phase::Open | Phase::WriteClosed => u32::MAX,
        };
        if let Some(t) = old {
            self.timers.cancel(t);
        }
        if let Some(delay) = stored_ms(ms) {
            let t = self.add_timer(delay, TimerTask::PhaseDeadline(id));
            if let Some(c) = self.conn_mut(id) {
                c.timer = Some(t);
            }
        }
    }

    /// A phase's deadline passed.
    pub(crate) fn phase_deadline(&mut self, id: ConnId) {
        let Some(c) = self.conn_mut(id) else { return };
        c.timer = None;
        match c.phase {
            Phase::Connecting => {
                log::debug!("{id}: connect timed out");
                self.abort(id, Reason::TimedOut);
            }
            Phase::Closing => {
                log::debug!("{id}: close timed out with {} bytes unsent: aborting", c.out.len());
                self.abort(id, Reason::TimedOut);
            }
            Phase::Lingering => self.free_conn(id),
            // Armed in `Open` only by `start_tls`: the handshake's deadline.
            Phase::Open => self.handshake_deadline(id),
            Phase::WriteClosed => {}
        }
    }

    /// Open → Closing (flush, then end), or, while connecting, give up.
    /// Returns false for an unknown connection.
    pub(crate) fn close(&mut self, id: ConnId, reason: Option<Reason>) -> bool {
        let Some(c) = self.conn_mut(id) else { return false };
        match c.phase {
            Phase::Open | Phase::WriteClosed => {
                let reason = reason.unwrap_or(if c.has(flag::EOF) { Reason::PeerClosed } else { Reason::Closed });
                c.set_reason(reason);
                c.phase = Phase::Closing;
                self.arm_phase_deadline(id);
            }
            Phase::Connecting => {
                c.set_reason(reason.unwrap_or(Reason::Aborted));
                c.set(flag::DOOMED);
            }
            Phase::Closing => return true,
            // Already ended: connection_lost has run.
            Phase::Lingering => return false,
        }
        self.mark_dirty(id);
        true
    }

    /// Drops what is queued; the connection ends (with a reset) in the
    /// settle phase.
    pub(crate) fn abort(&mut self, id: ConnId, reason: Reason) -> bool {
        let Some(c) = conn_slot(&mut self.conns, id) else {
            return false;
        };
        if c.phase == Phase::Lingering {
            return false; // already ended: connection_lost has run
        }
        c.set_reason(reason);
        c.out.release(&mut self.pool);
        c.set(flag::DOOMED | flag::GAVE_UP);
        self.mark_dirty(id);
        true
    }

    /// The transport failed (reset, error): in any phase, the connection
    /// ends now. A lingering one is simply freed: its protocol is done.
    pub(crate) fn fail(&mut self, id: ConnId, err: &io::Error) {
        let Some(c) = self.conn_mut(id) else { return };
        log::debug!("{id}: {err}");
        if c.phase == Phase::Lingering {
            return self.free_conn(id);
        }
        c.set_reason(Reason::from_io(err));
        c.set(flag::DOOMED);
        self.mark_dirty(id);
    }

    /// The peer ended its side of the stream.
    pub(crate) fn peer_eof(&mut self, id: ConnId) {
        let Some(c) = self.conn_mut(id) else { return };
        if c.has(flag::EOF) {
            return;
        }
        c.set(flag::EOF);
        match c.phase {
            Phase::Open if !c.has(flag::DOOMED) => {
                self.answer_input(id, "eof_received", |p, cx| p.eof_received(cx));
            }
            Phase::WriteClosed if !c.has(flag::DOOMED) => {
                // Both directions are done: the protocol hears of the EOF,
                // then the connection ends cleanly (whatever it did).
                self.answer_input(id, "eof_received", |p, cx| p.eof_received(cx));
                self.close(id, None);
            }
            Phase::Lingering => return self.free_conn(id),
            _ => {}
        }
        self.mark_dirty(id);
    }

    /// Open → WriteClosed (Twisted's `loseWriteConnection`): no more
    /// writes; the settle phase flushes what is queued and then shuts our
    /// write side; input is still delivered until the peer's EOF, which
    /// ends the connection. After the peer's EOF (already half-closed) it
    /// is a close. Returns false for an unknown connection, one not yet
    /// connected, standard input, or one that has ended.
    pub(crate) fn write_eof(&mut self, id: ConnId) -> bool {
        let Some(c) = self.conn_mut(id) else { return false };
        match c.phase {
            Phase::Open if c.has(flag::READ_ONLY) => false,
            Phase::Open if c.has(flag::EOF) => self.close(id, None),
            Phase::Open => {
                c.phase = Phase::WriteClosed;
                log::debug!("{id}: write side closing");
                self.mark_dirty(id);
                true
            }
            Phase::WriteClosed | Phase::Closing => !c.has(flag::DOOMED),
            Phase::Connecting | Phase::Lingering => false,
        }
    }

    /// The queue of a `WriteClosed` connection drained: shut our write
    /// side (the peer reads EOF), once.
    pub(crate) fn shut_write(&mut self, id: ConnId) {
        let Some(c) = self.conn_mut(id) else { return };
        if c.phase != Phase::WriteClosed || c.has(flag::WRITE_SHUT) || !c.out.is_empty() {
            return;
        }
        c.set(flag::WRITE_SHUT);
        match c.stream.shutdown_write() {
            Ok(()) => log::debug!("{id}: write side shut"),
            Err(e) => {
                self.fail(id, &e);
                self.mark_dirty(id);
            }
        }
    }

    /// Ends a connection: a clean close (queue empty, phase `Closing`)
    /// shuts down the write side and lingers; anything else resets. Calls
    /// `connection_lost` (or `connection_failed`) exactly once: a
    /// connection is never ended twice, since it leaves `Open`, `Closing`
    /// and `Connecting` here for good.
    pub(crate) fn end_conn(&mut self, id: ConnId) {
        let Some(c) = conn_slot(&mut self.conns, id) else { return };
        if c.phase == Phase::Lingering {
            return;
        }
        let was_connecting = c.phase == Phase::Connecting;
        let clean = !c.has(flag::DOOMED) && c.phase == Phase::Closing;
        let reason = c.reason.clone().unwrap_or(Reason::Closed);
        if clean && !c.has(flag::WRITE_SHUT) {
            if let Err(e) = c.stream.shutdown_write() {
                log::trace!("{id}: shutdown failed: {e}");
            }
        } else if c.has(flag::GAVE_UP) {
            // Decided by what ended it, not by the reason: a `close_with`
            // reason given first must not hide that output was dropped.
            c.stream.set_reset_on_close();
        }
        c.out.release(&mut self.pool);
        c.phase = Phase::Lingering;
        self.lingering += 1;
        if c.has(flag::LINKED) {
            self.unlink_all(id);
        }
        let Some(c) = conn_slot(&mut self.conns, id) else { return };
        c.clear(flag::DOOMED | flag::GAVE_UP | flag::ANY_READ_PAUSE | flag::RESUME_OWED | flag::WRITE_SHUT);
        let stall = c.stall_timer.take();
        let owned = std::mem::take(&mut c.timers);
        c.stream.note(|| Event::Lost(reason.clone()));
        if let Some(t) = stall {
            self.timers.cancel(t);
        }
        self.cancel_all(owned);
        // An accepted connection frees its place under the listener's
        // limits now; a refused client holds its place (a descriptor)
        // until it is freed, lingering included.
        if !self.conn(id).is_some_and(|c| c.has(flag::REFUSED)) {
            self.release_listener_slot(id);
        }
        log::debug!("{id}: connection ended: {reason}");
        if was_connecting {
            self.call_conn(id, "connection_failed", |p, cx| p.connection_failed(cx, reason));
        } else {
            self.call_conn(id, "connection_lost", |p, cx| p.connection_lost(cx, reason));
        }
        let Some(c) = self.conn_mut(id) else { return };
        c.protocol = None;
        c.has_protocol = false;
        // The protocol may have set timers of its own in `connection_lost`:
        // they would never fire.
        let late = std::mem::take(&mut c.timers);
        let linger = c.limits.linger_ms != 0;
        let eof = c.has(flag::EOF);
        self.cancel_all(late);
        if clean && !eof && linger && self.state != RunState::Halt {
            // Read and discard until the peer closes, so that its late
            // input does not make the kernel reset the connection and
            // destroy our last bytes in flight.
            self.arm_phase_deadline(id);
            self.mark_ready(id);
        } else {
            self.free_conn(id);
        }
    }

    /// Uncounts a connection from its listener (once: the link is taken).
    fn release_listener_slot(&mut self, id: ConnId) {
        let Some(c) = self.conn_mut(id) else { return };
        let Some(lid) = c.listener.take() else { return };
        let refused = c.has(flag::REFUSED);
        let peer_ip = c.peer.ip();
        if let Some(l) = self.listener_mut(lid) {
            if refused {
                l.refusing = l.refusing.saturating_sub(1);
            } else {
                l.active = l.active.saturating_sub(1);
                if let Some(limit) = &l.opts.shared_limit {
                    limit.release();
                }
                if let Some(n) = l.per_peer.get_mut(&peer_ip) {
                    *n -= 1;
                    if *n == 0 {
                        l.per_peer.remove(&peer_ip);
                    }
                }
            }
        } else if !refused {
            self.release_orphaned_place(lid);
        }
    }

    /// A connection of a closed listener with a shared limit is freed:
    /// its place goes back (`Core::close_listener` kept the limit, and
    /// how many places its connections still held).
    fn release_orphaned_place(&mut self, lid: crate::ListenerId) {
        if let Some((limit, held)) = self.orphaned_limits.get_mut(&lid) {
            limit.release();
            *held -= 1;
            if *held == 0 {
                self.orphaned_limits.remove(&lid);
            }
        }
    }

    /// Deregisters and drops a connection's transport and frees its slot.
    pub(crate) fn free_conn(&mut self, id: ConnId) {
        if self.conn(id).is_none() {
            return;
        }
        self.release_listener_slot(id);
        if !self.dials.is_empty() {
            self.end_dial(id);
        }
        let mut c = self.conns.remove(id.index as usize);
        if c.phase == Phase::Lingering {
            self.lingering -= 1;
        }
        if c.has(flag::IN_DIRTY) {
            self.dirty.retain(|d| *d != id);
        }
        if c.has(flag::IN_READY) {
            self.ready.retain(|s| *s != Source::Conn(id));
        }
        for t in [c.timer.take(), c.stall_timer.take()].into_iter().flatten() {
            self.timers.cancel(t);
        }
        self.cancel_all(std::mem::take(&mut c.timers));
        let always_ready = c.has(flag::ALWAYS_READY);
        match &mut c.stream {
            Stream::Tcp(s) => {
                if let Err(e) = self.registry.deregister(s) {
                    log::trace!("{id}: deregister failed: {e}");
                }
            }
            Stream::Unix(s) => {
                if let Err(e) = self.registry.deregister(s) {
                    log::trace!("{id}: deregister failed: {e}");
                }
            }
            Stream::Stdin(r) => {
                if !always_ready {
                    if let Err(e) = self.registry.deregister(r) {
                        log::trace!("{id}: deregister failed: {e}");
                    }
                }
                // Leave the terminal as we found it for whatever runs next.
                if let Err(e) = r.set_nonblocking(false) {
                    log::trace!("{id}: restoring blocking stdin failed: {e}");
                }
            }
            Stream::Other(t) => {
                if let Some(source) = t.source() {
                    if let Err(e) = self.registry.deregister(source) {
                        log::trace!("{id}: deregister failed: {e}");
                    }
                }
            }
        }
        c.out.release(&mut self.pool);
        log::trace!("{id}: freed");
    }

    /// The protocol pauses reading.
    pub(crate) fn pause_reading(&mut self, id: ConnId) {
        self.input_epoch = self.input_epoch.wrapping_add(1);
        if let Some(c) = self.conn_mut(id) {
            if !c.has(flag::READ_PAUSED) {
                c.stream.note(|| Event::PauseReading);
            }
            c.set(flag::READ_PAUSED);
            c.clear(flag::RESUME_OWED);
        }
    }

    /// The protocol resumes reading.
    pub(crate) fn resume_reading(&mut self, id: ConnId) {
        let Some(c) = self.conn_mut(id) else { return };
        if c.has(flag::READ_PAUSED) {
            c.clear(flag::READ_PAUSED);
            c.stream.note(|| Event::ResumeReading);
            self.reading_may_resume(id);
        }
    }

    /// One pause was lifted: if none is left, the protocol is owed
    /// `reading_resumed` (a framer delivers the frames it held back) and
    /// the transport is read again, since data may be waiting in the kernel
    /// and no new edge will come for it.
    pub(crate) fn reading_may_resume(&mut self, id: ConnId) {
        let Some(c) = self.conn_mut(id) else { return };
        if c.reading_paused() || !c.is_live() {
            return;
        }
        c.set(flag::RESUME_OWED);
        self.mark_dirty(id);
    }

    /// Delivers an owed `reading_resumed`, then reads on.
    pub(crate) fn deliver_resume(&mut self, id: ConnId) {
        let Some(c) = self.conn_mut(id) else { return };
        if !c.has(flag::RESUME_OWED) {
            return;
        }
        c.clear(flag::RESUME_OWED);
        if c.reading_paused() || !c.is_live() {
            return;
        }
        self.answer_input(id, "reading_resumed", |p, cx| p.reading_resumed(cx));
        if self.conn(id).is_some_and(|c| !c.reading_paused() && !c.has(flag::EOF) && c.is_live()) {
            self.mark_ready(id);
        }
    }
}
