//! Shared helpers for the integration tests: a reactor run on the test
//! thread under a watchdog, client threads on `std::net` with I/O timeouts,
//! and small recording helpers.
//!
//! The time bound: the watchdog stops the reactor and fails the test after
//! [`WATCHDOG`]; client sockets time out after [`IO_TIMEOUT`]; the grace
//! period of a stop is [`GRACE`]. A failing test therefore ends within a few
//! seconds, never hangs.

#![allow(dead_code)] // each test binary uses its own subset

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reel::{Context, Protocol, Reactor, ReactorConfig, ReactorHandle};

/// The longest a reactor may run in a test before it is stopped and the
/// test fails.
pub const WATCHDOG: Duration = Duration::from_secs(4);
/// Read and write timeout of every client socket.
pub const IO_TIMEOUT: Duration = Duration::from_secs(4);
/// The grace period of a graceful stop in tests (the default is 5 s).
pub const GRACE: Duration = Duration::from_secs(1);

/// Turns on `RUST_LOG` logging (once per test binary; harmless if another
/// logger is installed already).
pub fn init_logging() {
    let _ = env_logger::builder().is_test(true).try_init();
}

/// The configuration tests use: the defaults with a short grace period.
pub fn config() -> ReactorConfig {
    ReactorConfig { grace_period: GRACE, ..Default::default() }
}

/// A reactor with [`config`].
pub fn reactor() -> Reactor {
    init_logging();
    Reactor::with_config(config()).expect("create reactor")
}

/// A reactor with a given configuration.
pub fn reactor_with(cfg: ReactorConfig) -> Reactor {
    init_logging();
    Reactor::with_config(cfg).expect("create reactor")
}

/// Runs the reactor until it stops, under the [`WATCHDOG`]. Returns how long
/// it ran. Fails the test if the watchdog had to stop it.
pub fn run(reactor: &mut Reactor) -> Duration {
    run_limited(reactor, WATCHDOG)
}

/// [`run`] with a given time limit.
pub fn run_limited(reactor: &mut Reactor, limit: Duration) -> Duration {
    let fired = Rc::new(Cell::new(false));
    let flag = Rc::clone(&fired);
    let watchdog = reactor.call_later(limit, move |cx| {
        flag.set(true);
        cx.stop();
    });
    let start = Instant::now();
    reactor.run().expect("reactor run failed");
    let elapsed = start.elapsed();
    reactor.cancel_timer(watchdog);
    assert!(!fired.get(), "watchdog: the reactor was still running after {limit:?}");
    elapsed
}

/// A client thread: see [`client`].
#[derive(Debug)]
pub struct Client<T> {
    thread: JoinHandle<T>,
}

impl<T> Client<T> {
    /// Waits for the client; a panic in it fails the test with its message.
    pub fn join(self) -> T {
        match self.thread.join() {
            Ok(v) => v,
            Err(payload) => resume_unwind(payload),
        }
    }
}

/// Runs `f` on a new thread. When `f` returns or panics, the reactor is
/// asked to stop, so a failing client ends the test at once instead of
/// leaving the reactor to the watchdog.
pub fn client<T: Send + 'static>(reactor: &Reactor, f: impl FnOnce() -> T + Send + 'static) -> Client<T> {
    let handle = reactor.handle();
    let thread = std::thread::Builder::new()
        .name("test-client".into())
        .spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(f));
            handle.stop();
            match result {
                Ok(v) => v,
                Err(payload) => resume_unwind(payload),
            }
        })
        .expect("spawn client thread");
    Client { thread }
}

/// Connects a blocking client with read and write timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("set_read_timeout");
    s.set_write_timeout(Some(IO_TIMEOUT)).expect("set_write_timeout");
    s
}

/// Reads until EOF. Fails on a timeout or any error.
pub fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap_or_else(|e| panic!("read_to_end after {} bytes: {e}", out.len()));
    out
}

/// Reads exactly `n` bytes.
pub fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut out = vec![0; n];
    s.read_exact(&mut out).unwrap_or_else(|e| panic!("read_exact({n}): {e}"));
    out
}

/// Reads one `\n`-terminated line (without the newline), byte by byte.
pub fn read_line(s: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match s.read(&mut byte) {
            Ok(0) => panic!("EOF before end of line; got {:?}", String::from_utf8_lossy(&line)),
            Ok(_) if byte[0] == b'\n' => return String::from_utf8(line).expect("utf-8 line"),
            Ok(_) => line.push(byte[0]),
            Err(e) => panic!("read_line: {e}; got {:?}", String::from_utf8_lossy(&line)),
        }
    }
}

