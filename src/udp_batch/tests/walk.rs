//! The walk through a receive's datagrams against `Batch::len`, the
//! dispatch of a coalesced receive through panics, settle phases and a
//! close (each datagram once, in order, on the fast path and the timed
//! one), and replies past a full outbox (order, errors, a blocked
//! flush). Written by a reviewer of the cursor; the first found a walk
//! that yielded a datagram `len` did not count.

use super::*;
use std::cell::RefCell;
use std::rc::Rc;

/// Headers as a receive would leave them; `len()` against a full walk.
fn walk(messages: &[(u32, usize, i32)]) -> (usize, Vec<(usize, u16)>) {
    let mut batch = Batch::new();
    batch.count = messages.len();
    batch.sizes = [0; BATCH];
    for (i, &(len, size, flags)) in messages.iter().enumerate() {
        batch.headers[i].msg_len = len;
        batch.headers[i].msg_hdr.msg_flags = flags;
        batch.sizes[i] = size;
        batch.senders[i] = Some(SocketAddr::from(([127, 0, 0, 1], 1000 + i as u16)));
    }
    batch.coalesced = true;
    batch.count_coalesced();
    let mut cursor = Cursor::default();
    let mut got = Vec::new();
    while let Some((d, f)) = batch.next_datagram(&mut cursor) {
        got.push((d.len(), f.unwrap().port()));
        assert!(got.len() < 10_000);
    }
    (batch.len(), got)
}

