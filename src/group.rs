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

use std::cell::Cell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::{ConnId, Reactor, ReactorConfig, ReactorContext, ReactorHandle};

mod error;
pub use self::error::GroupError;

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

/// What the starting thread tells a reactor thread.
enum Control {
    /// Run the setup closure now.
    Setup(GroupHandle),
    /// Every reactor is set up: run.
    Run,
    /// Another reactor failed to start: end.
    Abort,
}

/// N reactors on N threads, set up alike; see the module documentation.
///
/// ```
/// use std::io::{Read, Write};
/// use reel::{GroupConfig, ListenOptions, ReactorGroup};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = GroupConfig { threads: 2, ..Default::default() };
/// let (tx, rx) = std::sync::mpsc::channel();
/// let group = ReactorGroup::start(config, move |reactor, member| {
///     // Every reactor listens on the same port; the kernel balances.
///     let opts = ListenOptions { reuse_port: true, ..Default::default() };
///     let addr = member.bind_shared("127.0.0.1:0".parse().unwrap(), |addr| {
///         let id = reactor.listen_tcp_with(addr, |_| reel::protocols::echo::Echo, opts)?;
///         let local = reactor.listener_addr(id).expect("bound");
///         Ok((local, local))
///     })?;
///     tx.send(addr).expect("the test waits");
///     Ok(())
/// })?;
/// let addr = rx.recv()?;
/// let mut client = std::net::TcpStream::connect(addr)?;
/// client.write_all(b"hello")?;
/// let mut echoed = [0; 5];
/// client.read_exact(&mut echoed)?;
/// assert_eq!(&echoed, b"hello");
/// group.handle().stop();
/// group.join()?;
/// # Ok(())
/// # }
/// ```
pub struct ReactorGroup {
    handle: GroupHandle,
    threads: Vec<JoinHandle<()>>,
}

impl fmt::Debug for ReactorGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReactorGroup").field("reactors", &self.handle.len()).finish()
    }
}

impl ReactorGroup {
    /// Starts `config.threads` reactors, each on its own thread, and runs
    /// `setup` on each reactor's thread, one reactor after the other in
    /// order (so reactor 0 binds first; see
    /// [`GroupMember::bind_shared`]). Returns once every reactor is set up
    /// and running.
    ///
    /// # Errors
    ///
    /// [`GroupError::Setup`] when a reactor cannot be created or its setup
    /// fails or panics: the reactors already set up are stopped and every
    /// thread is joined before this returns.
    pub fn start<S>(config: GroupConfig, setup: S) -> Result<ReactorGroup, GroupError>
    where
        S: Fn(&mut Reactor, GroupMember) -> io::Result<()> + Send + Sync + 'static,
    {
        let count = config.threads.max(1);
        let setup = Arc::new(setup);
        let cores = if config.pin_cores { core_affinity::get_core_ids().unwrap_or_default() } else { Vec::new() };
        if config.pin_cores && cores.is_empty() {
            log::warn!("cannot list the CPU cores: reactors run unpinned");
        }
        // Each thread reports its handle (or why it has none), then its
        // setup's outcome, on this channel.
        let (report_tx, report_rx) = mpsc::channel::<(usize, Result<Option<ReactorHandle>, GroupError>)>();
        let mut controls = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for index in 0..count {
            let (control_tx, control_rx) = mpsc::channel::<Control>();
            let report = report_tx.clone();
            let setup = Arc::clone(&setup);
            let reactor_config = config.reactor.clone();
            let signals = config.stop_on_signals;
            let core = if cores.is_empty() { None } else { Some(cores[index % cores.len()]) };
            let spawned = std::thread::Builder::new().name(format!("{}-{index}", config.name)).spawn(move || {
                member_thread(index, reactor_config, signals, core, &*setup, &control_rx, &report);
            });
            match spawned {
                Ok(t) => {
                    threads.push(t);
                    controls.push(control_tx);
                }
                Err(error) => {
                    abort_start(&controls, threads, None);
                    return Err(GroupError::Setup { reactor: index, error });
                }
            }
        }
        drop(report_tx);
        // Phase 1: every reactor exists; collect the handles in order.
        let mut handles: Vec<Option<ReactorHandle>> = vec![None; count];
        for _ in 0..count {
            match report_rx.recv() {
                Ok((index, Ok(Some(h)))) => handles[index] = Some(h),
                Ok((_, Ok(None))) => {}
                Ok((_, Err(e))) => {
                    abort_start(&controls, threads, None);
                    return Err(e);
                }
                Err(_) => {
                    abort_start(&controls, threads, None);
                    return Err(lost_thread());
                }
            }
        }
        let handles: Vec<ReactorHandle> = handles.into_iter().flatten().collect();
        let group = GroupHandle {
            inner: Arc::new(Inner { handles, shared_addrs: Mutex::new(Vec::new()), failures: Mutex::new(Vec::new()) }),
        };
        // Phase 2: set up one after the other, in order.
        for (index, control) in controls.iter().enumerate() {
            let outcome = match control.send(Control::Setup(group.clone())) {
                Ok(()) => report_rx.recv().map_err(|_| lost_thread()).and_then(|(_, r)| r.map(|_| ())),
                Err(_) => Err(lost_thread()),
            };
            if let Err(e) = outcome {
                log::error!("{e}");
                abort_start(&controls, threads, Some(&group));
                return Err(e);
            }
            log::debug!("reactor {index} set up");
        }
        // Phase 3: run.
        for control in &controls {
            // A thread that is gone already recorded why.
            let _ = control.send(Control::Run);
        }
        Ok(ReactorGroup { handle: group, threads })
    }

