//! The callback contexts: the one door from a callback into the reactor.
//!
//! Three types, one per kind of callback, so that what a callback may do
//! is checked by the compiler:
//!
//! - [`ReactorContext`]: reactor-level closures (timers set with
//!   `call_later`, calls from other threads, `defer_to_thread`
//!   continuations). Everything every callback may do is written here,
//!   once: timers, other connections by id, datagrams from any endpoint,
//!   listening and connecting, stopping.
//! - [`Context`]: connection callbacks ([`Protocol`]); adds "this
//!   connection" (write, close, pause reading, its timers and addresses).
//! - [`DatagramContext`]: datagram callbacks ([`DatagramProtocol`]); adds
//!   "this endpoint" (send, its timers and address).
//!
//! `Context` and `DatagramContext` dereference to `ReactorContext`, so the
//! shared operations are called the same way from all three.

mod conn;
mod datagram;
mod sockets;

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use self::conn::Context;
pub(crate) use self::conn::InputState;
pub use self::datagram::DatagramContext;
use crate::core::{Core, TimerTask};
use crate::{
    ConnId, DatagramProtocol, Factory, ListenOptions, ListenerId, Protocol, ReactorHandle, Reason, TcpOptions, TimerId,
    ToSocketAddr, UdpId, UdpOptions,
};

/// What every callback may do: set timers, reach other connections and
/// endpoints by id, listen and connect, stop the reactor.
///
/// Reactor-level closures (`call_later`, `call_every`,
/// [`ReactorHandle::call_from_thread`], `defer_to_thread` continuations)
/// get this context; protocol callbacks get a [`Context`] or
/// [`DatagramContext`], which dereference to it.
///
/// # The guarantees
///
/// - Nothing here blocks or runs another protocol's code. Writes are queued
///   and sent once the callback returns; closes and aborts take effect then
///   too, so a callback never sees a half-applied change.
/// - Operations on a connection or endpoint that is gone (a stale
///   [`ConnId`] or [`UdpId`]) do nothing and report it (`false`); they never
///   reach a new one that reuses the slot.
#[derive(Debug)]
pub struct ReactorContext<'a> {
    pub(crate) core: &'a mut Core,
}

