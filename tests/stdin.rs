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
