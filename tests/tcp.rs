//! TCP over real loopback sockets: echo on IPv4 and IPv6, bound addresses,
//! large transfers paced by the water marks, pipelining, half-close, the
//! reasons and addresses `connection_lost` sees, abort, and writing to
//! another connection by `ConnId`.

mod util;

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use reel::{ConnId, Context, ListenOptions, Protocol, Reason, TcpOptions, TimerId};
use util::{End, Log};

// ----- echo and addresses ------------------------------------------------------

fn echo_on(addr: SocketAddr) {
    let mut reactor = util::reactor();
    let lid = reactor.listen_tcp(addr, util::echo_factory()).expect("listen");
    let bound = reactor.listener_addr(lid).expect("listener address");
    assert_eq!(bound.ip(), addr.ip());
    let client = util::client(&reactor, move || {
        let mut s = util::connect(bound);
        util::echo_round_trips(&mut s, "hello", 100);
        // One larger message, echoed while it is still being written.
        let big = util::pattern(0, 512 * 1024);
        let mut writer = s.try_clone().expect("clone");
        std::thread::scope(|scope| {
            scope.spawn(|| util::write_all(&mut writer, &big));
            let back = util::read_n(&mut s, big.len());
            util::check_pattern(&back, big.len());
        });
    });
    util::run(&mut reactor);
    client.join();
}

#[test]
fn echo_over_ipv4() {
    echo_on("127.0.0.1:0".parse().unwrap());
}

#[test]
fn echo_over_ipv6() {
    if !util::ipv6_available() {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    }
    echo_on("[::1]:0".parse().unwrap());
}

/// What a connection saw: its own addresses, at `connection_made` and at
/// `connection_lost`.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Made { local: SocketAddr, peer: SocketAddr },
    Data(Vec<u8>),
    Eof,
    Lost { reason: Reason, local: SocketAddr, peer: SocketAddr, self_write_accepted: bool },
}

/// Records every callback; closes when it receives "quit\n"; echoes the rest.
struct Recorder {
    seen: Log<(ConnId, Seen)>,
    lost_tx: mpsc::Sender<Reason>,
}

impl Protocol for Recorder {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.seen.borrow_mut().push((cx.conn_id(), Seen::Made { local: cx.local_addr(), peer: cx.peer_addr() }));
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.seen.borrow_mut().push((cx.conn_id(), Seen::Data(data.to_vec())));
        if data.ends_with(b"quit\n") {
            cx.close();
        } else {
            cx.write(data);
        }
    }
    fn eof_received(&mut self, cx: &mut Context<'_>) {
        self.seen.borrow_mut().push((cx.conn_id(), Seen::Eof));
        cx.close();
    }
    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        let id = cx.conn_id();
        let self_write_accepted = cx.write_to(id, b"too late");
        let lost =
            Seen::Lost { reason: reason.clone(), local: cx.local_addr(), peer: cx.peer_addr(), self_write_accepted };
        self.seen.borrow_mut().push((id, lost));
        let _ = self.lost_tx.send(reason);
    }
}

/// The events of one connection, in order.
fn events_of(seen: &[(ConnId, Seen)], id: ConnId) -> Vec<Seen> {
    seen.iter().filter(|(c, _)| *c == id).map(|(_, s)| s.clone()).collect()
}

#[test]
fn listen_on_port_zero_reports_the_bound_address() {
    let mut reactor = util::reactor();
    let seen = util::log();
    let (lost_tx, _lost_rx) = mpsc::channel();
    let factory = {
        let seen = Rc::clone(&seen);
        move |_| Box::new(Recorder { seen: Rc::clone(&seen), lost_tx: lost_tx.clone() }) as Box<dyn Protocol>
    };
    let lid = reactor.listen_tcp("127.0.0.1:0", factory).expect("listen");
    let bound = reactor.listener_addr(lid).expect("listener address");
    assert_ne!(bound.port(), 0, "port 0 must be replaced by the port bound");
    assert_eq!(bound.ip().to_string(), "127.0.0.1");
    let client = util::client(&reactor, move || {
        let mut s = util::connect(bound);
        util::echo_round_trips(&mut s, "x", 1);
        (s.local_addr().unwrap(), s.peer_addr().unwrap())
    });
    util::run(&mut reactor);
    let (client_local, client_peer) = client.join();
    assert_eq!(client_peer, bound);
    let seen = seen.borrow();
    let (_, first) = &seen[0];
    assert_eq!(first, &Seen::Made { local: bound, peer: client_local });
}

// ----- large transfers -----------------------------------------------------------

