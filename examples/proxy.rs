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

const USAGE: &str = "usage: proxy --connect TARGET [--listen ADDR] [--max-conns N]

Forwards each accepted TCP connection to TARGET.

options:
  --connect TARGET  address to forward to, e.g. 127.0.0.1:7007 or [::1]:7007
  --listen ADDR     address to serve on (default 127.0.0.1:7070)
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
            lexopt::Arg::Long(name) => {
                let name = name.to_string();
                if !args.take(USAGE, Some(&name), &mut parser) {
                    common::bad_args(USAGE, format!("invalid option '--{name}'"));
                }
            }
            other => common::bad_args(USAGE, other.unexpected()),
        }
    }
    let Some(target) = target else { common::bad_args(USAGE, "missing --connect TARGET") };
    let mut reactor = common::reactor();
    common::listen_tcp(&mut reactor, args.listen, PortForward::new(target), common::listen_options(&args));
    log::info!("forwarding to {target}");
    common::run(reactor)
}
