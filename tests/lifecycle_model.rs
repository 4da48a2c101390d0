//! Model-based randomized tests of one connection's lifecycle.
//!
//! Part 1 (in memory): a reference model of one connection — phases,
//! queued output, what the peer received, flow control, the phase
//! deadlines, a graceful stop — is run step by step beside a real
//! connection in the [`Harness`], with a protocol whose every callback is
//! recorded. After every step the two must agree: the reason given to
//! `connection_lost` (exactly once, last), the bytes the peer received
//! (content checked against a pattern), the bytes delivered to
//! `data_received`, whether reading is paused, the timers pending, and
//! whether the slot is freed.
//!
//! Part 2 (loopback): random scripts over real sockets, checked for the
//! properties that do not need a model (exactly one plausible
//! `connection_lost`, every byte before a clean close arrives, nothing
//! left open afterwards, descriptors given back).
//!
//! Reproduce a failing in-memory sequence with `REEL_MODEL_SEED=<seed>`
//! (printed on failure, with its steps); run more with
//! `REEL_MODEL_SEQS=<n>`. For the loopback part: `REEL_LOOPBACK_SEED` and
//! `REEL_LOOPBACK_SEQS`.

mod util;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use reel::testing::Harness;
use reel::{Context, OutputLimit, Protocol, Reason, TcpOptions, TimerId};

// ----- a small PRNG ----------------------------------------------------------

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(splitmix(seed) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn usize(&mut self, lo: usize, hi: usize) -> usize {
        self.range(lo as u64, hi as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Byte `i` of the stream the protocol side writes: any loss, duplication
/// or reordering shows.
fn out_byte(i: usize) -> u8 {
    ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// Byte `i` of the stream the peer sends.
fn in_byte(i: usize) -> u8 {
    (((i as u64) ^ 0x5A5A).wrapping_mul(0xD6E8_FEB8_6659_FD93) >> 56) as u8
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        let v = v.trim();
        let parsed = match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => v.parse(),
        };
        parsed.unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
    })
}

// ----- the protocol under test ---------------------------------------------------

/// What the protocol does when the reactor asks it to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopMode {
    /// The default: close after flushing.
    Close,
    /// Keep going: the grace period ends it.
    Ignore,
    /// Write this many bytes, then close.
    Farewell(usize),
}

/// How the recording protocol answers, chosen per sequence.
#[derive(Debug, Clone, Copy)]
struct Behaviour {
    /// Answer every read with as many bytes of the output stream.
    echo: bool,
    /// Close on the peer's EOF (the default), or stay half-open.
    eof_closes: bool,
    stop: StopMode,
    /// Bytes written when a connection timer fires (0: none).
    timer_write: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Made,
    Data(usize),
    Eof,
    PauseWriting,
    ResumeWriting,
    ReadingResumed,
    Timer(TimerId),
    StopRequested,
    Lost(Reason),
}

/// What the protocol and the test share.
#[derive(Debug)]
struct Shared {
    behaviour: Behaviour,
    calls: Vec<Call>,
    /// Position in the output stream: bytes accepted by writes so far.
    out_pos: usize,
    /// Position in the input stream: bytes delivered so far.
    in_pos: usize,
    lost: bool,
    violations: Vec<String>,
}

impl Shared {
    fn new(behaviour: Behaviour) -> Rc<RefCell<Shared>> {
        Rc::new(RefCell::new(Shared {
            behaviour,
            calls: Vec::new(),
            out_pos: 0,
            in_pos: 0,
            lost: false,
            violations: Vec::new(),
        }))
    }

    fn record(&mut self, call: Call) {
        if self.lost {
            self.violations.push(format!("{call:?} after connection_lost"));
        }
        self.calls.push(call);
    }
}

/// Writes the next `n` bytes of the output stream. Writes made while
/// closing (or after `write_eof`) are dropped by the reactor, so the
/// position moves only while the connection is open for writing.
fn emit(cx: &mut Context<'_>, st: &mut Shared, n: usize) {
    let closing = !cx.is_open(cx.conn_id());
    let data: Vec<u8> = (st.out_pos..st.out_pos + n).map(out_byte).collect();
    cx.write(&data);
    if !closing {
        st.out_pos += n;
    }
}

struct Recorder(Rc<RefCell<Shared>>);

impl Protocol for Recorder {
    fn connection_made(&mut self, _: &mut Context<'_>) {
        self.0.borrow_mut().record(Call::Made);
    }

    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        let mut st = self.0.borrow_mut();
        st.record(Call::Data(data.len()));
        if cx.is_closing() {
            st.violations.push(format!("data_received({}) while closing", data.len()));
        }
        let at = st.in_pos;
        if let Some(k) = data.iter().enumerate().position(|(k, b)| *b != in_byte(at + k)) {
            st.violations.push(format!("input byte {} is wrong (lost, duplicated or reordered input)", at + k));
        }
        st.in_pos += data.len();
        if st.behaviour.echo {
            emit(cx, &mut st, data.len());
        }
    }

    fn eof_received(&mut self, cx: &mut Context<'_>) {
        let mut st = self.0.borrow_mut();
        st.record(Call::Eof);
        if st.behaviour.eof_closes {
            cx.close();
        }
    }

    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        let mut st = self.0.borrow_mut();
        st.record(Call::Lost(reason));
        st.lost = true;
        if !cx.is_closing() {
            st.violations.push("not closing in connection_lost".into());
        }
    }

    fn pause_writing(&mut self, _: &mut Context<'_>) {
        self.0.borrow_mut().record(Call::PauseWriting);
    }

    fn resume_writing(&mut self, _: &mut Context<'_>) {
        self.0.borrow_mut().record(Call::ResumeWriting);
    }

    fn reading_resumed(&mut self, cx: &mut Context<'_>) {
        let mut st = self.0.borrow_mut();
        st.record(Call::ReadingResumed);
        if cx.is_reading_paused() {
            st.violations.push("reading_resumed while reading is paused".into());
        }
    }

    fn timer_fired(&mut self, cx: &mut Context<'_>, timer: TimerId) {
        let mut st = self.0.borrow_mut();
        st.record(Call::Timer(timer));
        let n = st.behaviour.timer_write;
        if n > 0 {
            emit(cx, &mut st, n);
        }
    }

    fn stop_requested(&mut self, cx: &mut Context<'_>) {
        let mut st = self.0.borrow_mut();
        st.record(Call::StopRequested);
        match st.behaviour.stop {
            StopMode::Close => cx.close(),
            StopMode::Ignore => {}
            StopMode::Farewell(n) => {
                emit(cx, &mut st, n);
                cx.close();
            }
        }
    }
}

