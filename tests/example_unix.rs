//! `--unix PATH` on the stream servers (PROTOCOLS.md, Conventions): the
//! same contract on a Unix socket. echo_hello beside TCP and alone (the
//! built binary: `--unix` without `--listen` serves only there, a live
//! socket is refused with one line, SIGINT removes the file), http_hello
//! through `curl --unix-socket` with keep-alive, and chat with a member on
//! the Unix socket and one on TCP in the same room; daytime and timestamp
//! on a Unix socket alone.

mod example_bin;
use example_bin::{example, spawn_logging, wait_with_timeout};

#[path = "../examples/common/chat.rs"]
mod chat;
#[path = "../examples/common/mod.rs"]
mod common;
#[path = "../examples/common/daytime.rs"]
mod daytime;
#[path = "../examples/common/echo_hello.rs"]
mod echo_hello;
mod example_util;
#[path = "../examples/common/http_hello.rs"]
mod http_hello;
#[path = "../examples/common/timestamp.rs"]
mod timestamp;
mod tls_util;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use example_util as util;

fn temp_path(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("reel-ex-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

fn connect(path: &Path) -> UnixStream {
    let s = UnixStream::connect(path).unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
    s.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(util::IO_TIMEOUT)).unwrap();
    s
}

fn line(r: &mut impl BufRead) -> String {
    let mut l = String::new();
    r.read_line(&mut l).expect("read a line");
    l
}

/// echo_hello's arguments for a free loopback port and the Unix socket `path`.
fn echo_hello_args(path: &Path) -> common::ServerArgs {
    let mut args = echo_hello::default_args();
    args.listen = "127.0.0.1:0".parse().unwrap();
    args.listen_given = true;
    args.unix = Some(path.to_path_buf());
    args
}

#[test]
fn echo_hello_on_a_unix_socket_beside_tcp() {
    let path = temp_path("echo_hello.sock");
    let args = echo_hello_args(&path);
    let server = util::serve(move |reactor| echo_hello::start(reactor, &args));
    let s = connect(&path);
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(line(&mut r), "Welcome!\n");
    (&s).write_all(b"Unix\nSocket\r\nexit\nnot answered\n").unwrap();
    assert_eq!(line(&mut r), "Hello, Unix!\n");
    assert_eq!(line(&mut r), "Hello, Socket!\n");
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "closed after exit: {rest:?}");
    // TCP still serves the same contract.
    let mut tcp = util::connect(server.addr);
    let mut tr = BufReader::new(tcp.try_clone().unwrap());
    assert_eq!(util::read_line(&mut tr), b"Welcome!\n");
    tcp.write_all(b"tcp\n").unwrap();
    assert_eq!(util::read_line(&mut tr), b"Hello, tcp!\n");
    server.stop();
    assert!(!path.exists(), "the socket file is removed at the stop");
}

#[test]
fn echo_hello_binary_with_unix_only() {
    let path = temp_path("echo_hello_bin.sock");
    let (mut child, mut log) = spawn_logging("echo_hello", [OsStr::new("--unix"), path.as_os_str()]);
    let first = line(&mut log);
    assert!(first.contains(&format!("listening on {} (unix)", path.display())), "{first}");
    let log_rest = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = log.read_to_string(&mut rest);
        rest
    });
    // The contract over the socket.
    let s = connect(&path);
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(line(&mut r), "Welcome!\n");
    (&s).write_all(b"bin\n").unwrap();
    assert_eq!(line(&mut r), "Hello, bin!\n");
    // A second server on the same live socket: one clear line, status 1.
    let second = Command::new(example("echo_hello")).arg("--unix").arg(&path).output().expect("run a second one");
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("another server is listening"), "{err}");
    // SIGINT: a clean stop, the file removed.
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    assert_eq!(wait_with_timeout(&mut child, Duration::from_secs(10)).code(), Some(0));
    let rest = log_rest.join().unwrap();
    assert!(!rest.contains("(tcp)"), "no TCP listener without --listen: {rest}");
    assert!(!path.exists(), "the socket file is removed at the stop");
}

#[test]
fn http_hello_through_curl_unix_socket_with_keep_alive() {
    let path = temp_path("http_hello.sock");
    let p = path.clone();
    let server = util::serve(move |reactor| {
        let mut args = common::ServerArgs::new("127.0.0.1:0", 0);
        args.unix = Some(p);
        http_hello::start(reactor, &args);
        "127.0.0.1:9".parse().unwrap() // not served: --unix alone
    });
    let out = Command::new("curl")
        .args(["-sS", "-v", "--max-time", "5", "--unix-socket"])
        .arg(&path)
        .args(["http://localhost/", "http://localhost/"])
        .output()
        .expect("run curl");
    let body = String::from_utf8_lossy(&out.stdout);
    let verbose = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "curl failed: {verbose}");
    assert_eq!(body.matches("<h1>Hello World</h1>").count(), 2, "{body}");
    assert!(verbose.contains("200 OK"), "{verbose}");
    assert!(
        verbose.contains("Re-using existing connection") || verbose.contains("Reusing existing"),
        "one connection for both requests: {verbose}"
    );
    server.stop();
}

