//! Batched datagrams at their edges: a dual-stack endpoint's replies to
//! IPv4 peers, an endpoint that closes in the middle of a batch, one that
//! sends to itself from inside a batch, and one that opens endpoints, sets
//! timers and sends from another endpoint there.

mod util;

use std::cell::RefCell;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::rc::Rc;

use reel::{DatagramContext, DatagramProtocol, UdpOptions};

fn client(bind: &str) -> UdpSocket {
    let s = UdpSocket::bind(bind).expect("bind client");
    s.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
    s
}

fn recv(s: &UdpSocket) -> io::Result<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 70_000];
    let (n, from) = s.recv_from(&mut buf)?;
    buf.truncate(n);
    Ok((buf, from))
}

/// Replies `re:X` and notes each sender; `close` answers `bye`, closes the
/// endpoint, and then tries to send `late` (which must be refused).
struct Replier {
    seen: Seen,
    stopped: Rc<RefCell<u32>>,
    errors: Rc<RefCell<Vec<io::Error>>>,
}

impl DatagramProtocol for Replier {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        self.seen.borrow_mut().push((data.to_vec(), from));
        if data == b"close" {
            assert!(cx.send_to(b"bye", from));
            cx.close();
            assert!(!cx.send_to(b"late", from), "a closing endpoint refuses to send");
            return;
        }
        cx.send_to(&[b"re:".as_slice(), data].concat(), from);
    }
    fn error_received(&mut self, _cx: &mut DatagramContext<'_>, error: &io::Error) {
        self.errors.borrow_mut().push(io::Error::new(error.kind(), error.to_string()));
    }
    fn stopped(&mut self, _cx: &mut DatagramContext<'_>) {
        *self.stopped.borrow_mut() += 1;
    }
}

/// The datagrams seen, with their senders.
type Seen = Rc<RefCell<Vec<(Vec<u8>, SocketAddr)>>>;

type Logs = (Seen, Rc<RefCell<u32>>, Rc<RefCell<Vec<io::Error>>>);

fn replier() -> (Replier, Logs) {
    let logs: Logs = Default::default();
    let r = Replier { seen: Rc::clone(&logs.0), stopped: Rc::clone(&logs.1), errors: Rc::clone(&logs.2) };
    (r, logs)
}

#[test]
fn a_dual_stack_endpoint_answers_ipv4_peers_in_batches_from_their_own_address() {
    let mut reactor = util::reactor();
    let (protocol, (seen, _, errors)) = replier();
    let opts = UdpOptions { dual_stack: true, ..Default::default() };
    let Ok(id) = reactor.listen_udp_with("[::]:0", protocol, &opts) else { return };
    let port = reactor.udp_addr(id).unwrap().port();
    let c = util::client(&reactor, move || {
        let v4 = client("127.0.0.1:0");
        let to: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        // Several in flight at once: they are read and answered in batches.
        for round in 0..5 {
            for i in 0..20 {
                v4.send_to(format!("{round}.{i}").as_bytes(), to).unwrap();
            }
            for i in 0..20 {
                let (data, from) = recv(&v4).expect("a reply");
                assert_eq!(from, to, "the reply comes from the IPv4 address written to");
                assert_eq!(data, format!("re:{round}.{i}").into_bytes());
            }
        }
        v4.local_addr().unwrap()
    });
    util::run(&mut reactor);
    let me = c.join();
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
    assert_eq!(seen.borrow().len(), 100);
    assert!(seen.borrow().iter().all(|(_, from)| *from == me), "IPv4 peers are seen as IPv4");
}

#[test]
fn an_endpoint_closed_in_the_middle_of_a_batch_sends_its_replies_and_nothing_more() {
    let mut reactor = util::reactor();
    let (protocol, (seen, stopped, errors)) = replier();
    let id = reactor.listen_udp("127.0.0.1:0", protocol).unwrap();
    let to = reactor.udp_addr(id).unwrap();
    let peer = client("127.0.0.1:0");
    // All queued on the socket before the reactor reads: one batch.
    for d in [&b"a"[..], b"b", b"close", b"c", b"d"] {
        peer.send_to(d, to).unwrap();
    }
    let c = util::client(&reactor, move || {
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(recv(&peer).expect("a reply").0);
        }
        peer.set_read_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
        let more = recv(&peer).ok().map(|(d, _)| d);
        (got, more)
    });
    util::run(&mut reactor);
    let (got, more) = c.join();
    assert_eq!(got, vec![b"re:a".to_vec(), b"re:b".to_vec(), b"bye".to_vec()]);
    assert_eq!(more, None, "nothing after the close");
    let seen: Vec<Vec<u8>> = seen.borrow().iter().map(|(d, _)| d.clone()).collect();
    assert_eq!(seen, vec![b"a".to_vec(), b"b".to_vec(), b"close".to_vec()], "the rest of the batch is dropped");
    assert_eq!(*stopped.borrow(), 1);
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
    assert!(reactor.udp_addr(id).is_none(), "the endpoint is gone");
}

