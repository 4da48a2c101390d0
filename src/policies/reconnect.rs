//! A client that reconnects with exponential back-off: Twisted's
//! `ReconnectingClientFactory`.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use crate::{ConnId, Context, Protocol, ReactorContext, Reason, TcpOptions, TimerId};

/// How long to wait before each reconnection attempt.
///
/// The `n`-th retry (from 0) waits `initial * factor^n`, capped at `max`,
/// then spread by up to `jitter` (a fraction) either way so that many
/// clients do not come back in lock-step. After a successful connection
/// the count starts over.
///
/// ```
/// use std::time::Duration;
/// let b = reel::policies::Backoff::default();
/// assert_eq!(b.delay(0, 0.5), Duration::from_secs(1));
/// assert_eq!(b.delay(3, 0.5), Duration::from_secs(8));
/// assert_eq!(b.delay(30, 0.5), Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Backoff {
    /// The first delay. Default 1 s.
    pub initial: Duration,
    /// Growth per attempt. Default 2.
    pub factor: f64,
    /// The longest delay. Default 60 s.
    pub max: Duration,
    /// Random spread, a fraction of the delay. Default 0.1 (±10 %).
    pub jitter: f64,
    /// Give up after this many failed attempts in a row. Default: never.
    pub max_retries: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            factor: 2.0,
            max: Duration::from_secs(60),
            jitter: 0.1,
            max_retries: None,
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (from 0), with `unit` a
    /// random number in `[0, 1)` choosing the jitter (0.5: none).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let base = self.initial.as_secs_f64() * self.factor.max(1.0).powi(attempt.min(1000) as i32);
        let capped = base.min(self.max.as_secs_f64());
        let spread = 1.0 + self.jitter.clamp(0.0, 1.0) * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        Duration::from_secs_f64((capped * spread).clamp(0.0, self.max.as_secs_f64() * 2.0))
    }
}

struct State {
    addr: SocketAddr,
    backoff: Backoff,
    opts: TcpOptions,
    make: Box<dyn FnMut() -> Box<dyn Protocol>>,
    /// Failed attempts since the last success.
    failures: u32,
    /// Connections made so far.
    connections: u32,
    stopped: bool,
    conn: Option<ConnId>,
    retry: Option<TimerId>,
    rng: u64,
}

impl State {
    fn unit(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Control over a reconnecting client, from the reactor thread.
#[derive(Clone)]
pub struct ReconnectingHandle {
    state: Rc<RefCell<State>>,
}

impl std::fmt::Debug for ReconnectingHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.borrow();
        f.debug_struct("ReconnectingHandle")
            .field("addr", &s.addr)
            .field("failures", &s.failures)
            .field("connections", &s.connections)
            .field("stopped", &s.stopped)
            .finish()
    }
}

impl ReconnectingHandle {
    /// Stops reconnecting (Twisted's `stopTrying`): a pending retry is
    /// cancelled; a current connection is left alone.
    pub fn stop_trying(&self, cx: &mut ReactorContext<'_>) {
        let mut s = self.state.borrow_mut();
        s.stopped = true;
        if let Some(t) = s.retry.take() {
            cx.cancel_timer(t);
        }
    }

    /// The current connection, while one is being made or is open.
    pub fn conn(&self) -> Option<ConnId> {
        self.state.borrow().conn
    }

    /// Failed attempts since the last successful connection.
    pub fn failures(&self) -> u32 {
        self.state.borrow().failures
    }

    /// Connections established so far.
    pub fn connections(&self) -> u32 {
        self.state.borrow().connections
    }

    /// Whether it gave up (stopped, or ran out of retries).
    pub fn is_stopped(&self) -> bool {
        self.state.borrow().stopped
    }
}

/// Starts a client that reconnects to `addr` whenever its connection fails
/// or is lost, waiting as `backoff` says; `make` builds a fresh protocol
/// for each attempt.
///
/// ```no_run
/// use reel::policies::{Backoff, Reconnecting};
/// use reel::protocols::echo::Echo;
/// # fn main() -> std::io::Result<()> {
/// let mut reactor = reel::Reactor::new()?;
/// let handle = Reconnecting::start(&mut reactor.context(), "127.0.0.1:7007".parse().unwrap(), Backoff::default(), || Echo);
/// reactor.run()
/// # }
/// ```
#[derive(Debug)]
pub struct Reconnecting;

