//! Unit tests of Unix datagram endpoints (`super`).

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{UnixAddr, UnixDatagramContext, UnixDatagramProtocol};
use crate::Reactor;

struct Quiet;

impl UnixDatagramProtocol for Quiet {
    fn datagram_received(&mut self, _cx: &mut UnixDatagramContext<'_>, _data: &[u8], _from: &UnixAddr) {}
}

fn temp_path(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("reel-udg-unit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Takes what the peer has received so far.
fn drain(peer: &UnixDatagram, got: &mut Vec<u32>) {
    let mut buf = [0u8; 16];
    loop {
        match peer.recv(&mut buf) {
            Ok(n) => got.push(u32::from_be_bytes(buf[..n].try_into().expect("four bytes"))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => panic!("peer recv: {e}"),
        }
    }
}

#[test]
fn the_socket_is_polled_for_writable_events_only_while_datagrams_wait_in_its_queue() {
    let peer_path = temp_path("peer.sock");
    let peer = UnixDatagram::bind(&peer_path).unwrap();
    peer.set_nonblocking(true).unwrap();
    let mut reactor = Reactor::new().unwrap();
    let id = reactor.context().bind_unix_datagram(temp_path("local.sock"), Quiet).unwrap();
    reactor.turn(Some(Duration::ZERO)).unwrap();
    assert!(!reactor.core.unix_dgram(id).unwrap().write_interest, "readable events alone to begin with");
    // A peer that does not read: its receive queue fills (at
    // net.unix.max_dgram_qlen datagrams, or the sender's buffer), and
    // the endpoint's sends join its send queue from there on.
    let to = UnixAddr::Path(peer_path.clone());
    let mut sent = 0u32;
    while reactor.core.unix_dgram(id).unwrap().queue.is_empty() {
        assert!(sent < 100_000, "the peer's receive queue never filled");
        assert!(reactor.core.unix_dgram_send(id, &sent.to_be_bytes(), Some(to.clone())));
        sent += 1;
    }
    let u = reactor.core.unix_dgram(id).unwrap();
    assert!(u.interest_stale() && u.in_dirty, "a first queued datagram asks for writable events");
    for _ in 0..3 {
        assert!(reactor.core.unix_dgram_send(id, &sent.to_be_bytes(), Some(to.clone())));
        sent += 1;
    }
    // The settle phase adds the interest; once the peer reads, the
    // socket is reported writable and its queue flushed, in order.
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !reactor.core.unix_dgram(id).unwrap().queue.is_empty() {
        assert!(Instant::now() < deadline, "the queue was never flushed");
        reactor.turn(Some(Duration::from_millis(100))).unwrap();
        drain(&peer, &mut got);
    }
    drain(&peer, &mut got);
    assert_eq!(got, (0..sent).collect::<Vec<_>>(), "every datagram, in order");
    let u = reactor.core.unix_dgram(id).unwrap();
    assert_eq!((u.dropped, u.write_interest), (0, false), "drained: readable events alone again");
    drop(reactor);
    let _ = std::fs::remove_file(&peer_path);
}
