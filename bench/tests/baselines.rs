//! The benchmark baselines (`bench/src/bin/baseline/`) serve the `echo_hello` and
//! `http_hello` wire contracts byte for byte: each of the three kinds, each
//! protocol, over real loopback sockets.

// The counting allocator of reel's own zero-allocation tests.
#[path = "../../tests/alloc_count/mod.rs"]
mod alloc_count;
#[path = "../src/bin/baseline/mio_loop.rs"]
mod mio_loop;
#[path = "../src/bin/baseline/mio_shared.rs"]
mod mio_shared;
#[path = "../src/bin/baseline/proto.rs"]
mod proto;
#[path = "../src/bin/baseline/shared.rs"]
mod shared;
#[path = "../src/bin/baseline/threads.rs"]
mod threads;
#[path = "../src/bin/baseline/tokio_ct.rs"]
mod tokio_ct;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use proto::Proto;

/// How long a test waits for any answer.
const TIMEOUT: Duration = Duration::from_secs(5);

type Serve = fn(TcpListener, Proto, Arc<AtomicBool>) -> io::Result<()>;

/// A baseline serving on a port of its own, stopped on drop.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Server {
    fn start(serve: Serve, proto: Proto) -> Server {
        Server::start_with(serve, proto, false)
    }

    /// Starts a server whose thread's allocations are counted in
    /// [`alloc_count`] if `counted`.
    fn start_with(serve: Serve, proto: Proto, counted: bool) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            alloc_count::count_this_thread(counted);
            serve(listener, proto, flag)
        });
        Server { addr, stop, thread: Some(thread) }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept (or the poll) so that the flag is seen.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let result = thread.join();
            if !thread::panicking() {
                result.expect("the server panicked").expect("the server failed");
            }
        }
    }
}

/// Reads exactly `n` bytes.
fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).unwrap();
    buf
}

/// Reads to the end of the stream; a reset after the data counts as the end.
fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("read failed after {:?}: {e}", String::from_utf8_lossy(&got)),
        }
    }
}