// ----- the reference model -----------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// After `write_eof`: flushing, then our side shut; still reading.
    WriteClosed,
    Closing,
    Lingering,
    Freed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Running,
    StopRequested,
    Draining,
    Halt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TKind {
    /// A connection timer of the protocol, by the test's key.
    Proto(usize),
    /// The close timeout or the linger timer.
    Phase,
    Stall,
    Grace,
}

#[derive(Debug, Clone, Copy)]
struct MTimer {
    kind: TKind,
    deadline: u64,
    seq: u64,
}

/// The connection's settings, in the model's units (milliseconds).
#[derive(Debug, Clone, Copy)]
struct Cfg {
    high: usize,
    low: usize,
    flow: bool,
    limit: usize,
    ceiling: usize,
    stall_ms: u64,
    close_ms: u64,
    linger_ms: u64,
    grace_ms: u64,
    behaviour: Behaviour,
}

impl Cfg {
    fn random(rng: &mut Rng) -> Cfg {
        let high = rng.pick(&[1024, 4096, 16384]);
        let low = if rng.chance(80) { high / 2 } else { rng.usize(0, high) };
        let limits = rng.chance(30);
        let behaviour = Behaviour {
            echo: rng.chance(30),
            eof_closes: rng.chance(50),
            stop: match rng.below(10) {
                0..=5 => StopMode::Close,
                6..=7 => StopMode::Ignore,
                _ => StopMode::Farewell(rng.usize(1, 3000)),
            },
            timer_write: if rng.chance(50) { 0 } else { rng.usize(1, 2000) },
        };
        Cfg {
            high,
            low,
            flow: rng.chance(85),
            limit: if limits { high * 3 } else { 4 << 20 },
            ceiling: if limits { high * 6 } else { 64 << 20 },
            stall_ms: if limits { 2500 } else { 30_000 },
            close_ms: rng.pick(&[1000, 3000, 7000, 30_000]),
            linger_ms: rng.pick(&[0, 500, 2000]),
            grace_ms: 5000, // the harness's reactor keeps the default
            behaviour,
        }
    }

    fn options(&self) -> TcpOptions {
        TcpOptions {
            high_water: self.high,
            low_water: self.low,
            flow_control: if self.flow { reel::FlowControl::Auto } else { reel::FlowControl::Off },
            output_limit: self.limit,
            output_ceiling: self.ceiling,
            output_stall: Duration::from_millis(self.stall_ms),
            close_timeout: Duration::from_millis(self.close_ms),
            close_linger: Duration::from_millis(self.linger_ms),
            ..TcpOptions::default()
        }
    }
}

const READ_BUDGET: usize = 16;
const READ_BYTE_BUDGET: usize = 256 * 1024;

/// One connection as the Protocol contract and `src/conn` describe it, with
/// the recording protocol's answers folded in.
#[derive(Debug)]
struct Model {
    cfg: Cfg,
    now: u64,
    seq: u64,
    timers: Vec<MTimer>,
    next_key: usize,
    phase: Phase,
    run: Run,
    stopped: bool,
    // output
    out: usize,
    accepted: usize,
    received: usize,
    window: Option<usize>,
    // input
    inbound: VecDeque<usize>,
    fed: usize,
    delivered: usize,
    eof_fed: bool,
    peer_reset: bool,
    // flags
    eof: bool,
    doomed: bool,
    user_paused: bool,
    auto_paused: bool,
    /// A write now answers the connection's input (the echo in
    /// data_received): only those pause reading under flow control.
    answering: bool,
    resume_owed: bool,
    writing_paused: bool,
    ready: bool,
    // the end
    reason: Option<Reason>,
    /// What doomed the connection (an abort, a limit, a deadline, a reset).
    doom_cause: Option<Reason>,
    lost: Option<Reason>,
    lost_count: usize,
    shutdown_sent: bool,
    /// Our side shut after `write_eof` (once).
    write_shut: bool,
    reset_sent: bool,
    // the protocol's callbacks
    eof_calls: usize,
    pause_calls: usize,
    resume_calls: usize,
    resumed_calls: usize,
    stop_calls: usize,
    fired: Vec<usize>,
}

impl Model {
    fn new(cfg: Cfg) -> Model {
        Model {
            cfg,
            now: 0,
            seq: 0,
            timers: Vec::new(),
            next_key: 0,
            phase: Phase::Open,
            run: Run::Running,
            stopped: false,
            out: 0,
            accepted: 0,
            received: 0,
            window: None,
            inbound: VecDeque::new(),
            fed: 0,
            delivered: 0,
            eof_fed: false,
            peer_reset: false,
            eof: false,
            doomed: false,
            user_paused: false,
            auto_paused: false,
            answering: false,
            resume_owed: false,
            writing_paused: false,
            ready: false,
            reason: None,
            doom_cause: None,
            lost: None,
            lost_count: 0,
            shutdown_sent: false,
            write_shut: false,
            reset_sent: false,
            eof_calls: 0,
            pause_calls: 0,
            resume_calls: 0,
            resumed_calls: 0,
            stop_calls: 0,
            fired: Vec::new(),
        }
    }

