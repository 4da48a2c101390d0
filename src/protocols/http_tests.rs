//! Tests of the HTTP head parser: table-driven, every split point, and the
//! one pass held to the parser it replaced (`http_reference.rs`) on every
//! input.
//!
//! This file holds the helpers the tests share (the one pass seen as the
//! reference parser sees it, `check`, `check_prefixes`, the head builders);
//! the tests are by topic: the table of cases (`http_tests_cases.rs`),
//! pipelining, splits and limits (`http_tests_stream.rs`), byte classes and
//! field names (`http_tests_bytes.rs`), the request's API and real heads
//! (`http_tests_api.rs`), and random heads (`http_tests_random.rs`).
use super::reference::{Method, Parsed, Request};
use super::*;
use proptest::prelude::*;

/// The one pass's result as the old parser described it (method class, the
/// hello page's target rule), so that the cases below test both.
fn parse_request(buf: &[u8]) -> Parsed {
    match super::parse_request(buf) {
        super::Parsed::Partial => Parsed::Partial,
        super::Parsed::Error(status) => Parsed::Error(status),
        super::Parsed::Request(r) => Parsed::Request(Request {
            method: match r.method {
                "GET" => Method::Get,
                "HEAD" => Method::Head,
                _ => Method::Other,
            },
            path_ok: r.path() == Some("/"),
            keep_alive: r.keep_alive,
            http10: r.http10,
            head_len: r.head_len,
            body_len: r.body_len,
        }),
    }
}

/// The one pass says what the old scanner-then-httparse parser said, for
/// `buf` and every prefix of it.
fn agrees_with_reference(buf: &[u8]) {
    for end in 0..=buf.len() {
        let buf = &buf[..end];
        assert_eq!(parse_request(buf), super::reference::parse_request(buf), "{:?}", show(buf));
        // Both split the head alike.
        if let super::Parsed::Request(r) = super::parse_request(buf) {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut old = httparse::Request::new(&mut headers);
            assert!(old.parse(buf).is_ok());
            assert_eq!((Some(r.method), Some(r.target)), (old.method, old.path));
            let fields: Vec<_> = r.headers().collect();
            let old_fields: Vec<_> = old.headers.iter().map(|h| (h.name, h.value)).collect();
            assert_eq!(fields, old_fields, "{:?}", show(buf));
        }
    }
}

const E400: Parsed = Parsed::Error(ErrorStatus::BadRequest);
const E413: Parsed = Parsed::Error(ErrorStatus::PayloadTooLarge);
const E414: Parsed = Parsed::Error(ErrorStatus::UriTooLong);
const E431: Parsed = Parsed::Error(ErrorStatus::HeaderFieldsTooLarge);
const E501: Parsed = Parsed::Error(ErrorStatus::NotImplemented);
const E505: Parsed = Parsed::Error(ErrorStatus::VersionNotSupported);
const PARTIAL: Parsed = Parsed::Partial;

/// As `head_len`: the whole input.
const FULL: usize = usize::MAX;

use Method::{Get, Head, Other};

/// An HTTP/1.1 request.
fn req(method: Method, path_ok: bool, keep_alive: bool, body_len: usize) -> Parsed {
    Parsed::Request(Request { method, path_ok, keep_alive, http10: false, head_len: FULL, body_len })
}

/// An HTTP/1.0 request.
fn req10(method: Method, path_ok: bool, keep_alive: bool, body_len: usize) -> Parsed {
    match req(method, path_ok, keep_alive, body_len) {
        Parsed::Request(r) => Parsed::Request(Request { http10: true, ..r }),
        other => other,
    }
}

/// Asserts the result for `input` (a `FULL` head length meaning the whole
/// input), and that every prefix gives `Partial` or that same result.
fn check(input: &[u8], expected: Parsed) {
    let expected = match expected {
        Parsed::Request(r) if r.head_len == FULL => Parsed::Request(Request { head_len: input.len(), ..r }),
        other => other,
    };
    assert_eq!(parse_request(input), expected, "input {:?}", show(input));
    check_prefixes(input);
}

fn show(input: &[u8]) -> String {
    let s = String::from_utf8_lossy(input);
    if s.len() > 300 {
        format!("{}...({} bytes)", &s[..200], input.len())
    } else {
        s.into_owned()
    }
}

/// Every prefix of `input` parses to `Partial` or to what `input` parses
/// to, and `Partial` only below `MAX_HEAD_LEN`. Long inputs: every prefix
/// around the first non-`Partial` one, a sample of the others.
fn check_prefixes(input: &[u8]) {
    let full = parse_request(input);
    if full == PARTIAL {
        assert!(input.len() < MAX_HEAD_LEN);
    }
    let check_at = |k: usize| {
        let got = parse_request(&input[..k]);
        assert!(got == PARTIAL || got == full, "prefix {k} of {:?}: {got:?}, whole: {full:?}", show(input));
        got
    };
    if input.len() <= 4096 {
        for k in 0..input.len() {
            check_at(k);
        }
        return;
    }
    // The results are Partial up to some length, then `full`.
    let (mut lo, mut hi) = (0, input.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if parse_request(&input[..mid]) == PARTIAL {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    for k in lo.saturating_sub(64)..input.len().min(lo + 64) {
        check_at(k);
    }
    for k in (0..input.len()).step_by(97) {
        let got = check_at(k);
        assert_eq!(got == PARTIAL, k < lo, "prefix {k}, switch at {lo}");
    }
}

macro_rules! cases {
    ($($name:ident: $input:expr => $expected:expr;)+) => {
        $(
            #[test]
            fn $name() {
                check(AsRef::<[u8]>::as_ref(&$input), $expected);
            }
        )+
    };
}

const GET: &str = "GET / HTTP/1.1\r\nHost: example.com\r\n";

/// `GET / HTTP/1.1` with a Host, `extra` header lines and the final empty
/// line.
fn get_with(extra: &str) -> Vec<u8> {
    format!("{GET}{extra}\r\n").into_bytes()
}

/// A head with a target of `len` bytes.
fn target_of(len: usize) -> Vec<u8> {
    format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(len - 1)).into_bytes()
}

/// A head whose header section is `len` bytes, in fields of at most 1000
/// bytes.
fn section_of(len: usize) -> Vec<u8> {
    let mut head = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    let mut left = len - 9;
    assert!(left >= 5);
    while left > 0 {
        let line = if left > 1005 { 1000 } else { left };
        head.extend_from_slice(format!("X: {}\r\n", "v".repeat(line - 5)).as_bytes());
        left -= line;
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// A head with `n` header fields, Host included.
fn fields(n: usize) -> Vec<u8> {
    let mut head = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for k in 1..n {
        head.extend_from_slice(format!("X-{k}: {k}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head
}

#[path = "http_tests_api.rs"]
mod api;
#[path = "http_tests_bytes.rs"]
mod bytes;
#[path = "http_tests_cases.rs"]
mod cases;
#[path = "http_tests_random.rs"]
mod random;
#[path = "http_tests_stream.rs"]
mod stream;
