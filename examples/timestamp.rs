//! "[ctime] data": the time-stamping server of *Core Python Programming* (`tsTserv.py`,
//! `tsUserv.py`) and its client, over TCP and UDP on one port.
//!
//! ```text
//! cargo run --release --example timestamp -- [--listen 127.0.0.1:21567] [--max-conns N] [--idle-timeout 60]
//! nc 127.0.0.1 21567              # each line comes back as "[Sat Nov 21 23:53:24 2026] line"
//! nc -u 127.0.0.1 21567           # the same per datagram
//! printf 'one\ntwo\n' | cargo run --release --example timestamp -- client [--connect 127.0.0.1:21567] [--ca cert.pem]
//! ```
//!
//! The client runs on the reactor too: standard input is one more event
//! source next to the server connection, so lines typed are sent as they
//! come and replies printed as they arrive.

mod common;
#[path = "common/timestamp.rs"]
mod timestamp;

const USAGE: &str = "usage: timestamp [--listen ADDR] [--unix PATH] [--max-conns N] [--idle-timeout SECS] [--threads N]
       timestamp client [--connect ADDR] [--tls] [--ca FILE]

Each line (TCP) or datagram (UDP) comes back as \"[ctime] line\".

server options:
  --listen ADDR         address to serve on (default 127.0.0.1:21567)
  --unix PATH           also serve on this Unix socket (only there without --listen; @NAME: abstract)
  --threads N           reactors (threads) sharing the port (default 1)
  --max-conns N         most TCP connections at once (default: the file limit less a reserve)
  --tls-cert FILE       serve over TLS with this certificate chain (PEM; with --tls-key)
  --tls-key FILE        the private key of --tls-cert (PEM)
  --idle-timeout SECS   close a connection silent this long (default 60; 0: never)

client (reads lines from standard input until its end):
  --connect ADDR        server to use (default 127.0.0.1:21567)
  --tls                 connect over TLS (the certificate must name the address)
  --ca FILE             trust the certificates of FILE (PEM; implies --tls)

  -h, --help            show this help";

/// What the command line asked for.
fn main() {
    common::init_logging();
    match common::parse_server_or_client(USAGE, timestamp::default_args(), &[]) {
        common::ServerOrClient::Server(args) => common::serve(args.threads, move |reactor| {
            timestamp::start(reactor, &args);
        }),
        common::ServerOrClient::Client(addr, tls) => {
            let mut reactor = common::reactor();
            let status = timestamp::start_client_over(&mut reactor, addr, &tls, Box::new(std::io::stdout()));
            common::run_client(reactor, &status)
        }
    }
}