    fn exists(&self) -> bool {
        self.phase != Phase::Freed
    }
    fn live(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::WriteClosed) && !self.doomed
    }
    fn writable(&self) -> bool {
        self.phase == Phase::Open && !self.doomed
    }
    fn paused(&self) -> bool {
        self.user_paused || self.auto_paused
    }
    fn unread(&self) -> usize {
        self.inbound.iter().sum()
    }

    // ----- timers

    fn add_timer(&mut self, kind: TKind, delay: u64) {
        let seq = self.seq;
        self.seq += 1;
        self.timers.push(MTimer { kind, deadline: self.now + delay, seq });
    }
    fn remove_timer(&mut self, kind: TKind) -> bool {
        let before = self.timers.len();
        self.timers.retain(|t| t.kind != kind);
        before != self.timers.len()
    }
    fn has_timer(&self, kind: TKind) -> bool {
        self.timers.iter().any(|t| t.kind == kind)
    }
    fn remove_proto_timers(&mut self) {
        self.timers.retain(|t| !matches!(t.kind, TKind::Proto(_)));
    }

    // ----- the end of a connection

    fn set_reason(&mut self, r: Reason) {
        match &self.reason {
            None => self.reason = Some(r),
            Some(old) if old.is_clean() && !r.is_clean() => self.reason = Some(r),
            Some(_) => {}
        }
    }

    fn doom(&mut self, cause: Reason) {
        self.set_reason(cause.clone());
        self.doom_cause.get_or_insert(cause);
        self.out = 0;
        self.doomed = true;
    }

    fn end_conn(&mut self) {
        if matches!(self.phase, Phase::Lingering | Phase::Freed) {
            return;
        }
        let clean = !self.doomed && self.phase == Phase::Closing;
        let reason = self.reason.clone().unwrap_or(Reason::Closed);
        if clean {
            self.shutdown_sent = true;
        } else {
            // This side gave up on its output: the peer must not mistake
            // the end for an orderly one.
            self.reset_sent = matches!(
                self.doom_cause,
                Some(Reason::Aborted | Reason::OutputLimitExceeded(_) | Reason::Shutdown | Reason::TimedOut)
            );
        }
        self.out = 0;
        self.phase = Phase::Lingering;
        self.doomed = false;
        self.user_paused = false;
        self.auto_paused = false;
        self.resume_owed = false;
        self.remove_timer(TKind::Stall);
        self.remove_proto_timers();
        self.lost = Some(reason);
        self.lost_count += 1;
        if clean && !self.eof && self.cfg.linger_ms != 0 && self.run != Run::Halt {
            self.remove_timer(TKind::Phase);
            self.add_timer(TKind::Phase, self.cfg.linger_ms);
            self.ready = true;
        } else {
            self.free();
        }
    }

    fn free(&mut self) {
        self.phase = Phase::Freed;
        self.remove_timer(TKind::Phase);
        self.remove_timer(TKind::Stall);
        self.remove_proto_timers();
        self.ready = false;
        self.user_paused = false;
        self.auto_paused = false;
    }

    // ----- what a protocol can do (Context)

    fn write(&mut self, n: usize) {
        if !self.writable() {
            return; // dropped: closing, or our side closed
        }
        self.out += n;
        self.accepted += n;
        if self.out > self.cfg.high {
            if self.cfg.flow && self.answering {
                self.auto_paused = true;
                self.resume_owed = false;
            }
            if self.out > self.cfg.ceiling {
                self.flush();
                if self.out > self.cfg.ceiling {
                    self.doom(Reason::OutputLimitExceeded(OutputLimit::Ceiling));
                }
            }
        }
    }

    fn close(&mut self, reason: Option<Reason>) {
        if !matches!(self.phase, Phase::Open | Phase::WriteClosed) {
            return;
        }
        let r = reason.unwrap_or(if self.eof { Reason::PeerClosed } else { Reason::Closed });
        self.set_reason(r);
        self.phase = Phase::Closing;
        self.add_timer(TKind::Phase, self.cfg.close_ms);
    }

    /// `write_eof`: after the peer's EOF a close; else no more writes,
    /// the queue flushed and then our side shut, input still delivered.
    fn write_eof(&mut self) {
        if self.phase == Phase::Open {
            if self.eof {
                self.close(None);
            } else {
                self.phase = Phase::WriteClosed;
            }
        }
    }

    fn abort(&mut self, cause: Reason) {
        if matches!(self.phase, Phase::Lingering | Phase::Freed) {
            return;
        }
        self.doom(cause);
    }

    fn pause_reading(&mut self) {
        if self.exists() {
            self.user_paused = true;
            self.resume_owed = false;
        }
    }

    fn resume_reading(&mut self) {
        if self.exists() && self.user_paused {
            self.user_paused = false;
            self.reading_may_resume();
        }
    }

    fn reading_may_resume(&mut self) {
        if self.paused() || !self.live() {
            return;
        }
        self.resume_owed = true;
    }

    /// Returns the key of the timer, if the connection can own one.
    fn set_timer(&mut self, delay: u64) -> usize {
        let key = self.next_key;
        self.next_key += 1;
        if matches!(self.phase, Phase::Open | Phase::WriteClosed | Phase::Closing) {
            self.add_timer(TKind::Proto(key), delay);
        } else {
            self.seq += 1; // set and cancelled at once
        }
        key
    }

    fn cancel_timer(&mut self, key: usize) -> bool {
        self.remove_timer(TKind::Proto(key))
    }

    // ----- the reactor's work

    fn flush(&mut self) {
        if self.out == 0 {
            return;
        }
        let n = self.window.map_or(self.out, |w| w.min(self.out));
        self.out -= n;
        self.received += n;
        if let Some(w) = self.window.as_mut() {
            *w -= n;
        }
        if n > 0 {
            let (now, stall) = (self.now, self.cfg.stall_ms);
            let seq = self.seq;
            if let Some(t) = self.timers.iter_mut().find(|t| t.kind == TKind::Stall) {
                t.deadline = now + stall;
                t.seq = seq;
                self.seq += 1;
            }
        }
    }

    fn stall_watched(&self) -> bool {
        self.out > self.cfg.limit || (self.out > 0 && self.auto_paused)
    }

    fn settle(&mut self) {
        if !self.exists() {
            return;
        }
        if self.doomed {
            return self.end_conn();
        }
        if self.phase == Phase::Lingering {
            return;
        }
        self.flush();
        if self.out > self.cfg.ceiling {
            self.doom(Reason::OutputLimitExceeded(OutputLimit::Ceiling));
            return self.end_conn();
        }
        // Watched for a stall: above the soft limit, or any output while
        // flow control has paused reading.
        let above = self.stall_watched();
        match (above, self.has_timer(TKind::Stall)) {
            (true, false) => self.add_timer(TKind::Stall, self.cfg.stall_ms),
            (false, true) => {
                self.remove_timer(TKind::Stall);
            }
            _ => {}
        }
        if self.phase == Phase::Closing && self.out == 0 {
            return self.end_conn();
        }
        if self.live() {
            if self.out > self.cfg.high {
                if !self.writing_paused {
                    self.writing_paused = true;
                    self.pause_calls += 1;
                }
            } else if self.out <= self.cfg.low {
                let auto = self.auto_paused;
                self.auto_paused = false;
                if self.writing_paused {
                    self.writing_paused = false;
                    self.resume_calls += 1;
                }
                if auto {
                    self.reading_may_resume();
                }
            }
        }
        if self.phase == Phase::WriteClosed && self.out == 0 && !self.write_shut {
            self.write_shut = true;
            self.shutdown_sent = true;
        }
        if self.resume_owed {
            self.resume_owed = false;
            if !self.paused() && self.live() {
                self.resumed_calls += 1;
                if !self.eof {
                    self.ready = true;
                }
            }
        }
    }

    fn deliver(&mut self, n: usize) {
        if !self.live() {
            return;
        }
        self.delivered += n;
        if self.cfg.behaviour.echo {
            self.answering = true;
            self.write(n);
            self.answering = false;
        }
    }

    fn peer_eof(&mut self) {
        if self.eof {
            return;
        }
        self.eof = true;
        match self.phase {
            Phase::Open if !self.doomed => {
                self.eof_calls += 1;
                if self.cfg.behaviour.eof_closes {
                    self.close(None);
                }
            }
            Phase::WriteClosed if !self.doomed => {
                // Both directions done: heard, then closed whatever the
                // protocol did.
                self.eof_calls += 1;
                if self.cfg.behaviour.eof_closes {
                    self.close(None);
                }
                self.close(None);
            }
            Phase::Lingering => self.free(),
            _ => {}
        }
    }

    fn fail_reset(&mut self) {
        if self.phase == Phase::Lingering {
            return self.free();
        }
        self.set_reason(Reason::Reset);
        self.doom_cause.get_or_insert(Reason::Reset);
        self.doomed = true;
    }

    fn read_conn(&mut self) {
        let (mut reads, mut bytes) = (0, 0);
        loop {
            if !self.exists() || self.eof || self.doomed {
                return;
            }
            let discarding = matches!(self.phase, Phase::Closing | Phase::Lingering);
            if !discarding && (self.paused() || self.resume_owed) {
                return;
            }
            if reads >= READ_BUDGET || bytes >= READ_BYTE_BUDGET {
                self.ready = true;
                return;
            }
            if self.peer_reset {
                return self.fail_reset();
            }
            match self.inbound.pop_front() {
                None => {
                    if self.eof_fed {
                        self.peer_eof();
                    }
                    return;
                }
                Some(n) => {
                    reads += 1;
                    bytes += n;
                    if !discarding {
                        self.deliver(n);
                    }
                }
            }
        }
    }

    fn fire_timers(&mut self) {
        let limit = self.seq;
        loop {
            let due = self
                .timers
                .iter()
                .enumerate()
                .filter(|(_, t)| t.deadline <= self.now && t.seq < limit)
                .min_by_key(|(_, t)| (t.deadline, t.seq))
                .map(|(i, _)| i);
            let Some(i) = due else { break };
            let t = self.timers.remove(i);
            match t.kind {
                TKind::Proto(key) => {
                    if matches!(self.phase, Phase::Open | Phase::WriteClosed | Phase::Closing) {
                        self.fired.push(key);
                        let n = self.cfg.behaviour.timer_write;
                        if n > 0 {
                            self.write(n);
                        }
                    }
                }
                TKind::Phase => match self.phase {
                    Phase::Closing => self.abort(Reason::TimedOut),
                    Phase::Lingering => self.free(),
                    _ => {}
                },
                TKind::Stall => {
                    if matches!(self.phase, Phase::Open | Phase::WriteClosed | Phase::Closing) && self.stall_watched() {
                        self.doom(Reason::OutputLimitExceeded(OutputLimit::Stalled));
                    }
                }
                TKind::Grace => {
                    if self.run == Run::Draining {
                        self.run = Run::Halt;
                    }
                }
            }
            self.settle();
        }
    }

    fn on_stop_requested(&mut self) {
        self.stop_calls += 1;
        match self.cfg.behaviour.stop {
            StopMode::Close => self.close(None),
            StopMode::Ignore => {}
            StopMode::Farewell(n) => {
                self.write(n);
                self.close(None);
            }
        }
    }

    fn advance_stop(&mut self) {
        if self.run == Run::StopRequested {
            self.run = Run::Draining;
            if matches!(self.phase, Phase::Open | Phase::WriteClosed) {
                self.on_stop_requested();
            }
            self.settle();
            self.add_timer(TKind::Grace, self.cfg.grace_ms);
        }
        // A lingering connection holds the stop up too: closed with input
        // unread, its socket would reset and destroy replies in flight.
        if self.run == Run::Draining && self.phase == Phase::Freed {
            self.run = Run::Halt;
        }
    }

    fn halt(&mut self) {
        self.remove_timer(TKind::Grace);
        if self.exists() {
            self.abort(Reason::Shutdown);
            self.settle();
            self.free();
        }
    }

    fn turn(&mut self) {
        self.settle();
        self.fire_timers();
        self.advance_stop();
        if self.run == Run::Halt {
            return;
        }
        if self.ready {
            self.ready = false;
            self.read_conn();
            self.settle();
        }
        self.advance_stop();
    }

    /// What the harness does after every step.
    fn drive(&mut self) {
        self.read_conn();
        self.settle();
        while self.ready {
            self.ready = false;
            self.read_conn();
            self.settle();
        }
        while matches!(self.run, Run::StopRequested | Run::Draining | Run::Halt) {
            let before = self.run;
            if before != Run::Halt {
                self.turn();
            }
            if self.run == Run::Halt {
                self.halt();
                self.stopped = true;
                self.run = Run::Running;
                break;
            }
            if self.run == before {
                break;
            }
        }
    }
}

