//! TLS for the load generator.
//!
//! - `--tls` (and `--ca FILE`): the request modes run over TLS unchanged,
//!   since the client protocols do not know their transport; each
//!   connection makes one handshake, then only requests are measured.
//! - `--handshakes`: `--conns` connections each make a full TLS handshake
//!   (no session resumption), close, and start again; reported as
//!   handshakes per second and the server's CPU time per handshake.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reel::tls::ClientConfig;
use reel::{Context, Protocol, Reactor, Reason};

use super::sys;

/// The client configuration: the CA of `ca` (else `webpki-roots`), and
/// session resumption only when `resume` (a full handshake every time
/// otherwise).
///
/// # Errors
///
/// When the CA file cannot be loaded.
pub fn client_config(ca: Option<&Path>, resume: bool) -> Result<Arc<ClientConfig>, String> {
    let mut config = reel::tls::client_config(ca).map_err(|e| format!("cannot load the CA certificates: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if !resume {
        config.resumption = reel::tls::rustls::client::Resumption::disabled();
    }
    Ok(Arc::new(config))
}

/// What `--handshakes` measured.
#[derive(Debug, Clone, Default)]
pub struct HandshakeReport {
    /// Handshakes completed while measuring.
    pub handshakes: u64,
    /// Failed connections or handshakes while measuring.
    pub errors: u64,
    /// The measurement's length, in seconds.
    pub secs: f64,
    /// The server's CPU time over the measurement, in seconds.
    pub server_cpu: Option<f64>,
}

impl HandshakeReport {
    /// One line for people.
    pub fn text(&self) -> String {
        let rate = self.handshakes as f64 / self.secs.max(1e-9);
        let mut line = format!("{} full handshakes in {:.2} s: {rate:.0}/s", self.handshakes, self.secs);
        if let Some(cpu) = self.server_cpu {
            let per = cpu / (self.handshakes.max(1) as f64) * 1e6;
            line.push_str(&format!(
                "; server CPU {cpu:.2} s, {per:.1} us per handshake, {:.0} handshakes per server-CPU-second",
                self.handshakes as f64 / cpu.max(1e-9)
            ));
        }
        line.push_str(&format!("; {} errors\n", self.errors));
        line
    }
}

/// State shared by the handshaking connections.
struct Run {
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    measuring: bool,
    done: bool,
    report: HandshakeReport,
}

/// One connection: counts its handshake, closes, and is replaced.
struct Handshaker(Rc<RefCell<Run>>);

impl Handshaker {
    fn again(&self, cx: &mut Context<'_>) {
        let run = self.0.borrow();
        if !run.done {
            let (addr, config) = (run.addr, Arc::clone(&run.config));
            drop(run);
            cx.connect_tls(addr, &addr.ip().to_string(), config, Handshaker(Rc::clone(&self.0)));
        }
    }
}

impl Protocol for Handshaker {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        let mut run = self.0.borrow_mut();
        if run.measuring {
            run.report.handshakes += 1;
        }
        drop(run);
        cx.close();
    }
    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
    fn connection_lost(&mut self, cx: &mut Context<'_>, _reason: Reason) {
        self.again(cx);
    }
    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        let mut run = self.0.borrow_mut();
        if run.measuring {
            run.report.errors += 1;
        }
        if run.report.errors == 1 {
            eprintln!("loadgen: handshake failed: {reason}");
        }
        drop(run);
        self.again(cx);
    }
}

/// Runs `conns` handshaking connections to `addr`: `warmup` unmeasured,
/// then `duration` measured.
///
/// # Errors
///
/// When the reactor cannot run.
pub fn handshakes(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    conns: usize,
    warmup: Duration,
    duration: Duration,
    server_pid: Option<u32>,
) -> Result<HandshakeReport, String> {
    let mut reactor = Reactor::new().map_err(|e| e.to_string())?;
    let run = Rc::new(RefCell::new(Run {
        addr,
        config: Arc::clone(&config),
        measuring: false,
        done: false,
        report: HandshakeReport::default(),
    }));
    for _ in 0..conns.max(1) {
        let name = addr.ip().to_string();
        reactor.connect_tls(addr, &name, Arc::clone(&config), Handshaker(Rc::clone(&run)));
    }
    Window { warmup, duration, server_pid }.arm(&mut reactor, &run);
    reactor.run().map_err(|e| e.to_string())?;
    let report = run.borrow().report.clone();
    Ok(report)
}

/// Bytes of each line `--bulk` sends (the echo_hello contract allows 16 KiB).
pub const BULK_LINE: usize = 16_000;
/// Lines in flight on the `--bulk` connection.
const BULK_DEPTH: u64 = 32;
/// The reply to one bulk line: `Hello, ` + the line + `!\n`.
const BULK_REPLY: u64 = (BULK_LINE + 9) as u64;

/// What `--bulk` measured.
#[derive(Debug, Clone, Default)]
pub struct BulkReport {
    /// Bytes sent and received while measuring.
    pub bytes: u64,
    /// The measurement's length, in seconds.
    pub secs: f64,
    /// The server's CPU time over the measurement, in seconds.
    pub server_cpu: Option<f64>,
    /// Whether every reply was as expected.
    pub ok: bool,
}

impl BulkReport {
    /// One line for people.
    pub fn text(&self) -> String {
        let mbps = self.bytes as f64 / self.secs.max(1e-9) / 1e6;
        let mut line =
            format!("bulk: {:.1} MB moved (both ways) in {:.2} s: {mbps:.1} MB/s", self.bytes as f64 / 1e6, self.secs);
        if let Some(cpu) = self.server_cpu {
            line.push_str(&format!(
                "; server CPU {cpu:.2} s, {:.1} MB per server-CPU-second",
                self.bytes as f64 / 1e6 / cpu.max(1e-9)
            ));
        }
        line.push_str(if self.ok { "\n" } else { "; WRONG REPLIES\n" });
        line
    }
}

