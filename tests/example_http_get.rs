//! The `http_get` example's client, run in-process on a reactor against
//! the `http_hello` server and against hand-written `std::net` servers that
//! misbehave (reset, cut a body short), and the exact request it sends.

// `http_get.rs` declares its own `mod common` (it is a binary's root);
// `http_hello.rs` needs one at this crate's root too.
#![allow(clippy::duplicate_mod)]

#[path = "../examples/common/mod.rs"]
mod common;
mod example_bin;
#[allow(dead_code)] // its `main` is the binary's
#[path = "../examples/http_get.rs"]
mod http_get;
#[path = "../examples/common/http_hello.rs"]
mod http_hello;

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::Duration;

use http_hello::{Background, Deadlines};

const PAGE: &str = "<html><head><meta charset=\"utf-8\"><title>Hello</title></head>\
    <body><h1>Hello World</h1></body></html>";

/// How long a fetch may take before the test stops its reactor.
const WATCHDOG: Duration = Duration::from_secs(5);

/// An in-memory output the test reads after the fetch.
#[derive(Debug, Clone, Default)]
struct Sink(Rc<RefCell<Vec<u8>>>);

impl Sink {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.borrow()).into_owned()
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Fetches `path` from `addr` on a fresh reactor: the result, stdout, and
/// the `--out` file's bytes (when `to_file`).
fn fetch(addr: SocketAddr, path: &str, to_file: bool) -> (Result<u16, String>, String, Option<String>) {
    let _ = env_logger::builder().is_test(true).try_init();
    let mut reactor = reel::Reactor::new().expect("reactor");
    let (stdout, file) = (Sink::default(), Sink::default());
    let body_out: Option<Box<dyn Write>> = if to_file { Some(Box::new(file.clone())) } else { None };
    let outcome = http_get::get(&mut reactor, addr, path, Box::new(stdout.clone()), body_out);
    let watchdog = reactor.call_later(WATCHDOG, |cx| cx.stop());
    reactor.run().expect("run");
    reactor.cancel_timer(watchdog);
    let result = outcome.take().expect("the client reports how it ended");
    (result, stdout.text(), to_file.then(|| file.text()))
}

fn hello() -> Background {
    let _ = env_logger::builder().is_test(true).try_init();
    Background::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), None, Deadlines::default()).expect("server")
}

/// The head as http_get prints it, with the date replaced.
fn without_date(text: &str) -> String {
    let start = text.find("Date: ").expect("a Date header") + 6;
    let end = start + text[start..].find('\n').expect("a line end");
    assert_eq!(end - start, 29, "an IMF-fixdate");
    format!("{}DATE{}", &text[..start], &text[end..])
}

#[test]
fn fetches_the_page_to_stdout() {
    let server = hello();
    let (result, stdout, _) = fetch(server.addr, "/", false);
    assert_eq!(result, Ok(200));
    assert_eq!(
        without_date(&stdout),
        format!(
            "HTTP/1.1 200 OK\nDate: DATE\nContent-Length: 101\nConnection: close\n\
             Content-Type: text/html; charset=utf-8\n\n{PAGE}"
        )
    );
}

#[test]
fn writes_the_body_to_the_out_file() {
    let server = hello();
    let (result, stdout, file) = fetch(server.addr, "/nope", true);
    assert_eq!(result, Ok(404));
    assert_eq!(
        without_date(&stdout),
        "HTTP/1.1 404 Not Found\nDate: DATE\nContent-Length: 10\nConnection: close\n\
         Content-Type: text/plain; charset=utf-8\n"
    );
    assert_eq!(file.as_deref(), Some("not found\n"));
}

#[test]
fn fetches_over_ipv6() {
    let _ = env_logger::builder().is_test(true).try_init();
    let server = match Background::spawn("[::1]:0".parse().unwrap(), None, Deadlines::default()) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("skipped: no IPv6 loopback here (cannot listen on [::1]: {e})");
            return;
        }
    };
    let (result, stdout, _) = fetch(server.addr, "/", false);
    assert_eq!(result, Ok(200));
    assert!(stdout.ends_with(PAGE));
}

#[test]
fn a_refused_connection_is_one_clear_line() {
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (result, stdout, _) = fetch(addr, "/", false);
    assert_eq!(result, Err(format!("cannot connect to {addr}: connection refused")));
    assert_eq!(stdout, "");
}

/// A one-shot server: accepts one connection, reads the request head,
/// then does `then` with the stream. Returns the request it read.
fn one_shot(addr: &str, then: impl FnOnce(&mut TcpStream) + Send + 'static) -> (SocketAddr, JoinHandle<String>) {
    let listener = TcpListener::bind(addr).unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(WATCHDOG)).unwrap();
        let mut request = Vec::new();
        let mut byte = [0; 1];
        while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
            request.push(byte[0]);
        }
        then(&mut stream);
        String::from_utf8(request).unwrap()
    });
    (addr, thread)
}

#[test]
fn sends_get_with_host_and_connection_close_and_reads_to_the_end() {
    let (addr, server) = one_shot("127.0.0.1:0", |stream| {
        // No Content-Length: the body is whatever comes until the close.
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nX-A: b\r\n\r\nsome\nbytes\0").unwrap();
    });
    let (result, stdout, _) = fetch(addr, "/a/b?c=d", false);
    assert_eq!(
        server.join().unwrap(),
        format!("GET /a/b?c=d HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", addr.port())
    );
    assert_eq!(result, Ok(200));
    assert_eq!(stdout, "HTTP/1.0 200 OK\nX-A: b\n\nsome\nbytes\0");
}