/// Counts down: `N` from a peer makes it send `N-1` to itself, and so on;
/// at 0 it tells the peer `done`.
struct Countdown {
    peer: Option<SocketAddr>,
}

impl DatagramProtocol for Countdown {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        let me = cx.local_addr();
        if from != me {
            self.peer = Some(from);
        }
        let n: u32 = std::str::from_utf8(data).unwrap().parse().unwrap();
        if n == 0 {
            cx.send_to(b"done", self.peer.unwrap());
        } else {
            cx.send_to((n - 1).to_string().as_bytes(), me);
        }
    }
}

#[test]
fn datagrams_an_endpoint_sends_itself_from_a_batch_are_all_read() {
    let mut reactor = util::reactor();
    let id = reactor.listen_udp("127.0.0.1:0", Countdown { peer: None }).unwrap();
    let to = reactor.udp_addr(id).unwrap();
    let c = util::client(&reactor, move || {
        let peer = client("127.0.0.1:0");
        for _ in 0..20 {
            peer.send_to(b"50", to).unwrap();
            assert_eq!(recv(&peer).expect("done").0, b"done");
        }
    });
    util::run(&mut reactor);
    c.join();
}

/// Answers `re:X`; `panic` panics before answering, `shut` closes the
/// endpoint `other` (from inside the batch, so that something is left to
/// settle) and answers `shut`. Each event goes to `log` in order.
struct Moody {
    log: util::Log<String>,
    other: Rc<std::cell::Cell<Option<reel::UdpId>>>,
}

impl DatagramProtocol for Moody {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        let data = String::from_utf8_lossy(data).into_owned();
        self.log.borrow_mut().push(data.clone());
        match data.as_str() {
            "panic" => panic!("a datagram callback panics (on purpose)"),
            "shut" => {
                let other = self.other.get().expect("the other endpoint");
                assert!(cx.close_udp(other));
            }
            _ => {}
        }
        cx.send_to(format!("re:{data}").as_bytes(), from);
    }
}

/// Notes its `stopped` in the shared log.
struct Other {
    log: util::Log<String>,
}

