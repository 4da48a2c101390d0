//! The reactor's state, and the operations on it that run no user code.
//!
//! Everything a callback may touch through its [`Context`](crate::Context)
//! lives in [`Core`]; the poll, its event list and the read buffer live
//! beside it in the `Reactor`, so that a callback holding `&mut Core` can
//! reach every connection while the reactor lends it a slice of the read
//! buffer.

use std::any::Any;
use std::collections::VecDeque;
use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::Registry;
use slab::Slab;

use crate::buffer::BufferPool;
use crate::conn::{push_dirty, Conn, Phase};
use crate::handle::{Shared, Workers};
use crate::id::{Source, MAX_INDEX};
use crate::tcp::Listener;
use crate::udp::Endpoint;
use crate::{ConnId, ListenerId, Protocol, ReactorConfig, ReactorContext, Reason, TimerId, UdpId};

/// What a timer does when it fires.
pub(crate) enum TimerTask {
    /// A one-shot reactor-level closure.
    Once(Box<dyn FnOnce(&mut ReactorContext<'_>)>),
    /// A repeating reactor-level closure.
    Every(Box<dyn FnMut(&mut ReactorContext<'_>)>, Duration),
    /// A connection timer: `Protocol::timer_fired`.
    Conn(ConnId, Option<Duration>),
    /// A datagram endpoint timer: `DatagramProtocol::timer_fired`.
    Udp(UdpId, Option<Duration>),
    /// A connection's phase deadline: connect timeout, close timeout, or
    /// the end of lingering.
    PhaseDeadline(ConnId),
    /// A connection's output stayed above the soft limit with no progress.
    Stall(ConnId),
    /// Try accepting again after running out of descriptors.
    AcceptRetry(ListenerId),
    /// The graceful stop's grace period is over.
    Grace,
}

/// The result of work run off the reactor thread, and what to do with it.
pub(crate) type Completion = Box<dyn FnOnce(&mut ReactorContext<'_>, Box<dyn Any + Send>)>;

/// Where a graceful stop is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunState {
    Running,
    /// Stop asked; listeners still open until the loop starts the drain.
    StopRequested,
    /// Draining connections until they are gone or the grace timer fires.
    Draining,
    /// Abort whatever is left and return from `run`.
    Halt,
}

/// Everything the reactor owns except the poll and the read buffer.
pub(crate) struct Core {
    pub(crate) registry: Registry,
    pub(crate) config: ReactorConfig,
    pub(crate) conns: Slab<Conn>,
    pub(crate) listeners: Slab<Listener>,
    pub(crate) udps: Slab<Endpoint>,
    pub(crate) timers: crate::timer::TimerQueue<TimerTask>,
    pub(crate) pool: BufferPool,
    /// Connections with output to flush or a state change to apply.
    pub(crate) dirty: Vec<ConnId>,
    /// Endpoints with errors to deliver.
    pub(crate) dirty_udp: Vec<UdpId>,
    /// Buffers for receiving datagrams in batches, made on first use.
    pub(crate) udp_batch: Option<Box<crate::udp_batch::Batch>>,
    /// The shared limits of closed listeners whose connections still hold
    /// places in them, and how many (`Core::close_listener`).
    pub(crate) orphaned_limits: std::collections::HashMap<crate::ListenerId, (crate::ConnectionLimit, usize)>,
    /// Sources cut off by a budget: still readable, no new edge will come.
    pub(crate) ready: VecDeque<Source>,
    /// Client protocols whose connect failed before a slot was made.
    pub(crate) failed: Vec<(ConnId, Box<dyn Protocol>, Reason)>,
    /// The next generation handed out to a new slot.
    pub(crate) next_generation: u32,
    pub(crate) state: RunState,
    pub(crate) shared: Arc<Shared>,
    pub(crate) workers: Option<Workers>,
    pub(crate) completions: Slab<Completion>,
    /// A descriptor kept in reserve for when accept runs out of them.
    pub(crate) spare_fd: Option<File>,
    /// Connections in phase `Lingering` (their protocols are done); kept
    /// by `crate::conn` only.
    pub(crate) lingering: usize,
    /// The graceful stop's grace timer, while a drain runs.
    pub(crate) grace_timer: Option<TimerId>,
    /// Moves whenever some connection's input state (delivered, held back,
    /// discarded) may have changed: every transition asks for a settle
    /// through `mark_dirty`, which moves it, and so does `pause_reading`.
    /// A framer compares it after each frame and asks the connection only
    /// when it moved (`Context::input_state`).
    pub(crate) input_epoch: u32,
    /// Counts the rounds of serving the ready list (one per turn of the
    /// loop, several in the harness's drain): a datagram endpoint's errors
    /// raised while its errors are being delivered wait for the next round.
    pub(crate) ready_round: u64,
    /// The connection whose input callback (`data_received`,
    /// `reading_resumed`, `eof_received`) is running: output it writes
    /// past its high mark is a response to its input, and flow control
    /// pauses its reading (see `conn::flow`).
    pub(crate) answering: Option<ConnId>,
    /// The clock as read at the start of this turn (see [`Core::now`]).
    pub(crate) loop_time: Instant,
    /// Counts turns of the loop (a pull producer's budget is per turn).
    pub(crate) turn: u32,
    /// Running totals for [`crate::Stats`].
    pub(crate) counters: crate::stats::Counters,
    /// Client connections trying the addresses of a host name in turn.
    pub(crate) dials: std::collections::HashMap<ConnId, crate::resolve::Dial>,
    /// Unix datagram endpoints.
    pub(crate) unix_dgrams: Slab<crate::unix::dgram::UnixEndpoint>,
    /// Unix datagram endpoints with a callback owed (started, errors,
    /// stopped).
    pub(crate) dirty_unix: Vec<crate::UnixDgramId>,
    /// Registered push producers (`conn::links`).
    pub(crate) pushers: Slab<crate::conn::Pusher>,
    /// Producer/consumer links of the connections that have any (flag
    /// `LINKED`); kept out of `Conn` so that a connection in none pays
    /// nothing for them.
    pub(crate) links: std::collections::HashMap<ConnId, crate::conn::Links>,
}

impl Core {
    pub(crate) fn new(registry: Registry, config: ReactorConfig, shared: Arc<Shared>) -> Core {
        let loop_time = config.clock.now();
        Core {
            registry,
            config,
            conns: Slab::new(),
            listeners: Slab::new(),
            udps: Slab::new(),
            timers: crate::timer::TimerQueue::new(),
            pool: BufferPool::new(),
            dirty: Vec::new(),
            dirty_udp: Vec::new(),
            udp_batch: None,
            orphaned_limits: std::collections::HashMap::new(),
            // Room from the start: its first use comes whenever a source
            // first outlasts its budget, which may be long after warm-up
            // (tests/zero_alloc.rs saw it mid-measurement).
            ready: VecDeque::with_capacity(64),
            failed: Vec::new(),
            next_generation: 1,
            state: RunState::Running,
            shared,
            workers: None,
            completions: Slab::new(),
            spare_fd: File::open("/dev/null").ok(),
            lingering: 0,
            grace_timer: None,
            input_epoch: 0,
            ready_round: 0,
            answering: None,
            loop_time,
            turn: 0,
            counters: Default::default(),
            dials: Default::default(),
            unix_dgrams: Slab::new(),
            dirty_unix: Vec::new(),
            pushers: Slab::new(),
            links: std::collections::HashMap::new(),
        }
    }

    /// The loop time: the clock read once per turn (and after each poll),
    /// as libuv's `uv_now`. Timers set during a dispatch count from it, which
    /// saves a clock read per timer operation (an idle timeout is reset on
    /// every read).
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        self.loop_time
    }

    /// Reads the clock into the loop time.
    #[inline]
    pub(crate) fn update_time(&mut self) {
        self.loop_time = self.config.clock.now();
    }

    pub(crate) fn generation(&mut self) -> u32 {
        let g = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        g
    }

    // ----- lookups -------------------------------------------------------

    #[inline]
    pub(crate) fn conn(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(id.index as usize).filter(|c| c.generation == id.generation)
    }

    #[inline]
    pub(crate) fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(id.index as usize).filter(|c| c.generation == id.generation)
    }

    pub(crate) fn listener_mut(&mut self, id: ListenerId) -> Option<&mut Listener> {
        self.listeners.get_mut(id.index as usize).filter(|l| l.generation == id.generation)
    }

    pub(crate) fn listener(&self, id: ListenerId) -> Option<&Listener> {
        self.listeners.get(id.index as usize).filter(|l| l.generation == id.generation)
    }

    #[inline]
    pub(crate) fn udp(&self, id: UdpId) -> Option<&Endpoint> {
        self.udps.get(id.index as usize).filter(|u| u.generation == id.generation)
    }

    #[inline]
    pub(crate) fn udp_mut(&mut self, id: UdpId) -> Option<&mut Endpoint> {
        self.udps.get_mut(id.index as usize).filter(|u| u.generation == id.generation)
    }

    // ----- connection operations (no user code) ---------------------------

    /// Queues bytes on a connection. Returns false if it cannot be written.
    #[inline]
    pub(crate) fn write(&mut self, id: ConnId, data: &[u8]) -> bool {
        self.write_all(id, &[data])
    }

    /// Queues several pieces on a connection with one lookup (for example a
    /// reply built of a prefix, a field and a suffix). The hot path of every
    /// protocol: one slab lookup, a copy into the pooled buffer, the dirty
    /// mark.
    #[inline]
    pub(crate) fn write_all(&mut self, id: ConnId, parts: &[&[u8]]) -> bool {
        let Some(c) = conn_slot(&mut self.conns, id) else {
            return false;
        };
        if !c.writable() {
            return Self::write_refused(c, id, parts.iter().map(|p| p.len()).sum());
        }
        for part in parts {
            c.out.push(part, &mut self.pool);
        }
        if c.above_high() {
            self.write_above_high(id);
        } else {
            push_dirty(&mut self.dirty, c, id);
        }
        true
    }

    /// Lets `f` append to a connection's output buffer in place (no copy).
    /// Always inlined: a protocol's reply is mostly this and a few copies.
    #[inline(always)]
    pub(crate) fn write_with<R>(&mut self, id: ConnId, f: impl FnOnce(&mut Vec<u8>) -> R) -> Option<R> {
        let c = conn_slot(&mut self.conns, id)?;
        if !c.writable() {
            Self::write_refused(c, id, 0);
            return None;
        }
        let out = c.out.append_target(&mut self.pool);
        let r = f(out);
        // `append_target` dropped the sent prefix: the vector's length is
        // what is queued (one load, where `OutBuf::len` is a subtraction).
        let queued = out.len();
        if queued == 0 {
            Self::wrote_nothing(c, &mut self.pool);
        } else if queued > c.limits.high_water as usize {
            self.write_above_high(id);
        } else {
            push_dirty(&mut self.dirty, c, id);
        }
        Some(r)
    }

    /// A `write_with` that appended nothing: the storage goes back (out
    /// of line, to keep the inlined write small).
    #[cold]
    #[inline(never)]
    fn wrote_nothing(c: &mut Conn, pool: &mut crate::buffer::BufferPool) {
        c.out.release(pool);
    }

    #[cold]
    fn write_refused(c: &mut Conn, id: ConnId, len: usize) -> bool {
        log::trace!("{id}: write of {len} bytes after close dropped");
        c.stream.note(|| crate::conn::Event::WriteAfterClose(len));
        false
    }

    // ----- timers -----------------------------------------------------------

    /// Sets a timer `delay` from the loop time (`Duration::MAX`, or any
    /// delay past the clock's range, means never).
    pub(crate) fn add_timer(&mut self, delay: Duration, task: TimerTask) -> TimerId {
        let deadline = crate::timer::deadline_after(self.now(), delay);
        self.timers.insert(deadline, task)
    }

    /// A timer owned by a connection or endpoint (`TimerTask::Conn` or
    /// `TimerTask::Udp`): recorded with its owner, which cancels it when it
    /// ends.
    pub(crate) fn add_owned_timer(&mut self, delay: Duration, task: TimerTask) -> TimerId {
        let owner = match &task {
            TimerTask::Conn(c, _) => Ok(*c),
            TimerTask::Udp(u, _) => Err(*u),
            _ => return self.add_timer(delay, task),
        };
        let id = self.add_timer(delay, task);
        match owner {
            Ok(c) => match conn_slot(&mut self.conns, c) {
                Some(conn) if conn.phase != Phase::Lingering => conn.timers.push(id),
                _ => {
                    // The connection is gone: the timer would never fire.
                    self.timers.cancel(id);
                }
            },
            Err(u) => match self.udp_mut(u) {
                Some(ep) => ep.timers.push(id),
                None => {
                    self.timers.cancel(id);
                }
            },
        }
        id
    }

    /// Forgets a timer of a connection or endpoint that ended or fired.
    pub(crate) fn forget_owned_timer(&mut self, owner: &TimerTask, id: TimerId) {
        let list = match owner {
            TimerTask::Conn(c, _) => conn_slot(&mut self.conns, *c).map(|c| &mut c.timers),
            TimerTask::Udp(u, _) => self.udp_mut(*u).map(|u| &mut u.timers),
            _ => None,
        };
        if let Some(list) = list {
            list.remove(id);
        }
    }

    /// Cancels any timer; returns false if it already fired or was cancelled.
    pub(crate) fn cancel_timer(&mut self, id: TimerId) -> bool {
        match self.timers.cancel(id) {
            None => false,
            Some(Some(task)) => {
                self.forget_owned_timer(&task, id);
                true
            }
            // Firing right now: its owner list is updated when it returns.
            Some(None) => true,
        }
    }

    /// Cancels every timer in `list` (an owner's, as it ends).
    pub(crate) fn cancel_all(&mut self, list: crate::timer::OwnedTimers) {
        for &t in list.ids() {
            self.timers.cancel(t);
        }
    }

    pub(crate) fn request_stop(&mut self) {
        if self.state == RunState::Running {
            self.state = RunState::StopRequested;
        }
    }
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("conns", &self.conns.len())
            .field("listeners", &self.listeners.len())
            .field("udps", &self.udps.len())
            .field("timers", &self.timers.len())
            .field("state", &self.state)
            .finish()
    }
}

/// A live connection by id, borrowing only the slab (so that the pool and
/// the rest of the core stay usable).
#[inline]
pub(crate) fn conn_slot(conns: &mut Slab<Conn>, id: ConnId) -> Option<&mut Conn> {
    conns.get_mut(id.index as usize).filter(|c| c.generation == id.generation)
}

pub(crate) fn checked_index(index: usize) -> std::io::Result<u32> {
    if index > MAX_INDEX {
        return Err(std::io::Error::other("too many sockets in one reactor"));
    }
    Ok(index as u32)
}

/// A reactor that goes away with connections still open gives back the
/// places they hold in shared limits (a group's other reactors go on).
impl Drop for Core {
    fn drop(&mut self) {
        for (_, l) in self.listeners.iter() {
            if let Some(limit) = &l.opts.shared_limit {
                limit.release_many(l.active);
            }
        }
        for (limit, held) in self.orphaned_limits.values() {
            limit.release_many(*held);
        }
    }
}