const CHUNK: usize = 64 * 1024;
const BIG: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Pause(usize),
    Resume(usize),
}

/// Produces `total` bytes of the pattern in 64 KiB chunks: a batch of chunks
/// until the queue passes the high water mark, then, unless the reactor
/// paused it, more on the next turn (a zero timer); after a pause, more on
/// `resume_writing`. Closes when all is written.
struct Producer {
    total: usize,
    sent: usize,
    high_water: usize,
    paused: bool,
    next: Option<TimerId>,
    marks: Log<Mark>,
    lost: Log<Reason>,
    paused_tx: mpsc::Sender<()>,
}

impl Producer {
    fn produce(&mut self, cx: &mut Context<'_>) {
        while !self.paused && self.sent < self.total && cx.queued() <= self.high_water {
            cx.write(&util::pattern(self.sent, CHUNK));
            self.sent += CHUNK;
        }
        if self.sent == self.total {
            cx.close();
        } else if !self.paused && self.next.is_none() {
            self.next = Some(cx.set_timer(Duration::ZERO));
        }
    }
}

impl Protocol for Producer {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.produce(cx);
    }
    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
    fn timer_fired(&mut self, cx: &mut Context<'_>, timer: TimerId) {
        assert_eq!(Some(timer), self.next.take());
        self.produce(cx);
    }
    fn pause_writing(&mut self, cx: &mut Context<'_>) {
        self.marks.borrow_mut().push(Mark::Pause(cx.queued()));
        self.paused = true;
        let _ = self.paused_tx.send(());
    }
    fn resume_writing(&mut self, cx: &mut Context<'_>) {
        self.marks.borrow_mut().push(Mark::Resume(cx.queued()));
        self.paused = false;
        self.produce(cx);
    }
    fn connection_lost(&mut self, _cx: &mut Context<'_>, reason: Reason) {
        self.lost.borrow_mut().push(reason);
    }
}

#[test]
fn eight_mib_produced_in_chunks_paced_by_water_marks_arrives_whole() {
    let mut reactor = util::reactor();
    let (marks, lost) = (util::log(), util::log());
    let (paused_tx, paused_rx) = mpsc::channel();
    let defaults = TcpOptions::default();
    let (high, low) = (defaults.high_water, defaults.low_water);
    let factory = {
        let (marks, lost) = (Rc::clone(&marks), Rc::clone(&lost));
        move |_| {
            Box::new(Producer {
                total: BIG,
                sent: 0,
                high_water: high,
                paused: false,
                next: None,
                marks: Rc::clone(&marks),
                lost: Rc::clone(&lost),
                paused_tx: paused_tx.clone(),
            }) as Box<dyn Protocol>
        }
    };
    let lid = reactor.listen_tcp("127.0.0.1:0", factory).expect("listen");
    let addr = reactor.listener_addr(lid).unwrap();
    let client = util::client(&reactor, move || {
        // A small receive window, and no reading until the server has been
        // paused: the kernel buffers fill and the queue must grow.
        let mut s = util::connect_small_rcvbuf(addr, 64 * 1024);
        paused_rx.recv_timeout(util::IO_TIMEOUT).expect("the producer was never paused");
        let data = util::read_to_end(&mut s);
        util::check_pattern(&data, BIG);
    });
    util::run(&mut reactor);
    client.join();

    assert_eq!(*lost.borrow(), vec![Reason::Closed]);
    let marks = marks.borrow();
    assert!(marks.len() >= 2, "expected at least one pause and one resume, got {marks:?}");
    for (i, mark) in marks.iter().enumerate() {
        match *mark {
            Mark::Pause(q) => {
                assert_eq!(i % 2, 0, "pause and resume alternate, pause first: {marks:?}");
                assert!(q > high, "paused with {q} queued, high water {high}");
            }
            Mark::Resume(q) => {
                assert_eq!(i % 2, 1, "pause and resume alternate, pause first: {marks:?}");
                assert!(q <= low, "resumed with {q} queued, low water {low}");
            }
        }
    }
}

/// Writes `data` in one write on connect, then closes.
struct OneShot {
    data: Rc<Vec<u8>>,
    lost: Log<Reason>,
}

impl Protocol for OneShot {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.write(&self.data);
        cx.close();
    }
    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
    fn connection_lost(&mut self, _cx: &mut Context<'_>, reason: Reason) {
        self.lost.borrow_mut().push(reason);
    }
}

