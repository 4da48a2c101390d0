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
mod tools;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;

use http_hello::{Background, Deadlines};

/// Runs headless Chromium on `url` and returns the DOM it dumps (stdout)
/// and its stderr.
fn dump_dom(chromium: &Path, url: &str) -> (String, String) {
    let profile = tools::TempDir::new("browser");
    let mut cmd = tools::headless_dump_dom(chromium, &profile.0);
    cmd.arg(url);
    let (dom, stderr, ok) = tools::run(cmd, b"");
    assert!(ok, "chromium failed; stderr:\n{stderr}");
    (dom, stderr)
}

#[test]
fn headless_chromium_shows_hello_world() {
    let _ = env_logger::builder().is_test(true).try_init();
    let Some(chromium) = tools::chromium() else {
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
