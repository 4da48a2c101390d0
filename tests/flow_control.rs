//! Flow control over real loopback sockets: no honest client loses data.
//! A client that reads its replies, however large and however pipelined,
//! gets all of them; a client that sends without reading is pushed back
//! through TCP (its sends block) while the server's memory stays bounded,
//! and every reply arrives in order once it reads.

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "../examples/common/echo_hello.rs"]
mod echo_hello;
mod example_util;

use std::io::{ErrorKind, Read, Write};

use example_util as util;
use reel::{Context, Protocol, Reactor};

/// The process's resident set, in bytes (`VmRSS` of `/proc/self/status`).
/// The tests of this file run one at a time: one measures the process's
/// resident memory while another would allocate tens of MiB beside it (a
/// fresh-clone CI run saw 22 MiB of growth that was the other test's).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    let kib: usize = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmRSS value");
    kib * 1024
}

const MIB: usize = 1024 * 1024;

/// `n` bytes of a stream whose every 8-byte word is its own index, from
/// byte `offset` (a multiple of 8): any loss, duplication or reordering
/// shows.
///
/// Built with one copy per word into a buffer of the right size: the
/// iterator chain it replaced took about a second per 16 MiB in a debug
/// build on a loaded machine, inside one callback, which made a reader's
/// 4 s timeout flaky.
fn pattern(offset: usize, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    for word in offset / 8..(offset + n) / 8 {
        out.extend_from_slice(&(word as u64).to_le_bytes());
    }
    out
}

fn check_pattern(data: &[u8], expected_len: usize) {
    assert_eq!(data.len(), expected_len, "stream length");
    let expected = pattern(0, expected_len);
    if let Some(at) = data.iter().zip(&expected).position(|(a, b)| a != b) {
        panic!("stream differs from the pattern at byte {at} (word {})", at / 8);
    }
}

/// Answers each line with 1 MiB of the test pattern (the reply to the
/// `n`th line starts at offset `n` MiB), all of it written at once.
struct BigReplies {
    lines: usize,
}

impl Protocol for BigReplies {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        for _ in data.iter().filter(|&&b| b == b'\n') {
            cx.write(&pattern(self.lines * MIB, MIB));
            self.lines += 1;
        }
    }
}

#[test]
fn sixteen_pipelined_one_mib_replies_all_arrive_at_a_normal_reader() {
    let _serial = one_at_a_time();
    let server = util::serve(|reactor: &mut Reactor| {
        let id = reactor.listen_tcp("127.0.0.1:0", |_| BigReplies { lines: 0 }).expect("listen");
        reactor.listener_addr(id).expect("address")
    });
    let mut stream = util::connect(server.addr);
    stream.write_all(&[b'\n'; 16]).expect("16 requests in one write");
    // A normal reader: 64 KiB reads, as fast as they come.
    let mut got = Vec::with_capacity(16 * MIB);
    let mut buf = vec![0u8; 64 * 1024];
    while got.len() < 16 * MIB {
        match stream.read(&mut buf) {
            Ok(0) => panic!("the server closed after {} of {} bytes", got.len(), 16 * MIB),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read failed after {} bytes: {e}", got.len()),
        }
    }
    assert_eq!(got.len(), 16 * MIB);
    check_pattern(&got, 16 * MIB);
    server.stop();
}

/// The `i`th line the client sends: 1,000 bytes with its number.
fn request(i: usize) -> Vec<u8> {
    let mut line = format!("{i:08}-").into_bytes();
    line.resize(1000, b'a' + (i % 26) as u8);
    line.push(b'\n');
    line
}

