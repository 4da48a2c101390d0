//! Unix datagram endpoints: a round trip between two reel endpoints (one
//! bound to a path, one to an abstract name), a connected endpoint, a std
//! client, an unnamed sender, send errors, stale files and removal on
//! close.

mod util;

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use reel::{UnixAddr, UnixDatagramContext, UnixDatagramProtocol, UnixDgramId};
use util::Log;

fn temp_path(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("reel-udg-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Echoes every datagram to its sender, when it has a name; records them.
struct Echo(Log<String>);

impl UnixDatagramProtocol for Echo {
    fn started(&mut self, cx: &mut UnixDatagramContext<'_>) {
        self.0.borrow_mut().push(format!("started {}", cx.local_address()));
    }
    fn datagram_received(&mut self, cx: &mut UnixDatagramContext<'_>, data: &[u8], from: &UnixAddr) {
        self.0.borrow_mut().push(format!("{} from {from}", String::from_utf8_lossy(data)));
        if *from == UnixAddr::Unnamed {
            cx.stop(); // nobody to answer
        } else {
            cx.send_to(data, from);
        }
    }
    fn stopped(&mut self, _cx: &mut UnixDatagramContext<'_>) {
        self.0.borrow_mut().push("stopped".into());
    }
}

/// Sends `ping` to `to` when started, then stops at the echo.
struct Pinger {
    to: UnixAddr,
    log: Log<String>,
}

impl UnixDatagramProtocol for Pinger {
    fn started(&mut self, cx: &mut UnixDatagramContext<'_>) {
        let to = self.to.clone();
        cx.send_to(b"ping", to);
    }
    fn datagram_received(&mut self, cx: &mut UnixDatagramContext<'_>, data: &[u8], from: &UnixAddr) {
        self.log.borrow_mut().push(format!("echo {} from {from}", String::from_utf8_lossy(data)));
        cx.stop();
    }
    fn error_received(&mut self, cx: &mut UnixDatagramContext<'_>, error: &io::Error) {
        self.log.borrow_mut().push(format!("error {:?}", error.kind()));
        cx.stop();
    }
}

#[test]
fn two_reel_endpoints_path_and_abstract() {
    let server = temp_path("server.sock");
    let client_name = format!("\0reel-udg-{}-client", std::process::id());
    let mut reactor = util::reactor();
    let slog = util::log();
    let clog = util::log();
    reactor.context().bind_unix_datagram(&server, Echo(slog.clone())).unwrap();
    let to = UnixAddr::Path(server.clone());
    reactor.context().bind_unix_datagram(client_name.as_str(), Pinger { to, log: clog.clone() }).unwrap();
    util::run(&mut reactor);
    let client = format!("@reel-udg-{}-client", std::process::id());
    assert_eq!(
        *slog.borrow(),
        [format!("started {}", server.display()), format!("ping from {client}"), "stopped".into()]
    );
    assert_eq!(*clog.borrow(), [format!("echo ping from {}", server.display())]);
    drop(reactor);
    assert!(!server.exists(), "the endpoint's file is removed when it closes");
}

struct Connected(Log<String>);

impl UnixDatagramProtocol for Connected {
    fn started(&mut self, cx: &mut UnixDatagramContext<'_>) {
        cx.send(b"hello").expect("connected send");
    }
    fn datagram_received(&mut self, cx: &mut UnixDatagramContext<'_>, data: &[u8], _from: &UnixAddr) {
        self.0.borrow_mut().push(String::from_utf8_lossy(data).into_owned());
        cx.stop();
    }
}

#[test]
fn a_connected_endpoint_and_a_std_peer() {
    let peer_path = temp_path("peer.sock");
    let local = temp_path("local.sock");
    let peer = UnixDatagram::bind(&peer_path).unwrap();
    peer.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
    let mut reactor = util::reactor();
    let log = util::log();
    reactor.context().connect_unix_datagram(&local, &peer_path, Connected(log.clone())).unwrap();
    let l2 = local.clone();
    let t = std::thread::spawn(move || {
        let mut buf = [0; 16];
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from.as_pathname(), Some(l2.as_path()));
        peer.send_to(b"world", &l2).unwrap();
    });
    util::run(&mut reactor);
    t.join().unwrap();
    assert_eq!(*log.borrow(), ["world"]);
    let _ = std::fs::remove_file(&peer_path);
}

#[test]
fn an_unnamed_sender() {
    let server = temp_path("unnamed.sock");
    let mut reactor = util::reactor();
    let slog = util::log();
    let id: UnixDgramId = reactor.context().bind_unix_datagram(&server, Echo(slog.clone())).unwrap();
    // Queued in the endpoint's socket before the loop runs.
    UnixDatagram::unbound().unwrap().send_to(b"anonymous", &server).unwrap();
    util::run(&mut reactor);
    assert_eq!(slog.borrow()[1], "anonymous from (unnamed)");
    assert!(!reactor.context().close_unix_datagram(id), "closed by the stop");
}

#[test]
fn a_send_error_reaches_error_received() {
    let mut reactor = util::reactor();
    let log = util::log();
    let unnamed =
        reactor.context().bind_unix_datagram(UnixAddr::Unnamed, Pinger { to: UnixAddr::Unnamed, log: log.clone() });
    assert_eq!(unnamed.err().map(|e| e.kind()), Some(io::ErrorKind::InvalidInput), "binding needs a name");
    let name = UnixAddr::Abstract(format!("reel-udg-{}-err", std::process::id()).into_bytes());
    let nobody = UnixAddr::Path(temp_path("nobody.sock"));
    reactor.context().bind_unix_datagram(name, Pinger { to: nobody, log: log.clone() }).unwrap();
    util::run(&mut reactor);
    assert_eq!(*log.borrow(), ["error NotFound"]);
}

#[test]
fn a_stale_datagram_socket_file_is_replaced_and_a_live_one_refused() {
    let path = temp_path("stale-dgram.sock");
    drop(UnixDatagram::bind(&path).unwrap());
    let mut reactor = util::reactor();
    let id = reactor.context().bind_unix_datagram(&path, Echo(util::log())).expect("stale file replaced");
    let live = temp_path("live-dgram.sock");
    let _keep = UnixDatagram::bind(&live).unwrap();
    let err = reactor.context().bind_unix_datagram(&live, Echo(util::log())).expect_err("live socket refused");
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    reactor.context().close_unix_datagram(id);
    let _ = std::fs::remove_file(&live);
}

/// Answers every error with another send that fails at once (to a path
/// nobody bound).
struct FailsForever {
    nowhere: PathBuf,
    errors: std::rc::Rc<std::cell::Cell<usize>>,
}

impl UnixDatagramProtocol for FailsForever {
    fn started(&mut self, cx: &mut UnixDatagramContext<'_>) {
        cx.send_to(b"x", self.nowhere.as_path());
    }
    fn datagram_received(&mut self, _cx: &mut UnixDatagramContext<'_>, _data: &[u8], _from: &UnixAddr) {}
    fn error_received(&mut self, cx: &mut UnixDatagramContext<'_>, _error: &io::Error) {
        self.errors.set(self.errors.get() + 1);
        cx.send_to(b"x", self.nowhere.as_path());
    }
}

/// As for UDP (tests/udp.rs): an endpoint that causes an error for each
/// error it hears does not hold the loop; a timer still stops it.
#[test]
fn an_endpoint_that_fails_on_every_error_does_not_hold_the_loop() {
    let (tx, rx) = std::sync::mpsc::channel();
    let local = temp_path("fails-forever");
    let nowhere = temp_path("nobody-here");
    std::thread::spawn(move || {
        let mut reactor = util::reactor();
        let errors = std::rc::Rc::new(std::cell::Cell::new(0));
        let protocol = FailsForever { nowhere, errors: errors.clone() };
        reactor.context().bind_unix_datagram(&local, protocol).expect("bind");
        reactor.call_later(std::time::Duration::from_millis(50), |cx| cx.stop());
        let result = reactor.run();
        let _ = tx.send((result.is_ok(), errors.get()));
    });
    let (ok, errors) =
        rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the reactor never came back to its timer");
    assert!(ok);
    assert!(errors >= 1, "error_received was called {errors} times");
}
