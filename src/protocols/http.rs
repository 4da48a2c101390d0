//! HTTP/1.x request heads and responses for the `http_hello` example.
//!
//! This module is pure: no sockets, no reactor, no allocation while parsing.
//! It implements the wire contract of `PROTOCOLS.md`, section `http_hello`:
//! [`parse_request`] looks at the bytes at the front of a connection's input
//! buffer and says what to do with them, and [`write_response`] appends a
//! complete response to an output buffer.
//!
//! # Parsing
//!
//! The head is first checked byte by byte, left to right, by a strict scanner
//! of our own (it enforces the limits and the rules `httparse` is lenient
//! about or cannot report while the head is incomplete), and only a complete
//! head that passed is handed to [`httparse`], which splits it into method,
//! target and header fields. The rules:
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
//!   whitespace before the first field) is `400`.
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
//! The scanner decides each error at the byte where it becomes visible, the
//! limit first when a byte both breaks a limit and the syntax, so limits are
//! reported at once on an incomplete head, never [`Parsed::Partial`] forever.
//! One consequence: calling [`parse_request`] on a prefix of a buffer returns
//! either [`Parsed::Partial`] or exactly what the whole buffer returns, so the
//! caller may simply parse again whenever more bytes arrive (each call
//! rescans the head from its start, at most [`MAX_HEAD_LEN`] bytes and a
//! stack array of [`MAX_HEADERS`] `httparse` fields). A buffer for
//! which it returns [`Parsed::Partial`] is always shorter than
//! [`MAX_HEAD_LEN`].
//!
//! Once the head is complete: the `Host` rules (`400`), then body framing
//! (`400`, `413`, `501`). Method (`405`) and path (`404`) are left to the
//! caller, in that order, through [`Request::method`] and
//! [`Request::path_ok`].
//!
//! # Body framing
//!
//! A `Content-Length` value is plain digits (no sign, no list); anything else
//! is `400`, and so are `Content-Length` together with `Transfer-Encoding`
//! and a repeated `Content-Length`, even with equal values. A body over
//! [`MAX_BODY_LEN`] is `413`. Any other request with `Transfer-Encoding` is
//! `501` on HTTP/1.1 and `400` on HTTP/1.0.

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

/// What the server must do with the bytes at the front of its input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// The head is not complete yet; keep the bytes and wait for more. Only
    /// returned when no limit is already exceeded and no error is visible.
    Partial,
    /// A complete, valid request head of [`Request::head_len`] bytes,
    /// followed by a body of [`Request::body_len`] bytes to read and discard.
    Request(Request),
    /// The request is bad: answer with this status and close the connection,
    /// reading nothing more.
    Error(ErrorStatus),
}

/// The request method, as far as the hello page cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET` (methods are case-sensitive: `get` is [`Method::Other`]).
    Get,
    /// `HEAD`: the same headers as `GET`, no body.
    Head,
    /// Any other method: the caller answers `405` with `Allow: GET, HEAD`.
    Other,
}

/// A complete, valid request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// The method; anything but `GET` and `HEAD` is the caller's `405`.
    pub method: Method,
    /// Whether the target is the hello page: path `/` with an optional query
    /// string (`/`, `/?x=1`), in origin form or absolute form
    /// (`http://host/`, `http://host`). Otherwise the caller's `404`, which
    /// comes after the `405`.
    pub path_ok: bool,
    /// Whether the connection stays open after the response: on HTTP/1.1
    /// unless `Connection` lists `close`; on HTTP/1.0 only if `Connection`
    /// lists `keep-alive` and not `close` (tokens in any letter case, in any
    /// number of `Connection` fields).
    pub keep_alive: bool,
    /// Whether the request is HTTP/1.0 rather than HTTP/1.1. An HTTP/1.0
    /// client that asked for `keep_alive` expects `Connection: keep-alive` in
    /// the response.
    pub http10: bool,
    /// The length of the head, empty lines before the request line and the
    /// final empty line included: the body (if any) starts here.
    pub head_len: usize,
    /// The length of the body after the head (from `Content-Length`, else
    /// 0), at most [`MAX_BODY_LEN`]; read and discard it before parsing the
    /// next pipelined request at `head_len + body_len`.
    pub body_len: usize,
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
pub fn parse_request(buf: &[u8]) -> Parsed {
    let (head_len, http10) = match scan_head(buf) {
        Scan::Partial => return Parsed::Partial,
        Scan::Error(status) => return Parsed::Error(status),
        Scan::Complete { head_len, http10 } => (head_len, http10),
    };
    let Some(head) = buf.get(..head_len) else {
        return Parsed::Error(ErrorStatus::BadRequest);
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        // The scanner is stricter than httparse, so httparse always agrees
        // with it; refuse the request should they ever disagree.
        Ok(httparse::Status::Complete(len)) if len == head_len => {}
        _ => return Parsed::Error(ErrorStatus::BadRequest),
    }
    match check_head(&request, http10) {
        Ok((keep_alive, body_len)) => Parsed::Request(Request {
            method: match request.method {
                Some("GET") => Method::Get,
                Some("HEAD") => Method::Head,
                _ => Method::Other,
            },
            path_ok: request.path.is_some_and(is_hello_target),
            keep_alive,
            http10,
            head_len,
            body_len,
        }),
        Err(status) => Parsed::Error(status),
    }
}