/// Sends `data` one byte per write, with a pause now and then so that the
/// bytes arrive in many reads.
fn send_bytewise(stream: &mut TcpStream, data: &[u8]) {
    for (i, byte) in data.iter().enumerate() {
        stream.write_all(std::slice::from_ref(byte)).unwrap();
        if i % 3 == 0 {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

// ---- echo_hello ----

fn echo_hello(serve: Serve) {
    let server = Server::start(serve, Proto::EchoHello);

    // Many lines in one write, CRLF or LF, bytes as they came.
    let mut c = server.connect();
    assert_eq!(read_n(&mut c, 9), b"Welcome!\n");
    c.write_all(b"Michael\nTracy\r\nSarah\n\n\xff\xfe caf\xc3\xa9\n").unwrap();
    let want = b"Hello, Michael!\nHello, Tracy!\nHello, Sarah!\nHello, !\nHello, \xff\xfe caf\xc3\xa9!\n";
    assert_eq!(read_n(&mut c, want.len()), want);

    // One byte at a time: the lines split over many reads.
    send_bytewise(&mut c, b"one\r\ntwo\nthree\r\n");
    let want = b"Hello, one!\nHello, two!\nHello, three!\n";
    assert_eq!(read_n(&mut c, want.len()), want);

    // A line split at every point over two writes.
    for cut in 0..=12 {
        let input = b"split line\r\n";
        c.write_all(&input[..cut]).unwrap();
        thread::sleep(Duration::from_millis(2));
        c.write_all(&input[cut..]).unwrap();
        assert_eq!(read_n(&mut c, 19), b"Hello, split line!\n", "cut at {cut}");
    }

    // exit: the earlier answers, then the close; later lines unanswered.
    c.write_all(b"last\nexit\nafter\n").unwrap();
    assert_eq!(read_to_end(&mut c), b"Hello, last!\n");

    // exit byte by byte, with CRLF.
    let mut c = server.connect();
    send_bytewise(&mut c, b"a\r\nexit\r\n");
    let _ = c.write_all(b"b\r\n"); // the server may have closed already
    assert_eq!(read_to_end(&mut c), b"Welcome!\nHello, a!\n");

    // The longest line passes, with CRLF or LF.
    let mut c = server.connect();
    assert_eq!(read_n(&mut c, 9), b"Welcome!\n");
    let long = vec![b'x'; proto::MAX_LINE];
    for end in [&b"\r\n"[..], b"\n"] {
        c.write_all(&long).unwrap();
        c.write_all(end).unwrap();
        let got = read_n(&mut c, proto::MAX_LINE + 9);
        assert!(got.starts_with(b"Hello, xxx") && got.ends_with(b"xxx!\n"));
    }

    // One byte more: refused, after the earlier answers, then closed.
    let mut input = b"ok\n".to_vec();
    input.extend_from_slice(&long);
    input.extend_from_slice(b"y\r\nnever\n");
    c.write_all(&input).unwrap();
    assert_eq!(read_to_end(&mut c), b"Hello, ok!\nerror: line too long\n");

    // A long line without an end is refused without waiting for one.
    let mut c = server.connect();
    c.write_all(&vec![b'z'; proto::MAX_LINE + 2]).unwrap();
    assert_eq!(read_to_end(&mut c), b"Welcome!\nerror: line too long\n");

    // Just under that: still waiting for the end of the line.
    let mut c = server.connect();
    c.write_all(&vec![b'z'; proto::MAX_LINE]).unwrap();
    c.write_all(b"\r").unwrap();
    thread::sleep(Duration::from_millis(20));
    c.write_all(b"\n").unwrap();
    let got = read_n(&mut c, 9 + proto::MAX_LINE + 9);
    assert!(got.starts_with(b"Welcome!\nHello, zzz") && got.ends_with(b"zzz!\n"));
}

// ---- http_hello ----

const PAGE: &str =
    "<html><head><meta charset=\"utf-8\"><title>Hello</title></head><body><h1>Hello World</h1></body></html>";

/// What a response says about the connection.
#[derive(Clone, Copy)]
enum Conn {
    /// Nothing: HTTP/1.1 keeps it.
    Kept,
    /// `Connection: close` (before `Content-Type`).
    Close,
    /// `Connection: keep-alive` (after `Content-Type`), for HTTP/1.0.
    KeepAlive10,
}

/// The expected response, `DATE` standing for the Date header's value.
fn page(head_only: bool, conn: Conn) -> String {
    let (close, keep) = match conn {
        Conn::Kept => ("", ""),
        Conn::Close => ("Connection: close\r\n", ""),
        Conn::KeepAlive10 => ("", "Connection: keep-alive\r\n"),
    };
    format!(
        "HTTP/1.1 200 OK\r\nDate: DATE\r\nContent-Length: {}\r\n{close}\
        Content-Type: text/html; charset=utf-8\r\n{keep}\r\n{}",
        PAGE.len(),
        if head_only { "" } else { PAGE }
    )
}

fn not_found(head_only: bool) -> String {
    format!(
        "HTTP/1.1 404 Not Found\r\nDate: DATE\r\nContent-Length: 10\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\r\n{}",
        if head_only { "" } else { "not found\n" }
    )
}

const NOT_ALLOWED: &str = "HTTP/1.1 405 Method Not Allowed\r\nDate: DATE\r\nContent-Length: 19\r\n\
    Content-Type: text/plain; charset=utf-8\r\nAllow: GET, HEAD\r\n\r\nmethod not allowed\n";

fn error(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nDate: DATE\r\nContent-Length: {}\r\nConnection: close\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\r\n{body}",
        body.len()
    )
}

/// Checks an IMF-fixdate of about now: from the last minute (a debug
/// build on a loaded machine may answer, or be checked, seconds late) to a
/// second ahead (clock rounding).
fn check_date(date: &str) {
    let now = chrono::Utc::now();
    let ok = (-60..=1).any(|s| {
        let t = now + chrono::Duration::seconds(s);
        t.format("%a, %d %b %Y %H:%M:%S GMT").to_string() == date
    });
    assert!(ok, "Date {date:?} is not now");
}

/// Replaces every `Date: ...` value by `DATE`, checking each.
fn strip_dates(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("\r\nDate: ") {
        let start = at + 8;
        out.push_str(&rest[..start]);
        let len = rest[start..].find("\r\n").expect("a Date line ends");
        check_date(&rest[start..start + len]);
        out.push_str("DATE");
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

/// Reads `want.len()` bytes less the dates' lengths (29 for each `DATE`)
/// and compares them, dates stripped, with `want`.
fn expect(stream: &mut TcpStream, want: &str) {
    let dates = want.matches("Date: DATE\r\n").count();
    let got = read_n(stream, want.len() + dates * (29 - 4));
    assert_eq!(strip_dates(&String::from_utf8_lossy(&got)), want);
}

/// Reads to the end of the stream and compares, dates stripped, with `want`.
fn expect_close(stream: &mut TcpStream, want: &str) {
    let got = read_to_end(stream);
    assert_eq!(strip_dates(&String::from_utf8_lossy(&got)), want);
}

const GET: &str = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

fn http_hello(serve: Serve) {
    let server = Server::start(serve, Proto::HttpHello);

    // GET, HEAD, 404, 405 on one persistent connection.
    let mut c = server.connect();
    c.write_all(GET.as_bytes()).unwrap();
    expect(&mut c, &page(false, Conn::Kept));
    c.write_all(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    expect(&mut c, &page(true, Conn::Kept));
    c.write_all(b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    expect(&mut c, &not_found(false));
    c.write_all(b"HEAD /nope HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    expect(&mut c, &not_found(true));
    c.write_all(b"DELETE /nope HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    expect(&mut c, NOT_ALLOWED);
    // Bare LF, as nc sends; a body read and discarded.
    c.write_all(b"POST / HTTP/1.1\nHost: a\nContent-Length: 5\n\nhelloGET /?x=1 HTTP/1.1\nHost: a\n\n").unwrap();
    expect(&mut c, &format!("{NOT_ALLOWED}{}", page(false, Conn::Kept)));

    // 50 pipelined requests in one write, answered in order.
    let kinds = [GET, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"];
    let wants = [page(false, Conn::Kept), page(true, Conn::Kept), not_found(false)];
    let (mut input, mut want) = (String::new(), String::new());
    for i in 0..50 {
        input.push_str(kinds[i % 3]);
        want.push_str(&wants[i % 3]);
    }
    c.write_all(input.as_bytes()).unwrap();
    expect(&mut c, &want);

    // The same byte by byte, and cut at every point over two writes.
    let three = format!("{GET}{}{GET}", kinds[2]);
    let three_want = format!("{}{}{}", page(false, Conn::Kept), wants[2], page(false, Conn::Kept));
    send_bytewise(&mut c, three.as_bytes());
    expect(&mut c, &three_want);
    for cut in (0..=three.len()).step_by(7) {
        c.write_all(&three.as_bytes()[..cut]).unwrap();
        thread::sleep(Duration::from_millis(2));
        c.write_all(&three.as_bytes()[cut..]).unwrap();
        expect(&mut c, &three_want);
    }

    // Connection: close, and HTTP/1.0.
    c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    expect_close(&mut c, &page(false, Conn::Close));
    let mut c = server.connect();
    c.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
    expect(&mut c, &page(false, Conn::KeepAlive10));
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    expect_close(&mut c, &page(false, Conn::Close));

    // Errors close, and what follows them is not answered.
    let cases = [
        ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", error("400 Bad Request", "bad request\n")),
        ("GET / HTTP/1.1\r\n\r\n", error("400 Bad Request", "bad request\n")),
        ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", error("400 Bad Request", "bad request\n")),
        ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", error("505 HTTP Version Not Supported", "http version not supported\n")),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            error("501 Not Implemented", "not implemented\n"),
        ),
    ];
    for (request, want) in cases {
        let mut c = server.connect();
        c.write_all(format!("{request}{GET}").as_bytes()).unwrap();
        expect_close(&mut c, &want);
    }
    // A good request, then a bad one, then a good one.
    let mut c = server.connect();
    c.write_all(format!("{GET}BAD\r\n\r\n{GET}").as_bytes()).unwrap();
    expect_close(&mut c, &format!("{}{}", page(false, Conn::Kept), error("400 Bad Request", "bad request\n")));
    // Limits: a target over 8 KiB, without waiting for the end of the head.
    let mut c = server.connect();
    c.write_all(format!("GET /{} HTTP/1.1\r\n", "a".repeat(9000)).as_bytes()).unwrap();
    expect_close(&mut c, &error("414 URI Too Long", "uri too long\n"));
}

// ---- the matrix: 3 kinds x 2 protocols ----

#[test]
fn mio_echo_hello() {
    echo_hello(mio_loop::serve);
}

#[test]
fn mio_http_hello() {
    http_hello(mio_loop::serve);
}

#[test]
fn tokio_echo_hello() {
    echo_hello(tokio_ct::serve);
}

#[test]
fn tokio_http_hello() {
    http_hello(tokio_ct::serve);
}

#[test]
fn threads_echo_hello() {
    echo_hello(threads::serve);
}

#[test]
fn threads_http_hello() {
    http_hello(threads::serve);
}

// ---- steady state allocates nothing (the single-threaded kinds) ----

/// Serves rounds of pipelined requests (each round whole, then cut in two
/// writes mid-request) on two connections, and counts the server thread's
/// allocations over the rounds after a warm-up.
fn steady_state_allocations(serve: Serve, proto: Proto) -> u64 {
    let _serial = alloc_count::exclusive();
    alloc_count::set_on(true);
    let (request, answer) = match proto {
        Proto::EchoHello => {
            ("Michael\nTracy\r\nSarah\n".repeat(4), "Hello, Michael!\nHello, Tracy!\nHello, Sarah!\n".repeat(4))
        }
        Proto::HttpHello => (GET.repeat(10), page(false, Conn::Kept).repeat(10)),
    };
    let dates = answer.matches("Date: DATE\r\n").count();
    let answer_len = answer.len() + dates * (29 - 4);
    let server = Server::start_with(serve, proto, true);
    let mut clients = [server.connect(), server.connect()];
    if proto == Proto::EchoHello {
        for c in &mut clients {
            read_n(c, 9);
        }
    }
    let mut round = |i: usize| {
        for c in &mut clients {
            if i % 2 == 0 {
                c.write_all(request.as_bytes()).unwrap();
            } else {
                let cut = request.len() / 2 + 3;
                c.write_all(&request.as_bytes()[..cut]).unwrap();
                thread::sleep(Duration::from_micros(200));
                c.write_all(&request.as_bytes()[cut..]).unwrap();
            }
        }
        for c in &mut clients {
            let got = read_n(c, answer_len);
            assert_eq!(strip_dates(&String::from_utf8_lossy(&got)), answer);
        }
    };
    for i in 0..200 {
        round(i);
    }
    let before = alloc_count::allocations();
    assert!(before > 0, "the counter sees the server's start-up");
    for i in 0..1000 {
        round(i);
    }
    let counted = alloc_count::allocations() - before;
    drop(clients);
    drop(server);
    counted
}

#[test]
fn mio_allocates_nothing_per_request() {
    for proto in [Proto::EchoHello, Proto::HttpHello] {
        assert_eq!(steady_state_allocations(mio_loop::serve, proto), 0, "{proto:?}");
    }
}

#[test]
fn tokio_allocates_nothing_per_request() {
    for proto in [Proto::EchoHello, Proto::HttpHello] {
        assert_eq!(steady_state_allocations(tokio_ct::serve, proto), 0, "{proto:?}");
    }
}

// ---- pure parts ----

#[test]
fn http_date_matches_chrono() {
    use chrono::{TimeZone, Utc};
    let mut secs: Vec<u64> = vec![0, 784_111_777, 951_782_400, 1_709_164_800, 4_102_444_799, 253_402_300_799];
    secs.extend((0..2000u64).map(|i| i * 86_399 * 37 + i * 7));
    for s in secs {
        let want = Utc.timestamp_opt(s as i64, 0).unwrap().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        assert_eq!(String::from_utf8_lossy(&proto::format_http_date(s)), want, "at {s}");
    }
    assert_eq!(&proto::format_http_date(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
}

#[test]
fn session_in_every_chunk_size() {
    // Every chunking of a mixed input gives the same answers.
    let mut input =
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc".to_vec();
    input.extend_from_slice(
        b"HEAD /x HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    let lines = b"a\r\nbb\n\nccc\r\nexit\nnever\n".to_vec();
    for (proto, input) in [(Proto::HttpHello, input), (Proto::EchoHello, lines)] {
        let mut date = proto::HttpDate::default();
        let answer = |chunk: usize, date: &mut proto::HttpDate| {
            let mut session = proto::Session::new(proto);
            let mut out = Vec::new();
            session.connected(&mut out);
            let mut flows = Vec::new();
            for piece in input.chunks(chunk) {
                flows.push(session.received(piece, &mut out, date));
            }
            (strip_dates(&String::from_utf8_lossy(&out)), flows.contains(&proto::Flow::Close))
        };
        let whole = answer(input.len(), &mut date);
        assert!(whole.1, "{proto:?} closes");
        for chunk in 1..input.len() {
            assert_eq!(answer(chunk, &mut date), whole, "{proto:?} in chunks of {chunk}");
        }
    }
}

#[test]
fn proto_names_and_defaults() {
    for (name, port) in [("echo_hello", 9999), ("http_hello", 12345)] {
        let proto: Proto = name.parse().unwrap();
        assert_eq!(proto.name(), name);
        assert_eq!(proto.default_listen(), SocketAddr::from(([127, 0, 0, 1], port)));
    }
    assert!("echo".parse::<Proto>().is_err());
}

/// Pieces that random inputs are made of: good and bad.
const FRAGMENTS: &[&str] = &[
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody",
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\n",
    "Connection: close\r\n",
    "\r\n",
    "\n",
    "\r",
    "exit\n",
    "Michael\n",
    "x",
    " ",
    "\0",
    "\u{e9}",
];

proptest::proptest! {
    /// Whatever the bytes and however they are cut, a session never panics
    /// and answers the same.
    #[test]
    fn sessions_ignore_chunking(
        pieces in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..24),
        long in proptest::sample::select(vec![0usize, proto::MAX_LINE, proto::MAX_LINE + 1, 20_000]),
        chunk in 1usize..64,
        http in proptest::bool::ANY,
    ) {
        let proto = if http { Proto::HttpHello } else { Proto::EchoHello };
        let mut input = pieces.concat().into_bytes();
        input.splice(input.len() / 2..input.len() / 2, std::iter::repeat_n(b'l', long));
        let mut date = proto::HttpDate::default();
        let mut answer = |chunk: usize| {
            let mut session = proto::Session::new(proto);
            let mut out = Vec::new();
            session.connected(&mut out);
            let mut closed = false;
            for piece in input.chunks(chunk) {
                closed |= session.received(piece, &mut out, &mut date) == proto::Flow::Close;
            }
            (strip_dates(&String::from_utf8_lossy(&out)), closed)
        };
        let whole = answer(input.len().max(1));
        proptest::prop_assert_eq!(answer(chunk), whole);
    }
}
