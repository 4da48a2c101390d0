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

use reel::protocols::echo::{Echo, UdpEcho};
use reel::Protocol;

const USAGE: &str = "usage: echo [--listen ADDR] [--unix PATH] [--max-conns N] [--threads N]

Echo (RFC 862) over TCP and UDP on one port.

options:
  --listen ADDR     address to serve on (default 127.0.0.1:7007)
  --unix PATH       also serve on this Unix socket (only there without --listen; @NAME: abstract)
  --threads N       reactors (threads) sharing the port (default 1)
  --max-conns N     most TCP connections at once (default: the file limit less a reserve)
  --tls-cert FILE   serve over TLS with this certificate chain (PEM; with --tls-key)
  --tls-key FILE    the private key of --tls-cert (PEM)
  -h, --help        show this help";

fn main() {
    common::init_logging();
    let args = common::parse_server_args(USAGE, common::ServerArgs::new("127.0.0.1:7007", 0));
    common::serve(args.threads, move |reactor| {
        common::listen_unix(reactor, &args, |_| Box::new(Echo) as Box<dyn Protocol>, common::listen_options(&args));
        if !args.serve_tcp() {
            return;
        }
        // TCP first: with port 0 the OS picks the port, and UDP takes the same.
        let tcp =
            common::listen(reactor, &args, |_| Box::new(Echo) as Box<dyn Protocol>, common::listen_options(&args));
        let bound = reactor.listener_addr(tcp).unwrap_or(args.listen);
        common::listen_udp(reactor, bound, common::Guarded(UdpEcho));
    })
}
