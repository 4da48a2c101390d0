//! A strict HTTP/1.0 and HTTP/1.1 request-head parser, and a response
//! writer.
//!
//! This module is pure: no sockets, no reactor, no allocation. It is meant
//! for servers that read requests from a connection's input buffer:
//! [`parse_request`] looks at the bytes at the front of the buffer and says
//! whether they hold a complete request head (and how long it and its body
//! are), an incomplete one, or a request to refuse with a given status; and
//! [`write_response`] appends a complete response to an output buffer.
//! Strict means that anything RFC 9112 lets a server refuse, and that has
//! been used to smuggle requests past a proxy or to hold a server's memory,
//! is refused: the parser trades leniency for a small, exact contract.
//!
//! ```
//! use reel::protocols::http::{parse_request, Parsed};
//!
//! let input = b"GET /hello?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\nGET / HTTP/1.1\r\n";
//! let Parsed::Request(request) = parse_request(input) else { panic!() };
//! assert_eq!((request.method, request.target, request.path()), ("GET", "/hello?x=1", Some("/hello")));
//! assert_eq!(request.header("accept"), Some(&b"*/*"[..]));
//! assert!(request.keep_alive);
//! // The next pipelined request starts after the head and its body.
//! let next = &input[request.head_len + request.body_len..];
//! assert_eq!(parse_request(next), Parsed::Partial);
//! ```
//!
//! # Parsing
//!
//! One pass over the head validates it and splits it into method, target
//! and header fields at once (8 bytes at a time where it can, the run of
//! each class stopping at the byte that ends it, which also finds the line
//! ends), and picks out the fields that decide the request's framing (`Host`, `Content-Length`, `Transfer-Encoding`,
//! `Connection`). Only a head that is incomplete or wrong is looked at a
//! second time, byte by byte, to find the first error and its status. The
//! rules:
//!
//! - Lines may end in CRLF or in a bare LF (as `nc` sends them). A CR that is
//!   not followed by LF is an error anywhere in the head. Empty lines before
//!   the request line are skipped (RFC 9112, section 2.2).
//! - Request line: `method SP target SP HTTP/d.d`, exactly one space each;
//!   the method is a token, the target visible ASCII. Anything else, such as
//!   a double space or a trailing space, is `400`. A well-formed version
//!   other than `HTTP/1.0` and `HTTP/1.1` is `505`.
//! - Header fields: `name:value`, the name a token immediately followed by
//!   the colon (a space before the colon is `400`), the value visible bytes,
//!   `obs-text`, spaces and tabs only (NUL, DEL and other control bytes are
//!   `400`). A line starting with a space or tab (obsolete line folding, or
//!   whitespace before the first field) is `400`. Values are given without
//!   the spaces and tabs around them.
//! - `Host` (any letter case): more than one is `400` on every version,
//!   none is `400` on HTTP/1.1, and a value with a byte outside what a URI
//!   authority may hold (a space, `/`, `@`, ...) is `400`. An empty value is
//!   allowed.
//!
//! # Limits and the order of checks
//!
//! - The request target may be [`MAX_TARGET_LEN`] bytes, the request line
//!   (counting any empty lines before it) [`MAX_REQUEST_LINE_LEN`] bytes;
//!   beyond either is `414`.
//! - The header section (the field lines with their line endings, not the
//!   request line and not the final empty line) may be
//!   [`MAX_HEADER_SECTION_LEN`] bytes and hold [`MAX_HEADERS`] fields; beyond
//!   either is `431`.
//!
//! Each error is decided at the byte where it becomes visible, the limit
//! first when a byte both breaks a limit and the syntax, so limits are
//! reported at once on an incomplete head, never [`Parsed::Partial`] forever.
//! One consequence: calling [`parse_request`] on a prefix of a buffer returns
//! either [`Parsed::Partial`] or exactly what the whole buffer returns, so the
//! caller may simply parse again whenever more bytes arrive (each call
//! rescans the head from its start, at most [`MAX_HEAD_LEN`] bytes). A
//! buffer for which it returns [`Parsed::Partial`] is always shorter than
//! [`MAX_HEAD_LEN`].
//!
//! Once the head is complete: the `Host` rules (`400`), then body framing
//! (`400`, `413`, `501`). What the method and the target mean (`404`,
//! `405`, ...) is the caller's.
//!
//! # Body framing
//!
//! A `Content-Length` value is plain digits (no sign, no list); anything else
//! is `400`, and so are `Content-Length` together with `Transfer-Encoding`
//! and a repeated `Content-Length`, even with equal values. A body over
//! [`MAX_BODY_LEN`] is `413`. Any other request with `Transfer-Encoding` is
//! `501` on HTTP/1.1 and `400` on HTTP/1.0: chunked bodies are not read.

