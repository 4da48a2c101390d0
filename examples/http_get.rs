//! A small HTTP client on the reactor: fetches one page and prints it.
//!
//! ```text
//! cargo run --release --example http_hello &                  # something to fetch
//! cargo run --release --example http_get -- --connect 127.0.0.1:12345
//! cargo run --release --example http_get -- --connect [::1]:12345 --path /nope
//! cargo run --release --example http_get -- --connect 127.0.0.1:12345 --out page.html
//! cargo run --release --example http_get -- https://127.0.0.1:12346/ --ca /tmp/reel-demo-cert.pem
//! ```
//!
//! A URL (`http://HOST:PORT/PATH` or `https://...`) may stand for
//! `--connect` and `--path`; its host is resolved before the reactor
//! starts, and for `https` it is the name the server's certificate must
//! hold (and the SNI sent). `--tls` (with `--connect`) and `--ca FILE`
//! ask for TLS too; without `--ca` the client trusts the usual roots
//! (`webpki-roots`).
//!
//! Connects with the reactor's TCP client (`Reactor::connect_tcp`), sends
//! `GET PATH HTTP/1.1` with `Host` and `Connection: close`, reads to the end
//! of the stream, prints the status line and the header fields to stdout
//! (one per line, line feeds only), and writes the body to `--out`, or to
//! stdout after a blank line. Exit status 0 once a whole response arrived,
//! whatever its status code; 1 with one clear line on stderr if the
//! connection was refused or reset, or the response was cut short; 2 for
//! bad arguments.

mod common;

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::process::exit;
use std::rc::Rc;
use std::time::Duration;

use reel::{Context, Protocol, Reactor, Reason, TimerId};

const USAGE: &str = "usage: http_get --connect ADDR [--path PATH] [--out FILE] [--tls] [--ca FILE]
       http_get URL [--out FILE] [--ca FILE]

Fetches one page over HTTP/1.1 and prints its status line and headers, then
its body (to FILE with --out, else to stdout after a blank line).

options:
  --connect ADDR    server address, e.g. 127.0.0.1:12345 or [::1]:12345
  --path PATH       request target, starting with / (default /)
  --out FILE        write the body to FILE
  --tls             fetch over TLS (HTTPS)
  --ca FILE         trust the certificates of FILE (PEM; implies --tls)
  URL               http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH
  -h, --help        show this help";

/// How long the server may stay silent before the client gives up.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest response head accepted.
pub const MAX_HEAD: usize = 64 * 1024;

fn main() {
    common::init_logging();
    let (target, path, out) = parse_args();
    let body_out: Option<Box<dyn Write>> = match &out {
        None => None,
        Some(file) => match File::create(file) {
            Ok(f) => Some(Box::new(BufWriter::new(f))),
            Err(e) => {
                common::report!("error: cannot create {file}: {e}");
                exit(1)
            }
        },
    };
    // One reactor, one client connection; it stops the reactor when done.
    let mut reactor = common::reactor();
    let outcome = get_target(&mut reactor, &target, &path, Box::new(BufWriter::new(io::stdout().lock())), body_out);
    if let Err(e) = reactor.run() {
        common::report!("error: {e}");
        exit(1)
    }
    match outcome.take() {
        Some(Ok(_status)) => exit(0),
        Some(Err(line)) => {
            common::report!("error: {line}");
            exit(1)
        }
        None => {
            common::report!("error: stopped before a response arrived");
            exit(1)
        }
    }
}

/// Where to fetch from: the address, the `Host` header, and TLS.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// The `Host` header's value.
    pub host: String,
    /// The name the server's certificate must hold, when over TLS.
    pub server_name: String,
    pub tls: common::ClientTls,
}

impl Target {
    /// `addr` itself, over TCP (`--connect`).
    pub fn plain(addr: SocketAddr) -> Target {
        Target { addr, host: host_header(addr), server_name: addr.ip().to_string(), tls: Default::default() }
    }

    /// The same over TLS, verifying the server as `server_name` against
    /// the certificates of `ca` (else the usual roots).
    pub fn over_tls(self, server_name: &str, ca: Option<std::path::PathBuf>) -> Target {
        Target { server_name: server_name.to_string(), tls: common::ClientTls { enabled: true, ca }, ..self }
    }
}

