//! Echo (RFC 862) over TCP and UDP on one port: the framework's first
//! example.
//!
//! ```text
//! cargo run --release --example echo -- [--listen 127.0.0.1:7007]
//! nc 127.0.0.1 7007          # type, see it back
//! nc -u 127.0.0.1 7007       # the same over UDP
//! ```
//!
//! TCP: every byte comes back unchanged. When the peer stops reading, the
//! server stops reading from it once its output passes the high water mark
//! and resumes below the low one, so memory stays bounded however much the
//! peer sends. UDP: each datagram comes back to its sender.

mod common;

use std::net::SocketAddr;

use reel::protocols::echo::{Echo, UdpEcho};
use reel::{ListenOptions, Protocol, Reactor};

const USAGE: &str = "usage: echo [--listen ADDR] [--max-conns N]

Echo (RFC 862) over TCP and UDP on one port.

options:
  --listen ADDR     address to serve on (default 127.0.0.1:7007)
  --max-conns N     most TCP connections at once (default: the file limit less a reserve)
  -h, --help        show this help";

fn main() {
    common::init_logging();
    let args = common::parse_server_args(USAGE, common::ServerArgs::new("127.0.0.1:7007", 0));
    if let Err(e) = serve(args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn serve(args: common::ServerArgs) -> std::io::Result<()> {
    let mut reactor = Reactor::new()?;
    reactor.stop_on_signals()?;
    let addr: SocketAddr = args.listen;
    let mut opts = ListenOptions::default();
    opts.max_connections = Some(args.max_conns);
    let tcp = reactor
        .listen_tcp_with(addr, |_peer| Box::new(Echo) as Box<dyn Protocol>, opts)
        .unwrap_or_else(|e| common::bind_failed(addr, "tcp", &e));
    let bound = reactor.listener_addr(tcp).unwrap_or(addr);
    log::info!("listening on {bound} (tcp)");
    let udp = reactor.listen_udp(bound, UdpEcho).unwrap_or_else(|e| common::bind_failed(bound, "udp", &e));
    log::info!("listening on {} (udp)", reactor.udp_addr(udp).unwrap_or(bound));
    reactor.run()
}
