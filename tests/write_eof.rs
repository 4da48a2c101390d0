//! `write_eof` (Twisted's `loseWriteConnection`) over real TCP: queued
//! output is flushed, then our write side is shut and the peer reads EOF;
//! input still flows; the peer's own EOF ends the connection cleanly.

mod util;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::mpsc;
use std::time::Duration;

use reel::{ConnId, Context, Protocol, Reason};
use util::Log;

#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Data(usize),
    Eof { open_for_writes: bool },
    Lost(Reason),
}

/// Sends `payload`, then half-closes; records what it hears afterwards.
struct SayThenListen {
    payload: Vec<u8>,
    seen: Log<Seen>,
    ids: mpsc::Sender<ConnId>,
    /// Told when the connection is over (the client waits for it before
    /// it lets the reactor stop).
    over: mpsc::Sender<()>,
}

impl Protocol for SayThenListen {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        let _ = self.ids.send(cx.conn_id());
        cx.write(&self.payload);
        cx.write_eof();
        // Writes after write_eof are dropped: the peer must never see them.
        cx.write(b"too late");
        assert!(!cx.is_open(cx.conn_id()), "writable after write_eof");
        assert!(!cx.is_closing(), "input still flows after write_eof");
    }
    fn data_received(&mut self, _cx: &mut Context<'_>, data: &[u8]) {
        self.seen.borrow_mut().push(Seen::Data(data.len()));
    }
    fn eof_received(&mut self, cx: &mut Context<'_>) {
        let open = cx.is_open(cx.conn_id());
        self.seen.borrow_mut().push(Seen::Eof { open_for_writes: open });
        // No close here: the connection ends by itself, both sides done.
    }
    fn connection_lost(&mut self, _cx: &mut Context<'_>, reason: Reason) {
        self.seen.borrow_mut().push(Seen::Lost(reason));
        let _ = self.over.send(());
    }
}

fn received(seen: &[Seen]) -> usize {
    seen.iter().map(|s| if let Seen::Data(n) = s { *n } else { 0 }).sum()
}

/// A large queue (far above the socket buffers) is flushed before the EOF;
/// the peer goes on sending after reading our EOF, and its EOF ends the
/// connection with `PeerClosed`.
#[test]
fn queued_output_is_flushed_then_the_peer_reads_eof_and_may_still_send() {
    let mut reactor = util::reactor();
    let seen = util::log();
    let payload = util::pattern(0, 4 * 1024 * 1024);
    let (ids, _rx) = mpsc::channel();
    let (over, over_rx) = mpsc::channel();
    let (s2, p2) = (seen.clone(), payload.clone());
    let lid = reactor
        .listen_tcp("127.0.0.1:0", move |_| SayThenListen {
            payload: p2.clone(),
            seen: s2.clone(),
            ids: ids.clone(),
            over: over.clone(),
        })
        .expect("listen");
    let addr = reactor.listener_addr(lid).expect("addr");
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        let got = util::read_to_end(&mut s);
        assert_eq!(got.len(), payload.len(), "everything queued before write_eof arrives, and nothing after");
        assert!(got == payload, "byte-exact");
        // Our direction is still open: send, then end it.
        let upload = vec![7u8; 300_000];
        util::write_all(&mut s, &upload);
        s.shutdown(Shutdown::Write).expect("shutdown");
        // The server's side was already shut: reading goes on returning 0.
        let mut buf = [0u8; 16];
        assert_eq!(s.read(&mut buf).expect("read after EOF"), 0);
        // The server's side ends on its own once it has read our EOF.
        over_rx.recv_timeout(util::IO_TIMEOUT).expect("the server's side ended");
    });
    util::run(&mut reactor);
    client.join();
    let seen = seen.borrow();
    assert_eq!(received(&seen), 300_000, "{seen:?}");
    let tail: Vec<_> = seen.iter().filter(|s| !matches!(s, Seen::Data(_))).cloned().collect();
    assert_eq!(tail, vec![Seen::Eof { open_for_writes: false }, Seen::Lost(Reason::PeerClosed)]);
}

