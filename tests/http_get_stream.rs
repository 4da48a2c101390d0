//! The `http_get` binary streams a large body to its standard output as it
//! arrives: with a slow reader on the pipe, its memory stays bounded (the
//! write to the pipe blocks, the reactor stops reading, and TCP pushes
//! back on the server), and every byte arrives.

mod example_bin;
use example_bin::example;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::process::{Command, Stdio};
use std::time::Duration;

const BODY: usize = 256 * 1024 * 1024;

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_large_body_streams_through_with_bounded_memory() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_write_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let mut req = [0u8; 1024];
        let _ = s.read(&mut req).expect("request");
        write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {BODY}\r\nConnection: close\r\n\r\n").expect("head");
        let block: Vec<u8> = (0..1024 * 1024 + 251).map(|i| (i % 251) as u8).collect();
        let mut sent = 0;
        while sent < BODY {
            let off = sent % 251;
            s.write_all(&block[off..off + 1024 * 1024]).expect("body");
            sent += 1024 * 1024;
        }
        let _ = s.shutdown(Shutdown::Write);
    });
    let mut child = Command::new(example("http_get"))
        .args(["--connect", &addr.to_string()])
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn http_get");
    let pid = child.id();
    let mut out = child.stdout.take().expect("stdout");
    // The head and the blank line, then the body.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\n\n") {
        assert_eq!(out.read(&mut byte).expect("head"), 1, "EOF in the head: {head:?}");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200 OK\n"), "{}", String::from_utf8_lossy(&head));
    let expected: Vec<u8> = (0..64 * 1024 + 251).map(|i| (i % 251) as u8).collect();
    let mut buf = vec![0u8; 64 * 1024];
    let (mut got, mut next_stop, mut peak) = (0usize, 0usize, 0u64);
    let before = status_kib(pid, "VmRSS:").expect("rss");
    loop {
        if got >= next_stop {
            // A slow reader: stop now and then, long enough for every
            // buffer on the way to fill.
            std::thread::sleep(Duration::from_millis(30));
            peak = peak.max(status_kib(pid, "VmRSS:").unwrap_or(0));
            next_stop += 16 * 1024 * 1024;
        }
        let n = out.read(&mut buf).expect("body read");
        if n == 0 {
            break;
        }
        let off = got % 251;
        assert!(buf[..n] == expected[off..off + n], "body differs near byte {got}");
        got += n;
    }
    assert_eq!(got, BODY);
    let status = child.wait().expect("wait");
    assert!(status.success(), "http_get exited with {status}");
    server.join().expect("server");
    let growth = peak.saturating_sub(before);
    eprintln!("http_get RSS: {before} KiB at the start of the body, {peak} KiB at most (+{growth} KiB)");
    assert!(growth < 4 * 1024, "http_get's RSS grew by {growth} KiB for a {BODY}-byte body");
}
