//! The load generator (`bench/src/bin/loadgen`), run in-process against tiny
//! servers built on reel in a thread of the test: right ones (no errors,
//! exactly the requests asked for), wrong ones (errors counted), a silent
//! UDP one (losses counted), idle mode, and a count of the load
//! generator's heap allocations showing none per request.
//!
//! Each test is bounded: `--requests` runs carry a `--duration` cap, and
//! the servers stop when the test ends.

#[path = "../src/bin/loadgen/engine.rs"]
mod loadgen;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use loadgen::{Config, Report, Target};
use reel::framing::{FrameHandler, Framed, Framer, Lines};
use reel::{Context, DatagramContext, DatagramProtocol, Protocol, Reactor, ReactorConfig, ReactorHandle};

// ----- counting allocations of one thread ----------------------------------------

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded as is to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded as is to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCS.with(Cell::get)
}

// ----- servers ----------------------------------------------------------------------

/// A server running on its own thread; stopped and joined on drop.
struct Server {
    addr: SocketAddr,
    handle: ReactorHandle,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts a reactor on a thread; `setup` opens its listener (port 0) and
/// returns the address.
fn serve(setup: impl FnOnce(&mut Reactor) -> SocketAddr + Send + 'static) -> Server {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let cfg = ReactorConfig { grace_period: Duration::from_millis(500), ..Default::default() };
        let mut reactor = Reactor::with_config(cfg).expect("reactor");
        let addr = setup(&mut reactor);
        tx.send((addr, reactor.handle())).expect("send addr");
        reactor.run().expect("server run");
    });
    let (addr, handle) = rx.recv_timeout(Duration::from_secs(5)).expect("server started");
    Server { addr, handle, thread: Some(thread) }
}

/// echo_hello's TCP side: `Welcome!\n`, then `<greeting>, X!\n` per line.
struct Hello {
    greeting: &'static [u8],
}

impl FrameHandler<Lines> for Hello {
    fn connection_made(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>) {
        cx.write(b"Welcome!\n");
    }

    fn frame_received(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, line: &[u8]) {
        cx.write(self.greeting);
        cx.write(b", ");
        cx.write(line);
        cx.write(b"!\n");
    }
}

fn hello_server(greeting: &'static [u8]) -> Server {
    serve(move |reactor| {
        let id = reactor
            .listen_tcp("127.0.0.1:0", move |_| {
                Box::new(Framed::new(Lines::lf(), Hello { greeting })) as Box<dyn Protocol>
            })
            .expect("listen");
        reactor.listener_addr(id).unwrap()
    })
}

/// A minimal http_hello: every request head (up to the blank line) gets
/// the hello page.
struct Http;

impl FrameHandler<Lines> for Http {
    fn frame_received(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, _head: &[u8]) {
        cx.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: ");
        cx.write(loadgen::HTTP_BODY.len().to_string().as_bytes());
        cx.write(b"\r\nDate: Sat, 21 Nov 2026 23:53:24 GMT\r\n\r\n");
        cx.write(loadgen::HTTP_BODY);
    }
}

fn http_server() -> Server {
    serve(|reactor| {
        let id = reactor
            .listen_tcp("127.0.0.1:0", |_| {
                Box::new(Framed::new(Lines::delimited(&b"\r\n\r\n"[..]), Http)) as Box<dyn Protocol>
            })
            .expect("listen");
        reactor.listener_addr(id).unwrap()
    })
}

/// echo_hello's UDP side: `X` → `Hello, X!`.
struct UdpHello;

impl DatagramProtocol for UdpHello {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        let mut reply = [0u8; 128];
        let n = data.len().min(100);
        reply[..7].copy_from_slice(b"Hello, ");
        reply[7..7 + n].copy_from_slice(&data[..n]);
        reply[7 + n] = b'!';
        cx.send_to(&reply[..8 + n], from);
    }
}

fn udp_hello_server() -> Server {
    serve(|reactor| {
        let id = reactor.listen_udp("127.0.0.1:0", UdpHello).expect("bind udp");
        reactor.udp_addr(id).unwrap()
    })
}

// ----- runs ---------------------------------------------------------------------------

fn config(target: Target, addr: SocketAddr) -> Config {
    let mut cfg = Config::new(target);
    cfg.addr = addr;
    cfg.warmup = Duration::ZERO;
    cfg
}

/// `requests` requests over `conns` connections `depth` deep, capped at 8 s.
fn requests(target: Target, addr: SocketAddr, conns: usize, depth: usize, requests: u64) -> Report {
    let mut cfg = config(target, addr);
    cfg.conns = conns;
    cfg.depth = depth;
    cfg.requests = Some(requests);
    cfg.duration = Some(Duration::from_secs(8));
    let started = Instant::now();
    let report = loadgen::run(cfg).expect("loadgen run");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    report
}

