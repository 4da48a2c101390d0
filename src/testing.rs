//! Testing protocols without sockets: Twisted's `StringTransport` and
//! `task.Clock`, run on the real reactor code.
//!
//! A [`Harness`] drives any [`Protocol`] through the same [`Context`] type,
//! output buffer, water marks and close logic as a real connection; only
//! the socket is replaced by an in-memory peer whose reading the test
//! controls. Timers run on a manual clock that [`Harness::advance`] moves.
//!
//! ```
//! use reel::testing::Harness;
//! use reel::{Context, Protocol, Reason};
//!
//! struct Upper;
//! impl Protocol for Upper {
//!     fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
//!         cx.write(&data.to_ascii_uppercase());
//!         if data.contains(&b'!') {
//!             cx.close();
//!         }
//!     }
//! }
//!
//! let mut h = Harness::new(Upper);
//! h.feed(b"hello ");
//! h.feed(b"world!");
//! assert_eq!(h.take_written(), b"HELLO WORLD!");
//! assert_eq!(h.lost(), Some(Reason::Closed));
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use crate::conn::{flag, Origin, Phase};
use crate::core::Core;
use crate::transport::{Stream, Transport};
use crate::{Clock, ConnId, Context, Protocol, Reactor, ReactorConfig, Reason, TcpOptions};

pub use crate::conn::Event;

mod chunking;
mod datagram;
mod server;

pub use self::chunking::assert_chunking_invariant;
pub use self::datagram::Datagram;
pub use self::server::ServerHarness;

/// The local address an in-memory connection reports unless told
/// otherwise: `127.0.0.1:7000` (see [`ServerHarness::set_local_addr`]).
pub const FAKE_LOCAL: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 7000);

/// The peer address of a [`Harness`] connection, and the first one a
/// [`ServerHarness`] hands out (each further connection gets the next
/// port): `127.0.0.1:40000`.
pub const FAKE_PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);

/// The far end of an in-memory connection: what the protocol's side wrote
/// and what the test feeds it.
#[derive(Debug, Default)]
pub(crate) struct MemoryPeer {
    /// Every byte the protocol's writes delivered.
    pub(crate) received: Vec<u8>,
    /// How many more bytes the peer accepts before writes would block;
    /// `None` is unbounded.
    pub(crate) window: Option<usize>,
    /// The protocol's side shut down writing (a clean close).
    pub(crate) write_shutdown: bool,
    /// The connection was reset (aborted) by the protocol's side.
    pub(crate) reset: bool,
    /// What the reactor did on this connection, in order.
    pub(crate) log: Vec<Event>,
    /// Fed and not yet read, one entry per feed (a "kernel buffer": it
    /// waits there while reading is paused).
    pub(crate) inbound: VecDeque<Vec<u8>>,
    /// The peer half-closed: reads return end of stream once `inbound` is
    /// empty.
    pub(crate) inbound_eof: bool,
    /// The peer reset the connection.
    pub(crate) peer_reset: bool,
    /// Writes fail with this error (and nothing else tells of it).
    pub(crate) write_error: Option<io::ErrorKind>,
    /// The reset has been reported through `take_error`.
    pub(crate) reset_reported: bool,
}

/// The in-memory transport: reads what the test fed, writes into the
/// peer's `received` within its window, and logs the reactor's events.
#[derive(Debug)]
pub(crate) struct MemoryTransport(pub(crate) Rc<RefCell<MemoryPeer>>);

impl Transport for MemoryTransport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut peer = self.0.borrow_mut();
        if peer.peer_reset {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        let Some(front) = peer.inbound.front_mut() else {
            return if peer.inbound_eof { Ok(0) } else { Err(io::ErrorKind::WouldBlock.into()) };
        };
        let n = front.len().min(buf.len());
        buf[..n].copy_from_slice(&front[..n]);
        front.drain(..n);
        if front.is_empty() {
            peer.inbound.pop_front();
        }
        Ok(n)
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut peer = self.0.borrow_mut();
        if peer.peer_reset {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        if let Some(kind) = peer.write_error {
            return Err(kind.into());
        }
        let n = match peer.window {
            None => buf.len(),
            Some(0) => return Err(io::ErrorKind::WouldBlock.into()),
            Some(w) => w.min(buf.len()),
        };
        if let Some(w) = peer.window.as_mut() {
            *w -= n;
        }
        peer.received.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.0.borrow_mut().write_shutdown = true;
        Ok(())
    }

    fn set_reset_on_close(&mut self) {
        self.0.borrow_mut().reset = true;
    }

    fn take_error(&mut self) -> io::Result<Option<io::Error>> {
        let mut peer = self.0.borrow_mut();
        if peer.peer_reset && !peer.reset_reported {
            peer.reset_reported = true;
            return Ok(Some(io::ErrorKind::ConnectionReset.into()));
        }
        Ok(None)
    }

    fn observe(&mut self, event: &Event) {
        self.0.borrow_mut().log.push(event.clone());
    }
}