use memchr::memchr;

/// The longest request target accepted: 8 KiB. A longer one is `414`.
pub const MAX_TARGET_LEN: usize = 8 * 1024;

/// The longest request line accepted, line ending excluded, counting any
/// empty lines before it: the target limit plus 1 KiB for the method and
/// the version. A longer one is `414`.
pub const MAX_REQUEST_LINE_LEN: usize = MAX_TARGET_LEN + 1024;

/// The largest header section accepted: 16 KiB of field lines, line endings
/// included, the request line and the final empty line excluded. A larger
/// one is `431`.
pub const MAX_HEADER_SECTION_LEN: usize = 16 * 1024;

/// The most header fields accepted in one request: 100. More is `431`.
pub const MAX_HEADERS: usize = 100;

/// The largest request body accepted: 1 MiB. A larger `Content-Length` is
/// `413`.
pub const MAX_BODY_LEN: usize = 1024 * 1024;

/// No complete request head is longer than this, and [`parse_request`] never
/// returns [`Parsed::Partial`] for a buffer this long or longer.
pub const MAX_HEAD_LEN: usize = MAX_REQUEST_LINE_LEN + 2 + MAX_HEADER_SECTION_LEN + 2;

/// What a server must do with the bytes at the front of its input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// The head is not complete yet; keep the bytes and wait for more. Only
    /// returned when no limit is already exceeded and no error is visible.
    Partial,
    /// A complete, valid request head of [`Request::head_len`] bytes,
    /// followed by a body of [`Request::body_len`] bytes.
    Request(Request<'a>),
    /// The request is bad: answer with this status and close the connection,
    /// reading nothing more.
    Error(ErrorStatus),
}

/// A complete, valid request head, borrowed from the buffer it was parsed
/// from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method, a token (case-sensitive: `GET`, not `get`).
    pub method: &'a str,
    /// The request target as sent: visible ASCII, at most
    /// [`MAX_TARGET_LEN`] bytes (`/`, `/a?b`, `http://host/a`, `*`,
    /// `host:443`). See [`Request::path`].
    pub target: &'a str,
    /// Whether the request is HTTP/1.0 rather than HTTP/1.1 (the only two
    /// versions accepted). An HTTP/1.0 client that asked for
    /// [`keep_alive`](Request::keep_alive) expects `Connection: keep-alive`
    /// in the response.
    pub http10: bool,
    /// Whether the connection stays open after the response: on HTTP/1.1
    /// unless `Connection` lists `close`; on HTTP/1.0 only if `Connection`
    /// lists `keep-alive` and not `close` (tokens in any letter case, in any
    /// number of `Connection` fields).
    pub keep_alive: bool,
    /// The length of the head, empty lines before the request line and the
    /// final empty line included: the body (if any) starts here.
    pub head_len: usize,
    /// The length of the body after the head (from `Content-Length`, else
    /// 0), at most [`MAX_BODY_LEN`]; read (or skip) it before parsing the
    /// next pipelined request at `head_len + body_len`.
    pub body_len: usize,
    /// The header section, field lines with their line endings.
    fields: &'a [u8],
}