impl DatagramProtocol for Other {
    fn datagram_received(&mut self, _cx: &mut DatagramContext<'_>, _data: &[u8], _from: SocketAddr) {}
    fn stopped(&mut self, _cx: &mut DatagramContext<'_>) {
        self.log.borrow_mut().push("other stopped".into());
    }
}

/// Queues `sent` on a [`Moody`] endpoint before the reactor reads (one
/// batch), then one more datagram; returns the log and the replies.
fn moody_batch(config: reel::ReactorConfig, sent: &[&str]) -> (Vec<String>, Vec<Vec<u8>>) {
    let mut reactor = util::reactor_with(config);
    let log = util::log();
    let other_id = Rc::new(std::cell::Cell::new(None));
    let moody = Moody { log: Rc::clone(&log), other: Rc::clone(&other_id) };
    let id = reactor.listen_udp("127.0.0.1:0", moody).unwrap();
    other_id.set(Some(reactor.listen_udp("127.0.0.1:0", Other { log: Rc::clone(&log) }).unwrap()));
    let to = reactor.udp_addr(id).unwrap();
    let peer = client("127.0.0.1:0");
    for d in sent {
        peer.send_to(d.as_bytes(), to).unwrap();
    }
    let answers = sent.iter().filter(|d| **d != "panic").count();
    let c = util::client(&reactor, move || {
        let mut got: Vec<Vec<u8>> = (0..answers).map(|_| recv(&peer).expect("a reply").0).collect();
        // The endpoint goes on after the batch.
        peer.send_to(b"after", to).unwrap();
        got.push(recv(&peer).expect("the reply after the batch").0);
        got
    });
    util::run(&mut reactor);
    let got = c.join();
    let log = log.borrow().clone();
    (log, got)
}

#[test]
fn a_panic_in_the_middle_of_a_batch_is_that_datagram_s_alone() {
    let sent = ["a", "b", "panic", "c", "panic", "d"];
    for slow_callback in [None, Some(std::time::Duration::from_secs(60))] {
        // Without and with the slow-callback warning (callbacks timed one
        // by one): the same callbacks, in the same order.
        let config = reel::ReactorConfig { slow_callback, ..util::config() };
        let (log, got) = moody_batch(config, &sent);
        // (The other endpoint stops with the reactor.)
        assert_eq!(log, ["a", "b", "panic", "c", "panic", "d", "after", "other stopped"], "{slow_callback:?}");
        let want: Vec<&[u8]> = vec![b"re:a", b"re:b", b"re:c", b"re:d", b"re:after"];
        assert_eq!(got, want, "{slow_callback:?}");
    }
}

#[test]
fn what_a_callback_leaves_to_settle_is_settled_before_the_next_datagram_of_its_batch() {
    let (log, got) = moody_batch(util::config(), &["a", "shut", "b", "panic", "c"]);
    assert_eq!(log, ["a", "shut", "other stopped", "b", "panic", "c", "after"]);
    let want: Vec<&[u8]> = vec![b"re:a", b"re:shut", b"re:b", b"re:c", b"re:after"];
    assert_eq!(got, want);
}

/// Answers `X` with `<X>` sent in three parts; on `started` (outside any
/// receive batch, so joined first) greets `greet` the same way.
struct Parts {
    greet: SocketAddr,
}

impl DatagramProtocol for Parts {
    fn started(&mut self, cx: &mut DatagramContext<'_>) {
        assert!(cx.send_parts_to(&[b"hel", b"", b"lo"], self.greet));
    }
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        if data == b"fill" {
            assert!(cx.send_parts_to(&[&[b'f'; 10_000]], from));
            return;
        }
        if data == b"big" {
            // More than the outbox has room for after `fill`: the outbox
            // goes first, then this one, in order.
            let third = [b'x'; 21_000];
            assert!(cx.send_parts_to(&[&third, &third, &third], from));
            return;
        }
        assert!(cx.send_parts_to(&[b"<", data, b">"], from));
        if data == b"close" {
            cx.close();
            assert!(!cx.send_parts_to(&[b"late"], from), "a closing endpoint refuses to send");
        }
    }
}

#[test]
fn a_datagram_sent_in_parts_arrives_whole_in_and_out_of_batches() {
    let mut reactor = util::reactor();
    let peer = client("127.0.0.1:0");
    let id = reactor.listen_udp("127.0.0.1:0", Parts { greet: peer.local_addr().unwrap() }).unwrap();
    let to = reactor.udp_addr(id).unwrap();
    let sent = ["a", "fill", "big", "", "close", "never"];
    // Queued before the reactor reads: one batch.
    for d in sent {
        peer.send_to(d.as_bytes(), to).unwrap();
    }
    let c = util::client(&reactor, move || {
        let got: Vec<Vec<u8>> = (0..6).map(|_| recv(&peer).expect("a datagram").0).collect();
        peer.set_read_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
        (got, recv(&peer).ok().map(|(d, _)| d))
    });
    util::run(&mut reactor);
    let (got, more) = c.join();
    let want: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),
        b"<a>".to_vec(),
        vec![b'f'; 10_000],
        vec![b'x'; 63_000],
        b"<>".to_vec(),
        b"<close>".to_vec(),
    ];
    assert!(got == want, "{:?}", got.iter().map(|d| d.len()).collect::<Vec<_>>());
    assert_eq!(more, None, "nothing after the close");
}

/// Greets `peer` with `up` once started (each a new endpoint opened from
/// inside another's receive batch).
struct Greeter {
    peer: SocketAddr,
}

