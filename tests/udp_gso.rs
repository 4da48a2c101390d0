//! Replies batched in an endpoint's outbox leave grouped (UDP GSO: runs of
//! equal-size datagrams to one peer as one send with `UDP_SEGMENT`), and
//! still arrive as separate datagrams, with their contents, in order, from
//! the endpoint's address; a group the kernel refuses is sent again one
//! datagram at a time, so that each datagram's error is its own. A burst
//! between two endpoints (coalesced into one receive with UDP GRO) still
//! arrives one datagram at a time, and a connected endpoint groups too.

mod util;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::rc::Rc;

use reel::{DatagramContext, DatagramProtocol, UdpOptions};
use util::Log;

/// Answers a request with a burst of datagrams, all sent from its
/// `datagram_received` (so all through the outbox):
/// - `sizes A,B,...`: datagrams of those sizes, in order, to the sender;
/// - `parts N SIZE`: `N` datagrams of `SIZE` bytes to the sender, each
///   sent in two parts;
/// - `to ADDR N SIZE`: `N` datagrams of `SIZE` bytes to `ADDR`, then
///   `done` to the sender.
///
/// Datagram `i` of a burst is its number (`i:`) followed by letters up to
/// its size (cut short when the size is smaller than the number).
struct Burst {
    errors: Log<Option<i32>>,
}

fn datagram(i: usize, size: usize) -> Vec<u8> {
    let mut d = format!("{i}:").into_bytes();
    d.extend((0..size).map(|k| b'a' + ((i + k) % 26) as u8));
    d.truncate(size);
    d
}

impl DatagramProtocol for Burst {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        let text = std::str::from_utf8(data).expect("a text request");
        let words: Vec<&str> = text.split(' ').collect();
        match words.as_slice() {
            ["sizes", sizes] => {
                for (i, size) in sizes.split(',').enumerate() {
                    cx.send_to(&datagram(i, size.parse().expect("a size")), from);
                }
            }
            ["parts", n, size] => {
                // Each datagram in two parts (`send_parts_to`), more than
                // an outbox holds: a full outbox is sent and the next
                // reply's parts copied into it.
                let size: usize = size.parse().expect("a size");
                for i in 0..n.parse().expect("a count") {
                    let d = datagram(i, size);
                    let (head, tail) = d.split_at(size / 2);
                    assert!(cx.send_parts_to(&[head, tail], from));
                }
            }
            ["to", to, n, size] => {
                let to: SocketAddr = to.parse().expect("an address");
                let size: usize = size.parse().expect("a size");
                for i in 0..n.parse().expect("a count") {
                    cx.send_to(&datagram(i, size), to);
                }
                cx.send_to(b"done", from);
            }
            _ => panic!("unknown request {text:?}"),
        }
    }

    fn error_received(&mut self, _cx: &mut DatagramContext<'_>, error: &io::Error) {
        self.errors.borrow_mut().push(error.raw_os_error());
    }
}

/// A reactor with a [`Burst`] endpoint on IPv4 loopback: the reactor,
/// the endpoint's errors and its address.
fn burst_server() -> (reel::Reactor, Log<Option<i32>>, SocketAddr) {
    let mut reactor = util::reactor();
    let errors = util::log();
    let id = reactor.listen_udp("127.0.0.1:0", Burst { errors: Rc::clone(&errors) }).expect("bind");
    let addr = reactor.udp_addr(id).expect("address");
    (reactor, errors, addr)
}

fn client(bind: &str) -> UdpSocket {
    let s = UdpSocket::bind(bind).expect("bind client");
    s.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
    s
}

/// Receives one datagram (bounded by the socket's read timeout).
fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 70_000];
    let (n, from) = s.recv_from(&mut buf).unwrap_or_else(|e| panic!("{}: no datagram: {e}", s.local_addr().unwrap()));
    buf.truncate(n);
    (buf, from)
}

/// The sizes of a `sizes` request, written out.
fn request(sizes: &[usize]) -> Vec<u8> {
    let list: Vec<String> = sizes.iter().map(usize::to_string).collect();
    format!("sizes {}", list.join(",")).into_bytes()
}

