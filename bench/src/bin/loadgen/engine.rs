//! The load generator's engine, built on reel: client connections from
//! `connect_tcp_with`, UDP sockets from `connect_udp`, timers from
//! `call_later`/`call_every`, all in one reactor on the calling thread.
//!
//! [`run`] takes a [`Config`] and returns a [`Report`]; `main.rs` parses
//! the command line and prints the report, `bench/tests/loadgen.rs` calls
//! `run` in-process.
//!
//! Cost per request, in steady state: no heap allocation (requests are
//! formatted into fixed arrays, in-flight requests live in a ring
//! allocated once per connection, replies are compared as they stream in,
//! without buffering, except HTTP heads split over reads, kept in a reused
//! buffer), two clock reads per batch of replies, one histogram record.
//! Nothing ever iterates over all connections: each connection (or UDP
//! socket) has its own timeout timer and looks only at its own requests.
#![allow(dead_code)] // the test uses a part of it

#[path = "idle.rs"]
mod idle;
#[path = "report.rs"]
mod report;
#[path = "sys.rs"]
mod sys;
#[path = "tcp.rs"]
mod tcp;
#[path = "tls.rs"]
pub mod tls;
#[path = "udp.rs"]
mod udp;

use std::cell::RefCell;
use std::fmt;
use std::io::Write as _;
use std::net::SocketAddr;
use std::rc::Rc;
use std::str::FromStr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use reel::{Reactor, ReactorConfig, ReactorContext, TcpOptions};

#[allow(unused_imports)] // the module's API: not every user names every type
pub use self::report::{IdleReport, Latency, Report};
use self::sys::CpuSample;
#[allow(unused_imports)]
pub use self::sys::CpuTime;

/// The body `http_hello` serves for `GET /`.
pub const HTTP_BODY: &[u8] =
    b"<html><head><meta charset=\"utf-8\"><title>Hello</title></head><body><h1>Hello World</h1></body></html>";

/// How many TCP connects may be under way at once: opening 10 000
/// connections at once would overflow the server's accept backlog.
const MAX_CONNECTING: usize = 256;

/// Pause before reopening a connection that failed, was lost, or was
/// aborted for a wrong reply: a server that is down or always wrong is not
/// hammered, and the error count stays a count of events, not of spins.
const RETRY_DELAY: Duration = Duration::from_millis(100);

/// Which service to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `echo_hello` over TCP: `Welcome!\n`, then `ping N\n` → `Hello, ping N!\n`.
    EchoHello,
    /// `http_hello`: `GET /` → `200` and the hello page.
    HttpHello,
    /// `echo_hello` over UDP: `ping N` → `Hello, ping N!`.
    UdpEchoHello,
    /// `echo` over UDP: `ping N` → `ping N`.
    UdpEcho,
}