/// Everything a test can observe of a connection: bytes written, events,
/// and how it ended. Two runs of a protocol over the same input, however
/// chunked, must produce equal transcripts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transcript {
    /// Every byte the protocol wrote (and the reactor sent).
    pub written: Vec<u8>,
    /// What happened, in order.
    pub events: Vec<Event>,
    /// Whether the protocol's side shut down writing cleanly.
    pub write_shutdown: bool,
    /// Whether the protocol's side reset the connection.
    pub reset: bool,
}

/// Drives one protocol over an in-memory connection, its local address
/// [`FAKE_LOCAL`] and its peer's [`FAKE_PEER`]. For several connections
/// served by one factory (a broadcast, a graceful stop), see
/// [`ServerHarness`].
#[derive(Debug)]
pub struct Harness {
    reactor: Reactor,
    id: ConnId,
    peer: Rc<RefCell<MemoryPeer>>,
    /// A graceful stop completed (`run` would have returned).
    stopped: bool,
}

/// Adds an in-memory connection (`addrs`: local, peer) standing for an
/// accepted one, and calls `connection_made`.
pub(crate) fn add_memory_conn(
    core: &mut Core,
    protocol: Box<dyn Protocol>,
    opts: &TcpOptions,
    addrs: (SocketAddr, SocketAddr),
) -> (ConnId, Rc<RefCell<MemoryPeer>>) {
    let peer = Rc::new(RefCell::new(MemoryPeer::default()));
    let transport = Stream::Other(Box::new(MemoryTransport(Rc::clone(&peer))));
    let id = match core.insert_conn(transport, Some(protocol), Phase::Open, addrs, opts, Origin::Harness) {
        Ok(id) => id,
        // Only a socket registration can fail, and there is no socket.
        Err(e) => panic!("in-memory connection: {e}"),
    };
    core.made(id);
    core.settle();
    (id, peer)
}

pub(crate) fn manual_reactor() -> Reactor {
    let config = ReactorConfig { clock: Clock::manual(), ..ReactorConfig::default() };
    match Reactor::with_config(config) {
        Ok(r) => r,
        Err(e) => panic!("cannot create a reactor for the harness: {e}"),
    }
}

impl Harness {
    /// Makes the connection and calls `connection_made`.
    ///
    /// # Panics
    ///
    /// If the OS cannot create a poller.
    pub fn new(protocol: impl Protocol + 'static) -> Harness {
        Harness::with_options(protocol, &TcpOptions::default())
    }

    /// Like [`new`](Harness::new), with connection options (water marks,
    /// output limit).
    ///
    /// # Panics
    ///
    /// If the OS cannot create a poller.
    pub fn with_options(protocol: impl Protocol + 'static, opts: &TcpOptions) -> Harness {
        Harness::with_addrs(protocol, opts, FAKE_LOCAL, FAKE_PEER)
    }

    /// Like [`with_options`](Harness::with_options), the connection
    /// reporting `local` as its address and `peer` as its peer's (any
    /// addresses: nothing is bound).
    ///
    /// ```
    /// use reel::testing::Harness;
    /// use reel::{Context, Protocol, TcpOptions};
    ///
    /// struct Greet;
    /// impl Protocol for Greet {
    ///     fn connection_made(&mut self, cx: &mut Context<'_>) {
    ///         cx.write(format!("hello {}", cx.peer_addr().ip()).as_bytes());
    ///     }
    ///     fn data_received(&mut self, _: &mut Context<'_>, _: &[u8]) {}
    /// }
    ///
    /// let peer = "[2001:db8::1]:5000".parse().unwrap();
    /// let h = Harness::with_addrs(Greet, &TcpOptions::default(), "[::1]:80".parse().unwrap(), peer);
    /// assert_eq!(h.written(), b"hello 2001:db8::1");
    /// ```
    ///
    /// # Panics
    ///
    /// If the OS cannot create a poller.
    pub fn with_addrs(
        protocol: impl Protocol + 'static,
        opts: &TcpOptions,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> Harness {
        let mut reactor = manual_reactor();
        let (id, peer) = add_memory_conn(&mut reactor.core, Box::new(protocol), opts, (local, peer));
        Harness { reactor, id, peer, stopped: false }
    }

    /// The connection's id.
    pub fn conn_id(&self) -> ConnId {
        self.id
    }

    /// The peer sends `data`; the protocol reads it as one read (or
    /// several of at most the reactor's read buffer size). While reading is
    /// paused it waits, as in a kernel buffer, and is read on resume.
    pub fn feed(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.peer.borrow_mut().inbound.push_back(data.to_vec());
        }
        self.drive();
    }

