//! Batched datagrams at their edges: a dual-stack endpoint's replies to
//! IPv4 peers, an endpoint that closes in the middle of a batch, and one
//! that sends to itself from inside a batch.

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
