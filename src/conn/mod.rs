//! The connection table's rules: a connection's phases, the transitions
//! between them, and every count derived from them.
//!
//! This module is the one place a connection's [`Phase`] changes and the
//! one place the counts that depend on phases (lingering connections,
//! per-listener and per-peer counts, refused clients still flushing their
//! farewell, membership of the dirty and ready lists) are kept. Everything
//! else asks. `check.rs` recounts all of them after every turn in debug
//! builds and tests.
//!
//! ```text
//!             connected                  close() / stop      queue flushed
//! Connecting ──────────▶ Open ──────────────────────────▶ Closing ─────────▶ Lingering ──▶ gone
//!     │                  │  ▲ peer EOF: Open, half-closed ▲ │ close timeout     │ peer EOF, reset,
//!     │ connect timeout, │  │ (eof_received; may write on)│ │ → TimedOut        │ linger timeout
//!     │ refused, error   │  │                  close() /  │ │ reset / error     │
//!     │                  │ write_eof()       peer EOF     │ ▼ output limit      ▼
//!     │                  ├──────────▶ WriteClosed ────────┘  (both directions done: no linger)
//!     │                  │            flush, then shut our write side (WRITE_SHUT);
//!     │                  │            input still delivered
//!     ▼                  ▼    abort, reset, error, panic, output limit
//!   gone  ◀── connection_failed    ──▶ Ending ──▶ connection_lost ──▶ gone
//! ```
//!
//! `write_eof()` on a connection the peer has half-closed already is a
//! `close()`.
//!
//! `Ending` is not a phase of its own but the `DOOMED` mark: a connection
//! whose end was decided inside a callback (its protocol is out of its slot
//! then) ends in the settle phase that follows, within the same turn.

#[cfg(debug_assertions)] // run after every turn in debug builds only
mod check;
mod flow;
mod lifecycle;
mod links;
mod lists;

pub(crate) use lifecycle::Origin;
pub(crate) use links::{Links, Pusher};
pub(crate) use lists::push_dirty;

use std::net::SocketAddr;

use crate::buffer::OutBuf;
use crate::transport::Stream;
use crate::{ListenerId, Protocol, Reason, TcpOptions, TimerId};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A client connect is in progress (bounded by the connect timeout).
    Connecting,
    /// Established: reading and writing. After the peer's EOF (flag `EOF`)
    /// the connection is half-closed: no more input, output still flows.
    Open,
    /// `write_eof()` was asked (Twisted's `loseWriteConnection`): no more
    /// writes; what is queued is flushed, then our write side is shut
    /// (flag `WRITE_SHUT`). Input is still delivered. The peer's EOF ends
    /// it (after `eof_received`): both directions are done.
    WriteClosed,
    /// `close()` was asked: flushing what is queued, input discarded
    /// (bounded by the close timeout).
    Closing,
    /// The protocol is gone (`connection_lost` ran); the socket reads and
    /// discards until the peer closes too, or the linger timer fires.
    Lingering,
}