    /// Delivers `data` in reads of `chunk` bytes.
    pub fn feed_chunks(&mut self, data: &[u8], chunk: usize) {
        for piece in data.chunks(chunk.max(1)) {
            self.feed(piece);
        }
    }

    /// The peer half-closes: `eof_received` follows once everything fed
    /// before has been read.
    pub fn feed_eof(&mut self) {
        self.peer.borrow_mut().inbound_eof = true;
        self.drive();
    }

    /// The peer resets the connection: whatever the phase, the connection
    /// ends (`connection_lost` with [`Reason::Reset`], unless it already
    /// ended).
    pub fn peer_resets(&mut self) {
        self.peer.borrow_mut().peer_reset = true;
        self.reactor.core.hang_up(self.id);
        self.drive();
    }

    /// From now on the connection's writes fail with `kind` (say
    /// `BrokenPipe`), with no readiness event telling of it first: the
    /// connection ends at its next flush.
    pub fn fail_writes(&mut self, kind: io::ErrorKind) {
        self.peer.borrow_mut().write_error = Some(kind);
    }

    /// Bytes fed and not yet read by the protocol (they wait while reading
    /// is paused).
    pub fn unread(&self) -> usize {
        self.peer.borrow().inbound.iter().map(Vec::len).sum()
    }

    /// The bytes written so far (and not yet taken).
    pub fn written(&self) -> Vec<u8> {
        self.peer.borrow().received.clone()
    }

    /// Takes the bytes written so far.
    pub fn take_written(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.peer.borrow_mut().received)
    }

    /// Bytes queued in the connection's output buffer, not yet taken by
    /// the peer.
    pub fn queued(&self) -> usize {
        self.reactor.core.conn(self.id).map_or(0, |c| c.out.len())
    }

    /// Why the connection ended, once `connection_lost` ran.
    pub fn lost(&self) -> Option<Reason> {
        self.peer.borrow().log.iter().find_map(|e| match e {
            Event::Lost(r) => Some(r.clone()),
            _ => None,
        })
    }

    /// Whether reading is paused, by the protocol or by flow control.
    pub fn is_reading_paused(&self) -> bool {
        self.reactor.core.conn(self.id).is_some_and(|c| c.reading_paused())
    }

    /// Whether the connection's slot is gone (ended, and done lingering).
    pub fn is_freed(&self) -> bool {
        self.reactor.core.conn(self.id).is_none()
    }

    /// Timers still pending in the reactor (the connection's own, its
    /// phase deadline, reactor-level ones). Zero once a connection has
    /// ended and nothing else was set: nothing is left behind.
    pub fn pending_timers(&self) -> usize {
        self.reactor.core.timers.len()
    }

    /// Reads what is readable, and moves a graceful stop along as the
    /// loop would: once nothing is left to drain (or the grace period is
    /// over), what remains is aborted and the stop completes.
    fn drive(&mut self) {
        self.reactor.drive_conn(self.id);
        if self.reactor.advance_stop_by_hand() {
            self.stopped = true;
        }
    }

    /// Asks the reactor to stop gracefully, as a signal would: the protocol
    /// gets `stop_requested` (by default a flush-then-close) and the grace
    /// timer starts on the manual clock; [`advance`](Harness::advance)
    /// past the grace period aborts what is left with
    /// [`Reason::Shutdown`].
    ///
    /// # Panics
    ///
    /// If polling the (empty) poller fails.
    pub fn stop(&mut self) {
        self.reactor.stop();
        self.drive();
    }

    /// Whether a stop has completed: the reactor's `run` would have
    /// returned.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.peer.borrow().log.clone()
    }

    /// Everything observable so far.
    pub fn transcript(&self) -> Transcript {
        transcript_of(&self.peer)
    }

    /// The peer stops reading: it accepts `window` more bytes, then the
    /// connection's writes would block (`None`: the peer reads everything).
    pub fn set_peer_window(&mut self, window: Option<usize>) {
        self.peer.borrow_mut().window = window;
        self.writable();
    }

    /// The peer reads `n` more bytes (a writable event follows).
    pub fn peer_reads(&mut self, n: usize) {
        {
            let mut peer = self.peer.borrow_mut();
            peer.window = Some(peer.window.unwrap_or(0).saturating_add(n));
        }
        self.writable();
    }

    fn writable(&mut self) {
        let core = &mut self.reactor.core;
        if let Some(c) = core.conn_mut(self.id) {
            c.clear(flag::WRITE_BLOCKED);
        }
        core.mark_dirty(self.id);
        self.drive();
    }

    /// Moves the manual clock forward and fires the timers now due, in
    /// order (repeating ones once per call, skipping missed intervals).
    pub fn advance(&mut self, by: Duration) {
        // One turn of the loop (a pull producer's budget is per turn).
        self.reactor.core.turn = self.reactor.core.turn.wrapping_add(1);
        self.reactor.core.config.clock.advance(by);
        self.reactor.fire_timers();
        self.reactor.run_calls();
        self.drive();
    }

    /// The manual clock.
    pub fn clock(&self) -> &Clock {
        self.reactor.clock()
    }

    /// Runs `f` with a context for this connection, as if from a callback
    /// (for example to call `cx.close()` from the test).
    pub fn with_context<R>(&mut self, f: impl FnOnce(&mut Context<'_>) -> R) -> R {
        let core = &mut self.reactor.core;
        let r = f(&mut Context::new(&mut *core, self.id));
        self.drive();
        r
    }
}