impl Target {
    /// Every target, in the order the usage lists them.
    pub const ALL: [Target; 4] = [Target::EchoHello, Target::HttpHello, Target::UdpEchoHello, Target::UdpEcho];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Target::EchoHello => "echo_hello",
            Target::HttpHello => "http_hello",
            Target::UdpEchoHello => "udp_echo_hello",
            Target::UdpEcho => "udp_echo",
        }
    }

    /// Where the service listens by default (docs/protocols.md).
    pub fn default_addr(self) -> SocketAddr {
        let port = match self {
            Target::EchoHello | Target::UdpEchoHello => 9999,
            Target::HttpHello => 12345,
            Target::UdpEcho => 7007,
        };
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Whether it is a UDP service.
    pub fn is_udp(self) -> bool {
        matches!(self, Target::UdpEchoHello | Target::UdpEcho)
    }

    /// The default per-request timeout: 1 s for UDP (a lost datagram),
    /// 10 s for TCP (a stuck server).
    pub fn default_timeout(self) -> Duration {
        if self.is_udp() {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(10)
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Target, String> {
        Target::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
            format!("unknown target (expected one of {})", names.join(", "))
        })
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The service.
    pub target: Target,
    /// Its address.
    pub addr: SocketAddr,
    /// TCP connections, or UDP sockets.
    pub conns: usize,
    /// Requests in flight per connection or socket (1: ping-pong).
    pub depth: usize,
    /// Stop after this long of measurement (after the warm-up); in idle
    /// mode, hold the connections this long.
    pub duration: Option<Duration>,
    /// Stop after this many measured requests.
    pub requests: Option<u64>,
    /// Requests during this first stretch are not measured.
    pub warmup: Duration,
    /// A request unanswered this long is an error (UDP: lost).
    pub timeout: Duration,
    /// Idle mode: open and hold this many connections, send nothing.
    pub idle: Option<usize>,
    /// The server's process, for its CPU time and memory.
    pub server_pid: Option<u32>,
    /// Print a live progress line on stderr (for a terminal).
    pub progress: bool,
    /// Print a line on stderr when the idle connections are all open.
    pub announce: bool,
    /// Stop (and still report) on SIGINT/SIGTERM.
    pub signals: bool,
    /// Connect over TLS with this configuration (`--tls`, `--ca`).
    pub tls: Option<std::sync::Arc<reel::tls::ClientConfig>>,
    /// UDP: receive with coalesced receives (UDP GRO), as reel's
    /// endpoints do by default; off (`--no-gro`), a grouped reply is cut
    /// into datagrams at the load generator's socket, on the sending
    /// server's CPU over loopback, as for a client that does not ask.
    pub udp_gro: bool,
}

impl Config {
    /// The defaults for `target`: its default address, 1 connection,
    /// depth 1, 10 s after a 1 s warm-up, its default timeout.
    pub fn new(target: Target) -> Config {
        Config {
            target,
            addr: target.default_addr(),
            conns: 1,
            depth: 1,
            duration: Some(Duration::from_secs(10)),
            requests: None,
            warmup: Duration::from_secs(1),
            timeout: target.default_timeout(),
            idle: None,
            server_pid: None,
            udp_gro: true,
            progress: false,
            announce: false,
            signals: false,
            tls: None,
        }
    }
}

// ----- the state the protocols share ------------------------------------------

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Warmup,
    Measuring,
    Done,
}

/// Read-only settings plus the mutable state, shared by every protocol
/// and timer of the run (one thread: `Rc<RefCell>`; no callback runs
/// inside another, so a borrow never meets another).
struct Shared {
    cfg: Config,
    /// `GET / HTTP/1.1` with `Host`, formatted once.
    http_request: Vec<u8>,
    tcp_opts: TcpOptions,
    st: RefCell<State>,
}

struct State {
    phase: Phase,
    begun: Instant,
    measure_start: Option<Instant>,
    end: Option<Instant>,
    /// Measured requests answered correctly.
    requests: u64,
    /// Requests answered correctly, the warm-up included (progress line).
    total: u64,
    errors: u64,
    late: u64,
    bytes_out: u64,
    bytes_in: u64,
    /// Latency in nanoseconds.
    hist: Histogram<u64>,
    first_error: Option<String>,
    /// The next request number (`ping N`).
    seq: u64,
    /// TCP connections waiting to be opened.
    to_open: usize,
    /// TCP connects under way.
    connecting: usize,
    /// TCP connections established (idle: welcomed).
    open: usize,
    cpu_start: Option<CpuSample>,
    cpu_end: Option<CpuSample>,
    /// `total` at the last progress tick.
    last_tick_total: u64,
    progress_shown: bool,
    idle: IdleState,
}

#[derive(Default)]
struct IdleState {
    opened: usize,
    failed: usize,
    all_in: Option<Instant>,
    rss_before: Option<u64>,
    rss_open: Option<u64>,
    rss_end: Option<u64>,
    open_at_end: usize,
}

impl State {
    fn measuring(&self) -> bool {
        self.phase == Phase::Measuring
    }

