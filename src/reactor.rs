//! The [`Reactor`]: one `mio::Poll`, one thread, one loop.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::{Events, Poll};

use crate::conn::Phase;
use crate::core::{Core, RunState, TimerTask};
use crate::handle::{Call, Shared};
use crate::id::Source;
use crate::signals::SignalSource;
use crate::timer::next_repeat;
use crate::{
    Clock, ConnId, DatagramProtocol, Factory, ListenOptions, ListenerId, Protocol, ReactorConfig, ReactorContext,
    ReactorHandle, Stats, TcpOptions, TimerId, ToSocketAddr, UdpId, UdpOptions,
};

mod stop;

/// The event loop: owns one `mio::Poll` and everything registered with it.
///
/// One turn of the loop ([`turn`](Reactor::turn)) is: fire due timers, run
/// calls sent from other threads, poll with the nearest deadline as the
/// timeout (zero when a connection was cut off by its read budget), dispatch
/// each event to its protocol, serve the ready list, and after each
/// dispatch flush the output it produced. See `docs/architecture.md`.
///
/// ```
/// use reel::{Context, Protocol, Reactor};
/// use std::io::{Read, Write};
///
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
///         cx.write(data);
///     }
/// }
///
/// # fn main() -> std::io::Result<()> {
/// let mut reactor = Reactor::new()?;
/// let listener = reactor.listen_tcp("127.0.0.1:0", |_peer| {
///     Box::new(Echo) as Box<dyn Protocol>
/// })?;
/// let addr = reactor.listener_addr(listener).unwrap();
/// let handle = reactor.handle();
/// let client = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
///     let mut s = std::net::TcpStream::connect(addr)?;
///     s.write_all(b"hello")?;
///     let mut buf = [0; 5];
///     s.read_exact(&mut buf)?;
///     handle.stop();
///     Ok(buf.to_vec())
/// });
/// reactor.run()?;
/// assert_eq!(client.join().unwrap()?, b"hello");
/// # Ok(())
/// # }
/// ```
pub struct Reactor {
    poll: Poll,
    events: Events,
    /// The one read buffer, lent to `data_received` as a slice.
    scratch: Vec<u8>,
    pub(crate) core: Core,
    /// Reused for draining the cross-thread inbox.
    calls: Vec<Call>,
    signals: Option<SignalSource>,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor").field("core", &self.core).finish_non_exhaustive()
    }
}

impl Reactor {
    /// A reactor with the default [`ReactorConfig`].
    ///
    /// # Errors
    ///
    /// When the OS poller or its waker cannot be created.
    pub fn new() -> io::Result<Reactor> {
        Reactor::with_config(ReactorConfig::default())
    }

