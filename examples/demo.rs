//! Every server of docs/protocols.md in one reactor, on one thread.
//!
//! ```text
//! cargo run --release --example demo
//! nc 127.0.0.1 9999            # echo_hello: Welcome!, then Hello, X!
//! curl http://127.0.0.1:12345/ # http_hello (or open it in a browser)
//! nc 127.0.0.1 8888            # chat: type "NAME ROOM" first
//! nc 127.0.0.1 21567           # timestamp
//! nc 127.0.0.1 1313            # daytime
//! nc -u 127.0.0.1 9998         # factorial: type a number
//! nc 127.0.0.1 7007            # echo
//! ```
//!
//! The tutorials started a thread per connection, and a process per
//! service. Here one thread serves them all: every socket is registered
//! with one `mio::Poll`, and each readiness event runs a few microseconds
//! of protocol code. Ctrl-C stops every service gracefully (chat members
//! get `* server shutting down`); a second Ctrl-C stops at once.

#[path = "common/chat.rs"]
mod chat;
#[path = "common/chat_group.rs"]
mod chat_group;
mod common;
#[path = "common/daytime.rs"]
mod daytime;
#[path = "common/echo_hello.rs"]
mod echo_hello;
#[path = "common/factorial.rs"]
mod factorial;
#[path = "common/framed.rs"]
mod framed;
#[path = "common/http_hello.rs"]
mod http_hello;
#[path = "common/timestamp.rs"]
mod timestamp;

use reel::protocols::echo::{Echo, UdpEcho};
use reel::Protocol;

const USAGE: &str = "usage: demo [--stats SECS] [--threads N]

Starts every example server in one reactor on one thread, on its default
address: echo 7007, echo_hello 9999, timestamp 21567, daytime 1313,
http_hello 12345, chat 8888, framed 8080, factorial 9998 (udp).

options:
  --stats SECS      log a one-line snapshot of each reactor every SECS seconds
                    (connections by phase, pauses, queued output, listeners,
                    endpoints, timers, bytes in and out, refusals)
  --threads N       reactors (threads) sharing every port (default 1)
  -h, --help        show this help

RUST_LOG=reel=debug logs every connection's life; REEL_DEBUG=1 warns of any
callback that takes longer than 100 ms (REEL_DEBUG=20: 20 ms).";

fn main() {
    common::init_logging();
    let mut parser = lexopt::Parser::from_env();
    let mut threads = 1;
    let mut stats_every: Option<u64> = None;
    while let Some(arg) = common::next_arg(USAGE, &mut parser) {
        match arg {
            lexopt::Arg::Short('h') | lexopt::Arg::Long("help") => common::help(USAGE),
            lexopt::Arg::Long("threads") => threads = common::threads(USAGE, &mut parser),
            lexopt::Arg::Long("stats") => match common::value(USAGE, &mut parser, "--stats") {
                0 => common::bad_args(USAGE, "--stats: the period must be at least 1 second"),
                secs => stats_every = Some(secs),
            },
            other => common::bad_args(USAGE, other.unexpected()),
        }
    }
    common::serve(threads, move |reactor| {
        if let Some(secs) = stats_every {
            reactor.call_every(std::time::Duration::from_secs(secs), |cx| log::info!("stats: {}", cx.stats()));
        }
        // echo (RFC 862), TCP and UDP.
        let echo = common::ServerArgs::new("127.0.0.1:7007", 0);
        common::listen_tcp(
            reactor,
            echo.listen,
            |_| Box::new(Echo) as Box<dyn Protocol>,
            common::listen_options(&echo),
        );
        common::listen_udp(reactor, echo.listen, UdpEcho);

        echo_hello::start(reactor, &echo_hello::default_args());
        timestamp::start(reactor, &timestamp::default_args());
        daytime::start(reactor, &daytime::default_args());
        http_hello::start(reactor, &common::ServerArgs::new("127.0.0.1:12345", 0));
        chat_group::start(reactor, &chat::ChatArgs::default());
        framed::start(reactor, &framed::default_args());
        factorial::start(reactor, &factorial::default_args());

        log::info!("all services up; Ctrl-C to stop");
    })
}
