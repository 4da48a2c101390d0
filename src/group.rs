//! One reactor per core: a [`ReactorGroup`] runs N single-threaded
//! reactors on N threads, each set up by the same closure, usually each
//! with its own listener on one shared port (`SO_REUSEPORT`, see
//! [`ListenOptions::reuse_port`](crate::ListenOptions::reuse_port)) so
//! that the kernel spreads connections among them.
//!
//! Nothing is shared between the reactors but what the setup closure
//! shares on purpose: protocols stay `!Send`, every connection lives and
//! dies on the reactor that accepted it, and nothing in a connection's
//! path takes a lock. Reactors talk to each other only through their
//! [`ReactorHandle`]s ([`GroupHandle::call_on`], [`GroupHandle::write_to`]):
//! a closure queued on the other reactor's inbox, which it runs on its own
//! thread (nginx's workers, netty's `EventLoopGroup`, one tokio
//! current-thread runtime per core).
//!
//! The group lives while all its reactors live: when one reactor stops
//! (a `stop`, a signal, an error, a panic that escaped it), every other
//! one is asked to stop too, each drains its connections within its
//! grace period, and [`ReactorGroup::join`] returns once every thread is
//! gone, with the first failure if there was one.
//!
//! The parts: this file holds the settings ([`GroupConfig`]) and what
//! the threads share ([`GroupHandle`], [`GroupMember`]);
//! `group/reactor_group.rs` the group itself ([`ReactorGroup`]: start,
//! join, stop); `group/member_thread.rs` the life of one reactor thread;
//! `group/error.rs` the errors ([`GroupError`]).

use std::cell::Cell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::{ConnId, ReactorConfig, ReactorContext, ReactorHandle};

mod error;
mod member_thread;
mod reactor_group;

pub use self::error::GroupError;
pub use self::reactor_group::ReactorGroup;

/// Settings of a [`ReactorGroup`].
///
/// ```
/// let config = reel::GroupConfig { threads: 2, pin_cores: true, ..Default::default() };
/// assert!(!config.stop_on_signals);
/// ```
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// How many reactors (and threads). Default 1; 0 counts as 1.
    pub threads: usize,
    /// The settings of every reactor (the grace period of a stop among
    /// them).
    pub reactor: ReactorConfig,
    /// Stop the whole group gracefully on SIGINT or SIGTERM (every reactor
    /// drains; a second signal stops each at once). Default `false`.
    pub stop_on_signals: bool,
    /// Pin reactor `i` to CPU core `i` (modulo the cores this process may
    /// use), so that a reactor keeps its caches warm and two reactors
    /// never share a core while another is idle. Default `false`: on a
    /// machine shared with other work (a load generator, other services)
    /// the scheduler usually places threads better than a fixed pinning.
    /// A core that cannot be pinned is logged and the reactor runs
    /// unpinned.
    pub pin_cores: bool,
    /// The threads' name prefix (`reel-0`, `reel-1`, ...). Default `"reel"`.
    pub name: String,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            threads: 1,
            reactor: ReactorConfig::default(),
            stop_on_signals: false,
            pin_cores: false,
            name: "reel".to_string(),
        }
    }
}

/// What the group shares between its threads: the handles, the
/// addresses bound so far, the first failure.
struct Inner {
    handles: Vec<ReactorHandle>,
    /// The addresses [`GroupMember::bind_shared`] bound on reactor 0, in
    /// call order.
    shared_addrs: Mutex<Vec<SocketAddr>>,
    failures: Mutex<Vec<GroupError>>,
}

/// A `Send + Sync + Clone` handle to every reactor of a group: stop them
/// all, or run a closure on one of them.
///
/// ```
/// # fn main() -> Result<(), reel::GroupError> {
/// let config = reel::GroupConfig { threads: 2, ..Default::default() };
/// let group = reel::ReactorGroup::start(config, |_reactor, _member| Ok(()))?;
/// let handle = group.handle();
/// let (tx, rx) = std::sync::mpsc::channel();
/// handle.call_on(1, move |_cx| tx.send("ran on reactor 1").unwrap());
/// assert_eq!(rx.recv().unwrap(), "ran on reactor 1");
/// handle.stop();
/// group.join()
/// # }
/// ```
#[derive(Clone)]
pub struct GroupHandle {
    inner: Arc<Inner>,
}

impl fmt::Debug for GroupHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupHandle").field("reactors", &self.inner.handles.len()).finish()
    }
}

impl GroupHandle {
    /// How many reactors the group has.
    pub fn len(&self) -> usize {
        self.inner.handles.len()
    }

    /// Whether the group has no reactor (never: a group has at least one).
    pub fn is_empty(&self) -> bool {
        self.inner.handles.is_empty()
    }

    /// The handle of reactor `index`.
    ///
    /// # Panics
    ///
    /// If `index` is not below [`len`](GroupHandle::len).
    pub fn reactor(&self, index: usize) -> &ReactorHandle {
        &self.inner.handles[index]
    }

