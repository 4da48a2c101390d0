//! The callback context: the one door from a callback into the reactor.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::core::{Core, TimerTask};
use crate::{
    ConnId, DatagramProtocol, Factory, ListenOptions, ListenerId, Protocol, ReactorHandle, Reason, TcpOptions, TimerId,
    UdpId,
};

/// Whom a context speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Current {
    Reactor,
    Conn(ConnId),
    Udp(UdpId),
}

/// What a callback may do: write to its connection or any other, close,
/// pause reading, set timers, open listeners and connections, stop the
/// reactor.
///
/// Every callback of a [`Protocol`], [`DatagramProtocol`] or timer closure
/// gets one. It borrows the whole reactor for the duration of the call, so
/// it can reach *other* connections by [`ConnId`] (a chat room
/// broadcasting) without `RefCell`s: the calling protocol is taken out of
/// its slot while it runs.
///
/// # The guarantees
///
/// - Nothing here blocks or runs another protocol's code. Writes are queued
///   and sent once the callback returns; closes and aborts take effect then
///   too, so a callback never sees a half-applied change.
/// - Operations on a connection that is gone (a stale [`ConnId`]) do
///   nothing and report it (`false`), they never reach a new connection
///   that reuses the slot.
/// - Methods about "this connection" (`write`, `close`, `peer_addr`, ...)
///   need a connection callback; called from a timer closure or a
///   datagram callback they panic, which the reactor catches and logs.
#[derive(Debug)]
pub struct Context<'a> {
    pub(crate) core: &'a mut Core,
    pub(crate) current: Current,
}

