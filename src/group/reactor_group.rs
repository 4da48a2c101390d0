//! [`ReactorGroup`]: starting the reactors one after the other, joining
//! them, and stopping them when the group is dropped. The overview of
//! groups is the parent module's (`group.rs`); a reactor thread's side of
//! the start is in `member_thread.rs`.

use std::fmt;
use std::io;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::member_thread::{member_thread, panic_message, Control};
use super::{GroupConfig, GroupError, GroupHandle, GroupMember, Inner};
use crate::{Reactor, ReactorHandle};

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
