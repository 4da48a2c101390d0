//! The parsed request's API (method, target, fields, path) and real heads
//! from curl and Chromium.
use super::*;

/// The one pass on its own, for the API's tests.
fn request_of(buf: &[u8]) -> super::super::Request<'_> {
    match super::super::parse_request(buf) {
        super::super::Parsed::Request(r) => r,
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
