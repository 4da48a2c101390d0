//! Output and flow control of one connection: flushing, water marks,
//! pausing reading while the peer is behind, and the output limits.
//!
//! The rules:
//!
//! - Above the high water mark the protocol hears `pause_writing`. When
//!   the write that passed the mark answered the connection's own input
//!   (it was made in `data_received`, `reading_resumed` or `eof_received`),
//!   the reactor also stops reading from it (flow control, on by default):
//!   a peer that sends requests faster than it reads replies is pushed back
//!   through TCP instead of growing our buffers. At or below the low mark,
//!   `resume_writing`, and reading resumes. Output a protocol produces on
//!   its own (from a timer, `connection_made`, `resume_writing`, or written
//!   by another connection's callback) does not stop reading: reading less
//!   would not shrink it, and two producers that each stopped reading the
//!   other would wait for each other forever.
//! - The soft output limit cuts a peer that does not read: output above it
//!   with no byte sent for the stall period. So does flow control's pause:
//!   output queued while reading is paused for it, with no byte sent for
//!   the stall period (the queue stays near the high water mark there, and
//!   the peer's own requests wait unread). A slow reader makes progress
//!   and is never cut; nor is a protocol that answers one big request.
//! - The output ceiling cuts at once: past it a peer costs too much memory
//!   whatever its speed.

use std::io;
use std::time::Instant;

use super::{flag, stored_ms, Conn, Event, Phase};
use crate::buffer::BufferPool;
use crate::core::{conn_slot, Core, TimerTask};
use crate::reason::OutputLimit;
use crate::timer::TimerQueue;
use crate::{ConnId, Reason};

impl Core {
    /// The cold path of a write that took queued output above the high
    /// water mark: pause reading at once (so that a framer delivering
    /// frames from the current read stops after this one), and past the
    /// ceiling try to make room before cutting the peer.
    #[cold]
    pub(crate) fn write_above_high(&mut self, id: ConnId) {
        let answering = self.answering == Some(id);
        let Some(c) = conn_slot(&mut self.conns, id) else { return };
        if answering && c.has(flag::FLOW_CONTROL) {
            c.set(flag::READ_AUTO_PAUSED);
            c.clear(flag::RESUME_OWED);
        }
        if c.has(flag::LINKED) && !c.has(flag::CONSUMER_FULL) {
            // Its producers stop now, inside the write that passed the mark.
            self.consumer_full(id);
        }
        let Some(c) = conn_slot(&mut self.conns, id) else { return };
        if c.out.len() > c.limits.output_ceiling as usize {
            if c.phase == Phase::Open && !c.has(flag::WRITE_BLOCKED) {
                // An error here shows again at the settle phase's flush.
                let _ = self.flush(id);
            }
            let Some(c) = conn_slot(&mut self.conns, id) else { return };
            if c.out.len() > c.limits.output_ceiling as usize {
                self.cut(id, OutputLimit::Ceiling);
            }
        }
        self.mark_dirty(id);
    }

    /// Writes what is queued, as far as the transport takes it (see
    /// [`flush_conn`]).
    fn flush(&mut self, id: ConnId) -> io::Result<()> {
        let now = self.now();
        let Some(c) = conn_slot(&mut self.conns, id) else { return Ok(()) };
        flush_conn(id, c, &mut self.pool, &mut self.timers, now, &mut self.counters.bytes_out)
    }

    /// Ends the connection for its output: dropped, reset, with the reason
    /// saying which limit.
    fn cut(&mut self, id: ConnId, which: OutputLimit) {
        let Some(c) = conn_slot(&mut self.conns, id) else { return };
        log::debug!("{id}: {} with {} bytes queued: disconnecting", Reason::OutputLimitExceeded(which), c.out.len());
        c.set_reason(Reason::OutputLimitExceeded(which));
        c.out.release(&mut self.pool);
        c.set(flag::DOOMED | flag::GAVE_UP);
        self.mark_dirty(id);
    }

    /// The stall timer fired: no byte left for the whole stall period while
    /// output stayed above the soft limit.
    pub(crate) fn stall_deadline(&mut self, id: ConnId) {
        let Some(c) = conn_slot(&mut self.conns, id) else { return };
        c.stall_timer = None;
        if matches!(c.phase, Phase::Open | Phase::WriteClosed | Phase::Closing) && c.stall_watched(c.out.len()) {
            self.cut(id, OutputLimit::Stalled);
        }
    }

    /// Applies everything asked of one connection since its last settle:
    /// ends it if doomed, flushes, applies the limits, water marks and flow
    /// control, ends a finished close, and delivers an owed
    /// `reading_resumed`.
    ///
    /// The common case (open, everything flushed, nothing paused or owed)
    /// costs one lookup and the write.
    pub(crate) fn settle_conn(&mut self, id: ConnId) {
        let now = self.loop_time;
        let Some(c) = conn_slot(&mut self.conns, id) else { return };
        c.clear(flag::IN_DIRTY);
        if c.has(flag::DOOMED) {
            return self.end_conn(id);
        }
        if c.phase == Phase::Connecting || c.phase == Phase::Lingering {
            return;
        }
        if let Err(e) = flush_conn(id, c, &mut self.pool, &mut self.timers, now, &mut self.counters.bytes_out) {
            self.fail(id, &e);
            return self.end_conn(id);
        }
        let queued = c.out.len();
        const OWED: u32 =
            flag::WRITING_PAUSED | flag::READ_AUTO_PAUSED | flag::RESUME_OWED | flag::CONSUMER_FULL | flag::PULLING;
        if queued == 0 && c.phase == Phase::Open && c.flags & OWED == 0 && c.stall_timer.is_none() {
            return;
        }
        self.settle_rest(id, queued);
    }

