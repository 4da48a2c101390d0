//! Steady-state request handling allocates nothing: a counting global
//! allocator counts allocations made on the reactor thread while 10,000
//! requests are served after a warm-up (a performance rule of the design: nothing allocates per request).
//!
//! One test per binary run at a time: the counter is global.

mod alloc_count;
#[path = "../examples/common/mod.rs"]
mod common;
#[path = "../examples/common/echo_hello.rs"]
mod echo_hello;
#[path = "../examples/common/http_hello.rs"]
mod http_hello;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const WARMUP: usize = 2_000;
const REQUESTS: usize = 10_000;

/// Runs a server on a reactor thread; `client` gets its address and calls
/// `measure` around the steady-state part. Returns the allocations counted.
fn count_allocations(
    start: impl FnOnce(&mut reel::Reactor) -> SocketAddr + Send + 'static,
    client: impl FnOnce(SocketAddr, &dyn Fn(bool)),
) -> u64 {
    let _guard = alloc_count::exclusive();
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        alloc_count::count_this_thread(true);
        let mut reactor = reel::Reactor::new().expect("reactor");
        let addr = start(&mut reactor);
        tx.send((addr, reactor.handle())).expect("send addr");
        reactor.run().expect("run");
    });
    let (addr, handle) = rx.recv().expect("server address");
    client(addr, &alloc_count::set_on);
    alloc_count::set_on(false);
    handle.stop();
    server.join().expect("server thread");
    alloc_count::allocations()
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

/// UDP echo_hello from one socket, `depth` datagrams in flight per round:
/// the replies of each receive batch go through the endpoint's outbox
/// (made on its first batch, then reused) and one `sendmmsg`.
fn udp_echo_hello_client(addr: SocketAddr, measure: &dyn Fn(bool), depth: usize) {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut buf = [0u8; 64];
    let round = |s: &std::net::UdpSocket, buf: &mut [u8]| {
        for _ in 0..depth {
            s.send_to(b"reel", addr).expect("send_to");
        }
        for _ in 0..depth {
            let (n, from) = s.recv_from(buf).expect("a reply");
            assert_eq!((&buf[..n], from), (&b"Hello, reel!"[..], addr));
        }
    };
    for _ in 0..WARMUP / depth {
        round(&s, &mut buf);
    }
    measure(true);
    for _ in 0..REQUESTS / depth {
        round(&s, &mut buf);
    }
    measure(false);
}

#[test]
fn udp_echo_hello_in_batches_allocates_nothing_per_datagram() {
    let n = count_allocations(echo_hello_server, |addr, measure| udp_echo_hello_client(addr, measure, 16));
    assert_eq!(n, 0, "allocations on the reactor thread during {REQUESTS} datagrams, 16 in flight");
}
