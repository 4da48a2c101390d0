//! A whole server in memory: a factory's connections and datagram
//! endpoints in one reactor.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use super::datagram::{add_memory_udp, Datagram, Endpoints};
use super::{add_memory_conn, manual_reactor, transcript_of, Event, MemoryPeer, Transcript, FAKE_LOCAL, FAKE_PEER};
use crate::conn::flag;
use crate::{
    Clock, ConnId, Context, DatagramProtocol, Factory, Reactor, ReactorContext, Reason, Stats, TcpOptions, UdpId,
};

/// Serves a [`Factory`] in memory: every connection the test opens gets a
/// protocol from it, all in one reactor on a manual clock, as a listener
/// would (ids are unique; a protocol reaches the others by id, so a
/// broadcast or a room works as on sockets). Datagram endpoints run in the
/// same reactor with an in-memory socket.
///
/// Addresses are fake and settable: connections report the local address
/// [`FAKE_LOCAL`] (see [`set_local_addr`](Self::set_local_addr)) and, from
/// [`connect`](Self::connect), peers `127.0.0.1:40000`, `127.0.0.1:40001`
/// and so on ([`FAKE_PEER`] and the ports after it); [`connect_from`](Self::connect_from)
/// chooses the peer. Nothing is bound: any address works, in use or not.
///
/// ```
/// use reel::testing::ServerHarness;
/// use reel::{Context, Protocol, Reason};
///
/// struct Shout;
/// impl Protocol for Shout {
///     fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
///         cx.write(&data.to_ascii_uppercase());
///     }
/// }
///
/// let mut server = ServerHarness::new(|_peer| Shout);
/// let a = server.connect();
/// let b = server.connect();
/// assert_ne!(a, b);
/// server.feed(a, b"hi");
/// assert_eq!(server.take_written(a), b"HI");
/// assert!(server.written(b).is_empty());
/// server.stop(); // each protocol's `stop_requested`: by default, close
/// assert_eq!(server.lost(b), Some(Reason::Closed));
/// // Flushed, write side shut: each lingers until its peer's EOF (or the
/// // linger time), so that no reset destroys what is still in flight.
/// server.feed_eof(a);
/// server.feed_eof(b);
/// assert!(server.is_stopped());
/// ```
pub struct ServerHarness {
    reactor: Reactor,
    factory: Box<dyn Factory>,
    opts: TcpOptions,
    local: SocketAddr,
    next_port: u16,
    /// Every connection opened, in order, with its in-memory peer (kept
    /// after it ends, for its transcript).
    conns: Vec<(ConnId, SocketAddr, Rc<RefCell<MemoryPeer>>)>,
    endpoints: Endpoints,
    stopped: bool,
}

impl std::fmt::Debug for ServerHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHarness")
            .field("reactor", &self.reactor)
            .field("conns", &self.conns.len())
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

impl ServerHarness {
    /// Serves `factory` with the default connection options.
    ///
    /// # Panics
    ///
    /// If the OS cannot create a poller.
    pub fn new(factory: impl Factory + 'static) -> ServerHarness {
        ServerHarness::with_options(factory, &TcpOptions::default())
    }

    /// Serves `factory`; every connection gets `opts` (water marks, output
    /// limits, flow control), as from a listener's
    /// [`ListenOptions::tcp`](crate::ListenOptions).
    ///
    /// # Panics
    ///
    /// If the OS cannot create a poller.
    pub fn with_options(factory: impl Factory + 'static, opts: &TcpOptions) -> ServerHarness {
        ServerHarness {
            reactor: manual_reactor(),
            factory: Box::new(factory),
            opts: opts.clone(),
            local: FAKE_LOCAL,
            next_port: FAKE_PEER.port(),
            conns: Vec::new(),
            endpoints: HashMap::new(),
            stopped: false,
        }
    }

    /// The local address of connections opened from now on (default
    /// [`FAKE_LOCAL`]).
    pub fn set_local_addr(&mut self, addr: SocketAddr) {
        self.local = addr;
    }

    /// A client connects from the next fake address (`127.0.0.1:40000`,
    /// then `:40001`...): the factory builds its protocol, which gets
    /// `connection_made`. Returns the connection's id.
    pub fn connect(&mut self) -> ConnId {
        let peer = SocketAddr::new(FAKE_PEER.ip(), self.next_port);
        self.next_port = self.next_port.wrapping_add(1);
        self.connect_from(peer)
    }

    /// A client connects from `peer` (two connections may share one).
    pub fn connect_from(&mut self, peer: SocketAddr) -> ConnId {
        let protocol = self.factory.build_protocol(peer);
        let (id, mem) = add_memory_conn(&mut self.reactor.core, protocol, &self.opts, (self.local, peer));
        self.conns.push((id, peer, mem));
        self.drive(None);
        id
    }

