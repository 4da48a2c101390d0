//! Connecting by host name and to a list of addresses: a dead address
//! then a live one connects to the live one; all dead fails once with the
//! last error; the real resolver's `localhost`; closing while the name
//! resolves.

mod util;

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use reel::{Context, Protocol, Reason};
use util::Log;

/// Records `made PEER` / `failed REASON` / `lost REASON` and stops the
/// reactor at the end.
struct Dialer(Log<String>);

impl Protocol for Dialer {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.0.borrow_mut().push(format!("made {}", cx.peer_addr()));
        cx.write(b"hi");
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.0.borrow_mut().push(format!("echo {}", String::from_utf8_lossy(data)));
        cx.close();
    }
    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.0.borrow_mut().push(format!("lost {reason:?}"));
        cx.stop();
    }
    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.0.borrow_mut().push(format!("failed {reason:?}"));
        cx.stop();
    }
}

/// An address nobody listens on (a port just released).
fn dead(ip: &str) -> SocketAddr {
    let l = TcpListener::bind((ip, 0)).expect("bind");
    l.local_addr().unwrap()
}

#[test]
fn a_dead_address_then_a_live_one() {
    let mut reactor = util::reactor();
    let id = reactor.listen_tcp("127.0.0.1:0", util::echo_factory()).unwrap();
    let live = reactor.listener_addr(id).unwrap();
    let log = util::log();
    reactor.connect_addrs(vec![dead("127.0.0.1"), dead("127.0.0.1"), live], Dialer(log.clone()));
    util::run(&mut reactor);
    assert_eq!(*log.borrow(), [format!("made {live}"), "echo hi".into(), "lost Closed".into()]);
}

#[test]
fn all_dead_fails_once_with_the_last_error() {
    let mut reactor = util::reactor();
    let log = util::log();
    reactor.connect_addrs(vec![dead("127.0.0.1"), dead("127.0.0.1")], Dialer(log.clone()));
    util::run(&mut reactor);
    assert_eq!(*log.borrow(), ["failed Refused"]);
}

#[test]
fn no_address_fails() {
    let mut reactor = util::reactor();
    let log = util::log();
    reactor.connect_addrs(Vec::new(), Dialer(log.clone()));
    util::run(&mut reactor);
    let log = log.borrow();
    assert_eq!(log.len(), 1);
    assert!(log[0].starts_with("failed Io(NotFound"), "{log:?}");
}

#[test]
fn localhost_through_the_real_resolver() {
    let resolved: Vec<SocketAddr> = ("localhost", 1).to_socket_addrs().map(Iterator::collect).unwrap_or_default();
    println!("localhost resolves to {resolved:?} here");
    let mut reactor = util::reactor();
    // Listening on 127.0.0.1 only: where localhost also resolves to ::1,
    // whichever comes first, one attempt is dead and the other live.
    let id = reactor.listen_tcp("127.0.0.1:0", util::echo_factory()).unwrap();
    let live = reactor.listener_addr(id).unwrap();
    let log = util::log();
    reactor.connect_host("localhost", live.port(), Dialer(log.clone()));
    util::run(&mut reactor);
    assert_eq!(*log.borrow(), [format!("made {live}"), "echo hi".into(), "lost Closed".into()]);
}

#[test]
fn literal_addresses_skip_the_resolver() {
    let mut reactor = util::reactor();
    let id = reactor.listen_tcp("127.0.0.1:0", util::echo_factory()).unwrap();
    let live = reactor.listener_addr(id).unwrap();
    let log = util::log();
    let conn = reactor.connect_host("127.0.0.1", live.port(), Dialer(log.clone()));
    // A literal is connected at once, like connect_tcp: the socket exists.
    assert!(reactor.conn_sock_ref(conn).is_some());
    util::run(&mut reactor);
    assert_eq!(log.borrow()[0], format!("made {live}"));
}

#[test]
fn closing_while_the_name_resolves_cancels() {
    let mut reactor = util::reactor();
    let log = util::log();
    let id = reactor.connect_host("localhost", 9, Dialer(log.clone()));
    assert!(reactor.conn_sock_ref(id).is_none(), "no socket while the name resolves");
    assert!(reactor.context().close_conn(id));
    util::run(&mut reactor);
    assert_eq!(*log.borrow(), ["failed Aborted"]);
}

#[test]
fn a_name_with_a_dead_and_a_live_address_through_a_resolver_of_our_own() {
    let mut reactor = util::reactor();
    let id = reactor.listen_tcp("127.0.0.1:0", util::echo_factory()).unwrap();
    let live = reactor.listener_addr(id).unwrap();
    // Where IPv6 loopback exists, the dead address is ::1 (listed first,
    // as resolvers do), so the families are interleaved too.
    let dead = if util::ipv6_available() { dead("::1") } else { dead("127.0.0.1") };
    let test_thread = std::thread::current().id();
    let asked = std::sync::Arc::new(std::sync::Mutex::new(None));
    let a2 = asked.clone();
    let resolve = move |host: &str, port: u16| {
        *a2.lock().unwrap() = Some((host.to_string(), port, std::thread::current().id() != test_thread));
        Ok(vec![dead, live])
    };
    let log = util::log();
    let opts = reel::TcpOptions::default();
    reactor.context().connect_host_using("service.test", live.port(), resolve, Dialer(log.clone()), &opts);
    util::run(&mut reactor);
    assert_eq!(*asked.lock().unwrap(), Some(("service.test".to_string(), live.port(), true)), "resolved off the loop");
    assert_eq!(*log.borrow(), [format!("made {live}"), "echo hi".into(), "lost Closed".into()]);
}