#[test]
fn eight_mib_in_one_write_with_a_raised_output_limit_arrives_whole() {
    let mut reactor = util::reactor();
    let lost = util::log();
    let data = Rc::new(util::pattern(0, BIG));
    let mut opts = ListenOptions::default();
    opts.tcp.output_limit = 2 * BIG;
    let factory = {
        let lost = Rc::clone(&lost);
        move |_| Box::new(OneShot { data: Rc::clone(&data), lost: Rc::clone(&lost) }) as Box<dyn Protocol>
    };
    let lid = reactor.listen_tcp_with("127.0.0.1:0", factory, opts).expect("listen");
    let addr = reactor.listener_addr(lid).unwrap();
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        let data = util::read_to_end(&mut s);
        util::check_pattern(&data, BIG);
    });
    util::run(&mut reactor);
    client.join();
    assert_eq!(*lost.borrow(), vec![Reason::Closed]);
}

// ----- pipelining ----------------------------------------------------------------

/// Answers every line with the same line.
#[derive(Default)]
struct LineEcho {
    buf: Vec<u8>,
}

impl Protocol for LineEcho {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(end) = self.buf[start..].iter().position(|&b| b == b'\n') {
            cx.write(&self.buf[start..start + end + 1]);
            start += end + 1;
        }
        self.buf.drain(..start);
    }
}

#[test]
fn ten_thousand_pipelined_lines_are_answered_in_order() {
    const N: usize = 10_000;
    let mut reactor = util::reactor();
    let lid = reactor.listen_tcp("127.0.0.1:0", |_| Box::<LineEcho>::default() as Box<dyn Protocol>).expect("listen");
    let addr = reactor.listener_addr(lid).unwrap();
    let client = util::client(&reactor, move || {
        let s = util::connect(addr);
        let burst: String = (0..N).map(|i| format!("request number {i}\n")).collect();
        let mut writer = s.try_clone().expect("clone");
        std::thread::scope(|scope| {
            // The whole burst in one write, read back concurrently.
            scope.spawn(move || writer.write_all(burst.as_bytes()).expect("write burst"));
            let mut lines = BufReader::new(&s).lines();
            for i in 0..N {
                let line = lines.next().expect("EOF before all answers").expect("read answer");
                assert_eq!(line, format!("request number {i}"), "answer {i} out of order");
            }
        });
    });
    util::run(&mut reactor);
    client.join();
}

// ----- half-close -------------------------------------------------------------

/// After the peer's EOF, echoes what it got, then writes a few more lines
/// from a timer (later turns), then closes.
struct HalfClose {
    got: Vec<u8>,
    ticks: u32,
    seen: Log<String>,
}

impl Protocol for HalfClose {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        assert!(!self.seen.borrow().contains(&"eof".to_string()), "data after EOF");
        self.got.extend_from_slice(data);
        let _ = cx;
    }
    fn eof_received(&mut self, cx: &mut Context<'_>) {
        self.seen.borrow_mut().push("eof".into());
        cx.write(b"you said: ");
        cx.write(&self.got);
        cx.write(b"\n");
        cx.set_timer(Duration::from_millis(5));
    }
    fn timer_fired(&mut self, cx: &mut Context<'_>, _timer: TimerId) {
        cx.write(format!("tick {}\n", self.ticks).as_bytes());
        self.ticks += 1;
        if self.ticks < 3 {
            cx.set_timer(Duration::from_millis(5));
        } else {
            cx.close();
        }
    }
    fn connection_lost(&mut self, _cx: &mut Context<'_>, reason: Reason) {
        self.seen.borrow_mut().push(format!("lost {reason:?}"));
    }
}

#[test]
fn half_close_peer_shuts_down_writing_and_still_reads_everything() {
    let mut reactor = util::reactor();
    let seen = util::log();
    let factory = {
        let seen = Rc::clone(&seen);
        move |_| Box::new(HalfClose { got: Vec::new(), ticks: 0, seen: Rc::clone(&seen) }) as Box<dyn Protocol>
    };
    let lid = reactor.listen_tcp("127.0.0.1:0", factory).expect("listen");
    let addr = reactor.listener_addr(lid).unwrap();
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        util::write_all(&mut s, b"hello, half-closed world");
        s.shutdown(Shutdown::Write).expect("shutdown(Write)");
        let all = util::read_to_end(&mut s);
        assert_eq!(String::from_utf8(all).unwrap(), "you said: hello, half-closed world\ntick 0\ntick 1\ntick 2\n");
    });
    util::run(&mut reactor);
    client.join();
    assert_eq!(*seen.borrow(), vec!["eof".to_string(), "lost PeerClosed".to_string()]);
}

// ----- connection_lost ------------------------------------------------------------

