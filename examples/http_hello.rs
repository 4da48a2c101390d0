//! The HTTP hello page: open it in a browser and see "Hello World".
//!
//! ```text
//! cargo run --release --example http_hello -- [--listen 127.0.0.1:12345] [--max-conns N]
//! curl -v http://127.0.0.1:12345/                 # the page, with its headers
//! curl -I http://127.0.0.1:12345/                 # HEAD: the headers only
//! curl -v http://127.0.0.1:12345/ http://127.0.0.1:12345/   # one connection, reused
//! printf 'GET / HTTP/1.0\n\n' | nc 127.0.0.1 12345           # bare LF lines are fine
//! ```
//!
//! Or open <http://127.0.0.1:12345/> in a browser.
//!
//! HTTP/1.1 with keep-alive and pipelining; `GET /` and `HEAD /` are the
//! page, other paths `404`, other methods `405`; malformed requests get
//! `400` (and the other statuses of docs/protocols.md) and the connection
//! closes. A request head must arrive within 10 s, an idle keep-alive
//! connection closes after 30 s. The protocol is in
//! `examples/common/http_hello.rs`, the request parser in
//! `reel::protocols::http`.

mod common;
#[path = "common/http_hello.rs"]
mod http_hello;

const USAGE: &str = "usage: http_hello [--listen ADDR] [--unix PATH] [--max-conns N] [--threads N]

The HTTP hello page: GET / answers \"Hello World\" in HTML.

options:
  --listen ADDR     address to serve on (default 127.0.0.1:12345)
  --unix PATH       also serve on this Unix socket (only there without --listen; @NAME: abstract)
  --threads N       reactors (threads) sharing the port (default 1)
  --max-conns N     most connections at once; more get 503 (default: the file limit less a reserve)
  --tls-cert FILE   serve over TLS with this certificate chain (PEM; with --tls-key)
  --tls-key FILE    the private key of --tls-cert (PEM)
  -h, --help        show this help";

fn main() {
    common::init_logging();
    let args = parse_args();
    // One reactor per thread (one by default); Ctrl-C or SIGTERM stops
    // them gracefully. The listener: each connection gets its own `HelloConn`.
    common::serve(args.reactors(), move |reactor| {
        http_hello::start(reactor, &args);
    })
}

/// `--listen` and `--max-conns` (the deadlines are fixed by the contract).
fn parse_args() -> common::ServerArgs {
    let mut args = common::ServerArgs::new(http_hello::DEFAULT_LISTEN, 0);
    let mut parser = lexopt::Parser::from_env();
    loop {
        match parser.next() {
            Ok(None) => return args,
            Ok(Some(lexopt::Arg::Short('h') | lexopt::Arg::Long("help"))) => common::help(USAGE),
            Ok(Some(lexopt::Arg::Long(name)))
                if matches!(name, "listen" | "max-conns" | "threads" | "unix" | "tls-cert" | "tls-key") =>
            {
                let name = name.to_string();
                args.take(USAGE, Some(&name), &mut parser);
            }
            Ok(Some(other)) => common::bad_args(USAGE, other.unexpected()),
            Err(e) => common::bad_args(USAGE, e),
        }
    }
}
