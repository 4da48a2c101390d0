//! The `daytime` example against its contract (docs/protocols.md, RFC 867): one
//! line with CRLF then close over TCP, one datagram per datagram over UDP
//! (IPv4 and IPv6), the busy farewell, the reflector-port rule, and the
//! client's answer, refusal and timeout. The server reads a manual wall
//! clock, so every line is known in advance.

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "../examples/common/daytime.rs"]
mod daytime;
mod example_bin;
mod example_util;

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use example_util as util;
use reel::protocols::clock_text::{daytime_local, WallClock};

/// Sat Nov 21 23:53:24 2026 UTC.
const T: u64 = 1_795_305_204;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn line(t: SystemTime) -> Vec<u8> {
    format!("{}\r\n", daytime_local(t)).into_bytes()
}

fn server_on(listen: &str, clock: WallClock, tweak: impl FnOnce(&mut common::ServerArgs)) -> util::Server {
    let mut args = daytime::default_args();
    args.listen = listen.parse().expect("address");
    tweak(&mut args);
    util::serve(move |reactor| daytime::start_with_clock(reactor, &args, clock))
}

fn server(clock: WallClock) -> util::Server {
    server_on("127.0.0.1:0", clock, |_| {})
}

#[test]
fn tcp_sends_the_line_and_closes() {
    let clock = WallClock::manual(at(T));
    let server = server(clock.clone());
    let mut stream = util::connect(server.addr);
    assert_eq!(util::read_to_end(&mut stream), line(at(T)));
    clock.advance(Duration::from_secs(3_600 * 24 * 40 + 7));
    let mut stream = util::connect(server.addr);
    assert_eq!(util::read_to_end(&mut stream), line(at(T + 3_600 * 24 * 40 + 7)));
}

#[test]
fn tcp_ignores_what_the_client_sends() {
    let server = server(WallClock::manual(at(T)));
    let mut stream = util::connect(server.addr);
    stream.write_all(b"what time is it?\r\n").expect("write");
    assert_eq!(util::read_to_end(&mut stream), line(at(T)));
}

#[test]
fn udp_answers_any_datagram_with_the_line() {
    let server = server(WallClock::manual(at(T)));
    assert_eq!(util::udp_ask(server.addr, b""), line(at(T)));
    assert_eq!(util::udp_ask(server.addr, b"anything\n"), line(at(T)));
}

#[test]
fn tcp_and_udp_over_ipv6() {
    if !util::loopback_available(true) {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    }
    let server = server_on("[::1]:0", WallClock::manual(at(T)), |_| {});
    let mut stream = util::connect(server.addr);
    assert_eq!(util::read_to_end(&mut stream), line(at(T)));
    assert_eq!(util::udp_ask(server.addr, b"\n"), line(at(T)));
}

#[test]
fn over_max_conns_is_told_busy() {
    // A daytime connection ends as soon as it is served, so a limit of
    // zero is the one way to be over it for sure.
    let server = server_on("127.0.0.1:0", WallClock::manual(at(T)), |a| a.max_conns = 0);
    let mut stream = util::connect(server.addr);
    assert_eq!(util::read_to_end(&mut stream), b"error: server busy\n");
}

#[test]
fn reflector_ports_are_not_answered() {
    let server = server(WallClock::manual(at(T)));
    util::check_reflector_port_ignored(server.addr, 17, b"");
}

#[test]
fn the_system_clock_by_default() {
    let mut args = daytime::default_args();
    args.listen = "127.0.0.1:0".parse().expect("address");
    let server = util::serve(move |reactor| daytime::start(reactor, &args));
    let before = line(SystemTime::now());
    let answer = util::udp_ask(server.addr, b"");
    let after = line(SystemTime::now());
    assert!(answer == before || answer == after, "unexpected line {:?}", String::from_utf8_lossy(&answer));
}

fn run_client(addr: SocketAddr, timeout: Duration) -> (i32, Vec<u8>, Duration) {
    let out = util::SharedBuf::default();
    let mut reactor = util::reactor();
    let start = Instant::now();
    let status = daytime::start_client(&mut reactor, addr, timeout, Box::new(out.clone())).expect("client socket");
    util::run_client(&mut reactor);
    (status.get(), out.contents(), start.elapsed())
}

#[test]
fn client_prints_the_answer() {
    let server = server(WallClock::manual(at(T)));
    let (status, out, _) = run_client(server.addr, Duration::from_secs(2));
    assert_eq!(status, 0);
    assert_eq!(out, format!("{}\n", daytime_local(at(T))).as_bytes());
}

#[test]
fn client_gives_up_after_its_timeout() {
    // A socket that receives and never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("address");
    let (status, out, elapsed) = run_client(addr, Duration::from_millis(300));
    assert_eq!(status, 1);
    assert!(out.is_empty());
    assert!(elapsed >= Duration::from_millis(250), "gave up after {elapsed:?}");
    // The request did arrive, as one (empty) datagram.
    silent.set_read_timeout(Some(util::IO_TIMEOUT)).expect("timeout");
    let mut buf = [0u8; 16];
    let (n, _) = silent.recv_from(&mut buf).expect("the client's datagram");
    assert_eq!(n, 0);
}

#[test]
fn client_reports_a_refusal() {
    // A port nobody listens on: the ICMP refusal ends the wait at once.
    let addr = UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).expect("free port");
    let (status, out, elapsed) = run_client(addr, Duration::from_secs(5));
    assert_eq!(status, 1);
    assert!(out.is_empty());
    assert!(elapsed < Duration::from_secs(4), "waited {elapsed:?}");
}

/// The client ends with its status also when it cannot say why: stderr
/// closed (`2>&1 | true`), an error to report. It used to panic on the
/// failed `eprintln!` inside a callback, which the reactor caught and
/// logged, and then run on with nothing to do, for ever.
#[test]
fn the_client_exits_1_when_it_cannot_report_its_failure() {
    let addr = example_bin::unused_udp_addr().to_string();
    example_bin::assert_exits_1_with_stderr_closed("daytime", ["client", "--connect", &addr]);
}

/// Nor are the default ports of the examples' own UDP services: one
/// datagram forged from daytime's port 1313 to echo's 7007 used to bounce
/// between the two for ever.
#[test]
fn example_service_ports_are_not_answered() {
    let server = server(WallClock::manual(at(T)));
    util::check_example_ports_ignored(server.addr, b"");
}