/// How a stream ended, seen from a reading client.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// A clean EOF after the given bytes.
    Eof(Vec<u8>),
    /// A reset (or another error that is not a timeout) after the given bytes.
    Reset(Vec<u8>),
}

impl End {
    /// The bytes read before the end.
    pub fn data(&self) -> &[u8] {
        match self {
            End::Eof(d) | End::Reset(d) => d,
        }
    }
}

/// Reads until EOF or a reset; fails on a timeout.
pub fn read_until_end(s: &mut TcpStream) -> End {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return End::Eof(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                panic!("timed out waiting for the end of the stream after {} bytes", out.len())
            }
            Err(_) => return End::Reset(out),
        }
    }
}

/// Writes all of `data`, failing the test on error.
pub fn write_all(s: &mut TcpStream, data: &[u8]) {
    s.write_all(data).unwrap_or_else(|e| panic!("write_all({} bytes): {e}", data.len()));
}

/// `n` bytes of a stream whose every 8-byte word is its own index (little
/// endian), starting at byte `offset` (a multiple of 8): any loss,
/// duplication or reordering shows.
pub fn pattern(offset: usize, n: usize) -> Vec<u8> {
    assert_eq!(offset % 8, 0);
    assert_eq!(n % 8, 0);
    let mut out = Vec::with_capacity(n);
    for word in offset / 8..(offset + n) / 8 {
        out.extend_from_slice(&(word as u64).to_le_bytes());
    }
    out
}

/// Checks that `data` is the [`pattern`] from offset 0, and says where it
/// first differs if not.
pub fn check_pattern(data: &[u8], expected_len: usize) {
    assert_eq!(data.len(), expected_len, "stream length");
    let expected = pattern(0, expected_len);
    if let Some(at) = data.iter().zip(&expected).position(|(a, b)| a != b) {
        panic!("stream differs from the pattern at byte {at} (word {})", at / 8);
    }
}

/// A shared, single-threaded event log for protocols on the reactor thread.
pub type Log<T> = Rc<RefCell<Vec<T>>>;

/// A new, empty [`Log`].
pub fn log<T>() -> Log<T> {
    Rc::new(RefCell::new(Vec::new()))
}

/// Echoes every byte back.
#[derive(Debug, Default)]
pub struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        cx.write(data);
    }
}

/// A factory closure for [`Echo`].
pub fn echo_factory() -> impl FnMut(SocketAddr) -> Box<dyn Protocol> {
    |_| Box::new(Echo) as Box<dyn Protocol>
}

/// Does `rounds` request/response round trips of `tag`-numbered messages
/// on an echo connection.
pub fn echo_round_trips(s: &mut TcpStream, tag: &str, rounds: usize) {
    for i in 0..rounds {
        let msg = format!("{tag} {i}\n");
        write_all(s, msg.as_bytes());
        let got = read_n(s, msg.len());
        assert_eq!(got, msg.as_bytes(), "echo round trip {i}");
    }
}

/// Whether IPv6 loopback is usable here (some containers lack it).
pub fn ipv6_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// The handle of a reactor, for threads.
pub fn handle(reactor: &Reactor) -> ReactorHandle {
    reactor.handle()
}

/// Connects a blocking client whose receive buffer is `rcvbuf` bytes (set
/// before connecting, so that the window stays small): a peer that stops
/// reading fills up quickly.
pub fn connect_small_rcvbuf(addr: SocketAddr, rcvbuf: usize) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(rcvbuf).expect("SO_RCVBUF");
    socket.connect_timeout(&addr.into(), IO_TIMEOUT).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    let s: TcpStream = socket.into();
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("set_read_timeout");
    s.set_write_timeout(Some(IO_TIMEOUT)).expect("set_write_timeout");
    s
}

/// The slot index of a connection id, read from its `Debug` form
/// (`conn#INDEX.GENERATION`): to show that a test really reused slots.
pub fn slot_index(id: reel::ConnId) -> u32 {
    let text = format!("{id:?}");
    let index = text.trim_start_matches("conn#").split('.').next().expect("conn#INDEX.GEN");
    index.parse().unwrap_or_else(|_| panic!("unexpected ConnId debug form {text:?}"))
}
