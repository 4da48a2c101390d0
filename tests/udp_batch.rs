//! UDP endpoints receive and send in batches (`recvmmsg`, `sendmmsg`):
//! every datagram still gets its own callback and every reply goes to its
//! own peer, a send error is reported for its datagram while the rest go
//! out, and no datagram is left in the socket when a batch comes back
//! short (the read that would only say `WouldBlock` is skipped).

mod util;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reel::{DatagramContext, DatagramProtocol, UdpId};
use util::Log;

/// Answers every datagram `X` with `re:X` to its sender. A datagram
/// `to:ADDR` also sends `hello` to `ADDR`, and `big` also sends its sender
/// one datagram larger than IPv4 carries: both fail, for that datagram.
struct Replier {
    errors: Log<Option<i32>>,
}

impl DatagramProtocol for Replier {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        if let Some(to) = data.strip_prefix(b"to:") {
            let to: SocketAddr = std::str::from_utf8(to).unwrap().parse().unwrap();
            cx.send_to(b"hello", to);
        }
        if data == b"big" {
            cx.send_to(&vec![0u8; 65_508], from);
        }
        let mut reply = b"re:".to_vec();
        reply.extend_from_slice(data);
        cx.send_to(&reply, from);
    }
    fn error_received(&mut self, _cx: &mut DatagramContext<'_>, error: &io::Error) {
        self.errors.borrow_mut().push(error.raw_os_error());
    }
}

/// Receives on its endpoint and answers `re:X` from another one
/// ([`ReactorContext::send_from`](reel::ReactorContext::send_from)): its
/// own socket never sends, so no write-space event (which epoll reports
/// with the socket's readability) can stand in for a missed arrival.
struct Forwarder {
    answer_from: Rc<std::cell::Cell<Option<UdpId>>>,
}

impl DatagramProtocol for Forwarder {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        let mut reply = b"re:".to_vec();
        reply.extend_from_slice(data);
        let via = self.answer_from.get().expect("the answering endpoint");
        assert!(cx.send_from(via, &reply, from));
    }
}

/// Receives nothing; its endpoint only sends for a [`Forwarder`].
struct Silent;

impl DatagramProtocol for Silent {
    fn datagram_received(&mut self, _cx: &mut DatagramContext<'_>, _data: &[u8], _from: SocketAddr) {}
}

/// A [`Forwarder`] on one endpoint answering from another: the address
/// to send to and the one replies come from.
fn forwarder(reactor: &mut reel::Reactor) -> (SocketAddr, SocketAddr) {
    let answer_from = Rc::new(std::cell::Cell::new(None));
    let id = reactor.listen_udp("127.0.0.1:0", Forwarder { answer_from: Rc::clone(&answer_from) }).expect("bind");
    let via = reactor.listen_udp("127.0.0.1:0", Silent).expect("bind");
    answer_from.set(Some(via));
    (reactor.udp_addr(id).expect("address"), reactor.udp_addr(via).expect("address"))
}

fn client(bind: &str) -> UdpSocket {
    let s = UdpSocket::bind(bind).expect("bind client");
    s.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
    s
}

/// Receives one datagram (bounded by the socket's read timeout).
fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 70_000];
    let (n, from) = s.recv_from(&mut buf).unwrap_or_else(|e| panic!("{}: no reply: {e}", s.local_addr().unwrap()));
    buf.truncate(n);
    (buf, from)
}

fn replier(reactor: &mut reel::Reactor) -> (SocketAddr, Log<Option<i32>>) {
    let errors = util::log();
    let id = reactor.listen_udp("127.0.0.1:0", Replier { errors: Rc::clone(&errors) }).expect("bind");
    (reactor.udp_addr(id).expect("endpoint address"), errors)
}

#[test]
fn many_datagrams_in_flight_from_several_peers_each_get_exactly_their_reply() {
    let mut reactor = util::reactor();
    let (addr, errors) = replier(&mut reactor);
    let c = util::client(&reactor, move || {
        let peers: Vec<_> = (0..6)
            .map(|p| {
                std::thread::spawn(move || {
                    let s = client("127.0.0.1:0");
                    for round in 0..10 {
                        // 24 in flight from each peer, 144 in all: several
                        // batches, each mixing peers.
                        let sent: Vec<Vec<u8>> =
                            (0..24).map(|i| format!("peer {p} round {round} #{i}").into_bytes()).collect();
                        for d in &sent {
                            s.send_to(d, addr).unwrap();
                        }
                        for d in &sent {
                            let (got, from) = recv(&s);
                            assert_eq!(from, addr);
                            assert_eq!(got, [b"re:".as_slice(), d].concat(), "peer {p}: replies in order, its own");
                        }
                    }
                })
            })
            .collect();
        for p in peers {
            p.join().expect("a peer failed");
        }
    });
    util::run(&mut reactor);
    c.join();
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
}