/// Per-connection flags.
pub(crate) mod flag {
    /// The protocol paused reading.
    pub(crate) const READ_PAUSED: u32 = 1;
    /// The peer ended its side (EOF read): the connection is half-closed.
    pub(crate) const EOF: u32 = 1 << 1;
    pub(crate) const WRITE_BLOCKED: u32 = 1 << 2;
    /// `pause_writing` was delivered; `resume_writing` is owed.
    pub(crate) const WRITING_PAUSED: u32 = 1 << 3;
    pub(crate) const IN_DIRTY: u32 = 1 << 4;
    pub(crate) const IN_READY: u32 = 1 << 5;
    /// End the connection now: abort, error, panic, or output limit.
    pub(crate) const DOOMED: u32 = 1 << 6;
    /// No readiness events come for it (standard input from a regular
    /// file): it stays on the ready list until EOF.
    pub(crate) const ALWAYS_READY: u32 = 1 << 7;
    /// An event reported the peer's EOF (or an error) as pending. Sticky,
    /// like tokio's closed readiness: a short read no longer proves the
    /// socket drained, since the EOF may have come in the same edge as the
    /// data and no new edge will come for it.
    pub(crate) const READ_CLOSED: u32 = 1 << 8;
    /// Standard input: never written.
    pub(crate) const READ_ONLY: u32 = 1 << 9;
    /// Flow control paused reading: queued output is above the high water
    /// mark.
    pub(crate) const READ_AUTO_PAUSED: u32 = 1 << 10;
    /// Reading resumed: `Protocol::reading_resumed` is owed before anything
    /// new is read.
    pub(crate) const RESUME_OWED: u32 = 1 << 11;
    /// Flow control is on for this connection (`TcpOptions::flow_control`).
    pub(crate) const FLOW_CONTROL: u32 = 1 << 12;
    /// A client refused at a connection limit, flushing its farewell.
    pub(crate) const REFUSED: u32 = 1 << 13;
    /// This side gave up on its output (abort, a timeout, an output limit,
    /// a panic, the end of a stop): the end is a reset, so that the peer
    /// cannot mistake a cut-off stream for a complete one.
    pub(crate) const GAVE_UP: u32 = 1 << 14;
    /// Our write side is shut (`write_eof`, its queue flushed): the peer
    /// has read our EOF. Only in `WriteClosed`, or `Closing` after it.
    pub(crate) const WRITE_SHUT: u32 = 1 << 15;
    /// Reading paused because a connection this one produces for is above
    /// its high water mark (`conn::links`).
    pub(crate) const PRODUCER_PAUSED: u32 = 1 << 16;
    /// A consumer above its high water mark, counted as full by each of
    /// its producers (`conn::links`).
    pub(crate) const CONSUMER_FULL: u32 = 1 << 17;
    /// A pull producer feeds this connection (`conn::links`).
    pub(crate) const PULLING: u32 = 1 << 18;
    /// The connection has an entry in `Core::links` (producers, consumers
    /// or a pull producer): the one check the write path makes.
    pub(crate) const LINKED: u32 = 1 << 19;
    /// Every reason reading may be paused.
    pub(crate) const ANY_READ_PAUSE: u32 = READ_PAUSED | READ_AUTO_PAUSED | PRODUCER_PAUSED;
}

/// Something the reactor did on a connection, in order, as a transport
/// sees it (the in-memory harness logs these for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// `Protocol::pause_writing` was called (output passed the high mark).
    PauseWriting,
    /// `Protocol::resume_writing` was called.
    ResumeWriting,
    /// The protocol paused reading.
    PauseReading,
    /// The protocol resumed reading.
    ResumeReading,
    /// The protocol wrote this many bytes after its connection was closing:
    /// they were dropped. Usually a bug in the protocol.
    WriteAfterClose(usize),
    /// The connection ended; `connection_lost` got this reason.
    Lost(Reason),
}

/// Output thresholds and deadlines of one connection, copied from its
/// [`TcpOptions`] (as `u32`s: a small connection is a cheap connection).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) high_water: u32,
    pub(crate) low_water: u32,
    /// The soft output limit: above it for `stall_ms` without progress, the
    /// peer is cut.
    pub(crate) output_limit: u32,
    /// The absolute output ceiling: above it, the peer is cut at once.
    pub(crate) output_ceiling: u32,
    /// How long output may stay above `output_limit` without a byte sent,
    /// in milliseconds (`u32::MAX`: forever).
    pub(crate) stall_ms: u32,
    /// Linger time after a clean close, in milliseconds.
    pub(crate) linger_ms: u32,
    /// How long `Connecting` may last, in milliseconds (`u32::MAX`: forever).
    pub(crate) connect_timeout_ms: u32,
    /// How long `Closing` may last, in milliseconds (`u32::MAX`: forever).
    pub(crate) close_timeout_ms: u32,
}