    fn next_seq(&mut self) -> u64 {
        let n = self.seq;
        self.seq += 1;
        n
    }

    /// Counts an error; the first one is printed (and kept for the report).
    fn error(&mut self, msg: impl FnOnce() -> String) {
        self.errors += 1;
        self.note(msg);
    }

    /// Prints and keeps the first error message without counting it.
    fn note(&mut self, msg: impl FnOnce() -> String) {
        if self.first_error.is_none() {
            let msg = msg();
            let clear = if self.progress_shown { "\r\x1b[K" } else { "" };
            eprintln!("{clear}loadgen: first error: {msg}");
            self.first_error = Some(msg);
        }
    }

    /// Records one request answered correctly at `now`, sent at `sent`.
    /// Returns whether the connection should send another.
    fn completed(&mut self, cfg: &Config, cx: &mut ReactorContext<'_>, sent: Instant, now: Instant) -> bool {
        self.total += 1;
        match self.phase {
            Phase::Done => false,
            Phase::Warmup => true,
            Phase::Measuring => {
                self.requests += 1;
                let ns = now.saturating_duration_since(sent).as_nanos().min(u128::from(u64::MAX)) as u64;
                self.hist.saturating_record(ns.max(1));
                if cfg.requests.is_some_and(|limit| self.requests >= limit) {
                    finish(cfg, self, cx);
                    return false;
                }
                true
            }
        }
    }
}

/// `ping N` (and the newline TCP needs), formatted into a fixed array:
/// no allocation per request.
#[derive(Clone, Copy)]
struct Line {
    len: u8,
    bytes: [u8; 26],
}

impl Line {
    const EMPTY: Line = Line { len: 0, bytes: [0; 26] };

    fn ping(seq: u64) -> Line {
        use std::io::Write as _;
        let mut line = Line::EMPTY;
        let mut rest = &mut line.bytes[..];
        // At most 5 + 20 + 1 bytes: it fits. Formatting into a slice
        // allocates nothing.
        writeln!(rest, "ping {seq}").expect("a ping line fits in 26 bytes");
        let unused = rest.len();
        line.len = (line.bytes.len() - unused) as u8;
        line
    }

    /// `ping N\n`.
    fn wire(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// `ping N`.
    fn payload(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len).saturating_sub(1)]
    }

    /// The number in `ping N` (strictly: digits only, no sign, no spaces).
    fn parse_seq(payload: &[u8]) -> Option<u64> {
        let digits = payload.strip_prefix(b"ping ")?;
        if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    }
}

/// `bytes` for a message: escaped, cut at `max` bytes.
fn show(bytes: &[u8], max: usize) -> String {
    let cut = bytes.len().min(max);
    let more = if bytes.len() > max { format!("... ({} bytes)", bytes.len()) } else { String::new() };
    format!("\"{}\"{more}", bytes[..cut].escape_ascii())
}

/// The words for bytes that differ from `expected` after `matched` equal
/// ones; `rest` starts at the first byte not yet compared.
fn mismatch(what: &str, expected: &[u8], matched: usize, rest: &[u8]) -> String {
    let mut got = expected[..matched].to_vec();
    got.extend_from_slice(&rest[..rest.len().min(expected.len().saturating_sub(matched) + 64)]);
    format!("{what} mismatch: expected {}, got {}", show(expected, 256), show(&got, 256))
}

// ----- the run's life ------------------------------------------------------------

