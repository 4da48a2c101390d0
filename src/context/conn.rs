//! The connection callback's context.

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use super::ReactorContext;
use crate::addr::unspecified;
use crate::core::{Core, TimerTask};
use crate::{ConnId, Reason, TimerId};

/// What a connection callback may do: everything a [`ReactorContext`]
/// offers (it dereferences to one), plus "this connection": write, close,
/// abort, pause reading, its timers and addresses.
///
/// Every callback of a [`Protocol`](crate::Protocol) gets one. It borrows the whole reactor
/// for the duration of the call, so it can reach *other* connections by
/// [`ConnId`] (a chat room broadcasting) without `RefCell`s: the calling
/// protocol is taken out of its slot while it runs.
///
/// # The guarantees
///
/// - Nothing here blocks or runs another protocol's code. Writes are queued
///   and sent once the callback returns; closes and aborts take effect then
///   too, so a callback never sees a half-applied change.
/// - Writes are never lost while the connection is open: flow control
///   pauses reading (see [`is_reading_paused`](Context::is_reading_paused))
///   instead of dropping anything.
#[derive(Debug)]
pub struct Context<'a> {
    inner: ReactorContext<'a>,
    id: ConnId,
}

impl<'a> Deref for Context<'a> {
    type Target = ReactorContext<'a>;
    fn deref(&self) -> &ReactorContext<'a> {
        &self.inner
    }
}

impl DerefMut for Context<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl<'a> Context<'a> {
    pub(crate) fn new(core: &'a mut Core, id: ConnId) -> Context<'a> {
        Context { inner: ReactorContext::new(core), id }
    }
}

impl Context<'_> {
    #[inline]
    fn this_conn(&self) -> ConnId {
        self.id
    }

    // ----- this connection ---------------------------------------------------

    /// The connection this callback is for.
    pub fn conn_id(&self) -> ConnId {
        self.this_conn()
    }

    /// Queues `data` for this connection. Never blocks; dropped (with a
    /// trace log) once the connection is closing.
    #[inline]
    pub fn write(&mut self, data: &[u8]) {
        let id = self.this_conn();
        self.inner.core.write(id, data);
    }

    /// Queues several pieces for this connection, in order, as one write
    /// (cheaper than one [`write`](Self::write) each; they leave in the
    /// same system call either way).
    ///
    /// ```
    /// # use reel::{Context, Protocol};
    /// struct Hello;
    /// impl Protocol for Hello {
    ///     fn data_received(&mut self, cx: &mut Context<'_>, name: &[u8]) {
    ///         cx.write_all(&[b"Hello, ", name, b"!\n"]);
    ///     }
    /// }
    /// ```
    #[inline]
    pub fn write_all(&mut self, parts: &[&[u8]]) {
        let id = self.this_conn();
        self.inner.core.write_all(id, parts);
    }

    /// Lets `f` append to this connection's output buffer in place, for a
    /// reply formatted straight into it (no intermediate buffer, no copy).
    /// The vector holds this connection's queued, unsent output: `f` must
    /// only append to it. Returns `f`'s result, or `None` (without calling
    /// it) once the connection is closing.
    ///
    /// ```
    /// # use reel::{Context, Protocol};
    /// struct Count(u64);
    /// impl Protocol for Count {
    ///     fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
    ///         self.0 += data.len() as u64;
    ///         let n = self.0;
    ///         cx.write_with(|out| {
    ///             use std::io::Write;
    ///             let _ = writeln!(out, "{n} bytes so far");
    ///         });
    ///     }
    /// }
    /// ```
    #[inline]
    pub fn write_with<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> Option<R> {
        let id = self.this_conn();
        self.inner.core.write_with(id, f)
    }

    /// Sends everything queued, then closes this connection.
    /// `connection_lost` follows with [`Reason::Closed`] (or
    /// [`Reason::PeerClosed`] after the peer's EOF). No data is delivered
    /// after this call.
    pub fn close(&mut self) {
        let id = self.this_conn();
        self.inner.core.close(id, None);
    }

    /// Like [`close`](Self::close), but `connection_lost` gets `reason`
    /// (for example `Reason::Protocol("line too long".into())` or
    /// [`Reason::TimedOut`]).
    pub fn close_with(&mut self, reason: Reason) {
        let id = self.this_conn();
        self.inner.core.close(id, Some(reason));
    }

    /// Closes our sending side and keeps reading (Twisted's
    /// `loseWriteConnection`, a TCP half-close): what is queued is sent,
    /// then the peer reads end of stream; later writes are dropped. Input
    /// is still delivered; when the peer's own EOF arrives,
    /// [`eof_received`](crate::Protocol::eof_received) is called and the
    /// connection ends cleanly. After the peer's EOF, this is a
    /// [`close`](Self::close). Over a transport other than TCP it is the
    /// transport's own half-close (TLS: `close_notify`, then the socket's
    /// write side).
    ///
    /// ```
    /// # use reel::{Context, Protocol};
    /// /// Sends its answer, then tells the peer it is done; reads on.
    /// struct Answer;
    /// impl Protocol for Answer {
    ///     fn connection_made(&mut self, cx: &mut Context<'_>) {
    ///         cx.write(b"all I have to say\n");
    ///         cx.write_eof();
    ///     }
    ///     fn data_received(&mut self, _cx: &mut Context<'_>, data: &[u8]) {
    ///         println!("the peer still says {} bytes", data.len());
    ///     }
    /// }
    /// ```
    pub fn write_eof(&mut self) {
        let id = self.this_conn();
        self.inner.core.write_eof(id);
    }