/// Splits `http://HOST[:PORT]/PATH` or `https://...` into (TLS, host,
/// port, path); `None` if it is neither.
pub fn split_url(url: &str) -> Option<(bool, String, u16, String)> {
    let (tls, rest) = match url.split_once("://")? {
        ("http", rest) => (false, rest),
        ("https", rest) => (true, rest),
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        (host.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), port.parse().ok()?),
            None => (authority.to_string(), default_port),
        }
    };
    (!host.is_empty()).then_some((tls, host, port, path))
}

/// `--connect`, `--path`, `--out`, `--tls`, `--ca`, or a URL; usage
/// errors exit 2.
fn parse_args() -> (Target, String, Option<String>) {
    let (mut connect, mut path, mut out) = (None, "/".to_string(), None);
    let mut url: Option<String> = None;
    let mut tls = common::ClientTls::default();
    let mut parser = lexopt::Parser::from_env();
    loop {
        match parser.next() {
            Ok(None) => break,
            Ok(Some(lexopt::Arg::Short('h') | lexopt::Arg::Long("help"))) => common::help(USAGE),
            Ok(Some(lexopt::Arg::Long("connect"))) => connect = Some(common::value(USAGE, &mut parser, "--connect")),
            Ok(Some(lexopt::Arg::Long("path"))) => path = common::value(USAGE, &mut parser, "--path"),
            Ok(Some(lexopt::Arg::Long("out"))) => out = Some(common::value(USAGE, &mut parser, "--out")),
            Ok(Some(lexopt::Arg::Long(name))) if matches!(name, "tls" | "ca") => {
                let name = name.to_string();
                tls.take(USAGE, &name, &mut parser);
            }
            Ok(Some(lexopt::Arg::Value(v))) if url.is_none() => match v.into_string() {
                Ok(v) => url = Some(v),
                Err(v) => common::bad_args(USAGE, format!("URL {v:?}: not valid UTF-8")),
            },
            Ok(Some(other)) => common::bad_args(USAGE, other.unexpected()),
            Err(e) => common::bad_args(USAGE, e),
        }
    }
    let target = match (connect, url) {
        (Some(_), Some(_)) => common::bad_args(USAGE, "give --connect ADDR or a URL, not both"),
        (None, None) => common::bad_args(USAGE, "missing --connect ADDR (or a URL)"),
        (Some(addr), None) => Target { tls, ..Target::plain(addr) },
        (None, Some(url)) => {
            let Some((https, host, port, url_path)) = split_url(&url) else {
                common::bad_args(USAGE, format!("{url:?}: not an http:// or https:// URL"))
            };
            path = url_path;
            let addr = match std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)) {
                Ok(mut addrs) => match addrs.next() {
                    Some(addr) => addr,
                    None => {
                        common::report!("error: {host}: no address");
                        exit(1)
                    }
                },
                Err(e) => {
                    common::report!("error: cannot resolve {host}: {e}");
                    exit(1)
                }
            };
            let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
            tls.enabled |= https;
            Target { addr, host: authority, server_name: host, tls }
        }
    };
    if !is_valid_path(&path) {
        common::bad_args(USAGE, format!("--path {path:?}: must start with / and hold visible ASCII only"));
    }
    (target, path, out)
}

/// Whether `path` can be sent as a request target: `/` then visible ASCII
/// (no space, CR or LF that would change the request).
pub fn is_valid_path(path: &str) -> bool {
    path.starts_with('/') && path.bytes().all(|b| b.is_ascii_graphic())
}

