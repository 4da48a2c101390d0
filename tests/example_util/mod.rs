//! Shared helpers for the example tests (`tests/example_*.rs`): a server
//! run on its own reactor thread, `std::net` clients with I/O timeouts,
//! a writer whose bytes the test can read back, and outside programs run
//! to their end under a time bound ([`run`]).
//!
//! The time bound: every client socket times out after [`IO_TIMEOUT`], and
//! a watchdog stops each reactor after [`WATCHDOG`], so a failing test ends
//! within seconds and never hangs.

#![allow(dead_code)] // each test binary uses its own subset

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use reel::{Reactor, ReactorConfig, ReactorHandle};

/// Read and write timeout of every client socket.
pub const IO_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest a test reactor runs before it stops itself.
pub const WATCHDOG: Duration = Duration::from_secs(8);

/// Turns on `RUST_LOG` logging (harmless if a logger is installed).
pub fn init_logging() {
    let _ = env_logger::builder().is_test(true).try_init();
}

/// A reactor for tests: the defaults with a short grace period.
pub fn reactor() -> Reactor {
    init_logging();
    let config = ReactorConfig { grace_period: Duration::from_millis(500), ..Default::default() };
    match Reactor::with_config(config) {
        Ok(r) => r,
        Err(e) => panic!("cannot create a reactor: {e}"),
    }
}

/// A reactor running on its own thread.
pub struct Server {
    /// The (first) address `start` returned: the address to test.
    pub addr: SocketAddr,
    /// Every address `start` returned (see [`serve_all`]).
    pub addrs: Vec<SocketAddr>,
    handle: ReactorHandle,
    thread: Option<JoinHandle<()>>,
}

/// Runs a reactor on a new thread; `start` sets it up there (a reactor
/// stays on the thread that made it) and returns the address to test.
pub fn serve(start: impl FnOnce(&mut Reactor) -> SocketAddr + Send + 'static) -> Server {
    serve_all(move |reactor| vec![start(reactor)])
}

/// [`serve`] for a `start` that opens several endpoints and returns their
/// addresses (at least one).
pub fn serve_all(start: impl FnOnce(&mut Reactor) -> Vec<SocketAddr> + Send + 'static) -> Server {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut reactor = reactor();
        let addrs = start(&mut reactor);
        reactor.call_later(WATCHDOG, |cx| {
            log::error!("watchdog: stopping the test reactor");
            cx.stop();
        });
        let _ = tx.send((addrs, reactor.handle()));
        if let Err(e) = reactor.run() {
            panic!("reactor failed: {e}");
        }
    });
    let (addrs, handle) = match rx.recv_timeout(IO_TIMEOUT) {
        Ok(started) => started,
        Err(e) => panic!("the server did not start: {e}"),
    };
    let addr = *addrs.first().expect("serve_all: start returned no address");
    Server { addr, addrs, handle, thread: Some(thread) }
}

impl Server {
    /// Stops the reactor and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.handle.stop();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() && !std::thread::panicking() {
                panic!("the reactor thread panicked");
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A TCP connection with the I/O timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// Reads until the peer closes (a reset after the data counts as the end
/// too). Fails on a timeout.
pub fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return out,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read after {} bytes {:?}: {e}", out.len(), String::from_utf8_lossy(&out)),
        }
    }
}

/// Reads exactly `n` bytes.
pub fn read_exact(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).unwrap_or_else(|e| panic!("read {n} bytes: {e}"));
    buf
}

/// Reads one line, `\n` included.
pub fn read_line(reader: &mut BufReader<TcpStream>) -> Vec<u8> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).unwrap_or_else(|e| panic!("read a line: {e}"));
    line
}

/// Whether the loopback address of this family can be bound here.
pub fn loopback_available(v6: bool) -> bool {
    let addr: SocketAddr = if v6 { "[::1]:0" } else { "127.0.0.1:0" }.parse().expect("address");
    UdpSocket::bind(addr).is_ok()
}

/// A UDP socket on the loopback address of `peer`'s family, with the read
/// timeout.
pub fn udp_socket(peer: SocketAddr) -> UdpSocket {
    let local: SocketAddr = if peer.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" }.parse().expect("address");
    let socket = UdpSocket::bind(local).unwrap_or_else(|e| panic!("bind {local}: {e}"));
    socket.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    socket
}

/// Sends `request` to `server` and returns the one datagram that comes
/// back.
pub fn udp_ask(server: SocketAddr, request: &[u8]) -> Vec<u8> {
    let socket = udp_socket(server);
    udp_ask_on(&socket, server, request)
}

