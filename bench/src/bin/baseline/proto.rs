//! The protocol logic the three baselines share: pure, no sockets.
//!
//! A [`Session`] answers the `echo_hello` lines or the `http_hello` requests
//! of docs/protocols.md from whatever chunks the socket delivers, appending every
//! answer to one output buffer that the caller writes with one call per read.
//! HTTP heads are parsed and responses written by reel's pure
//! `reel::protocols::http` module (never its reactor), so the baselines and
//! reel's own `http_hello` send the same bytes.
//!
//! Allocation: a session keeps bytes only for an unfinished line or request
//! head, in a buffer whose capacity it keeps; with the caller's output
//! buffer reused too, the steady state allocates nothing.

use std::io;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use reel::protocols::http::{self, ErrorStatus};

/// The longest `echo_hello` line, its `\n` (and a `\r` before it) not
/// counted, as reel's `Lines` framer counts it.
pub const MAX_LINE: usize = 16 * 1024;

/// What `echo_hello` sends on connect.
pub const WELCOME: &[u8] = b"Welcome!\n";

/// What `echo_hello` sends, before closing, for a line over [`MAX_LINE`].
pub const LINE_TOO_LONG: &[u8] = b"error: line too long\n";

/// The `http_hello` page.
pub const PAGE: &[u8] =
    b"<html><head><meta charset=\"utf-8\"><title>Hello</title></head><body><h1>Hello World</h1></body></html>";

/// The content type of [`PAGE`].
pub const PAGE_TYPE: &str = "text/html; charset=utf-8";

/// The content type of the short text bodies of `404`, `405` and errors.
pub const TEXT_TYPE: &str = "text/plain; charset=utf-8";

/// How many bytes of a new read are first appended to an unfinished request
/// head: enough for a typical head, so that completing one does not copy a
/// whole 64 KiB read.
const HEAD_STEP: usize = 512;

/// What answering a request head needs, kept past the bytes it was
/// parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Request {
    method: Method,
    /// The target's path is `/` (the hello page).
    path_ok: bool,
    keep_alive: bool,
    http10: bool,
    head_len: usize,
    body_len: usize,
}

/// The method classes the hello page answers differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Head,
    Other,
}

/// [`http::Parsed`] with the head summed up as a [`Request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parsed {
    Partial,
    Request(Request),
    Error(ErrorStatus),
}

/// Parses the head at the front of `buf` with reel's parser.
fn parse_request(buf: &[u8]) -> Parsed {
    match http::parse_request(buf) {
        http::Parsed::Partial => Parsed::Partial,
        http::Parsed::Error(status) => Parsed::Error(status),
        http::Parsed::Request(r) => Parsed::Request(Request {
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

/// The protocol a baseline serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// `Welcome!`, then `Hello, X!` per line.
    EchoHello,
    /// The HTTP/1.1 hello page.
    HttpHello,
}

impl Proto {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Proto::EchoHello => "echo_hello",
            Proto::HttpHello => "http_hello",
        }
    }

    /// The default listening address of docs/protocols.md.
    pub fn default_listen(self) -> std::net::SocketAddr {
        let port = match self {
            Proto::EchoHello => 9999,
            Proto::HttpHello => 12345,
        };
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    }
}

impl FromStr for Proto {
    type Err = String;

    fn from_str(s: &str) -> Result<Proto, String> {
        match s {
            "echo_hello" => Ok(Proto::EchoHello),
            "http_hello" => Ok(Proto::HttpHello),
            _ => Err("expected echo_hello or http_hello".to_string()),
        }
    }
}

/// What the connection does after the answers of one read are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Flush the output, then close; read no more requests.
    Close,
}

/// One connection's protocol state.
#[derive(Debug)]
pub struct Session {
    proto: Proto,
    /// The unfinished line (without its end) or request head at the end of
    /// the input so far: under `MAX_LINE + 2` bytes for lines, under
    /// `http::MAX_HEAD_LEN` for heads. Cleared, never shrunk.
    pending: Vec<u8>,
    /// Request body bytes still to read and discard.
    skip: usize,
    /// [`Flow::Close`] was returned: answer nothing more.
    done: bool,
}

impl Session {
    /// A session for a new connection.
    pub fn new(proto: Proto) -> Session {
        Session { proto, pending: Vec::new(), skip: 0, done: false }
    }

    /// Appends what the server sends on connect (`echo_hello`'s welcome).
    pub fn connected(&self, out: &mut Vec<u8>) {
        if self.proto == Proto::EchoHello {
            out.extend_from_slice(WELCOME);
        }
    }