#[test]
fn len_agrees_with_the_walk_for_every_kind_of_message() {
    let t = libc::MSG_TRUNC;
    let cases: &[&[(u32, usize, i32)]] = &[
        &[(100, 0, 0)],
        &[(0, 0, 0)],
        &[(100, 30, 0)],
        &[(90, 30, 0)],
        &[(0, 30, 0)],
        &[(100, 30, t)],
        &[(90, 30, t)],
        &[(20, 30, t)],
        &[(40, UNKNOWN_SIZE, 0)],
        &[(0, 30, t)],
        &[(5, 0, 0), (0, 30, t), (60, 20, 0)],
    ];
    let mut bad = Vec::new();
    for case in cases {
        let (len, got) = walk(case);
        if len != got.len() {
            bad.push(format!("{case:?}: len() {len}, walked {} {got:?}", got.len()));
        }
    }
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

/// Records each datagram's first byte; panics, settles or closes at the
/// tags it is told.
struct Rec {
    got: Rc<RefCell<Vec<u8>>>,
    panic_at: Vec<u8>,
    settle_at: Vec<u8>,
    close_at: Option<u8>,
    spare: Rc<RefCell<Vec<crate::UdpId>>>,
}

impl crate::DatagramProtocol for Rec {
    fn datagram_received(&mut self, cx: &mut crate::DatagramContext<'_>, data: &[u8], _from: SocketAddr) {
        let tag = data[0];
        self.got.borrow_mut().push(tag);
        if self.settle_at.contains(&tag) {
            // Closing another endpoint leaves something to settle.
            let other = self.spare.borrow_mut().pop().expect("a spare endpoint");
            assert!(cx.close_udp(other));
        }
        if self.close_at == Some(tag) {
            cx.close();
        }
        if self.panic_at.contains(&tag) {
            panic!("planned panic at {tag}");
        }
    }
}

/// Two groups from `a` (16 x 100 with a 40-byte last; 8 x 50 exact),
/// one single from `b` between them; tags 0..25 in send order.
fn run(slow: Option<Duration>, panic_at: Vec<u8>, settle_at: Vec<u8>, close_at: Option<u8>) -> Vec<u8> {
    let config = crate::ReactorConfig { slow_callback: slow, ..Default::default() };
    let mut reactor = crate::Reactor::with_config(config).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let spare = Rc::new(RefCell::new(Vec::new()));
    for _ in 0..8 {
        struct Quiet;
        impl crate::DatagramProtocol for Quiet {
            fn datagram_received(&mut self, _: &mut crate::DatagramContext<'_>, _: &[u8], _: SocketAddr) {}
        }
        spare.borrow_mut().push(reactor.listen_udp("127.0.0.1:0", Quiet).unwrap());
    }
    let rec = Rec { got: Rc::clone(&got), panic_at, settle_at, close_at, spare: Rc::clone(&spare) };
    let id = reactor.listen_udp("127.0.0.1:0", rec).unwrap();
    reactor.turn(Some(Duration::ZERO)).unwrap();
    let to = reactor.udp_addr(id).unwrap();
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut out = Outbox::new();
    let d = |tag: u8, n: usize| -> (Vec<u8>, SocketAddr) {
        let mut v = vec![tag; n];
        v[0] = tag;
        (v, to)
    };
    let g1: Vec<_> = (0..16u8).map(|t| d(t, if t == 15 { 40 } else { 100 })).collect();
    assert_eq!(push_and_flush(&mut out, a.as_raw_fd(), &g1).0.sent, 16);
    b.send_to(&[16u8; 7], to).unwrap();
    let g2: Vec<_> = (17..25u8).map(|t| d(t, 50)).collect();
    assert_eq!(push_and_flush(&mut out, a.as_raw_fd(), &g2).0.sent, 8);
    let mut scratch = vec![0u8; MAX_DATAGRAM];
    reactor.core.read_udp(id, &mut scratch);
    if close_at.is_none() {
        let batch = reactor.core.udp_batch.as_ref().unwrap();
        assert_eq!((batch.count, batch.len()), (3, 25), "two groups and a single, one receive");
    }
    reactor.core.settle();
    let r = got.borrow().clone();
    r
}

#[test]
fn panics_settles_and_slow_path_deliver_each_datagram_once_in_order() {
    let all: Vec<u8> = (0..25).collect();
    for slow in [None, Some(Duration::from_secs(60))] {
        assert_eq!(run(slow, vec![], vec![], None), all, "plain {slow:?}");
        assert_eq!(run(slow, vec![0, 5, 14, 15, 16, 24], vec![], None), all, "panics {slow:?}");
        assert_eq!(run(slow, vec![3, 15], vec![2, 3, 15, 16, 20, 24], None), all, "settles {slow:?}");
        assert_eq!(run(slow, vec![], vec![4], Some(7)), (0..8).collect::<Vec<u8>>(), "close {slow:?}");
        assert_eq!(run(slow, vec![7], vec![], Some(7)), (0..8).collect::<Vec<u8>>(), "close+panic {slow:?}");
    }
}

#[derive(Clone, Copy, Debug)]
enum To {
    Peer(usize),
    Broadcast(usize),
}

/// Replies to every datagram with `plan`, each reply tagged with its
/// index and sent in two parts (`parts`) or whole.
struct Replier {
    plan: Vec<To>,
    parts: bool,
    errors: Rc<RefCell<Vec<Option<i32>>>>,
}

impl crate::DatagramProtocol for Replier {
    fn datagram_received(&mut self, cx: &mut crate::DatagramContext<'_>, _data: &[u8], from: SocketAddr) {
        for (i, to) in self.plan.clone().into_iter().enumerate() {
            let (n, addr) = match to {
                To::Peer(n) => (n, from),
                To::Broadcast(n) => (n, SocketAddr::from(([255, 255, 255, 255], 9))),
            };
            let mut d = vec![0xAA; n];
            d[0] = i as u8;
            let ok = if self.parts {
                let (h, t) = d.split_at(1);
                cx.send_parts_to(&[h, t], addr)
            } else {
                cx.send_to(&d, addr)
            };
            assert!(ok);
        }
    }
    fn error_received(&mut self, _cx: &mut crate::DatagramContext<'_>, error: &io::Error) {
        self.errors.borrow_mut().push(error.raw_os_error());
    }
}

/// Replies (tag, length) the client got, the errors the endpoint heard,
/// and `datagrams_out`.
fn replies(plan: Vec<To>, parts: bool, connected: bool) -> (Vec<(u8, usize)>, Vec<Option<i32>>, u64) {
    let mut reactor = crate::Reactor::new().unwrap();
    let errors = Rc::new(RefCell::new(Vec::new()));
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rep = Replier { plan, parts, errors: Rc::clone(&errors) };
    let id = if connected {
        reactor.connect_udp("127.0.0.1:0", client.local_addr().unwrap(), rep).unwrap()
    } else {
        reactor.listen_udp("127.0.0.1:0", rep).unwrap()
    };
    reactor.turn(Some(Duration::ZERO)).unwrap();
    client.send_to(b"go", reactor.udp_addr(id).unwrap()).unwrap();
    let mut scratch = vec![0u8; MAX_DATAGRAM];
    reactor.core.read_udp(id, &mut scratch);
    for _ in 0..4 {
        reactor.turn(Some(Duration::ZERO)).unwrap();
    }
    client.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while let Ok(n) = client.recv(&mut buf) {
        got.push((buf[0], n));
    }
    let e = errors.borrow().clone();
    (got, e, reactor.stats().datagrams_out)
}

#[test]
fn parts_past_a_full_outbox_keep_order_and_errors() {
    use To::*;
    // 40 replies of 12 bytes, every 5th to a broadcast address (EACCES).
    let plan: Vec<To> = (0..40).map(|i| if i % 5 == 4 { Broadcast(12) } else { Peer(12) }).collect();
    let want: Vec<(u8, usize)> = (0..40u8).filter(|i| i % 5 != 4).map(|i| (i, 12)).collect();
    for parts in [false, true] {
        for connected in [false, true] {
            let (got, errors, out) = replies(plan.clone(), parts, connected);
            if connected {
                // A connected socket sends to its peer whatever `to` says.
                assert_eq!(got.len(), 40, "parts {parts} connected");
                assert_eq!(got, (0..40u8).map(|i| (i, 12)).collect::<Vec<_>>());
                assert_eq!((errors.len(), out), (0, 40));
            } else {
                assert_eq!(got, want, "parts {parts}");
                assert_eq!(errors, vec![Some(libc::EACCES); 8], "parts {parts}");
                assert_eq!(out, 32);
            }
        }
    }
    // By bytes: a reply that needs an emptied outbox, and one no outbox
    // holds (EMSGSIZE), between small ones.
    let plan = vec![Peer(1000), Peer(65_000), Peer(1000), Peer(65_000), Peer(70_000), Peer(7), Peer(65_000)];
    for parts in [false, true] {
        let (got, errors, out) = replies(plan.clone(), parts, false);
        assert_eq!(got, vec![(0, 1000), (1, 65_000), (2, 1000), (3, 65_000), (5, 7), (6, 65_000)], "parts {parts}");
        assert_eq!(errors, vec![Some(libc::EMSGSIZE)], "parts {parts}");
        assert_eq!(out, 6);
    }
}

/// A flush that blocks inside `flush_outbox_then_push`: the endpoint's
/// socket swapped for one end of a Unix pair (a UDP sender on loopback
/// never blocks) whose peer's queue is nearly full.
#[test]
fn a_blocked_flush_keeps_the_reply_behind_the_outbox_rest() {
    use std::os::fd::{FromRawFd, IntoRawFd};
    struct Quiet;
    impl crate::DatagramProtocol for Quiet {
        fn datagram_received(&mut self, _: &mut crate::DatagramContext<'_>, _: &[u8], _: SocketAddr) {}
    }
    let mut reactor = crate::Reactor::new().unwrap();
    let id = reactor.listen_udp("127.0.0.1:0", Quiet).unwrap();
    reactor.turn(Some(Duration::ZERO)).unwrap();
    let (sender, receiver) = std::os::unix::net::UnixDatagram::pair().unwrap();
    sender.set_nonblocking(true).unwrap();
    receiver.set_nonblocking(true).unwrap();
    // Fill the receiver's queue, then make room for three.
    let mut filler = 0usize;
    while sender.send(&[0xFFu8; 64]).is_ok() {
        filler += 1;
    }
    let mut buf = [0u8; 256];
    for _ in 0..3 {
        receiver.recv(&mut buf).unwrap();
    }
    filler -= 3;
    let to = SocketAddr::from(([127, 0, 0, 1], 9));
    {
        let u = reactor.core.udp_mut(id).unwrap();
        // SAFETY: the descriptor is a valid socket whose ownership
        // `into_raw_fd` gave up: the new socket owns it alone, and only
        // sends are made on it.
        u.socket = crate::udp::DgramSocket::Udp(unsafe { mio::net::UdpSocket::from_raw_fd(sender.into_raw_fd()) });
        u.begin_batch();
        u.outbox.as_mut().unwrap().unaddressed = true;
        assert!(!u.in_dirty);
    }
    {
        let mut cx = crate::DatagramContext::new(&mut reactor.core, id);
        for tag in 0..=OUTBOX_DATAGRAMS as u8 {
            let d = [tag; 64];
            assert!(cx.send_parts_to(&[&d[..1], &d[1..]], to));
        }
    }
    let u = reactor.core.udp(id).unwrap();
    let queued: Vec<u8> = u.queue.iter().map(|(d, _)| d[0]).collect();
    let outbox_left = !u.outbox.as_ref().unwrap().is_empty();
    let sent = u.sent;
    let dirty = u.in_dirty;
    // Sent ones arrive in order, after the filler.
    let mut arrived = Vec::new();
    while let Ok(n) = receiver.recv(&mut buf) {
        if buf[0] != 0xFF {
            arrived.push(buf[0]);
            assert_eq!(n, 64);
        } else {
            filler -= 1;
        }
    }
    assert_eq!(filler, 0);
    eprintln!("sent {sent}, arrived {arrived:?}, queued {queued:?}, outbox left {outbox_left}, dirty {dirty}");
    let mut all = arrived.clone();
    all.extend(&queued);
    assert_eq!(all, (0..=OUTBOX_DATAGRAMS as u8).collect::<Vec<_>>(), "each once, in order");
    assert_eq!(sent as usize, arrived.len());
    assert!(!queued.is_empty() && !outbox_left && dirty, "the rest queued and the endpoint marked");
}