impl<'a> ReactorContext<'a> {
    pub(crate) fn new(core: &'a mut Core) -> ReactorContext<'a> {
        ReactorContext { core }
    }

    // ----- other connections ---------------------------------------------------

    /// Queues `data` on a connection. Returns false if that connection is
    /// gone or closing (nothing is queued then).
    pub fn write_to(&mut self, id: ConnId, data: &[u8]) -> bool {
        self.core.write(id, data)
    }

    /// Flush-then-close a connection. Returns false if it is gone or has
    /// already ended (its `connection_lost` has run).
    pub fn close_conn(&mut self, id: ConnId) -> bool {
        self.core.close(id, None)
    }

    /// Half-closes a connection: what is queued is sent, then its write
    /// side is shut, and it is still read (see
    /// [`Context::write_eof`]). Returns false if it is gone, not yet
    /// connected, standard input, or already ended.
    pub fn write_eof_of(&mut self, id: ConnId) -> bool {
        self.core.write_eof(id)
    }

    /// Stops reading from another connection (as
    /// [`Context::pause_reading`] does for its own). Returns false if it is
    /// gone.
    pub fn pause_reading_of(&mut self, id: ConnId) -> bool {
        let known = self.core.conn(id).is_some();
        self.core.pause_reading(id);
        known
    }

    /// Resumes reading from another connection paused with
    /// [`pause_reading_of`](Self::pause_reading_of) (or its own
    /// [`Context::pause_reading`]); its protocol hears
    /// [`reading_resumed`](crate::Protocol::reading_resumed) first.
    /// Returns false if it is gone.
    pub fn resume_reading_of(&mut self, id: ConnId) -> bool {
        let known = self.core.conn(id).is_some();
        self.core.resume_reading(id);
        known
    }

    /// Makes connection `producer` a producer for `consumer`'s output
    /// (Twisted's `registerProducer` with a streaming producer): while
    /// `consumer` has more than its high water mark queued, `producer` is
    /// not read; at or below the low mark it is read again. A producer may
    /// feed several consumers (it is paused while any is full), a consumer
    /// may have several producers; either ending ends the pair. Returns
    /// false if either is gone or ending, they are the same connection,
    /// or the pair exists already. See [`crate::producer`].
    ///
    /// ```
    /// # use reel::{ConnId, Context, Protocol};
    /// /// One side of a pipe: what it reads goes to `other`; it is not
    /// /// read while `other` has too much queued.
    /// struct Side { other: ConnId }
    /// impl Protocol for Side {
    ///     fn connection_made(&mut self, cx: &mut Context<'_>) {
    ///         let me = cx.conn_id();
    ///         cx.register_producer(self.other, me);
    ///     }
    ///     fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
    ///         cx.write_to(self.other, data);
    ///     }
    /// }
    /// ```
    pub fn register_producer(&mut self, consumer: ConnId, producer: ConnId) -> bool {
        self.core.register_producer(consumer, producer)
    }

    /// Ends a pair made by [`register_producer`](Self::register_producer)
    /// (the producer is read again if nothing else pauses it). Returns
    /// false if there was no such pair.
    pub fn unregister_producer(&mut self, consumer: ConnId, producer: ConnId) -> bool {
        self.core.unregister_producer(consumer, producer)
    }

    /// Feeds `consumer` from a pull producer: it is asked for a piece
    /// whenever `consumer`'s queue is at or below the low water mark, until
    /// it says [`Pull::Done`](crate::producer::Pull::Done) (Twisted's
    /// `registerProducer` with a non-streaming producer). Returns false if
    /// the connection is gone, not writable, or has a pull producer
    /// already. See [`PullProducer`](crate::producer::PullProducer).
    pub fn register_pull_producer(
        &mut self,
        consumer: ConnId,
        producer: impl crate::producer::PullProducer + 'static,
    ) -> bool {
        self.core.register_pull(consumer, Box::new(producer))
    }

    /// Registers a push producer for `consumer`'s output (Twisted's
    /// `registerProducer` with a streaming producer that is not a
    /// connection): it hears `pause_producing` inside the write that takes
    /// the consumer above its high water mark, and `resume_producing` at or
    /// below the low mark. [`add_consumer`](Self::add_consumer) gives it more
    /// consumers (it is paused while any is full). When its last consumer
    /// ends it hears `stop_producing` and is dropped. `None` if the
    /// connection is gone or ending. See
    /// [`PushProducer`](crate::producer::PushProducer).
    pub fn register_push_producer(
        &mut self,
        consumer: ConnId,
        producer: impl crate::producer::PushProducer + 'static,
    ) -> Option<crate::ProducerId> {
        self.core.register_push(consumer, Box::new(producer))
    }

    /// One more consumer for a push producer (fan-out). False if either is
    /// gone or ending, or the pair exists already.
    pub fn add_consumer(&mut self, producer: crate::ProducerId, consumer: ConnId) -> bool {
        self.core.add_consumer(producer, consumer)
    }

    /// Unregisters a push producer from all its consumers and drops it
    /// (without `stop_producing`). False if it is gone.
    pub fn unregister_push_producer(&mut self, producer: crate::ProducerId) -> bool {
        self.core.unregister_push(producer)
    }

    /// Removes `consumer`'s pull producer, without calling
    /// `stop_producing`. Returns false if it had none.
    pub fn unregister_pull_producer(&mut self, consumer: ConnId) -> bool {
        self.core.take_pull(consumer).is_some()
    }

    /// Aborts a connection (queued output dropped, reset). Returns false if
    /// it is gone or has already ended.
    pub fn abort_conn(&mut self, id: ConnId) -> bool {
        self.core.abort(id, Reason::Aborted)
    }

    /// The peer address of a connection, while it exists.
    pub fn peer_addr_of(&self, id: ConnId) -> Option<SocketAddr> {
        self.core.conn(id).map(|c| c.peer)
    }

    /// Whether a connection is open for writing.
    pub fn is_open(&self, id: ConnId) -> bool {
        self.core.conn(id).is_some_and(|c| c.writable())
    }

    /// Bytes queued on a connection (0 if it is gone).
    pub fn queued_of(&self, id: ConnId) -> usize {
        self.core.conn(id).map_or(0, |c| c.out.len())
    }

    // ----- datagrams -------------------------------------------------------------

    /// Sends a datagram from an endpoint to `to`. Returns false if the
    /// endpoint is gone or closing. Never blocks: queued (bounded) when the
    /// socket buffer is full; errors reach the endpoint's `error_received`.
    pub fn send_from(&mut self, from: UdpId, data: &[u8], to: SocketAddr) -> bool {
        self.core.send_to(from, data, to)
    }

    /// Closes a datagram endpoint; its `stopped` is called. Returns false
    /// if it is gone.
    pub fn close_udp(&mut self, id: UdpId) -> bool {
        self.core.close_udp(id)
    }

    // ----- timers ----------------------------------------------------------------

    /// Runs `f` once after `delay` (Twisted's `callLater`).
    /// `Duration::MAX` means never.
    pub fn call_later(&mut self, delay: Duration, f: impl FnOnce(&mut ReactorContext<'_>) + 'static) -> TimerId {
        self.core.add_timer(delay, TimerTask::Once(Box::new(f)))
    }

    /// Runs `f` every `interval`, first after one interval (Twisted's
    /// `LoopingCall`); missed intervals are skipped. A zero interval runs
    /// `f` once per turn of the loop.
    pub fn call_every(&mut self, interval: Duration, f: impl FnMut(&mut ReactorContext<'_>) + 'static) -> TimerId {
        self.core.add_timer(interval, TimerTask::Every(Box::new(f), interval))
    }

    /// Cancels a timer. Returns false if it already fired or was cancelled.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.core.cancel_timer(id)
    }

    /// Moves a timer to fire `delay` from now. Returns false if it is gone.
    pub fn reset_timer(&mut self, id: TimerId, delay: Duration) -> bool {
        let deadline = crate::timer::deadline_after(self.core.now(), delay);
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
    /// When the address is not numeric or cannot be bound.
    pub fn listen_tcp(&mut self, addr: impl ToSocketAddr, factory: impl Factory + 'static) -> io::Result<ListenerId> {
        self.listen_tcp_with(addr, factory, ListenOptions::default())
    }

    /// Starts a TCP listener with options.
    ///
    /// # Errors
    ///
    /// When the address is not numeric or cannot be bound.
    pub fn listen_tcp_with(
        &mut self,
        addr: impl ToSocketAddr,
        factory: impl Factory + 'static,
        opts: ListenOptions,
    ) -> io::Result<ListenerId> {
        let addr = addr.to_socket_addr()?;
        self.core.listen_tcp(addr, Box::new(factory), opts)
    }

    /// Closes a listener; its connections stay open. Returns false if it is
    /// gone.
    pub fn close_listener(&mut self, id: ListenerId) -> bool {
        self.core.close_listener(id)
    }

    /// Connects to `addr`; see [`Reactor::connect_tcp`](crate::Reactor::connect_tcp).
    pub fn connect_tcp(&mut self, addr: impl ToSocketAddr, protocol: impl Protocol + 'static) -> ConnId {
        self.connect_tcp_with(addr, protocol, &TcpOptions::default())
    }

    /// Connects with options. An address that is not numeric fails the
    /// same way as a refused connect: through `connection_failed`.
    pub fn connect_tcp_with(
        &mut self,
        addr: impl ToSocketAddr,
        protocol: impl Protocol + 'static,
        opts: &TcpOptions,
    ) -> ConnId {
        match addr.to_socket_addr() {
            Ok(addr) => self.core.connect_tcp(addr, Box::new(protocol), opts),
            Err(e) => self.core.connect_failed_at_once(Box::new(protocol), &e),
        }
    }

    /// Binds a datagram endpoint; see [`Reactor::listen_udp`](crate::Reactor::listen_udp).
    ///
    /// # Errors
    ///
    /// When the address is not numeric or cannot be bound.
    pub fn listen_udp(
        &mut self,
        addr: impl ToSocketAddr,
        protocol: impl DatagramProtocol + 'static,
    ) -> io::Result<UdpId> {
        self.listen_udp_with(addr, protocol, &UdpOptions::default())
    }

    /// Binds a datagram endpoint with options (`SO_REUSEPORT`, dual
    /// stack); see [`UdpOptions`].
    ///
    /// # Errors
    ///
    /// When the address is not numeric or cannot be bound.
    pub fn listen_udp_with(
        &mut self,
        addr: impl ToSocketAddr,
        protocol: impl DatagramProtocol + 'static,
        opts: &UdpOptions,
    ) -> io::Result<UdpId> {
        let addr = addr.to_socket_addr()?;
        self.core.add_udp(addr, None, Box::new(protocol), opts)
    }

    /// Binds a datagram endpoint on `local` connected to `remote`.
    ///
    /// # Errors
    ///
    /// When an address is not numeric, or cannot be bound or connected.
    pub fn connect_udp(
        &mut self,
        local: impl ToSocketAddr,
        remote: impl ToSocketAddr,
        protocol: impl DatagramProtocol + 'static,
    ) -> io::Result<UdpId> {
        let (local, remote) = (local.to_socket_addr()?, remote.to_socket_addr()?);
        self.core.add_udp(local, Some(remote), Box::new(protocol), &UdpOptions::default())
    }

    /// Reads the process's standard input through `protocol`, as one more
    /// event source: `data_received` with what is typed or piped in
    /// (everything a terminal has, pasted lines at once), `eof_received` at
    /// its end. The protocol writes elsewhere (with
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
        then: impl FnOnce(&mut ReactorContext<'_>, std::thread::Result<T>) + 'static,
    ) {
        self.core.defer_to_thread(work, then);
    }

    /// Number of open TCP connections (closing and lingering ones
    /// included).
    pub fn connection_count(&self) -> usize {
        self.core.conns.len()
    }

    /// A [`Stats`](crate::Stats) snapshot of the reactor: one pass over
    /// its connections, so meant for a periodic log line, not every
    /// callback.
    pub fn stats(&self) -> crate::Stats {
        self.core.stats()
    }
}
