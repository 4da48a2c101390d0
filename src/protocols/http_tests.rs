//! Tests of the HTTP head parser: table-driven, every split point, and the
//! one pass held to the parser it replaced (`http_reference.rs`) on every
//! input.
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

cases! {
    // The page, and what the caller needs for 405 and 404.
    get_root: get_with("") => req(Get, true, true, 0);
    head_root: b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" => req(Head, true, true, 0);
    get_query: b"GET /?a=b&c HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, true, true, 0);
    get_empty_query: b"GET /? HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, true, true, 0);
    get_other_path: b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, false, true, 0);
    get_double_slash: b"GET // HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, false, true, 0);
    get_other_path_query: b"GET /x?/ HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, false, true, 0);
    get_fragment: b"GET /#x HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, false, true, 0);
    absolute_form: b"GET http://a:80/ HTTP/1.1\r\nHost: a:80\r\n\r\n" => req(Get, true, true, 0);
    absolute_form_no_path: b"GET HTTPS://a?x HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, true, true, 0);
    absolute_form_other_path: b"GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, false, true, 0);
    absolute_form_no_authority: b"GET http:/// HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, false, true, 0);
    other_scheme: b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, false, true, 0);
    asterisk_form: b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n" => req(Other, false, true, 0);
    authority_form: b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n" => req(Other, false, true, 0);
    lowercase_get: b"get / HTTP/1.1\r\nHost: a\r\n\r\n" => req(Other, true, true, 0);
    post: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n" => req(Other, true, true, 3);
    token_method: b"M-SEARCH_1.0! /x HTTP/1.1\r\nHost: a\r\n\r\n" => req(Other, false, true, 0);

    // Line endings and whitespace.
    bare_lf: b"GET / HTTP/1.1\nHost: a\n\n" => req(Get, true, true, 0);
    mixed_endings: b"GET / HTTP/1.1\nHost: a\r\nX: y\n\r\n" => req(Get, true, true, 0);
    empty_lines_first: b"\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, true, true, 0);
    value_ows: b"GET / HTTP/1.1\r\nHost: \t a \t\r\nX:\tb c\t\r\n\r\n" => req(Get, true, true, 0);
    empty_value: b"GET / HTTP/1.1\r\nHost: a\r\nX:\r\nY: \r\n\r\n" => req(Get, true, true, 0);
    obs_text_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9 \xff\r\n\r\n" => req(Get, true, true, 0);
    odd_name: b"GET / HTTP/1.1\r\nHost: a\r\nX!#$%&'*+-.^_`|~9: 1\r\n\r\n" => req(Get, true, true, 0);

    // Host.
    host_any_case: b"GET / HTTP/1.1\r\nhOsT: a\r\n\r\n" => req(Get, true, true, 0);
    host_ipv6: b"GET / HTTP/1.1\r\nHost: [::1]:12345\r\n\r\n" => req(Get, true, true, 0);
    host_empty: b"GET / HTTP/1.1\r\nHost:\r\n\r\n" => req(Get, true, true, 0);
    host_missing: b"GET / HTTP/1.1\r\n\r\n" => E400;
    host_missing_other: b"GET / HTTP/1.1\r\nHosts: a\r\n\r\n" => E400;
    host_repeated: b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n" => E400;
    host_repeated_case: b"GET / HTTP/1.1\r\nHost: a\r\nHOST: b\r\n\r\n" => E400;
    host_missing_10: b"GET / HTTP/1.0\r\n\r\n" => req10(Get, true, false, 0);
    host_repeated_10: b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n" => E400;
    host_space: b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n" => E400;
    host_slash: b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n" => E400;
    host_userinfo: b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n" => E400;

    // Keep-alive.
    keep_alive_11: get_with("") => req(Get, true, true, 0);
    close_11: get_with("Connection: close\r\n") => req(Get, true, false, 0);
    close_11_case: get_with("connection: CLOSE\r\n") => req(Get, true, false, 0);
    close_11_list: get_with("Connection: upgrade ,\t Close , foo\r\n") => req(Get, true, false, 0);
    close_11_second_field: get_with("Connection: a\r\nConnection: close\r\n") => req(Get, true, false, 0);
    closed_is_not_close: get_with("Connection: closed, x-close\r\n") => req(Get, true, true, 0);
    keep_alive_11_explicit: get_with("Connection: keep-alive\r\n") => req(Get, true, true, 0);
    close_10: b"GET / HTTP/1.0\r\n\r\n" => req10(Get, true, false, 0);
    keep_alive_10: b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n" => req10(Get, true, true, 0);
    keep_alive_10_list: b"GET / HTTP/1.0\r\nConnection: te, keep-alive\r\n\r\n" => req10(Get, true, true, 0);
    keep_alive_and_close_10: b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n" => req10(Get, true, false, 0);
    keep_alive_and_close_11: get_with("Connection: keep-alive\r\nConnection: close\r\n") => req(Get, true, false, 0);
    head_10: b"HEAD /x HTTP/1.0\r\nHost: a\r\n\r\n" => req10(Head, false, false, 0);

    // Incomplete heads.
    empty: b"" => PARTIAL;
    only_empty_lines: b"\r\n\n\r\n" => PARTIAL;
    only_cr: b"\r" => PARTIAL;
    half_method: b"GE" => PARTIAL;
    half_version: b"GET / HTTP/1." => PARTIAL;
    request_line_only: b"GET / HTTP/1.1\r\n" => PARTIAL;
    no_final_line: b"GET / HTTP/1.1\r\nHost: a\r\n" => PARTIAL;
    final_cr: b"GET / HTTP/1.1\r\nHost: a\r\n\r" => PARTIAL;
    bad_version_not_yet_seen: b"GET / HTTP/2.0" => PARTIAL;

    // Malformed request lines.
    double_space_after_method: b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    double_space_after_target: b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    leading_space: b" GET / HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    trailing_space: b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n" => E400;
    tab_separator: b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    no_version: b"GET /\r\nHost: a\r\n\r\n" => E400;
    no_target: b"GET HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    three_parts_extra: b"GET / x HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    extra_word: b"GET / HTTP/1.1 x\r\nHost: a\r\n\r\n" => E400;
    lowercase_version: b"GET / http/1.1\r\nHost: a\r\n\r\n" => E400;
    version_two_digits: b"GET / HTTP/1.10\r\nHost: a\r\n\r\n" => E400;
    version_no_minor: b"GET / HTTP/1\r\nHost: a\r\n\r\n" => E400;
    version_shape: b"GET / HTTP/11\r\nHost: a\r\n\r\n" => E400;
    method_not_token: b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    method_nul: b"G\0T / HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    target_control: b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    target_del: b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    target_non_ascii: b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    bare_cr_request_line: b"GET / HTTP/1.1\rHost: a\r\n\r\n" => E400;
    bare_cr_before_request_line: b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    cr_cr_lf: b"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n" => E400;
    cr_in_target: b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    error_before_head_complete: b"GET  / HTTP/1.1\r\n" => E400;
    http_09: b"GET /\r\n\r\n" => E400;

    // Malformed header fields.
    space_before_colon: b"GET / HTTP/1.1\r\nHost : a\r\n\r\n" => E400;
    tab_before_colon: b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n" => E400;
    space_in_name: b"GET / HTTP/1.1\r\nHost: a\r\nX Y: z\r\n\r\n" => E400;
    folded: b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n" => E400;
    folded_tab: b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\tz\r\n\r\n" => E400;
    space_before_first_field: b"GET / HTTP/1.1\r\n Host: a\r\n\r\n" => E400;
    no_colon: b"GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n" => E400;
    empty_name: b"GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n" => E400;
    bare_cr_in_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: y\rz\r\n\r\n" => E400;
    bare_cr_ends_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\r\n\r\n" => E400;
    bare_cr_final_line: b"GET / HTTP/1.1\r\nHost: a\r\n\rX\r\n" => E400;
    bare_cr_in_name: b"GET / HTTP/1.1\r\nHost: a\r\nX\r: y\r\n\r\n" => E400;
    nul_in_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: y\0z\r\n\r\n" => E400;
    nul_in_name: b"GET / HTTP/1.1\r\nHost: a\r\nX\0: z\r\n\r\n" => E400;
    control_in_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[0m\r\n\r\n" => E400;
    del_in_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n" => E400;
    vertical_tab_in_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: \x0b\r\n\r\n" => E400;
    non_ascii_name: b"GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: y\r\n\r\n" => E400;
    header_error_before_head_complete: b"GET / HTTP/1.1\r\nHost : a\r\n" => E400;

    // Versions.
    http_20: b"GET / HTTP/2.0\r\nHost: a\r\n\r\n" => E505;
    http_99: b"GET / HTTP/9.9\r\nHost: a\r\n\r\n" => E505;
    http_12: b"GET / HTTP/1.2\r\nHost: a\r\n\r\n" => E505;
    http_09_shape: b"GET / HTTP/0.9\n\n" => E505;
    version_before_head_complete: b"GET / HTTP/2.0\n" => E505;
    version_before_bad_header: b"GET / HTTP/2.0\r\nX : y\r\n\r\n" => E505;
    version_bad_line_end: b"GET / HTTP/2.0\rX" => E400;
    bad_request_line_before_version: b"GET  / HTTP/2.0\r\n\r\n" => E400;

    // Limits.
    target_at_limit: target_of(MAX_TARGET_LEN) => req(Get, false, true, 0);
    target_over_limit: target_of(MAX_TARGET_LEN + 1) => E414;
    target_over_limit_incomplete: &target_of(MAX_TARGET_LEN + 1)[..MAX_TARGET_LEN + 5] => E414;
    target_over_limit_http20: format!("GET /{} HTTP/2.0\r\n\r\n", "a".repeat(9000)).into_bytes() => E414;
    target_over_limit_no_end: format!("GET /{}", "a".repeat(20_000)).into_bytes() => E414;
    method_over_limit: "A".repeat(MAX_REQUEST_LINE_LEN + 1).into_bytes() => E414;
    empty_lines_over_limit: "\r\n".repeat(MAX_REQUEST_LINE_LEN).into_bytes() => E414;
    request_line_at_limit: format!(
        "{} /{} HTTP/1.1\r\nHost: a\r\n\r\n",
        "M".repeat(MAX_REQUEST_LINE_LEN - MAX_TARGET_LEN - 10),
        "a".repeat(MAX_TARGET_LEN - 1)
    ).into_bytes() => req(Other, false, true, 0);
    request_line_over_limit: format!(
        "{} /{} HTTP/1.1\r\nHost: a\r\n\r\n",
        "M".repeat(MAX_REQUEST_LINE_LEN - MAX_TARGET_LEN - 9),
        "a".repeat(MAX_TARGET_LEN - 1)
    ).into_bytes() => E414;
    section_at_limit: section_of(MAX_HEADER_SECTION_LEN) => req(Get, true, true, 0);
    section_over_limit: section_of(MAX_HEADER_SECTION_LEN + 1) => E431;
    section_over_limit_no_end: format!("{GET}X: {}", "v".repeat(20_000)).into_bytes() => E431;
    section_over_limit_many_lines: format!("{GET}{}", "X: v\r\n".repeat(2000)).into_bytes() => E431;
    section_over_limit_long_name: format!("{GET}X{}", "x".repeat(20_000)).into_bytes() => E431;
    fields_at_limit: fields(MAX_HEADERS) => req(Get, true, true, 0);
    fields_over_limit: fields(MAX_HEADERS + 1) => E431;
    fields_over_limit_incomplete: format!("{GET}{}", "X: v\r\n".repeat(100)) => E431;
    limit_before_framing: format!(
        "{GET}Content-Length: 1\r\nTransfer-Encoding: chunked\r\n{}\r\n",
        "X: v\r\n".repeat(100)
    ) => E431;
    limit_before_bad_field: format!("{GET}{}X : y\r\n\r\n", "X: v\r\n".repeat(99)) => E431;
    bad_field_before_limit: format!("{GET}X : y\r\n{}\r\n", "X: v\r\n".repeat(200)) => E400;

    // Body framing.
    content_length: get_with("Content-Length: 11\r\n") => req(Get, true, true, 11);
    content_length_zero: get_with("Content-Length: 0\r\n") => req(Get, true, true, 0);
    content_length_leading_zeros: get_with("Content-Length: 007\r\n") => req(Get, true, true, 7);
    content_length_ows: get_with("content-length: \t5 \t\r\n") => req(Get, true, true, 5);
    content_length_at_limit: get_with("Content-Length: 1048576\r\n") => req(Get, true, true, MAX_BODY_LEN);
    content_length_over_limit: get_with("Content-Length: 1048577\r\n") => E413;
    content_length_huge: get_with("Content-Length: 999999999999999999999999999999\r\n") => E413;
    content_length_over_limit_10: b"PUT / HTTP/1.0\r\nContent-Length: 2000000\r\n\r\n" => E413;
    content_length_empty: get_with("Content-Length:\r\n") => E400;
    content_length_sign: get_with("Content-Length: +5\r\n") => E400;
    content_length_negative: get_with("Content-Length: -1\r\n") => E400;
    content_length_hex: get_with("Content-Length: 0x10\r\n") => E400;
    content_length_inner_space: get_with("Content-Length: 1 0\r\n") => E400;
    content_length_list: get_with("Content-Length: 5, 5\r\n") => E400;
    content_length_twice_equal: get_with("Content-Length: 5\r\nContent-Length: 5\r\n") => E400;
    content_length_twice_different: get_with("Content-Length: 5\r\ncontent-length: 6\r\n") => E400;
    content_length_and_te: get_with("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") => E400;
    te_and_content_length_10: b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n" => E400;
    te_chunked: get_with("Transfer-Encoding: chunked\r\n") => E501;
    te_any: get_with("transfer-encoding: gzip, chunked\r\n") => E501;
    te_empty: get_with("Transfer-Encoding:\r\n") => E501;
    te_10: b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" => E400;
    te_other_method: b"BREW /pot HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" => E501;
    too_large_other_method: b"BREW /pot HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999\r\n\r\n" => E413;
    host_before_framing: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" => E400;
}

