//! Outside programs the tests run (curl, openssl, headless Chromium):
//! looked up, or skipped with a note (a missing one fails the test under
//! CI, the `CI` environment variable set, where `.ci/run` installs it),
//! and run with their output collected on threads and a time limit past
//! which they are killed and the test fails.

#![allow(dead_code)] // each test binary uses its own subset

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long an outside program may run before it is killed and the test
/// fails.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// A missing tool: panics under CI (`.ci/run` installs it), else notes
/// the skip.
fn missing(what: &str, install: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what}, and CI is set: .ci/run installs it");
    }
    eprintln!("skipped: {what} (apt-get install {install})");
}

/// Whether `tool` runs here; if not, panics under CI, else notes the skip.
pub fn have(tool: &str, install: &str) -> bool {
    match Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(_) => true,
        Err(e) => {
            missing(&format!("{tool} cannot run here ({e})"), install);
            false
        }
    }
}

/// A fresh, empty directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("reel-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Kills a child left running when a test ends early.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs `cmd` with `input` on stdin; its stdout and stderr, and whether
/// it succeeded. Both pipes are read on threads, so that a chatty program
/// never blocks. Killed (and the test failed) past [`TOOL_TIMEOUT`].
pub fn run(mut cmd: Command, input: &[u8]) -> (String, String, bool) {
    let child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut child = Reaped(child);
    let mut stdin = child.0.stdin.take().expect("stdin");
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
        // Dropped here: the end of input.
    });
    let mut stdout = child.0.stdout.take().expect("stdout");
    let mut stderr = child.0.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let start = Instant::now();
    let status = loop {
        match child.0.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < TOOL_TIMEOUT => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                drop(child); // kills it, which closes the pipes
                panic!("{cmd:?} did not finish within {TOOL_TIMEOUT:?}; stderr:\n{}", err.join().unwrap_or_default());
            }
            Err(e) => panic!("waiting for {cmd:?}: {e}"),
        }
    };
    let _ = feeder.join();
    (out.join().unwrap_or_default(), err.join().unwrap_or_default(), status.success())
}

/// The Chromium binary: `/usr/bin/chromium`, else `chromium` or
/// `chromium-browser` on `PATH`. If there is none, panics under CI, else
/// notes the skip and returns `None`.
pub fn chromium() -> Option<PathBuf> {
    let found = find_chromium();
    if found.is_none() {
        missing("chromium is not installed", "chromium");
    }
    found
}

fn find_chromium() -> Option<PathBuf> {
    let fixed = PathBuf::from("/usr/bin/chromium");
    if fixed.is_file() {
        return Some(fixed);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Headless Chromium with its profile in `profile`, quiet (no GPU, no
/// QUIC, no first-run or background traffic), set to print the DOM of the
/// page the caller adds (with any further flags) as the last argument.
pub fn headless_dump_dom(chromium: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--dump-dom",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}
