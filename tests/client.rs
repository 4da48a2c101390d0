//! Client connections (`connect_tcp`): refused, timed out, and round trips
//! to a reel server on the same reactor over IPv4 and IPv6.

mod util;

use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use reel::{Context, Protocol, Reason, TcpOptions};
use util::Log;

/// Records every callback of a client connection; stops the reactor when
/// the attempt is over.
struct Probe {
    events: Log<String>,
    at: Rc<std::cell::Cell<Option<Instant>>>,
}

impl Protocol for Probe {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.events.borrow_mut().push("made".into());
        cx.abort();
    }
    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {
        self.events.borrow_mut().push("data".into());
    }
    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.events.borrow_mut().push(format!("lost {reason:?}"));
        cx.stop();
    }
    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.at.set(Some(Instant::now()));
        self.events.borrow_mut().push(format!("failed {reason:?}"));
        cx.stop();
    }
}

/// A loopback address where nothing listens.
fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().unwrap();
    drop(l);
    addr
}

#[test]
fn connect_to_a_refused_port_fails_with_refused() {
    let mut reactor = util::reactor();
    let events = util::log();
    let at = Rc::new(std::cell::Cell::new(None));
    reactor.connect_tcp(closed_port(), Probe { events: Rc::clone(&events), at });
    util::run(&mut reactor);
    assert_eq!(*events.borrow(), vec!["failed Refused".to_string()]);
}

#[test]
fn connect_from_a_callback_to_a_refused_port_fails_with_refused() {
    let mut reactor = util::reactor();
    let events = util::log();
    let at = Rc::new(std::cell::Cell::new(None));
    let probe = Probe { events: Rc::clone(&events), at };
    let addr = closed_port();
    reactor.call_later(Duration::ZERO, move |cx| {
        cx.connect_tcp(addr, probe);
    });
    util::run(&mut reactor);
    assert_eq!(*events.borrow(), vec!["failed Refused".to_string()]);
}

/// Some connects fail inside `connect(2)` itself (port 0 is refused at
/// once on Linux; a broadcast address is unreachable or forbidden). The
/// failure still comes as `connection_failed`, promptly: not at the next
/// unrelated event.
#[test]
fn a_connect_that_fails_at_once_is_reported_promptly() {
    for (addr, expected) in [("127.0.0.1:0", Some(Reason::Refused)), ("255.255.255.255:80", None)] {
        let mut reactor = util::reactor();
        let events = util::log();
        let at = Rc::new(std::cell::Cell::new(None));
        reactor.connect_tcp(addr, Probe { events: Rc::clone(&events), at });
        let took = util::run_limited(&mut reactor, Duration::from_millis(500));
        let events = events.borrow();
        assert_eq!(events.len(), 1, "{addr}: {events:?}");
        assert!(events[0].starts_with("failed "), "{addr}: {events:?}");
        if let Some(reason) = expected {
            assert_eq!(events[0], format!("failed {reason:?}"));
        }
        assert!(took < Duration::from_millis(200), "{addr}: reported after {took:?}");
    }
}

/// A listener with a backlog of 1 that never accepts, with its backlog
/// filled: the kernel drops further SYNs, so a connect hangs. Returns the
/// address and the sockets that must stay open. `None` if the kernel here
/// does not behave so.
fn unanswering_address() -> Option<(SocketAddr, socket2::Socket, Vec<TcpStream>)> {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    listener.bind(&any.into()).expect("bind");
    listener.listen(1).expect("listen");
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..16 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => fillers.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::WouldBlock => {
                return Some((addr, listener, fillers));
            }
            Err(e) => panic!("filling the backlog: {e}"),
        }
    }
    None
}