#[test]
fn statuses() {
    let all = [
        (ErrorStatus::BadRequest, 400, "Bad Request"),
        (ErrorStatus::PayloadTooLarge, 413, "Content Too Large"),
        (ErrorStatus::UriTooLong, 414, "URI Too Long"),
        (ErrorStatus::HeaderFieldsTooLarge, 431, "Request Header Fields Too Large"),
        (ErrorStatus::NotImplemented, 501, "Not Implemented"),
        (ErrorStatus::VersionNotSupported, 505, "HTTP Version Not Supported"),
    ];
    for (status, code, reason) in all {
        assert_eq!(status.code(), code);
        assert_eq!(status.reason(), reason);
    }
}

/// Parses requests one after the other from one buffer, as the server
/// does, skipping each body.
fn parse_all(mut buf: &[u8]) -> Vec<Parsed> {
    let mut results = Vec::new();
    loop {
        let parsed = parse_request(buf);
        results.push(parsed);
        match parsed {
            Parsed::Request(r) if r.head_len + r.body_len <= buf.len() => {
                buf = &buf[r.head_len + r.body_len..];
            }
            _ => return results,
        }
    }
}

#[test]
fn pipelined() {
    let buf = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
        POST /x HTTP/1.1\nHost: a\nContent-Length: 5\n\nhello\
        \r\nHEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
        GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n\
        GET / HTTP/1.1\r\nHo";
    let request = |method, path_ok, keep_alive, http10, head_len, body_len| {
        Parsed::Request(Request { method, path_ok, keep_alive, http10, head_len, body_len })
    };
    assert_eq!(
        parse_all(buf),
        [
            request(Get, true, true, false, 27, 0),
            request(Other, false, true, false, 44, 5),
            // The empty line a client may send after a body is skipped.
            request(Head, true, true, true, 45, 0),
            request(Get, true, false, false, 46, 0),
            PARTIAL,
        ]
    );
}

