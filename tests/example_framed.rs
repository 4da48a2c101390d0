//! The `framed` example against its contract (docs/protocols.md): length-prefixed
//! requests, a JSON header frame then the raw body, whatever the
//! segmentation; every error header; the 64 KiB limit refused from the
//! length alone; the busy header; the idle timeout; and the client.

#[path = "../examples/common/mod.rs"]
mod common;
mod example_bin;
mod example_util;
#[path = "../examples/common/framed.rs"]
mod framed;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use example_util as util;
use reel::protocols::clock_text::{ctime_local, WallClock};

/// Sat Nov 21 23:53:24 2026 UTC.
const T: u64 = 1_795_305_204;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn server_with(tweak: impl FnOnce(&mut common::ServerArgs)) -> util::Server {
    let mut args = framed::default_args();
    args.listen = "127.0.0.1:0".parse().expect("address");
    tweak(&mut args);
    util::serve(move |reactor| framed::start_with_clock(reactor, &args, WallClock::manual(at(T))))
}

fn server() -> util::Server {
    server_with(|_| {})
}

/// One request frame.
fn request(command: &[u8]) -> Vec<u8> {
    let mut frame = (command.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(command);
    frame
}

/// Reads one response: the header's text and the body.
fn response(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let len = u32::from_be_bytes(util::read_exact(stream, 4).try_into().expect("4 bytes"));
    let header = String::from_utf8(util::read_exact(stream, len as usize)).expect("UTF-8 header");
    let parsed: serde_json::Value = serde_json::from_str(&header).expect("the header is JSON");
    let size = parsed["total_size"].as_u64().expect("total_size");
    let body = util::read_exact(stream, size as usize);
    (header, body)
}

fn ok(body: &[u8]) -> (String, Vec<u8>) {
    (format!(r#"{{"status":"ok","total_size":{}}}"#, body.len()), body.to_vec())
}

fn error(message: &str) -> (String, Vec<u8>) {
    (format!(r#"{{"status":"error","message":{},"total_size":0}}"#, serde_json::json!(message)), Vec::new())
}

fn unknown(command: &str) -> (String, Vec<u8>) {
    error(&format!("unknown command {command:?}; try date, os, upper TEXT or echo TEXT"))
}

fn ask(stream: &mut TcpStream, command: &[u8]) -> (String, Vec<u8>) {
    stream.write_all(&request(command)).expect("write");
    response(stream)
}

#[test]
fn the_four_commands() {
    let server = server();
    let mut s = util::connect(server.addr);
    assert_eq!(ask(&mut s, b"date"), ok(ctime_local(at(T)).as_bytes()));
    assert_eq!(ask(&mut s, b"os"), ok(std::env::consts::OS.as_bytes()));
    if cfg!(target_os = "linux") {
        assert_eq!(ask(&mut s, b"os").1, b"linux");
    }
    assert_eq!(ask(&mut s, "upper hello wörld ß".as_bytes()), ok("HELLO WÖRLD SS".as_bytes()));
    assert_eq!(ask(&mut s, b"echo  two  spaces "), ok(b" two  spaces "));
    assert_eq!(ask(&mut s, b"echo"), ok(b""));
    assert_eq!(ask(&mut s, b"upper"), ok(b""));
    // The exact bytes of one whole response.
    s.write_all(&request(b"echo hi")).expect("write");
    let header = br#"{"status":"ok","total_size":2}"#;
    let expected = [&[0, 0, 0, header.len() as u8][..], header, b"hi"].concat();
    assert_eq!(util::read_exact(&mut s, expected.len()), expected);
}

#[test]
fn errors_keep_the_connection_open() {
    let server = server();
    let mut s = util::connect(server.addr);
    assert_eq!(ask(&mut s, b"ls -la"), unknown("ls"));
    assert_eq!(ask(&mut s, b""), unknown(""));
    assert_eq!(ask(&mut s, b"DATE"), unknown("DATE"));
    assert_eq!(ask(&mut s, b"date now"), error("date takes no argument"));
    assert_eq!(ask(&mut s, b"os x"), error("os takes no argument"));
    assert_eq!(ask(&mut s, b"echo \xff"), error("the request is not valid UTF-8"));
    assert_eq!(ask(&mut s, b"echo still here"), ok(b"still here"));
}

#[test]
fn error_messages_are_escaped_json() {
    let server = server();
    let mut s = util::connect(server.addr);
    let nasty = "q\"b\\s\u{1}\n\u{7f}é";
    let (header, body) = ask(&mut s, nasty.as_bytes());
    assert!(body.is_empty());
    let parsed: serde_json::Value = serde_json::from_str(&header).expect("valid JSON");
    assert_eq!(parsed["status"], "error");
    assert_eq!(parsed["message"], format!("unknown command {nasty:?}; try date, os, upper TEXT or echo TEXT"));
    assert!(header.starts_with(r#"{"status":"error","message":""#));
    assert!(header.ends_with(r#"","total_size":0}"#));
    assert!(!header.contains('\n'));
}

#[test]
fn pipelined_requests_in_one_write() {
    let server = server();
    let mut s = util::connect(server.addr);
    let batch = [request(b"echo a"), request(b"bogus"), request(b"upper b"), request(b"date")].concat();
    s.write_all(&batch).expect("write");
    assert_eq!(response(&mut s), ok(b"a"));
    assert_eq!(response(&mut s), unknown("bogus"));
    assert_eq!(response(&mut s), ok(b"B"));
    assert_eq!(response(&mut s), ok(ctime_local(at(T)).as_bytes()));
}

#[test]
fn one_byte_at_a_time() {
    let server = server();
    let mut s = util::connect(server.addr);
    for byte in [request(b"echo slow"), request(b"upper x")].concat() {
        s.write_all(&[byte]).expect("write");
        s.flush().expect("flush");
    }
    assert_eq!(response(&mut s), ok(b"slow"));
    assert_eq!(response(&mut s), ok(b"X"));
}

#[test]
fn a_request_of_64_kib_is_fine() {
    let server = server();
    let mut s = util::connect(server.addr);
    let mut command = b"echo ".to_vec();
    command.resize(64 * 1024, b'z');
    let (header, body) = ask(&mut s, &command);
    assert_eq!(header, ok(&command[5..]).0);
    assert_eq!(body, &command[5..]);
}

#[test]
fn a_request_over_64_kib_is_refused_from_its_length() {
    let server = server();
    for announced in [64 * 1024 + 1, u32::MAX] {
        let mut s = util::connect(server.addr);
        // Only the length: the server must not wait for (or allocate) the rest.
        s.write_all(&announced.to_be_bytes()).expect("write");
        let expected = error(&format!("request of {announced} bytes is over the limit of 65536"));
        assert_eq!(response(&mut s), expected);
        assert_eq!(util::read_to_end(&mut s), b"", "closed after the error");
    }
}

#[test]
fn over_max_conns_gets_a_busy_header() {
    let server = server_with(|a| a.max_conns = 1);
    let mut first = util::connect(server.addr);
    assert_eq!(ask(&mut first, b"echo in"), ok(b"in"));
    let mut second = util::connect(server.addr);
    assert_eq!(response(&mut second), error("server busy"));
    assert_eq!(util::read_to_end(&mut second), b"");
    assert_eq!(ask(&mut first, b"echo still"), ok(b"still"));
}

#[test]
fn idle_connection_is_closed() {
    let server = server_with(|a| a.idle_timeout = Duration::from_millis(300));
    let mut s = util::connect(server.addr);
    let start = Instant::now();
    assert_eq!(util::read_to_end(&mut s), b"");
    assert!(start.elapsed() >= Duration::from_millis(250), "closed after {:?}", start.elapsed());
}

#[test]
fn half_close_after_a_partial_request_closes() {
    let server = server();
    let mut s = util::connect(server.addr);
    s.write_all(&request(b"echo done")).expect("write");
    s.write_all(&[0, 0, 0, 9, b'e']).expect("write");
    s.shutdown(Shutdown::Write).expect("shutdown");
    assert_eq!(response(&mut s), ok(b"done"));
    assert_eq!(util::read_to_end(&mut s), b"");
}

fn run_client(commands: &[&str]) -> (i32, Vec<u8>) {
    let server = server();
    let out = util::SharedBuf::default();
    let mut reactor = util::reactor();
    let commands = commands.iter().map(|c| c.to_string()).collect();
    let status = framed::start_client(&mut reactor, server.addr, commands, Box::new(out.clone()));
    util::run_client(&mut reactor);
    (status.get(), out.contents())
}

#[test]
fn client_prints_each_body() {
    let (status, out) = run_client(&["date", "upper hello", "echo", "echo two\nlines\n", "os"]);
    assert_eq!(status, 0);
    let expected = format!("{}\nHELLO\n\ntwo\nlines\n{}\n", ctime_local(at(T)), std::env::consts::OS);
    assert_eq!(String::from_utf8_lossy(&out), expected);
}

#[test]
fn client_fails_on_an_error_header_and_goes_on() {
    let (status, out) = run_client(&["bogus", "echo after"]);
    assert_eq!(status, 1);
    assert_eq!(out, b"after\n");
}

/// The client ends with its status also when it cannot say why: stderr
/// closed (`2>&1 | true`), an error to report. It used to panic on the
/// failed `eprintln!` inside a callback, which the reactor caught and
/// logged, and then run on with nothing to do, for ever.
#[test]
fn the_client_exits_1_when_it_cannot_report_its_failure() {
    let addr = example_bin::refused_tcp_addr().to_string();
    example_bin::assert_exits_1_with_stderr_closed("framed", ["client", "--connect", &addr, "date"]);
}
