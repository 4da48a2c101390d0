//! The whole-server harness: a factory's connections in one reactor,
//! broadcasts among them, a graceful stop and its drain, datagram
//! endpoints in memory, fake addresses, and the stats snapshot counted
//! against a known scenario.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use reel::testing::{Datagram, Event, ServerHarness, FAKE_LOCAL, FAKE_PEER};
use reel::{ConnId, Context, DatagramContext, DatagramProtocol, Protocol, Reason, TcpOptions, TimerId};

/// Every line a member sends goes to every other member; `bye` on stop.
struct Relay {
    members: Rc<RefCell<Vec<ConnId>>>,
}

impl Protocol for Relay {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.members.borrow_mut().push(cx.conn_id());
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        let me = cx.conn_id();
        for &other in self.members.borrow().iter().filter(|&&m| m != me) {
            cx.write_to(other, data);
        }
    }
    fn connection_lost(&mut self, cx: &mut Context<'_>, _reason: Reason) {
        let me = cx.conn_id();
        self.members.borrow_mut().retain(|&m| m != me);
    }
    fn stop_requested(&mut self, cx: &mut Context<'_>) {
        cx.write(b"bye\n");
        cx.close();
    }
}

fn relay() -> (ServerHarness, Rc<RefCell<Vec<ConnId>>>) {
    let members = Rc::new(RefCell::new(Vec::new()));
    let shared = Rc::clone(&members);
    (ServerHarness::new(move |_peer| Relay { members: Rc::clone(&shared) }), members)
}

#[test]
fn connections_share_one_reactor_with_unique_ids_and_fake_addresses() {
    let (mut server, members) = relay();
    let a = server.connect();
    let b = server.connect();
    let chosen: SocketAddr = "[2001:db8::7]:5555".parse().unwrap();
    let c = server.connect_from(chosen);
    assert_eq!(server.connections(), vec![a, b, c]);
    assert!(a != b && b != c && a != c, "ids are unique: {a} {b} {c}");
    assert_eq!(*members.borrow(), vec![a, b, c]);
    assert_eq!(server.peer_addr(a), FAKE_PEER);
    assert_eq!(server.peer_addr(b), SocketAddr::new(FAKE_PEER.ip(), FAKE_PEER.port() + 1));
    assert_eq!(server.peer_addr(c), chosen);
    // What the protocol sees through its context.
    assert_eq!(server.with_context(c, |cx| (cx.peer_addr(), cx.local_addr())), (chosen, FAKE_LOCAL));
    let elsewhere: SocketAddr = "10.1.2.3:80".parse().unwrap();
    server.set_local_addr(elsewhere);
    let d = server.connect();
    assert_eq!(server.with_context(d, |cx| cx.local_addr()), elsewhere);
    assert_eq!(server.connection_count(), 4);
}

#[test]
fn a_broadcast_reaches_every_other_member() {
    let (mut server, _) = relay();
    let [a, b, c] = [server.connect(), server.connect(), server.connect()];
    server.feed(a, b"hello\n");
    assert_eq!(server.take_written(a), b"");
    assert_eq!(server.take_written(b), b"hello\n");
    assert_eq!(server.take_written(c), b"hello\n");
    // A member that left is no longer written to; the others still are.
    server.feed_eof(b);
    assert_eq!(server.lost(b), Some(Reason::PeerClosed));
    assert!(!server.is_open(b));
    server.feed(c, b"still here\n");
    assert_eq!(server.take_written(a), b"still here\n");
    assert_eq!(server.written(b), b"");
    // The server side closes one.
    assert!(server.close(a));
    assert_eq!(server.lost(a), Some(Reason::Closed));
    assert!(!server.close(a), "closing twice does nothing");
}

#[test]
fn a_stop_drains_every_connection_and_keeps_what_each_saw() {
    let (mut server, _) = relay();
    let [a, b] = [server.connect(), server.connect()];
    // `b`'s peer reads nothing: its farewell cannot leave, so the drain
    // waits for it until the grace period is over.
    server.set_peer_window(b, Some(0));
    server.feed(a, b"x\n");
    server.stop();
    assert!(!server.is_stopped(), "b's output is still queued");
    assert_eq!(server.written(a), b"bye\n");
    assert_eq!(server.lost(a), Some(Reason::Closed));
    assert!(server.transcript(a).write_shutdown);
    assert_eq!(server.lost(b), None);
    assert_eq!(server.queued(b), 6, "x\\n then bye\\n");
    // The peer reads 2 bytes: "x\n" gets through, "bye\n" is still queued.
    server.peer_reads(b, 2);
    assert_eq!(server.written(b), b"x\n");
    assert!(!server.is_stopped());
    server.advance(Duration::from_secs(5));
    assert!(server.is_stopped());
    assert_eq!(server.lost(b), Some(Reason::Shutdown));
    assert!(server.transcript(b).reset, "what is left at the end of the grace period is reset");
    assert_eq!(server.connection_count(), 0);
}