#[test]
fn pipelined_smuggling_stops_at_error() {
    let buf = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
        POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\n\
        GET /admin HTTP/1.1\r\nHost: a\r\n\r\n";
    let results = parse_all(buf);
    assert_eq!(results.len(), 2);
    assert_eq!(results[1], E400);
}

#[test]
fn body_is_not_parsed() {
    // Whatever follows the head is the caller's: garbage, or the body.
    let buf = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n\0\r\x01 ";
    match parse_request(buf) {
        Parsed::Request(r) => assert_eq!((r.head_len, r.body_len), (buf.len() - 4, 4)),
        other => panic!("{other:?}"),
    }
}

/// Requests for the segmentation test: valid ones, invalid ones, and
/// ones over a limit.
fn segmentation_inputs() -> Vec<Vec<u8>> {
    let mut inputs: Vec<Vec<u8>> = [
        &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET / HTTP/1.1\nHost: a\n\n",
        b"\r\n\nHEAD /?x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\rX\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    ]
    .iter()
    .map(|input| input.to_vec())
    .collect();
    inputs.push(target_of(MAX_TARGET_LEN + 1));
    inputs.push(section_of(MAX_HEADER_SECTION_LEN + 1));
    inputs.push(fields(MAX_HEADERS + 1));
    inputs
}

#[test]
fn segmentation() {
    for input in segmentation_inputs() {
        let whole = parse_request(&input);
        let step = if input.len() > 4096 { 7 } else { 1 };
        for split in (0..=input.len()).step_by(step) {
            // The server got `split` bytes first, then the rest.
            let first = parse_request(&input[..split]);
            let result = if first == PARTIAL { parse_request(&input) } else { first };
            assert_eq!(result, whole, "split {split} of {:?}", show(&input));
            let complete = match whole {
                Parsed::Request(r) => split >= r.head_len,
                _ => false,
            };
            if complete {
                assert_eq!(first, whole);
            }
        }
        // Byte by byte: Partial, then the final result for good.
        let mut seen_final = false;
        for end in 0..=input.len().min(4096) {
            let got = parse_request(&input[..end]);
            if seen_final {
                assert_eq!(got, whole);
            } else if got != PARTIAL {
                assert_eq!(got, whole, "byte {end} of {:?}", show(&input));
                seen_final = true;
            }
        }
    }
}

#[test]
fn limits_seen_while_partial() {
    // A 20 KiB head that never ends is refused at once, not kept.
    let long_fields = format!("{GET}{}", "X-Long: abcdefgh\r\n".repeat(1200));
    assert_eq!(parse_request(long_fields.as_bytes()), E431);
    let long_line = format!("GET /{}", "a".repeat(20 * 1024));
    assert_eq!(parse_request(long_line.as_bytes()), E414);
    // Just under the limit it is still Partial.
    let under = format!("{GET}X: {}", "v".repeat(MAX_HEADER_SECTION_LEN - 30));
    assert_eq!(parse_request(under.as_bytes()), PARTIAL);
}

#[test]
fn longest_head() {
    let line = format!(
        "{}{} /{} HTTP/1.1\r\n",
        "\r\n".repeat(100),
        "M".repeat(MAX_REQUEST_LINE_LEN - MAX_TARGET_LEN - 210),
        "a".repeat(MAX_TARGET_LEN - 1)
    );
    assert_eq!(line.len(), MAX_REQUEST_LINE_LEN + 2);
    let mut head = line.into_bytes();
    head.extend_from_slice(b"Host: a\r\nX:");
    head.resize(MAX_HEAD_LEN - 4, b'v');
    head.extend_from_slice(b"\r\n");
    assert_eq!(parse_request(&head), PARTIAL);
    head.extend_from_slice(b"\r\n");
    assert_eq!(head.len(), MAX_HEAD_LEN);
    match parse_request(&head) {
        Parsed::Request(r) => assert_eq!(r.head_len, MAX_HEAD_LEN),
        other => panic!("{other:?}"),
    }
    check_prefixes(&head);
    // One more byte in the field is over the limit.
    head.insert(MAX_HEAD_LEN - 5, b'v');
    assert_eq!(parse_request(&head), E431);
    check_prefixes(&head);
}

#[path = "http_tests_random.rs"]
mod random;

#[test]
fn word_runs_at_each_class_edge() {
    for b in 0..=255u8 {
        for at in 0..17 {
            let mut buf = vec![b'a'; 17];
            buf[at] = b;
            assert_eq!(run_value(&buf), run(&buf, VALUE), "{b:#x} at {at}");
            assert_eq!(run_visible(&buf), run(&buf, VCHAR), "{b:#x} at {at}");
            assert_eq!(run_token(&buf), run(&buf, TCHAR), "{b:#x} at {at}");
            for len in 0..=buf.len() {
                let s = &buf[..len];
                assert_eq!(all_authority(s), run(s, AUTHORITY) == len, "{b:#x} at {at} of {len}");
            }
            // After a byte at or above 0x80 the word tests' carries may
            // disturb the bytes above it: those must not matter.
            buf[at] = 0x80 | b;
            if at + 1 < buf.len() {
                buf[at + 1] = b;
            }
            assert_eq!(run_value(&buf), run(&buf, VALUE), "{b:#x} after a high byte at {at}");
            assert_eq!(run_visible(&buf), run(&buf, VCHAR), "{b:#x} after a high byte at {at}");
            assert_eq!(run_token(&buf), run(&buf, TCHAR), "{b:#x} after a high byte at {at}");
            assert_eq!(all_authority(&buf), run(&buf, AUTHORITY) == buf.len(), "{b:#x} after a high byte at {at}");
        }
    }
}

/// The framing fields are found by length and words in lower case: every
/// spelling of each name in any letter case counts, and every name that
/// differs from one in a single byte (any byte value a name may hold) does
/// not.
#[test]
fn framing_names_in_every_case_and_one_byte_off() {
    let names = ["host", "connection", "content-length", "transfer-encoding"];
    let values = ["a", "close", "5", "chunked"];
    for (name, value) in names.iter().zip(values) {
        for flips in 0..(1u32 << name.len()).min(1 << 12) {
            let spelled: Vec<u8> = name
                .bytes()
                .enumerate()
                .map(|(k, b)| if flips >> (k % 12) & 1 == 1 { b.to_ascii_uppercase() } else { b })
                .collect();
            let mut head = b"GET / HTTP/1.1\r\nHost: b\r\n".to_vec();
            head.extend_from_slice(&spelled);
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n\r\n");
            assert_eq!(parse_request(&head), super::reference::parse_request(&head), "{:?}", show(&head));
        }
        for at in 0..name.len() {
            for b in 0..=255u8 {
                let mut spelled = name.as_bytes().to_vec();
                spelled[at] = b;
                let mut head = b"GET / HTTP/1.1\r\nHost: b\r\n".to_vec();
                head.extend_from_slice(&spelled);
                head.extend_from_slice(b": ");
                head.extend_from_slice(value.as_bytes());
                head.extend_from_slice(b"\r\n\r\n");
                agrees_with_reference(&head);
            }
        }
    }
}

/// The one pass on its own, for the API's tests.
fn request_of(buf: &[u8]) -> super::Request<'_> {
    match super::parse_request(buf) {
        super::Parsed::Request(r) => r,
        other => panic!("{other:?} for {:?}", show(buf)),
    }
}