#[test]
fn connect_timeout_fails_with_timed_out() {
    let Some((addr, _listener, _fillers)) = unanswering_address() else {
        panic!("the kernel accepted 16 connections on a backlog of 1: cannot make an unanswering address");
    };
    let mut reactor = util::reactor();
    let events = util::log();
    let at = Rc::new(std::cell::Cell::new(None));
    let opts = TcpOptions { connect_timeout: Duration::from_millis(200), ..Default::default() };
    let start = Instant::now();
    reactor.connect_tcp_with(addr, Probe { events: Rc::clone(&events), at: Rc::clone(&at) }, &opts);
    util::run(&mut reactor);
    assert_eq!(*events.borrow(), vec!["failed TimedOut".to_string()]);
    let took = at.get().expect("failure time") - start;
    assert!(took >= Duration::from_millis(200), "failed after {took:?}, before the timeout");
    assert!(took < Duration::from_millis(1500), "failed after {took:?}, long after the timeout");
}

/// Sends a greeting, expects it echoed, closes, stops the reactor.
struct Greeter {
    got: Vec<u8>,
    events: Log<String>,
    server: SocketAddr,
}

const GREETING: &[u8] = b"hello from a reel client\n";

impl Protocol for Greeter {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        assert_eq!(cx.peer_addr(), self.server);
        assert_eq!(cx.local_addr().ip(), self.server.ip());
        self.events.borrow_mut().push(format!("made {}", cx.local_addr()));
        cx.write(GREETING);
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.got.extend_from_slice(data);
        if self.got.len() >= GREETING.len() {
            assert_eq!(self.got, GREETING);
            self.events.borrow_mut().push("echoed".into());
            cx.close();
        }
    }
    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.events.borrow_mut().push(format!("lost {reason:?}"));
        cx.stop();
    }
    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.events.borrow_mut().push(format!("failed {reason:?}"));
        cx.stop();
    }
}

/// The server side: echoes, and records the peer address it saw.
struct Recorded {
    peers: Log<SocketAddr>,
}

impl Protocol for Recorded {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.peers.borrow_mut().push(cx.peer_addr());
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        cx.write(data);
    }
}

fn round_trip_on(listen: SocketAddr) {
    let mut reactor = util::reactor();
    let peers = util::log();
    let factory = {
        let peers = Rc::clone(&peers);
        move |_| Box::new(Recorded { peers: Rc::clone(&peers) }) as Box<dyn Protocol>
    };
    let lid = reactor.listen_tcp(listen, factory).expect("listen");
    let server = reactor.listener_addr(lid).unwrap();
    let events = util::log();
    reactor.connect_tcp(server, Greeter { got: Vec::new(), events: Rc::clone(&events), server });
    util::run(&mut reactor);
    let events = events.borrow();
    let peers = peers.borrow();
    assert_eq!(peers.len(), 1);
    assert_eq!(*events, vec![format!("made {}", peers[0]), "echoed".into(), "lost Closed".into()]);
}

#[test]
fn client_round_trip_to_a_reel_server_over_ipv4() {
    round_trip_on("127.0.0.1:0".parse().unwrap());
}

#[test]
fn client_round_trip_to_a_reel_server_over_ipv6() {
    if !util::ipv6_available() {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    }
    round_trip_on("[::1]:0".parse().unwrap());
}

/// Writes queued on a connection that is still connecting go out once it
/// is established.
#[test]
fn writes_queued_while_connecting_are_sent_once_connected() {
    let mut reactor = util::reactor();
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().unwrap();
    let events = util::log();
    struct Quiet(Log<String>);
    impl Protocol for Quiet {
        fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
            self.0.borrow_mut().push(String::from_utf8_lossy(data).into_owned());
            cx.close();
        }
        fn connection_lost(&mut self, _cx: &mut Context<'_>, reason: Reason) {
            self.0.borrow_mut().push(format!("lost {reason:?}"));
        }
    }
    let id = reactor.connect_tcp(addr, Quiet(Rc::clone(&events)));
    assert!(reactor.context().write_to(id, b"early bird\n"), "a connecting connection takes writes");
    let client = util::client(&reactor, move || {
        let (mut s, _) = l.accept().expect("accept");
        s.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
        assert_eq!(util::read_line(&mut s), "early bird");
        util::write_all(&mut s, b"ok");
        assert!(util::read_to_end(&mut s).is_empty());
    });
    util::run(&mut reactor);
    client.join();
    assert_eq!(*events.borrow(), vec!["ok".to_string(), "lost Closed".to_string()]);
}