    /// Every reactor's handle, in order.
    pub fn reactors(&self) -> &[ReactorHandle] {
        &self.inner.handles
    }

    /// Runs `f` on reactor `index`'s thread, soon (see
    /// [`ReactorHandle::call_from_thread`]): calls made from one thread
    /// run in the order they were made, so the messages one protocol sends
    /// to one reactor arrive in the order it sent them. Does nothing if
    /// that reactor has stopped.
    ///
    /// # Panics
    ///
    /// If `index` is not below [`len`](GroupHandle::len).
    pub fn call_on(&self, index: usize, f: impl FnOnce(&mut ReactorContext<'_>) + Send + 'static) {
        self.inner.handles[index].call_from_thread(f);
    }

    /// Queues `data` on connection `conn` of reactor `index` (as
    /// [`ReactorContext::write_to`] there); nothing happens if the
    /// connection is gone by then. Writes from one thread to one reactor
    /// arrive in order.
    ///
    /// # Panics
    ///
    /// If `index` is not below [`len`](GroupHandle::len).
    pub fn write_to(&self, index: usize, conn: ConnId, data: impl Into<Vec<u8>>) {
        let data = data.into();
        self.call_on(index, move |cx| {
            cx.write_to(conn, &data);
        });
    }

    /// Asks every reactor to stop gracefully: each stops accepting at once
    /// and drains its connections within its grace period, all at the
    /// same time.
    pub fn stop(&self) {
        for h in &self.inner.handles {
            h.stop();
        }
    }

    fn record(&self, failure: GroupError) {
        log::error!("{failure}: stopping the group");
        match self.inner.failures.lock() {
            Ok(mut f) => f.push(failure),
            Err(poisoned) => poisoned.into_inner().push(failure),
        }
    }

    fn first_failure(&self) -> Option<GroupError> {
        let mut failures = match self.inner.failures.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        };
        if failures.is_empty() {
            None
        } else {
            Some(failures.remove(0))
        }
    }
}

/// What the setup closure learns about the reactor it sets up: which one
/// it is, and the group's handle (to keep in a factory, for messages to
/// the other reactors).
pub struct GroupMember {
    index: usize,
    group: GroupHandle,
    /// How many [`bind_shared`](GroupMember::bind_shared) calls this
    /// member made so far.
    binds: Cell<usize>,
}

impl fmt::Debug for GroupMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupMember").field("index", &self.index).field("of", &self.group.len()).finish()
    }
}

impl GroupMember {
    /// This reactor's index, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many reactors the group has.
    pub fn count(&self) -> usize {
        self.group.len()
    }

    /// The group's handle.
    pub fn group(&self) -> &GroupHandle {
        &self.group
    }

    /// Binds the same address on every reactor even when `requested`
    /// asks for any free port (port 0). On reactor 0, `bind` gets
    /// `requested` and returns what it made with the address it got; on
    /// the others, `bind` gets the address reactor 0 got from its call of
    /// the same rank (the first `bind_shared` call of each member goes
    /// with the first of reactor 0, and so on). Setup closures run one
    /// after the other in reactor order, so reactor 0's address is known.
    ///
    /// # Errors
    ///
    /// What `bind` returns; `NotFound` when reactor 0 made fewer calls.
    ///
    /// ```
    /// # fn main() -> Result<(), reel::GroupError> {
    /// use reel::{ListenOptions, Protocol};
    /// let config = reel::GroupConfig { threads: 2, ..Default::default() };
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let group = reel::ReactorGroup::start(config, move |reactor, member| {
    ///     let opts = ListenOptions { reuse_port: true, ..Default::default() };
    ///     let addr = member.bind_shared("127.0.0.1:0".parse().unwrap(), |addr| {
    ///         let id = reactor.listen_tcp_with(addr, |_| reel::protocols::echo::Echo, opts)?;
    ///         let local = reactor.listener_addr(id).expect("just bound");
    ///         Ok((local, local))
    ///     })?;
    ///     tx.send(addr).unwrap();
    ///     Ok(())
    /// })?;
    /// let (a, b) = (rx.recv().unwrap(), rx.recv().unwrap());
    /// assert_eq!(a, b);
    /// group.handle().stop();
    /// group.join()
    /// # }
    /// ```
    pub fn bind_shared<T>(
        &self,
        requested: SocketAddr,
        bind: impl FnOnce(SocketAddr) -> io::Result<(T, SocketAddr)>,
    ) -> io::Result<T> {
        let rank = self.binds.get();
        self.binds.set(rank + 1);
        let lock = || match self.group.inner.shared_addrs.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if self.index == 0 {
            let (made, local) = bind(requested)?;
            lock().push(local);
            return Ok(made);
        }
        let first = lock().get(rank).copied();
        match first {
            Some(addr) => Ok(bind(addr)?.0),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("reactor {}: bind_shared call {rank} has no counterpart on reactor 0", self.index),
            )),
        }
    }
}
