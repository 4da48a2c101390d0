//! A real browser against the `http_hello` example: headless Chromium
//! loads the page from the server running in-process, and the DOM it
//! dumps holds the title and the heading.
//!
//! Chromium is looked up as `/usr/bin/chromium`, then `chromium` and
//! `chromium-browser` on `PATH`. Without it the test prints a note and
//! passes, except under CI (the `CI` environment variable set), where it
//! fails: `.ci/run` installs it.

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "../examples/common/http_hello.rs"]
mod http_hello;

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http_hello::{Background, Deadlines};

/// The longest the browser may take before it is killed and the test fails.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// The Chromium binary, if there is one.
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

/// A fresh, empty directory for the browser's profile, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("reel-browser-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the profile directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Kills the browser if the test ends early.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs headless Chromium on `url` and returns the DOM it dumps (stdout)
/// and its stderr.
fn dump_dom(chromium: &PathBuf, url: &str) -> (String, String) {
    let profile = TempDir::new();
    let child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.0.display()),
            "--dump-dom",
            url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", chromium.display()));
    let mut browser = Browser(child);
    // Read both pipes on threads, so that a chatty browser never blocks.
    let mut stdout = browser.0.stdout.take().expect("stdout");
    let mut stderr = browser.0.stderr.take().expect("stderr");
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
        match browser.0.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < BROWSER_TIMEOUT => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                drop(browser); // kills it, which closes the pipes
                let stderr = err.join().unwrap_or_default();
                panic!("chromium did not finish within {BROWSER_TIMEOUT:?}; stderr:\n{stderr}");
            }
            Err(e) => panic!("waiting for chromium: {e}"),
        }
    };
    let (dom, stderr) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
    assert!(status.success(), "chromium failed ({status}); stderr:\n{stderr}");
    (dom, stderr)
}

#[test]
fn headless_chromium_shows_hello_world() {
    let _ = env_logger::builder().is_test(true).try_init();
    let Some(chromium) = find_chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!("chromium is not installed, and CI is set: .ci/run installs it");
        }
        eprintln!("note: skipping the browser test, chromium is not installed (apt-get install chromium)");
        return;
    };
    let server =
        Background::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), None, Deadlines::default()).expect("start the server");
    let url = format!("http://{}/", server.addr);
    let (dom, stderr) = dump_dom(&chromium, &url);
    assert!(dom.contains("<title>Hello</title>"), "no title in the DOM:\n{dom}\nstderr:\n{stderr}");
    assert!(dom.contains("<h1>Hello World</h1>"), "no heading in the DOM:\n{dom}\nstderr:\n{stderr}");
    assert!(server.accepted.load(Ordering::Relaxed) >= 1);
}