impl Context<'_> {
    #[inline]
    fn this_conn(&self) -> ConnId {
        match self.current {
            Current::Conn(id) => id,
            _ => panic!("this Context method needs a connection callback"),
        }
    }

    fn this_udp(&self) -> UdpId {
        match self.current {
            Current::Udp(id) => id,
            _ => panic!("this Context method needs a datagram callback"),
        }
    }

    // ----- this connection ---------------------------------------------------

    /// The connection this callback is for.
    ///
    /// # Panics
    ///
    /// Outside a connection callback.
    pub fn conn_id(&self) -> ConnId {
        self.this_conn()
    }

    /// Queues `data` for this connection. Never blocks; dropped (with a
    /// trace log) once the connection is closing.
    #[inline]
    pub fn write(&mut self, data: &[u8]) {
        let id = self.this_conn();
        self.core.write(id, data);
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
        self.core.write_all(id, parts);
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
        self.core.write_with(id, f)
    }

    /// Sends everything queued, then closes this connection.
    /// `connection_lost` follows with [`Reason::Closed`] (or
    /// [`Reason::PeerClosed`] after the peer's EOF). No data is delivered
    /// after this call.
    pub fn close(&mut self) {
        let id = self.this_conn();
        self.core.close(id, None);
    }

    /// Like [`close`](Self::close), but `connection_lost` gets `reason`
    /// (for example `Reason::Protocol("line too long".into())` or
    /// [`Reason::TimedOut`]).
    pub fn close_with(&mut self, reason: Reason) {
        let id = self.this_conn();
        self.core.close(id, Some(reason));
    }

    /// Drops what is queued and resets this connection
    /// ([`Reason::Aborted`]).
    pub fn abort(&mut self) {
        let id = self.this_conn();
        self.core.abort(id, Reason::Aborted);
    }

    /// Stops reading from this connection (back-pressure toward the peer).
    pub fn pause_reading(&mut self) {
        let id = self.this_conn();
        self.core.pause_reading(id);
    }

    /// Resumes reading after [`pause_reading`](Self::pause_reading).
    pub fn resume_reading(&mut self) {
        let id = self.this_conn();
        self.core.resume_reading(id);
    }

    /// The peer's address of this connection (readable in
    /// `connection_lost` too).
    pub fn peer_addr(&self) -> SocketAddr {
        let id = self.this_conn();
        self.peer_addr_of(id).unwrap_or_else(|| unspecified(false))
    }

    /// The local address of this connection.
    pub fn local_addr(&self) -> SocketAddr {
        match self.current {
            Current::Conn(id) => self.core.conn(id).map(|c| c.local).unwrap_or_else(|| unspecified(false)),
            Current::Udp(id) => self.core.udp(id).map(|u| u.local).unwrap_or_else(|| unspecified(false)),
            Current::Reactor => panic!("local_addr needs a connection or datagram callback"),
        }
    }

    /// Bytes queued and not yet sent on this connection.
    pub fn queued(&self) -> usize {
        let id = self.this_conn();
        self.core.conn(id).map_or(0, |c| c.out.len())
    }

    /// Whether this connection is closing (or gone): writes are dropped and
    /// no more input is delivered. Standard input ([`add_stdin`](Self::add_stdin))
    /// can never be written, but is not closing until it is closed.
    #[inline]
    pub fn is_closing(&self) -> bool {
        use crate::conn::{flag, Phase};
        let id = self.this_conn();
        !self.core.conn(id).is_some_and(|c| matches!(c.phase, Phase::Open | Phase::Connecting) && !c.has(flag::DOOMED))
    }

    /// Whether reading from this connection is paused, by the protocol
    /// ([`pause_reading`](Self::pause_reading)) or by flow control (queued
    /// output above the high water mark). A protocol that handles several
    /// messages from one read (a framer) stops after the current one while
    /// this is true, and goes on in
    /// [`Protocol::reading_resumed`].
    pub fn is_reading_paused(&self) -> bool {
        let id = self.this_conn();
        self.core.conn(id).is_some_and(|c| c.reading_paused())
    }

    /// Sets a one-shot timer for this connection (or datagram endpoint):
    /// after `delay`, the protocol's `timer_fired` is called with the
    /// returned id. Cancelled automatically when the connection ends.
    pub fn set_timer(&mut self, delay: Duration) -> TimerId {
        let task = match self.current {
            Current::Conn(id) => TimerTask::Conn(id, None),
            Current::Udp(id) => TimerTask::Udp(id, None),
            Current::Reactor => panic!("set_timer needs a connection or datagram callback; use call_later"),
        };
        self.core.add_owned_timer(delay, task)
    }

    /// Like [`set_timer`](Self::set_timer), repeating every `interval`
    /// (missed intervals are skipped, not fired in a burst).
    pub fn set_interval(&mut self, interval: Duration) -> TimerId {
        let task = match self.current {
            Current::Conn(id) => TimerTask::Conn(id, Some(interval)),
            Current::Udp(id) => TimerTask::Udp(id, Some(interval)),
            Current::Reactor => panic!("set_interval needs a connection or datagram callback; use call_every"),
        };
        self.core.add_owned_timer(interval, task)
    }

    // ----- other connections ---------------------------------------------------

    /// Queues `data` on another connection. Returns false if that
    /// connection is gone or closing.
    pub fn write_to(&mut self, id: ConnId, data: &[u8]) -> bool {
        self.core.write(id, data)
    }

    /// Flush-then-close another connection. Returns false if it is gone.
    pub fn close_conn(&mut self, id: ConnId) -> bool {
        self.core.close(id, None)
    }

    /// Abort another connection. Returns false if it is gone.
    pub fn abort_conn(&mut self, id: ConnId) -> bool {
        self.core.abort(id, Reason::Aborted)
    }

    /// The peer address of any live connection.
    pub fn peer_addr_of(&self, id: ConnId) -> Option<SocketAddr> {
        self.core.conn(id).map(|c| c.peer)
    }

    /// Whether a connection is open for writing.
    pub fn is_open(&self, id: ConnId) -> bool {
        self.core.conn(id).is_some_and(|c| c.writable())
    }

    /// Bytes queued on any connection (0 if it is gone).
    pub fn queued_of(&self, id: ConnId) -> usize {
        self.core.conn(id).map_or(0, |c| c.out.len())
    }

    // ----- datagrams -------------------------------------------------------------

    /// The datagram endpoint this callback is for.
    ///
    /// # Panics
    ///
    /// Outside a datagram callback.
    pub fn udp_id(&self) -> UdpId {
        self.this_udp()
    }

    /// Sends a datagram from this endpoint to `to`. Never blocks: queued
    /// (bounded) when the socket buffer is full. Errors reach
    /// `error_received`.
    pub fn send_to(&mut self, data: &[u8], to: SocketAddr) {
        let id = self.this_udp();
        self.core.send_to(id, data, to);
    }

    /// Sends a datagram on a connected endpoint.
    pub fn send(&mut self, data: &[u8]) {
        let id = self.this_udp();
        let to = self.core.udp(id).and_then(|u| u.connected).unwrap_or_else(|| unspecified(false));
        self.core.send_to(id, data, to);
    }

    /// Sends a datagram from any endpoint. Returns false if it is gone.
    pub fn send_from(&mut self, from: UdpId, data: &[u8], to: SocketAddr) -> bool {
        self.core.send_to(from, data, to)
    }

    /// Closes a datagram endpoint; its `stopped` is called.
    pub fn close_udp(&mut self, id: UdpId) -> bool {
        self.core.close_udp(id)
    }

    // ----- timers ----------------------------------------------------------------

    /// Runs `f` once after `delay` (Twisted's `callLater`).
    pub fn call_later(&mut self, delay: Duration, f: impl FnOnce(&mut Context<'_>) + 'static) -> TimerId {
        self.core.add_timer(delay, TimerTask::Once(Box::new(f)))
    }

    /// Runs `f` every `interval`, first after one interval (Twisted's
    /// `LoopingCall`); missed intervals are skipped.
    pub fn call_every(&mut self, interval: Duration, f: impl FnMut(&mut Context<'_>) + 'static) -> TimerId {
        self.core.add_timer(interval, TimerTask::Every(Box::new(f), interval))
    }

    /// Cancels a timer. Returns false if it already fired or was cancelled.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.core.cancel_timer(id)
    }

    /// Moves a timer to fire `delay` from now. Returns false if it is gone.
    pub fn reset_timer(&mut self, id: TimerId, delay: Duration) -> bool {
        let deadline = self.core.now() + delay;
        self.core.timers.reset(id, deadline)
    }

    /// Whether a timer is still waiting to fire.
    pub fn timer_active(&self, id: TimerId) -> bool {
        self.core.timers.is_active(id)
    }

    /// The loop time: the reactor's clock as read at the start of this turn
    /// of the loop (as libuv's `uv_now`); timers count from it.
    pub fn now(&self) -> Instant {
        self.core.now()
    }

    // ----- the reactor --------------------------------------------------------------

    /// Starts a TCP listener; see [`Reactor::listen_tcp`](crate::Reactor::listen_tcp).
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub fn listen_tcp(&mut self, addr: SocketAddr, factory: impl Factory + 'static) -> io::Result<ListenerId> {
        self.core.listen_tcp(addr, Box::new(factory), ListenOptions::default())
    }

    /// Starts a TCP listener with options.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub fn listen_tcp_with(
        &mut self,
        addr: SocketAddr,
        factory: impl Factory + 'static,
        opts: ListenOptions,
    ) -> io::Result<ListenerId> {
        self.core.listen_tcp(addr, Box::new(factory), opts)
    }

    /// Closes a listener; its connections stay open.
    pub fn close_listener(&mut self, id: ListenerId) -> bool {
        self.core.close_listener(id)
    }

    /// Connects to `addr`; see [`Reactor::connect_tcp`](crate::Reactor::connect_tcp).
    pub fn connect_tcp(&mut self, addr: SocketAddr, protocol: impl Protocol + 'static) -> ConnId {
        self.core.connect_tcp(addr, Box::new(protocol), &TcpOptions::default())
    }

    /// Connects with options.
    pub fn connect_tcp_with(
        &mut self,
        addr: SocketAddr,
        protocol: impl Protocol + 'static,
        opts: &TcpOptions,
    ) -> ConnId {
        self.core.connect_tcp(addr, Box::new(protocol), opts)
    }

    /// Binds a datagram endpoint.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub fn listen_udp(&mut self, addr: SocketAddr, protocol: impl DatagramProtocol + 'static) -> io::Result<UdpId> {
        self.core.add_udp(addr, None, Box::new(protocol))
    }

    /// Binds a datagram endpoint connected to `remote`.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound or connected.
    pub fn connect_udp(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        protocol: impl DatagramProtocol + 'static,
    ) -> io::Result<UdpId> {
        self.core.add_udp(local, Some(remote), Box::new(protocol))
    }

    /// Reads the process's standard input through `protocol`, as one more
    /// event source: `data_received` with what is typed or piped in,
    /// `eof_received` at its end. The protocol writes elsewhere (with
    /// [`write_to`](Self::write_to)); standard input cannot be written.
    ///
    /// # Errors
    ///
    /// When descriptor 0 cannot be duplicated or polled.
    pub fn add_stdin(&mut self, protocol: impl Protocol + 'static) -> io::Result<ConnId> {
        self.core.add_stdin(Box::new(protocol))
    }

    /// Stops the reactor gracefully (see [`Reactor::stop`](crate::Reactor::stop)).
    pub fn stop(&mut self) {
        self.core.request_stop();
    }

    /// A handle for other threads.
    pub fn handle(&self) -> ReactorHandle {
        ReactorHandle::new(self.core.shared.clone())
    }

    /// Runs `work` on a worker thread and `then` back on the reactor thread
    /// with its result (Twisted's `deferToThread`). `then` gets `Err` with
    /// the panic payload if `work` panicked.
    pub fn defer_to_thread<T: Send + 'static>(
        &mut self,
        work: impl FnOnce() -> T + Send + 'static,
        then: impl FnOnce(&mut Context<'_>, std::thread::Result<T>) + 'static,
    ) {
        self.core.defer_to_thread(work, then);
    }

    /// Number of open TCP connections (lingering ones included).
    pub fn connection_count(&self) -> usize {
        self.core.conns.len()
    }
}

fn unspecified(v6: bool) -> SocketAddr {
    if v6 {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    }
}