impl<'a> Request<'a> {
    /// The path of the target, without its query: for the origin form
    /// (`/a/b?q`) the part before any `?`; for the absolute form
    /// (`http://host/a?q`, any letter case in the scheme, `http` or `https`)
    /// the path after the authority, `/` when it is empty
    /// (`http://host?q`). `None` for the asterisk form (`*`), the authority
    /// form (`host:443`), other schemes and an absolute form without an
    /// authority (`http:///`). Not decoded: `%2F` stays as it is.
    #[must_use]
    pub fn path(&self) -> Option<&'a str> {
        let target = self.target;
        let path_and_query = if target.starts_with('/') {
            target
        } else {
            let rest =
                strip_prefix_ignore_case(target, "http://").or_else(|| strip_prefix_ignore_case(target, "https://"))?;
            let (authority, path_and_query) = match rest.find(['/', '?']) {
                Some(at) => rest.split_at(at),
                None => (rest, ""),
            };
            if authority.is_empty() {
                return None;
            }
            path_and_query
        };
        let path = match path_and_query.bytes().position(|b| b == b'?') {
            Some(at) => path_and_query.get(..at).unwrap_or_default(),
            None => path_and_query,
        };
        Some(if path.is_empty() { "/" } else { path })
    }

    /// The header fields in the order they came, as `(name, value)`: the
    /// name as sent (compare it ignoring ASCII case), the value without the
    /// spaces and tabs around it.
    #[must_use]
    pub fn headers(&self) -> Headers<'a> {
        Headers { rest: self.fields }
    }

    /// The value of the first field named `name` (ignoring ASCII case).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, value)| value)
    }
}

/// The header fields of a [`Request`], from [`Request::headers`].
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    /// The field lines not yet returned.
    rest: &'a [u8],
}

impl<'a> Iterator for Headers<'a> {
    type Item = (&'a str, &'a [u8]);

    fn next(&mut self) -> Option<(&'a str, &'a [u8])> {
        // The lines were checked by the parser: `name:value`, LF or CRLF.
        let end = memchr(b'\n', self.rest)?;
        let line = self.rest.get(..end)?;
        self.rest = self.rest.get(end + 1..).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = memchr(b':', line)?;
        let name = std::str::from_utf8(line.get(..colon)?).unwrap_or_default();
        Some((name, trim_ows(line.get(colon + 1..).unwrap_or_default())))
    }
}

/// Why a request is refused; the connection is closed after the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStatus {
    /// `400 Bad Request`: malformed request line or header, bad `Host`, bad
    /// body framing.
    BadRequest,
    /// `413 Content Too Large`: a body over [`MAX_BODY_LEN`].
    PayloadTooLarge,
    /// `414 URI Too Long`: a target over [`MAX_TARGET_LEN`] or a request line
    /// over [`MAX_REQUEST_LINE_LEN`].
    UriTooLong,
    /// `431 Request Header Fields Too Large`: a header section over
    /// [`MAX_HEADER_SECTION_LEN`] or more than [`MAX_HEADERS`] fields.
    HeaderFieldsTooLarge,
    /// `501 Not Implemented`: an HTTP/1.1 request with `Transfer-Encoding`.
    NotImplemented,
    /// `505 HTTP Version Not Supported`: a well-formed version other than
    /// 1.0 and 1.1.
    VersionNotSupported,
}

impl ErrorStatus {
    /// The status code, e.g. `400`.
    #[must_use]
    pub fn code(self) -> u16 {
        match self {
            ErrorStatus::BadRequest => 400,
            ErrorStatus::PayloadTooLarge => 413,
            ErrorStatus::UriTooLong => 414,
            ErrorStatus::HeaderFieldsTooLarge => 431,
            ErrorStatus::NotImplemented => 501,
            ErrorStatus::VersionNotSupported => 505,
        }
    }

    /// The reason phrase of RFC 9110 (and RFC 6585 for `431`), e.g.
    /// `Bad Request`.
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            ErrorStatus::BadRequest => "Bad Request",
            ErrorStatus::PayloadTooLarge => "Content Too Large",
            ErrorStatus::UriTooLong => "URI Too Long",
            ErrorStatus::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            ErrorStatus::NotImplemented => "Not Implemented",
            ErrorStatus::VersionNotSupported => "HTTP Version Not Supported",
        }
    }
}

/// Parses the request head at the front of `buf`.
///
/// `buf` is everything received on the connection and not consumed yet; it
/// may hold an incomplete head, or a head followed by a body and further
/// pipelined requests. See the [module documentation](self) for the rules.
/// Never allocates, never panics.
#[must_use]
pub fn parse_request(buf: &[u8]) -> Parsed<'_> {
    match parse_valid(buf) {
        Some(Ok(request)) => Parsed::Request(request),
        Some(Err(status)) => Parsed::Error(status),
        // Incomplete or wrong: find the first error byte by byte.
        None => match scan_head(buf) {
            Scan::Partial => Parsed::Partial,
            Scan::Error(status) => Parsed::Error(status),
            // The one pass accepts every head the scanner accepts (the
            // tests compare them); refuse the request should they disagree.
            Scan::Complete { .. } => Parsed::Error(ErrorStatus::BadRequest),
        },
    }
}