/// Sends each of `bursts` (sizes) from `bind` to an endpoint bound on
/// `listen` and checks that every datagram comes back separately, in order,
/// whole and from the endpoint's address (the IPv4 one for an IPv4 client
/// of a dual-stack endpoint).
fn bursts_come_back_whole_and_in_order(listen: &str, opts: &UdpOptions, bind: &'static str, bursts: Vec<Vec<usize>>) {
    let mut reactor = util::reactor();
    let errors = util::log();
    let id = reactor.listen_udp_with(listen, Burst { errors: Rc::clone(&errors) }, opts).expect("bind");
    let port = reactor.udp_addr(id).expect("address").port();
    let c = util::client(&reactor, move || {
        let s = client(bind);
        let to: SocketAddr = SocketAddr::new(s.local_addr().unwrap().ip(), port);
        for sizes in &bursts {
            s.send_to(&request(sizes), to).unwrap();
            for (i, &size) in sizes.iter().enumerate() {
                let (got, from) = recv(&s);
                assert_eq!(from, to, "from the endpoint, in the client's family");
                assert_eq!(got, datagram(i, size), "datagram {i} of {sizes:?}");
            }
        }
    });
    util::run(&mut reactor);
    c.join();
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
}

#[test]
fn grouped_replies_arrive_one_by_one_whole_and_in_order() {
    let mut shorter_last = vec![12; 15];
    shorter_last.push(5);
    bursts_come_back_whole_and_in_order(
        "127.0.0.1:0",
        &UdpOptions::default(),
        "127.0.0.1:0",
        vec![
            shorter_last,
            // Runs cut by a longer datagram, by an empty one (never
            // grouped), and a shorter one that ends its run.
            vec![6, 6, 6, 7, 7, 3, 3, 0, 4, 4, 9, 2, 9, 9],
            // One of each size: nothing to group.
            (1..=16).collect(),
        ],
    );
}

#[test]
fn more_than_64_equal_replies_to_one_peer_all_arrive_in_order() {
    // 200 equal datagrams from one callback, 16 per outbox flush, each
    // flush one grouped send; and 70 of 1,000 bytes (the outbox's 64 KiB
    // cut in its own places).
    bursts_come_back_whole_and_in_order(
        "127.0.0.1:0",
        &UdpOptions::default(),
        "127.0.0.1:0",
        vec![vec![20; 200], vec![1_000; 70]],
    );
}

#[test]
fn grouped_replies_go_over_ipv6_and_from_a_dual_stack_endpoint_to_ipv4() {
    if !util::ipv6_available() {
        return;
    }
    let bursts = vec![vec![12; 40], vec![8, 8, 8, 3, 8, 8]];
    bursts_come_back_whole_and_in_order("[::1]:0", &UdpOptions::default(), "[::1]:0", bursts.clone());
    let dual = UdpOptions { dual_stack: true, ..Default::default() };
    bursts_come_back_whole_and_in_order("[::]:0", &dual, "127.0.0.1:0", bursts.clone());
    bursts_come_back_whole_and_in_order("[::]:0", &dual, "[::1]:0", bursts);
}

#[test]
fn a_refused_group_reports_an_error_for_each_datagram_and_the_rest_go_out() {
    let (mut reactor, errors, addr) = burst_server();
    let c = util::client(&reactor, move || {
        let s = client("127.0.0.1:0");
        // 5 equal datagrams to port 0 (EINVAL for each), 3 to an IPv6
        // address from an IPv4 socket (EAFNOSUPPORT for each), then 20 to
        // the client itself: grouping goes on after refused groups.
        let me = s.local_addr().unwrap();
        for request in ["to 127.0.0.1:0 5 10", "to [::1]:9 3 10", &format!("to {me} 20 10")] {
            s.send_to(request.as_bytes(), addr).unwrap();
        }
        assert_eq!(recv(&s), (b"done".to_vec(), addr));
        assert_eq!(recv(&s), (b"done".to_vec(), addr));
        for i in 0..20 {
            assert_eq!(recv(&s), (datagram(i, 10), addr));
        }
        assert_eq!(recv(&s), (b"done".to_vec(), addr));
    });
    util::run(&mut reactor);
    c.join();
    let (inval, afnosupport) = (Some(22), Some(97));
    assert_eq!(*errors.borrow(), [inval, inval, inval, inval, inval, afnosupport, afnosupport, afnosupport]);
    let stats = reactor.stats();
    assert_eq!(stats.datagrams_out, 23, "datagrams, not sends: 3 `done` and 20 to the client");
}

/// Keeps the datagrams it receives; once it has `expected`, tells
/// `report` how many it got. A connected one answers `go N` from its peer
/// with `N` datagrams of 12 bytes (all sent from that callback).
struct Recorder {
    got: Log<(Vec<u8>, SocketAddr)>,
    expected: usize,
    report: SocketAddr,
}