/// The `Host` value for `addr`: `127.0.0.1:PORT` or `[::1]:PORT`.
pub fn host_header(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

/// The request sent for `path` to `addr`.
pub fn request(addr: SocketAddr, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", host_header(addr)).into_bytes()
}

/// How a fetch ended: the status code of a complete response, or the one
/// line that tells why there is none. Shared between the client and its
/// caller; `None` until the connection is over.
#[derive(Debug, Clone, Default)]
pub struct Outcome(Rc<RefCell<Option<Result<u16, String>>>>);

impl Outcome {
    /// Takes the result, once the reactor has stopped.
    pub fn take(&self) -> Option<Result<u16, String>> {
        self.0.borrow_mut().take()
    }

    /// Records the result unless one is recorded already.
    fn set(&self, result: Result<u16, String>) {
        let mut slot = self.0.borrow_mut();
        if slot.is_none() {
            *slot = Some(result);
        }
    }
}

/// Starts fetching `path` from `addr` on `reactor`: the status line and
/// header fields go to `head_out`, the body to `body_out` (or to
/// `head_out` after a blank line). The client stops the reactor when the
/// connection is over; the result is then in the returned [`Outcome`].
pub fn get(
    reactor: &mut Reactor,
    addr: SocketAddr,
    path: &str,
    head_out: Box<dyn Write>,
    body_out: Option<Box<dyn Write>>,
) -> Outcome {
    get_target(reactor, &Target::plain(addr), path, head_out, body_out)
}

/// [`get`] from a [`Target`]: over TLS when it says so.
pub fn get_target(
    reactor: &mut Reactor,
    target: &Target,
    path: &str,
    head_out: Box<dyn Write>,
    body_out: Option<Box<dyn Write>>,
) -> Outcome {
    let outcome = Outcome::default();
    let addr = target.addr;
    let client = GetClient {
        addr,
        request: format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", target.host).into_bytes(),
        head: Vec::new(),
        status: None,
        head_out,
        body_out,
        content_length: None,
        body_len: 0,
        outcome: outcome.clone(),
        timer: None,
    };
    if !target.tls.enabled {
        reactor.connect_tcp(addr, client);
        return outcome;
    }
    match reel::tls::client_config(target.tls.ca.as_deref()) {
        Ok(mut config) => {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            reactor.connect_tls(addr, &target.server_name, std::sync::Arc::new(config), client);
        }
        Err(e) => {
            common::report!("error: cannot load the CA certificates: {e}");
            exit(1)
        }
    }
    outcome
}

/// The client side of one `GET`.
struct GetClient {
    addr: SocketAddr,
    request: Vec<u8>,
    /// The response head received so far (until complete).
    head: Vec<u8>,
    /// The final status, once the head is complete.
    status: Option<u16>,
    head_out: Box<dyn Write>,
    body_out: Option<Box<dyn Write>>,
    /// The announced body length, to tell a cut-short body.
    content_length: Option<u64>,
    body_len: u64,
    outcome: Outcome,
    /// Gives up when the server says nothing for [`READ_TIMEOUT`].
    timer: Option<TimerId>,
}

/// What a complete response head says.
struct Head {
    len: usize,
    status: u16,
    content_length: Option<u64>,
}

impl GetClient {
    /// Parses the response head at the front of `self.head`.
    fn parse_head(&self) -> Result<Option<Head>, String> {
        let mut headers = [httparse::EMPTY_HEADER; 100];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&self.head) {
            Ok(httparse::Status::Partial) if self.head.len() > MAX_HEAD => {
                Err(format!("response head from {} over {MAX_HEAD} bytes", self.addr))
            }
            Ok(httparse::Status::Partial) => Ok(None),
            Ok(httparse::Status::Complete(len)) => {
                let content_length = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
                    .and_then(|v| v.trim().parse().ok());
                Ok(Some(Head { len, status: response.code.unwrap_or(0), content_length }))
            }
            Err(e) => Err(format!("malformed response from {}: {e}", self.addr)),
        }
    }

    /// Takes in response bytes; returns an error line to give up with.
    fn take_in(&mut self, data: &[u8]) -> Result<(), String> {
        if self.status.is_some() {
            return self.body(data);
        }
        self.head.extend_from_slice(data);
        loop {
            let Some(head) = self.parse_head()? else { return Ok(()) };
            let rest = self.head.split_off(head.len);
            // Interim answers (`100 Continue`) precede the real one.
            if (100..200).contains(&head.status) && head.status != 101 {
                self.head = rest;
                continue;
            }
            self.print_head(head.len)?;
            self.status = Some(head.status);
            // 204 and 304 answers have no body, whatever their
            // Content-Length says (RFC 9112, section 6.3).
            self.content_length = if matches!(head.status, 204 | 304) { Some(0) } else { head.content_length };
            self.head = Vec::new();
            return self.body(&rest);
        }
    }

    /// Prints the status line and the header fields, one per line.
    fn print_head(&mut self, len: usize) -> Result<(), String> {
        let head = self.head.get(..len).unwrap_or_default();
        for line in head.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                break; // the end of the head
            }
            self.head_out.write_all(line).and_then(|()| self.head_out.write_all(b"\n")).map_err(output_error)?;
        }
        if self.body_out.is_none() {
            self.head_out.write_all(b"\n").map_err(output_error)?;
        }
        Ok(())
    }

    /// Takes in body bytes: the body is exactly `Content-Length` bytes
    /// when the head says how many; anything after them is not body and
    /// never written out, but a protocol error (a server that sends more
    /// than it announced is broken or is smuggling a second response).
    fn body(&mut self, data: &[u8]) -> Result<(), String> {
        let room = match self.content_length {
            Some(expected) => usize::try_from(expected.saturating_sub(self.body_len)).unwrap_or(usize::MAX),
            None => usize::MAX,
        };
        let (body, extra) = data.split_at(room.min(data.len()));
        self.body_len += body.len() as u64;
        let out = self.body_out.as_mut().unwrap_or(&mut self.head_out);
        out.write_all(body).map_err(output_error)?;
        match self.content_length {
            Some(expected) if !extra.is_empty() => {
                Err(format!("{} sent more than the {expected} body bytes its Content-Length announced", self.addr))
            }
            _ => Ok(()),
        }
    }

    /// The end of the stream: was the response whole?
    fn finish(&mut self) -> Result<u16, String> {
        let Some(status) = self.status else {
            return Err(format!("{} closed the connection before a complete response", self.addr));
        };
        if let Some(expected) = self.content_length.filter(|&n| n > self.body_len) {
            return Err(format!(
                "{} closed the connection after {} of {expected} body bytes",
                self.addr, self.body_len
            ));
        }
        self.flush()?;
        Ok(status)
    }

    fn flush(&mut self) -> Result<(), String> {
        if let Some(out) = self.body_out.as_mut() {
            out.flush().map_err(output_error)?;
        }
        self.head_out.flush().map_err(output_error)
    }
}

