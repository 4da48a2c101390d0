//! The example programs' binaries, for tests that run them as processes:
//! built once, started with their log on a pipe, and waited for with a
//! time limit.

#![allow(dead_code)] // each test binary uses its own subset

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The path of example `name`'s binary, built (or brought up to date) by
/// `cargo build --example NAME` once per test process: a binary left from
/// an older tree is never run.
pub fn example(name: &str) -> PathBuf {
    static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let exe = std::env::current_exe().expect("test exe");
    let path = exe.parent().and_then(|d| d.parent()).expect("target dir").join("examples").join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.get_or_insert_with(HashSet::new).insert(name.to_string()) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo).args(["build", "--example", name]).status().expect("cargo build");
        assert!(status.success(), "building example {name}");
    }
    path
}

/// Starts example `name` with `args`, logging at `info`; returns it and
/// its log (stderr). Standard input and output are closed. The caller
/// reads the log, or drains it on a thread, so that the example never
/// blocks on a full pipe.
pub fn spawn_logging(name: &str, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> (Child, BufReader<ChildStderr>) {
    let mut child = Command::new(example(name))
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn example {name}: {e}"));
    let stderr = child.stderr.take().expect("stderr");
    (child, BufReader::new(stderr))
}

/// Waits for `child` to exit; kills it and fails the test past `limit`.
pub fn wait_with_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the example did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A standard stream for a child whose reader is already gone, as in
/// `example | true`: every write to it fails (`EPIPE`), and the child's
/// first write finds it so (the peer is closed before the child starts).
pub fn closed_pipe() -> Stdio {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socket pair");
    drop(theirs);
    Stdio::from(std::os::fd::OwnedFd::from(ours))
}

/// Which of a child's outputs a test closes ([`run_with_closed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Stdout,
    Stderr,
    Both,
}

/// Runs example `name` with `args` and stderr closed (`2>&1 | true`),
/// and checks that it ends with status 1 within 10 s: a client that
/// cannot report its failure still ends, with its status.
pub fn assert_exits_1_with_stderr_closed(name: &str, args: impl IntoIterator<Item = impl AsRef<OsStr>>) {
    let (status, out) = run_with_closed(name, args, Closed::Stderr, Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "stdout: {out:?}");
}

/// Runs example `name` with `args` (standard input empty, `RUST_LOG`
/// at `info`) with the outputs `closed` says closed ([`closed_pipe`]),
/// and waits for it under `limit` (failing the test past it); returns its
/// exit status and whatever it wrote to an output left open.
pub fn run_with_closed(
    name: &str,
    args: impl IntoIterator<Item = impl AsRef<OsStr>>,
    closed: Closed,
    limit: Duration,
) -> (ExitStatus, String) {
    let open_or_closed = |close: bool| if close { closed_pipe() } else { Stdio::piped() };
    let mut child = Command::new(example(name))
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(open_or_closed(closed != Closed::Stderr))
        .stderr(open_or_closed(closed != Closed::Stdout))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn example {name}: {e}"));
    let mut open: Box<dyn std::io::Read + Send> = match (child.stdout.take(), child.stderr.take()) {
        (Some(out), _) => Box::new(out),
        (None, Some(err)) => Box::new(err),
        (None, None) => Box::new(std::io::empty()),
    };
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut open, &mut text);
        text
    });
    let status = wait_with_timeout(&mut child, limit);
    (status, reader.join().expect("reader thread"))
}

/// A TCP address on the loopback where nothing listens (a connection to
/// it is refused).
pub fn refused_tcp_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local address")
}

/// A UDP address on the loopback where nothing is bound (a datagram to it
/// is answered by "port unreachable", or by nothing).
pub fn unused_udp_addr() -> std::net::SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("local address")
}