impl DatagramProtocol for Greeter {
    fn started(&mut self, cx: &mut DatagramContext<'_>) {
        assert!(cx.send_to(b"up", self.peer));
    }
    fn datagram_received(&mut self, _cx: &mut DatagramContext<'_>, _data: &[u8], _from: SocketAddr) {}
}

/// Answers `re:X`; `spawn` opens [`SPAWNED`] endpoints (the endpoint
/// table grows while this protocol is out of its endpoint), `relay` has
/// the first of them answer too (a send from another endpoint while this
/// one's batch is in progress), `timer` sets a timer that answers `tick`,
/// `stop` stops the reactor after answering.
struct Spawner {
    spawned: Vec<reel::UdpId>,
    peer: Option<SocketAddr>,
}

const SPAWNED: usize = 40;

impl DatagramProtocol for Spawner {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        self.peer = Some(from);
        match data {
            b"spawn" => {
                for _ in 0..SPAWNED {
                    self.spawned.push(cx.listen_udp("127.0.0.1:0", Greeter { peer: from }).expect("bind"));
                }
            }
            b"relay" => assert!(cx.send_from(self.spawned[0], b"relayed", from)),
            b"timer" => {
                cx.set_timer(std::time::Duration::ZERO);
            }
            b"stop" => cx.stop(),
            _ => {}
        }
        assert!(cx.send_to(&[b"re:".as_slice(), data].concat(), from));
    }
    fn timer_fired(&mut self, cx: &mut DatagramContext<'_>, _timer: reel::TimerId) {
        let peer = self.peer.expect("a peer before the timer");
        assert!(cx.send_to(b"tick", peer));
    }
}

#[test]
fn endpoints_opened_timers_set_and_sends_from_others_in_the_middle_of_a_batch() {
    let mut reactor = util::reactor();
    let id = reactor.listen_udp("127.0.0.1:0", Spawner { spawned: Vec::new(), peer: None }).unwrap();
    let to = reactor.udp_addr(id).unwrap();
    let peer = client("127.0.0.1:0");
    // All queued before the reactor reads: one batch.
    for d in ["a", "spawn", "b", "relay", "timer", "c"] {
        peer.send_to(d.as_bytes(), to).unwrap();
    }
    let c = util::client(&reactor, move || {
        let mut mine = Vec::new();
        let mut others = Vec::new();
        while mine.len() < 7 || others.len() < SPAWNED + 1 {
            let (d, from) = recv(&peer).expect("a datagram");
            if from == to {
                mine.push(String::from_utf8(d).unwrap());
            } else {
                others.push((String::from_utf8(d).unwrap(), from));
            }
        }
        peer.send_to(b"stop", to).unwrap();
        mine.push(String::from_utf8(recv(&peer).expect("re:stop").0).unwrap());
        (mine, others)
    });
    util::run(&mut reactor);
    let (mine, others) = c.join();
    assert_eq!(mine, ["re:a", "re:spawn", "re:b", "re:relay", "re:timer", "re:c", "tick", "re:stop"]);
    let ups: std::collections::HashSet<SocketAddr> =
        others.iter().filter(|(d, _)| d == "up").map(|(_, from)| *from).collect();
    assert_eq!(ups.len(), SPAWNED, "each new endpoint started and greeted once");
    assert_eq!(others.iter().filter(|(d, _)| d == "relayed").count(), 1);
}

#[test]
fn a_dual_stack_endpoint_sends_in_parts_to_ipv4_and_ipv6_peers_in_and_out_of_batches() {
    let mut reactor = util::reactor();
    let v4 = client("127.0.0.1:0");
    let Ok(v6) = UdpSocket::bind("[::1]:0") else { return };
    v6.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
    let opts = UdpOptions { dual_stack: true, ..Default::default() };
    // `started` (outside any batch) greets the IPv4 peer through the
    // joined path, written to its mapped address.
    let Ok(id) = reactor.listen_udp_with("[::]:0", Parts { greet: v4.local_addr().unwrap() }, &opts) else { return };
    let port = reactor.udp_addr(id).unwrap().port();
    let to4: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let to6: SocketAddr = format!("[::1]:{port}").parse().unwrap();
    let c = util::client(&reactor, move || {
        assert_eq!(recv(&v4).expect("the greeting"), (b"hello".to_vec(), to4));
        for round in 0..3 {
            // Both peers' datagrams in flight at once: read in batches.
            for i in 0..10 {
                v4.send_to(format!("4:{round}.{i}").as_bytes(), to4).unwrap();
                v6.send_to(format!("6:{round}.{i}").as_bytes(), to6).unwrap();
            }
            for i in 0..10 {
                assert_eq!(recv(&v4).expect("a reply"), (format!("<4:{round}.{i}>").into_bytes(), to4));
                assert_eq!(recv(&v6).expect("a reply"), (format!("<6:{round}.{i}>").into_bytes(), to6));
            }
        }
        v4.send_to(b"close", to4).unwrap();
        recv(&v4).expect("the last reply").0
    });
    util::run(&mut reactor);
    assert_eq!(c.join(), b"<close>");
}