    /// [`start`](ReactorGroup::start), then [`join`](ReactorGroup::join):
    /// serves until the group stops (a signal with
    /// [`GroupConfig::stop_on_signals`], a `stop` from a protocol or a
    /// handle, a failure).
    ///
    /// # Errors
    ///
    /// As `start` and `join`.
    pub fn run<S>(config: GroupConfig, setup: S) -> Result<(), GroupError>
    where
        S: Fn(&mut Reactor, GroupMember) -> io::Result<()> + Send + Sync + 'static,
    {
        ReactorGroup::start(config, setup)?.join()
    }

    /// The group's handle, for any thread.
    pub fn handle(&self) -> GroupHandle {
        self.handle.clone()
    }

    /// Asks every reactor to stop gracefully (as [`GroupHandle::stop`]).
    pub fn stop(&self) {
        self.handle.stop();
    }

    /// Waits until every reactor has stopped and its thread ended.
    ///
    /// # Errors
    ///
    /// The first failure of the group: a reactor whose loop failed
    /// ([`GroupError::Failed`]) or whose thread panicked
    /// ([`GroupError::Panicked`]). Either stopped the other reactors.
    pub fn join(mut self) -> Result<(), GroupError> {
        self.join_threads();
        match self.handle.first_failure() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn join_threads(&mut self) {
        for (index, t) in self.threads.drain(..).enumerate() {
            if let Err(payload) = t.join() {
                // The thread catches its own panics; this is one from the
                // code that reports them.
                self.handle.record(GroupError::Panicked { reactor: index, message: panic_message(payload.as_ref()) });
            }
        }
    }
}

impl Drop for ReactorGroup {
    /// A group dropped without [`join`](ReactorGroup::join) is stopped and
    /// joined: no reactor thread outlives it.
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.handle.stop();
            self.join_threads();
        }
    }
}

/// Stops what started, lets every waiting thread end, joins them all.
fn abort_start(controls: &[mpsc::Sender<Control>], threads: Vec<JoinHandle<()>>, group: Option<&GroupHandle>) {
    if let Some(g) = group {
        g.stop();
    }
    for c in controls {
        let _ = c.send(Control::Abort);
    }
    for t in threads {
        let _ = t.join();
    }
}

