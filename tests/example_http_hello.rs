//! The `http_hello` example against the contract of docs/protocols.md: real
//! loopback connections from `std::net` clients to the server on a thread
//! of its own, and the protocol on an in-memory connection with a manual
//! clock for the deadlines at their real lengths.

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "../examples/common/http_hello.rs"]
mod http_hello;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_hello::{Background, DateCache, Deadlines, HelloConn};
use reel::testing::{assert_chunking_invariant, Event, Harness};
use reel::Reason;

/// The page, as docs/protocols.md spells it.
const PAGE: &str = "<html><head><meta charset=\"utf-8\"><title>Hello</title></head>\
    <body><h1>Hello World</h1></body></html>";

/// Read and write timeout of every client socket.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn init_logging() {
    let _ = env_logger::builder().is_test(true).try_init();
}

/// A server on 127.0.0.1 with the contract's deadlines.
fn server() -> Background {
    server_with(None, Deadlines::default())
}

fn server_with(max_conns: Option<usize>, deadlines: Deadlines) -> Background {
    init_logging();
    let listen = SocketAddr::from(([127, 0, 0, 1], 0));
    Background::spawn(listen, max_conns, deadlines).expect("start the server")
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// One response as received.
#[derive(Debug)]
struct Response {
    /// The head, byte for byte, final empty line included.
    head: String,
    status: u16,
    body: Vec<u8>,
}

impl Response {
    /// The value of the one header field `name`, if present.
    fn header(&self, name: &str) -> Option<&str> {
        let mut found = self.head.split("\r\n").skip(1).filter_map(|line| {
            let (n, v) = line.split_once(": ")?;
            n.eq_ignore_ascii_case(name).then_some(v)
        });
        let value = found.next();
        assert!(found.next().is_none(), "{name} repeated in {:?}", self.head);
        value
    }

    /// The head with the `Date` value replaced by `DATE`, after checking it.
    fn head_without_date(&self) -> String {
        let date = self.header("Date").expect("a Date header");
        check_date(date);
        self.head.replace(date, "DATE")
    }
}

/// A `Date` value is an IMF-fixdate of about now.
fn check_date(date: &str) {
    assert_eq!(date.len(), 29, "{date:?}");
    assert!(date.ends_with(" GMT"), "{date:?}");
    let parsed = chrono::DateTime::parse_from_rfc2822(date).unwrap_or_else(|e| panic!("Date {date:?}: {e}"));
    let skew = (chrono::Utc::now().timestamp() - parsed.timestamp()).abs();
    assert!(skew <= 5, "Date {date:?} is {skew} s off");
    // The canonical spelling: what formatting the parsed time gives back.
    assert_eq!(parsed.format("%a, %d %b %Y %H:%M:%S GMT").to_string(), date);
}

/// Reads one response; `head_request` says that it has no body whatever
/// its `Content-Length`.
fn read_response(reader: &mut impl BufRead, head_request: bool) -> io::Result<Response> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        if reader.read_until(b'\n', &mut head)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("eof in head {:?}", show(&head))));
        }
        if &head[before..] == b"\r\n" {
            break;
        }
    }
    let head = String::from_utf8(head).expect("UTF-8 head");
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut response = Response { head, status, body: Vec::new() };
    let len: usize = response.header("Content-Length").expect("Content-Length").parse().expect("a number");
    if !head_request {
        response.body = vec![0; len];
        reader.read_exact(&mut response.body)?;
    }
    Ok(response)
}

/// The peer closes cleanly (EOF, not a reset) with nothing more sent.
fn expect_eof(reader: &mut impl Read) {
    let mut rest = Vec::new();
    match reader.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "unexpected bytes before the close: {:?}", show(&rest)),
        Err(e) => panic!("expected a clean close, got {e} (after {:?})", show(&rest)),
    }
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned()
}

/// Sends `request` on a fresh connection, reads one response.
fn exchange(addr: SocketAddr, request: &[u8]) -> (Response, BufReader<TcpStream>) {
    let mut stream = connect(addr);
    stream.write_all(request).expect("send");
    let mut reader = BufReader::new(stream);
    let response = read_response(&mut reader, request.starts_with(b"HEAD")).expect("a response");
    (response, reader)
}

// ----- the page ---------------------------------------------------------------