/// `HTTP/1.1` as a little-endian word.
const HTTP11: u64 = u64::from_le_bytes(*b"HTTP/1.1");
/// `HTTP/1.0` as a little-endian word.
const HTTP10: u64 = u64::from_le_bytes(*b"HTTP/1.0");

/// The one pass: validates and splits a complete head, then applies the
/// `Host` and framing rules. `None` when the head is incomplete, breaks a
/// limit or is malformed (the caller's byte-by-byte scan then says which).
///
/// Each line is walked once, a word of 8 bytes at a time (see
/// `http_bytes.rs`), and the run that checks a line's bytes also finds its
/// end: every byte has to be checked anyway, and heads are made of short
/// lines, for which a call to a vectorised search costs more than it saves.
fn parse_valid(buf: &[u8]) -> Option<Result<Request<'_>, ErrorStatus>> {
    // Empty lines before the request line (the scan checks their limit).
    let mut start = 0;
    while let Some(ending) = line_ending(buf.get(start..)?) {
        start += ending;
    }

    // The request line: `method SP target SP HTTP/1.x`, then the line end.
    // `GET` is taken as one word.
    let line = buf.get(start..)?;
    let (known_method, method_len) = match line.first_chunk::<4>()? {
        b"GET " => (Some("GET"), 3),
        _ => (None, run_token(line)),
    };
    let target_start = start + method_len + 1;
    if method_len == 0 || *buf.get(target_start - 1)? != b' ' {
        return None;
    }
    let target_len = run_visible(buf.get(target_start..)?);
    let version_start = target_start + target_len + 1;
    if target_len == 0 || target_len > MAX_TARGET_LEN || *buf.get(version_start - 1)? != b' ' {
        return None;
    }
    // The version as one word.
    let http10 = match u64::from_le_bytes(*buf.get(version_start..)?.first_chunk::<8>()?) {
        HTTP11 => false,
        HTTP10 => true,
        _ => return None,
    };
    let line_end = version_start + 8;
    if line_end > MAX_REQUEST_LINE_LEN {
        return None;
    }
    let section_start = line_end + line_ending(buf.get(line_end..)?)?;
    // Both are ASCII (token and visible bytes): `GET /` needs no UTF-8
    // check, anything else one check of both.
    let (method, target) = match (known_method, buf.get(target_start..version_start - 1)?) {
        (Some(method), b"/") => (method, "/"),
        _ => {
            let words = std::str::from_utf8(buf.get(start..version_start - 1)?).ok()?;
            (words.get(..method_len)?, words.get(method_len + 1..)?)
        }
    };

    // The header fields, up to the empty line. Every byte of a field line,
    // its line ending included, lies within the section's limit.
    let section = buf.get(section_start..buf.len().min(section_start + MAX_HEADER_SECTION_LEN))?;
    let mut at = 0;
    let mut count = 0;
    let mut framing = Framing::default();
    let head_len = loop {
        if let Some(ending) = line_ending(buf.get(section_start + at..)?) {
            break section_start + at + ending;
        }
        count += 1;
        if count > MAX_HEADERS {
            return None;
        }
        let line = section.get(at..)?;
        let name_len = run_token(line);
        if name_len == 0 || *line.get(name_len)? != b':' {
            return None;
        }
        let value = line.get(name_len + 1..)?;
        let value_len = run_value(value);
        let ending = line_ending(value.get(value_len..)?)?;
        framing.field(line.get(..name_len)?, value.get(..value_len)?);
        at += name_len + 1 + value_len + ending;
    };

    let fields = buf.get(section_start..section_start + at)?;
    Some(framing.check(http10).map(|(keep_alive, body_len)| Request {
        method,
        target,
        http10,
        keep_alive,
        head_len,
        body_len,
        fields,
    }))
}

/// The length of the line ending at the front of `s`: 2 for CRLF, 1 for a
/// bare LF; `None` for anything else or an incomplete CRLF.
#[inline(always)]
fn line_ending(s: &[u8]) -> Option<usize> {
    match *s.first()? {
        b'\n' => Some(1),
        b'\r' if s.get(1) == Some(&b'\n') => Some(2),
        _ => None,
    }
}

