//! The `factorial` example against its contract (docs/protocols.md): the digits
//! of n! for 0 <= n <= 10000 over UDP (IPv4 and IPv6), the error datagram
//! for anything else, other datagrams answered while a long one computes,
//! the reflector-port rule, and the client.

#[path = "../examples/common/mod.rs"]
mod common;
mod example_bin;
mod example_util;
#[path = "../examples/common/factorial.rs"]
mod factorial;

use std::net::UdpSocket;
use std::time::Duration;

use example_util as util;

const F20: &str = "2432902008176640000";
const F100: &str = "93326215443944152681699238856266700490715968264381621468592963895217599993229915608941463976156518286253697920827223758251185210916864000000000000000000000000";
const ERROR: &[u8] = b"error: expected an integer from 0 to 10000";

fn server_on(listen: &str) -> util::Server {
    let mut args = factorial::default_args();
    args.listen = listen.parse().expect("address");
    util::serve(move |reactor| factorial::start(reactor, &args))
}

fn server() -> util::Server {
    server_on("127.0.0.1:0")
}

#[test]
fn digits_by_hand_match_known_values() {
    assert_eq!(factorial::factorial_digits(0), "1");
    assert_eq!(factorial::factorial_digits(1), "1");
    assert_eq!(factorial::factorial_digits(5), "120");
    assert_eq!(factorial::factorial_digits(13), "6227020800");
    assert_eq!(factorial::factorial_digits(20), F20);
    assert_eq!(factorial::factorial_digits(100), F100);
    // Limb edges: a factor that makes a limb exactly 10^9.
    assert_eq!(factorial::factorial_digits(12), "479001600");
    let f1000 = factorial::factorial_digits(1000);
    assert_eq!(f1000.len(), 2568);
    assert!(f1000.starts_with("402387260077093773543702433923"));
}

#[test]
fn requests_are_parsed_strictly() {
    for (request, n) in [("0", 0), ("7", 7), (" 20\n", 20), ("\t100\r\n", 100), ("0010000", 10_000), ("10000", 10_000)]
    {
        assert_eq!(factorial::parse_request(request.as_bytes()), Some(n), "{request:?}");
    }
    for request in ["", " ", "abc", "-1", "+1", "10001", "1e3", "1 2", "99999999999999999999", "٣", "1.0"] {
        assert_eq!(factorial::parse_request(request.as_bytes()), None, "{request:?}");
    }
    assert_eq!(factorial::parse_request(b"\xff"), None);
}

#[test]
fn known_values_over_udp() {
    let server = server();
    assert_eq!(util::udp_ask(server.addr, b"0"), b"1");
    assert_eq!(util::udp_ask(server.addr, b"1\n"), b"1");
    assert_eq!(util::udp_ask(server.addr, b"20"), F20.as_bytes());
    assert_eq!(util::udp_ask(server.addr, b" 100 \n"), F100.as_bytes());
}

#[test]
fn ten_thousand_factorial_fits_in_one_datagram() {
    let server = server();
    let digits = util::udp_ask(server.addr, b"10000\n");
    assert_eq!(digits.len(), 35_660);
    assert!(digits.iter().all(u8::is_ascii_digit));
    assert!(digits.starts_with(b"2846259680917054518906413212119868890148"));
    assert_eq!(digits.iter().rev().take_while(|&&d| d == b'0').count(), 2_499);
    assert_eq!(digits.iter().map(|d| u64::from(d - b'0')).sum::<u64>(), 149_346);
}

#[test]
fn anything_else_gets_the_error_datagram() {
    let server = server();
    for request in [&b"abc"[..], b"10001", b"-1", b"", b"\n", b"3.5", b"\xff\xfe"] {
        assert_eq!(util::udp_ask(server.addr, request), ERROR, "{:?}", String::from_utf8_lossy(request));
    }
}

#[test]
fn other_datagrams_are_answered_while_long_ones_compute() {
    let server = server();
    let socket = util::udp_socket(server.addr);
    // Several long computations, then two requests answered inline and a
    // short computation: those come back while long ones are still running,
    // not after them all.
    const LONG: usize = 6;
    for _ in 0..LONG {
        socket.send_to(b"10000", server.addr).expect("send");
    }
    socket.send_to(b"abc", server.addr).expect("send");
    socket.send_to(b"3", server.addr).expect("send");
    let mut answers = Vec::new();
    let mut buf = vec![0u8; 65_536];
    for _ in 0..LONG + 2 {
        let (n, _) = socket.recv_from(&mut buf).expect("an answer");
        answers.push(buf[..n].to_vec());
    }
    let error_at = answers.iter().position(|a| a == ERROR).expect("the error answer");
    let last_long = answers.iter().rposition(|a| a.len() == 35_660).expect("long answers");
    assert!(error_at < last_long, "the error came after every long answer");
    assert!(answers.iter().any(|a| a == b"6"));
    assert_eq!(answers.iter().filter(|a| a.len() == 35_660).count(), LONG);
}

#[test]
fn over_ipv6() {
    if !util::loopback_available(true) {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    }
    let server = server_on("[::1]:0");
    assert_eq!(util::udp_ask(server.addr, b"20\n"), F20.as_bytes());
    assert_eq!(util::udp_ask(server.addr, b"-1"), ERROR);
}

#[test]
fn reflector_ports_are_not_answered() {
    // A request answered inline: the proof of "no answer" relies on the
    // server answering in order (see check_reflector_port_ignored), which
    // computed answers are not. The check comes before parsing anyway.
    let server = server();
    util::check_reflector_port_ignored(server.addr, 19, b"abc");
}

fn run_client(addr: std::net::SocketAddr, request: &str) -> (i32, Vec<u8>) {
    let out = util::SharedBuf::default();
    let mut reactor = util::reactor();
    let status =
        factorial::start_client(&mut reactor, addr, request.to_string(), Duration::from_secs(3), Box::new(out.clone()))
            .expect("client socket");
    util::run_client(&mut reactor);
    (status.get(), out.contents())
}

#[test]
fn client_prints_the_answer() {
    let server = server();
    assert_eq!(run_client(server.addr, "20"), (0, format!("{F20}\n").into_bytes()));
    assert_eq!(run_client(server.addr, "10001"), (1, Vec::new()));
}

#[test]
fn client_reports_a_refusal() {
    let addr = UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).expect("free port");
    assert_eq!(run_client(addr, "5"), (1, Vec::new()));
}

/// The client ends with its status also when it cannot say why: stderr
/// closed (`2>&1 | true`), an error to report. It used to panic on the
/// failed `eprintln!` inside a callback, which the reactor caught and
/// logged, and then run on with nothing to do, for ever.
#[test]
fn the_client_exits_1_when_it_cannot_report_its_failure() {
    let addr = example_bin::unused_udp_addr().to_string();
    example_bin::assert_exits_1_with_stderr_closed("factorial", ["client", "--connect", &addr, "5"]);
}

/// Nor are the default ports of the examples' own UDP services: one
/// datagram forged from daytime's port 1313 to echo's 7007 used to bounce
/// between the two for ever.
#[test]
fn example_service_ports_are_not_answered() {
    let server = server();
    util::check_example_ports_ignored(server.addr, b"abc");
}