    fn peer(&self, id: ConnId) -> &Rc<RefCell<MemoryPeer>> {
        match self.conns.iter().find(|(c, _, _)| *c == id) {
            Some((_, _, p)) => p,
            None => panic!("{id} is not a connection of this harness"),
        }
    }

    /// Every connection opened so far, in order, ended ones included.
    pub fn connections(&self) -> Vec<ConnId> {
        self.conns.iter().map(|(id, _, _)| *id).collect()
    }

    /// The peer address a connection was opened from.
    ///
    /// # Panics
    ///
    /// If `id` is not a connection of this harness (so do the other
    /// methods taking an id).
    pub fn peer_addr(&self, id: ConnId) -> SocketAddr {
        match self.conns.iter().find(|(c, _, _)| *c == id) {
            Some((_, addr, _)) => *addr,
            None => panic!("{id} is not a connection of this harness"),
        }
    }

    /// Connections still in the reactor (open, closing or lingering).
    pub fn connection_count(&self) -> usize {
        self.reactor.core.conns.len()
    }

    /// Whether `id` is open (not closing, not ended).
    pub fn is_open(&self, id: ConnId) -> bool {
        self.reactor.core.conn(id).is_some_and(|c| c.writable() && !c.has(flag::DOOMED))
    }

    /// The peer of `id` sends `data` (read at once, or held while reading
    /// is paused, as in a kernel buffer).
    pub fn feed(&mut self, id: ConnId, data: &[u8]) {
        if !data.is_empty() {
            self.peer(id).borrow_mut().inbound.push_back(data.to_vec());
        }
        self.drive(Some(id));
    }

    /// The peer of `id` half-closes (`eof_received` follows once what was
    /// fed before has been read).
    pub fn feed_eof(&mut self, id: ConnId) {
        self.peer(id).borrow_mut().inbound_eof = true;
        self.drive(Some(id));
    }

    /// The peer of `id` resets the connection.
    pub fn peer_resets(&mut self, id: ConnId) {
        self.peer(id).borrow_mut().peer_reset = true;
        self.reactor.core.hang_up(id);
        self.drive(Some(id));
    }

    /// The server side closes `id` (flush, then close), as a protocol's
    /// `cx.close()` would. Returns false if it was not open.
    pub fn close(&mut self, id: ConnId) -> bool {
        self.with_reactor(|cx| cx.close_conn(id))
    }

    /// The peer of `id` accepts `window` more bytes, then writes would
    /// block (`None`: it reads everything).
    pub fn set_peer_window(&mut self, id: ConnId, window: Option<usize>) {
        self.peer(id).borrow_mut().window = window;
        self.writable(id);
    }

    /// The peer of `id` reads `n` more bytes.
    pub fn peer_reads(&mut self, id: ConnId, n: usize) {
        {
            let mut peer = self.peer(id).borrow_mut();
            peer.window = Some(peer.window.unwrap_or(0).saturating_add(n));
        }
        self.writable(id);
    }

    /// Writes on `id` fail with `kind` from now on.
    pub fn fail_writes(&mut self, id: ConnId, kind: io::ErrorKind) {
        self.peer(id).borrow_mut().write_error = Some(kind);
    }

    fn writable(&mut self, id: ConnId) {
        let core = &mut self.reactor.core;
        if let Some(c) = core.conn_mut(id) {
            c.clear(flag::WRITE_BLOCKED);
        }
        core.mark_dirty(id);
        core.settle();
        self.drive(Some(id));
    }

    /// The bytes written to `id`'s peer so far (and not yet taken).
    pub fn written(&self, id: ConnId) -> Vec<u8> {
        self.peer(id).borrow().received.clone()
    }

    /// Takes the bytes written to `id`'s peer so far.
    pub fn take_written(&mut self, id: ConnId) -> Vec<u8> {
        std::mem::take(&mut self.peer(id).borrow_mut().received)
    }

    /// Bytes queued on `id`, not yet taken by its peer.
    pub fn queued(&self, id: ConnId) -> usize {
        self.reactor.core.conn(id).map_or(0, |c| c.out.len())
    }

    /// What happened on `id`, in order.
    pub fn events(&self, id: ConnId) -> Vec<Event> {
        self.peer(id).borrow().log.clone()
    }

    /// Everything observable of `id` so far (bytes not taken, events, how
    /// its write side ended).
    pub fn transcript(&self, id: ConnId) -> Transcript {
        transcript_of(self.peer(id))
    }

    /// Why `id` ended, once its `connection_lost` ran.
    pub fn lost(&self, id: ConnId) -> Option<Reason> {
        self.peer(id).borrow().log.iter().find_map(|e| match e {
            Event::Lost(r) => Some(r.clone()),
            _ => None,
        })
    }