    /// Drops what is queued and resets this connection
    /// ([`Reason::Aborted`]).
    pub fn abort(&mut self) {
        let id = self.this_conn();
        self.inner.core.abort(id, Reason::Aborted);
    }

    /// Stops reading from this connection (back-pressure toward the peer).
    pub fn pause_reading(&mut self) {
        let id = self.this_conn();
        self.inner.core.pause_reading(id);
    }

    /// Resumes reading after [`pause_reading`](Self::pause_reading).
    pub fn resume_reading(&mut self) {
        let id = self.this_conn();
        self.inner.core.resume_reading(id);
    }

    /// The peer's address of this connection (readable in
    /// `connection_lost` too), read from the connection's slot: no system
    /// call. A connection that is not over IP (a Unix socket, standard
    /// input) has the unspecified address `0.0.0.0:0`: see
    /// [`peer_address`](Self::peer_address) for one of any kind.
    pub fn peer_addr(&self) -> SocketAddr {
        let id = self.this_conn();
        self.peer_addr_of(id).unwrap_or_else(|| unspecified(false))
    }

    /// The local address of this connection.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.core.conn(self.id).map(|c| c.local).unwrap_or_else(|| unspecified(false))
    }

    /// Bytes queued and not yet sent on this connection.
    #[inline]
    pub fn queued(&self) -> usize {
        let id = self.this_conn();
        self.inner.core.conn(id).map_or(0, |c| c.out.len())
    }

    /// Whether this connection is closing (or gone): writes are dropped and
    /// no more input is delivered. Standard input ([`add_stdin`](ReactorContext::add_stdin))
    /// can never be written, but is not closing until it is closed; nor is
    /// a connection after [`write_eof`](Self::write_eof), whose input still
    /// flows (ask [`is_open`](ReactorContext::is_open) whether it can be
    /// written).
    #[inline]
    pub fn is_closing(&self) -> bool {
        use crate::conn::{flag, Phase};
        let id = self.this_conn();
        !self.inner.core.conn(id).is_some_and(|c| {
            matches!(c.phase, Phase::Open | Phase::WriteClosed | Phase::Connecting) && !c.has(flag::DOOMED)
        })
    }

    /// Whether input is still delivered (open), held back (reading
    /// paused) or discarded (closing or gone), with one lookup: what a
    /// framer asks after every frame.
    #[inline]
    pub(crate) fn input_state(&self) -> InputState {
        use crate::conn::{flag, Phase};
        match self.inner.core.conn(self.id) {
            Some(c)
                if matches!(c.phase, Phase::Open | Phase::WriteClosed | Phase::Connecting) && !c.has(flag::DOOMED) =>
            {
                if c.reading_paused() {
                    InputState::Paused
                } else if matches!(&c.stream, crate::transport::Stream::Other(t) if t.takes_early_input()) {
                    InputState::Handover
                } else {
                    InputState::Open
                }
            }
            _ => InputState::Discarded,
        }
    }

    /// A number that moves whenever some connection's input state may have
    /// changed (see `Core::input_epoch`): one load, where
    /// [`input_state`](Self::input_state) is a lookup.
    #[inline]
    pub(crate) fn input_epoch(&self) -> u32 {
        self.inner.core.input_epoch
    }

    /// Whether reading from this connection is paused, by the protocol
    /// ([`pause_reading`](Self::pause_reading)) or by flow control (queued
    /// output above the high water mark). A protocol that handles several
    /// messages from one read (a framer) stops after the current one while
    /// this is true, and goes on in
    /// [`Protocol::reading_resumed`](crate::Protocol::reading_resumed).
    pub fn is_reading_paused(&self) -> bool {
        let id = self.this_conn();
        self.inner.core.conn(id).is_some_and(|c| c.reading_paused())
    }

    /// Sets a one-shot timer for this connection: after `delay`, the
    /// protocol's `timer_fired` is called with the returned id. Cancelled
    /// automatically when the connection ends. `Duration::MAX` means never.
    pub fn set_timer(&mut self, delay: Duration) -> TimerId {
        let task = TimerTask::Conn(self.id, None);
        self.inner.core.add_owned_timer(delay, task)
    }

    /// Like [`set_timer`](Self::set_timer), repeating every `interval`
    /// (missed intervals are skipped, not fired in a burst).
    pub fn set_interval(&mut self, interval: Duration) -> TimerId {
        let task = TimerTask::Conn(self.id, Some(interval));
        self.inner.core.add_owned_timer(interval, task)
    }
}

/// What becomes of a connection's input now (see `Context::input_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputState {
    /// Delivered.
    Open,
    /// Held back until reading resumes.
    Paused,
    /// Discarded: the connection is closing or gone.
    Discarded,
    /// Handed back to the transport: TLS started on the connection, and
    /// the rest of what was read is the peer's first TLS records.
    Handover,
}
