//! Standard input on a terminal: lines pasted at once arrive at once. A
//! terminal in canonical mode returns one line per read however much is
//! waiting, so a short read does not mean "drained": reel reads on until
//! the terminal would block (no new readiness edge would come for the
//! rest).
//!
//! The test runs itself as a child under `script(1)`, which gives the child
//! a pseudo-terminal as its standard input and copies what it is sent.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use reel::{Context, Protocol, Reactor};

const CHILD: &str = "REEL_STDIN_CHILD";

/// Counts the lines and the reads they came in; stops at three lines.
struct Lines {
    reads: usize,
    lines: Rc<std::cell::Cell<usize>>,
}

impl Protocol for Lines {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.reads += 1;
        let n = self.lines.get() + data.iter().filter(|&&b| b == b'\n').count();
        self.lines.set(n);
        if n >= 3 {
            println!("CHILD got {n} lines in {} reads", self.reads);
            cx.stop();
        }
    }
}

/// The child's side: reads standard input on the reactor until three
/// lines came, or gives up after 5 s.
#[test]
fn stdin_child() {
    if std::env::var_os(CHILD).is_none() {
        return; // only meaningful as the child of the test below
    }
    let mut reactor = Reactor::new().expect("reactor");
    let lines = Rc::new(std::cell::Cell::new(0));
    reactor.context().add_stdin(Lines { reads: 0, lines: Rc::clone(&lines) }).expect("stdin");
    let seen = Rc::clone(&lines);
    reactor.call_later(Duration::from_secs(5), move |cx| {
        println!("CHILD timed out with {} lines", seen.get());
        cx.stop();
    });
    // Tell the parent we are reading.
    println!("CHILD ready");
    reactor.run().expect("run");
}

#[test]
fn lines_pasted_into_a_terminal_arrive_at_once() {
    if Command::new("script").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "script(1) is missing, and CI is set (util-linux provides it)");
        eprintln!("skipped: script(1) is not installed");
        return;
    }
    let exe = std::env::current_exe().expect("test exe");
    let command = format!("{} --exact stdin_child --nocapture --test-threads 1", exe.display());
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env(CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn script");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains("CHILD") && tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(30)).expect("the child starts");
    assert!(first.contains("CHILD ready"), "{first}");
    // A paste: three lines in one write.
    stdin.write_all(b"one\ntwo\nthree\n").expect("paste");
    stdin.flush().expect("flush");
    let outcome = rx.recv_timeout(Duration::from_secs(20)).expect("the child answers");
    drop(stdin);
    let _ = child.wait();
    assert!(outcome.contains("CHILD got 3 lines"), "{outcome}");
}

const FILE_CHILD: &str = "REEL_STDIN_FILE_CHILD";

/// Reads everything on standard input (a regular file here), then reports
/// what it saw and whether standard input was ever writable.
struct ToEnd {
    bytes: usize,
    reads: usize,
}

impl Protocol for ToEnd {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        let me = cx.conn_id();
        println!("CHILD writable {} write_to {}", cx.is_open(me), cx.write_to(me, b"nope"));
    }
    fn data_received(&mut self, _cx: &mut Context<'_>, data: &[u8]) {
        self.bytes += data.len();
        self.reads += 1;
    }
    fn eof_received(&mut self, cx: &mut Context<'_>) {
        println!("CHILD read {} bytes to the end", self.bytes);
        cx.stop();
    }
}

/// The child's side of the regular-file test.
#[test]
fn stdin_file_child() {
    if std::env::var_os(FILE_CHILD).is_none() {
        return; // only meaningful as the child of the test below
    }
    let mut reactor = Reactor::new().expect("reactor");
    reactor.context().add_stdin(ToEnd { bytes: 0, reads: 0 }).expect("stdin");
    reactor.call_later(Duration::from_secs(5), |cx| {
        println!("CHILD timed out");
        cx.stop();
    });
    reactor.run().expect("run");
}

