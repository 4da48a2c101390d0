//! The baselines reel's benchmarks are compared against: the same
//! `echo_hello` and `http_hello` wire contracts (docs/protocols.md, TCP only)
//! served without reel's reactor, three ways.
//!
//! ```text
//! cargo run --release -p reel-bench --bin baseline -- --kind mio --proto echo_hello
//! cargo run --release -p reel-bench --bin baseline -- --kind tokio --proto http_hello [--listen 127.0.0.1:12345]
//! nc 127.0.0.1 9999                      # Welcome!, then Hello, X! per line
//! curl -i http://127.0.0.1:12345/        # the hello page
//! ```
//!
//! - `mio`: a minimal hand-written mio loop, the speed limit of reel's design.
//! - `tokio`: tokio's current-thread runtime, one task per connection.
//! - `threads`: a thread per connection with `std::net`, the tutorials' design.
//! - `tokio-tls`: `tokio` with tokio-rustls (`--tls-cert`, `--tls-key`),
//!   the TLS baseline (`tokio_tls.rs`).
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

#[path = "../../../../examples/common/mod.rs"]
mod common;
mod lenient;
mod mio_loop;
mod mio_shared;
mod proto;
mod shared;
mod threads;
mod tokio_ct;
mod tokio_proxy;
mod tokio_tls;
mod udp;

use std::net::{SocketAddr, TcpListener};
use std::process::exit;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use proto::Proto;

const USAGE: &str =
    "usage: baseline --kind mio|tokio|threads|lenient|tokio-tls --proto echo_hello|http_hello|udp_echo_hello
                [--listen ADDR]
                [--tls-cert FILE --tls-key FILE]
       baseline --kind tokio-proxy --connect TARGET [--listen ADDR]

The baselines reel's benchmarks are compared against.

options:
  --kind KIND       mio (hand-written mio loop), tokio (current-thread runtime)
                    or threads (a thread per connection); tokio-proxy: the proxy
                    example's port forwarder on tokio (copy_bidirectional);
                    tokio-tls: tokio with tokio-rustls, with --tls-cert and --tls-key (PEM);
                    lenient: http_hello answered by httparse alone; for UDP,
                    threads is a blocking loop
  --connect TARGET  tokio-proxy: the address to forward to
  --proto PROTO     echo_hello, http_hello or udp_echo_hello, as in docs/protocols.md
  --listen ADDR     address to serve on (default 127.0.0.1:9999 for echo_hello,
                    127.0.0.1:12345 for http_hello)
  -h, --help        show this help";

/// Which baseline.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Mio,
    Tokio,
    Threads,
    TokioProxy,
    TokioTls,
    Lenient,
}

impl std::str::FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Kind, String> {
        match s {
            "mio" => Ok(Kind::Mio),
            "tokio" => Ok(Kind::Tokio),
            "threads" => Ok(Kind::Threads),
            "tokio-proxy" => Ok(Kind::TokioProxy),
            "tokio-tls" => Ok(Kind::TokioTls),
            "lenient" => Ok(Kind::Lenient),
            _ => Err("expected mio, tokio, threads, lenient, tokio-proxy or tokio-tls".to_string()),
        }
    }
}

fn main() {
    common::init_logging();
    let (kind, proto, listen, connect, tls) = parse_args();
    if let Kind::TokioProxy = kind {
        let Some(target) = connect else { common::bad_args(USAGE, "tokio-proxy needs --connect TARGET") };
        let listen = listen.unwrap_or_else(|| "127.0.0.1:7070".parse().expect("valid"));
        let listener = match bind(listen) {
            Ok(l) => l,
            Err(e) => common::bind_failed(listen, "tcp", &e),
        };
        log::info!("listening on {} (tcp)", listener.local_addr().unwrap_or(listen));
        common::raise_fd_limit();
        if let Err(e) = tokio_proxy::serve(listener, target) {
            eprintln!("error: {e}");
            exit(1);
        }
        return;
    }
    let proto = match proto {
        None => common::bad_args(USAGE, "missing --proto"),
        Some(ProtoArg::Tcp(proto)) => proto,
        Some(ProtoArg::UdpEchoHello) => serve_udp(kind, listen),
    };
    let tls = match (kind, common::tls_server_config(&tls)) {
        (Kind::TokioTls, None) => common::bad_args(USAGE, "--kind tokio-tls needs --tls-cert and --tls-key"),
        (_, tls) => tls,
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
        Kind::TokioProxy => unreachable!("served above"),
        Kind::Lenient if proto == Proto::HttpHello => lenient::serve(listener, stop),
        Kind::Lenient => common::bad_args(USAGE, "--kind lenient serves only http_hello"),
        Kind::TokioTls => match tls {
            Some(config) => tokio_tls::serve(listener, proto, config, stop),
            None => unreachable!("checked above"),
        },
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
        Kind::Lenient | Kind::TokioProxy | Kind::TokioTls => {
            common::bad_args(USAGE, "udp_echo_hello is served by mio, tokio or threads")
        }
    };
    match served {
        Ok(()) => exit(0),
        Err(e) => {
            eprintln!("error: {e}");
            exit(1)
        }
    }
}

/// `--kind`, `--proto`, `--listen`, `--connect` and `--tls-cert`/`--tls-key`;
/// exits 0 for `--help`, 2 for bad ones.
fn parse_args() -> (Kind, Option<ProtoArg>, Option<SocketAddr>, Option<SocketAddr>, common::ServerArgs) {
    let (mut kind, mut proto, mut listen, mut connect) = (None, None, None, None);
    let mut tls = common::ServerArgs::new("127.0.0.1:0", 0);
    let mut parser = lexopt::Parser::from_env();
    loop {
        match parser.next() {
            Ok(None) => break,
            Ok(Some(lexopt::Arg::Short('h') | lexopt::Arg::Long("help"))) => common::help(USAGE),
            Ok(Some(lexopt::Arg::Long("kind"))) => kind = Some(common::value(USAGE, &mut parser, "--kind")),
            Ok(Some(lexopt::Arg::Long("proto"))) => proto = Some(common::value(USAGE, &mut parser, "--proto")),
            Ok(Some(lexopt::Arg::Long("listen"))) => listen = Some(common::value(USAGE, &mut parser, "--listen")),
            Ok(Some(lexopt::Arg::Long("connect"))) => connect = Some(common::value(USAGE, &mut parser, "--connect")),
            Ok(Some(lexopt::Arg::Long(name))) if matches!(name, "tls-cert" | "tls-key") => {
                let name = name.to_string();
                tls.take(USAGE, Some(&name), &mut parser);
            }
            Ok(Some(other)) => common::bad_args(USAGE, other.unexpected()),
            Err(e) => common::bad_args(USAGE, e),
        }
    }
    let Some(kind) = kind else { common::bad_args(USAGE, "missing --kind") };
    (kind, proto, listen, connect, tls)
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