#[test]
fn method_target_and_fields_as_sent() {
    let head = b"PATCH /a/b?c=d HTTP/1.0\r\nX-One:  1 \r\nhost:\tex.com\r\nX-Empty:\nX-One: 2\r\n\r\nbody";
    let r = request_of(head);
    assert_eq!((r.method, r.target, r.http10, r.keep_alive), ("PATCH", "/a/b?c=d", true, false));
    assert_eq!(r.head_len, head.len() - 4);
    let fields: Vec<_> = r.headers().collect();
    assert_eq!(fields, [("X-One", &b"1"[..]), ("host", b"ex.com"), ("X-Empty", b""), ("X-One", b"2")]);
    assert_eq!(r.header("x-one"), Some(&b"1"[..]));
    assert_eq!(r.header("HOST"), Some(&b"ex.com"[..]));
    assert_eq!(r.header("x-none"), None);
}

#[test]
fn paths_of_each_target_form() {
    let path = |target: &str| {
        let head = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        request_of(head.as_bytes()).path().map(str::to_owned)
    };
    assert_eq!(path("/").as_deref(), Some("/"));
    assert_eq!(path("/a/b?c=/d").as_deref(), Some("/a/b"));
    assert_eq!(path("/%2F?").as_deref(), Some("/%2F"));
    assert_eq!(path("HTTP://h:1/x?y").as_deref(), Some("/x"));
    assert_eq!(path("https://h").as_deref(), Some("/"));
    assert_eq!(path("http://h?q").as_deref(), Some("/"));
    assert_eq!(path("http:///").as_deref(), None);
    assert_eq!(path("*").as_deref(), None);
    assert_eq!(path("h:443").as_deref(), None);
    assert_eq!(path("ftp://h/").as_deref(), None);
}

#[test]
fn real_heads_from_curl_and_chromium() {
    for head in [
        &include_bytes!("../../bench/benches/heads/curl.http")[..],
        include_bytes!("../../bench/benches/heads/chromium.http"),
    ] {
        let r = request_of(head);
        assert_eq!((r.method, r.target, r.path(), r.head_len, r.body_len), ("GET", "/", Some("/"), head.len(), 0));
        assert!(r.keep_alive && !r.http10);
        assert!(r.header("host").is_some_and(|h| h.starts_with(b"127.0.0.1:")));
        agrees_with_reference(head);
        check_prefixes(head);
    }
    let chromium = request_of(include_bytes!("../../bench/benches/heads/chromium.http"));
    assert_eq!(chromium.headers().count(), 14);
    assert_eq!(chromium.header("sec-fetch-mode"), Some(&b"navigate"[..]));
}
