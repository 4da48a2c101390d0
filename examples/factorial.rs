//! n! over UDP, computed off the reactor thread (ported from a tutorial's
//! server).
//!
//! ```text
//! cargo run --release --example factorial -- [--listen 127.0.0.1:9998]
//! echo 20 | nc -u -w1 127.0.0.1 9998        # 2432902008176640000
//! cargo run --release --example factorial -- client 100 [--connect 127.0.0.1:9998]
//! ```
//!
//! The tutorial's server computed in its only thread and served one datagram.
//! Here the multiplication runs on a worker thread (`defer_to_thread`) and
//! the reactor answers other datagrams while it runs. Anything but an
//! integer from 0 to 10000 gets `error: expected an integer from 0 to
//! 10000`.

mod common;
#[path = "common/factorial.rs"]
mod factorial;

use std::net::SocketAddr;

const USAGE: &str = "usage: factorial [--listen ADDR] [--threads N]
       factorial client N [--connect ADDR]

n! for 0 <= n <= 10000, over UDP.

server options:
  --listen ADDR     address to serve on (default 127.0.0.1:9998)
  --threads N       reactors (threads) sharing the port (default 1)

client (5 s timeout):
  N                 the integer to send
  --connect ADDR    server to ask (default 127.0.0.1:9998)

  -h, --help        show this help";

/// What the command line asked for.
enum Mode {
    Server(common::ServerArgs),
    Client { connect: SocketAddr, request: Option<String> },
}

fn parse_args() -> Mode {
    let mut parser = lexopt::Parser::from_env();
    let mut server = factorial::default_args();
    let mut mode: Option<Mode> = None;
    while let Some(arg) = common::next_arg(USAGE, &mut parser) {
        match (arg, &mut mode) {
            (lexopt::Arg::Short('h') | lexopt::Arg::Long("help"), _) => common::help(USAGE),
            (lexopt::Arg::Long("connect"), Some(Mode::Client { connect, .. })) => {
                *connect = common::value(USAGE, &mut parser, "--connect");
            }
            (lexopt::Arg::Long("listen"), None) => {
                server.take(USAGE, Some("listen"), &mut parser);
            }
            (lexopt::Arg::Long("threads"), None) => server.threads = common::threads(USAGE, &mut parser),
            (lexopt::Arg::Value(v), None) if v == "client" => {
                mode = Some(Mode::Client { connect: server.listen, request: None });
            }
            (lexopt::Arg::Value(v), Some(Mode::Client { request: request @ None, .. })) => match v.into_string() {
                Ok(n) => *request = Some(n),
                Err(v) => common::bad_args(USAGE, format!("N {v:?} is not valid UTF-8")),
            },
            (other, _) => common::bad_args(USAGE, other.unexpected()),
        }
    }
    match mode {
        Some(Mode::Client { request: None, .. }) => common::bad_args(USAGE, "client: no N given"),
        Some(client) => client,
        None => Mode::Server(server),
    }
}

fn main() {
    common::init_logging();
    match parse_args() {
        Mode::Server(args) => common::serve(args.threads, move |reactor| {
            factorial::start(reactor, &args);
        }),
        Mode::Client { connect, request } => {
            let mut reactor = common::reactor();
            let request = request.unwrap_or_default();
            let out = Box::new(std::io::stdout());
            let status = match factorial::start_client(&mut reactor, connect, request, factorial::CLIENT_TIMEOUT, out) {
                Ok(status) => status,
                Err(e) => {
                    common::report!("error: cannot open a UDP socket for {connect}: {e}");
                    std::process::exit(1);
                }
            };
            common::run_client(reactor, &status)
        }
    }
}