/// What the fields that decide a request's framing said.
#[derive(Default)]
struct Framing<'a> {
    hosts: u32,
    host_ok: bool,
    content_lengths: u32,
    content_length: &'a [u8],
    transfer_encoding: bool,
    close: bool,
    keep_alive: bool,
}

impl<'a> Framing<'a> {
    /// Notes one field (`value` not trimmed yet). The four names are told
    /// apart by their length, then compared as words in lower case.
    #[inline(always)]
    fn field(&mut self, name: &[u8], value: &'a [u8]) {
        const HOST: u32 = u32::from_le_bytes(*b"host");
        const CONNECTION: [u64; 2] = [word_of(b"connection", 0), word_of(b"connection", 2)];
        const CONTENT_LENGTH: [u64; 2] = [word_of(b"content-length", 0), word_of(b"content-length", 6)];
        const TRANSFER_ENCODING: [u64; 2] = [word_of(b"transfer-encoding", 0), word_of(b"transfer-encoding", 8)];
        let folded = |at: usize| folded_word(name, at);
        match name.len() {
            4 if name.first_chunk::<4>().is_some_and(|n| u32::from_le_bytes(*n) | 0x2020_2020 == HOST) => {
                let value = trim_ows(value);
                self.hosts += 1;
                self.host_ok = all_authority(value);
            }
            10 if [folded(0), folded(2)] == CONNECTION => {
                for option in value.split(|&b| b == b',') {
                    let option = trim_ows(option);
                    self.close |= option.eq_ignore_ascii_case(b"close");
                    self.keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            14 if [folded(0), folded(6)] == CONTENT_LENGTH => {
                self.content_lengths += 1;
                self.content_length = trim_ows(value);
            }
            17 if [folded(0), folded(8)] == TRANSFER_ENCODING && name.get(16).map(|b| b | 0x20) == Some(b'g') => {
                self.transfer_encoding = true;
            }
            _ => {}
        }
    }

    /// The checks that need the whole head: `Host`, then body framing.
    /// Returns `keep_alive` and the body length.
    #[inline(always)]
    fn check(&self, http10: bool) -> Result<(bool, usize), ErrorStatus> {
        if self.hosts > 1 || (self.hosts == 0 && !http10) || (self.hosts == 1 && !self.host_ok) {
            return Err(ErrorStatus::BadRequest);
        }
        if self.content_lengths > 1 || (self.content_lengths == 1 && self.transfer_encoding) {
            return Err(ErrorStatus::BadRequest);
        }
        let body_len = if self.content_lengths == 1 { parse_content_length(self.content_length)? } else { 0 };
        if self.transfer_encoding {
            return Err(if http10 { ErrorStatus::BadRequest } else { ErrorStatus::NotImplemented });
        }
        let keep_alive = !self.close && (self.keep_alive || !http10);
        Ok((keep_alive, body_len))
    }
}

/// A `Content-Length` value (trimmed): plain digits, at most
/// [`MAX_BODY_LEN`].
fn parse_content_length(value: &[u8]) -> Result<usize, ErrorStatus> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(ErrorStatus::BadRequest);
    }
    let len = value.iter().fold(0usize, |len, &digit| len.saturating_mul(10).saturating_add(usize::from(digit - b'0')));
    if len > MAX_BODY_LEN {
        Err(ErrorStatus::PayloadTooLarge)
    } else {
        Ok(len)
    }
}

/// `s` without `prefix`, compared ignoring ASCII case.
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// A token character (RFC 9110, section 5.6.2).
const fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
}

/// A byte a `Host` value may hold: what a URI authority's host and port are
/// made of (RFC 3986: unreserved, sub-delims, `%`, `:`, `[` and `]`).
const fn is_authority_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b'%'
                | b':'
                | b'['
                | b']'
        )
}

/// `s` without leading and trailing spaces and tabs.
#[inline]
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[path = "http_bytes.rs"]
mod bytes;
use bytes::*;

#[path = "http_scan.rs"]
mod scan;
use scan::{scan_head, Scan};

#[path = "http_response.rs"]
mod response;
pub use response::write_response;

#[cfg(test)]
#[path = "http_reference.rs"]
mod reference;

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