fn lost_thread() -> GroupError {
    GroupError::Setup { reactor: usize::MAX, error: io::Error::other("a reactor thread ended during start") }
}

/// The text of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".to_string())
}

type Setup = dyn Fn(&mut Reactor, GroupMember) -> io::Result<()> + Send + Sync;
type Report = mpsc::Sender<(usize, Result<Option<ReactorHandle>, GroupError>)>;

/// The life of one reactor thread: create the reactor, report its handle,
/// wait for its turn to be set up, wait for the word to run, run; and
/// whatever ends it, stop the rest of the group.
fn member_thread(
    index: usize,
    config: ReactorConfig,
    signals: bool,
    core: Option<core_affinity::CoreId>,
    setup: &Setup,
    control: &mpsc::Receiver<Control>,
    report: &Report,
) {
    if let Some(core) = core {
        if !core_affinity::set_for_current(core) {
            log::warn!("reactor {index}: cannot pin to core {}: running unpinned", core.id);
        }
    }
    // Set when the group is known and running: failures after that are
    // recorded there and stop the others.
    let mut group: Option<GroupHandle> = None;
    // Whether the starting thread waits for this one's first report: a
    // panic before it is sent (creating the reactor, installing the signal
    // handlers) must still send one, or `start` would wait for ever.
    let mut owed = true;
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<(), GroupError> {
        let mut reactor = Reactor::with_config(config)
            .and_then(|mut r| if signals { r.stop_on_signals().map(|()| r) } else { Ok(r) })
            .map_err(|error| GroupError::Setup { reactor: index, error });
        let _ = report.send((index, reactor.as_ref().map(|r| Some(r.handle())).map_err(clone_setup_error)));
        owed = false;
        let Ok(reactor) = reactor.as_mut() else { return Ok(()) };
        let handle = match control.recv() {
            Ok(Control::Setup(handle)) => handle,
            _ => return Ok(()),
        };
        // (A panic from here on is the setup's, caught below; it is
        // reported as the setup's outcome.)
        let member = GroupMember { index, group: handle.clone(), binds: Cell::new(0) };
        let set_up = catch_unwind(AssertUnwindSafe(|| setup(reactor, member)));
        let set_up = match set_up {
            Ok(Ok(())) => Ok(None),
            Ok(Err(error)) => Err(GroupError::Setup { reactor: index, error }),
            Err(payload) => Err(GroupError::Setup {
                reactor: index,
                error: io::Error::other(format!("setup panicked: {}", panic_message(payload.as_ref()))),
            }),
        };
        let failed = set_up.is_err();
        let _ = report.send((index, set_up));
        owed = false;
        if failed {
            return Ok(());
        }
        match control.recv() {
            Ok(Control::Run) => {}
            _ => return Ok(()),
        }
        group = Some(handle);
        log::debug!("reactor {index} running");
        reactor.run().map_err(|error| GroupError::Failed { reactor: index, error })
    }));
    let Some(group) = group else {
        if let (true, Err(payload)) = (owed, &outcome) {
            let error = io::Error::other(format!("panicked: {}", panic_message(payload.as_ref())));
            let _ = report.send((index, Err(GroupError::Setup { reactor: index, error })));
        }
        return;
    };
    match outcome {
        Ok(Ok(())) => log::debug!("reactor {index} stopped"),
        Ok(Err(failure)) => group.record(failure),
        Err(payload) => group.record(GroupError::Panicked { reactor: index, message: panic_message(payload.as_ref()) }),
    }
    // One reactor ended: the group ends (no half-alive server).
    group.stop();
}

/// A setup error to report while the original stays with the thread.
fn clone_setup_error(e: &GroupError) -> GroupError {
    match e {
        GroupError::Setup { reactor, error } => {
            GroupError::Setup { reactor: *reactor, error: io::Error::new(error.kind(), error.to_string()) }
        }
        other => GroupError::Setup { reactor: other.reactor(), error: io::Error::other(other.to_string()) },
    }
}