    /// Runs `f` with a context for connection `id`, as if from one of its
    /// callbacks (then applies what it asked for).
    pub fn with_context<R>(&mut self, id: ConnId, f: impl FnOnce(&mut Context<'_>) -> R) -> R {
        let r = f(&mut Context::new(&mut self.reactor.core, id));
        self.reactor.core.settle();
        self.drive(Some(id));
        r
    }

    /// Runs `f` with a context over the whole reactor (timers, any
    /// connection by id, stop), then applies what it asked for.
    pub fn with_reactor<R>(&mut self, f: impl FnOnce(&mut ReactorContext<'_>) -> R) -> R {
        let r = f(&mut ReactorContext::new(&mut self.reactor.core));
        self.reactor.core.settle();
        self.drive(None);
        r
    }

    /// The reactor's [`Stats`] now.
    pub fn stats(&self) -> Stats {
        self.reactor.stats()
    }

    /// Asks the reactor to stop gracefully, as a signal would: every open
    /// connection's protocol gets `stop_requested` (by default, close after
    /// flushing), endpoints get `stopped`, and the stop completes once
    /// every protocol is done; [`advance`](Self::advance) past the grace
    /// period aborts what is left with [`Reason::Shutdown`]. What each
    /// protocol wrote and heard stays readable afterwards.
    pub fn stop(&mut self) {
        self.reactor.stop();
        self.drive(None);
    }

    /// Whether a stop completed (the reactor's `run` would have returned).
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Moves the manual clock forward and fires the timers now due.
    pub fn advance(&mut self, by: Duration) {
        self.reactor.core.config.clock.advance(by);
        self.reactor.fire_timers();
        self.reactor.run_calls();
        self.drive(None);
    }

    /// The manual clock.
    pub fn clock(&self) -> &Clock {
        self.reactor.clock()
    }

    /// Timers pending in the reactor.
    pub fn pending_timers(&self) -> usize {
        self.reactor.core.timers.len()
    }

    // ----- datagram endpoints -----------------------------------------------

    /// Opens a datagram endpoint on `local` with an in-memory socket
    /// (nothing is bound); its `started` runs at once.
    pub fn bind_udp(&mut self, local: SocketAddr, protocol: impl DatagramProtocol + 'static) -> UdpId {
        self.add_udp(local, None, Box::new(protocol))
    }

    /// Opens an in-memory datagram endpoint on `local` connected to
    /// `remote` (its `send` goes there).
    pub fn connect_udp(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        protocol: impl DatagramProtocol + 'static,
    ) -> UdpId {
        self.add_udp(local, Some(remote), Box::new(protocol))
    }

    fn add_udp(&mut self, local: SocketAddr, remote: Option<SocketAddr>, p: Box<dyn DatagramProtocol>) -> UdpId {
        let (id, net) = add_memory_udp(&mut self.reactor.core, local, remote, p);
        self.endpoints.insert(id, net);
        self.reactor.core.settle();
        self.drive(None);
        id
    }

    fn net(&self, id: UdpId) -> &Rc<RefCell<super::datagram::MemoryNet>> {
        match self.endpoints.get(&id) {
            Some(n) => n,
            None => panic!("{id} is not an endpoint of this harness"),
        }
    }

    /// A datagram from `from` arrives at endpoint `id`
    /// (`datagram_received` runs at once).
    ///
    /// # Panics
    ///
    /// If `id` is not an endpoint of this harness.
    pub fn send_datagram(&mut self, id: UdpId, from: SocketAddr, data: &[u8]) {
        self.net(id).borrow_mut().inbound.push_back((data.to_vec(), from));
        self.reactor.drive_udp(id);
        self.drive(None);
    }

    /// Takes what endpoint `id` sent so far, in order, with where to.
    pub fn take_sent(&mut self, id: UdpId) -> Vec<Datagram> {
        std::mem::take(&mut self.net(id).borrow_mut().sent)
    }

    /// From now on, sends from endpoint `id` fail with `kind`
    /// (`error_received` follows); `None` lets them through again.
    pub fn fail_sends(&mut self, id: UdpId, kind: Option<io::ErrorKind>) {
        self.net(id).borrow_mut().send_error = kind;
    }

    /// Whether endpoint `id` is still open.
    pub fn is_udp_open(&self, id: UdpId) -> bool {
        self.reactor.core.udp(id).is_some_and(|u| !u.closing)
    }

    /// Reads what connections have waiting (the one acted on first), and
    /// moves a graceful stop along as the loop would.
    fn drive(&mut self, first: Option<ConnId>) {
        if let Some(id) = first {
            self.reactor.drive_conn(id);
        }
        // Input fed earlier and held by a pause that has ended since.
        for i in 0..self.conns.len() {
            let (id, _, peer) = &self.conns[i];
            let waiting = {
                let p = peer.borrow();
                !p.inbound.is_empty() || p.inbound_eof
            };
            let id = *id;
            if waiting && Some(id) != first && self.reactor.core.conn(id).is_some() {
                self.reactor.drive_conn(id);
            }
        }
        if self.reactor.advance_stop_by_hand() {
            self.stopped = true;
        }
    }
}