#[test]
fn the_host_of_an_ipv6_address_is_bracketed() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    };
    drop(listener);
    let (addr, server) = one_shot("[::1]:0", |stream| {
        stream.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n").unwrap();
    });
    let (result, _, _) = fetch(addr, "/", false);
    assert_eq!(result, Ok(204));
    let request = server.join().unwrap();
    assert!(request.contains(&format!("\r\nHost: [::1]:{}\r\n", addr.port())), "{request:?}");
}

#[test]
fn a_reset_is_one_clear_line() {
    let (addr, server) = one_shot("127.0.0.1:0", |stream| {
        // Close with SO_LINGER 0: the peer sees a reset, not an end.
        socket2::SockRef::from(&*stream).set_linger(Some(Duration::ZERO)).unwrap();
    });
    let (result, _, _) = fetch(addr, "/", false);
    server.join().unwrap();
    assert_eq!(result, Err(format!("connection to {addr} reset by peer")));
}

#[test]
fn a_body_cut_short_is_an_error_after_what_arrived() {
    let (addr, server) = one_shot("127.0.0.1:0", |stream| {
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").unwrap();
    });
    let (result, stdout, _) = fetch(addr, "/", false);
    server.join().unwrap();
    assert_eq!(result, Err(format!("{addr} closed the connection after 3 of 10 body bytes")));
    assert_eq!(stdout, "HTTP/1.1 200 OK\nContent-Length: 10\n\nabc");
}

#[test]
fn a_malformed_or_missing_response_is_an_error() {
    let (addr, server) = one_shot("127.0.0.1:0", |stream| {
        stream.write_all(b"SSH-2.0-OpenSSH_9.2\r\n\r\n").unwrap();
    });
    let (result, _, _) = fetch(addr, "/", false);
    server.join().unwrap();
    assert!(result.as_ref().is_err_and(|e| e.starts_with(&format!("malformed response from {addr}"))), "{result:?}");

    let (addr, server) = one_shot("127.0.0.1:0", |_| {});
    let (result, _, _) = fetch(addr, "/", false);
    server.join().unwrap();
    assert_eq!(result, Err(format!("{addr} closed the connection before a complete response")));
}

#[test]
fn paths_that_would_change_the_request_are_refused() {
    assert!(http_get::is_valid_path("/"));
    assert!(http_get::is_valid_path("/a/b?c=d&e=%20"));
    for bad in ["", "a", "/a b", "/a\r\nX: y", "/\u{e9}", "/\t"] {
        assert!(!http_get::is_valid_path(bad), "{bad:?}");
    }
}

#[test]
fn the_body_is_content_length_bytes_and_more_is_an_error() {
    let (addr, server) = one_shot("127.0.0.1:0", |stream| {
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA").unwrap();
    });
    let (result, stdout, file) = fetch(addr, "/", true);
    server.join().unwrap();
    assert_eq!(result, Err(format!("{addr} sent more than the 3 body bytes its Content-Length announced")));
    assert_eq!(stdout, "HTTP/1.1 200 OK\nContent-Length: 3\n");
    assert_eq!(file.as_deref(), Some("abc"), "only the body is written");

    // The same when the extra bytes come after the body, in a read of their own.
    let (addr, server) = one_shot("127.0.0.1:0", |stream| {
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc").unwrap();
        stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        stream.write_all(b"EXTRA").unwrap();
    });
    let (result, stdout, _) = fetch(addr, "/", false);
    server.join().unwrap();
    assert!(result.is_err(), "{result:?}");
    assert_eq!(stdout, "HTTP/1.1 200 OK\nContent-Length: 3\n\nabc");

    // A 204 has no body whatever its Content-Length says.
    let (addr, server) = one_shot("127.0.0.1:0", |stream| {
        stream.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc").unwrap();
    });
    let (result, _, file) = fetch(addr, "/", true);
    server.join().unwrap();
    assert!(result.is_err(), "{result:?}");
    assert_eq!(file.as_deref(), Some(""));
}

/// The binary with its stderr closed (`2>&1 | true`) and nothing to
/// fetch: still one exit, status 1, no panic (it used to exit 101).
#[test]
fn the_binary_exits_1_when_it_cannot_report_a_refused_connection() {
    let addr = example_bin::refused_tcp_addr().to_string();
    let (status, out) =
        example_bin::run_with_closed("http_get", ["--connect", &addr], example_bin::Closed::Stderr, WATCHDOG * 2);
    assert_eq!(status.code(), Some(1), "stdout: {out:?}");
}

/// The binary fetching a live page into a closed pipe, stderr closed as
/// well (`http_get ... 2>&1 | true`): status 1 (the output could not be
/// written), no panic.
#[test]
fn the_binary_exits_1_when_stdout_and_stderr_are_closed() {
    let server = hello();
    let addr = server.addr.to_string();
    let (status, _) =
        example_bin::run_with_closed("http_get", ["--connect", &addr], example_bin::Closed::Both, WATCHDOG * 2);
    assert_eq!(status.code(), Some(1));
}
