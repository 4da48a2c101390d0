//! The `echo_hello` example against its contract (docs/protocols.md): welcome,
//! `Hello, X!` per line whatever the segmentation, `exit`, the line limit,
//! the idle timeout, the connection limit, UDP over IPv4 and IPv6, the
//! reflector-port rule, and the client.

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "../examples/common/echo_hello.rs"]
mod echo_hello;
mod example_bin;
mod example_util;

use std::io::{BufReader, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use example_util as util;
use reel::protocols::echo::is_reflector_port;

fn server_on(listen: &str, tweak: impl FnOnce(&mut common::ServerArgs)) -> util::Server {
    let mut args = echo_hello::default_args();
    args.listen = listen.parse().expect("address");
    tweak(&mut args);
    util::serve(move |reactor| echo_hello::start(reactor, &args))
}

fn server() -> util::Server {
    server_on("127.0.0.1:0", |_| {})
}

/// Sends `input` in one write, half-closes, and returns all the server
/// said.
fn exchange(addr: SocketAddr, input: &[u8]) -> Vec<u8> {
    let mut stream = util::connect(addr);
    stream.write_all(input).expect("write");
    stream.shutdown(Shutdown::Write).expect("shutdown");
    util::read_to_end(&mut stream)
}

#[test]
fn welcome_then_hello_per_line_then_exit() {
    let server = server();
    let mut stream = util::connect(server.addr);
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    assert_eq!(util::read_line(&mut reader), b"Welcome!\n");
    for name in ["Michael", "Tracy", "Sarah"] {
        stream.write_all(format!("{name}\n").as_bytes()).expect("write");
        assert_eq!(util::read_line(&mut reader), format!("Hello, {name}!\n").as_bytes());
    }
    stream.write_all(b"exit\n").expect("write");
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut rest).expect("end of stream after exit");
    assert_eq!(rest, b"");
}

#[test]
fn pipelined_lines_in_one_write() {
    let server = server();
    let reply = exchange(server.addr, b"a\nb\r\n\n\xff\xfeb\xc3\xa9\nexit\nnot answered\n");
    assert_eq!(reply, b"Welcome!\nHello, a!\nHello, b!\nHello, !\nHello, \xff\xfeb\xc3\xa9!\n".as_slice());
}

#[test]
fn one_byte_at_a_time() {
    let server = server();
    let mut stream = util::connect(server.addr);
    for &byte in b"Tracy\r\nSa\rrah\nexit\n" {
        stream.write_all(&[byte]).expect("write");
        stream.flush().expect("flush");
    }
    assert_eq!(util::read_to_end(&mut stream), b"Welcome!\nHello, Tracy!\nHello, Sa\rrah!\n");
}

#[test]
fn last_line_without_newline_is_answered_at_eof() {
    let server = server();
    assert_eq!(exchange(server.addr, b"one\nbob"), b"Welcome!\nHello, one!\nHello, bob!\n");
    assert_eq!(exchange(server.addr, b""), b"Welcome!\n");
}

#[test]
fn a_line_of_16_kib_is_fine_one_byte_more_is_too_long() {
    let server = server();
    let mut at_limit = vec![b'x'; 16 * 1024];
    at_limit.extend_from_slice(b"\r\nexit\n");
    let mut expected = b"Welcome!\nHello, ".to_vec();
    expected.extend_from_slice(&[b'x'; 16 * 1024]);
    expected.extend_from_slice(b"!\n");
    assert_eq!(exchange(server.addr, &at_limit), expected);

    let mut over = b"first\n".to_vec();
    over.extend_from_slice(&[b'y'; 16 * 1024 + 1]);
    over.extend_from_slice(b"\nsecond\n");
    assert_eq!(exchange(server.addr, &over), b"Welcome!\nHello, first!\nerror: line too long\n");

    // Refused as soon as the limit is passed, before any newline arrives.
    let mut stream = util::connect(server.addr);
    stream.write_all(&[b'z'; 20 * 1024]).expect("write");
    assert_eq!(util::read_to_end(&mut stream), b"Welcome!\nerror: line too long\n");
}

#[test]
fn idle_connection_is_closed() {
    let server = server_on("127.0.0.1:0", |args| args.idle_timeout = Duration::from_millis(300));
    let mut stream = util::connect(server.addr);
    let start = Instant::now();
    assert_eq!(util::read_to_end(&mut stream), b"Welcome!\n");
    assert!(start.elapsed() >= Duration::from_millis(250), "closed after {:?}", start.elapsed());
}

#[test]
fn over_max_conns_is_told_busy() {
    let server = server_on("127.0.0.1:0", |args| args.max_conns = 1);
    let mut first = util::connect(server.addr);
    let mut reader = BufReader::new(first.try_clone().expect("clone"));
    assert_eq!(util::read_line(&mut reader), b"Welcome!\n");
    let mut second = util::connect(server.addr);
    assert_eq!(util::read_to_end(&mut second), b"error: server busy\n");
    // The first is still served.
    first.write_all(b"still\n").expect("write");
    assert_eq!(util::read_line(&mut reader), b"Hello, still!\n");
}