#[test]
fn get_root_is_the_page_byte_for_byte() {
    let server = server();
    let (response, mut reader) = exchange(server.addr, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert_eq!(
        response.head_without_date(),
        "HTTP/1.1 200 OK\r\nDate: DATE\r\nContent-Length: 101\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n"
    );
    assert_eq!(String::from_utf8(response.body).unwrap(), PAGE);
    // Kept open: a second request on the same connection.
    reader.get_mut().write_all(b"GET /?q=1 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let again = read_response(&mut reader, false).unwrap();
    assert_eq!(again.status, 200);
    assert_eq!(again.body, PAGE.as_bytes());
}

#[test]
fn head_root_has_the_headers_and_no_body() {
    let server = server();
    let (response, mut reader) = exchange(server.addr, b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        response.head_without_date(),
        "HTTP/1.1 200 OK\r\nDate: DATE\r\nContent-Length: 101\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n"
    );
    // No body bytes follow: the next response starts right away.
    reader.get_mut().write_all(b"GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut reader, false).unwrap().status, 404);
}

#[test]
fn other_paths_are_404_and_keep_the_connection() {
    let server = server();
    let (response, mut reader) = exchange(server.addr, b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        response.head_without_date(),
        "HTTP/1.1 404 Not Found\r\nDate: DATE\r\nContent-Length: 10\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n"
    );
    assert_eq!(response.body, b"not found\n");
    reader.get_mut().write_all(b"HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let head = read_response(&mut reader, true).unwrap();
    assert_eq!((head.status, head.header("Content-Length")), (404, Some("10")));
    reader.get_mut().write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
}

#[test]
fn other_methods_are_405_with_allow_whatever_the_path() {
    let server = server();
    for request in [&b"POST / HTTP/1.1\r\nHost: a\r\n\r\n"[..], b"DELETE /nope HTTP/1.1\r\nHost: a\r\n\r\n"] {
        let (response, mut reader) = exchange(server.addr, request);
        assert_eq!(
            response.head_without_date(),
            "HTTP/1.1 405 Method Not Allowed\r\nDate: DATE\r\nContent-Length: 19\r\n\
             Content-Type: text/plain; charset=utf-8\r\nAllow: GET, HEAD\r\n\r\n"
        );
        assert_eq!(response.body, b"method not allowed\n");
        reader.get_mut().write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
    }
}

// ----- bad requests -------------------------------------------------------------

/// A header section of `len` bytes of field lines.
fn big_section(len: usize) -> String {
    let mut section = "Host: a\r\n".to_string();
    while section.len() < len {
        let take = (len - section.len()).clamp(4, 1000);
        section.push_str(&format!("X:{}\r\n", "v".repeat(take - 4)));
    }
    section
}

#[test]
fn each_error_status_closes_and_a_smuggled_request_is_never_answered() {
    let server = server();
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(8 * 1024));
    let long_section = format!("GET / HTTP/1.1\r\n{}\r\n", big_section(16 * 1024 + 1));
    let many_fields = format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", "X: y\r\n".repeat(100));
    let cases: Vec<(&str, &[u8], u16)> = vec![
        ("double space in the request line", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("space before a colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        ("folded header", b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n  z\r\n\r\n", 400),
        ("bare CR", b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400),
        ("NUL in a header", b"GET / HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n", 400),
        ("control byte in a header", b"GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[2J\r\n\r\n", 400),
        ("no Host on HTTP/1.1", b"GET / HTTP/1.1\r\n\r\n", 400),
        ("two Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
        ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
        ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        ("HTTP/9.9", b"GET / HTTP/9.9\r\nHost: a\r\n\r\n", 505),
        ("target over 8 KiB", long_target.as_bytes(), 414),
        ("header section over 16 KiB", long_section.as_bytes(), 431),
        ("101 header fields", many_fields.as_bytes(), 431),
        ("body over 1 MiB", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n", 413),
        (
            "Content-Length and Transfer-Encoding",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
            400,
        ),
        (
            "two Content-Lengths",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc",
            400,
        ),
        (
            "equal Content-Lengths",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            400,
        ),
        ("malformed Content-Length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400),
        ("chunked body", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 501),
        ("Transfer-Encoding on HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ];
    for (what, bad, status) in cases {
        let mut request = bad.to_vec();
        // Smuggled behind it: a valid request that must never be answered.
        request.extend_from_slice(b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n");
        let (response, mut reader) = exchange(server.addr, &request);
        assert_eq!(response.status, status, "{what}: {:?}", response.head);
        assert_eq!(response.header("Connection"), Some("close"), "{what}");
        assert_eq!(response.header("Content-Type"), Some("text/plain; charset=utf-8"), "{what}");
        assert!(!response.body.is_empty() && response.body.ends_with(b"\n"), "{what}: a short text body");
        response.head_without_date();
        expect_eof(&mut reader);
    }
}

#[test]
fn an_error_answer_arrives_while_the_client_keeps_sending() {
    let server = server();
    let stream = connect(server.addr);
    // A client that does not listen: after a bad request it keeps sending,
    // far more than the socket buffers hold, and reads only later. Were
    // the server to close with this input unread, the kernel would reset
    // the connection and destroy the answer before the client read it.
    let mut writer = stream.try_clone().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_writing = Arc::clone(&stop);
    let (sent_enough, enough) = std::sync::mpsc::channel();
    let sender = std::thread::spawn(move || {
        let mut sent = 0usize;
        if writer.write_all(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n").is_err() {
            return sent;
        }
        let junk = [b'x'; 16 * 1024];
        while !stop_writing.load(Ordering::Relaxed) && writer.write_all(&junk).is_ok() {
            sent += junk.len();
            if sent == 2 * 1024 * 1024 {
                let _ = sent_enough.send(());
            }
        }
        sent
    });
    enough.recv_timeout(IO_TIMEOUT).expect("the client sent 2 MiB after its bad request");
    let mut reader = BufReader::new(stream);
    let response = read_response(&mut reader, false).expect("the 400 arrives");
    assert_eq!((response.status, response.header("Connection")), (400, Some("close")));
    assert_eq!(response.body, b"bad request\n");
    expect_eof(&mut reader);
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().unwrap();
    assert!(sent >= 2 * 1024 * 1024, "the client kept sending");
}

// ----- pipelining, segmentation, bodies -------------------------------------------

#[test]
fn a_hundred_pipelined_requests_in_one_write_are_answered_in_order() {
    let server = server();
    let mut burst = String::new();
    for i in 0..100 {
        burst.push_str(&match i % 4 {
            0 => "GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_string(),
            1 => format!("GET /missing/{i} HTTP/1.1\r\nHost: a\r\n\r\n"),
            2 => "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n".to_string(),
            _ => "PUT / HTTP/1.1\nHost: a\nContent-Length: 4\n\nbody".to_string(),
        });
    }
    let burst = burst.into_bytes();
    let mut stream = connect(server.addr);
    stream.write_all(&burst).unwrap();
    let mut reader = BufReader::new(stream);
    for i in 0..100 {
        let response = read_response(&mut reader, i % 4 == 2).unwrap_or_else(|e| panic!("response {i}: {e}"));
        let expected = [200, 404, 200, 405][i % 4];
        assert_eq!(response.status, expected, "response {i}");
    }
    // Nothing more: the connection idles, open.
    reader.get_mut().set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut byte = [0; 1];
    let err = reader.read(&mut byte).expect_err("no extra bytes");
    assert!(matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut), "{err}");
}

#[test]
fn answers_beyond_the_output_limit_wait_for_the_reader_instead_of_aborting() {
    let server = server();
    // 100,000 requests (2.6 MiB) whose answers (17 MiB) far exceed the
    // reactor's 4 MiB output limit, sent by one thread while this one
    // starts reading only after the first 1 MiB went out. (How much the
    // kernel buffers absorbs varies; the holding back itself is checked
    // exactly, in memory, by `a_peer_that_does_not_read_holds_back_the_answers`.)
    let count = 100_000;
    let stream = connect(server.addr);
    let mut writer = stream.try_clone().unwrap();
    let (sent_enough, enough) = std::sync::mpsc::channel();
    let sender = std::thread::spawn(move || {
        let burst = GET.repeat(count);
        let (first, rest) = burst.split_at(1024 * 1024);
        writer.write_all(first)?;
        let _ = sent_enough.send(());
        writer.write_all(rest)
    });
    enough.recv_timeout(IO_TIMEOUT).expect("1 MiB of requests sent");
    let mut reader = BufReader::new(stream);
    for i in 0..count {
        let response = read_response(&mut reader, false).unwrap_or_else(|e| panic!("response {i}: {e}"));
        assert_eq!(response.status, 200);
    }
    sender.join().unwrap().expect("every request was taken");
}

#[test]
fn a_request_sent_a_byte_at_a_time() {
    let server = server();
    let mut stream = connect(server.addr);
    for &b in b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\n\r\n".iter() {
        stream.write_all(&[b]).unwrap();
    }
    let mut reader = BufReader::new(stream);
    let response = read_response(&mut reader, false).unwrap();
    assert_eq!((response.status, response.body.as_slice()), (200, PAGE.as_bytes()));
}

#[test]
fn http10_closes_unless_it_asks_for_keep_alive() {
    let server = server();
    // Bare LF line endings, as nc sends them.
    let (response, mut reader) = exchange(server.addr, b"GET / HTTP/1.0\n\n");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Connection"), Some("close"));
    expect_eof(&mut reader);

    let (response, mut reader) = exchange(server.addr, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(response.header("Connection"), Some("keep-alive"));
    reader.get_mut().write_all(b"HEAD / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
    let head = read_response(&mut reader, true).unwrap();
    assert_eq!((head.status, head.header("Connection")), (200, Some("keep-alive")));
    reader.get_mut().write_all(b"GET /x HTTP/1.0\r\n\r\n").unwrap();
    let last = read_response(&mut reader, false).unwrap();
    assert_eq!((last.status, last.header("Connection")), (404, Some("close")));
    expect_eof(&mut reader);
}

#[test]
fn connection_close_is_honoured_and_later_requests_ignored() {
    let server = server();
    let (response, mut reader) = exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Connection"), Some("close"));
    assert_eq!(response.body, PAGE.as_bytes());
    expect_eof(&mut reader);
}

#[test]
fn a_body_is_skipped_and_the_next_pipelined_request_answered() {
    let server = server();
    let (response, mut reader) = exchange(
        server.addr,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nGET /x HTTP\
          GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(response.status, 405);
    assert_eq!(read_response(&mut reader, false).unwrap().status, 200);

    // The largest body allowed, 1 MiB, streamed in pieces.
    let stream = reader.get_mut();
    stream.write_all(b"PUT /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n").unwrap();
    let piece = vec![b'G'; 64 * 1024];
    for _ in 0..16 {
        stream.write_all(&piece).unwrap();
    }
    stream.write_all(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut reader, false).unwrap().status, 405);
    assert_eq!(read_response(&mut reader, true).unwrap().status, 200);
}

// ----- deadlines, limits, addresses ------------------------------------------------

/// Short deadlines for the real-socket tests.
const SHORT: Deadlines = Deadlines { head: Duration::from_millis(300), idle: Duration::from_millis(1500) };

#[test]
fn a_silent_connection_is_closed_at_the_head_deadline() {
    let server = server_with(None, SHORT);
    let start = Instant::now();
    let mut stream = connect(server.addr);
    expect_eof(&mut stream);
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(250) && took < Duration::from_millis(1200), "closed after {took:?}");
}

#[test]
fn a_trickle_of_bytes_does_not_extend_the_head_deadline() {
    let server = server_with(None, SHORT);
    let stream = connect(server.addr);
    let mut writer = stream.try_clone().unwrap();
    let start = Instant::now();
    let trickle = std::thread::spawn(move || {
        // A byte every 50 ms: the head would take 2 s.
        for &b in b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: yes\r\n\r\n" {
            if writer.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let mut reader = BufReader::new(stream);
    let response = read_response(&mut reader, false).expect("a 408");
    let took = start.elapsed();
    assert_eq!((response.status, response.header("Connection")), (408, Some("close")));
    assert!(took < Duration::from_millis(1200), "answered after {took:?}");
    expect_eof(&mut reader);
    trickle.join().unwrap();
}

#[test]
fn keep_alive_idles_out_and_the_next_head_has_its_own_deadline() {
    let server = server_with(None, SHORT);
    // Idle after a response: closed after the idle time, not the head time.
    let (_, mut reader) = exchange(server.addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let start = Instant::now();
    expect_eof(&mut reader);
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1400) && took < Duration::from_millis(3000), "idle close after {took:?}");

    // The first byte of the next request starts a head deadline.
    let (_, mut reader) = exchange(server.addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    reader.get_mut().write_all(b"GET / HT").unwrap();
    let start = Instant::now();
    let response = read_response(&mut reader, false).expect("a 408");
    let took = start.elapsed();
    assert_eq!(response.status, 408);
    assert!(took >= Duration::from_millis(250) && took < Duration::from_millis(1200), "408 after {took:?}");
    expect_eof(&mut reader);
}

#[test]
fn over_max_conns_a_client_gets_503_and_a_close() {
    let server = server_with(Some(1), Deadlines::default());
    let (first, _kept) = exchange(server.addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(first.status, 200);
    let mut reader = BufReader::new(connect(server.addr));
    let response = read_response(&mut reader, false).expect("a 503");
    assert_eq!(
        response.head_without_date(),
        "HTTP/1.1 503 Service Unavailable\r\nDate: DATE\r\nContent-Length: 12\r\nConnection: close\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n"
    );
    assert_eq!(response.body, b"server busy\n");
    expect_eof(&mut reader);
}

#[test]
fn ipv6_loopback() {
    init_logging();
    let server = match Background::spawn("[::1]:0".parse().unwrap(), None, Deadlines::default()) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("skipped: no IPv6 loopback here (cannot listen on [::1]: {e})");
            return;
        }
    };
    let (response, _) = exchange(server.addr, b"GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n");
    assert_eq!((response.status, response.body.as_slice()), (200, PAGE.as_bytes()));
}

#[test]
fn curl_reuses_one_connection_for_two_requests() {
    let server = server();
    let base = format!("http://{}", server.addr);
    let output = match std::process::Command::new("curl")
        .args(["-sS", "-v", "--max-time", "5", &format!("{base}/"), &format!("{base}/nope")])
        .output()
    {
        Ok(output) => output,
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("curl cannot run ({e}), and CI is set: .ci/run installs it");
            }
            eprintln!("skipped: curl cannot run here ({e}; apt-get install curl)");
            return;
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "curl failed: {stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), format!("{PAGE}not found\n"));
    assert!(stderr.contains("< HTTP/1.1 200 OK") && stderr.contains("< HTTP/1.1 404 Not Found"), "{stderr}");
    assert_eq!(server.accepted.load(Ordering::Relaxed), 1, "curl opened more than one connection: {stderr}");
    assert!(stderr.to_lowercase().contains("re-using existing"), "curl did not say it reused: {stderr}");
}

#[test]
fn dates_are_imf_fixdates() {
    assert_eq!(&http_hello::imf_fixdate(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(&http_hello::imf_fixdate(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(&http_hello::imf_fixdate(1_795_305_604), b"Sun, 22 Nov 2026 00:00:04 GMT");
    assert_eq!(&http_hello::imf_fixdate(253_402_300_799), b"Fri, 31 Dec 9999 23:59:59 GMT");
    // Beyond the four-digit years: the epoch rather than a malformed date.
    assert_eq!(&http_hello::imf_fixdate(u64::MAX), b"Thu, 01 Jan 1970 00:00:00 GMT");
    let now = DateCache::default().now();
    check_date(std::str::from_utf8(&now).unwrap());
}

// ----- in memory, on a manual clock ------------------------------------------------

const FROZEN: [u8; 29] = *b"Sun, 06 Nov 1994 08:49:37 GMT";

fn conn() -> HelloConn {
    HelloConn::new(Deadlines::default(), Rc::new(DateCache::frozen(FROZEN)))
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

#[test]
fn the_head_deadline_is_ten_seconds_from_the_connection() {
    let mut h = Harness::new(conn());
    h.advance(Duration::from_millis(9_999));
    assert_eq!(h.lost(), None);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.lost(), Some(Reason::TimedOut));
    assert_eq!(h.written(), b"", "nothing was asked, nothing is answered");
}

#[test]
fn a_byte_a_second_does_not_move_the_head_deadline() {
    let mut h = Harness::new(conn());
    for &b in &GET[..9] {
        h.advance(Duration::from_secs(1));
        h.feed(&[b]);
    }
    assert_eq!(h.lost(), None);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.lost(), Some(Reason::TimedOut));
    assert!(h.written().starts_with(b"HTTP/1.1 408 Request Timeout\r\n"), "{:?}", show(&h.written()));
}

#[test]
fn keep_alive_idles_out_after_thirty_seconds_then_heads_get_ten() {
    let mut h = Harness::new(conn());
    h.advance(Duration::from_secs(9));
    h.feed(GET);
    assert!(h.take_written().starts_with(b"HTTP/1.1 200 OK\r\n"));
    h.advance(Duration::from_millis(29_999));
    assert_eq!(h.lost(), None, "idle for less than 30 s");
    h.feed(b"G"); // the next head starts: 10 s from now
    h.advance(Duration::from_millis(9_999));
    assert_eq!(h.lost(), None);
    h.feed(&GET[1..]);
    assert!(h.take_written().starts_with(b"HTTP/1.1 200 OK\r\n"));
    h.advance(Duration::from_secs(29));
    assert_eq!(h.lost(), None);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.lost(), Some(Reason::TimedOut));
    assert_eq!(h.written(), b"", "an idle close says nothing");
}

/// The idle deadline moves later with every answer without resetting the
/// timer each time (it fires early and is set again for the rest): the
/// connection lives on as long as requests keep coming, and closes exactly
/// 30 s after the last answer, whatever the timer did in between.
#[test]
fn a_moved_deadline_fires_at_its_new_time_not_the_old_one() {
    let mut h = Harness::new(conn());
    for _ in 0..70 {
        h.advance(Duration::from_millis(1_500));
        h.feed(GET);
        assert!(h.take_written().starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert_eq!(h.lost(), None);
        assert_eq!(h.pending_timers(), 1, "one timer per connection");
    }
    // 105 s after the connection: past its first head deadline and three
    // idle times, alive. Now silence.
    h.advance(Duration::from_millis(29_999));
    assert_eq!(h.lost(), None, "idle for less than 30 s");
    h.advance(Duration::from_millis(1));
    assert_eq!(h.lost(), Some(Reason::TimedOut));
    // A deadline earlier than the timer moves the timer: after an answer
    // at 0 s the timer fires at 10 s (the first head's deadline) and is set
    // again for the idle time (30 s); a head started at 11 s is due at 21 s.
    let mut h = Harness::new(conn());
    h.feed(GET);
    assert!(h.take_written().starts_with(b"HTTP/1.1 200 OK\r\n"));
    h.advance(Duration::from_secs(11));
    assert_eq!(h.lost(), None);
    h.feed(b"GET / HT");
    h.advance(Duration::from_millis(9_999));
    assert_eq!(h.lost(), None);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.lost(), Some(Reason::TimedOut));
    assert!(h.written().starts_with(b"HTTP/1.1 408 Request Timeout\r\n"), "{:?}", show(&h.written()));
}

/// A head that starts in the read that ends the one before has its own
/// 10 s from then, not what was left of the last head's (nor a body the
/// last request's).
#[test]
fn a_head_begun_with_the_end_of_the_last_one_gets_its_own_ten_seconds() {
    let mut h = Harness::new(conn());
    h.feed(b"GET / HTTP/1.1\r\n"); // the first head starts at 0 s
    h.advance(Duration::from_secs(5));
    h.feed(b"Host: a\r\n\r\nGET / HT"); // ends it and starts the next at 5 s
    assert!(h.take_written().starts_with(b"HTTP/1.1 200 OK\r\n"));
    h.advance(Duration::from_millis(9_999));
    assert_eq!(h.lost(), None, "the next head is due at 15 s, not at the first one's 10 s");
    h.advance(Duration::from_millis(1));
    assert_eq!(h.lost(), Some(Reason::TimedOut));
    assert!(h.written().starts_with(b"HTTP/1.1 408 Request Timeout\r\n"), "{:?}", show(&h.written()));

    // The same for a body: the second body's time counts from its request.
    let mut h = Harness::new(conn());
    h.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\na"); // a body from 0 s
    h.advance(Duration::from_secs(20));
    h.feed(b"bcPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\na"); // the next body from 20 s
    h.advance(Duration::from_millis(29_999));
    assert_eq!(h.lost(), None, "the second body is due at 50 s, not at the first one's 30 s");
    h.advance(Duration::from_millis(1));
    assert_eq!(h.lost(), Some(Reason::TimedOut));
}

#[test]
fn a_body_must_arrive_within_the_idle_time() {
    let mut h = Harness::new(conn());
    h.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc");
    assert!(h.take_written().starts_with(b"HTTP/1.1 405 "));
    for _ in 0..29 {
        h.advance(Duration::from_secs(1));
        h.feed(b"x"); // a trickle of body bytes
    }
    assert_eq!(h.lost(), None);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.lost(), Some(Reason::TimedOut), "a trickle does not extend the body's time");
    assert_eq!(h.written(), b"");
}

/// Requests of every kind, pipelined.
fn pipelined_mix() -> Vec<u8> {
    let mut input = Vec::new();
    for part in [
        &b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"HEAD /?x=1 HTTP/1.1\nHost: a\n\n",
        b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\nGET / HTTP/1.1\r\n\r\n\r\n",
        b"GET http://a/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        input.extend_from_slice(part);
    }
    input
}

#[test]
fn any_segmentation_gives_the_same_answers() {
    let transcript = assert_chunking_invariant(conn, &pipelined_mix(), true);
    let text = String::from_utf8(transcript.written).unwrap();
    let statuses: Vec<&str> = text.match_indices("HTTP/1.1 ").map(|(at, _)| &text[at + 9..at + 12]).collect();
    assert_eq!(statuses, ["200", "200", "404", "405", "405", "200", "200"], "{text}");
    assert_eq!(transcript.events, [Event::Lost(Reason::Closed)]);

    let mut smuggling = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
    smuggling.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx");
    smuggling.extend_from_slice(GET);
    let transcript = assert_chunking_invariant(conn, &smuggling, false);
    let text = String::from_utf8(transcript.written).unwrap();
    assert_eq!(text.matches("HTTP/1.1 ").count(), 2, "{text}");
    assert!(text.contains("HTTP/1.1 400 Bad Request\r\n"), "{text}");
}

#[test]
fn a_peer_that_does_not_read_holds_back_the_answers() {
    let mut h = Harness::new(conn());
    h.set_peer_window(Some(0));
    let count = 2000;
    h.feed(&GET.repeat(count));
    // Answers stop near the pause mark; reading pauses.
    let held = h.queued();
    assert!((http_hello::OUTPUT_PAUSE..http_hello::OUTPUT_PAUSE + 1024).contains(&held), "queued {held}");
    assert!(h.is_reading_paused());
    h.advance(Duration::ZERO);
    assert_eq!(h.queued(), held, "nothing more while the peer does not read");
    // The peer reads: the rest is answered, in bounded steps.
    h.set_peer_window(None);
    for _ in 0..100 {
        h.advance(Duration::ZERO);
    }
    let written = h.written();
    assert_eq!(written.windows(15).filter(|w| w == b"HTTP/1.1 200 OK").count(), count);
    assert!(!h.is_reading_paused());
    assert_eq!(h.lost(), None);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Good and bad pieces of requests (no `HEAD`: every answer then has
    /// its body, so the output can be split into responses).
    const PIECES: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /x HTTP/1.0\n\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
        b"abc",
        b"GET",
        b" ",
        b"\r\n",
        b"\n",
        b"\r",
        b"\0",
        b"Host: a\r\n",
        b"Content-Length: 99999999\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Connection: close\r\n",
        b"HTTP/1.1",
        b"/",
        b"\xff",
    ];

    proptest! {
        #[test]
        fn any_input_gets_whole_answers_and_no_panic(
            pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..40),
            chunk in 1usize..64,
        ) {
            let input: Vec<u8> = pieces.concat();
            let mut h = Harness::new(conn());
            for piece in input.chunks(chunk) {
                if h.lost().is_some() {
                    break;
                }
                h.feed(piece);
            }
            h.advance(Duration::from_secs(60));
            prop_assert_ne!(h.lost(), Some(Reason::ProtocolPanicked));
            prop_assert!(h.lost().is_some(), "the deadlines end every connection");
            // The output is a sequence of whole responses.
            let written = h.written();
            let mut reader = BufReader::new(&written[..]);
            while !reader.fill_buf().unwrap().is_empty() {
                let response = read_response(&mut reader, false);
                prop_assert!(response.is_ok(), "{:?} in {:?}", response, show(&written));
            }
        }
    }
}