#[test]
fn a_client_that_writes_64_mib_before_reading_is_pushed_back_and_loses_nothing() {
    let _serial = one_at_a_time();
    const TOTAL: usize = 64 * MIB;
    let lines = TOTAL / 1001;
    let server = util::serve(|reactor| {
        let mut args = echo_hello::default_args();
        args.listen = "127.0.0.1:0".parse().expect("address");
        echo_hello::start(reactor, &args)
    });
    let mut stream = util::connect(server.addr);
    let mut welcome = [0u8; 9];
    stream.read_exact(&mut welcome).expect("welcome");
    assert_eq!(&welcome, b"Welcome!\n");
    let before = rss();

    // Write without reading until the sends block.
    stream.set_nonblocking(true).expect("nonblocking");
    let mut next = 0;
    let mut pending: Vec<u8> = Vec::new();
    let mut sent = 0;
    let blocked = loop {
        if pending.is_empty() {
            if next == lines {
                break false;
            }
            pending = request(next);
            next += 1;
        }
        match stream.write(&pending) {
            Ok(n) => {
                sent += n;
                pending.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break true,
            Err(e) => panic!("write failed after {sent} bytes: {e}"),
        }
    };
    assert!(blocked, "all {TOTAL} bytes went out without the client reading: no push-back");
    let grown = rss().saturating_sub(before);
    assert!(grown < 16 * MIB, "the server's memory grew by {grown} bytes while pushing back");
    eprintln!("pushed back after {sent} bytes; RSS grew by {} KiB", grown / 1024);

    // Now read: a writer thread sends the rest while this one checks every
    // reply, in order.
    stream.set_nonblocking(false).expect("blocking");
    let mut writer = stream.try_clone().expect("clone");
    let rest = std::thread::spawn(move || {
        writer.write_all(&pending).expect("write the rest of a line");
        for i in next..lines {
            writer.write_all(&request(i)).expect("write the rest");
        }
    });
    let mut reader = std::io::BufReader::with_capacity(256 * 1024, stream);
    let mut line = Vec::new();
    for i in 0..lines {
        line.clear();
        std::io::BufRead::read_until(&mut reader, b'\n', &mut line).expect("a reply");
        let mut expected = b"Hello, ".to_vec();
        let req = request(i);
        expected.extend_from_slice(&req[..req.len() - 1]);
        expected.extend_from_slice(b"!\n");
        assert!(
            line == expected,
            "reply {i} of {lines} is wrong: {:?}",
            String::from_utf8_lossy(&line[..line.len().min(40)])
        );
    }
    rest.join().expect("writer");
    server.stop();
}

/// Uploads `TOTAL` bytes to an echo server in Twisted's producer style
/// (writes until `pause_writing`, goes on in `resume_writing`) while
/// counting the echo it reads.
struct Uploader {
    sent: usize,
    paused: bool,
    echoed: std::rc::Rc<std::cell::Cell<usize>>,
}

const UPLOAD: usize = 16 * MIB;

impl Uploader {
    fn produce(&mut self, cx: &mut Context<'_>) {
        let chunk = [b'u'; 16384];
        for _ in 0..8 {
            if self.sent >= UPLOAD {
                break;
            }
            cx.write(&chunk);
            self.sent += chunk.len();
        }
    }
}

impl Protocol for Uploader {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.produce(cx);
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.echoed.set(self.echoed.get() + data.len());
        if !self.paused {
            self.produce(cx);
        }
        if self.echoed.get() >= UPLOAD {
            cx.close();
            cx.stop();
        }
    }
    fn pause_writing(&mut self, _: &mut Context<'_>) {
        self.paused = true;
    }
    fn resume_writing(&mut self, cx: &mut Context<'_>) {
        self.paused = false;
        self.produce(cx);
    }
}

/// Found by review: two reel peers with default options, one producing on
/// its own and one echoing, once stalled for good (the producer's own
/// output paused its reading, and the echo's paused the echo's).
#[test]
fn a_producer_and_an_echo_server_never_wait_for_each_other() {
    let _serial = one_at_a_time();
    let mut reactor = Reactor::new().expect("reactor");
    let l = reactor.listen_tcp("127.0.0.1:0", |_| reel::protocols::echo::Echo).expect("listen");
    let addr = reactor.listener_addr(l).expect("address");
    let echoed = std::rc::Rc::new(std::cell::Cell::new(0));
    reactor.connect_tcp(addr, Uploader { sent: 0, paused: false, echoed: std::rc::Rc::clone(&echoed) });
    let stalled = std::rc::Rc::new(std::cell::Cell::new(false));
    let flag = std::rc::Rc::clone(&stalled);
    reactor.call_later(std::time::Duration::from_secs(20), move |cx| {
        flag.set(true);
        cx.stop();
    });
    reactor.run().expect("run");
    assert!(!stalled.get(), "stalled after {} of {UPLOAD} bytes echoed", echoed.get());
    assert_eq!(echoed.get(), UPLOAD);
}