#[test]
fn a_stop_with_everything_flushed_completes_once_the_peers_close() {
    let (mut server, _) = relay();
    let ids = [server.connect(), server.connect(), server.connect()];
    server.stop();
    for id in ids {
        assert_eq!(server.transcript(id).written, b"bye\n");
        assert_eq!(server.events(id), vec![Event::Lost(Reason::Closed)]);
    }
    // Flushed and lingering: freed with their peers' input unread, the
    // sockets would be reset, destroying what is still in flight.
    for id in ids {
        assert!(!server.is_stopped(), "lingering until every peer's EOF");
        server.feed_eof(id);
    }
    assert!(server.is_stopped());
    assert_eq!(server.connection_count(), 0);
}

/// Answers each datagram, upper-cased, to its sender and to a fixed
/// observer; counts `stopped`.
struct Upper {
    observer: SocketAddr,
    stopped: Rc<RefCell<u32>>,
    errors: Rc<RefCell<Vec<io::ErrorKind>>>,
}

impl DatagramProtocol for Upper {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        let upper = data.to_ascii_uppercase();
        cx.send_to(&upper, from);
        cx.send_to(&upper, self.observer);
    }
    fn error_received(&mut self, _cx: &mut DatagramContext<'_>, error: &io::Error) {
        self.errors.borrow_mut().push(error.kind());
    }
    fn stopped(&mut self, _cx: &mut DatagramContext<'_>) {
        *self.stopped.borrow_mut() += 1;
    }
}

#[test]
fn a_datagram_endpoint_runs_in_memory() {
    let (mut server, _) = relay();
    let local: SocketAddr = "127.0.0.1:9999".parse().unwrap();
    let observer: SocketAddr = "192.0.2.1:1".parse().unwrap();
    let stopped = Rc::new(RefCell::new(0));
    let errors = Rc::new(RefCell::new(Vec::new()));
    let upper = Upper { observer, stopped: Rc::clone(&stopped), errors: Rc::clone(&errors) };
    let udp = server.bind_udp(local, upper);
    let from: SocketAddr = "[::1]:4242".parse().unwrap();
    server.send_datagram(udp, from, b"ping");
    server.send_datagram(udp, from, b"");
    assert_eq!(
        server.take_sent(udp),
        vec![
            Datagram { to: from, data: b"PING".to_vec() },
            Datagram { to: observer, data: b"PING".to_vec() },
            Datagram { to: from, data: Vec::new() },
            Datagram { to: observer, data: Vec::new() },
        ]
    );
    server.fail_sends(udp, Some(io::ErrorKind::ConnectionRefused));
    server.send_datagram(udp, from, b"x");
    assert!(server.take_sent(udp).is_empty());
    assert_eq!(*errors.borrow(), vec![io::ErrorKind::ConnectionRefused; 2]);
    let stats = server.stats();
    assert_eq!((stats.endpoints, stats.datagrams_in, stats.datagrams_out, stats.datagrams_dropped), (1, 3, 4, 0));
    // The socket buffer is full: datagrams queue (1024 by default), then
    // are dropped and counted.
    server.fail_sends(udp, Some(io::ErrorKind::WouldBlock));
    for _ in 0..520 {
        server.send_datagram(udp, from, b"q");
    }
    let stats = server.stats();
    assert_eq!((stats.datagrams_in, stats.datagrams_out, stats.datagrams_dropped), (523, 4, 1040 - 1024));
    server.fail_sends(udp, None);
    assert!(server.is_udp_open(udp));
    server.stop();
    assert!(server.is_stopped());
    assert!(!server.is_udp_open(udp));
    assert_eq!(*stopped.borrow(), 1);
    // The 1,024 still queued at the stop were never sent: dropped too.
    assert_eq!(server.stats().datagrams_dropped, 1040);
}

/// Sends each datagram back to its sender; closes on "close".
struct EchoUdp;

impl DatagramProtocol for EchoUdp {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        if data == b"close" {
            cx.close();
        } else {
            cx.send_to(data, from);
        }
    }
}