    /// Answers the bytes just read, appending to `out`; `date` gives the
    /// HTTP `Date` (read once per call). Never panics, whatever the bytes.
    pub fn received(&mut self, data: &[u8], out: &mut Vec<u8>, date: &mut HttpDate) -> Flow {
        if self.done {
            return Flow::Close;
        }
        let flow = match self.proto {
            Proto::EchoHello => self.lines(data, out),
            Proto::HttpHello => self.requests(data, out, date.now()),
        };
        if flow == Flow::Close {
            self.done = true;
            self.pending = Vec::new();
        }
        flow
    }

    /// `echo_hello`: one answer per complete line.
    fn lines(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Flow {
        if !self.pending.is_empty() {
            // Complete the unfinished line with the start of this read.
            let Some(end) = memchr::memchr(b'\n', data) else {
                if self.pending.len() + data.len() > MAX_LINE + 1 {
                    out.extend_from_slice(LINE_TOO_LONG);
                    return Flow::Close;
                }
                self.pending.extend_from_slice(data);
                return Flow::Continue;
            };
            if self.pending.len() + end > MAX_LINE + 1 {
                out.extend_from_slice(LINE_TOO_LONG);
                return Flow::Close;
            }
            self.pending.extend_from_slice(&data[..end]);
            let flow = answer_line(&self.pending, out);
            self.pending.clear();
            if flow == Flow::Close {
                return flow;
            }
            data = &data[end + 1..];
        }
        while let Some(end) = memchr::memchr(b'\n', data) {
            if answer_line(&data[..end], out) == Flow::Close {
                return Flow::Close;
            }
            data = &data[end + 1..];
        }
        // An unfinished line may still end in `\r\n`: one byte of slack.
        if data.len() > MAX_LINE + 1 {
            out.extend_from_slice(LINE_TOO_LONG);
            return Flow::Close;
        }
        self.pending.extend_from_slice(data);
        Flow::Continue
    }

    /// `http_hello`: one response per complete request, bodies discarded.
    fn requests(&mut self, mut data: &[u8], out: &mut Vec<u8>, date: &[u8]) -> Flow {
        loop {
            let n = self.skip.min(data.len());
            self.skip -= n;
            data = &data[n..];
            if data.is_empty() {
                return Flow::Continue;
            }
            let parsed = if self.pending.is_empty() {
                match parse_request(data) {
                    Parsed::Partial => {
                        self.pending.extend_from_slice(data);
                        return Flow::Continue;
                    }
                    Parsed::Request(request) => {
                        data = data.get(request.head_len..).unwrap_or_default();
                        Parsed::Request(request)
                    }
                    error => error,
                }
            } else {
                match self.complete_head(data) {
                    (Parsed::Request(request), used) => {
                        data = data.get(used..).unwrap_or_default();
                        Parsed::Request(request)
                    }
                    (other, _) => other,
                }
            };
            match parsed {
                Parsed::Partial => return Flow::Continue,
                Parsed::Request(request) => {
                    self.skip = request.body_len;
                    if answer_request(&request, out, date) == Flow::Close {
                        return Flow::Close;
                    }
                }
                Parsed::Error(status) => {
                    answer_error(status, out, date);
                    return Flow::Close;
                }
            }
        }
    }

    /// Appends the start of `data` to the unfinished head in `pending`, a
    /// little at first, until it parses as more than `Partial`. Returns
    /// the result and, for a request, how many bytes of `data` its head
    /// used. A `Partial` result has used all of `data`.
    fn complete_head(&mut self, data: &[u8]) -> (Parsed, usize) {
        let before = self.pending.len();
        let mut taken = 0;
        loop {
            // A head is shorter than MAX_HEAD_LEN, so the second step ends it.
            let step = if taken == 0 { HEAD_STEP } else { http::MAX_HEAD_LEN };
            let end = data.len().min(taken + step);
            self.pending.extend_from_slice(data.get(taken..end).unwrap_or_default());
            taken = end;
            let parsed = parse_request(&self.pending);
            if parsed != Parsed::Partial || taken == data.len() {
                let used = match parsed {
                    Parsed::Request(request) => {
                        self.pending.clear();
                        // `pending[..before]` was Partial, so the head ends past it.
                        request.head_len.saturating_sub(before)
                    }
                    _ => taken,
                };
                return (parsed, used);
            }
        }
    }
}

/// Answers one line (its `\n` removed): `Hello, X!`, or nothing for `exit`.
fn answer_line(line: &[u8], out: &mut Vec<u8>) -> Flow {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > MAX_LINE {
        out.extend_from_slice(LINE_TOO_LONG);
        return Flow::Close;
    }
    if line == b"exit" {
        return Flow::Close;
    }
    out.extend_from_slice(b"Hello, ");
    out.extend_from_slice(line);
    out.extend_from_slice(b"!\n");
    Flow::Continue
}

/// Answers a valid request: `405` for any method but `GET` and `HEAD`
/// (whatever the path), then `404` for any path but `/`, else the page.
fn answer_request(request: &Request, out: &mut Vec<u8>, date: &[u8]) -> Flow {
    let close = !request.keep_alive;
    // An HTTP/1.0 client that asked to keep the connection is told it is kept.
    let keep_alive10 = request.http10 && request.keep_alive;
    let head_only = request.method == Method::Head;
    if request.method == Method::Other {
        let extra: &[(&str, &str)] = if keep_alive10 {
            &[("Allow", "GET, HEAD"), ("Connection", "keep-alive")]
        } else {
            &[("Allow", "GET, HEAD")]
        };
        let body = b"method not allowed\n";
        http::write_response(out, 405, "Method Not Allowed", date, extra, Some(TEXT_TYPE), body, false, close);
    } else {
        let extra: &[(&str, &str)] = if keep_alive10 { &[("Connection", "keep-alive")] } else { &[] };
        if request.path_ok {
            http::write_response(out, 200, "OK", date, extra, Some(PAGE_TYPE), PAGE, head_only, close);
        } else {
            let body = b"not found\n";
            http::write_response(out, 404, "Not Found", date, extra, Some(TEXT_TYPE), body, head_only, close);
        }
    }
    if close {
        Flow::Close
    } else {
        Flow::Continue
    }
}

/// Answers a refused request; the connection closes after it.
fn answer_error(status: ErrorStatus, out: &mut Vec<u8>, date: &[u8]) {
    let body: &[u8] = match status {
        ErrorStatus::BadRequest => b"bad request\n",
        ErrorStatus::PayloadTooLarge => b"content too large\n",
        ErrorStatus::UriTooLong => b"uri too long\n",
        ErrorStatus::HeaderFieldsTooLarge => b"request header fields too large\n",
        ErrorStatus::NotImplemented => b"not implemented\n",
        ErrorStatus::VersionNotSupported => b"http version not supported\n",
    };
    http::write_response(out, status.code(), status.reason(), date, &[], Some(TEXT_TYPE), body, false, true);
}

/// The HTTP `Date` value (IMF-fixdate), formatted at most once per second.
#[derive(Debug, Clone)]
pub struct HttpDate {
    /// The Unix second `text` shows; `u64::MAX` before the first use.
    secs: u64,
    text: [u8; 29],
}

impl Default for HttpDate {
    fn default() -> HttpDate {
        HttpDate { secs: u64::MAX, text: [b' '; 29] }
    }
}

impl HttpDate {
    /// The current date, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn now(&mut self) -> &[u8] {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if secs != self.secs {
            self.secs = secs;
            self.text = format_http_date(secs);
        }
        &self.text
    }
}