#[test]
fn many_clients_at_once() {
    let server = server();
    let mut streams: Vec<_> = (0..20).map(|_| util::connect(server.addr)).collect();
    for (i, s) in streams.iter_mut().enumerate() {
        s.write_all(format!("client{i}\nexit\n").as_bytes()).expect("write");
    }
    for (i, s) in streams.iter_mut().enumerate() {
        assert_eq!(util::read_to_end(s), format!("Welcome!\nHello, client{i}!\n").as_bytes());
    }
}

#[test]
fn udp_hello_over_ipv4() {
    let server = server();
    assert_eq!(util::udp_ask(server.addr, b"bob\n"), b"Hello, bob!");
    assert_eq!(util::udp_ask(server.addr, b"bob\r\n"), b"Hello, bob!");
    assert_eq!(util::udp_ask(server.addr, b"two words"), b"Hello, two words!");
    assert_eq!(util::udp_ask(server.addr, b""), b"Hello, !");
    assert_eq!(util::udp_ask(server.addr, b"\xff\r\n\n"), b"Hello, \xff!");
}

#[test]
fn tcp_and_udp_over_ipv6() {
    if !util::loopback_available(true) {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    }
    let server = server_on("[::1]:0", |_| {});
    assert!(server.addr.is_ipv6());
    assert_eq!(exchange(server.addr, b"six\n"), b"Welcome!\nHello, six!\n");
    assert_eq!(util::udp_ask(server.addr, b"six\n"), b"Hello, six!");
}

#[test]
fn reflector_ports_are_not_answered() {
    for port in [0, 7, 13, 17, 19, 37] {
        assert!(is_reflector_port(SocketAddr::from(([127, 0, 0, 1], port))), "port {port}");
        assert!(is_reflector_port(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port))), "port {port}");
    }
    for port in [1, 8, 9999, 40000] {
        assert!(!is_reflector_port(SocketAddr::from(([127, 0, 0, 1], port))), "port {port}");
    }
    let server = server();
    util::check_reflector_port_ignored(server.addr, 7, b"loop");
}

#[test]
fn client_greets_and_exits() {
    let server = server();
    let out = util::SharedBuf::default();
    let mut reactor = util::reactor();
    let names = vec![b"Michael".to_vec(), b"Tracy".to_vec(), b"Sarah".to_vec()];
    let status = echo_hello::start_client(&mut reactor, server.addr, names, Box::new(out.clone()));
    util::run_client(&mut reactor);
    assert_eq!(status.get(), 0);
    assert_eq!(out.contents(), b"Welcome!\nHello, Michael!\nHello, Tracy!\nHello, Sarah!\n");
}

#[test]
fn client_reports_a_refused_connection() {
    // A port nobody listens on: bind one, note it, close it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port");
    let out = util::SharedBuf::default();
    let mut reactor = util::reactor();
    let status = echo_hello::start_client(&mut reactor, addr, vec![b"x".to_vec()], Box::new(out.clone()));
    util::run_client(&mut reactor);
    assert_eq!(status.get(), 1);
    assert!(out.contents().is_empty());
}

/// The client ends with its status also when it cannot say why: stderr
/// closed (`2>&1 | true`), an error to report. It used to panic on the
/// failed `eprintln!` inside a callback, which the reactor caught and
/// logged, and then run on with nothing to do, for ever.
#[test]
fn the_client_exits_1_when_it_cannot_report_its_failure() {
    let addr = example_bin::refused_tcp_addr().to_string();
    example_bin::assert_exits_1_with_stderr_closed("echo_hello", ["client", "--connect", &addr]);
}

/// `--help` into a closed pipe (`echo_hello --help | true`): status 0,
/// nothing on stderr (it used to panic, status 101).
#[test]
fn help_to_a_closed_stdout_exits_0_silently() {
    let (status, err) =
        example_bin::run_with_closed("echo_hello", ["--help"], example_bin::Closed::Stdout, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "stderr: {err:?}");
    assert_eq!(err, "");
}

/// A usage error with stderr closed (`echo_hello --bogus 2>&1 | true`):
/// still status 2 (it used to panic, status 101).
#[test]
fn a_usage_error_to_a_closed_stderr_exits_2() {
    let (status, out) =
        example_bin::run_with_closed("echo_hello", ["--bogus"], example_bin::Closed::Stderr, Duration::from_secs(10));
    assert_eq!(status.code(), Some(2), "stdout: {out:?}");
    assert_eq!(out, "");
}

/// Nor are the default ports of the examples' own UDP services: one
/// datagram forged from daytime's port 1313 to echo's 7007 used to bounce
/// between the two for ever.
#[test]
fn example_service_ports_are_not_answered() {
    let server = server();
    util::check_example_ports_ignored(server.addr, b"loop");
}