fn clamp_u32(n: u128) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A duration in milliseconds as stored in [`Limits`], `u32::MAX` meaning
/// "never".
pub(crate) fn stored_ms(ms: u32) -> Option<std::time::Duration> {
    (ms != u32::MAX).then(|| std::time::Duration::from_millis(u64::from(ms)))
}

impl From<&TcpOptions> for Limits {
    fn from(o: &TcpOptions) -> Self {
        let ceiling = o.output_ceiling.max(o.output_limit);
        // The write path checks the ceiling only above the high mark (one
        // comparison on the hot path), so the high mark is at most it.
        let high = o.high_water.min(ceiling);
        Limits {
            high_water: clamp_u32(high as u128),
            low_water: clamp_u32(o.low_water.min(high) as u128),
            output_limit: clamp_u32(o.output_limit as u128),
            output_ceiling: clamp_u32(ceiling as u128),
            stall_ms: clamp_u32(o.output_stall.as_millis()),
            linger_ms: clamp_u32(o.close_linger.as_millis()),
            connect_timeout_ms: clamp_u32(o.connect_timeout.as_millis()),
            close_timeout_ms: clamp_u32(o.close_timeout.as_millis()),
        }
    }
}

/// One connection: socket, queued output, state, and its protocol.
///
/// Invariants (checked by `check.rs`): `protocol` is `None` only while one
/// of its callbacks runs, or once `connection_lost`/`connection_failed` has
/// run (phase `Lingering`), or for a client refused at a connection limit.
/// `out` holds storage only while bytes are queued. `IN_DIRTY` is set
/// exactly when the id is on the dirty list, `IN_READY` exactly when it is
/// on the ready list.
#[repr(C)]
pub(crate) struct Conn {
    // The fields are in a fixed order (`repr(C)`): those every read and
    // write touches lead, in the first 112 bytes, where the compiler's
    // own order spread them over the whole 248-byte slot. With 10,000
    // connections a slot is out of cache, and this is about one cache
    // miss fewer per request (callgrind's cache simulation: 7.4-8.4 → 6.7-7.1
    // first-level read misses per request, docs/PERFORMANCE.md). Aligning
    // slots to cache lines (`align(64)`, 256 bytes) saved one more, but
    // the slab's aligned growth cannot use `mremap`, and the old copies
    // stayed resident: 549 bytes of RSS per idle connection, over the
    // 0.5 KiB goal.
    //
    // Hot: the look-up's and the write path's checks, the protocol, the
    // output, the socket, and what the flush checks.
    pub(crate) generation: u32,
    pub(crate) flags: u32,
    pub(crate) phase: Phase,
    /// Whether a protocol is attached at all (false for refused clients).
    pub(crate) has_protocol: bool,
    /// The listener that accepted it, for connection-limit accounting
    /// (cold, but here it fills the room the small fields leave before
    /// the 8-byte ones: the slot stays at 248 bytes).
    pub(crate) listener: Option<ListenerId>,
    pub(crate) protocol: Option<Box<dyn Protocol>>,
    pub(crate) out: OutBuf,
    pub(crate) stream: Stream,
    /// Armed while queued output is above the soft output limit.
    pub(crate) stall_timer: Option<TimerId>,
    pub(crate) limits: Limits,
    // Cold: what a connection's start and end need.
    /// The phase's deadline: the connect timeout while connecting, the
    /// close timeout while closing, the linger timer while lingering.
    pub(crate) timer: Option<TimerId>,
    /// Why the connection is ending; the first reason set wins.
    pub(crate) reason: Option<Reason>,
    /// The protocol's own timers, cancelled when the connection ends (no
    /// storage until the first one is set).
    pub(crate) timers: crate::timer::OwnedTimers,
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
}