/// Opens waiting TCP connections, at most [`MAX_CONNECTING`] connects at once.
fn launch(sh: &Rc<Shared>, cx: &mut ReactorContext<'_>) {
    loop {
        {
            let mut st = sh.st.borrow_mut();
            if st.phase == Phase::Done || st.to_open == 0 || st.connecting >= MAX_CONNECTING {
                return;
            }
            st.to_open -= 1;
            st.connecting += 1;
        }
        if sh.cfg.idle.is_some() {
            cx.connect_tcp_with(sh.cfg.addr, idle::IdleClient::new(Rc::clone(sh)), &sh.tcp_opts);
        } else if let Some(config) = &sh.cfg.tls {
            let (addr, client) = (sh.cfg.addr, tcp::TcpClient::new(Rc::clone(sh)));
            cx.connect_tls_with(addr, &addr.ip().to_string(), std::sync::Arc::clone(config), client, &sh.tcp_opts);
        } else {
            cx.connect_tcp_with(sh.cfg.addr, tcp::TcpClient::new(Rc::clone(sh)), &sh.tcp_opts);
        }
    }
}

/// Opens one more connection after `delay`.
fn reopen_later(sh: &Rc<Shared>, cx: &mut ReactorContext<'_>, delay: Duration) {
    let sh = Rc::clone(sh);
    cx.call_later(delay, move |cx| {
        sh.st.borrow_mut().to_open += 1;
        launch(&sh, cx);
    });
}

/// The warm-up is over: counters and clocks start now.
fn begin_measuring(cfg: &Config, st: &mut State) {
    if st.phase != Phase::Warmup {
        return;
    }
    st.phase = Phase::Measuring;
    st.cpu_start = Some(CpuSample::take(cfg.server_pid));
    st.measure_start = Some(Instant::now());
}

/// The run is over: stop the clocks and the reactor (which closes every
/// connection gracefully).
fn finish(cfg: &Config, st: &mut State, cx: &mut ReactorContext<'_>) {
    if st.phase == Phase::Done {
        return;
    }
    stop_clocks(cfg, st);
    cx.stop();
}

/// Records the end (once): time, CPU, memory.
fn stop_clocks(cfg: &Config, st: &mut State) {
    if st.phase == Phase::Done {
        return;
    }
    st.phase = Phase::Done;
    st.end = Some(Instant::now());
    st.cpu_end = Some(CpuSample::take(cfg.server_pid));
    if cfg.idle.is_some() {
        st.idle.rss_end = cfg.server_pid.and_then(sys::vm_rss_kib);
        st.idle.open_at_end = st.open;
    }
}

/// The reactor is stopping (our own stop, or a signal).
fn observe_stop(sh: &Shared) {
    let mut st = sh.st.borrow_mut();
    stop_clocks(&sh.cfg, &mut st);
}

