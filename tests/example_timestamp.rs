//! The `timestamp` example against its contract (docs/protocols.md):
//! `[ctime] X\n` per line whatever the segmentation, the line limit, the
//! idle timeout, the connection limit, UDP over IPv4 and IPv6, and the
//! reflector-port rule. The server reads a manual wall clock, so every
//! stamp is known in advance.

#[path = "../examples/common/mod.rs"]
mod common;
mod example_bin;
mod example_util;
#[path = "../examples/common/timestamp.rs"]
mod timestamp;

use std::io::{BufReader, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use example_util as util;
use reel::protocols::clock_text::{ctime_local, WallClock};

/// Sat Nov 21 23:53:24 2026 UTC.
const T: u64 = 1_795_305_204;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn server_on(listen: &str, clock: WallClock, tweak: impl FnOnce(&mut common::ServerArgs)) -> util::Server {
    let mut args = timestamp::default_args();
    args.listen = listen.parse().expect("address");
    tweak(&mut args);
    util::serve(move |reactor| timestamp::start_with_clock(reactor, &args, clock))
}

fn server(clock: WallClock) -> util::Server {
    server_on("127.0.0.1:0", clock, |_| {})
}

fn stamped(t: SystemTime, lines: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(format!("[{}] ", ctime_local(t)).as_bytes());
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

fn exchange(addr: SocketAddr, input: &[u8]) -> Vec<u8> {
    let mut stream = util::connect(addr);
    stream.write_all(input).expect("write");
    stream.shutdown(Shutdown::Write).expect("shutdown");
    util::read_to_end(&mut stream)
}

#[test]
fn each_line_is_stamped_and_nothing_is_sent_on_connect() {
    let clock = WallClock::manual(at(T));
    let server = server(clock.clone());
    let mut stream = util::connect(server.addr);
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    stream.write_all(b"hello\n").expect("write");
    assert_eq!(util::read_line(&mut reader), stamped(at(T), &[b"hello"]));
    // The clock moves on: the stamp follows (the cache is per second).
    clock.set(at(T + 86_400 + 3_600 + 61));
    stream.write_all(b"later\r\n").expect("write");
    assert_eq!(util::read_line(&mut reader), stamped(at(T + 86_400 + 3_600 + 61), &[b"later"]));
}

#[test]
fn pipelined_lines_in_one_write() {
    let clock = WallClock::manual(at(T));
    let server = server(clock);
    let reply = exchange(server.addr, b"a\nb\r\n\n\xff\xfe\nlast");
    assert_eq!(reply, stamped(at(T), &[b"a", b"b", b"", b"\xff\xfe", b"last"]));
}

#[test]
fn one_byte_at_a_time() {
    let server = server(WallClock::manual(at(T)));
    let mut stream = util::connect(server.addr);
    for &byte in b"one\r\ntw\ro\n" {
        stream.write_all(&[byte]).expect("write");
        stream.flush().expect("flush");
    }
    stream.shutdown(Shutdown::Write).expect("shutdown");
    assert_eq!(util::read_to_end(&mut stream), stamped(at(T), &[b"one", b"tw\ro"]));
}

#[test]
fn a_line_over_16_kib_is_refused() {
    let server = server(WallClock::manual(at(T)));
    let mut at_limit = vec![b'x'; 16 * 1024];
    at_limit.push(b'\n');
    assert_eq!(exchange(server.addr, &at_limit), stamped(at(T), &[&[b'x'; 16 * 1024]]));

    let mut over = b"ok\n".to_vec();
    over.extend_from_slice(&[b'y'; 16 * 1024 + 1]);
    over.extend_from_slice(b"\nnever\n");
    let mut expected = stamped(at(T), &[b"ok"]);
    expected.extend_from_slice(b"error: line too long\n");
    assert_eq!(exchange(server.addr, &over), expected);
}

#[test]
fn idle_connection_is_closed() {
    let server = server_on("127.0.0.1:0", WallClock::manual(at(T)), |a| a.idle_timeout = Duration::from_millis(300));
    let mut stream = util::connect(server.addr);
    let start = Instant::now();
    assert_eq!(util::read_to_end(&mut stream), b"");
    assert!(start.elapsed() >= Duration::from_millis(250), "closed after {:?}", start.elapsed());
}

#[test]
fn over_max_conns_is_told_busy() {
    let server = server_on("127.0.0.1:0", WallClock::manual(at(T)), |a| a.max_conns = 1);
    let mut first = util::connect(server.addr);
    let mut reader = BufReader::new(first.try_clone().expect("clone"));
    first.write_all(b"in\n").expect("write");
    assert_eq!(util::read_line(&mut reader), stamped(at(T), &[b"in"]));
    let mut second = util::connect(server.addr);
    assert_eq!(util::read_to_end(&mut second), b"error: server busy\n");
}

#[test]
fn udp_stamps_datagrams_as_they_came() {
    let server = server(WallClock::manual(at(T)));
    let stamp = format!("[{}] ", ctime_local(at(T)));
    assert_eq!(util::udp_ask(server.addr, b"x\n"), format!("{stamp}x\n").as_bytes());
    assert_eq!(util::udp_ask(server.addr, b""), stamp.as_bytes());
    assert_eq!(util::udp_ask(server.addr, b"\xff"), [stamp.as_bytes(), b"\xff"].concat());
}

#[test]
fn tcp_and_udp_over_ipv6() {
    if !util::loopback_available(true) {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    }
    let server = server_on("[::1]:0", WallClock::manual(at(T)), |_| {});
    assert_eq!(exchange(server.addr, b"six\n"), stamped(at(T), &[b"six"]));
    assert_eq!(util::udp_ask(server.addr, b"six"), format!("[{}] six", ctime_local(at(T))).as_bytes());
}

#[test]
fn reflector_ports_are_not_answered() {
    let server = server(WallClock::manual(at(T)));
    util::check_reflector_port_ignored(server.addr, 13, b"loop");
}

#[test]
fn the_system_clock_by_default() {
    let mut args = timestamp::default_args();
    args.listen = "127.0.0.1:0".parse().expect("address");
    let server = util::serve(move |reactor| timestamp::start(reactor, &args));
    let before = ctime_local(SystemTime::now());
    let reply = exchange(server.addr, b"now\n");
    let after = ctime_local(SystemTime::now());
    let ok = [before, after].iter().any(|t| reply == format!("[{t}] now\n").as_bytes());
    assert!(ok, "unexpected stamp {:?}", String::from_utf8_lossy(&reply));
}

/// The client's logic with a TCP connection standing in for standard
/// input (the program reads the real one the same way).
#[test]
fn client_sends_each_input_line_and_prints_each_reply() {
    let server = server(WallClock::manual(at(T)));
    let input = std::net::TcpListener::bind("127.0.0.1:0").expect("bind input");
    let input_addr = input.local_addr().expect("input address");
    let feeder = std::thread::spawn(move || {
        let (mut conn, _) = input.accept().expect("accept the client's input connection");
        conn.write_all(b"one\ntwo\r\nthree").expect("write input");
        conn.shutdown(Shutdown::Write).expect("end of input");
        util::read_to_end(&mut conn)
    });
    let out = util::SharedBuf::default();
    let mut reactor = util::reactor();
    let status = timestamp::start_client_with_input(
        &mut reactor,
        server.addr,
        timestamp::Input::Connect(input_addr),
        Box::new(out.clone()),
    );
    util::run_client(&mut reactor);
    assert_eq!(feeder.join().expect("feeder"), b"", "nothing is written to the input");
    assert_eq!(status.get(), 0);
    assert_eq!(out.contents(), stamped(at(T), &[b"one", b"two", b"three"]));
}

#[test]
fn client_with_empty_input_exits_cleanly() {
    let server = server(WallClock::manual(at(T)));
    let input = std::net::TcpListener::bind("127.0.0.1:0").expect("bind input");
    let input_addr = input.local_addr().expect("input address");
    let feeder = std::thread::spawn(move || {
        let (conn, _) = input.accept().expect("accept");
        conn.shutdown(Shutdown::Write).expect("end of input");
    });
    let out = util::SharedBuf::default();
    let mut reactor = util::reactor();
    let status = timestamp::start_client_with_input(
        &mut reactor,
        server.addr,
        timestamp::Input::Connect(input_addr),
        Box::new(out.clone()),
    );
    util::run_client(&mut reactor);
    feeder.join().expect("feeder");
    assert_eq!(status.get(), 0);
    assert_eq!(out.contents(), b"");
}

/// The client ends with its status also when it cannot say why: stderr
/// closed (`2>&1 | true`), an error to report. It used to panic on the
/// failed `eprintln!` inside a callback, which the reactor caught and
/// logged, and then run on with nothing to do, for ever.
#[test]
fn the_client_exits_1_when_it_cannot_report_its_failure() {
    let addr = example_bin::refused_tcp_addr().to_string();
    example_bin::assert_exits_1_with_stderr_closed("timestamp", ["client", "--connect", &addr]);
}

/// Nor are the default ports of the examples' own UDP services: one
/// datagram forged from daytime's port 1313 to echo's 7007 used to bounce
/// between the two for ever.
#[test]
fn example_service_ports_are_not_answered() {
    let server = server(WallClock::manual(at(T)));
    util::check_example_ports_ignored(server.addr, b"loop");
}