#[test]
fn replies_to_several_peers_in_one_batch_go_to_the_right_peers() {
    let mut reactor = util::reactor();
    let (addr, errors) = replier(&mut reactor);
    // Every datagram waits in the socket before the reactor runs: the
    // first receive takes them all, and their replies (to five peers, and
    // `hello`s to a sixth) leave in one flush.
    let peers: Vec<UdpSocket> = (0..5).map(|_| client("127.0.0.1:0")).collect();
    let bystander = client("127.0.0.1:0");
    for (k, p) in peers.iter().enumerate() {
        p.send_to(format!("peer {k}").as_bytes(), addr).unwrap();
        p.send_to(format!("to:{}", bystander.local_addr().unwrap()).as_bytes(), addr).unwrap();
    }
    let c = util::client(&reactor, move || {
        for (k, p) in peers.iter().enumerate() {
            assert_eq!(recv(p), (format!("re:peer {k}").into_bytes(), addr));
            assert_eq!(recv(p), (format!("re:to:{}", bystander.local_addr().unwrap()).into_bytes(), addr));
        }
        for _ in 0..5 {
            assert_eq!(recv(&bystander), (b"hello".to_vec(), addr));
        }
    });
    util::run(&mut reactor);
    c.join();
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
}

#[test]
fn a_send_error_in_a_batch_is_reported_for_its_datagram_and_the_rest_go_out() {
    let mut reactor = util::reactor();
    let (addr, errors) = replier(&mut reactor);
    let s = client("127.0.0.1:0");
    // One batch: `to:…:0` fails (port 0: EINVAL), `big` fails (65,508
    // bytes: EMSGSIZE), each in the middle of the batch's replies.
    let sent: [&[u8]; 6] = [b"a", b"to:127.0.0.1:0", b"b", b"big", b"c", b"d"];
    for d in sent {
        s.send_to(d, addr).unwrap();
    }
    let c = util::client(&reactor, move || {
        for d in sent {
            assert_eq!(recv(&s), ([b"re:".as_slice(), d].concat(), addr));
        }
    });
    util::run(&mut reactor);
    c.join();
    // Linux: EINVAL 22, EMSGSIZE 90; one each, in the order sent.
    assert_eq!(*errors.borrow(), [Some(22), Some(90)]);
}

#[test]
fn bursts_of_every_size_are_all_answered() {
    // A batch shorter than asked ends the reading until the next event:
    // bursts of every size around the batch's (16) show that no datagram
    // is left waiting for one that never comes. Each burst is in the
    // socket before the reactor turns, and the replies leave from another
    // endpoint (see `Forwarder`).
    let mut reactor = util::reactor();
    let (addr, replies_from) = forwarder(&mut reactor);
    let (sent_tx, sent_rx) = std::sync::mpsc::channel::<usize>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<usize>();
    let c = util::client(&reactor, move || {
        let s = client("127.0.0.1:0");
        for n in 1..=40 {
            for i in 0..n {
                s.send_to(format!("{n}/{i}").as_bytes(), addr).unwrap();
            }
            sent_tx.send(n).unwrap();
            for i in 0..n {
                assert_eq!(recv(&s), (format!("re:{n}/{i}").into_bytes(), replies_from), "burst of {n}");
            }
            done_tx.send(n).unwrap();
        }
    });
    for n in 1..=40 {
        assert_eq!(sent_rx.recv_timeout(util::IO_TIMEOUT), Ok(n), "the client stopped");
        let deadline = Instant::now() + util::IO_TIMEOUT * 2;
        while done_rx.try_recv().is_err() {
            assert!(Instant::now() < deadline, "burst of {n}: the replies never all came");
            reactor.turn(Some(Duration::from_millis(20))).expect("turn");
        }
    }
    c.join();
}

#[test]
fn a_sender_racing_the_server_gets_every_reply() {
    // The sender never waits for a reply (only keeps at most 48 in flight,
    // so that no socket buffer overflows): datagrams arrive while the
    // server reads, between its batches and after a short one.
    const TOTAL: usize = 5_000;
    let mut reactor = util::reactor();
    let (addr, replies_from) = forwarder(&mut reactor);
    let c = util::client(&reactor, move || {
        let s = Arc::new(client("127.0.0.1:0"));
        let replies = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicBool::new(false));
        let sender = {
            let (s, replies, failed) = (Arc::clone(&s), Arc::clone(&replies), Arc::clone(&failed));
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(20);
                for i in 0..TOTAL {
                    while i >= replies.load(Ordering::Acquire) + 48 {
                        if failed.load(Ordering::Acquire) || Instant::now() > deadline {
                            return;
                        }
                        std::thread::yield_now();
                    }
                    s.send_to(&(i as u32).to_be_bytes(), addr).unwrap();
                }
            })
        };
        for i in 0..TOTAL {
            let mut buf = [0u8; 16];
            match s.recv_from(&mut buf) {
                Ok((7, from)) => {
                    assert_eq!(from, replies_from);
                    assert_eq!(buf[3..7], (i as u32).to_be_bytes(), "replies in order");
                }
                Ok((n, _)) => panic!("reply {i}: {n} bytes"),
                Err(e) => {
                    failed.store(true, Ordering::Release);
                    panic!("reply {i} of {TOTAL} never came: {e}");
                }
            }
            replies.store(i + 1, Ordering::Release);
        }
        sender.join().unwrap();
    });
    util::run(&mut reactor);
    c.join();
}