    /// The rest of [`settle_conn`](Self::settle_conn) when output is left
    /// or something is owed.
    /// (The ceiling needs no check here: output grows only by writes, and
    /// the write that passes it cuts the connection at once.)
    fn settle_rest(&mut self, id: ConnId, queued: usize) {
        self.watch_stall(id, queued);
        let Some(c) = conn_slot(&mut self.conns, id) else { return };
        if c.phase == Phase::Closing && queued == 0 {
            // A transport with bytes of its own (TLS: `close_notify`)
            // ends once they are out; a writable edge brings it back.
            if !c.stream.close_ready() {
                return;
            }
            return self.end_conn(id);
        }
        if c.is_live() {
            self.water_marks(id, queued);
            if self.conn(id).is_some_and(|c| c.has(flag::PULLING)) {
                self.pull(id);
            }
        }
        if queued == 0 && self.conn(id).is_some_and(|c| c.phase == Phase::WriteClosed) {
            self.shut_write(id);
        }
        self.deliver_resume(id);
    }

    /// Arms the stall timer while output is above the soft limit, or
    /// queued while flow control has paused reading; disarms it otherwise.
    fn watch_stall(&mut self, id: ConnId, queued: usize) {
        let Some(c) = conn_slot(&mut self.conns, id) else { return };
        let above = c.stall_watched(queued);
        match (above, c.stall_timer) {
            (true, None) => {
                if let Some(stall) = stored_ms(c.limits.stall_ms) {
                    let t = self.add_timer(stall, TimerTask::Stall(id));
                    if let Some(c) = conn_slot(&mut self.conns, id) {
                        c.stall_timer = Some(t);
                    }
                }
            }
            (false, Some(t)) => {
                c.stall_timer = None;
                self.timers.cancel(t);
            }
            _ => {}
        }
    }

    /// `pause_writing` / `resume_writing`, and flow control's pause and
    /// resume of reading, at the water marks.
    fn water_marks(&mut self, id: ConnId, queued: usize) {
        let Some(c) = conn_slot(&mut self.conns, id) else { return };
        let (high, low) = (c.limits.high_water as usize, c.limits.low_water as usize);
        if queued > high {
            if !c.has(flag::WRITING_PAUSED) {
                c.set(flag::WRITING_PAUSED);
                c.stream.note(|| Event::PauseWriting);
                self.call_conn(id, "pause_writing", |p, cx| p.pause_writing(cx));
            }
        } else if queued <= low {
            let auto = c.has(flag::READ_AUTO_PAUSED);
            c.clear(flag::READ_AUTO_PAUSED);
            if c.has(flag::WRITING_PAUSED) {
                c.clear(flag::WRITING_PAUSED);
                c.stream.note(|| Event::ResumeWriting);
                self.call_conn(id, "resume_writing", |p, cx| p.resume_writing(cx));
            }
            if auto {
                self.reading_may_resume(id);
            }
            self.consumer_drained(id);
        }
    }
}

/// Writes what a connection has queued, as far as the transport takes it.
/// A write that moved bytes while output is above the soft limit pushes the
/// stall deadline back (progress). Always inlined into the settle phase,
/// its one caller on the hot path.
#[inline(always)]
fn flush_conn(
    id: ConnId,
    c: &mut Conn,
    pool: &mut BufferPool,
    timers: &mut TimerQueue<TimerTask>,
    now: Instant,
    bytes_out: &mut u64,
) -> io::Result<()> {
    if c.has(flag::WRITE_BLOCKED) {
        return Ok(());
    }
    if c.out.is_empty() {
        return flush_own(c);
    }
    let (n, err) = c.out.write_to(&mut c.stream, pool);
    *bytes_out += n as u64;
    log::trace!("{id}: wrote {n} bytes");
    if n > 0 {
        if let (Some(t), Some(stall)) = (c.stall_timer, stored_ms(c.limits.stall_ms)) {
            timers.reset(t, crate::timer::deadline_after(now, stall));
        }
    }
    match err {
        None => flush_own(c),
        Some(e) if e.kind() == io::ErrorKind::WouldBlock => {
            c.set(flag::WRITE_BLOCKED);
            Ok(())
        }
        Some(e) => Err(e),
    }
}

/// Sends what the transport holds of its own (TLS records), if anything
/// (never for TCP: one inlined comparison).
#[inline]
fn flush_own(c: &mut Conn) -> io::Result<()> {
    if !c.stream.wants_write() {
        return Ok(());
    }
    match c.stream.flush_own() {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            c.set(flag::WRITE_BLOCKED);
            Ok(())
        }
        other => other,
    }
}

impl Conn {
    /// Whether `queued` bytes of output are watched for a stall: above the
    /// soft limit, or any while flow control has paused reading (the
    /// queue then stays near the high water mark, far below the soft
    /// limit, and a peer that never reads would otherwise hold its
    /// connection for ever; an idle timeout spares such a connection,
    /// since the server is the side not reading).
    pub(crate) fn stall_watched(&self, queued: usize) -> bool {
        queued > self.limits.output_limit as usize || (queued > 0 && self.has(flag::READ_AUTO_PAUSED))
    }

    /// Whether a write of this size would take the queue above the high
    /// water mark (the hot path's one comparison).
    #[inline]
    pub(crate) fn above_high(&self) -> bool {
        self.out.len() > self.limits.high_water as usize
    }
}
