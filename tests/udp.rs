//! UDP endpoints: a datagram echo on IPv4 and IPv6, the empty datagram,
//! and a connected endpoint learning of a refusal.

mod util;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::rc::Rc;
use std::time::Duration;

use reel::{DatagramContext, DatagramProtocol, TimerId};
use util::Log;

/// Echoes every datagram to its sender; records what it saw.
struct DatagramEcho {
    events: Log<String>,
}

impl DatagramProtocol for DatagramEcho {
    fn started(&mut self, cx: &mut DatagramContext<'_>) {
        self.events.borrow_mut().push(format!("started {}", cx.local_addr()));
    }
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        self.events.borrow_mut().push(format!("{} bytes", data.len()));
        cx.send_to(data, from);
    }
    fn stopped(&mut self, _cx: &mut DatagramContext<'_>) {
        self.events.borrow_mut().push("stopped".into());
    }
}

fn udp_client(bind: &str) -> UdpSocket {
    let s = UdpSocket::bind(bind).expect("bind client");
    s.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(util::IO_TIMEOUT)).unwrap();
    s
}

fn echo_on(listen: &str, client_bind: &'static str) {
    let mut reactor = util::reactor();
    let events = util::log();
    let id = reactor.listen_udp(listen, DatagramEcho { events: Rc::clone(&events) }).expect("bind");
    let addr = reactor.udp_addr(id).expect("endpoint address");
    assert_ne!(addr.port(), 0);
    let client = util::client(&reactor, move || {
        let s = udp_client(client_bind);
        let mut buf = [0u8; 2048];
        for i in 0..50 {
            // Datagram boundaries are kept: sizes vary, answers match.
            let msg = vec![i as u8; 1 + i * 20];
            s.send_to(&msg, addr).expect("send_to");
            let (n, from) = s.recv_from(&mut buf).expect("recv_from: no echo");
            assert_eq!(from, addr);
            assert_eq!(&buf[..n], &msg[..]);
        }
    });
    util::run(&mut reactor);
    client.join();
    let events = events.borrow();
    assert_eq!(events.first(), Some(&format!("started {addr}")), "started comes first");
    assert_eq!(events.last(), Some(&"stopped".to_string()), "stopped comes last, on the reactor's stop");
    assert_eq!(events.len(), 52);
}

#[test]
fn udp_echo_over_ipv4() {
    echo_on("127.0.0.1:0", "127.0.0.1:0");
}

#[test]
fn udp_echo_over_ipv6() {
    if !util::ipv6_available() {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    }
    echo_on("[::1]:0", "[::1]:0");
}

#[test]
fn an_empty_datagram_is_a_message() {
    let mut reactor = util::reactor();
    let events = util::log();
    let id = reactor.listen_udp("127.0.0.1:0", DatagramEcho { events: Rc::clone(&events) }).unwrap();
    let addr = reactor.udp_addr(id).unwrap();
    let client = util::client(&reactor, move || {
        let s = udp_client("127.0.0.1:0");
        s.send_to(b"", addr).expect("send empty");
        let mut buf = [0u8; 16];
        let (n, from) = s.recv_from(&mut buf).expect("the empty datagram was not echoed");
        assert_eq!((n, from), (0, addr));
        // And the endpoint goes on after it.
        s.send_to(b"x", addr).expect("send");
        let (n, _) = s.recv_from(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"x");
    });
    util::run(&mut reactor);
    client.join();
    let events = events.borrow();
    assert_eq!(events[1..3], ["0 bytes".to_string(), "1 bytes".to_string()]);
}

/// Sends on a connected endpoint every few milliseconds until an error
/// comes back.
struct Refusable {
    errors: Log<io::ErrorKind>,
    sends: u32,
}

impl DatagramProtocol for Refusable {
    fn started(&mut self, cx: &mut DatagramContext<'_>) {
        cx.send(b"anyone there?").expect("a connected endpoint sends");
        self.sends += 1;
        cx.set_timer(Duration::from_millis(20));
    }
    fn datagram_received(&mut self, _cx: &mut DatagramContext<'_>, _data: &[u8], from: SocketAddr) {
        panic!("nobody should answer, but {from} did");
    }
    fn error_received(&mut self, cx: &mut DatagramContext<'_>, error: &io::Error) {
        self.errors.borrow_mut().push(error.kind());
        cx.stop();
    }
    fn timer_fired(&mut self, cx: &mut DatagramContext<'_>, _timer: TimerId) {
        if self.sends < 20 {
            cx.send(b"anyone there?").expect("a connected endpoint sends");
            self.sends += 1;
            cx.set_timer(Duration::from_millis(20));
        }
    }
}