/// What the strict scanner found at the front of the buffer.
enum Scan {
    /// No error visible yet, head incomplete.
    Partial,
    /// The first error, in byte order.
    Error(ErrorStatus),
    /// A syntactically valid head within the limits.
    Complete {
        /// Its length, final empty line included.
        head_len: usize,
        /// HTTP/1.0 (else HTTP/1.1).
        http10: bool,
    },
}

/// Checks the head's syntax and limits byte by byte, deciding each error at
/// the byte that makes it visible.
fn scan_head(buf: &[u8]) -> Scan {
    use ErrorStatus::{BadRequest, HeaderFieldsTooLarge, UriTooLong, VersionNotSupported};

    // The byte at an index, or Partial when it has not arrived yet.
    macro_rules! byte_at {
        ($i:expr) => {
            match buf.get($i) {
                Some(&b) => b,
                None => return Scan::Partial,
            }
        };
    }

    let mut i = 0;

    // Empty lines before the request line: skipped, but counted against the
    // request line's limit so that they cannot pile up.
    loop {
        let b = byte_at!(i);
        if i >= MAX_REQUEST_LINE_LEN {
            return Scan::Error(UriTooLong);
        }
        match b {
            b'\n' => i += 1,
            b'\r' if byte_at!(i + 1) == b'\n' => i += 2,
            b'\r' => return Scan::Error(BadRequest),
            _ => break,
        }
    }

    // Method: a token, then exactly one space.
    let method_start = i;
    loop {
        let b = byte_at!(i);
        if i >= MAX_REQUEST_LINE_LEN {
            return Scan::Error(UriTooLong);
        }
        if b == b' ' && i > method_start {
            i += 1;
            break;
        }
        if !is_tchar(b) {
            return Scan::Error(BadRequest);
        }
        i += 1;
    }

    // Target: visible ASCII, then exactly one space.
    let target_start = i;
    loop {
        let b = byte_at!(i);
        if b == b' ' && i > target_start {
            i += 1;
            break;
        }
        if i >= MAX_REQUEST_LINE_LEN || i - target_start >= MAX_TARGET_LEN {
            return Scan::Error(UriTooLong);
        }
        if !b.is_ascii_graphic() {
            return Scan::Error(BadRequest);
        }
        i += 1;
    }

    // Version: exactly `HTTP/d.d`, then the line ending.
    let (mut major, mut minor) = (0, 0);
    for (k, &want) in b"HTTP/#.#".iter().enumerate() {
        let b = byte_at!(i);
        if i >= MAX_REQUEST_LINE_LEN {
            return Scan::Error(UriTooLong);
        }
        let ok = if want == b'#' { b.is_ascii_digit() } else { b == want };
        if !ok {
            return Scan::Error(BadRequest);
        }
        match k {
            5 => major = b,
            7 => minor = b,
            _ => {}
        }
        i += 1;
    }
    match byte_at!(i) {
        b'\n' => i += 1,
        b'\r' if byte_at!(i + 1) == b'\n' => i += 2,
        _ => return Scan::Error(BadRequest),
    }
    if major != b'1' || (minor != b'0' && minor != b'1') {
        return Scan::Error(VersionNotSupported);
    }
    let http10 = minor == b'0';

    // Header section: field lines until an empty line.
    let section_start = i;
    let mut fields = 0;
    loop {
        // Start of a line: the final empty line, or a new field.
        let b = byte_at!(i);
        match b {
            b'\n' => return Scan::Complete { head_len: i + 1, http10 },
            b'\r' if byte_at!(i + 1) == b'\n' => return Scan::Complete { head_len: i + 2, http10 },
            _ => {}
        }
        fields += 1;
        if i - section_start >= MAX_HEADER_SECTION_LEN || fields > MAX_HEADERS {
            return Scan::Error(HeaderFieldsTooLarge);
        }
        // Also refuses a bare CR, and a space or tab (obs-fold).
        if !is_tchar(b) {
            return Scan::Error(BadRequest);
        }
        i += 1;

        // The rest of the name, up to the colon.
        loop {
            let b = byte_at!(i);
            if i - section_start >= MAX_HEADER_SECTION_LEN {
                return Scan::Error(HeaderFieldsTooLarge);
            }
            i += 1;
            if b == b':' {
                break;
            }
            if !is_tchar(b) {
                return Scan::Error(BadRequest);
            }
        }

        // The value, up to and including the line ending.
        loop {
            let b = byte_at!(i);
            if i - section_start >= MAX_HEADER_SECTION_LEN {
                return Scan::Error(HeaderFieldsTooLarge);
            }
            match b {
                b'\n' => {
                    i += 1;
                    break;
                }
                b'\r' => {
                    if byte_at!(i + 1) != b'\n' {
                        return Scan::Error(BadRequest);
                    }
                    if i + 1 - section_start >= MAX_HEADER_SECTION_LEN {
                        return Scan::Error(HeaderFieldsTooLarge);
                    }
                    i += 2;
                    break;
                }
                b'\t' | b' '..=b'~' | 0x80..=0xff => i += 1,
                _ => return Scan::Error(BadRequest),
            }
        }
    }
}