fn output_error(e: io::Error) -> String {
    format!("cannot write the output: {e}")
}

impl Protocol for GetClient {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        log::debug!("connected to {}", self.addr);
        cx.write(&self.request);
        self.timer = Some(cx.set_timer(READ_TIMEOUT));
    }

    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if let Some(timer) = self.timer {
            cx.reset_timer(timer, READ_TIMEOUT);
        }
        if let Err(line) = self.take_in(data) {
            self.outcome.set(Err(line));
            cx.abort();
        }
    }

    fn eof_received(&mut self, cx: &mut Context<'_>) {
        let result = self.finish();
        self.outcome.set(result);
        cx.close();
    }

    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        // Whatever arrived is shown, also when the rest is missing.
        let flushed = self.flush();
        let addr = self.addr;
        let result = match reason {
            Reason::Reset => Err(format!("connection to {addr} reset by peer")),
            Reason::TimedOut => Err(format!("no data from {addr} for {} s", READ_TIMEOUT.as_secs())),
            // An HTTPS server may end without close_notify: the response
            // is whole if its length says so (`finish` checks).
            Reason::Shutdown | Reason::Closed | Reason::PeerClosed | Reason::TlsTruncated => self.finish(),
            other => Err(format!("connection to {addr} lost: {other}")),
        };
        self.outcome.set(result);
        if let Err(line) = flushed {
            self.outcome.set(Err(line));
        }
        cx.stop();
    }

    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        let why = match reason {
            Reason::Refused => "connection refused".to_string(),
            Reason::TimedOut => "timed out".to_string(),
            other => other.to_string(),
        };
        self.outcome.set(Err(format!("cannot connect to {}: {why}", self.addr)));
        cx.stop();
    }

    fn timer_fired(&mut self, cx: &mut Context<'_>, timer: TimerId) {
        if self.timer == Some(timer) {
            self.timer = None;
            cx.close_with(Reason::TimedOut);
        }
    }

    fn stop_requested(&mut self, cx: &mut Context<'_>) {
        self.outcome.set(Err("interrupted before the response was complete".to_string()));
        cx.close();
    }
}
