//! The answers of the `http_hello` module (`examples/common/http_hello.rs`):
//! which request gets the page, and the responses to valid and bad
//! requests, written straight into the output buffer. A submodule split out
//! so that each file holds one concern; `http_hello` re-exports its items.

use reel::protocols::http::{self, ErrorStatus, Request};

use super::{DATE_LEN, HTML, PAGE, TEXT};

/// Whether a request is for the hello page: path `/` with an optional query
/// string (`/`, `/?x=1`), in origin form or absolute form (`http://host/`,
/// `http://host`). Any other path is `404` (after the `405` of a method
/// other than `GET` and `HEAD`).
#[inline]
pub(super) fn is_hello_page(request: &Request<'_>) -> bool {
    request.target == "/" || request.path() == Some("/")
}

/// Whether the answer to a request is the usual one, prebuilt once per
/// second ([`super::DateCache::page_at`]): `200` with the page for a `GET` of `/` on
/// HTTP/1.1 that keeps the connection.
#[inline]
pub(super) fn is_plain_page(request: &Request<'_>) -> bool {
    request.method == "GET" && request.keep_alive && !request.http10 && is_hello_page(request)
}

/// Appends the answer to a valid request other than the plain page
/// ([`is_plain_page`]), formatted straight into the output buffer `out`.
pub(super) fn answer(out: &mut Vec<u8>, request: &Request<'_>, date: &[u8; DATE_LEN]) {
    const ALLOW: (&str, &str) = ("Allow", "GET, HEAD");
    const KEEP_ALIVE: (&str, &str) = ("Connection", "keep-alive");
    let close = !request.keep_alive;
    // An HTTP/1.0 client that asked to keep the connection expects to be
    // told it is kept.
    let keep_alive_10 = request.http10 && request.keep_alive;
    let head_only = request.method == "HEAD";
    let (status, reason, content_type, body, allow) = match (request.method, is_hello_page(request)) {
        ("GET" | "HEAD", false) => (404, "Not Found", TEXT, &b"not found\n"[..], false),
        ("GET" | "HEAD", true) => (200, "OK", HTML, PAGE, false),
        _ => (405, "Method Not Allowed", TEXT, &b"method not allowed\n"[..], true),
    };
    let both = [ALLOW, KEEP_ALIVE];
    let extra: &[(&str, &str)] = match (allow, keep_alive_10) {
        (true, true) => &both,
        (true, false) => &both[..1],
        (false, true) => &both[1..],
        (false, false) => &[],
    };
    http::write_response(out, status, reason, date, extra, Some(content_type), body, head_only, close);
}

/// Appends the answer to a bad request; the connection closes after it.
pub(super) fn write_error(out: &mut Vec<u8>, status: ErrorStatus, date: &[u8]) {
    let body: &[u8] = match status {
        ErrorStatus::BadRequest => b"bad request\n",
        ErrorStatus::PayloadTooLarge => b"content too large\n",
        ErrorStatus::UriTooLong => b"uri too long\n",
        ErrorStatus::HeaderFieldsTooLarge => b"request header fields too large\n",
        ErrorStatus::NotImplemented => b"not implemented\n",
        ErrorStatus::VersionNotSupported => b"http version not supported\n",
    };
    http::write_response(out, status.code(), status.reason(), date, &[], Some(TEXT), body, false, true);
}