fn assert_clean(r: &Report, n: u64) {
    assert_eq!(r.errors, 0, "errors: {:?}", r.first_error);
    assert_eq!(r.requests, n);
    let lat = r.latency.expect("latency measured");
    assert!(lat.p50 <= lat.p99 && lat.p99 <= lat.p999 && lat.p999 <= lat.max, "{lat:?}");
    assert!(r.rps() > 0.0);
    assert!(r.bytes_sent > 0 && r.bytes_received > r.bytes_sent, "{r:?}");
    assert!(r.own_cpu_secs().is_some());
}

#[test]
fn echo_hello_ping_pong() {
    let server = hello_server(b"Hello");
    let r = requests(Target::EchoHello, server.addr, 4, 1, 2000);
    assert_clean(&r, 2000);
}

#[test]
fn echo_hello_pipelined() {
    let server = hello_server(b"Hello");
    let r = requests(Target::EchoHello, server.addr, 4, 8, 2000);
    assert_clean(&r, 2000);
}

#[test]
fn echo_hello_wrong_server_is_caught() {
    let server = hello_server(b"Hallo");
    let mut cfg = config(Target::EchoHello, server.addr);
    cfg.conns = 4;
    cfg.requests = Some(2000);
    cfg.duration = Some(Duration::from_millis(1500));
    let started = Instant::now();
    let r = loadgen::run(cfg).expect("loadgen run");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(r.errors > 0);
    assert_eq!(r.requests, 0);
    let first = r.first_error.expect("first error kept");
    assert!(first.contains("Hallo, ping"), "{first}");
    assert!(first.contains("Hello, ping"), "{first}");
}

#[test]
fn http_hello_pipelined() {
    let server = http_server();
    let r = requests(Target::HttpHello, server.addr, 2, 4, 1000);
    assert_clean(&r, 1000);
}

#[test]
fn http_against_a_line_server_is_caught() {
    let server = hello_server(b"Hello");
    let mut cfg = config(Target::HttpHello, server.addr);
    cfg.duration = Some(Duration::from_millis(500));
    let r = loadgen::run(cfg).expect("loadgen run");
    assert!(r.errors > 0);
    assert!(r.first_error.unwrap().contains("Welcome!"));
}

#[test]
fn udp_echo_hello_pipelined() {
    let server = udp_hello_server();
    let mut cfg = config(Target::UdpEchoHello, server.addr);
    cfg.conns = 2;
    cfg.depth = 4;
    cfg.requests = Some(2000);
    cfg.duration = Some(Duration::from_secs(8));
    // Loopback does not lose datagrams at this rate; a generous timeout
    // keeps a stalled test machine from passing for a loss.
    cfg.timeout = Duration::from_secs(5);
    let r = loadgen::run(cfg).expect("loadgen run");
    assert_clean(&r, 2000);
}

#[test]
fn udp_echo_to_a_wrong_server_and_a_silent_one() {
    // An echo_hello UDP server is not an echo server.
    let server = udp_hello_server();
    let mut cfg = config(Target::UdpEcho, server.addr);
    cfg.duration = Some(Duration::from_millis(300));
    let r = loadgen::run(cfg).expect("loadgen run");
    assert!(r.errors > 0);
    assert!(r.first_error.unwrap().contains("Hello, ping"));

    // A socket that never answers: every request times out.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cfg = config(Target::UdpEcho, silent.local_addr().unwrap());
    cfg.depth = 3;
    cfg.timeout = Duration::from_millis(50);
    cfg.duration = Some(Duration::from_millis(400));
    let r = loadgen::run(cfg).expect("loadgen run");
    assert!(r.errors >= 3, "{r:?}");
    assert_eq!(r.requests, 0);
    assert!(r.first_error.unwrap().contains("no reply"));
}

#[test]
fn idle_connections_are_opened_and_held() {
    let server = hello_server(b"Hello");
    let mut cfg = config(Target::EchoHello, server.addr);
    cfg.idle = Some(20);
    cfg.duration = Some(Duration::from_millis(200));
    cfg.server_pid = Some(std::process::id());
    let r = loadgen::run(cfg).expect("loadgen run");
    let idle = r.idle.expect("idle report");
    assert_eq!((idle.opened, idle.failed, idle.open_at_end), (20, 0, 20), "{idle:?}");
    assert_eq!(r.errors, 0);
    assert!(idle.held >= Duration::from_millis(190), "{idle:?}");
    assert!(idle.rss_before_kib.is_some() && idle.rss_open_kib.is_some());
}

#[test]
fn no_allocation_per_request() {
    // The load generator's own thread: allocations for 500 requests and
    // for 5500 differ by far less than the 5000 requests between them.
    let server = hello_server(b"Hello");
    let count = |n: u64| {
        let before = allocations();
        let r = requests(Target::EchoHello, server.addr, 2, 4, n);
        assert_clean(&r, n);
        allocations() - before
    };
    let small = count(500);
    let large = count(5500);
    assert!(large.saturating_sub(small) < 100, "{small} allocations for 500 requests, {large} for 5500");
}