/// The checks that need the whole head: `Host`, then body framing. Returns
/// `keep_alive` and the body length.
fn check_head(request: &httparse::Request<'_, '_>, http10: bool) -> Result<(bool, usize), ErrorStatus> {
    let mut hosts = 0;
    let mut host_ok = true;
    let mut content_lengths = 0;
    let mut content_length: &[u8] = b"";
    let mut transfer_encoding = false;
    let mut close = false;
    let mut keep_alive = false;
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            host_ok &= header.value.iter().copied().all(is_authority_byte);
        } else if name.eq_ignore_ascii_case("content-length") {
            content_lengths += 1;
            content_length = header.value;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for option in header.value.split(|&b| b == b',') {
                let option = trim_ows(option);
                close |= option.eq_ignore_ascii_case(b"close");
                keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }

    if hosts > 1 || (hosts == 0 && !http10) || !host_ok {
        return Err(ErrorStatus::BadRequest);
    }

    if content_lengths > 1 || (content_lengths == 1 && transfer_encoding) {
        return Err(ErrorStatus::BadRequest);
    }
    let body_len = if content_lengths == 1 { parse_content_length(content_length)? } else { 0 };
    if transfer_encoding {
        return Err(if http10 { ErrorStatus::BadRequest } else { ErrorStatus::NotImplemented });
    }

    let keep_alive = !close && (keep_alive || !http10);
    Ok((keep_alive, body_len))
}

/// A `Content-Length` value (httparse has trimmed the whitespace around it):
/// plain digits, at most [`MAX_BODY_LEN`].
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

/// Whether a request target names the hello page: path `/` with an optional
/// query, in origin form (`/?q`) or absolute form (`http://host/?q`,
/// `http://host`).
fn is_hello_target(target: &str) -> bool {
    let path_and_query = if target.starts_with('/') {
        target
    } else if let Some(rest) =
        strip_prefix_ignore_case(target, "http://").or_else(|| strip_prefix_ignore_case(target, "https://"))
    {
        let (authority, path_and_query) = match rest.find(['/', '?']) {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return false;
        }
        path_and_query
    } else {
        return false;
    };
    let path = path_and_query.split_once('?').map_or(path_and_query, |(path, _query)| path);
    path == "/" || path.is_empty()
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
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A byte a `Host` value may hold: what a URI authority's host and port are
/// made of (RFC 3986: unreserved, sub-delims, `%`, `:`, `[` and `]`).
fn is_authority_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%:[]".contains(&b)
}

/// `s` without leading and trailing spaces and tabs.
fn trim_ows(s: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = s.iter().position(|b| !is_ows(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !is_ows(b)).map_or(start, |last| last + 1);
    s.get(start..end).unwrap_or_default()
}

/// Appends a complete HTTP/1.1 response to `out`.
///
/// Writes the status line `HTTP/1.1 {status} {reason}`, then `Date: {date}`
/// (`date` is an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`),
/// `Content-Length: {body.len()}` (always, also for `HEAD`),
/// `Connection: close` when `close`, `Content-Type` when given, then each of
/// `extra_headers` as `name: value` (e.g. `("Allow", "GET, HEAD")`), the empty
/// line, and `body` unless `head_only`. Lines end in CRLF. The strings must
/// not contain CR or LF. Allocates nothing but the growth of `out`.
#[allow(clippy::too_many_arguments)]
pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    reason: &str,
    date: &[u8],
    extra_headers: &[(&str, &str)],
    content_type: Option<&str>,
    body: &[u8],
    head_only: bool,
    close: bool,
) {
    debug_assert!(!has_line_break(reason.as_bytes()) && !has_line_break(date));
    debug_assert!(extra_headers.iter().all(|(n, v)| !has_line_break(n.as_bytes()) && !has_line_break(v.as_bytes())));
    debug_assert!(content_type.map_or(true, |t| !has_line_break(t.as_bytes())));

    let extra_len: usize = extra_headers.iter().map(|(name, value)| name.len() + value.len() + 4).sum();
    out.reserve(
        128 + reason.len()
            + date.len()
            + extra_len
            + content_type.map_or(0, str::len)
            + if head_only { 0 } else { body.len() },
    );

    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, usize::from(status));
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\nContent-Length: ");
    push_decimal(out, body.len());
    out.extend_from_slice(b"\r\n");
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    if let Some(content_type) = content_type {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(content_type.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in extra_headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// Whether `s` holds a CR or an LF.
fn has_line_break(s: &[u8]) -> bool {
    s.iter().any(|&b| b == b'\r' || b == b'\n')
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    for slot in digits.iter_mut().rev() {
        *slot = b"0123456789"[n % 10];
        start -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