#[test]
fn connection_lost_once_with_the_right_reason_and_addresses() {
    let mut reactor = util::reactor();
    let seen = util::log();
    let (lost_tx, lost_rx) = mpsc::channel();
    let factory = {
        let seen = Rc::clone(&seen);
        move |_| Box::new(Recorder { seen: Rc::clone(&seen), lost_tx: lost_tx.clone() }) as Box<dyn Protocol>
    };
    let lid = reactor.listen_tcp("127.0.0.1:0", factory).expect("listen");
    let addr = reactor.listener_addr(lid).unwrap();
    let client = util::client(&reactor, move || {
        // 1: the client closes first.
        let mut a = util::connect(addr);
        util::echo_round_trips(&mut a, "a", 3);
        let a_local = a.local_addr().unwrap();
        drop(a);
        let first = lost_rx.recv_timeout(util::IO_TIMEOUT).expect("connection_lost of the first");
        // 2: the server closes ("quit").
        let mut b = util::connect(addr);
        util::echo_round_trips(&mut b, "b", 3);
        util::write_all(&mut b, b"quit\n");
        let rest = util::read_to_end(&mut b);
        assert!(rest.is_empty(), "nothing after quit, got {rest:?}");
        let b_local = b.local_addr().unwrap();
        let second = lost_rx.recv_timeout(util::IO_TIMEOUT).expect("connection_lost of the second");
        (a_local, first, b_local, second)
    });
    util::run(&mut reactor);
    let (a_local, first, b_local, second) = client.join();
    assert_eq!(first, Reason::PeerClosed);
    assert_eq!(second, Reason::Closed);

    let seen = seen.borrow();
    let mut ids: Vec<ConnId> = seen.iter().map(|(id, _)| *id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 2, "two connections, each reported in one run of events: {seen:?}");
    for (id, client_local, reason) in [(ids[0], a_local, Reason::PeerClosed), (ids[1], b_local, Reason::Closed)] {
        let events = events_of(&seen, id);
        assert_eq!(events.first(), Some(&Seen::Made { local: addr, peer: client_local }));
        let lost: Vec<&Seen> = events.iter().filter(|e| matches!(e, Seen::Lost { .. })).collect();
        assert_eq!(lost.len(), 1, "connection_lost exactly once: {events:?}");
        assert_eq!(
            events.last(),
            Some(&Seen::Lost { reason, local: addr, peer: client_local, self_write_accepted: false }),
            "connection_lost last, with the addresses still readable, and writes refused"
        );
    }
}

// ----- abort ------------------------------------------------------------------

/// Greets, then on "abort" queues more and aborts.
struct Aborter {
    lost: Log<Reason>,
}

impl Protocol for Aborter {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.write(b"hello\n");
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if data.starts_with(b"abort") {
            cx.write(&vec![b'!'; 100 * 1024]);
            cx.abort();
            assert!(cx.is_closing());
            let me = cx.conn_id();
            assert!(!cx.write_to(me, b"more"), "writes after abort are refused");
        }
    }
    fn connection_lost(&mut self, _cx: &mut Context<'_>, reason: Reason) {
        self.lost.borrow_mut().push(reason);
    }
}

#[test]
fn abort_drops_queued_output_and_reports_aborted() {
    let mut reactor = util::reactor();
    let lost = util::log();
    let factory = {
        let lost = Rc::clone(&lost);
        move |_| Box::new(Aborter { lost: Rc::clone(&lost) }) as Box<dyn Protocol>
    };
    let lid = reactor.listen_tcp("127.0.0.1:0", factory).expect("listen");
    let addr = reactor.listener_addr(lid).unwrap();
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        assert_eq!(util::read_line(&mut s), "hello");
        util::write_all(&mut s, b"abort\n");
        util::read_until_end(&mut s)
    });
    util::run(&mut reactor);
    let end = client.join();
    assert!(end.data().is_empty(), "queued output must be dropped, client got {} bytes", end.data().len());
    assert!(matches!(end, End::Reset(_) | End::Eof(_)));
    assert_eq!(*lost.borrow(), vec![Reason::Aborted]);
}

// ----- write_to -------------------------------------------------------------------

#[derive(Default)]
struct Room {
    members: Vec<ConnId>,
    gone: Vec<ConnId>,
    stale_writes: Vec<(ConnId, bool)>,
    all: Vec<ConnId>,
}

/// A tiny relay: "say X" goes to every other member; "stale" tries to
/// write to every connection that left, and answers whether any accepted.
struct Member {
    room: Rc<RefCell<Room>>,
    buf: Vec<u8>,
    lost_tx: mpsc::Sender<()>,
}

