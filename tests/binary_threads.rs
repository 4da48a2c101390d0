//! Example binaries with `--threads 2` (PROTOCOLS.md, Conventions): each
//! reactor logs its own listening socket on the one shared address, the
//! contract is served, a port already in use is still refused with exit
//! status 1 and one clear line, and SIGINT/SIGTERM drain both reactors and
//! exit 0.

mod example_bin;
use example_bin::{example, spawn_logging, wait_with_timeout};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A running example; killed on drop if still running.
struct Running {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `name --threads 2 --listen 127.0.0.1:0 ARGS`; waits for every
/// reactor's log line; checks they name one address.
fn start(name: &str, args: &[&str], proto: &str) -> Running {
    let (child, log) = spawn_logging(name, ["--threads", "2", "--listen", "127.0.0.1:0"].iter().chain(args));
    let mut lines = log.lines();
    let suffix = format!(" ({proto})");
    let mut addrs: Vec<SocketAddr> = Vec::new();
    loop {
        let line = lines.next().expect("the server logs before serving").expect("stderr line");
        if let Some(rest) = line.split("listening on ").nth(1) {
            if rest.ends_with(&suffix) {
                addrs.push(rest.trim_end_matches(&suffix).parse().expect("logged address"));
            }
        }
        if line.contains("serving with 2 reactors") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    assert_eq!(addrs.len(), 2, "one {proto} socket per reactor: {addrs:?}");
    assert_eq!(addrs[0], addrs[1], "on one address");
    Running { child, addr: addrs[0] }
}

fn signal(r: &Running, sig: &str) {
    let status = Command::new("kill").args([sig, &r.child.id().to_string()]).status().expect("kill");
    assert!(status.success());
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s
}

/// Stops with `sig`; the exit status is 0.
fn stops_cleanly(mut r: Running, sig: &str) {
    signal(&r, sig);
    let status = wait_with_timeout(&mut r.child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit status after {sig}");
}

#[test]
fn echo_hello_with_two_threads_serves_tcp_and_udp_refuses_a_taken_port_and_stops_on_sigint() {
    let r = start("echo_hello", &[], "tcp");
    // Many connections, so both reactors serve some.
    let mut clients: Vec<TcpStream> = (0..20).map(|_| connect(r.addr)).collect();
    for (i, s) in clients.iter_mut().enumerate() {
        s.write_all(format!("n{i}\n").as_bytes()).expect("write");
        let expected = format!("Welcome!\nHello, n{i}!\n");
        let mut buf = vec![0; expected.len()];
        s.read_exact(&mut buf).expect("reply");
        assert_eq!(String::from_utf8_lossy(&buf), expected);
    }
    for i in 0..20 {
        let u = UdpSocket::bind("127.0.0.1:0").expect("bind");
        u.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        u.send_to(format!("u{i}").as_bytes(), r.addr).expect("send");
        let mut buf = [0; 64];
        let n = u.recv(&mut buf).expect("a UDP answer");
        assert_eq!(&buf[..n], format!("Hello, u{i}!").as_bytes());
    }
    // A second server on the port, threads or not: refused, one line.
    for threads in ["1", "2"] {
        let out = Command::new(example("echo_hello"))
            .args(["--threads", threads, "--listen", &r.addr.to_string()])
            .env("RUST_LOG", "off")
            .output()
            .expect("second instance");
        assert_eq!(out.status.code(), Some(1), "--threads {threads}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err:?}");
        assert!(err.contains("address already in use"), "{err:?}");
    }
    stops_cleanly(r, "-INT");
    for s in &mut clients {
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).expect("closed cleanly");
        assert!(rest.is_empty());
    }
}

#[test]
fn http_hello_with_two_threads_serves_and_stops_on_sigterm() {
    let r = start("http_hello", &[], "tcp");
    for _ in 0..10 {
        let mut s = connect(r.addr);
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("write");
        let mut response = String::new();
        s.read_to_string(&mut response).expect("response");
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with("<h1>Hello World</h1></body></html>"), "{response}");
    }
    stops_cleanly(r, "-TERM");
}

#[test]
fn chat_with_two_threads_joins_relays_and_says_goodbye_on_sigterm() {
    let r = start("chat", &[], "tcp");
    let mut members: Vec<BufReader<TcpStream>> = Vec::new();
    // Ten members of one room: with two reactors, some on each.
    for i in 0..10 {
        let mut s = connect(r.addr);
        s.write_all(format!("u{i} lobby\n").as_bytes()).expect("join");
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        reader.read_line(&mut line).expect("answer");
        assert_eq!(line, "success\n");
        // Everyone already in hears of the join.
        for (j, m) in members.iter_mut().enumerate() {
            let mut line = String::new();
            m.read_line(&mut line).expect("join line");
            assert!(line.ends_with(&format!("] * u{i} joined lobby\n")), "member {j}: {line:?}");
        }
        members.push(reader);
    }
    members[0].get_mut().write_all(b"hello all\n").expect("say");
    for m in &mut members[1..] {
        let mut line = String::new();
        m.read_line(&mut line).expect("message");
        assert!(line.ends_with("] u0: hello all\n"), "{line:?}");
    }
    stops_cleanly(r, "-TERM");
    for m in &mut members {
        let mut rest = String::new();
        m.read_to_string(&mut rest).expect("to the end");
        assert_eq!(rest, "* server shutting down\n");
    }
}

#[test]
fn factorial_with_two_threads_answers_from_either_reactor() {
    let r = start("factorial", &[], "udp");
    for n in [0, 5, 20] {
        let u = UdpSocket::bind("127.0.0.1:0").expect("bind");
        u.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        u.send_to(n.to_string().as_bytes(), r.addr).expect("send");
        let mut buf = [0; 64];
        let got = u.recv(&mut buf).expect("an answer");
        let expected: u128 = (1..=n as u128).product();
        assert_eq!(&buf[..got], expected.to_string().as_bytes());
    }
    stops_cleanly(r, "-INT");
}

#[test]
fn every_other_server_takes_threads() {
    for (name, request, expect) in [
        ("echo", &b"abc"[..], &b"abc"[..]),
        ("daytime", &b""[..], &b""[..]),
        ("timestamp", &b"x\n"[..], &b""[..]),
        ("framed", &b"\0\0\0\x04echo"[..], &b""[..]),
    ] {
        let r = start(name, &[], "tcp");
        let mut s = connect(r.addr);
        s.write_all(request).expect("write");
        let mut buf = [0; 256];
        let n = s.read(&mut buf).expect("an answer");
        assert!(n > 0, "{name} answers");
        assert!(buf[..n].starts_with(expect), "{name}: {:?}", String::from_utf8_lossy(&buf[..n]));
        stops_cleanly(r, "-TERM");
    }
}

mod tls_util;
mod tools;

/// Reads one line from a TLS client, byte by byte (bounded by the
/// socket's timeouts).
fn tls_line(c: &mut impl Read) -> String {
    let mut line = Vec::new();
    let mut byte = [0; 1];
    while line.last() != Some(&b'\n') {
        match c.read(&mut byte) {
            Ok(1) => line.push(byte[0]),
            other => panic!("a line over TLS: {other:?} after {:?}", String::from_utf8_lossy(&line)),
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

#[test]
fn chat_with_two_threads_serves_tls_and_its_unix_socket() {
    // With --threads > 1 chat runs its group variant: it must take the
    // same --tls-cert/--tls-key and --unix as the single reactor does.
    let cert = tls_util::TestCert::new(&["localhost"]);
    let dir = tools::TempDir::new("chat-threads-tls");
    let (cert_file, key_file) = cert.write_to(&dir.0);
    let sock = dir.0.join("chat.sock");
    let r = start(
        "chat",
        &[
            "--tls-cert",
            cert_file.to_str().expect("path"),
            "--tls-key",
            key_file.to_str().expect("path"),
            "--unix",
            sock.to_str().expect("path"),
        ],
        "tls",
    );
    let mut members = Vec::new();
    for i in 0..4 {
        let mut c = tls_util::client(r.addr, "localhost", cert.client_config());
        tls_util::send(&mut c, format!("t{i} lobby\n").as_bytes()).expect("join over TLS");
        assert_eq!(tls_line(&mut c), "success\n");
        members.push(c);
    }
    // The Unix socket serves the same contract over TLS too.
    let unix = std::os::unix::net::UnixStream::connect(&sock).expect("connect to the Unix socket");
    unix.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    let name = reel::tls::rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let session =
        reel::tls::rustls::ClientConnection::new(std::sync::Arc::new(cert.client_config()), name).expect("session");
    let mut unix = reel::tls::rustls::StreamOwned::new(session, unix);
    tls_util::send(&mut unix, b"u lobby\n").expect("join over the Unix socket");
    assert_eq!(tls_line(&mut unix), "success\n");
    stops_cleanly(r, "-TERM");
}

#[test]
fn http_hello_with_two_threads_serves_its_unix_socket_alone() {
    // `--unix` without `--listen`: no TCP at all, whatever the threads
    // (reactor 0 serves the Unix socket; the others had no counterpart of
    // its bind and the server failed to start).
    let dir = tools::TempDir::new("http-threads-unix");
    let sock = dir.0.join("http.sock");
    let mut child = Command::new(example("http_hello"))
        .args(["--threads", "2", "--unix", sock.to_str().expect("path")])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn example");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut log = Vec::new();
    while !log.iter().any(|l: &String| l.contains("listening on") && l.ends_with("(unix)")) {
        match lines.next() {
            Some(Ok(line)) => log.push(line),
            _ => panic!("the server ended before serving: {log:?}"),
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let r = Running { child, addr: "127.0.0.1:0".parse().expect("addr") };
    let mut s = std::os::unix::net::UnixStream::connect(&sock).expect("connect to the Unix socket");
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("write");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("response");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(log.iter().all(|l| !l.contains("(tcp)")), "no TCP listener: {log:?}");
    stops_cleanly(r, "-TERM");
}

#[test]
fn max_conns_counts_the_connections_of_every_reactor_together() {
    // `--max-conns 2 --threads 2`: two clients served in all, whichever
    // reactor the kernel hands each connection to (found by black-box
    // testing: each reactor used to allow 2, and 3 or 4 of 6 were served).
    let r = start("echo_hello", &["--max-conns", "2"], "tcp");
    let mut clients: Vec<BufReader<TcpStream>> = (0..6).map(|_| BufReader::new(connect(r.addr))).collect();
    let mut first_lines: Vec<String> = clients
        .iter_mut()
        .map(|c| {
            let mut line = String::new();
            c.read_line(&mut line).expect("a first line");
            line
        })
        .collect();
    first_lines.sort();
    assert_eq!(
        first_lines,
        [
            "Welcome!\n",
            "Welcome!\n",
            "error: server busy\n",
            "error: server busy\n",
            "error: server busy\n",
            "error: server busy\n"
        ],
    );
    // Places freed are places for the next clients (the server frees
    // them as it sees the closes: a new client is tried until then).
    drop(clients);
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    loop {
        let mut c = BufReader::new(connect(r.addr));
        let mut line = String::new();
        c.read_line(&mut line).expect("a first line");
        if line == "Welcome!\n" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the freed places never came back: {line:?}");
    }
    stops_cleanly(r, "-INT");
}