/// Formats a Unix time (UTC) as an IMF-fixdate (RFC 9110, section 5.6.7),
/// e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. Years past 9999 wrap.
pub fn format_http_date(secs: u64) -> [u8; 29] {
    const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
    const MONTHS: [&[u8; 3]; 12] =
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    let days = secs / 86_400;
    let time = secs % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 >= 0.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);

    let mut text = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    // 1970-01-01 was a Thursday.
    text[..3].copy_from_slice(DAYS[((days + 4) % 7) as usize]);
    let two = |text: &mut [u8; 29], at: usize, n: u64| {
        text[at] = b'0' + (n / 10 % 10) as u8;
        text[at + 1] = b'0' + (n % 10) as u8;
    };
    two(&mut text, 5, day);
    text[8..11].copy_from_slice(MONTHS[(month - 1) as usize % 12]);
    two(&mut text, 12, year / 100);
    two(&mut text, 14, year);
    two(&mut text, 17, time / 3600);
    two(&mut text, 20, time / 60 % 60);
    two(&mut text, 23, time % 60);
    text
}

/// Reads and discards what the peer already sent, without blocking, just
/// before a close: closing with unread input makes the kernel send a reset,
/// which could destroy the last answer on its way. `read` is a
/// non-blocking read; stops at end of stream, `WouldBlock`, any error, or
/// after 1 MiB.
pub fn discard_input(mut read: impl FnMut(&mut [u8]) -> io::Result<usize>) {
    let mut buf = [0u8; 4096];
    for _ in 0..256 {
        match read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