impl Protocol for Member {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        let mut room = self.room.borrow_mut();
        room.members.push(cx.conn_id());
        room.all.push(cx.conn_id());
        cx.write(b"hi\n");
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.buf.extend_from_slice(data);
        while let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=end).collect();
            let line = &line[..line.len() - 1];
            let me = cx.conn_id();
            if let Some(text) = line.strip_prefix(b"say ") {
                let others: Vec<ConnId> = self.room.borrow().members.iter().copied().filter(|&m| m != me).collect();
                for other in others {
                    assert!(cx.write_to(other, text));
                    assert!(cx.write_to(other, b"\n"));
                }
            } else if line == b"stale" {
                let gone = self.room.borrow().gone.clone();
                let mut any = false;
                for old in gone {
                    let accepted = cx.write_to(old, b"poison\n");
                    self.room.borrow_mut().stale_writes.push((old, accepted));
                    any |= accepted;
                }
                cx.write(format!("stale {any}\n").as_bytes());
            }
        }
    }
    fn connection_lost(&mut self, cx: &mut Context<'_>, _reason: Reason) {
        let mut room = self.room.borrow_mut();
        let me = cx.conn_id();
        room.members.retain(|&m| m != me);
        room.gone.push(me);
        let _ = self.lost_tx.send(());
    }
}

#[test]
fn write_to_relays_between_connections_and_refuses_stale_ids() {
    let mut reactor = util::reactor();
    let room = Rc::new(RefCell::new(Room::default()));
    let (lost_tx, lost_rx) = mpsc::channel();
    let factory = {
        let room = Rc::clone(&room);
        move |_| {
            Box::new(Member { room: Rc::clone(&room), buf: Vec::new(), lost_tx: lost_tx.clone() }) as Box<dyn Protocol>
        }
    };
    let lid = reactor.listen_tcp("127.0.0.1:0", factory).expect("listen");
    let addr = reactor.listener_addr(lid).unwrap();
    let client = util::client(&reactor, move || {
        let mut a = util::connect(addr);
        assert_eq!(util::read_line(&mut a), "hi");
        let mut b = util::connect(addr);
        assert_eq!(util::read_line(&mut b), "hi");
        util::write_all(&mut a, b"say ping\n");
        assert_eq!(util::read_line(&mut b), "ping");
        util::write_all(&mut b, b"say pong\n");
        assert_eq!(util::read_line(&mut a), "pong");

        // A leaves; C arrives (in A's slot).
        drop(a);
        lost_rx.recv_timeout(util::IO_TIMEOUT).expect("A's connection_lost");
        let mut c = util::connect(addr);
        assert_eq!(util::read_line(&mut c), "hi");
        util::write_all(&mut b, b"stale\n");
        assert_eq!(util::read_line(&mut b), "stale false");
        // Had the stale write reached C, "poison" would come before this.
        util::write_all(&mut b, b"say marker\n");
        assert_eq!(util::read_line(&mut c), "marker");
    });
    util::run(&mut reactor);
    client.join();

    let room = room.borrow();
    assert_eq!(room.all.len(), 3);
    let (a, c) = (room.all[0], room.all[2]);
    assert_ne!(a, c);
    assert_eq!(util::slot_index(a), util::slot_index(c), "C was meant to reuse A's slot: {a:?} vs {c:?}");
    assert_eq!(room.stale_writes, vec![(a, false)]);
}

// ----- budgets ---------------------------------------------------------------------

/// Budgets of zero still read: one read per turn, as for datagrams (before,
/// the connection sat on the ready list for ever, the loop spinning).
#[test]
fn zero_read_budgets_still_read_one_read_per_turn() {
    let cfg = reel::ReactorConfig { read_budget: 0, read_byte_budget: 0, ..util::config() };
    let mut reactor = util::reactor_with(cfg);
    let lid = reactor.listen_tcp("127.0.0.1:0", util::echo_factory()).expect("listen");
    let addr = reactor.listener_addr(lid).expect("listener address");
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        util::echo_round_trips(&mut s, "budget", 20);
        // More than one read's worth at once: served a read per turn.
        let big = util::pattern(0, 256 * 1024);
        let mut writer = s.try_clone().expect("clone");
        std::thread::scope(|scope| {
            scope.spawn(|| util::write_all(&mut writer, &big));
            util::check_pattern(&util::read_n(&mut s, big.len()), big.len());
        });
    });
    util::run(&mut reactor);
    client.join();
}
