//! The servers and clients of the loopback benches: the servers under test (reel's
//! examples and the three baselines), each on its own thread and port, and
//! a client that keeps one request in flight on each of N connections.
#![allow(dead_code)] // each bench uses a part

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{common, echo_hello, http_hello, mio_loop, threads, tokio_ct};

pub use crate::proto::Proto;

/// The servers compared.
pub const KINDS: [&str; 4] = ["reel", "mio", "tokio", "threads"];

/// A server on its own thread, stopped on drop.
pub struct Server {
    pub addr: SocketAddr,
    stop: Box<dyn FnMut()>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        (self.stop)();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts server `kind` ("reel", "mio", "tokio" or "threads") for `proto`.
pub fn start(kind: &str, proto: Proto) -> Server {
    if kind == "reel" {
        return start_reel(proto);
    }
    let serve: fn(TcpListener, Proto, Arc<AtomicBool>) -> io::Result<()> = match kind {
        "mio" => mio_loop::serve,
        "tokio" => tokio_ct::serve,
        "threads" => threads::serve,
        other => panic!("unknown server kind {other}"),
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        let _ = serve(listener, proto, flag);
    });
    Server {
        addr,
        stop: Box::new(move || {
            stop.store(true, Ordering::Relaxed);
            let _ = TcpStream::connect(addr); // wake it
        }),
        thread: Some(thread),
    }
}

fn start_reel(proto: Proto) -> Server {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut reactor = reel::Reactor::new().expect("reactor");
        let args = common::ServerArgs::new("127.0.0.1:0", 0);
        let addr = match proto {
            Proto::EchoHello => echo_hello::start(&mut reactor, &args),
            Proto::HttpHello => {
                let id = http_hello::start(&mut reactor, &args);
                reactor.listener_addr(id).expect("bound")
            }
        };
        tx.send((addr, reactor.handle())).expect("send");
        reactor.run().expect("run");
    });
    let (addr, handle) = rx.recv().expect("reel server started");
    Server { addr, stop: Box::new(move || handle.stop()), thread: Some(thread) }
}

/// N connections to a server, each keeping `depth` requests in flight per
/// round.
pub struct Clients {
    conns: Vec<TcpStream>,
    request: Vec<u8>,
    reply_len: usize,
    buf: Vec<u8>,
}

impl Clients {
    /// Opens `n` connections; each round sends `depth` copies of `request`
    /// on each and reads `depth` replies of `reply_len` bytes.
    pub fn new(addr: SocketAddr, n: usize, request: &[u8], reply_len: usize, depth: usize, greeting: usize) -> Clients {
        let conns: Vec<TcpStream> = (0..n)
            .map(|_| {
                let mut s = TcpStream::connect(addr).expect("connect");
                s.set_nodelay(true).expect("nodelay");
                s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
                let mut hello = vec![0u8; greeting];
                s.read_exact(&mut hello).expect("greeting");
                s
            })
            .collect();
        Clients { conns, request: request.repeat(depth), reply_len: reply_len * depth, buf: vec![0; reply_len * depth] }
    }

    /// One round: a request batch on every connection, then every reply.
    pub fn round(&mut self) {
        for s in &mut self.conns {
            s.write_all(&self.request).expect("write");
        }
        for s in &mut self.conns {
            s.read_exact(&mut self.buf[..self.reply_len]).expect("read");
        }
    }

    /// The last reply read (for checks).
    pub fn last_reply(&self) -> &[u8] {
        &self.buf[..self.reply_len]
    }
}

/// The length of the hello page's response (its Date header has a fixed
/// width), learned from one request.
pub fn http_reply_len(addr: SocketAddr) -> usize {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    s.write_all(HTTP_REQUEST).expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"</html>") {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "closed");
        got.extend_from_slice(&buf[..n]);
    }
    got.len()
}

/// The request the HTTP benches send.
pub const HTTP_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Whether criterion runs for real (`cargo bench`) rather than once as a
/// test (`cargo test -p reel-bench --benches`).
pub fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}