// ----- the steps ---------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Write(usize),
    Close,
    WriteEof,
    CloseWith(Reason),
    Abort,
    PauseReading,
    ResumeReading,
    SetTimer(u64),
    CancelTimer(usize),
    Feed(usize),
    FeedEof,
    PeerResets,
    Window(Option<usize>),
    PeerReads(usize),
    Advance(u64),
    Stop,
}

fn random_op(rng: &mut Rng, m: &Model) -> Op {
    let peer_open = !m.eof_fed && !m.peer_reset;
    loop {
        let op = match rng.below(1000) {
            0..=199 => Op::Write(if rng.chance(90) { rng.usize(1, 2000) } else { rng.usize(2000, 20_000) }),
            200..=224 => Op::Close,
            225..=239 => Op::WriteEof,
            240..=254 => {
                Op::CloseWith(if rng.chance(50) { Reason::Protocol("bad input".into()) } else { Reason::TimedOut })
            }
            255..=274 => Op::Abort,
            275..=334 => Op::PauseReading,
            335..=394 => Op::ResumeReading,
            395..=434 => Op::SetTimer(rng.range(1, 8000)),
            435..=464 => {
                if m.next_key == 0 {
                    continue;
                }
                Op::CancelTimer(rng.usize(0, m.next_key - 1))
            }
            465..=614 if peer_open => {
                Op::Feed(if rng.chance(90) { rng.usize(1, 3000) } else { rng.usize(3000, 20_000) })
            }
            615..=639 if peer_open => Op::FeedEof,
            640..=654 if !m.peer_reset => Op::PeerResets,
            655..=714 => Op::Window(Some(rng.usize(0, 5000))),
            715..=774 => Op::PeerReads(rng.usize(1, 8000)),
            775..=814 => Op::Window(None),
            815..=944 => Op::Advance(rng.range(1, 700)),
            945..=984 => Op::Advance(rng.range(700, 8000)),
            985..=999 => Op::Stop,
            _ => continue,
        };
        return op;
    }
}