impl Reconnecting {
    /// Starts connecting now.
    pub fn start<P: Protocol + 'static>(
        cx: &mut ReactorContext<'_>,
        addr: SocketAddr,
        backoff: Backoff,
        mut make: impl FnMut() -> P + 'static,
    ) -> ReconnectingHandle {
        Reconnecting::start_with(cx, addr, backoff, TcpOptions::default(), move || {
            Box::new(make()) as Box<dyn Protocol>
        })
    }

    /// Starts connecting now, with connection options.
    pub fn start_with(
        cx: &mut ReactorContext<'_>,
        addr: SocketAddr,
        backoff: Backoff,
        opts: TcpOptions,
        make: impl FnMut() -> Box<dyn Protocol> + 'static,
    ) -> ReconnectingHandle {
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
        let state = Rc::new(RefCell::new(State {
            addr,
            backoff,
            opts,
            make: Box::new(make),
            failures: 0,
            connections: 0,
            stopped: false,
            conn: None,
            retry: None,
            rng: seed | 1,
        }));
        attempt(cx, &state);
        ReconnectingHandle { state }
    }
}

fn attempt(cx: &mut ReactorContext<'_>, state: &Rc<RefCell<State>>) {
    let (addr, opts, inner) = {
        let mut s = state.borrow_mut();
        s.retry = None;
        if s.stopped {
            return;
        }
        let inner = (s.make)();
        (s.addr, s.opts.clone(), inner)
    };
    let id = cx.connect_tcp_with(addr, Attempt { inner, state: Rc::clone(state) }, &opts);
    state.borrow_mut().conn = Some(id);
}

fn schedule_retry(cx: &mut ReactorContext<'_>, state: &Rc<RefCell<State>>) {
    let delay = {
        let mut s = state.borrow_mut();
        s.conn = None;
        if s.stopped {
            return;
        }
        if s.backoff.max_retries.is_some_and(|max| s.failures >= max) {
            log::info!("giving up on {} after {} failed attempts", s.addr, s.failures);
            s.stopped = true;
            return;
        }
        let unit = s.unit();
        let delay = s.backoff.delay(s.failures, unit);
        s.failures += 1;
        log::debug!("reconnecting to {} in {delay:?}", s.addr);
        delay
    };
    let st = Rc::clone(state);
    let timer = cx.call_later(delay, move |cx| attempt(cx, &st));
    state.borrow_mut().retry = Some(timer);
}

/// One connection attempt: the user's protocol, plus retry bookkeeping.
struct Attempt {
    inner: Box<dyn Protocol>,
    state: Rc<RefCell<State>>,
}

impl Protocol for Attempt {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        {
            let mut s = self.state.borrow_mut();
            s.failures = 0;
            s.connections += 1;
        }
        self.inner.connection_made(cx);
    }

    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.inner.data_received(cx, data);
    }

    fn eof_received(&mut self, cx: &mut Context<'_>) {
        self.inner.eof_received(cx);
    }

    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.inner.connection_lost(cx, reason);
        schedule_retry(cx, &self.state);
    }

    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.inner.connection_failed(cx, reason);
        schedule_retry(cx, &self.state);
    }

    fn pause_writing(&mut self, cx: &mut Context<'_>) {
        self.inner.pause_writing(cx);
    }

    fn resume_writing(&mut self, cx: &mut Context<'_>) {
        self.inner.resume_writing(cx);
    }

    fn reading_resumed(&mut self, cx: &mut Context<'_>) {
        self.inner.reading_resumed(cx);
    }

    fn timer_fired(&mut self, cx: &mut Context<'_>, timer: TimerId) {
        self.inner.timer_fired(cx, timer);
    }

    fn stop_requested(&mut self, cx: &mut Context<'_>) {
        self.state.borrow_mut().stopped = true;
        self.inner.stop_requested(cx);
    }
}