#[test]
fn chat_members_on_unix_and_tcp_share_a_room() {
    let path = temp_path("chat.sock");
    let p = path.clone();
    let server = util::serve(move |reactor| {
        let mut args = chat::ChatArgs::default();
        args.server.listen = "127.0.0.1:0".parse().unwrap();
        args.server.listen_given = true;
        args.server.unix = Some(p);
        // With both, `start` returns the TCP listener.
        let tcp = chat::start(reactor, &args);
        reactor.listener_addr(tcp).expect("tcp address")
    });
    let u = connect(&path);
    let mut ur = BufReader::new(u.try_clone().unwrap());
    (&u).write_all(b"alice lobby\n").unwrap();
    assert_eq!(line(&mut ur), "success\n");
    let mut t = util::connect(server.addr);
    let mut tr = BufReader::new(t.try_clone().unwrap());
    t.write_all(b"bob lobby\n").unwrap();
    assert_eq!(util::read_line(&mut tr), b"success\n");
    assert!(line(&mut ur).ends_with("* bob joined lobby\n"));
    (&u).write_all(b"hi from unix\n").unwrap();
    let got = String::from_utf8(util::read_line(&mut tr)).unwrap();
    assert!(got.ends_with("alice: hi from unix\n"), "{got}");
    t.write_all(b"hi from tcp\n").unwrap();
    assert!(line(&mut ur).ends_with("bob: hi from tcp\n"));
    (&u).write_all(b"quit\n").unwrap();
    assert_eq!(line(&mut ur), "quit\n");
    let left = String::from_utf8(util::read_line(&mut tr)).unwrap();
    assert!(left.ends_with("* alice left lobby\n"), "{left}");
    server.stop();
}

#[test]
fn daytime_and_timestamp_on_unix_sockets_alone() {
    let (dpath, tpath) = (temp_path("daytime.sock"), temp_path("timestamp.sock"));
    let (d, t) = (dpath.clone(), tpath.clone());
    let server = util::serve(move |reactor| {
        let mut args = daytime::default_args();
        args.unix = Some(d);
        daytime::start(reactor, &args);
        let mut args = timestamp::default_args();
        args.unix = Some(t);
        timestamp::start(reactor, &args)
    });
    // daytime: one line ending in CRLF, then the close.
    let mut s = connect(&dpath);
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    assert!(all.ends_with("\r\n") && all.matches('\n').count() == 1 && all.len() > 20, "{all:?}");
    // timestamp: "[ctime] X" per line.
    let s = connect(&tpath);
    let mut r = BufReader::new(s.try_clone().unwrap());
    (&s).write_all(b"over unix\n").unwrap();
    let got = line(&mut r);
    assert!(got.starts_with('[') && got.ends_with("] over unix\n"), "{got:?}");
    server.stop();
}

#[test]
fn with_a_certificate_the_unix_socket_serves_tls_too() {
    let path = temp_path("echo_hello_tls.sock");
    let dir = temp_path("echo_hello_tls_cert");
    std::fs::create_dir_all(&dir).unwrap();
    let cert = tls_util::TestCert::new(&["localhost"]);
    let (cert_file, key_file) = cert.write_to(&dir);
    let mut args = echo_hello_args(&path);
    args.tls_cert = Some(cert_file);
    args.tls_key = Some(key_file);
    let server = util::serve(move |reactor| echo_hello::start(reactor, &args));
    let name = reel::tls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let session = reel::tls::rustls::ClientConnection::new(std::sync::Arc::new(cert.client_config()), name).unwrap();
    let mut tls = reel::tls::rustls::StreamOwned::new(session, connect(&path));
    assert_eq!(tls_util::read_n(&mut tls, 9).unwrap(), b"Welcome!\n");
    tls_util::send(&mut tls, b"Unix over TLS\n").unwrap();
    assert_eq!(tls_util::read_n(&mut tls, 22).unwrap(), b"Hello, Unix over TLS!\n");
    // A cleartext client on the same socket gets no greeting.
    let mut plain = connect(&path);
    plain.write_all(b"hello\n").unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(!got.starts_with(b"Welcome!"), "cleartext served on a TLS socket: {got:?}");
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
