//! "Welcome!" and "Hello, X!" over TCP and UDP on one port (the
//! README's "ported from" table).
//!
//! ```text
//! cargo run --release --example echo_hello -- [--listen 127.0.0.1:9999] [--max-conns N] [--idle-timeout 60]
//! nc 127.0.0.1 9999               # Welcome!, then type names; `exit` ends
//! nc -u 127.0.0.1 9999            # type a name, get "Hello, name!" back
//! cargo run --release --example echo_hello -- client [--connect 127.0.0.1:9999] [NAME...]
//! ```
//!
//! The tutorial's threaded server answered whatever one `recv` returned, so two
//! names sent together came back as one ("sticky packets"). Here the
//! stream is split into lines by the framework, whatever the segmentation,
//! and one thread serves every connection.

mod common;
#[path = "common/echo_hello.rs"]
mod echo_hello;

use std::net::SocketAddr;
use std::os::unix::ffi::OsStringExt;

const USAGE: &str =
    "usage: echo_hello [--listen ADDR] [--unix PATH] [--max-conns N] [--idle-timeout SECS] [--threads N]
       echo_hello client [--connect ADDR] [--tls] [--ca FILE] [NAME...]

Welcome!/Hello, X! over TCP, and Hello, X! over UDP, on one port.

server options:
  --listen ADDR         address to serve on (default 127.0.0.1:9999)
  --unix PATH           also serve on this Unix socket (only there without --listen; @NAME: abstract)
  --threads N           reactors (threads) sharing the port (default 1)
  --max-conns N         most TCP connections at once (default: the file limit less a reserve)
  --tls-cert FILE       serve over TLS with this certificate chain (PEM; with --tls-key)
  --tls-key FILE        the private key of --tls-cert (PEM)
  --idle-timeout SECS   close a connection silent this long (default 60; 0: never)

client:
  --connect ADDR        server to greet (default 127.0.0.1:9999)
  --tls                 connect over TLS (the certificate must name the address)
  --ca FILE             trust the certificates of FILE (PEM; implies --tls)
  NAME...               names to send, one line each (default: Michael Tracy Sarah)

  -h, --help            show this help";

/// What the command line asked for.
enum Mode {
    Server(common::ServerArgs),
    Client { connect: SocketAddr, names: Vec<Vec<u8>>, tls: common::ClientTls },
}

fn parse_args() -> Mode {
    let mut parser = lexopt::Parser::from_env();
    let mut server = echo_hello::default_args();
    let mut client: Option<(SocketAddr, Vec<Vec<u8>>)> = None;
    let mut tls = common::ClientTls::default();
    while let Some(arg) = common::next_arg(USAGE, &mut parser) {
        match arg {
            lexopt::Arg::Short('h') | lexopt::Arg::Long("help") => common::help(USAGE),
            lexopt::Arg::Long("connect") if client.is_some() => {
                let addr = common::value(USAGE, &mut parser, "--connect");
                if let Some((connect, _)) = client.as_mut() {
                    *connect = addr;
                }
            }
            lexopt::Arg::Long(name) if client.is_some() && matches!(name, "tls" | "ca") => {
                let name = name.to_string();
                tls.take(USAGE, &name, &mut parser);
            }
            lexopt::Arg::Long(name) if client.is_none() => {
                let name = name.to_string();
                if !server.take(USAGE, Some(&name), &mut parser) {
                    common::bad_args(USAGE, format!("invalid option '--{name}'"));
                }
            }
            lexopt::Arg::Value(v) => match client.as_mut() {
                Some((_, names)) => names.push(v.into_vec()),
                None if v == "client" => client = Some((server.listen, Vec::new())),
                None => common::bad_args(USAGE, format!("unexpected argument {v:?}")),
            },
            other => common::bad_args(USAGE, other.unexpected()),
        }
    }
    match client {
        Some((connect, mut names)) => {
            if names.is_empty() {
                names = echo_hello::DEFAULT_NAMES.iter().map(|n| n.as_bytes().to_vec()).collect();
            }
            Mode::Client { connect, names, tls }
        }
        None => Mode::Server(server),
    }
}

fn main() {
    common::init_logging();
    match parse_args() {
        Mode::Server(args) => common::serve(args.threads, move |reactor| {
            echo_hello::start(reactor, &args);
        }),
        Mode::Client { connect, names, tls } => {
            let mut reactor = common::reactor();
            let status = echo_hello::start_client_over(&mut reactor, connect, &tls, names, Box::new(std::io::stdout()));
            common::run_client(reactor, &status)
        }
    }
}