    /// A reactor with the given settings.
    ///
    /// # Errors
    ///
    /// When the OS poller or its waker cannot be created.
    pub fn with_config(config: ReactorConfig) -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), Source::Waker.token())?;
        let shared = Arc::new(Shared {
            waker,
            inbox: Mutex::new(Vec::new()),
            queued: Default::default(),
            stop: Default::default(),
        });
        let registry = poll.registry().try_clone()?;
        // Never below the largest UDP payload: a datagram is never
        // silently truncated.
        let scratch = vec![0; config.read_buffer_size.max(crate::udp::MAX_DATAGRAM)];
        Ok(Reactor {
            poll,
            events: Events::with_capacity(1024),
            scratch,
            core: Core::new(registry, config, shared),
            calls: Vec::new(),
            signals: None,
        })
    }

    /// A context over the whole reactor, as reactor-level closures get:
    /// every operation a callback may do that speaks for no connection
    /// (timers, other connections by id, listen, connect, stop). The
    /// `Reactor` methods of the same names are shortcuts to it.
    pub fn context(&mut self) -> ReactorContext<'_> {
        // Outside the loop the cached loop time may be old: refresh it.
        self.core.update_time();
        ReactorContext::new(&mut self.core)
    }

    /// Listens on `addr` (port 0 picks a free port: see
    /// [`listener_addr`](Reactor::listener_addr)); each accepted connection
    /// gets a protocol from `factory`. `SO_REUSEADDR` is set, the backlog is
    /// 1024, IPv6 addresses listen on IPv6 only.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound (in use, not permitted).
    pub fn listen_tcp(&mut self, addr: impl ToSocketAddr, factory: impl Factory + 'static) -> io::Result<ListenerId> {
        self.context().listen_tcp(addr, factory)
    }

    /// [`listen_tcp`](Reactor::listen_tcp) with options (backlog, connection
    /// limits, per-connection settings).
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub fn listen_tcp_with(
        &mut self,
        addr: impl ToSocketAddr,
        factory: impl Factory + 'static,
        opts: ListenOptions,
    ) -> io::Result<ListenerId> {
        self.context().listen_tcp_with(addr, factory, opts)
    }

    /// The address a TCP listener is bound to (for a Unix listener, the
    /// unspecified address: see [`listener_address`](Reactor::listener_address)).
    pub fn listener_addr(&self, id: ListenerId) -> Option<SocketAddr> {
        self.core.listener(id).map(|l| l.local)
    }

    /// Clients a listener refused at its connection limits so far.
    pub fn refused_count(&self, id: ListenerId) -> Option<u64> {
        self.core.listener(id).map(|l| l.refused)
    }

    /// Connects to `addr` with the default 30 s timeout. The protocol gets
    /// `connection_made` once connected, or `connection_failed` (refused,
    /// timed out, unreachable) — never a panic, never an `Err` here.
    pub fn connect_tcp(&mut self, addr: impl ToSocketAddr, protocol: impl Protocol + 'static) -> ConnId {
        self.context().connect_tcp(addr, protocol)
    }

    /// [`connect_tcp`](Reactor::connect_tcp) with options.
    pub fn connect_tcp_with(
        &mut self,
        addr: impl ToSocketAddr,
        protocol: impl Protocol + 'static,
        opts: &TcpOptions,
    ) -> ConnId {
        self.context().connect_tcp_with(addr, protocol, opts)
    }

    /// Binds a datagram endpoint on `addr` (port 0 picks a free port: see
    /// [`udp_addr`](Reactor::udp_addr)).
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub fn listen_udp(
        &mut self,
        addr: impl ToSocketAddr,
        protocol: impl DatagramProtocol + 'static,
    ) -> io::Result<UdpId> {
        self.context().listen_udp(addr, protocol)
    }

    /// [`listen_udp`](Reactor::listen_udp) with options (`SO_REUSEPORT`,
    /// dual stack).
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub fn listen_udp_with(
        &mut self,
        addr: impl ToSocketAddr,
        protocol: impl DatagramProtocol + 'static,
        opts: &UdpOptions,
    ) -> io::Result<UdpId> {
        self.context().listen_udp_with(addr, protocol, opts)
    }

    /// Binds a datagram endpoint on `local`, connected to `remote`: it only
    /// exchanges datagrams with `remote`, and learns of its refusals.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound or connected.
    pub fn connect_udp(
        &mut self,
        local: impl ToSocketAddr,
        remote: impl ToSocketAddr,
        protocol: impl DatagramProtocol + 'static,
    ) -> io::Result<UdpId> {
        self.context().connect_udp(local, remote, protocol)
    }

    /// The address a datagram endpoint is bound to.
    pub fn udp_addr(&self, id: UdpId) -> Option<SocketAddr> {
        self.core.udp(id).map(|u| u.local)
    }

    /// Datagrams an endpoint dropped because its send queue was full.
    pub fn udp_dropped(&self, id: UdpId) -> Option<u64> {
        self.core.udp(id).map(|u| u.dropped)
    }

    /// Runs `f` once after `delay`.
    pub fn call_later(&mut self, delay: Duration, f: impl FnOnce(&mut ReactorContext<'_>) + 'static) -> TimerId {
        self.context().call_later(delay, f)
    }

    /// Runs `f` every `interval`, skipping missed intervals.
    pub fn call_every(&mut self, interval: Duration, f: impl FnMut(&mut ReactorContext<'_>) + 'static) -> TimerId {
        self.context().call_every(interval, f)
    }

    /// Cancels a timer. Returns false if it already fired or was cancelled.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.core.cancel_timer(id)
    }

    /// A `Send + Clone` handle for other threads.
    pub fn handle(&self) -> ReactorHandle {
        ReactorHandle::new(self.core.shared.clone())
    }

    /// The clock timers run on.
    pub fn clock(&self) -> &Clock {
        &self.core.config.clock
    }

    /// A [`Stats`] snapshot: connections by phase, listeners, endpoints,
    /// bytes in and out, pauses, queued output, timers, refusals.
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    /// Open TCP connections (closing and lingering ones included).
    pub fn connection_count(&self) -> usize {
        self.core.conns.len()
    }

    /// Asks the loop to stop gracefully: listeners and datagram endpoints
    /// close at once, every protocol gets
    /// [`stop_requested`](Protocol::stop_requested) (by default a
    /// flush-then-close), and `run` returns once every connection is gone or
    /// the grace period ([`ReactorConfig::grace_period`]) is over; what is
    /// left then is aborted with [`Reason::Shutdown`](crate::Reason::Shutdown).
    pub fn stop(&mut self) {
        self.core.request_stop();
    }

    /// Stops the reactor gracefully on SIGINT or SIGTERM; a second signal
    /// during the drain stops it at once. Opt-in; Unix only.
    ///
    /// # Errors
    ///
    /// When the signal handlers cannot be installed.
    pub fn stop_on_signals(&mut self) -> io::Result<()> {
        if self.signals.is_none() {
            self.signals = Some(SignalSource::new(self.poll.registry(), Source::Signals.token())?);
        }
        Ok(())
    }

    /// Runs the loop until stopped; see [`stop`](Reactor::stop).
    ///
    /// # Errors
    ///
    /// When polling fails for a reason other than a signal.
    pub fn run(&mut self) -> io::Result<()> {
        loop {
            self.turn(None)?;
            if self.core.state == RunState::Halt {
                self.halt();
                self.core.state = RunState::Running;
                return Ok(());
            }
        }
    }

    /// Runs one turn of the loop, waiting at most `max_wait` for events
    /// (`None`: until the nearest timer, or forever). Useful for tests and
    /// for embedding the reactor in another loop.
    ///
    /// # Errors
    ///
    /// When polling fails for a reason other than a signal.
    pub fn turn(&mut self, max_wait: Option<Duration>) -> io::Result<()> {
        match self.core.config.slow_callback {
            None => self.turn_body::<false>(max_wait).map(drop),
            Some(threshold) => self.timed_turn(threshold, max_wait),
        }
    }

    /// A turn in the debug mode: warns if its work (the wait in poll not
    /// counted) took `threshold` or more.
    #[cold]
    #[inline(never)]
    fn timed_turn(&mut self, threshold: Duration, max_wait: Option<Duration>) -> io::Result<()> {
        let started = Instant::now();
        let waited = self.turn_body::<true>(max_wait)?;
        let busy = started.elapsed().saturating_sub(waited);
        crate::debug::slow_turn(threshold, busy, self.events.iter().count());
        Ok(())
    }

    /// One turn; with `TIMED`, returns how long it waited in poll (the
    /// untimed turn reads no clock for it).
    fn turn_body<const TIMED: bool>(&mut self, max_wait: Option<Duration>) -> io::Result<Duration> {
        // Apply what was asked outside any callback (through `Reactor`
        // methods or `Reactor::context`) before sleeping in poll: a connect
        // that failed at once, a new UDP endpoint's `started`, writes;
        // otherwise they would wait for an unrelated event.
        self.core.turn = self.core.turn.wrapping_add(1);
        self.core.settle();
        self.fire_timers();
        self.run_calls();
        self.advance_stop();
        if self.core.state == RunState::Halt {
            return Ok(Duration::ZERO);
        }
        let timeout = self.poll_timeout(max_wait);
        let poll_started = if TIMED { Some(Instant::now()) } else { None };
        let polled = self.poll.poll(&mut self.events, timeout);
        self.core.update_time();
        let waited = poll_started.map_or(Duration::ZERO, |s| s.elapsed());
        match polled {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(waited),
            Err(e) => return Err(e),
        }
        let scratch = &mut self.scratch;
        for event in self.events.iter() {
            match Source::from_token(event.token()) {
                Some(Source::Conn(id)) => self.core.conn_event(id, event, scratch),
                Some(Source::Listener(id)) => {
                    self.core.accept_ready(id);
                    self.core.settle();
                }
                Some(Source::Udp(id)) => self.core.udp_event(id, event, scratch),
                Some(Source::UnixDgram(id)) => self.core.unix_dgram_event(id, event, scratch),
                Some(Source::Waker) => {} // the inbox is drained below
                Some(Source::Signals) => {
                    if let Some(signals) = self.signals.as_mut() {
                        for name in signals.drain() {
                            signals.received += 1;
                            if self.core.state == RunState::Running || self.core.state == RunState::StopRequested {
                                log::info!("{name} received: stopping (again to stop at once)");
                                self.core.request_stop();
                            } else {
                                log::info!("{name} received again: stopping at once");
                                self.core.state = RunState::Halt;
                            }
                        }
                    }
                }
                None => log::trace!("event for unknown token {:?}", event.token()),
            }
        }
        self.serve_ready();
        self.run_calls();
        self.advance_stop();
        #[cfg(debug_assertions)]
        self.core.check_invariants();
        Ok(waited)
    }

    /// The poll timeout: zero when work is pending, else until the nearest
    /// timer, capped by `max_wait`.
    fn poll_timeout(&mut self, max_wait: Option<Duration>) -> Option<Duration> {
        if !self.core.ready.is_empty() || self.core.state == RunState::StopRequested {
            return Some(Duration::ZERO);
        }
        let timer = self.core.timers.next_deadline().map(|deadline| {
            let now = self.core.config.clock.now();
            if self.core.config.clock.is_manual() && deadline > now {
                // A manual clock moves only by hand: don't sleep for it.
                Duration::MAX
            } else {
                deadline.saturating_duration_since(now)
            }
        });
        let timer = timer.filter(|d| *d != Duration::MAX);
        match (timer, max_wait) {
            (Some(t), Some(m)) => Some(t.min(m)),
            (t, m) => t.or(m),
        }
        .map(round_up_to_ms)
    }

    /// Serves sources cut off by a budget in an earlier dispatch. Each gets
    /// one more budget; those still not drained go back on the list.
    fn serve_ready(&mut self) {
        self.core.ready_round = self.core.ready_round.wrapping_add(1);
        let n = self.core.ready.len();
        for _ in 0..n {
            let Some(source) = self.core.ready.pop_front() else { break };
            match source {
                Source::Conn(id) => {
                    if self.core.left_ready(id) {
                        if self.core.conn(id).is_some_and(|c| c.has(crate::conn::flag::PULLING)) {
                            // A pull producer waits for this turn's budget.
                            self.core.mark_dirty(id);
                        }
                        self.core.read_conn(id, &mut self.scratch);
                        self.core.settle();
                    }
                }
                Source::Udp(id) => {
                    if let Some(u) = self.core.udp_mut(id) {
                        u.in_ready = false;
                        // Errors held back from the last round (settle_udp).
                        let owed = !u.errors.is_empty();
                        self.core.read_udp(id, &mut self.scratch);
                        if owed {
                            self.core.mark_udp_dirty(id);
                        }
                        self.core.settle();
                    }
                }
                Source::Listener(id) => {
                    if let Some(l) = self.core.listener_mut(id) {
                        l.in_ready = false;
                        self.core.accept_ready(id);
                        self.core.settle();
                    }
                }
                Source::UnixDgram(id) => self.core.unix_dgram_ready(id, &mut self.scratch),
                Source::Waker | Source::Signals => {}
            }
        }
    }

    /// Reads a connection whose transport is driven by hand (the in-memory
    /// harness) and serves the ready list until it is empty: what a poll
    /// would do for a socket that became readable.
    pub(crate) fn drive_conn(&mut self, id: ConnId) {
        self.core.read_conn(id, &mut self.scratch);
        self.drain_ready();
    }

    /// Receives what an in-memory datagram endpoint (the harness's) has
    /// waiting, as a poll would for a readable socket.
    pub(crate) fn drive_udp(&mut self, id: UdpId) {
        self.core.read_udp(id, &mut self.scratch);
        self.drain_ready();
    }

    /// Settles, then serves the ready list until it is empty (bounded:
    /// standard input from a file stays on the list until EOF).
    fn drain_ready(&mut self) {
        self.core.settle();
        for _ in 0..1024 {
            if self.core.ready.is_empty() {
                break;
            }
            self.serve_ready();
        }
        #[cfg(debug_assertions)]
        self.core.check_invariants();
    }

    /// Runs the calls other threads queued, and a cross-thread stop.
    pub(crate) fn run_calls(&mut self) {
        if self.core.shared.stop.swap(false, Ordering::AcqRel) {
            self.core.request_stop();
        }
        self.core.shared.take_calls(&mut self.calls);
        for call in self.calls.drain(..) {
            self.core.call_reactor("call_from_thread", call);
            self.core.settle();
        }
    }

    /// Fires every timer due now, in deadline order (ties in the order
    /// set). Timers set by these callbacks wait for the next turn.
    pub(crate) fn fire_timers(&mut self) {
        let core = &mut self.core;
        core.update_time();
        let now = core.now();
        let limit = core.timers.next_seq();
        while let Some((id, task, due)) = core.timers.pop_due(now, limit) {
            // Repeats stay on the grid of the deadline the timer was due
            // at, not of the time it fired (a timer 3.5 intervals late
            // fires next at 4, not at 4.5).
            let scheduled = due;
            match task {
                TimerTask::Once(f) => {
                    core.timers.finish(id);
                    core.call_reactor("timer callback", f);
                }
                TimerTask::Every(mut f, interval) => {
                    core.call_reactor("repeating timer callback", &mut f);
                    let next = next_repeat(scheduled, interval, core.now());
                    core.timers.give_back(id, TimerTask::Every(f, interval), Some(next));
                }
                TimerTask::Conn(conn, interval) => {
                    let alive = |core: &Core| {
                        core.conn(conn)
                            .is_some_and(|c| matches!(c.phase, Phase::Open | Phase::WriteClosed | Phase::Closing))
                    };
                    let mut active = false;
                    if alive(core) {
                        core.call_conn(conn, "timer_fired", |p, cx| p.timer_fired(cx, id));
                        let next = interval.map(|i| next_repeat(scheduled, i, core.now()));
                        if alive(core) {
                            active = core.timers.give_back(id, TimerTask::Conn(conn, interval), next);
                        }
                    }
                    if !active {
                        core.timers.finish(id);
                        core.forget_owned_timer(&TimerTask::Conn(conn, interval), id);
                    }
                }
                TimerTask::Udp(udp, interval) => {
                    let mut active = false;
                    if core.udp(udp).is_some() {
                        core.call_udp(udp, "timer_fired", |p, cx| p.timer_fired(cx, id));
                        let next = interval.map(|i| next_repeat(scheduled, i, core.now()));
                        if core.udp(udp).is_some() {
                            active = core.timers.give_back(id, TimerTask::Udp(udp, interval), next);
                        }
                    }
                    if !active {
                        core.timers.finish(id);
                        core.forget_owned_timer(&TimerTask::Udp(udp, interval), id);
                    }
                }
                TimerTask::PhaseDeadline(conn) => {
                    core.timers.finish(id);
                    core.phase_deadline(conn);
                }
                TimerTask::Stall(conn) => {
                    core.timers.finish(id);
                    core.stall_deadline(conn);
                }
                TimerTask::AcceptRetry(lid) => {
                    core.timers.finish(id);
                    core.resume_accepting(lid);
                }
                TimerTask::Grace => {
                    core.timers.finish(id);
                    core.grace_timer = None;
                    if core.state == RunState::Draining {
                        log::info!("grace period over: aborting {} connection(s)", core.conns.len());
                        core.state = RunState::Halt;
                    }
                }
            }
            core.settle();
        }
    }

    /// The time now on the reactor's clock.
    pub fn now(&self) -> Instant {
        self.core.config.clock.now()
    }
}

/// epoll has millisecond resolution: round up so that a timer is not
/// polled for in a busy loop of zero timeouts just before it is due.
fn round_up_to_ms(d: Duration) -> Duration {
    let nanos = d.subsec_nanos() % 1_000_000;
    if nanos == 0 {
        d
    } else {
        d.saturating_add(Duration::from_nanos(u64::from(1_000_000 - nanos)))
    }
}