/// One connection in the harness beside its model.
struct Run1 {
    seed: u64,
    h: Harness,
    m: Model,
    st: Rc<RefCell<Shared>>,
    timer_ids: Vec<TimerId>,
    /// Bytes taken from the harness so far (checked as they come).
    taken: usize,
    steps: Vec<String>,
    verbose: bool,
}

impl Run1 {
    fn new(seed: u64, verbose: bool) -> Run1 {
        let mut rng = Rng::new(seed ^ 0xC0FF_EE00);
        let cfg = Cfg::random(&mut rng);
        let st = Shared::new(cfg.behaviour);
        let h = Harness::with_options(Recorder(Rc::clone(&st)), &cfg.options());
        let steps = vec![format!("{cfg:?}")];
        let mut run = Run1 { seed, h, m: Model::new(cfg), st, timer_ids: Vec::new(), taken: 0, steps, verbose };
        run.m.drive();
        run.check("connection_made");
        run
    }

    fn apply(&mut self, op: &Op) {
        self.steps.push(format!("{op:?}"));
        let (h, m, st) = (&mut self.h, &mut self.m, &self.st);
        match op.clone() {
            Op::Write(n) => {
                h.with_context(|cx| emit(cx, &mut st.borrow_mut(), n));
                m.write(n);
            }
            Op::Close => {
                h.with_context(|cx| cx.close());
                m.close(None);
            }
            Op::WriteEof => {
                h.with_context(|cx| cx.write_eof());
                m.write_eof();
            }
            Op::CloseWith(r) => {
                let r2 = r.clone();
                h.with_context(move |cx| cx.close_with(r2));
                m.close(Some(r));
            }
            Op::Abort => {
                h.with_context(|cx| cx.abort());
                m.abort(Reason::Aborted);
            }
            Op::PauseReading => {
                h.with_context(|cx| cx.pause_reading());
                m.pause_reading();
            }
            Op::ResumeReading => {
                h.with_context(|cx| cx.resume_reading());
                m.resume_reading();
            }
            Op::SetTimer(ms) => {
                let id = h.with_context(|cx| cx.set_timer(Duration::from_millis(ms)));
                let key = m.set_timer(ms);
                assert_eq!(key, self.timer_ids.len());
                self.timer_ids.push(id);
            }
            Op::CancelTimer(key) => {
                let id = self.timer_ids[key];
                let got = h.with_context(|cx| cx.cancel_timer(id));
                let want = m.cancel_timer(key);
                assert_eq!(got, want, "cancel_timer's answer");
            }
            Op::Feed(n) => {
                let data: Vec<u8> = (m.fed..m.fed + n).map(in_byte).collect();
                h.feed(&data);
                m.fed += n;
                m.inbound.push_back(n);
            }
            Op::FeedEof => {
                h.feed_eof();
                m.eof_fed = true;
            }
            Op::PeerResets => {
                h.peer_resets();
                m.peer_reset = true;
                // The hang-up: an error is pending, the connection fails in
                // any phase but after it is gone.
                if m.exists() && !m.doomed {
                    m.fail_reset();
                }
            }
            Op::Window(w) => {
                h.set_peer_window(w);
                m.window = w;
            }
            Op::PeerReads(n) => {
                h.peer_reads(n);
                m.window = Some(m.window.unwrap_or(0).saturating_add(n));
            }
            Op::Advance(ms) => {
                h.advance(Duration::from_millis(ms));
                m.now += ms;
                m.fire_timers();
            }
            Op::Stop => {
                h.stop();
                if m.run == Run::Running {
                    m.run = Run::StopRequested;
                }
            }
        }
        m.drive();
        let what = format!("step {} {op:?}", self.steps.len() - 1);
        self.check(&what);
    }

    /// The harness and its protocol agree with the model.
    fn check(&mut self, what: &str) {
        let (h, m) = (&mut self.h, &self.m);
        let new = h.take_written();
        if let Some(k) = new.iter().enumerate().position(|(k, b)| *b != out_byte(self.taken + k)) {
            panic!("{what}: output byte {} is wrong (lost, duplicated or reordered output)", self.taken + k);
        }
        self.taken += new.len();
        let st = self.st.borrow();
        if let Some(v) = st.violations.first() {
            panic!("{what}: the protocol saw a broken contract: {v}");
        }
        let count = |f: &dyn Fn(&Call) -> bool| st.calls.iter().filter(|c| f(c)).count();
        let lost: Vec<Reason> = st
            .calls
            .iter()
            .filter_map(|c| match c {
                Call::Lost(r) => Some(r.clone()),
                _ => None,
            })
            .collect();
        let got = Observed {
            lost: lost.last().cloned(),
            lost_count: lost.len(),
            harness_lost: h.lost(),
            freed: h.is_freed(),
            queued: h.queued(),
            received: self.taken,
            accepted: st.out_pos,
            delivered: st.in_pos,
            unread: h.unread(),
            reading_paused: h.is_reading_paused(),
            pending_timers: h.pending_timers(),
            stopped: h.is_stopped(),
            shutdown: h.transcript().write_shutdown,
            reset: h.transcript().reset,
            eof_calls: count(&|c| *c == Call::Eof),
            pause_calls: count(&|c| *c == Call::PauseWriting),
            resume_calls: count(&|c| *c == Call::ResumeWriting),
            resumed_calls: count(&|c| *c == Call::ReadingResumed),
            stop_calls: count(&|c| *c == Call::StopRequested),
            fired: st
                .calls
                .iter()
                .filter_map(|c| match c {
                    Call::Timer(id) => Some(self.timer_ids.iter().position(|t| t == id).unwrap_or(usize::MAX)),
                    _ => None,
                })
                .collect(),
        };
        let want = Observed {
            lost: m.lost.clone(),
            lost_count: m.lost_count,
            harness_lost: m.lost.clone(),
            freed: m.phase == Phase::Freed,
            queued: m.out,
            received: m.received,
            accepted: m.accepted,
            delivered: m.delivered,
            unread: m.unread(),
            reading_paused: m.exists() && m.paused(),
            pending_timers: m.timers.len(),
            stopped: m.stopped,
            shutdown: m.shutdown_sent,
            reset: m.reset_sent,
            eof_calls: m.eof_calls,
            pause_calls: m.pause_calls,
            resume_calls: m.resume_calls,
            resumed_calls: m.resumed_calls,
            stop_calls: m.stop_calls,
            fired: m.fired.clone(),
        };
        if self.verbose {
            eprintln!("{what}: {got:?}");
        }
        if got != want {
            panic!("{what}: the connection differs from the model\n  got:   {got:?}\n  model: {want:?}\n  model state: {m:?}");
        }
        assert_eq!(st.calls.first(), Some(&Call::Made), "{what}: connection_made first");
        if m.lost.is_some() {
            assert!(matches!(st.calls.last(), Some(Call::Lost(_))), "{what}: connection_lost last");
        }
    }