#[test]
fn datagrams_still_queued_when_an_endpoint_closes_are_counted_as_dropped() {
    let (mut server, _) = relay();
    let from: SocketAddr = "192.0.2.7:7".parse().unwrap();
    let mut counts = Vec::new();
    for (round, close_from_inside) in [(0u8, false), (1, true)] {
        let udp = server.bind_udp(SocketAddr::from(([127, 0, 0, 1], 9000 + u16::from(round))), EchoUdp);
        server.send_datagram(udp, from, b"sent");
        // The socket buffer is full: the replies wait in the send queue.
        server.fail_sends(udp, Some(io::ErrorKind::WouldBlock));
        for i in 0..5u8 {
            server.send_datagram(udp, from, &[round, i]);
        }
        let stats = server.stats();
        counts.push((stats.endpoints, stats.datagrams_out, stats.datagrams_dropped));
        if close_from_inside {
            server.send_datagram(udp, from, b"close");
        } else {
            assert!(server.with_reactor(|cx| cx.close_udp(udp)));
        }
        assert!(!server.is_udp_open(udp));
        let stats = server.stats();
        counts.push((stats.endpoints, stats.datagrams_out, stats.datagrams_dropped));
        assert_eq!(server.take_sent(udp), vec![Datagram { to: from, data: b"sent".to_vec() }]);
    }
    // (endpoints open, datagrams out, dropped): queued ones are not
    // dropped while the endpoint is open, and are once it closed.
    assert_eq!(counts, vec![(1, 1, 0), (0, 1, 5), (1, 2, 5), (0, 2, 10)]);
}

/// Sets a timer when made, writes `size` bytes on each input, pauses
/// reading on "pause".
struct Writer {
    size: usize,
}

impl Protocol for Writer {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.set_timer(Duration::from_secs(60));
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if data == b"pause" {
            cx.pause_reading();
        } else {
            cx.write(&vec![b'w'; self.size]);
        }
    }
    fn timer_fired(&mut self, _cx: &mut Context<'_>, _timer: TimerId) {}
}

#[test]
fn stats_count_a_known_scenario() {
    let opts = TcpOptions { high_water: 1000, low_water: 100, ..TcpOptions::default() };
    let mut server = ServerHarness::with_options(|_peer| Writer { size: 2000 }, &opts);
    let s = server.stats();
    assert_eq!((s.connections(), s.bytes_in, s.bytes_out, s.pending_timers), (0, 0, 0, 0));

    let [flowing, stuck, paused, closing] = [server.connect(), server.connect(), server.connect(), server.connect()];
    // `flowing` answers 2000 bytes to 1 byte in.
    server.feed(flowing, b"a");
    // `stuck`'s peer reads nothing: its answer stays queued, above the
    // high water mark, so flow control pauses its reading.
    server.set_peer_window(stuck, Some(0));
    server.feed(stuck, b"b");
    // `paused` pauses its own reading.
    server.feed(paused, b"pause");
    // `closing` cannot flush and is asked to close.
    server.set_peer_window(closing, Some(500));
    server.feed(closing, b"c");
    assert!(server.close(closing));
    let s = server.stats();
    assert_eq!((s.connecting, s.open, s.closing, s.lingering), (0, 3, 1, 0), "{s}");
    assert_eq!(s.connections(), 4);
    assert_eq!((s.paused_by_flow_control, s.paused_by_protocol), (1, 1), "{s}");
    assert_eq!(s.queued_output, 2000 + 1500, "{s}");
    assert_eq!(s.bytes_in, 1 + 1 + 5 + 1);
    assert_eq!(s.bytes_out, 2000 + 500);
    // One timer per connection, `closing`'s close timeout, and the stall
    // watches of the two whose reading flow control paused (`stuck`,
    // `closing`: output queued, no byte taken).
    assert_eq!(s.pending_timers, 7, "{s}");
    assert_eq!((s.listeners, s.endpoints, s.accepted, s.refused), (0, 0, 0, 0));
    // The same snapshot from inside a callback.
    assert_eq!(server.with_context(flowing, |cx| cx.stats()), s);
    // The closing connection flushes and lingers: its protocol is done,
    // its timer cancelled.
    server.peer_reads(closing, 1500);
    let s = server.stats();
    assert_eq!((s.open, s.closing, s.lingering), (3, 0, 1), "{s}");
    assert_eq!(s.bytes_out, 2000 + 2000);
    assert_eq!(s.queued_output, 2000);
    let line = s.to_string();
    assert!(
        line.starts_with(
            "conns 4 (connecting 0, open 3, write-closed 0, closing 0, lingering 1), paused 1+1, queued 2.0 KiB"
        ),
        "{line}"
    );
}
