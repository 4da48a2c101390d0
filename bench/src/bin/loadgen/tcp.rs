//! The TCP client: echo_hello (`Welcome!\n`, then `ping N\n` →
//! `Hello, ping N!\n`) and http_hello (`GET /` → `200` and the page),
//! `depth` requests in flight.
//!
//! echo_hello replies are compared with what is expected as the bytes
//! stream in, without buffering: a wrong byte is caught where it arrives.
//! HTTP responses are parsed with `httparse` (a head cut between reads is
//! kept in a reused buffer); the status must be 200, `Content-Length`
//! must be the page's length and the body must be the page, byte for byte.
//! Any mismatch counts one error, is printed (the first one of the run),
//! and the connection is aborted and opened anew.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use reel::{Context, Protocol, Reason, TimerId};

use super::{mismatch, show, Line, Phase, Shared, State, HTTP_BODY, RETRY_DELAY};

/// What echo_hello sends first.
pub(super) const WELCOME: &[u8] = b"Welcome!\n";
const HELLO_PRE: &[u8] = b"Hello, ";
const HELLO_POST: &[u8] = b"!\n";
/// An HTTP response longer than this is an error (the page is ~100 bytes).
const MAX_HTTP_RESPONSE: usize = 64 * 1024;

/// One request in flight.
#[derive(Clone, Copy)]
struct Req {
    sent: Instant,
    /// echo_hello: the line sent. HTTP: unused.
    line: Line,
}

/// How often a connection checks its oldest request against the timeout.
pub(super) fn check_interval(timeout: Duration) -> Duration {
    (timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

pub(super) struct TcpClient {
    sh: Rc<Shared>,
    http: bool,
    /// echo_hello: the welcome has not all arrived yet.
    welcome: bool,
    /// Bytes of the expected reply (or welcome) matched so far.
    matched: usize,
    /// Requests sent and not answered, oldest first (capacity: depth).
    inflight: VecDeque<Req>,
    /// HTTP: the start of a response cut between reads.
    inbuf: Vec<u8>,
    /// When the connection was established.
    made: Option<Instant>,
    /// An error was counted and the connection aborted.
    failed: bool,
}

impl TcpClient {
    pub(super) fn new(sh: Rc<Shared>) -> TcpClient {
        let http = sh.cfg.target == super::Target::HttpHello;
        let depth = sh.cfg.depth;
        TcpClient {
            sh,
            http,
            welcome: !http,
            matched: 0,
            inflight: VecDeque::with_capacity(depth),
            inbuf: Vec::new(),
            made: None,
            failed: false,
        }
    }

    /// Sends one request.
    fn send(&mut self, cx: &mut Context<'_>, st: &mut State, now: Instant) {
        let (line, n) = if self.http {
            cx.write(&self.sh.http_request);
            (Line::EMPTY, self.sh.http_request.len())
        } else {
            let line = Line::ping(st.next_seq());
            cx.write(line.wire());
            (line, line.wire().len())
        };
        if st.measuring() {
            st.bytes_out += n as u64;
        }
        self.inflight.push_back(Req { sent: now, line });
    }

    /// Tops the pipeline up to `depth` requests.
    fn fill(&mut self, cx: &mut Context<'_>, st: &mut State, now: Instant) {
        while self.inflight.len() < self.sh.cfg.depth && st.phase != Phase::Done {
            self.send(cx, st, now);
        }
    }

    /// The oldest request was answered correctly.
    fn complete(&mut self, cx: &mut Context<'_>, st: &mut State, now: Instant) {
        let Some(req) = self.inflight.pop_front() else { return };
        if st.completed(&self.sh.cfg, cx, req.sent, now) {
            self.send(cx, st, now);
        }
    }

    /// Counts an error and aborts; `connection_lost` opens a new one.
    fn fail(&mut self, cx: &mut Context<'_>, st: &mut State, msg: impl FnOnce() -> String) {
        if self.failed {
            return;
        }
        self.failed = true;
        if st.phase != Phase::Done {
            let addr = self.sh.cfg.addr;
            st.error(|| format!("{addr}: {}", msg()));
        }
        cx.abort();
    }

    /// echo_hello: the welcome, then `Hello, ping N!\n` for each request.
    fn on_lines(&mut self, cx: &mut Context<'_>, st: &mut State, mut rest: &[u8], now: Instant) -> Result<(), String> {
        while !rest.is_empty() {
            if self.welcome {
                let want = &WELCOME[self.matched..];
                let n = want.len().min(rest.len());
                if rest[..n] != want[..n] {
                    return Err(mismatch("welcome", WELCOME, self.matched, rest));
                }
                self.matched += n;
                rest = &rest[n..];
                if self.matched == WELCOME.len() {
                    self.welcome = false;
                    self.matched = 0;
                    self.fill(cx, st, now);
                }
                continue;
            }
            let Some(front) = self.inflight.front() else {
                return Err(format!("bytes with no request outstanding: {}", show(rest, 256)));
            };
            let payload = front.line.payload();
            let total = HELLO_PRE.len() + payload.len() + HELLO_POST.len();
            while self.matched < total && !rest.is_empty() {
                let piece = expected_piece(payload, self.matched);
                let n = piece.len().min(rest.len());
                if rest[..n] != piece[..n] {
                    let expected = [HELLO_PRE, payload, HELLO_POST].concat();
                    return Err(mismatch("reply", &expected, self.matched, rest));
                }
                self.matched += n;
                rest = &rest[n..];
            }
            if self.matched == total {
                self.matched = 0;
                self.complete(cx, st, now);
            }
        }
        Ok(())
    }

    /// http_hello: whole responses, the rest kept for the next read.
    fn on_http(&mut self, cx: &mut Context<'_>, st: &mut State, data: &[u8], now: Instant) -> Result<(), String> {
        if self.inbuf.is_empty() {
            let used = self.http_responses(cx, st, data, now)?;
            self.inbuf.extend_from_slice(&data[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.inbuf);
            buf.extend_from_slice(data);
            let used = self.http_responses(cx, st, &buf, now)?;
            buf.drain(..used);
            self.inbuf = buf;
        }
        if self.inbuf.len() > MAX_HTTP_RESPONSE {
            return Err(format!("response over {MAX_HTTP_RESPONSE} bytes: {}", show(&self.inbuf, 512)));
        }
        Ok(())
    }

    /// Takes the whole responses at the start of `buf`; returns the bytes used.
    fn http_responses(
        &mut self,
        cx: &mut Context<'_>,
        st: &mut State,
        buf: &[u8],
        now: Instant,
    ) -> Result<usize, String> {
        let mut pos = 0;
        while pos < buf.len() {
            if self.inflight.is_empty() {
                return Err(format!("bytes with no request outstanding: {}", show(&buf[pos..], 256)));
            }
            match parse_response(&buf[pos..])? {
                None => break,
                Some(n) => {
                    pos += n;
                    self.complete(cx, st, now);
                }
            }
        }
        Ok(pos)
    }
}

/// The rest of the expected echo_hello reply to `payload` from byte `at`
/// on, up to the end of the piece it falls in.
fn expected_piece(payload: &[u8], at: usize) -> &[u8] {
    let pre = HELLO_PRE.len();
    if at < pre {
        &HELLO_PRE[at..]
    } else if at < pre + payload.len() {
        &payload[at - pre..]
    } else {
        &HELLO_POST[at - pre - payload.len()..]
    }
}

/// One HTTP response at the start of `buf`: `Ok(None)` if incomplete,
/// its length if it is the hello page, an error in words otherwise.
fn parse_response(buf: &[u8]) -> Result<Option<usize>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("malformed response ({e}): {}", show(buf, 512))),
    };
    let bad = |why: &str| format!("{why}: {}", show(&buf[..head], 512));
    if resp.version != Some(1) || resp.code != Some(200) {
        return Err(bad("not HTTP/1.1 200"));
    }
    let mut length = None;
    let mut html = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some() || n.is_none() {
                return Err(bad("bad or repeated Content-Length"));
            }
            length = n;
        } else if h.name.eq_ignore_ascii_case("content-type") {
            html = h.value.starts_with(b"text/html");
        }
    }
    let Some(length) = length else { return Err(bad("no Content-Length")) };
    if !html {
        return Err(bad("Content-Type is not text/html"));
    }
    if length != HTTP_BODY.len() {
        return Err(bad(&format!("Content-Length {length}, expected {}", HTTP_BODY.len())));
    }
    if buf.len() < head + length {
        return Ok(None);
    }
    let body = &buf[head..head + length];
    if body != HTTP_BODY {
        return Err(mismatch("body", HTTP_BODY, 0, body));
    }
    Ok(Some(head + length))
}

