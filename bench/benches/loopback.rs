//! Loopback round trips through reel against the baselines (a hand-written
//! mio loop, tokio current_thread, thread per connection), one group each:
//!
//! - `echo_hello_round_trips`: 1, 10 and 100 connections, one request in
//!   flight on each;
//! - `http_hello_requests`: 10 keep-alive connections, 1 or 16 requests
//!   pipelined on each;
//! - `udp_round_trips`: reel's UDP `echo_hello` against a blocking
//!   `std::net` loop (the tutorials' UDP server), 1, 10 and 100 datagrams in
//!   flight.
//!
//! `cargo bench -p reel-bench --bench loopback`. Every reply is checked before measuring.

#[path = "../../examples/common/mod.rs"]
mod common;
#[path = "../../examples/common/echo_hello.rs"]
mod echo_hello;
#[path = "../../examples/common/http_hello.rs"]
mod http_hello;
#[path = "../src/bin/baseline/mio_loop.rs"]
mod mio_loop;
#[path = "../src/bin/baseline/mio_shared.rs"]
mod mio_shared;
#[path = "../src/bin/baseline/proto.rs"]
#[allow(dead_code)] // shared with the examples; a part is used here
mod proto;
#[path = "../src/bin/baseline/shared.rs"]
mod shared;
mod support;
#[path = "../src/bin/baseline/threads.rs"]
mod threads;
#[path = "../src/bin/baseline/tokio_ct.rs"]
mod tokio_ct;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use support::{Clients, Proto, HTTP_REQUEST, KINDS};

fn echo(c: &mut Criterion) {
    let mut group = c.benchmark_group("echo_hello_round_trips");
    for conns in [1usize, 10, 100] {
        group.throughput(Throughput::Elements(conns as u64));
        for kind in KINDS {
            let server = support::start(kind, Proto::EchoHello);
            let mut clients = Clients::new(server.addr, conns, b"bench\n", b"Hello, bench!\n".len(), 1, 9);
            clients.round();
            assert_eq!(clients.last_reply(), b"Hello, bench!\n", "{kind}");
            group.bench_with_input(BenchmarkId::new(kind, conns), &conns, |b, _| b.iter(|| clients.round()));
        }
    }
    group.finish();
}

fn http(c: &mut Criterion) {
    let conns = 10;
    let mut group = c.benchmark_group("http_hello_requests");
    for depth in [1usize, 16] {
        group.throughput(Throughput::Elements((conns * depth) as u64));
        for kind in KINDS {
            let server = support::start(kind, Proto::HttpHello);
            let reply_len = support::http_reply_len(server.addr);
            let mut clients = Clients::new(server.addr, conns, HTTP_REQUEST, reply_len, depth, 0);
            clients.round();
            assert!(clients.last_reply().starts_with(b"HTTP/1.1 200 OK\r\n"), "{kind}");
            assert!(clients.last_reply().ends_with(b"</html>"), "{kind}");
            group.bench_with_input(BenchmarkId::new(kind, format!("depth{depth}")), &depth, |b, _| {
                b.iter(|| clients.round())
            });
        }
    }
    group.finish();
}

/// The tutorials' UDP server: recv_from, answer, repeat, on one thread.
fn start_blocking() -> (SocketAddr, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
    let addr = socket.local_addr().expect("addr");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut reply = Vec::with_capacity(2048);
        while !flag.load(Ordering::Relaxed) {
            if let Ok((n, from)) = socket.recv_from(&mut buf) {
                reply.clear();
                reply.extend_from_slice(b"Hello, ");
                reply.extend_from_slice(&buf[..n]);
                reply.push(b'!');
                let _ = socket.send_to(&reply, from);
            }
        }
    });
    (addr, stop, thread)
}

fn round(client: &UdpSocket, to: SocketAddr, inflight: usize, buf: &mut [u8]) {
    for _ in 0..inflight {
        client.send_to(b"bench", to).expect("send");
    }
    for _ in 0..inflight {
        let n = client.recv(buf).expect("reply");
        assert_eq!(&buf[..n], b"Hello, bench!");
    }
}

fn udp(c: &mut Criterion) {
    let mut group = c.benchmark_group("udp_round_trips");
    let reel = support::start("reel", Proto::EchoHello);
    let (blocking, stop, thread) = start_blocking();
    let client = UdpSocket::bind("127.0.0.1:0").expect("client");
    client.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut buf = [0u8; 2048];
    for inflight in [1usize, 10, 100] {
        group.throughput(Throughput::Elements(inflight as u64));
        for (name, to) in [("reel", reel.addr), ("std_blocking", blocking)] {
            group.bench_with_input(BenchmarkId::new(name, inflight), &inflight, |b, &n| {
                b.iter(|| round(&client, to, n, &mut buf))
            });
        }
    }
    group.finish();
    stop.store(true, Ordering::Relaxed);
    let _ = thread.join();
}

criterion_group!(benches, echo, http, udp);
criterion_main!(benches);
