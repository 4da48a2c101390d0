//! Length-prefixed commands with a JSON header before each answer: the
//! tutorials' cure for "sticky packets".
//!
//! ```text
//! cargo run --release --example framed -- [--listen 127.0.0.1:8080] [--max-conns N] [--idle-timeout 60]
//! cargo run --release --example framed -- client [--connect 127.0.0.1:8080] date os "upper hello" "echo hi"
//! printf '\0\0\0\4date' | nc 127.0.0.1 8080 | xxd   # by hand: a 4-byte length, then the command
//! ```
//!
//! A request is one frame: a 4-byte big-endian length, then a UTF-8
//! command (`date`, `os`, `upper TEXT`, `echo TEXT`). The answer is one
//! frame holding `{"status":"ok","total_size":S}`, then `S` raw bytes. A
//! request announcing more than 64 KiB is refused from its length alone.

mod common;
#[path = "common/framed.rs"]
mod framed;

use std::net::SocketAddr;

const USAGE: &str = "usage: framed [--listen ADDR] [--unix PATH] [--max-conns N] [--idle-timeout SECS] [--threads N]
       framed client [--connect ADDR] [--tls] [--ca FILE] COMMAND...

Length-prefixed commands: date, os, upper TEXT, echo TEXT.

server options:
  --listen ADDR         address to serve on (default 127.0.0.1:8080)
  --unix PATH           also serve on this Unix socket (only there without --listen; @NAME: abstract)
  --threads N           reactors (threads) sharing the port (default 1)
  --max-conns N         most TCP connections at once (default: the file limit less a reserve)
  --tls-cert FILE       serve over TLS with this certificate chain (PEM; with --tls-key)
  --tls-key FILE        the private key of --tls-cert (PEM)
  --idle-timeout SECS   close a connection silent this long (default 60; 0: never)

client:
  --connect ADDR        server to use (default 127.0.0.1:8080)
  --tls                 connect over TLS (the certificate must name the address)
  --ca FILE             trust the certificates of FILE (PEM; implies --tls)
  COMMAND...            commands to send, one frame each (quote \"upper some text\")

  -h, --help            show this help";

/// What the command line asked for.
enum Mode {
    Server(common::ServerArgs),
    Client { connect: SocketAddr, commands: Vec<String>, tls: common::ClientTls },
}

fn parse_args() -> Mode {
    let mut parser = lexopt::Parser::from_env();
    let mut server = framed::default_args();
    let mut client: Option<(SocketAddr, Vec<String>)> = None;
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
                Some((_, commands)) => match v.into_string() {
                    Ok(command) => commands.push(command),
                    Err(v) => common::bad_args(USAGE, format!("command {v:?} is not valid UTF-8")),
                },
                None if v == "client" => client = Some((server.listen, Vec::new())),
                None => common::bad_args(USAGE, format!("unexpected argument {v:?}")),
            },
            other => common::bad_args(USAGE, other.unexpected()),
        }
    }
    match client {
        Some((_, commands)) if commands.is_empty() => common::bad_args(USAGE, "client: no COMMAND given"),
        Some((connect, commands)) => Mode::Client { connect, commands, tls },
        None => Mode::Server(server),
    }
}

fn main() {
    common::init_logging();
    match parse_args() {
        Mode::Server(args) => common::serve(args.threads, move |reactor| {
            framed::start(reactor, &args);
        }),
        Mode::Client { connect, commands, tls } => {
            let mut reactor = common::reactor();
            let status = framed::start_client_over(&mut reactor, connect, &tls, commands, Box::new(std::io::stdout()));
            common::run_client(reactor, &status)
        }
    }
}