/// After the peer's EOF (half-closed already), `write_eof` is a close:
/// what is queued goes out and the connection ends.
struct AnswerAtEof;
impl Protocol for AnswerAtEof {
    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
    fn eof_received(&mut self, cx: &mut Context<'_>) {
        cx.write(b"bye\n");
        cx.write_eof();
    }
}

#[test]
fn write_eof_after_the_peers_eof_ends_the_connection() {
    let mut reactor = util::reactor();
    let lid = reactor.listen_tcp("127.0.0.1:0", |_| AnswerAtEof).expect("listen");
    let addr = reactor.listener_addr(lid).expect("addr");
    let (tx, rx) = mpsc::channel();
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        s.write_all(b"hi").expect("write");
        s.shutdown(Shutdown::Write).expect("shutdown");
        assert_eq!(util::read_to_end(&mut s), b"bye\n");
        tx.send(()).expect("send");
    });
    util::run(&mut reactor);
    client.join();
    rx.recv_timeout(Duration::from_secs(1)).expect("client finished");
}

/// `write_eof_of` half-closes another connection by id (asking twice is
/// harmless).
#[test]
fn write_eof_by_id_from_another_connection() {
    struct Idle(mpsc::Sender<ConnId>);
    impl Protocol for Idle {
        fn connection_made(&mut self, cx: &mut Context<'_>) {
            let _ = self.0.send(cx.conn_id());
        }
        fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
            cx.write(data);
        }
    }
    let mut reactor = util::reactor();
    let (tx, rx) = mpsc::channel();
    let lid = reactor.listen_tcp("127.0.0.1:0", move |_| Idle(tx.clone())).expect("listen");
    let addr = reactor.listener_addr(lid).expect("addr");
    let handle = util::handle(&reactor);
    let (done_tx, done_rx) = mpsc::channel();
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        util::echo_round_trips(&mut s, "before", 3);
        let id = rx.recv_timeout(util::IO_TIMEOUT).expect("id");
        let tx = done_tx.clone();
        handle.call_from_thread(move |cx| {
            let first = cx.write_eof_of(id);
            let again = cx.write_eof_of(id);
            let _ = tx.send((first, again));
        });
        let (first, again) = done_rx.recv_timeout(util::IO_TIMEOUT).expect("answer");
        assert!(first && again, "write_eof_of on an open connection");
        // The server's side reads EOF; ours stays open and is still read.
        assert_eq!(util::read_to_end(&mut s), b"");
        // Still read: the echo's answer is dropped (its write side is
        // shut), and our EOF ends the connection.
        s.write_all(b"still heard").expect("write after the server's EOF");
        s.shutdown(Shutdown::Write).expect("shutdown");
        let mut buf = [0u8; 16];
        assert_eq!(s.read(&mut buf).expect("read after EOF"), 0);
    });
    util::run(&mut reactor);
    client.join();
}

/// Over a boxed transport (the in-memory harness, as TLS will be), the
/// half-close goes through the transport's own `shutdown_write`, only once
/// the queue has drained: a peer that reads slowly gets every byte first.
#[test]
fn write_eof_goes_through_the_transport_after_the_queue_drains() {
    struct Bulk(bool);
    impl Protocol for Bulk {
        fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
            if !self.0 {
                self.0 = true;
                cx.write(&vec![b'z'; 200_000]);
                cx.write_eof();
                return;
            }
            // Input still arrives; answers are dropped.
            assert!(!cx.is_closing());
            cx.write(data);
        }
    }
    let mut h = reel::testing::Harness::new(Bulk(false));
    h.set_peer_window(Some(0));
    h.feed(b"go");
    h.peer_reads(50_000);
    assert!(!h.transcript().write_shutdown, "shut before the queue drained");
    h.feed(b"still read");
    assert_eq!(h.lost(), None);
    h.peer_reads(1_000_000);
    let t = h.transcript();
    assert!(t.write_shutdown, "the transport's shutdown_write was not called");
    assert_eq!(t.written.len(), 200_000, "everything queued before write_eof, nothing after");
    h.feed_eof();
    assert_eq!(h.lost(), Some(Reason::PeerClosed));
    assert!(h.is_freed(), "both directions done: no linger");
}