impl Conn {
    /// A new connection in `phase`, with no output and no flags beyond
    /// those its options imply.
    pub(crate) fn new(
        generation: u32,
        stream: Stream,
        protocol: Option<Box<dyn Protocol>>,
        phase: Phase,
        (local, peer): (SocketAddr, SocketAddr),
        opts: &TcpOptions,
        listener: Option<ListenerId>,
    ) -> Conn {
        Conn {
            generation,
            stream,
            has_protocol: protocol.is_some(),
            protocol,
            out: OutBuf::default(),
            phase,
            flags: if opts.flow_control == crate::FlowControl::On { flag::FLOW_CONTROL } else { 0 },
            reason: None,
            local,
            peer,
            listener,
            limits: Limits::from(opts),
            timer: None,
            stall_timer: None,
            timers: Default::default(),
        }
    }

    #[inline]
    pub(crate) fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }
    #[inline]
    pub(crate) fn set(&mut self, f: u32) {
        self.flags |= f;
    }
    #[inline]
    pub(crate) fn clear(&mut self, f: u32) {
        self.flags &= !f;
    }
    /// Whether the protocol may still write.
    #[inline]
    pub(crate) fn writable(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::Connecting) && self.flags & (flag::DOOMED | flag::READ_ONLY) == 0
    }
    /// Whether the connection is open (or write-closed) and not about to
    /// end: the protocol hears of input (and, while `Open`, may write).
    #[inline]
    pub(crate) fn is_live(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::WriteClosed) && !self.has(flag::DOOMED)
    }
    /// Whether reading is paused, by the protocol or by flow control.
    #[inline]
    pub(crate) fn reading_paused(&self) -> bool {
        self.has(flag::ANY_READ_PAUSE)
    }
    /// Sets the reason the connection ends, unless one is set already.
    ///
    /// A clean reason (`Closed`, `PeerClosed`, set by `close`) is
    /// provisional until the queue is flushed: if the connection fails
    /// first (reset, output limit, abort, the grace period's shutdown),
    /// queued output is lost and the failure is the reason.
    pub(crate) fn set_reason(&mut self, reason: Reason) {
        match &self.reason {
            None => self.reason = Some(reason),
            Some(old) if old.is_clean() && !reason.is_clean() => self.reason = Some(reason),
            Some(_) => {}
        }
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("peer", &self.peer)
            .field("phase", &self.phase)
            .field("queued", &self.out.len())
            .field("flags", &self.flags)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    /// The per-connection state stays small: it is most of what an idle
    /// connection costs (with the protocol and its idle timer).
    #[test]
    fn a_connection_is_small() {
        let size = std::mem::size_of::<super::Conn>();
        assert!(size <= 256, "Conn is {size} bytes");
    }
}
#[cfg(test)]
mod layout {
    use std::mem::{offset_of, size_of};

    use super::{Conn, Limits, OutBuf, Stream};

    /// What the common path touches lies in a slot's first 112 bytes (see
    /// the comment on `Conn`), and the slot stays at 248 bytes (the memory
    /// per idle connection): a field added in front, or a reordering,
    /// fails here.
    #[test]
    fn the_common_paths_fields_lead_the_slot_and_the_slot_stays_at_248_bytes() {
        let end = |offset: usize, size: usize| offset + size;
        for (field, last_byte) in [
            ("generation", end(offset_of!(Conn, generation), 4)),
            ("flags", end(offset_of!(Conn, flags), 4)),
            ("phase", end(offset_of!(Conn, phase), 1)),
            ("protocol", end(offset_of!(Conn, protocol), 16)),
            ("out", end(offset_of!(Conn, out), size_of::<OutBuf>())),
            ("stream", end(offset_of!(Conn, stream), size_of::<Stream>())),
            ("stall_timer", end(offset_of!(Conn, stall_timer), 8)),
            ("limits.high_water", end(offset_of!(Conn, limits) + offset_of!(Limits, high_water), 4)),
        ] {
            assert!(last_byte <= 112, "{field} ends at byte {last_byte}, past the slot's first 112");
        }
        // (The sizes of a 64-bit target.)
        #[cfg(target_pointer_width = "64")]
        assert_eq!(size_of::<Conn>(), 248);
        // A slab entry is a slot: its tag fits in a niche.
        assert_eq!(size_of::<Option<Conn>>(), size_of::<Conn>());
    }
}
