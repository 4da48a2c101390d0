//! The baselines reel's benchmarks are compared against: the same
//! `echo_hello` and `http_hello` wire contracts (PROTOCOLS.md, TCP only)
//! served without reel's reactor, three ways.
//!
//! ```text
//! cargo run --release --example baseline -- --kind mio --proto echo_hello
//! cargo run --release --example baseline -- --kind tokio --proto http_hello [--listen 127.0.0.1:12345]
//! nc 127.0.0.1 9999                      # Welcome!, then Hello, X! per line
//! curl -i http://127.0.0.1:12345/        # the hello page
//! ```
//!
//! - `mio`: a minimal hand-written mio loop, the speed limit of reel's design.
//! - `tokio`: tokio's current-thread runtime, one task per connection.
//! - `threads`: a thread per connection with `std::net`, the seeds' design.
//! - `lenient` (`http_hello` only): a mio loop answering whatever `httparse`
//!   accepts with a static page, none of the contract's checks: what most
//!   users would write by hand (`lenient.rs`).
//!
//! `--proto udp_echo_hello` serves UDP `echo_hello` instead, with a mio
//! loop, tokio's `UdpSocket` or a blocking `std::net` loop (`--kind
//! threads`); see `udp.rs`.
//!
//! All three share the pure protocol logic of `proto.rs` (reel's HTTP parser
//! included). Not served: UDP, idle timeouts, `--max-conns`, graceful stop
//! (Ctrl-C just ends the process).

#[path = "../common/mod.rs"]
mod common;
mod lenient;
mod mio_loop;
mod proto;
mod threads;
mod tokio_ct;
mod udp;

use std::net::{SocketAddr, TcpListener};
use std::process::exit;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use proto::Proto;

const USAGE: &str =
    "usage: baseline --kind mio|tokio|threads|lenient --proto echo_hello|http_hello|udp_echo_hello [--listen ADDR]

The baselines reel's benchmarks are compared against.

options:
  --kind KIND       mio (hand-written mio loop), tokio (current-thread runtime)
                    or threads (a thread per connection; for UDP a blocking
                    loop), or lenient (http_hello answered by httparse alone)
  --proto PROTO     echo_hello, http_hello or udp_echo_hello, as in PROTOCOLS.md
  --listen ADDR     address to serve on (default 127.0.0.1:9999 for echo_hello,
                    127.0.0.1:12345 for http_hello)
  -h, --help        show this help";

/// Which baseline.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Mio,
    Tokio,
    Threads,
    Lenient,
}

impl std::str::FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Kind, String> {
        match s {
            "mio" => Ok(Kind::Mio),
            "tokio" => Ok(Kind::Tokio),
            "threads" => Ok(Kind::Threads),
            "lenient" => Ok(Kind::Lenient),
            _ => Err("expected mio, tokio, threads or lenient".to_string()),
        }
    }
}

fn main() {
    common::init_logging();
    let (kind, proto, listen) = parse_args();
    let proto = match proto {
        ProtoArg::Tcp(proto) => proto,
        ProtoArg::UdpEchoHello => serve_udp(kind, listen),
    };
    let listen = listen.unwrap_or_else(|| proto.default_listen());
    let listener = match bind(listen) {
        Ok(l) => l,
        Err(e) => common::bind_failed(listen, "tcp", &e),
    };
    log::info!("listening on {} (tcp)", listener.local_addr().unwrap_or(listen));
    log::debug!("baseline {kind:?} serving {}", proto.name());
    if matches!(kind, Kind::Threads) {
        common::raise_fd_limit();
    }
    // Nothing sets it: Ctrl-C ends the process.
    let stop = Arc::new(AtomicBool::new(false));
    let served = match kind {
        Kind::Mio => mio_loop::serve(listener, proto, stop),
        Kind::Tokio => tokio_ct::serve(listener, proto, stop),
        Kind::Threads => threads::serve(listener, proto, stop),
        Kind::Lenient if proto == Proto::HttpHello => lenient::serve(listener, stop),
        Kind::Lenient => common::bad_args(USAGE, "--kind lenient serves only http_hello"),
    };
    if let Err(e) = served {
        eprintln!("error: {e}");
        exit(1);
    }
}

/// `--proto`: a TCP protocol of `proto.rs`, or UDP `echo_hello`.
enum ProtoArg {
    Tcp(Proto),
    UdpEchoHello,
}

impl std::str::FromStr for ProtoArg {
    type Err = String;

    fn from_str(s: &str) -> Result<ProtoArg, String> {
        match s {
            "udp_echo_hello" => Ok(ProtoArg::UdpEchoHello),
            _ => s.parse().map(ProtoArg::Tcp).map_err(|_| "expected echo_hello, http_hello or udp_echo_hello".into()),
        }
    }
}

/// Serves UDP `echo_hello` (default `127.0.0.1:9999`) until the process ends.
fn serve_udp(kind: Kind, listen: Option<SocketAddr>) -> ! {
    let listen = listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9999)));
    let socket = match udp::bind(listen) {
        Ok(s) => s,
        Err(e) => common::bind_failed(listen, "udp", &e),
    };
    log::info!("listening on {} (udp)", socket.local_addr().unwrap_or(listen));
    let stop = Arc::new(AtomicBool::new(false));
    let served = match kind {
        Kind::Mio => udp::serve_mio(socket, stop),
        Kind::Tokio => udp::serve_tokio(socket, stop),
        Kind::Threads => udp::serve_blocking(socket, stop),
        Kind::Lenient => common::bad_args(USAGE, "--kind lenient serves only http_hello"),
    };
    match served {
        Ok(()) => exit(0),
        Err(e) => {
            eprintln!("error: {e}");
            exit(1)
        }
    }
}

/// `--kind`, `--proto` and `--listen`; exits 0 for `--help`, 2 for bad ones.
fn parse_args() -> (Kind, ProtoArg, Option<SocketAddr>) {
    let (mut kind, mut proto, mut listen) = (None, None, None);
    let mut parser = lexopt::Parser::from_env();
    loop {
        match parser.next() {
            Ok(None) => break,
            Ok(Some(lexopt::Arg::Short('h') | lexopt::Arg::Long("help"))) => common::help(USAGE),
            Ok(Some(lexopt::Arg::Long("kind"))) => kind = Some(common::value(USAGE, &mut parser, "--kind")),
            Ok(Some(lexopt::Arg::Long("proto"))) => proto = Some(common::value(USAGE, &mut parser, "--proto")),
            Ok(Some(lexopt::Arg::Long("listen"))) => listen = Some(common::value(USAGE, &mut parser, "--listen")),
            Ok(Some(other)) => common::bad_args(USAGE, other.unexpected()),
            Err(e) => common::bad_args(USAGE, e),
        }
    }
    let Some(kind) = kind else { common::bad_args(USAGE, "missing --kind") };
    let Some(proto) = proto else { common::bad_args(USAGE, "missing --proto") };
    (kind, proto, listen)
}

/// A blocking listener with `SO_REUSEADDR`, `IPV6_V6ONLY` for IPv6 and a
/// backlog of 1024, as reel's listeners.
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}
