//! Every server of docs/protocols.md in one reactor, on one thread.
//!
//! ```text
//! cargo run --release --example demo
//! nc 127.0.0.1 9999            # echo_hello: Welcome!, then Hello, X!
//! curl http://127.0.0.1:12345/ # http_hello (or open it in a browser)
//! curl --cacert /tmp/reel-demo-PID/cert.pem https://127.0.0.1:12346/   # the same over HTTPS
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

const USAGE: &str = "usage: demo [--tls-cert FILE --tls-key FILE] [--stats SECS] [--threads N]

Starts every example server in one reactor on one thread, on its default
address: echo 7007, echo_hello 9999, timestamp 21567, daytime 1313,
http_hello 12345 (and over HTTPS on 12346), chat 8888, framed 8080,
factorial 9998 (udp).

options:
  --tls-cert FILE   the HTTPS certificate chain (PEM; default: one made at
                    start for localhost and 127.0.0.1, its path logged)
  --tls-key FILE    the private key of --tls-cert (PEM)
  --stats SECS      log a one-line snapshot of each reactor every SECS seconds
                    (connections by phase, pauses, queued output, listeners,
                    endpoints, timers, bytes in and out, refusals)
  --threads N       reactors (threads) sharing every port (default 1)
  -h, --help        show this help

RUST_LOG=reel=debug logs every connection's life; REEL_DEBUG=1 warns of any
callback that takes longer than 100 ms (REEL_DEBUG=20: 20 ms).";

fn main() {
    common::init_logging();
    let mut https = common::ServerArgs::new(http_hello::DEFAULT_HTTPS_LISTEN, 0);
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
            lexopt::Arg::Long(name) if matches!(name, "tls-cert" | "tls-key") => {
                let name = name.to_string();
                https.take(USAGE, Some(&name), &mut parser);
            }
            other => common::bad_args(USAGE, other.unexpected()),
        }
    }
    if https.tls_cert.is_none() && https.tls_key.is_none() {
        // No certificate given: make one, and say where it is.
        match http_hello::demo_certificate(&std::env::temp_dir().join(format!("reel-demo-{}", std::process::id()))) {
            Ok((cert, key)) => {
                log::info!(
                    "HTTPS certificate written to {} (curl --cacert {} https://127.0.0.1:12346/)",
                    cert.display(),
                    cert.display()
                );
                https.tls_cert = Some(cert);
                https.tls_key = Some(key);
            }
            Err(e) => {
                common::report!("error: cannot write the demo certificate: {e}");
                std::process::exit(1)
            }
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
        common::listen_udp(reactor, echo.listen, common::Guarded(UdpEcho));

        echo_hello::start(reactor, &echo_hello::default_args());
        timestamp::start(reactor, &timestamp::default_args());
        daytime::start(reactor, &daytime::default_args());
        http_hello::start(reactor, &common::ServerArgs::new("127.0.0.1:12345", 0));
        // The same page over HTTPS.
        http_hello::start(reactor, &https);
        chat_group::start(reactor, &chat::ChatArgs::default());
        framed::start(reactor, &framed::default_args());
        factorial::start(reactor, &factorial::default_args());

        log::info!("all services up; Ctrl-C to stop");
    })
}
