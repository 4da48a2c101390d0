//! Daytime (RFC 867) over TCP and UDP on one port, and a UDP client (seed
//! 004 exercise 16-6).
//!
//! ```text
//! cargo run --release --example daytime -- [--listen 127.0.0.1:1313] [--max-conns N]
//! nc 127.0.0.1 1313               # "Saturday, November 21, 2026 23:53:24 +00:00", then closed
//! echo | nc -u 127.0.0.1 1313     # the same line per datagram
//! cargo run --release --example daytime -- client [--connect 127.0.0.1:1313] [--ca cert.pem]
//! ```
//!
//! The time is local time (`TZ` is honoured) and the line names its offset
//! from UTC. The standard port 13 needs privileges: `--listen
//! 127.0.0.1:13` works where permitted. The client sends one datagram and
//! waits 2 s at most for the answer (exit status 1 without one). With
//! `--tls` (or `--ca FILE`) it reads the line over TLS instead, since TLS
//! runs over TCP: the same 2 s bound.

mod common;
#[path = "common/daytime.rs"]
mod daytime;

const USAGE: &str = "usage: daytime [--listen ADDR] [--unix PATH] [--max-conns N] [--threads N]
       daytime client [--connect ADDR] [--tls] [--ca FILE]

Daytime (RFC 867): the date and time as one line, over TCP and UDP.

server options:
  --listen ADDR     address to serve on (default 127.0.0.1:1313)
  --unix PATH       also serve on this Unix socket (only there without --listen; @NAME: abstract)
  --threads N       reactors (threads) sharing the port (default 1)
  --max-conns N     most TCP connections at once (default: the file limit less a reserve)
  --tls-cert FILE   serve over TLS with this certificate chain (PEM; with --tls-key)
  --tls-key FILE    the private key of --tls-cert (PEM)

client (one UDP datagram, or the TCP line over TLS; 2 s timeout):
  --connect ADDR    server to ask (default 127.0.0.1:1313)
  --tls             read the line over TLS instead (the certificate must name the address)
  --ca FILE         trust the certificates of FILE (PEM; implies --tls)

  -h, --help        show this help";

/// What the command line asked for.
fn main() {
    common::init_logging();
    match common::parse_server_or_client(USAGE, daytime::default_args(), &["idle-timeout"]) {
        common::ServerOrClient::Server(args) => common::serve(args.threads, move |reactor| {
            daytime::start(reactor, &args);
        }),
        common::ServerOrClient::Client(addr, tls) if tls.enabled => {
            let mut reactor = common::reactor();
            let out = Box::new(std::io::stdout());
            let status = daytime::start_tls_client(&mut reactor, addr, &tls, daytime::CLIENT_TIMEOUT, out);
            common::run_client(reactor, &status)
        }
        common::ServerOrClient::Client(addr, _) => {
            let mut reactor = common::reactor();
            let status =
                match daytime::start_client(&mut reactor, addr, daytime::CLIENT_TIMEOUT, Box::new(std::io::stdout())) {
                    Ok(status) => status,
                    Err(e) => {
                        common::report!("error: cannot open a UDP socket for {addr}: {e}");
                        std::process::exit(1);
                    }
                };
            common::run_client(reactor, &status)
        }
    }
}
