//! "[ctime] data": the seed's time-stamping server (`tsTserv.py`,
//! `tsUserv.py`) and its client, over TCP and UDP on one port.
//!
//! ```text
//! cargo run --release --example timestamp -- [--listen 127.0.0.1:21567] [--max-conns N] [--idle-timeout 60]
//! nc 127.0.0.1 21567              # each line comes back as "[Sat Nov 21 23:53:24 2026] line"
//! nc -u 127.0.0.1 21567           # the same per datagram
//! printf 'one\ntwo\n' | cargo run --release --example timestamp -- client [--connect 127.0.0.1:21567]
//! ```
//!
//! The client runs on the reactor too: standard input is one more event
//! source next to the server connection, so lines typed are sent as they
//! come and replies printed as they arrive.

mod common;
#[path = "common/timestamp.rs"]
mod timestamp;

use std::net::SocketAddr;

const USAGE: &str = "usage: timestamp [--listen ADDR] [--max-conns N] [--idle-timeout SECS]
       timestamp client [--connect ADDR]

Each line (TCP) or datagram (UDP) comes back as \"[ctime] line\".

server options:
  --listen ADDR         address to serve on (default 127.0.0.1:21567)
  --max-conns N         most TCP connections at once (default: the file limit less a reserve)
  --idle-timeout SECS   close a connection silent this long (default 60; 0: never)

client (reads lines from standard input until its end):
  --connect ADDR        server to use (default 127.0.0.1:21567)

  -h, --help            show this help";

/// What the command line asked for.
enum Mode {
    Server(common::ServerArgs),
    Client(SocketAddr),
}

fn parse_args() -> Mode {
    let mut parser = lexopt::Parser::from_env();
    let mut server = timestamp::default_args();
    let mut client: Option<SocketAddr> = None;
    while let Some(arg) = common::next_arg(USAGE, &mut parser) {
        match arg {
            lexopt::Arg::Short('h') | lexopt::Arg::Long("help") => common::help(USAGE),
            lexopt::Arg::Long("connect") if client.is_some() => {
                client = Some(common::value(USAGE, &mut parser, "--connect"));
            }
            lexopt::Arg::Long(name) if client.is_none() => {
                let name = name.to_string();
                if !server.take(USAGE, Some(&name), &mut parser) {
                    common::bad_args(USAGE, format!("invalid option '--{name}'"));
                }
            }
            lexopt::Arg::Value(v) if client.is_none() && v == "client" => client = Some(server.listen),
            other => common::bad_args(USAGE, other.unexpected()),
        }
    }
    match client {
        Some(addr) => Mode::Client(addr),
        None => Mode::Server(server),
    }
}

fn main() {
    common::init_logging();
    match parse_args() {
        Mode::Server(args) => {
            let mut reactor = common::reactor();
            timestamp::start(&mut reactor, &args);
            common::run(reactor)
        }
        Mode::Client(addr) => {
            let mut reactor = common::reactor();
            let status = timestamp::start_client(&mut reactor, addr, Box::new(std::io::stdout()));
            common::run_client(reactor, &status)
        }
    }
}
