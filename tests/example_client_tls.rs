//! The `--tls`/`--ca FILE` clients of `timestamp`, `daytime` and `chat`
//! (docs/protocols.md, "TLS"): each example's server serves TLS on a free
//! loopback port, in this process, with a throwaway rcgen certificate for
//! 127.0.0.1; the example's binary is its client, trusting that
//! certificate with `--ca FILE`. The servers read a manual wall clock, so
//! every line the client prints is known in advance.

#[path = "../examples/common/chat.rs"]
mod chat;
#[path = "../examples/common/mod.rs"]
mod common;
#[path = "../examples/common/daytime.rs"]
mod daytime;
mod example_bin;
mod example_util;
#[path = "../examples/common/timestamp.rs"]
mod timestamp;
mod tls_util;
mod tools;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use example_util as util;
use reel::protocols::clock_text::{ctime_local, daytime_local, WallClock};

/// Sat Nov 21 23:53:24 2026 UTC.
const T: u64 = 1_795_305_204;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A certificate for 127.0.0.1 and its key, in files removed on drop.
struct Certs {
    cert: tls_util::TestCert,
    cert_file: PathBuf,
    key_file: PathBuf,
    _dir: tools::TempDir,
}

impl Certs {
    fn new() -> Certs {
        let dir = tools::TempDir::new("example-client-tls");
        let cert = tls_util::TestCert::new(&["127.0.0.1"]);
        let (cert_file, key_file) = cert.write_to(&dir.0);
        Certs { cert, cert_file, key_file, _dir: dir }
    }

    /// `args` serving TLS with these files on a free loopback port.
    fn serve_tls(&self, args: &mut common::ServerArgs) {
        args.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        args.tls_cert = Some(self.cert_file.clone());
        args.tls_key = Some(self.key_file.clone());
    }

    /// Example binary `exe` as a client of `server`, trusting this
    /// certificate: `NAME client ARGS... --ca FILE --connect ADDR`.
    fn client(&self, exe: &Path, args: &[&str], server: SocketAddr) -> Command {
        let mut cmd = Command::new(exe);
        cmd.arg("client").args(args).arg("--ca").arg(&self.cert_file).arg("--connect").arg(server.to_string());
        cmd
    }
}

#[test]
fn the_timestamp_client_stamps_its_lines_over_tls() {
    // Built before the server starts, whose reactor has a watchdog.
    let exe = example_bin::example("timestamp");
    let certs = Certs::new();
    let mut args = timestamp::default_args();
    certs.serve_tls(&mut args);
    let server = util::serve(move |reactor| timestamp::start_with_clock(reactor, &args, WallClock::manual(at(T))));
    let (out, err, ok) = tools::run(certs.client(&exe, &[], server.addr), b"one\ntwo over tls\n");
    assert!(ok, "the client failed; stderr:\n{err}");
    let stamp = ctime_local(at(T));
    assert_eq!(out, format!("[{stamp}] one\n[{stamp}] two over tls\n"), "stderr:\n{err}");
    server.stop();
}

#[test]
fn the_daytime_client_reads_the_line_over_tls() {
    let exe = example_bin::example("daytime");
    let certs = Certs::new();
    let mut args = daytime::default_args();
    certs.serve_tls(&mut args);
    let server = util::serve(move |reactor| daytime::start_with_clock(reactor, &args, WallClock::manual(at(T))));
    let (out, err, ok) = tools::run(certs.client(&exe, &[], server.addr), b"");
    assert!(ok, "the client failed; stderr:\n{err}");
    assert_eq!(out, format!("{}\n", daytime_local(at(T))), "stderr:\n{err}");
    server.stop();
}

#[test]
fn the_chat_client_joins_talks_and_quits_over_tls() {
    let exe = example_bin::example("chat");
    let certs = Certs::new();
    let mut args = chat::ChatArgs { clock: WallClock::manual(at(T)), ..Default::default() };
    certs.serve_tls(&mut args.server);
    let server = util::serve(move |reactor| {
        let id = chat::start(reactor, &args);
        reactor.listener_addr(id).expect("listener address")
    });
    // Bob, already in the room, hears what the client says.
    let mut bob = BufReader::new(tls_util::client(server.addr, "127.0.0.1", certs.cert.client_config()));
    tls_util::send(bob.get_mut(), b"bob lobby\n").expect("join");
    let mut line = String::new();
    let mut next_line = |bob: &mut BufReader<tls_util::Client>| {
        line.clear();
        bob.read_line(&mut line).expect("a line for bob");
        line.clone()
    };
    assert_eq!(next_line(&mut bob), "success\n");

    let client = certs.client(&exe, &["--user", "ann", "--room", "lobby"], server.addr);
    let (out, err, ok) = tools::run(client, b"hello over tls\n");
    assert!(ok, "the client failed; stderr:\n{err}");
    assert!(err.contains("joined room lobby as ann"), "stderr:\n{err}");
    assert_eq!(out, "", "nobody else spoke; stderr:\n{err}");
    let stamp = ctime_local(at(T));
    assert_eq!(next_line(&mut bob), format!("[{stamp}] * ann joined lobby\n"));
    assert_eq!(next_line(&mut bob), format!("[{stamp}] ann: hello over tls\n"));
    assert_eq!(next_line(&mut bob), format!("[{stamp}] * ann left lobby\n"));
    server.stop();
}
