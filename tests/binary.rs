//! A built example binary end to end: it starts, serves, refuses a port
//! already in use with exit status 1 and one clear line, and exits 0 on
//! SIGINT, after which the port can be bound again at once.

mod example_bin;
use example_bin::{example, spawn_logging, wait_with_timeout};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Starts the example logging at `info`; returns it and its log lines.
fn spawn(name: &str, args: &[&str]) -> (Child, std::io::Lines<BufReader<std::process::ChildStderr>>) {
    let (child, log) = spawn_logging(name, args);
    (child, log.lines())
}

/// Starts the example; returns it and the TCP address it logged.
fn start(name: &str, args: &[&str]) -> (Child, SocketAddr) {
    let (child, mut lines) = spawn(name, args);
    let addr = loop {
        let line = lines.next().expect("the server logs before serving").expect("stderr line");
        if let Some(rest) = line.split("listening on ").nth(1) {
            if rest.ends_with("(tcp)") {
                break rest.trim_end_matches(" (tcp)").parse().expect("logged address");
            }
        }
    };
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

#[test]
fn echo_hello_binary_serves_refuses_a_taken_port_and_stops_on_sigint() {
    let (mut server, addr) = start("echo_hello", &["--listen", "127.0.0.1:0"]);

    // It serves.
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    s.write_all(b"binary\n").expect("write");
    let mut buf = [0u8; 24];
    s.read_exact(&mut buf).expect("reply");
    assert_eq!(&buf, b"Welcome!\nHello, binary!\n");

    // A second instance on the same port: one clear line, status 1.
    let out = Command::new(example("echo_hello"))
        .args(["--listen", &addr.to_string()])
        .env("RUST_LOG", "off")
        .output()
        .expect("second instance");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.contains(&addr.to_string()) && err.contains("address already in use"), "{err:?}");
    assert!(!err.contains("panicked"));

    // SIGINT: graceful stop, status 0; the open client sees the close.
    let status = Command::new("kill").args(["-INT", &server.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let status = wait_with_timeout(&mut server, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit status after SIGINT");
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("closed cleanly");
    assert!(rest.is_empty());

    // The port can be bound again at once.
    TcpListener::bind(addr).expect("rebind right after the stop");
}

#[test]
fn bad_arguments_exit_2_and_help_exits_0() {
    let out = Command::new(example("echo_hello")).arg("--bogus").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(!out.stderr.is_empty());
    let out = Command::new(example("echo_hello")).arg("--help").output().expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("usage:"));
}

#[test]
fn sigterm_while_a_client_is_pushed_back_drains_for_the_grace_period_and_exits_0() {
    let (mut server, addr) = start("echo_hello", &["--listen", "127.0.0.1:0"]);
    let mut s = TcpStream::connect(addr).expect("connect");
    let mut welcome = [0u8; 9];
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    s.read_exact(&mut welcome).expect("welcome");
    // Lines until the sends block for good: the server has stopped reading
    // us, with replies queued that we do not read. (Blocked sends alone
    // prove nothing yet: the kernel's buffers fill before the server has
    // read; so the client checks that nothing more goes out for a while.)
    s.set_nonblocking(true).expect("nonblocking");
    let line = [b"x".repeat(999), b"\n".to_vec()].concat();
    let mut sent = 0usize;
    let mut quiet_rounds = 0;
    while quiet_rounds < 5 {
        let before = sent;
        loop {
            match s.write(&line) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("write: {e}"),
            }
            assert!(sent < 256 << 20, "256 MiB went out without push-back");
        }
        quiet_rounds = if sent == before { quiet_rounds + 1 } else { 0 };
        // Nothing to await: this is a check that nothing happens.
        std::thread::sleep(Duration::from_millis(100));
    }
    let start = Instant::now();
    let status = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let status = wait_with_timeout(&mut server, Duration::from_secs(15));
    let took = start.elapsed();
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
    // The close could not flush to a client that does not read: the drain
    // waited for the whole grace period (5 s), then ended it.
    assert!(took >= Duration::from_millis(4500), "the drain took only {took:?}");
}

#[test]
fn help_says_what_addr_looks_like() {
    let out = Command::new(example("echo_hello")).arg("--help").output().expect("run");
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--listen ADDR"), "{help}");
    assert!(
        help.contains("ADDR is an IP address and a port: 127.0.0.1:9999, or [::1]:9999 for IPv6"),
        "--help explains ADDR: {help}"
    );
}

#[test]
fn a_bad_address_gets_a_message_that_says_why() {
    let cases = [
        (vec!["--listen", "127.0.0.1:99999"], "error: --listen 127.0.0.1:99999: port must be 0-65535"),
        (vec!["--listen", "127.0.0.1:-1"], "error: --listen 127.0.0.1:-1: the port \"-1\" is not a number (0-65535)"),
        (vec!["--listen", "127.0.0.1"], "error: --listen 127.0.0.1: expected IP:PORT, such as 127.0.0.1:9999 or [::1]:9999"),
        (vec!["--listen", "::1:9999"], "error: --listen ::1:9999: an IPv6 address needs brackets, as in [::1]:9999"),
        (
            vec!["--listen", "localhost:9999"],
            "error: --listen localhost:9999: \"localhost\" is not an IP address (a host name is not resolved: use 127.0.0.1 or [::1])",
        ),
        (vec!["--listen", "[1.2.3.4]:9"], "error: --listen [1.2.3.4]:9: \"1.2.3.4\" is not an IPv6 address"),
        (vec!["client", "--connect", "127.0.0.1:70000"], "error: --connect 127.0.0.1:70000: port must be 0-65535"),
    ];
    for (args, expected) in cases {
        let out = Command::new(example("echo_hello")).args(&args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().next(), Some(expected), "{args:?}: {err}");
    }
}

#[test]
fn log_lines_name_the_program() {
    let (mut child, mut lines) = spawn("echo_hello", &["--listen", "127.0.0.1:0"]);
    let first = lines.next().expect("a log line").expect("stderr line");
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    wait_with_timeout(&mut child, Duration::from_secs(10));
    assert!(first.starts_with("[INFO  echo_hello] listening on 127.0.0.1:"), "{first:?}");
}