impl DatagramProtocol for Recorder {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        if let Some(n) = data.strip_prefix(b"go ") {
            let n: usize = std::str::from_utf8(n).unwrap().parse().unwrap();
            for i in 0..n {
                cx.send(&datagram(i, 12)).unwrap();
            }
            return;
        }
        self.got.borrow_mut().push((data.to_vec(), from));
        if self.got.borrow().len() == self.expected {
            cx.send_to(format!("got {}", self.expected).as_bytes(), self.report);
        }
    }
}

/// An endpoint sends a burst of 40 equal datagrams to another endpoint of
/// the same reactor (grouped sends, which a socket with UDP GRO on
/// receives as one buffer each: shown in src/udp_batch/tests/gro.rs):
/// each arrives as its own `datagram_received`, whole, in order, from the
/// sender, with coalesced receives on (`gro`) or off.
fn a_burst_between_endpoints_arrives_one_by_one(gro: bool) {
    let mut reactor = util::reactor_with(reel::ReactorConfig { udp_gro: gro, ..util::config() });
    let errors = util::log();
    let sender = reactor.listen_udp("127.0.0.1:0", Burst { errors: Rc::clone(&errors) }).expect("bind");
    let sender_addr = reactor.udp_addr(sender).expect("address");
    let s = client("127.0.0.1:0");
    let got = util::log();
    let report = s.local_addr().unwrap();
    let recorder = Recorder { got: Rc::clone(&got), expected: 40, report };
    let id = reactor.listen_udp("127.0.0.1:0", recorder).expect("bind");
    let to = reactor.udp_addr(id).expect("address");
    let c = util::client(&reactor, move || {
        s.send_to(format!("to {to} 40 12").as_bytes(), sender_addr).unwrap();
        let mut replies = vec![recv(&s), recv(&s)];
        replies.sort();
        assert_eq!(replies, [(b"done".to_vec(), sender_addr), (b"got 40".to_vec(), to)]);
    });
    util::run(&mut reactor);
    c.join();
    let want: Vec<_> = (0..40).map(|i| (datagram(i, 12), sender_addr)).collect();
    assert_eq!(*got.borrow(), want);
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
    assert_eq!(reactor.stats().datagrams_in, 41, "datagrams, not receives: the request and the 40");
}

#[test]
fn a_burst_between_endpoints_arrives_one_by_one_with_coalesced_receives() {
    a_burst_between_endpoints_arrives_one_by_one(true);
}

#[test]
fn a_burst_between_endpoints_arrives_one_by_one_without_coalesced_receives() {
    a_burst_between_endpoints_arrives_one_by_one(false);
}

#[test]
fn a_connected_endpoints_batch_of_replies_arrives_whole_and_in_order() {
    // The replies of a connected endpoint go through its outbox too (no
    // address, one call per group: the unit tests in
    // src/udp_batch/tests/gro.rs show the grouping and the refusals); 100
    // equal datagrams from one callback, to a plain socket.
    let mut reactor = util::reactor();
    let s = client("127.0.0.1:0");
    let peer = s.local_addr().unwrap();
    let recorder = Recorder { got: util::log(), expected: usize::MAX, report: peer };
    let id = reactor.connect_udp("127.0.0.1:0", peer, recorder).expect("connect");
    let addr = reactor.udp_addr(id).expect("address");
    let c = util::client(&reactor, move || {
        s.send_to(b"go 100", addr).unwrap();
        for i in 0..100 {
            assert_eq!(recv(&s), (datagram(i, 12), addr), "datagram {i}");
        }
    });
    util::run(&mut reactor);
    c.join();
    assert_eq!(reactor.stats().datagrams_out, 100);
}

#[test]
fn replies_sent_in_parts_past_a_full_outbox_arrive_whole_and_in_order() {
    let (mut reactor, errors, addr) = burst_server();
    let c = util::client(&reactor, move || {
        let s = client("127.0.0.1:0");
        // 50 of 12 bytes (groups), then 20 of 5,000 (the outbox's bytes
        // fill before its datagrams do).
        for (n, size) in [(50, 12), (20, 5_000)] {
            s.send_to(format!("parts {n} {size}").as_bytes(), addr).unwrap();
            for i in 0..n {
                assert_eq!(recv(&s), (datagram(i, size), addr), "datagram {i} of {n} x {size}");
            }
        }
    });
    util::run(&mut reactor);
    c.join();
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
    assert_eq!(reactor.stats().datagrams_out, 70);
}