/// The once-a-second progress line (on a terminal only).
fn tick(sh: &Shared) {
    let mut st = sh.st.borrow_mut();
    if st.phase == Phase::Done {
        return;
    }
    let now = Instant::now();
    let elapsed = now.saturating_duration_since(st.begun).as_secs_f64();
    let line = if let Some(k) = sh.cfg.idle {
        format!("open {}/{k}, failed {}, errors {}", st.open, st.idle.failed, st.errors)
    } else {
        let last = st.total - st.last_tick_total;
        st.last_tick_total = st.total;
        let so_far = match st.measure_start {
            Some(t) => {
                let secs = now.saturating_duration_since(t).as_secs_f64();
                if secs > 0.0 {
                    format!("{:.0} req/s so far", st.requests as f64 / secs)
                } else {
                    String::new()
                }
            }
            None => "warming up".to_string(),
        };
        format!("{last} req/s now, {so_far}, errors {}, {} conns open", st.errors, st.open)
    };
    st.progress_shown = true;
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r[{elapsed:6.1}s] {line}\x1b[K");
    let _ = err.flush();
}

/// Runs the load (or idle mode) to its end.
///
/// # Errors
///
/// A bad configuration, an unreadable `/proc/PID` for the server, a
/// reactor or UDP socket that cannot be made: in words.
pub fn run(cfg: Config) -> Result<Report, String> {
    if cfg.conns == 0 || cfg.depth == 0 {
        return Err("--conns and --depth must be at least 1".into());
    }
    if cfg.idle.is_some() && cfg.target.is_udp() {
        return Err("--idle needs a TCP target (echo_hello or http_hello)".into());
    }
    if cfg.idle == Some(0) {
        return Err("--idle must be at least 1".into());
    }
    if let Some(pid) = cfg.server_pid {
        if sys::process_cpu(pid).is_none() {
            return Err(format!("cannot read /proc/{pid}/stat: no such process, or not Linux"));
        }
    }
    let rc = ReactorConfig { grace_period: Duration::from_secs(2), udp_gro: cfg.udp_gro, ..Default::default() };
    let mut reactor = Reactor::with_config(rc).map_err(|e| format!("cannot create the reactor: {e}"))?;
    if cfg.signals {
        reactor.stop_on_signals().map_err(|e| format!("cannot install signal handlers: {e}"))?;
    }
    let hist = Histogram::new_with_bounds(1, 3_600_000_000_000, 3).map_err(|e| format!("histogram: {e}"))?;
    let http_request = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", cfg.addr).into_bytes();
    let tcp_opts = TcpOptions { connect_timeout: cfg.timeout, ..Default::default() };
    let now = Instant::now();
    let st = State {
        phase: Phase::Warmup,
        begun: now,
        measure_start: None,
        end: None,
        requests: 0,
        total: 0,
        errors: 0,
        late: 0,
        bytes_out: 0,
        bytes_in: 0,
        hist,
        first_error: None,
        seq: 0,
        to_open: 0,
        connecting: 0,
        open: 0,
        cpu_start: None,
        cpu_end: None,
        last_tick_total: 0,
        progress_shown: false,
        idle: IdleState::default(),
    };
    let sh = Rc::new(Shared { cfg, http_request, tcp_opts, st: RefCell::new(st) });
    let cfg = &sh.cfg;
    {
        let mut cx = reactor.context();
        if let Some(k) = cfg.idle {
            {
                let mut st = sh.st.borrow_mut();
                st.idle.rss_before = cfg.server_pid.and_then(sys::vm_rss_kib);
                st.to_open = k;
                // Idle mode measures the hold, from the start.
                begin_measuring(cfg, &mut st);
            }
            launch(&sh, &mut cx);
        } else {
            if cfg.target.is_udp() {
                udp::start(&sh, &mut cx)?;
            } else {
                sh.st.borrow_mut().to_open = cfg.conns;
                launch(&sh, &mut cx);
            }
            if cfg.warmup.is_zero() {
                begin_measuring(cfg, &mut sh.st.borrow_mut());
            } else {
                let sh2 = Rc::clone(&sh);
                cx.call_later(cfg.warmup, move |_| begin_measuring(&sh2.cfg, &mut sh2.st.borrow_mut()));
            }
            if let Some(d) = cfg.duration {
                let sh2 = Rc::clone(&sh);
                cx.call_later(cfg.warmup + d, move |cx| finish(&sh2.cfg, &mut sh2.st.borrow_mut(), cx));
            }
        }
        if cfg.progress {
            let sh2 = Rc::clone(&sh);
            cx.call_every(Duration::from_secs(1), move |_| tick(&sh2));
        }
    }
    let result = reactor.run();
    drop(reactor); // drops the protocols' and timers' references to `sh`
    let mut st = sh.st.borrow_mut();
    stop_clocks(cfg, &mut st);
    if st.progress_shown {
        eprintln!();
    }
    result.map_err(|e| format!("reactor: {e}"))?;
    Ok(report::report(cfg, &st))
}

#[cfg(test)]
mod tests {
    use super::Line;

    #[test]
    fn ping_lines_hold_the_number_and_a_newline() {
        let cases = [(0, "ping 0"), (7, "ping 7"), (1234, "ping 1234"), (u64::MAX, "ping 18446744073709551615")];
        for (seq, text) in cases {
            let line = Line::ping(seq);
            assert_eq!(line.payload(), text.as_bytes());
            assert_eq!(line.wire(), format!("{text}\n").as_bytes());
        }
    }
}