#[test]
fn a_connected_endpoint_learns_of_a_refusal() {
    let nobody = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let mut reactor = util::reactor();
    let errors = util::log();
    reactor
        .connect_udp("127.0.0.1:0", nobody, Refusable { errors: Rc::clone(&errors), sends: 0 })
        .expect("connect_udp");
    util::run(&mut reactor);
    assert_eq!(errors.borrow().first(), Some(&io::ErrorKind::ConnectionRefused));
}

#[test]
fn a_large_datagram_arrives_whole_even_with_a_small_read_buffer() {
    let cfg = reel::ReactorConfig { read_buffer_size: 1024, ..util::config() };
    let mut reactor = util::reactor_with(cfg);
    let events = util::log();
    let id = reactor.listen_udp("127.0.0.1:0", DatagramEcho { events: Rc::clone(&events) }).expect("bind");
    let addr = reactor.udp_addr(id).expect("endpoint address");
    let client = util::client(&reactor, move || {
        let s = udp_client("127.0.0.1:0");
        // The largest payload IPv4 carries.
        let msg: Vec<u8> = (0..65_507u32).map(|i| (i % 251) as u8).collect();
        s.send_to(&msg, addr).expect("send_to");
        let mut buf = vec![0u8; 70_000];
        let (n, _) = s.recv_from(&mut buf).expect("recv_from: no echo");
        assert_eq!(n, msg.len(), "the echo is the whole datagram");
        assert!(buf[..n] == msg[..]);
    });
    util::run(&mut reactor);
    client.join();
    assert!(events.borrow().contains(&"65507 bytes".to_string()), "{:?}", events.borrow());
}

/// Sends on a bound, unconnected endpoint: an error the caller sees.
struct Unconnected {
    result: Log<io::ErrorKind>,
}

impl DatagramProtocol for Unconnected {
    fn started(&mut self, cx: &mut DatagramContext<'_>) {
        let err = cx.send(b"to whom?").expect_err("send without a connected peer");
        self.result.borrow_mut().push(err.kind());
        cx.stop();
    }
    fn datagram_received(&mut self, _cx: &mut DatagramContext<'_>, _data: &[u8], _from: SocketAddr) {}
}

#[test]
fn send_on_an_unconnected_endpoint_is_an_error() {
    let mut reactor = util::reactor();
    let result = util::log();
    reactor.listen_udp("127.0.0.1:0", Unconnected { result: Rc::clone(&result) }).expect("bind");
    util::run(&mut reactor);
    assert_eq!(*result.borrow(), [io::ErrorKind::NotConnected]);
}

/// Answers every error with another send that fails at once (a datagram
/// too large for UDP), and stops the reactor from a timer.
struct FailsForever {
    errors: Rc<std::cell::Cell<usize>>,
}

impl DatagramProtocol for FailsForever {
    fn started(&mut self, cx: &mut DatagramContext<'_>) {
        cx.set_timer(Duration::from_millis(50));
        cx.send_to(&vec![0u8; 70_000], cx.local_addr());
    }
    fn datagram_received(&mut self, _cx: &mut DatagramContext<'_>, _data: &[u8], _from: SocketAddr) {}
    fn error_received(&mut self, cx: &mut DatagramContext<'_>, _error: &io::Error) {
        self.errors.set(self.errors.get() + 1);
        cx.send_to(&vec![0u8; 70_000], cx.local_addr());
    }
    fn timer_fired(&mut self, cx: &mut DatagramContext<'_>, _timer: TimerId) {
        cx.stop();
    }
}

/// Found by review: an endpoint whose `error_received` sends a datagram
/// that fails at once held the reactor in its settle phase for ever (no
/// timer, no other source served). The errors its callbacks cause now
/// wait for the next turn: the loop goes on, and the timer stops it.
#[test]
fn an_endpoint_that_fails_on_every_error_does_not_hold_the_loop() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reactor = util::reactor();
        let errors = Rc::new(std::cell::Cell::new(0));
        reactor.listen_udp("127.0.0.1:0", FailsForever { errors: Rc::clone(&errors) }).expect("bind");
        let result = reactor.run();
        let _ = tx.send((result.is_ok(), errors.get()));
    });
    let (ok, errors) = rx.recv_timeout(Duration::from_secs(10)).expect("the reactor never came back to its timer");
    assert!(ok);
    assert!(errors >= 1, "error_received was called {errors} times");
}