    /// The peer reads everything and closes; the protocol finishes.
    /// Afterwards nothing may be left behind.
    fn finish(&mut self) {
        self.apply(&Op::Window(None));
        if matches!(self.m.phase, Phase::Open | Phase::WriteClosed) {
            self.apply(&Op::ResumeReading);
            assert_eq!(self.m.delivered, self.m.fed, "model: everything fed reaches an open connection");
            self.apply(&Op::Close);
        }
        let linger = self.m.cfg.linger_ms + 1;
        self.apply(&Op::Advance(linger));
        assert_eq!(self.m.phase, Phase::Freed, "model: freed after the linger time");
        assert!(self.m.lost.is_some());
        if self.m.shutdown_sent {
            assert_eq!(self.m.received, self.m.accepted, "model: a clean close sends everything");
        }
        assert_eq!(self.h.pending_timers(), 0, "timers left behind");
        assert!(self.h.is_freed());
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Observed {
    lost: Option<Reason>,
    lost_count: usize,
    harness_lost: Option<Reason>,
    freed: bool,
    queued: usize,
    received: usize,
    accepted: usize,
    delivered: usize,
    unread: usize,
    reading_paused: bool,
    pending_timers: usize,
    stopped: bool,
    shutdown: bool,
    reset: bool,
    eof_calls: usize,
    pause_calls: usize,
    resume_calls: usize,
    resumed_calls: usize,
    stop_calls: usize,
    fired: Vec<usize>,
}

impl Drop for Run1 {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("\nfailing sequence: REEL_MODEL_SEED={:#x}", self.seed);
            for (i, s) in self.steps.iter().enumerate() {
                eprintln!("  {i:3}: {s}");
            }
        }
    }
}

/// Runs one random sequence; returns its number of steps and how the
/// connection ended (for the coverage summary).
fn run_sequence(seed: u64, verbose: bool) -> (usize, String) {
    let mut rng = Rng::new(seed);
    let mut run = Run1::new(seed, verbose);
    let n = rng.usize(1, 60);
    for _ in 0..n {
        let op = random_op(&mut rng, &run.m);
        run.apply(&op);
    }
    let before = format!("{:?} before finishing, {:?}", run.m.phase, run.m.lost);
    run.steps.push("finish:".into());
    run.finish();
    let how = if before.starts_with("Open") || before.starts_with("Closing") {
        format!("{:?} in finish", run.m.lost.as_ref().map(|r| if r.is_clean() { "clean" } else { "other" }))
    } else {
        format!("{:?}", run.m.lost)
    };
    (n, how)
}

#[test]
fn random_lifecycles_in_memory_follow_the_model() {
    let _serial = serial();
    if let Some(seed) = env_u64("REEL_MODEL_SEED") {
        run_sequence(seed, true);
        return;
    }
    let count = env_u64("REEL_MODEL_SEQS").unwrap_or(20_000);
    let start = Instant::now();
    let mut steps = 0;
    let mut ends = std::collections::BTreeMap::new();
    for i in 0..count {
        let (n, how) = run_sequence(splitmix(0x5EED_0000 + i), false);
        steps += n;
        *ends.entry(how).or_insert(0) += 1;
    }
    eprintln!("{count} in-memory sequences, {steps} random steps, in {:?}", start.elapsed());
    for (how, n) in &ends {
        eprintln!("  {n:6}  ended: {how}");
    }
}

/// Regression (found by the model, `REEL_MODEL_SEED=0xc1127bbe4bbbaf25`):
/// a `close_with(Reason::Protocol(..))` whose flush cannot finish is cut at
/// the close timeout, its queued output dropped. It must end with a reset,
/// or the peer would see an orderly FIN after a truncated stream, as if the
/// reply were complete. The library once decided "reset or not" by the
/// reason `connection_lost` gets, which the protocol's `close_with` reason
/// had set first; it now decides by what ended the connection.
#[test]
fn close_with_then_close_timeout_ends_with_a_reset() {
    let _serial = serial();
    let opts = TcpOptions { close_timeout: Duration::from_secs(5), ..TcpOptions::default() };
    let st = Shared::new(Behaviour { echo: false, eof_closes: true, stop: StopMode::Close, timer_write: 0 });
    let mut h = Harness::with_options(Recorder(Rc::clone(&st)), &opts);
    h.set_peer_window(Some(10));
    h.with_context(|cx| {
        cx.write(&[b'x'; 100]);
        cx.close_with(Reason::Protocol("bad input".into()));
    });
    assert_eq!(h.written().len(), 10);
    h.advance(Duration::from_secs(5));
    assert!(h.is_freed());
    assert_eq!(h.queued(), 0, "90 bytes were dropped");
    let t = h.transcript();
    assert!(!t.write_shutdown);
    assert!(t.reset, "output was dropped at the close timeout: the peer must see a reset, not an orderly end");
}