#[test]
fn a_resolver_error_reaches_the_protocol() {
    let mut reactor = util::reactor();
    let log = util::log();
    let resolve = |_: &str, _: u16| Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no such host"));
    reactor.context().connect_host_using("nowhere.test", 80, resolve, Dialer(log.clone()), &Default::default());
    util::run(&mut reactor);
    let log = log.borrow();
    assert_eq!(log.len(), 1);
    assert!(log[0].starts_with("failed Io(NotFound"), "{log:?}");
}

#[test]
fn families_are_interleaved() {
    // Through the public behaviour: three dead IPv4 addresses and a live
    // one would need four attempts; the order is checked by the unit test
    // of `interleave`. Here: a live IPv4 address after dead IPv6 ones.
    if !util::ipv6_available() {
        println!("SKIPPED: no IPv6 loopback here");
        return;
    }
    let mut reactor = util::reactor();
    let id = reactor.listen_tcp("127.0.0.1:0", util::echo_factory()).unwrap();
    let live = reactor.listener_addr(id).unwrap();
    let d6 = dead("::1");
    let log = util::log();
    let resolve = move |_: &str, _: u16| Ok(vec![d6, d6, d6, live]);
    reactor.context().connect_host_using("mixed.test", live.port(), resolve, Dialer(log.clone()), &Default::default());
    util::run(&mut reactor);
    assert_eq!(log.borrow()[0], format!("made {live}"));
}

#[test]
fn output_queued_while_dialing_is_sent_once_connected() {
    struct Quiet(Log<String>);
    impl Protocol for Quiet {
        fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
            self.0.borrow_mut().push(String::from_utf8_lossy(data).into_owned());
            cx.close();
        }
        fn connection_lost(&mut self, cx: &mut Context<'_>, _reason: Reason) {
            cx.stop();
        }
    }
    let mut reactor = util::reactor();
    let id = reactor.listen_tcp("127.0.0.1:0", util::echo_factory()).unwrap();
    let live = reactor.listener_addr(id).unwrap();
    let log = util::log();
    let conn = reactor.connect_addrs(vec![dead("127.0.0.1"), live], Quiet(log.clone()));
    assert!(reactor.context().write_to(conn, b"early"), "a dialing connection takes output");
    util::run(&mut reactor);
    assert_eq!(*log.borrow(), ["early"]);
}

/// A listener whose accept queue is full: the kernel drops new SYNs, so a
/// connect to it neither succeeds nor fails (a black-holed address).
/// Returns its address and what keeps it full.
fn black_hole() -> Option<(SocketAddr, Vec<std::net::TcpStream>, socket2::Socket)> {
    use socket2::{Domain, Socket, Type};
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
    l.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).ok()?;
    l.listen(0).ok()?;
    let addr = l.local_addr().ok()?.as_socket()?;
    let mut held = Vec::new();
    for _ in 0..8 {
        match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(300)) {
            Ok(s) => held.push(s),
            Err(_) => return Some((addr, held, l)), // full: SYNs are dropped now
        }
    }
    None
}

#[test]
fn a_black_holed_address_is_raced_after_the_attempt_delay() {
    let Some((hole, _held, _listener)) = black_hole() else {
        println!("SKIPPED: could not fill a listener's accept queue here");
        return;
    };
    let mut reactor = util::reactor();
    let id = reactor.listen_tcp("127.0.0.1:0", util::echo_factory()).unwrap();
    let live = reactor.listener_addr(id).unwrap();
    let log = util::log();
    let opts = reel::TcpOptions { connect_timeout: std::time::Duration::from_secs(20), ..Default::default() };
    let resolve = move |_: &str, _: u16| Ok(vec![hole, live]);
    let start = std::time::Instant::now();
    reactor.context().connect_host_using("hole.test", live.port(), resolve, Dialer(log.clone()), &opts);
    util::run(&mut reactor); // the watchdog (4 s) fails the test if it waits for the hole
    println!("connected after {:?}", start.elapsed());
    assert_eq!(*log.borrow(), [format!("made {live}"), "echo hi".into(), "lost Closed".into()]);
    assert!(start.elapsed() >= reel_attempt_delay(), "the hole had its attempt delay first");
}

/// RFC 8305's connection attempt delay, as reel uses it.
fn reel_attempt_delay() -> std::time::Duration {
    std::time::Duration::from_millis(250)
}