/// [`udp_ask`] from a given socket.
pub fn udp_ask_on(socket: &UdpSocket, server: SocketAddr, request: &[u8]) -> Vec<u8> {
    socket.send_to(request, server).unwrap_or_else(|e| panic!("send to {server}: {e}"));
    let mut buf = vec![0u8; 65_536];
    let (n, from) = socket.recv_from(&mut buf).unwrap_or_else(|e| panic!("no answer from {server}: {e}"));
    assert_eq!(from, server, "answer from the wrong address");
    buf.truncate(n);
    buf
}

/// The reflector-port rule, end to end, where it can be tested without
/// privileges being assumed: a datagram from `reflector` (one of 7, 13,
/// 17, 19, 37) gets no answer. Binding such a port needs root (or
/// `CAP_NET_BIND_SERVICE`) on most systems; without it this fails rather
/// than pass without checking (CI runs as root).
///
/// The absence of an answer is proven without waiting: a second datagram
/// from an ordinary port is answered, and the server handles datagrams in
/// order on one socket, so by then any answer to the first one would
/// already sit in the reflector socket's buffer.
pub fn check_reflector_port_ignored(server: SocketAddr, reflector: u16, request: &[u8]) {
    let any_port = udp_socket(server);
    assert_ne!(any_port.local_addr().expect("local address").port(), 0, "port 0 is never a source port");
    let ip = if server.is_ipv6() { "::1" } else { "127.0.0.1" };
    let privileged = match UdpSocket::bind((ip, reflector)) {
        Ok(socket) => socket,
        Err(e) => panic!(
            "cannot bind {ip}:{reflector} ({e}), so the reflector rule cannot be checked: run the tests as root \
             or with CAP_NET_BIND_SERVICE (or lower net.ipv4.ip_unprivileged_port_start)"
        ),
    };
    check_ignored_from(&privileged, &any_port, server, request);
}

/// The datagram `request` sent to `server` from `refused` gets no answer,
/// while the same from `any_port` does (proven without waiting, as
/// [`check_reflector_port_ignored`] says).
fn check_ignored_from(refused: &UdpSocket, any_port: &UdpSocket, server: SocketAddr, request: &[u8]) {
    let port = refused.local_addr().expect("local address").port();
    refused.send_to(request, server).expect("send from the refused port");
    let answer = udp_ask_on(any_port, server, request);
    log::trace!("the ordinary port got {} bytes", answer.len());
    refused.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 2048];
    match refused.recv_from(&mut buf) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Ok((n, from)) => panic!("{from} answered a datagram from port {port} with {n} bytes"),
        Err(e) => panic!("recv on the refused port: {e}"),
    }
}

/// The default UDP ports of the example services (docs/protocols.md):
/// daytime 1313, echo 7007, factorial 9998, echo_hello 9999, timestamp
/// 21567.
pub const EXAMPLE_UDP_PORTS: [u16; 5] = [1313, 7007, 9998, 9999, 21567];

/// The examples' own rule beside the reflector one: a datagram from the
/// default port of any example UDP service ([`EXAMPLE_UDP_PORTS`]) gets
/// no answer, so that two examples cannot bounce datagrams at each other
/// for ever. These ports need no privilege; one that something else here
/// holds is skipped with a message (the others are still checked).
pub fn check_example_ports_ignored(server: SocketAddr, request: &[u8]) {
    let any_port = udp_socket(server);
    let ip = if server.is_ipv6() { "::1" } else { "127.0.0.1" };
    for port in EXAMPLE_UDP_PORTS {
        if port == server.port() {
            continue;
        }
        match UdpSocket::bind((ip, port)) {
            Ok(socket) => check_ignored_from(&socket, &any_port, server, request),
            Err(e) => eprintln!("skipped port {port}: cannot bind {ip}:{port} ({e}); something else holds it"),
        }
    }
}

/// Runs a client's reactor on this thread until it stops (under the
/// [`WATCHDOG`]).
pub fn run_client(reactor: &mut Reactor) {
    let watchdog = reactor.call_later(WATCHDOG, |cx| cx.stop());
    if let Err(e) = reactor.run() {
        panic!("client reactor failed: {e}");
    }
    assert!(reactor.cancel_timer(watchdog), "watchdog: the client did not stop by itself");
}

/// A writer whose bytes the test reads back (clients print to it).
#[derive(Debug, Clone, Default)]
pub struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    /// Everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