/// The same with `abort()`: abort's doc says it resets the connection.
#[test]
fn close_with_then_abort_ends_with_a_reset() {
    let _serial = serial();
    let st = Shared::new(Behaviour { echo: false, eof_closes: true, stop: StopMode::Close, timer_write: 0 });
    let mut h = Harness::new(Recorder(Rc::clone(&st)));
    h.set_peer_window(Some(0));
    h.with_context(|cx| {
        cx.write(b"never sent");
        cx.close_with(Reason::Protocol("bad input".into()));
    });
    h.with_context(|cx| cx.abort());
    assert!(h.is_freed());
    assert!(h.transcript().reset, "abort() must reset the connection");
}

// ----- over real loopback sockets ----------------------------------------------------

/// The tests of this file run one at a time: the loopback part counts the
/// process's descriptors, which a concurrent harness (a poller each) would
/// move.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn open_fds() -> Vec<String> {
    let mut fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| {
                    format!(
                        "{} -> {}",
                        e.file_name().to_string_lossy(),
                        std::fs::read_link(e.path()).map(|p| p.display().to_string()).unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    fds.sort();
    fds
}

/// What the server side reports when its connection ends.
#[derive(Debug)]
enum Msg {
    Lost {
        id: u64,
        reason: Reason,
        data_in: usize,
        out_pos: usize,
        violations: Vec<String>,
    },
    /// A callback after `connection_lost`, or a second one.
    Late {
        id: u64,
        what: String,
    },
}

/// The server's protocol, driven by commands in the bytes it receives: an
/// 8-byte id, then records `[cmd][len: u32 LE]`: `D` and `len` bytes of the
/// input pattern; `W`: write `len` bytes of the output pattern; `P`: pause
/// reading for `len` ms; `C`: close; `A`: abort.
struct Scripted {
    tx: std::sync::mpsc::Sender<Msg>,
    id: Option<u64>,
    buf: Vec<u8>,
    /// Payload bytes still to come for the current `D` record.
    data_left: usize,
    data_in: usize,
    out_pos: usize,
    resume_timer: Option<TimerId>,
    lost: bool,
    violations: Vec<String>,
}

impl Scripted {
    fn late(&mut self, what: &str) {
        if self.lost {
            let _ = self.tx.send(Msg::Late { id: self.id.unwrap_or(u64::MAX), what: what.into() });
        }
    }

    fn run_commands(&mut self, cx: &mut Context<'_>) {
        let mut at = 0;
        loop {
            if cx.is_closing() {
                break; // input after close or abort is not for us
            }
            if self.data_left > 0 {
                let n = self.data_left.min(self.buf.len() - at);
                if n == 0 {
                    break;
                }
                let start = self.data_in;
                if let Some(k) = self.buf[at..at + n].iter().enumerate().position(|(k, b)| *b != in_byte(start + k)) {
                    self.violations.push(format!("input byte {} is wrong", start + k));
                }
                self.data_in += n;
                self.data_left -= n;
                at += n;
                continue;
            }
            if self.id.is_none() {
                if self.buf.len() - at < 8 {
                    break;
                }
                let id = u64::from_le_bytes(self.buf[at..at + 8].try_into().expect("8 bytes"));
                self.id = Some(id);
                at += 8;
                continue;
            }
            if self.buf.len() - at < 5 {
                break;
            }
            let cmd = self.buf[at];
            let len = u32::from_le_bytes(self.buf[at + 1..at + 5].try_into().expect("4 bytes")) as usize;
            at += 5;
            match cmd {
                b'D' => self.data_left = len,
                b'W' => {
                    let data: Vec<u8> = (self.out_pos..self.out_pos + len).map(out_byte).collect();
                    cx.write(&data);
                    self.out_pos += len;
                }
                b'P' => {
                    cx.pause_reading();
                    self.resume_timer = Some(cx.set_timer(Duration::from_millis(len as u64)));
                    break; // the rest waits for the resume
                }
                b'C' => cx.close(),
                b'A' => cx.abort(),
                other => self.violations.push(format!("unknown command {other}")),
            }
        }
        self.buf.drain(..at);
    }
}

impl Protocol for Scripted {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.late("data_received");
        if cx.is_reading_paused() && self.resume_timer.is_some() {
            self.violations.push("data_received while paused by the protocol".into());
        }
        self.buf.extend_from_slice(data);
        self.run_commands(cx);
    }

    fn reading_resumed(&mut self, cx: &mut Context<'_>) {
        self.late("reading_resumed");
        // Commands held back while paused go first, in order.
        self.run_commands(cx);
    }

    fn timer_fired(&mut self, cx: &mut Context<'_>, timer: TimerId) {
        self.late("timer_fired");
        if self.resume_timer == Some(timer) {
            self.resume_timer = None;
            cx.resume_reading();
        }
    }

    fn eof_received(&mut self, cx: &mut Context<'_>) {
        self.late("eof_received");
        cx.close();
    }

    fn connection_lost(&mut self, _: &mut Context<'_>, reason: Reason) {
        if self.lost {
            self.late("a second connection_lost");
            return;
        }
        self.lost = true;
        let _ = self.tx.send(Msg::Lost {
            id: self.id.unwrap_or(u64::MAX),
            reason,
            data_in: self.data_in,
            out_pos: self.out_pos,
            violations: std::mem::take(&mut self.violations),
        });
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// `C`, then read to the end.
    ServerCloses,
    /// shutdown(Write), then read to the end.
    ClientHalfCloses,
    /// `A`, then read until the reset.
    ServerAborts,
    /// SO_LINGER 0 and close: a reset.
    ClientResets,
    /// Close without reading what is left.
    ClientDrops,
}

fn record(cmd: u8, len: usize) -> [u8; 5] {
    let mut r = [cmd, 0, 0, 0, 0];
    r[1..].copy_from_slice(&(len as u32).to_le_bytes());
    r
}

/// One client script; returns a description of what it did.
fn loopback_sequence(
    seed: u64,
    addr: std::net::SocketAddr,
    rx: &std::sync::mpsc::Receiver<Msg>,
    steps: &mut Vec<String>,
) -> Ending {
    use std::io::Write;
    let mut rng = Rng::new(seed);
    let mut s = util::connect(addr);
    s.set_nodelay(true).expect("TCP_NODELAY"); // the records are small
    util::write_all(&mut s, &seed.to_le_bytes());
    let (mut sent, mut requested, mut read) = (0usize, 0usize, 0usize);
    let check_read = |got: &[u8], from: usize| {
        if let Some(k) = got.iter().enumerate().position(|(k, b)| *b != out_byte(from + k)) {
            panic!("output byte {} is wrong (lost, duplicated or reordered)", from + k);
        }
    };
    for _ in 0..rng.usize(0, 12) {
        match rng.below(4) {
            0 if sent < 60_000 => {
                let n = rng.usize(1, 20_000);
                steps.push(format!("D {n}"));
                let mut rec = record(b'D', n).to_vec();
                rec.extend((sent..sent + n).map(in_byte));
                util::write_all(&mut s, &rec);
                sent += n;
            }
            1 if requested < 100_000 => {
                let n = rng.usize(1, 50_000);
                steps.push(format!("W {n}"));
                util::write_all(&mut s, &record(b'W', n));
                requested += n;
            }
            2 if requested > read => {
                let n = rng.usize(1, requested - read);
                steps.push(format!("read {n}"));
                let got = util::read_n(&mut s, n);
                check_read(&got, read);
                read += n;
            }
            _ => {
                let ms = rng.usize(0, 3);
                steps.push(format!("P {ms}"));
                util::write_all(&mut s, &record(b'P', ms));
            }
        }
    }
    let ending = match rng.below(10) {
        0..=2 => Ending::ServerCloses,
        3..=4 => Ending::ClientHalfCloses,
        5..=6 => Ending::ServerAborts,
        7..=8 => Ending::ClientResets,
        _ => Ending::ClientDrops,
    };
    steps.push(format!("{ending:?}"));
    match ending {
        Ending::ServerCloses | Ending::ClientHalfCloses => {
            if ending == Ending::ServerCloses {
                util::write_all(&mut s, &record(b'C', 0));
            } else {
                s.shutdown(std::net::Shutdown::Write).expect("shutdown");
            }
            match util::read_until_end(&mut s) {
                util::End::Eof(rest) => {
                    check_read(&rest, read);
                    assert_eq!(read + rest.len(), requested, "every byte written before a clean close arrives");
                }
                util::End::Reset(rest) => {
                    panic!("a clean close reset the connection after {} bytes", read + rest.len())
                }
            }
        }
        Ending::ServerAborts => {
            util::write_all(&mut s, &record(b'A', 0));
            let end = util::read_until_end(&mut s);
            check_read(end.data(), read);
        }
        Ending::ClientResets => {
            socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).expect("SO_LINGER");
        }
        Ending::ClientDrops => {}
    }
    let _ = s.flush();
    drop(s);
    // The server's connection ends: exactly once, with a plausible reason.
    let msg = rx.recv_timeout(Duration::from_secs(4)).expect("connection_lost within 4 s");
    let Msg::Lost { id, reason, data_in, out_pos, violations } = msg else {
        panic!("unexpected message {msg:?}");
    };
    assert_eq!(id, seed, "connection_lost for another connection");
    assert!(violations.is_empty(), "the server saw a broken contract: {violations:?}");
    let plausible: &[Reason] = match ending {
        Ending::ServerCloses => &[Reason::Closed],
        Ending::ClientHalfCloses => &[Reason::PeerClosed],
        Ending::ServerAborts => &[Reason::Aborted],
        Ending::ClientResets => &[Reason::Reset],
        Ending::ClientDrops => &[Reason::PeerClosed, Reason::Reset],
    };
    assert!(plausible.contains(&reason), "{ending:?} ended the server's connection with {reason:?}");
    if matches!(ending, Ending::ServerCloses | Ending::ClientHalfCloses | Ending::ServerAborts) {
        assert_eq!(data_in, sent, "every byte sent before the command arrives");
        assert_eq!(out_pos, requested);
    } else {
        assert!(data_in <= sent);
    }
    ending
}

