//! A TCP port forwarder (Twisted's `portforward`) with bounded memory per
//! pair.
//!
//! ```text
//! cargo run --release --example echo &                               # something to reach
//! cargo run --release --example proxy -- --listen 127.0.0.1:7070 --connect 127.0.0.1:7007
//! nc 127.0.0.1 7070                                                  # talks to echo
//! ```
//!
//! Each accepted connection is forwarded to a new connection to the
//! target, bytes passed unchanged both ways. A half-close on either side is
//! passed on and the other direction keeps flowing; a reset or failure on
//! either side ends both; a refused or unreachable target closes the
//! client at once and is logged. A slow reader on one side pushes back on
//! the sender on the other (`reel::producer`), so memory per pair stays
//! bounded whatever the speed of each side.

mod common;

use std::net::SocketAddr;

use reel::protocols::proxy::PortForward;

const USAGE: &str = "usage: proxy --connect TARGET [--listen ADDR] [--unix PATH] [--max-conns N] [--threads N]

Forwards each accepted TCP connection to TARGET.

options:
  --connect TARGET  address to forward to, e.g. 127.0.0.1:7007 or [::1]:7007
  --listen ADDR     address to serve on (default 127.0.0.1:7070)
  --unix PATH       also serve on this Unix socket (only there without --listen; @NAME: abstract)
  --threads N       reactors (threads) sharing the port (default 1)
  --tls-cert FILE   serve over TLS with this certificate chain (PEM; with --tls-key);
                    the target is reached in the clear
  --tls-key FILE    the private key of --tls-cert (PEM)
  --max-conns N     most client connections at once (default: half the file
                    limit less a reserve: each pair takes two descriptors)
  -h, --help        show this help";

fn main() {
    common::init_logging();
    common::raise_fd_limit();
    let mut args = common::ServerArgs::new("127.0.0.1:7070", 0);
    args.max_conns = (args.max_conns / 2).max(1);
    let mut target: Option<SocketAddr> = None;
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = common::next_arg(USAGE, &mut parser) {
        match arg {
            lexopt::Arg::Short('h') | lexopt::Arg::Long("help") => common::help(USAGE),
            lexopt::Arg::Long("connect") => target = Some(common::value(USAGE, &mut parser, "--connect")),
            // A forwarder has no idle rule of its own: the two ends decide.
            lexopt::Arg::Long(name) if name != "idle-timeout" => {
                let name = name.to_string();
                if !args.take(USAGE, Some(&name), &mut parser) {
                    common::bad_args(USAGE, format!("invalid option '--{name}'"));
                }
            }
            other => common::bad_args(USAGE, other.unexpected()),
        }
    }
    let Some(target) = target else { common::bad_args(USAGE, "missing --connect TARGET") };
    log::info!("forwarding to {target}");
    // The server conventions: --unix, --tls-cert/--tls-key, --threads.
    common::serve(args.reactors(), move |reactor| {
        let opts = common::listen_options(&args);
        common::listen_unix(reactor, &args, PortForward::new(target), opts.clone());
        if args.serve_tcp() {
            common::listen(reactor, &args, PortForward::new(target), opts);
        }
    })
}