/// Two protocols connected back to back in memory, for a client against a
/// server. Bytes move only when [`pump`](Pair::pump) is called.
#[derive(Debug)]
pub struct Pair {
    reactor: Reactor,
    ends: [(ConnId, Rc<RefCell<MemoryPeer>>); 2],
    /// Bytes of each end already moved to the other.
    moved: [usize; 2],
    eof_sent: [bool; 2],
}

impl Pair {
    /// Connects `a` (say, the client) to `b` (the server); both get
    /// `connection_made`.
    ///
    /// # Panics
    ///
    /// If the OS cannot create a poller.
    pub fn new(a: impl Protocol + 'static, b: impl Protocol + 'static) -> Pair {
        let mut reactor = manual_reactor();
        let opts = TcpOptions::default();
        let ea = add_memory_conn(&mut reactor.core, Box::new(a), &opts, (FAKE_LOCAL, FAKE_PEER));
        let eb = add_memory_conn(&mut reactor.core, Box::new(b), &opts, (FAKE_PEER, FAKE_LOCAL));
        Pair { reactor, ends: [ea, eb], moved: [0, 0], eof_sent: [false, false] }
    }

    /// Moves bytes (and clean closes, as EOF) between the two ends until
    /// neither has anything more to say. Returns the bytes moved.
    pub fn pump(&mut self) -> usize {
        let mut total = 0;
        loop {
            let mut progressed = false;
            for from in 0..2 {
                let to = 1 - from;
                let (data, shut) = {
                    let peer = self.ends[from].1.borrow();
                    (peer.received[self.moved[from]..].to_vec(), peer.write_shutdown)
                };
                if !data.is_empty() {
                    self.moved[from] += data.len();
                    total += data.len();
                    progressed = true;
                    self.ends[to].1.borrow_mut().inbound.push_back(data);
                    self.reactor.drive_conn(self.ends[to].0);
                }
                if shut && !self.eof_sent[from] {
                    self.eof_sent[from] = true;
                    progressed = true;
                    self.ends[to].1.borrow_mut().inbound_eof = true;
                    self.reactor.drive_conn(self.ends[to].0);
                }
            }
            if !progressed {
                return total;
            }
        }
    }

    /// Everything end 0 (`a`) wrote so far, with its events.
    pub fn transcript_a(&self) -> Transcript {
        transcript_of(&self.ends[0].1)
    }

    /// Everything end 1 (`b`) wrote so far, with its events.
    pub fn transcript_b(&self) -> Transcript {
        transcript_of(&self.ends[1].1)
    }

    /// Moves the manual clock and fires due timers (then pumps).
    pub fn advance(&mut self, by: Duration) {
        self.reactor.core.turn = self.reactor.core.turn.wrapping_add(1);
        self.reactor.core.config.clock.advance(by);
        self.reactor.fire_timers();
        self.pump();
    }
}

pub(crate) fn transcript_of(peer: &Rc<RefCell<MemoryPeer>>) -> Transcript {
    let peer = peer.borrow();
    Transcript {
        written: peer.received.clone(),
        events: peer.log.clone(),
        write_shutdown: peer.write_shutdown,
        reset: peer.reset,
    }
}