impl Protocol for TcpClient {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        let sh = Rc::clone(&self.sh);
        {
            let mut st = sh.st.borrow_mut();
            st.connecting -= 1;
            st.open += 1;
            let now = Instant::now();
            self.made = Some(now);
            cx.set_interval(check_interval(sh.cfg.timeout));
            if self.http {
                self.fill(cx, &mut st, now);
            }
        }
        super::launch(&sh, cx);
    }

    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if self.failed {
            return;
        }
        let sh = Rc::clone(&self.sh);
        let mut st = sh.st.borrow_mut();
        if st.measuring() {
            st.bytes_in += data.len() as u64;
        }
        let now = Instant::now();
        let result =
            if self.http { self.on_http(cx, &mut st, data, now) } else { self.on_lines(cx, &mut st, data, now) };
        if let Err(msg) = result {
            self.fail(cx, &mut st, || msg);
        }
    }

    fn timer_fired(&mut self, cx: &mut Context<'_>, _timer: TimerId) {
        let sh = Rc::clone(&self.sh);
        let mut st = sh.st.borrow_mut();
        let timeout = sh.cfg.timeout;
        let now = Instant::now();
        let oldest = if self.welcome { self.made } else { self.inflight.front().map(|r| r.sent) };
        if oldest.is_some_and(|t| now.saturating_duration_since(t) > timeout) {
            let what = if self.welcome { "welcome" } else { "reply" };
            self.fail(cx, &mut st, || format!("no {what} within {timeout:?}"));
        }
    }

    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        let sh = Rc::clone(&self.sh);
        {
            let mut st = sh.st.borrow_mut();
            st.open -= 1;
            if st.phase == Phase::Done {
                return;
            }
            if !self.failed {
                let addr = sh.cfg.addr;
                st.error(|| format!("{addr}: connection lost: {reason}"));
            }
        }
        // After a pause, so that a server answering every request wrongly
        // is not hammered with connections (nor the error count inflated).
        super::reopen_later(&sh, cx, RETRY_DELAY);
    }

    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        let sh = Rc::clone(&self.sh);
        {
            let mut st = sh.st.borrow_mut();
            st.connecting -= 1;
            if st.phase == Phase::Done {
                return;
            }
            let addr = sh.cfg.addr;
            st.error(|| format!("{addr}: connect failed: {reason}"));
        }
        super::reopen_later(&sh, cx, RETRY_DELAY);
        super::launch(&sh, cx);
    }

    fn stop_requested(&mut self, cx: &mut Context<'_>) {
        super::observe_stop(&self.sh);
        cx.close();
    }
}