#[test]
fn random_lifecycles_over_loopback() {
    let _serial = serial();
    util::init_logging();
    let fds_before = open_fds();
    let (tx, rx) = std::sync::mpsc::channel::<Msg>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let mut reactor = util::reactor();
        let listener = reactor
            .listen_tcp("127.0.0.1:0", move |_| {
                Box::new(Scripted {
                    tx: tx.clone(),
                    id: None,
                    buf: Vec::new(),
                    data_left: 0,
                    data_in: 0,
                    out_pos: 0,
                    resume_timer: None,
                    lost: false,
                    violations: Vec::new(),
                }) as Box<dyn Protocol>
            })
            .expect("listen");
        let addr = reactor.listener_addr(listener).expect("listener address");
        addr_tx.send((addr, reactor.handle())).expect("send address");
        util::run_limited(&mut reactor, Duration::from_secs(60));
    });
    let (addr, handle) = addr_rx.recv().expect("server address");
    let single = env_u64("REEL_LOOPBACK_SEED");
    let count = if single.is_some() { 1 } else { env_u64("REEL_LOOPBACK_SEQS").unwrap_or(2000) };
    let start = Instant::now();
    let mut ends = std::collections::BTreeMap::new();
    for i in 0..count {
        let seed = single.unwrap_or_else(|| splitmix(0x100B_BAC0 + i));
        let mut steps = Vec::new();
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loopback_sequence(seed, addr, &rx, &mut steps)));
        match result {
            Ok(ending) => *ends.entry(format!("{ending:?}")).or_insert(0) += 1,
            Err(payload) => {
                eprintln!("failing loopback sequence: REEL_LOOPBACK_SEED={seed:#x}: {steps:?}");
                handle.stop();
                let _ = server.join();
                std::panic::resume_unwind(payload);
            }
        }
    }
    // Lingering connections go once their clients' FINs are read: ask the
    // reactor until none is left (bounded).
    let deadline = Instant::now() + Duration::from_secs(5);
    let (count_tx, count_rx) = std::sync::mpsc::channel();
    let left = loop {
        let tx = count_tx.clone();
        handle.call_from_thread(move |cx| {
            let _ = tx.send(cx.connection_count());
        });
        let n = count_rx.recv_timeout(Duration::from_secs(4)).expect("reactor answers");
        if n == 0 || Instant::now() > deadline {
            break n;
        }
        std::thread::yield_now();
    };
    assert_eq!(left, 0, "connections left open after every peer is gone");
    handle.stop();
    server.join().expect("server thread");
    drop(handle); // it holds the reactor's waker (an eventfd)
    let late: Vec<String> = rx
        .try_iter()
        .map(|m| match m {
            Msg::Late { id, what } => format!("{what} on connection {id:#x}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert!(late.is_empty(), "callbacks after connection_lost: {late:?}");
    assert_eq!(open_fds(), fds_before, "descriptors not given back");
    eprintln!("{count} loopback sequences in {:?}: {ends:?}", start.elapsed());
}
