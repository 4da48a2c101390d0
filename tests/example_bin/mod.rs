//! The example programs' binaries, for tests that run them as processes.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

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