#[test]
fn standard_input_from_a_regular_file_is_read_to_the_end_and_never_written() {
    // epoll refuses regular files: reel keeps such input on its ready list
    // until the end instead of waiting for an edge that never comes.
    let path = std::env::temp_dir().join(format!("reel-stdin-{}.txt", std::process::id()));
    let content = "line\n".repeat(100_000);
    std::fs::write(&path, &content).expect("write the file");
    let exe = std::env::current_exe().expect("test exe");
    let out = Command::new(exe)
        .args(["--exact", "stdin_file_child", "--nocapture", "--test-threads", "1"])
        .env(FILE_CHILD, "1")
        .stdin(std::fs::File::open(&path).expect("open the file"))
        .output()
        .expect("run the child");
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("CHILD writable false write_to false"), "{stdout}");
    assert!(stdout.contains(&format!("CHILD read {} bytes to the end", content.len())), "{stdout}");
}

const PIPE_CHILD: &str = "REEL_STDIN_PIPE_CHILD";

/// Counts bytes; in "pause" mode pauses on its first read and resumes
/// 300 ms later; closes at EOF; reports how it ended.
struct Piped {
    bytes: usize,
    pause: bool,
}

impl Protocol for Piped {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.bytes += data.len();
        if self.pause {
            self.pause = false;
            cx.pause_reading();
            cx.set_timer(Duration::from_millis(300));
        }
    }
    fn timer_fired(&mut self, cx: &mut Context<'_>, _: reel::TimerId) {
        cx.resume_reading();
    }
    fn eof_received(&mut self, cx: &mut Context<'_>) {
        cx.close();
    }
    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: reel::Reason) {
        println!("CHILD bytes {} reason {reason:?}", self.bytes);
        cx.stop();
    }
}

/// The child's side of the pipe tests.
#[test]
fn stdin_pipe_child() {
    let Some(mode) = std::env::var_os(PIPE_CHILD) else {
        return; // only meaningful as the child of the tests below
    };
    let mut reactor = Reactor::new().expect("reactor");
    reactor.context().add_stdin(Piped { bytes: 0, pause: mode == "pause" }).expect("stdin");
    reactor.call_later(Duration::from_secs(5), |cx| {
        println!("CHILD timed out");
        cx.stop();
    });
    reactor.run().expect("run");
}

/// Runs the child with `first` then `rest` written to its standard input
/// (a pipe), `gap` apart, then closes the pipe; returns its report.
fn pipe_child(mode: &str, first: &[u8], gap: Duration, rest: &[u8]) -> String {
    let exe = std::env::current_exe().expect("test exe");
    let mut child = Command::new(exe)
        .args(["--exact", "stdin_pipe_child", "--nocapture", "--test-threads", "1"])
        .env(PIPE_CHILD, mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(first).expect("write");
    stdin.flush().expect("flush");
    // Not a wait for anything: the second write must come later.
    std::thread::sleep(gap);
    stdin.write_all(rest).expect("write");
    drop(stdin);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut out).expect("read");
    let _ = child.wait();
    out.lines().filter(|l| l.contains("CHILD")).collect::<Vec<_>>().join("\n")
}

/// Found by review: a pipe's hang-up (its writer closed) was taken for a
/// TCP reset, ending the connection with `Reset` and losing what was
/// still in the pipe.
#[test]
fn a_pipe_closed_by_its_writer_ends_cleanly() {
    let out = pipe_child("plain", b"hello\n", Duration::ZERO, b"");
    assert!(out.contains("CHILD bytes 6 reason PeerClosed"), "{out}");
}

#[test]
fn a_paused_pipe_keeps_what_its_writer_left_before_closing() {
    let out = pipe_child("pause", &[b'x'; 10], Duration::from_millis(100), &[b'y'; 10]);
    assert!(out.contains("CHILD bytes 20 reason PeerClosed"), "{out}");
}
