//! Steady-state request handling allocates nothing: a counting global
//! allocator counts allocations made on the reactor thread while 10,000
//! requests are served after a warm-up (a performance rule of the design: nothing allocates per request).
//!
//! One test per binary run at a time: the counter is global.

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "../examples/common/echo_hello.rs"]
mod echo_hello;
#[path = "../examples/common/http_hello.rs"]
mod http_hello;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Counts allocations made by the thread marked as the reactor's, while
/// counting is on.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static IS_REACTOR: Cell<bool> = const { Cell::new(false) };
}

fn note_allocation() {
    if COUNTING.load(Ordering::Relaxed) && IS_REACTOR.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the system allocator with the caller's
// arguments unchanged; the counting touches only an atomic and a const
// thread-local (no allocation, no re-entrancy).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: as above; `ptr` came from this allocator, i.e. from System.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Tests share the global counter: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const WARMUP: usize = 2_000;
const REQUESTS: usize = 10_000;

/// Runs a server on a reactor thread; `client` gets its address and calls
/// `measure` around the steady-state part. Returns the allocations counted.
fn count_allocations(
    start: impl FnOnce(&mut reel::Reactor) -> SocketAddr + Send + 'static,
    client: impl FnOnce(SocketAddr, &dyn Fn(bool)),
) -> u64 {
    let _guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    ALLOCATIONS.store(0, Ordering::SeqCst);
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        IS_REACTOR.with(|r| r.set(true));
        let mut reactor = reel::Reactor::new().expect("reactor");
        let addr = start(&mut reactor);
        tx.send((addr, reactor.handle())).expect("send addr");
        reactor.run().expect("run");
    });
    let (addr, handle) = rx.recv().expect("server address");
    client(addr, &|on| COUNTING.store(on, Ordering::SeqCst));
    COUNTING.store(false, Ordering::SeqCst);
    handle.stop();
    server.join().expect("server thread");
    ALLOCATIONS.load(Ordering::SeqCst)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

fn echo_hello_server(reactor: &mut reel::Reactor) -> SocketAddr {
    let mut args = echo_hello::default_args();
    args.listen = "127.0.0.1:0".parse().expect("addr");
    echo_hello::start(reactor, &args)
}

/// Sends `depth` lines per write and reads all the replies.
fn echo_hello_client(addr: SocketAddr, measure: &dyn Fn(bool), depth: usize) {
    let mut s = connect(addr);
    let mut welcome = [0u8; 9];
    s.read_exact(&mut welcome).expect("welcome");
    let request = b"reel\n".repeat(depth);
    let reply = b"Hello, reel!\n".repeat(depth);
    let mut got = vec![0u8; reply.len()];
    let mut round = |s: &mut TcpStream| {
        s.write_all(&request).expect("write");
        s.read_exact(&mut got).expect("read");
        assert_eq!(got, reply);
    };
    for _ in 0..WARMUP / depth {
        round(&mut s);
    }
    measure(true);
    for _ in 0..REQUESTS / depth {
        round(&mut s);
    }
    measure(false);
}

#[test]
fn echo_hello_ping_pong_allocates_nothing_per_request() {
    let n = count_allocations(echo_hello_server, |addr, measure| echo_hello_client(addr, measure, 1));
    assert_eq!(n, 0, "allocations on the reactor thread during {REQUESTS} requests");
}

#[test]
fn echo_hello_pipelined_allocates_nothing_per_request() {
    let n = count_allocations(echo_hello_server, |addr, measure| echo_hello_client(addr, measure, 16));
    assert_eq!(n, 0, "allocations on the reactor thread during {REQUESTS} pipelined requests");
}

fn http_hello_server(reactor: &mut reel::Reactor) -> SocketAddr {
    let args = common::ServerArgs::new("127.0.0.1:0", 0);
    let id = http_hello::start(reactor, &args);
    reactor.listener_addr(id).expect("bound")
}

/// Sends `depth` GETs per write and reads the responses (each ends with the
/// page's closing tag).
fn http_hello_client(addr: SocketAddr, measure: &dyn Fn(bool), depth: usize) {
    let mut s = connect(addr);
    let request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".repeat(depth);
    let end = b"</html>";
    let mut buf = vec![0u8; 64 * 1024];
    let mut round = |s: &mut TcpStream| {
        s.write_all(&request).expect("write");
        let mut seen = 0;
        let mut have = 0;
        while seen < depth {
            let n = s.read(&mut buf[have..]).expect("read");
            assert!(n > 0, "server closed");
            have += n;
            seen = buf[..have].windows(end.len()).filter(|w| w == end).count();
        }
        assert!(buf[..have].starts_with(b"HTTP/1.1 200 OK\r\n"));
    };
    for _ in 0..WARMUP / depth {
        round(&mut s);
    }
    measure(true);
    for _ in 0..REQUESTS / depth {
        round(&mut s);
    }
    measure(false);
}

#[test]
fn http_hello_keep_alive_allocates_nothing_per_request() {
    let n = count_allocations(http_hello_server, |addr, measure| http_hello_client(addr, measure, 1));
    assert_eq!(n, 0, "allocations on the reactor thread during {REQUESTS} requests");
}

#[test]
fn http_hello_pipelined_allocates_nothing_per_request() {
    let n = count_allocations(http_hello_server, |addr, measure| http_hello_client(addr, measure, 16));
    assert_eq!(n, 0, "allocations on the reactor thread during {REQUESTS} pipelined requests");
}

/// The control: accepting a connection does allocate (its protocol is
/// boxed), and the counter sees it — so the zeros above are measured.
#[test]
fn the_counter_sees_the_reactors_allocations() {
    let n = count_allocations(echo_hello_server, |addr, measure| {
        measure(true);
        let mut s = connect(addr);
        let mut welcome = [0u8; 9];
        s.read_exact(&mut welcome).expect("welcome");
        measure(false);
    });
    assert!(n > 0, "accepting a connection allocates its protocol");
}