/// The bulk connection: 16,000-byte lines to echo_hello, 32 in flight,
/// replies counted by length and checked by their last bytes.
struct Bulk {
    run: Rc<RefCell<BulkRun>>,
    line: Vec<u8>,
    /// Bytes received so far (the welcome included).
    received: u64,
    /// Lines sent so far.
    sent: u64,
}

struct BulkRun {
    measuring: bool,
    report: BulkReport,
    bad: bool,
}

impl Bulk {
    fn fill(&mut self, cx: &mut Context<'_>) {
        let answered = self.received.saturating_sub(9) / BULK_REPLY;
        while self.sent < answered + BULK_DEPTH {
            cx.write(&self.line);
            self.sent += 1;
            if self.run.borrow().measuring {
                self.run.borrow_mut().report.bytes += self.line.len() as u64;
            }
        }
    }
}

impl Protocol for Bulk {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.fill(cx);
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.received += data.len() as u64;
        let mut run = self.run.borrow_mut();
        if run.measuring {
            run.report.bytes += data.len() as u64;
        }
        // Every reply ends in "x!\n": a cheap check that the stream is
        // replies to our lines and nothing else.
        if self.received > 9 && (self.received - 9) % BULK_REPLY == 0 && !data.ends_with(b"x!\n") {
            run.bad = true;
        }
        drop(run);
        self.fill(cx);
    }
    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        if !reason.is_clean() {
            eprintln!("loadgen: bulk connection lost: {reason}");
            self.run.borrow_mut().bad = true;
        }
        cx.stop();
    }
    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        eprintln!("loadgen: bulk connection failed: {reason}");
        self.run.borrow_mut().bad = true;
        cx.stop();
    }
}

/// Streams lines to an echo_hello server over one TLS (or, with `config`
/// `None`, TCP) connection: `warmup` unmeasured, then `duration`.
///
/// # Errors
///
/// When the reactor cannot run.
pub fn bulk(
    addr: SocketAddr,
    config: Option<Arc<ClientConfig>>,
    warmup: Duration,
    duration: Duration,
    server_pid: Option<u32>,
) -> Result<BulkReport, String> {
    let mut reactor = Reactor::new().map_err(|e| e.to_string())?;
    let run = Rc::new(RefCell::new(BulkRun { measuring: false, report: BulkReport::default(), bad: false }));
    let mut line = vec![b'x'; BULK_LINE];
    line.push(b'\n');
    let client = Bulk { run: Rc::clone(&run), line, received: 0, sent: 0 };
    match config {
        Some(config) => reactor.connect_tls(addr, &addr.ip().to_string(), config, client),
        None => reactor.connect_tcp(addr, client),
    };
    Window { warmup, duration, server_pid }.arm(&mut reactor, &run);
    reactor.run().map_err(|e| e.to_string())?;
    let mut report = run.borrow().report.clone();
    report.ok = !run.borrow().bad;
    Ok(report)
}

/// A run that a [`Window`] opens and closes.
trait Measured {
    /// The window opens (`true`) or closes.
    fn set_measuring(&mut self, on: bool);
    /// What the window measured: seconds, and the server's CPU seconds
    /// over them when known.
    fn measured(&mut self, secs: f64, server_cpu: Option<f64>);
}

impl Measured for Run {
    fn set_measuring(&mut self, on: bool) {
        self.measuring = on;
        if !on {
            self.done = true;
        }
    }
    fn measured(&mut self, secs: f64, server_cpu: Option<f64>) {
        (self.report.secs, self.report.server_cpu) = (secs, server_cpu);
    }
}

impl Measured for BulkRun {
    fn set_measuring(&mut self, on: bool) {
        self.measuring = on;
    }
    fn measured(&mut self, secs: f64, server_cpu: Option<f64>) {
        (self.report.secs, self.report.server_cpu) = (secs, server_cpu);
    }
}

/// The measured stretch of a run: from `warmup` after the start, for
/// `duration`.
struct Window {
    warmup: Duration,
    duration: Duration,
    server_pid: Option<u32>,
}

impl Window {
    /// Sets the timers: the window opens on `run`, then closes with what
    /// it measured (the seconds, and the server's CPU seconds over them
    /// when `server_pid` is given and readable), then the reactor stops.
    fn arm(self, reactor: &mut Reactor, run: &Rc<RefCell<impl Measured + 'static>>) {
        let server_pid = self.server_pid;
        let opened = Rc::new(RefCell::new(None::<(Instant, Option<sys::CpuTime>)>));
        let (r, o) = (Rc::clone(run), Rc::clone(&opened));
        reactor.call_later(self.warmup, move |_| {
            r.borrow_mut().set_measuring(true);
            *o.borrow_mut() = Some((Instant::now(), server_pid.and_then(sys::process_cpu)));
        });
        let r = Rc::clone(run);
        reactor.call_later(self.warmup + self.duration, move |cx| {
            let mut run = r.borrow_mut();
            run.set_measuring(false);
            if let Some((t0, cpu0)) = opened.borrow_mut().take() {
                let cpu1 = server_pid.and_then(sys::process_cpu);
                run.measured(t0.elapsed().as_secs_f64(), cpu0.zip(cpu1).map(|(a, b)| b.minus(&a).total()));
            }
            cx.stop();
        });
    }
}
