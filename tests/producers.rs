//! Producers and consumers across connections over real TCP
//! (`reel::producer`): a connection paused while another's output is
//! full, fan-out, either side ending the pair, pull producers, and pausing
//! another connection by id.

mod util;

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use reel::producer::{Pull, PullProducer};
use reel::{ConnId, Context, Protocol, ReactorContext};

const MIB: usize = 1024 * 1024;
/// The default high water mark, and the most one read hands over.
const HIGH: usize = 64 * 1024;
const READ: usize = 64 * 1024;

/// The server's shared state: one producer, its consumers, and what was
/// seen.
#[derive(Default)]
struct Room {
    producer: Option<ConnId>,
    consumers: Vec<ConnId>,
    /// The most any consumer had queued right after a write.
    max_queued: usize,
    /// Bytes the producer's protocol received.
    produced: usize,
    /// After each write that filled a consumer: was the producer paused
    /// at once (inside the callback)?
    paused_at_once: Vec<bool>,
    resumed: usize,
}

/// The first byte picks the role: `P` produces, `C` consumes (and is
/// registered as a consumer of the producer). Both answer `ok`.
struct Member {
    room: Rc<RefCell<Room>>,
    role: Option<u8>,
}

impl Protocol for Member {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        let me = cx.conn_id();
        let data = match self.role {
            Some(_) => data,
            None => {
                self.role = Some(data[0]);
                let mut room = self.room.borrow_mut();
                if data[0] == b'P' {
                    room.producer = Some(me);
                } else {
                    room.consumers.push(me);
                    let producer = room.producer.expect("the producer comes first");
                    assert!(cx.register_producer(me, producer));
                    assert!(!cx.register_producer(me, producer), "a pair is registered once");
                    assert!(!cx.register_producer(me, me), "not its own producer");
                }
                cx.write(b"ok");
                &data[1..]
            }
        };
        if self.role != Some(b'P') || data.is_empty() {
            return;
        }
        let consumers = self.room.borrow().consumers.clone();
        let mut filled = false;
        for c in consumers {
            let was = cx.queued_of(c);
            cx.write_to(c, data);
            let now = cx.queued_of(c);
            filled |= was <= HIGH && now > HIGH;
            let mut room = self.room.borrow_mut();
            room.max_queued = room.max_queued.max(now);
        }
        let paused = cx.is_reading_paused();
        let mut room = self.room.borrow_mut();
        room.produced += data.len();
        if filled {
            room.paused_at_once.push(paused);
        }
    }

    fn reading_resumed(&mut self, _cx: &mut Context<'_>) {
        self.room.borrow_mut().resumed += 1;
    }

    fn eof_received(&mut self, cx: &mut Context<'_>) {
        if self.role == Some(b'P') {
            let consumers = self.room.borrow().consumers.clone();
            for c in consumers {
                cx.close_conn(c);
            }
        }
        cx.close();
    }
}

fn join(s: &mut TcpStream, role: u8) {
    util::write_all(s, &[role]);
    assert_eq!(util::read_n(s, 2), b"ok");
}

/// A new connection to the room at `addr`, joined as `role`.
fn member(addr: std::net::SocketAddr, role: u8) -> TcpStream {
    let mut s = util::connect(addr);
    join(&mut s, role);
    s
}

/// A thread that writes `total` bytes of the test pattern through a clone
/// of `s`, then ends its write side.
fn produce(s: &TcpStream, total: usize) -> std::thread::JoinHandle<()> {
    let mut w = s.try_clone().expect("clone");
    std::thread::spawn(move || {
        util::write_all(&mut w, &util::pattern(0, total));
        w.shutdown(std::net::Shutdown::Write).expect("shutdown");
    })
}

/// Reads `n` bytes in small reads with pauses, as a slow reader.
fn read_slowly(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut buf = vec![0u8; 16 * 1024];
    while out.len() < n {
        if out.len() % (MIB / 2) < buf.len() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let want = buf.len().min(n - out.len());
        let k = s.read(&mut buf[..want]).expect("slow read");
        assert!(k > 0, "EOF after {} of {n} bytes", out.len());
        out.extend_from_slice(&buf[..k]);
    }
    out
}

fn server(room: &Rc<RefCell<Room>>) -> (reel::Reactor, std::net::SocketAddr) {
    let mut reactor = util::reactor();
    let room = Rc::clone(room);
    let lid =
        reactor.listen_tcp("127.0.0.1:0", move |_| Member { room: Rc::clone(&room), role: None }).expect("listen");
    let addr = reactor.listener_addr(lid).expect("addr");
    (reactor, addr)
}

/// A fast sender into a slow reader through the server: the sender's
/// connection stops being read inside the write that fills the consumer,
/// the consumer's queue stays within the high mark plus one read, and
/// every byte arrives in order.
#[test]
fn a_connection_producer_is_paused_while_its_consumer_is_full() {
    let room = Rc::new(RefCell::new(Room::default()));
    let (mut reactor, addr) = server(&room);
    let total = 8 * MIB;
    let client = util::client(&reactor, move || {
        let p = member(addr, b'P');
        let mut c = member(addr, b'C');
        let writer = produce(&p, total);
        let got = read_slowly(&mut c, total);
        writer.join().expect("writer");
        util::check_pattern(&got, total);
    });
    util::run(&mut reactor);
    client.join();
    let room = room.borrow();
    assert_eq!(room.produced, total);
    assert!(room.max_queued <= HIGH + READ, "consumer queue reached {}", room.max_queued);
    assert!(!room.paused_at_once.is_empty(), "the consumer never filled: the test proves nothing");
    assert!(room.paused_at_once.iter().all(|p| *p), "paused only after the callback: {:?}", room.paused_at_once);
    assert!(room.resumed > 0, "the producer heard reading_resumed");
}

/// Fan-out: one producer, a fast consumer and a stalled one. While the
/// stalled one is full the producer is not read, so the fast one gets no
/// more than what was under way; once the stalled one reads, both get
/// everything.
#[test]
fn fan_out_pauses_the_producer_while_any_consumer_is_full() {
    let room = Rc::new(RefCell::new(Room::default()));
    let (mut reactor, addr) = server(&room);
    // Far more than the kernel's socket buffers can hold (4 MiB at most
    // by default for the stalled side's send buffer).
    let total = 16 * MIB;
    let client = util::client(&reactor, move || {
        let p = member(addr, b'P');
        let mut fast = member(addr, b'C');
        let mut stalled = util::connect_small_rcvbuf(addr, 16 * 1024);
        join(&mut stalled, b'C');
        let writer = produce(&p, total);
        // The fast reader gets a bounded amount while the other stalls:
        // what the stalled side's buffers and queue hold, no more.
        fast.set_read_timeout(Some(Duration::from_millis(300))).expect("timeout");
        let mut early = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match fast.read(&mut buf) {
                Ok(0) => panic!("EOF while the other consumer stalls"),
                Ok(n) => early.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) => panic!("fast read: {e}"),
            }
        }
        assert!(early.len() < 8 * MIB, "the fast consumer got {} bytes while the other stalled", early.len());
        fast.set_read_timeout(Some(util::IO_TIMEOUT)).expect("timeout");
        let reader = std::thread::spawn(move || {
            let mut rest = util::read_n(&mut fast, total - early.len());
            early.append(&mut rest);
            early
        });
        let slow = read_slowly(&mut stalled, total);
        util::check_pattern(&slow, total);
        util::check_pattern(&reader.join().expect("fast reader"), total);
        writer.join().expect("writer");
    });
    let took = util::run_limited(&mut reactor, Duration::from_secs(20));
    eprintln!("fan-out of {total} bytes took {took:?}");
    client.join();
    let room = room.borrow();
    assert!(room.max_queued <= HIGH + READ, "a consumer queue reached {}", room.max_queued);
}

/// The consumer goes away while full: the pair ends and the producer is
/// read again (its sender finishes).
#[test]
fn a_consumer_ending_releases_its_producer() {
    let room = Rc::new(RefCell::new(Room::default()));
    let (mut reactor, addr) = server(&room);
    let total = 32 * MIB;
    let client = util::client(&reactor, move || {
        let mut p = member(addr, b'P');
        let mut c = util::connect_small_rcvbuf(addr, 16 * 1024);
        join(&mut c, b'C');
        let mut w = p.try_clone().expect("clone");
        let (tx, rx) = mpsc::channel();
        let writer = std::thread::spawn(move || {
            // Blocks once the consumer is full and the producer paused.
            let r = w.write_all(&util::pattern(0, total));
            let _ = tx.send(());
            r
        });
        // Stalled: the writer cannot finish while the consumer is full.
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "the producer was never paused");
        drop(c); // the consumer leaves (with unread data: a reset)
        rx.recv_timeout(util::IO_TIMEOUT).expect("the producer is read again once its consumer is gone");
        writer.join().expect("writer").expect("write");
        p.shutdown(std::net::Shutdown::Write).expect("shutdown");
        assert_eq!(util::read_to_end(&mut p), b"");
    });
    util::run(&mut reactor);
    client.join();
    assert_eq!(room.borrow().produced, total);
}

/// A finite pull producer: `total` bytes of the pattern, 10,000 bytes at a
/// time, then the consumer is closed.
struct Counting {
    sent: usize,
    total: usize,
    calls: Rc<RefCell<Vec<usize>>>,
    stopped: Rc<RefCell<bool>>,
}

impl PullProducer for Counting {
    fn resume_producing(&mut self, cx: &mut ReactorContext<'_>, to: ConnId) -> Pull {
        assert!(self.sent < self.total, "asked again after Done");
        self.calls.borrow_mut().push(cx.queued_of(to));
        let n = (self.total - self.sent).min(10_000);
        // Whole words of the pattern: 10,000 is a multiple of 8.
        cx.write_to(to, &util::pattern(self.sent, n));
        self.sent += n;
        if self.sent == self.total {
            cx.close_conn(to);
            return Pull::Done;
        }
        Pull::More
    }
    fn stop_producing(&mut self, _cx: &mut ReactorContext<'_>, _to: ConnId) {
        *self.stopped.borrow_mut() = true;
    }
}

struct PullServer {
    total: usize,
    calls: Rc<RefCell<Vec<usize>>>,
    stopped: Rc<RefCell<bool>>,
}

impl Protocol for PullServer {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        let me = cx.conn_id();
        let producer =
            Counting { sent: 0, total: self.total, calls: Rc::clone(&self.calls), stopped: Rc::clone(&self.stopped) };
        assert!(cx.register_pull_producer(me, producer));
        let again = Counting { sent: 0, total: 1, calls: Rc::default(), stopped: Rc::default() };
        assert!(!cx.register_pull_producer(me, again), "one pull producer per connection");
    }
    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
}

/// A pull server's reactor, address, the queue sizes its producer was
/// asked at, and whether it heard `stop_producing`.
type PullSetup = (reel::Reactor, std::net::SocketAddr, Rc<RefCell<Vec<usize>>>, Rc<RefCell<bool>>);

fn pull_server(total: usize) -> PullSetup {
    let mut reactor = util::reactor();
    let (calls, stopped) = (Rc::new(RefCell::new(Vec::new())), Rc::new(RefCell::new(false)));
    let (c2, s2) = (Rc::clone(&calls), Rc::clone(&stopped));
    let lid = reactor
        .listen_tcp("127.0.0.1:0", move |_| PullServer { total, calls: Rc::clone(&c2), stopped: Rc::clone(&s2) })
        .expect("listen");
    let addr = reactor.listener_addr(lid).expect("addr");
    (reactor, addr, calls, stopped)
}

/// The producer is asked only while the queue is at or below the low mark
/// (so the queue never holds more than the low mark plus one piece), until
/// it is done; a slow reader gets every byte.
#[test]
fn a_pull_producer_is_asked_only_below_the_low_mark_until_done() {
    let total = 3 * MIB + 8 * 1000;
    let (mut reactor, addr, calls, stopped) = pull_server(total);
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        let got = read_slowly(&mut s, total);
        util::check_pattern(&got, total);
        assert_eq!(util::read_to_end(&mut s), b"", "closed after the last piece");
    });
    util::run(&mut reactor);
    client.join();
    let calls = calls.borrow();
    assert_eq!(calls.len(), total.div_ceil(10_000));
    assert!(calls.iter().all(|&q| q <= 32 * 1024), "asked with more than the low mark queued: {calls:?}");
    assert!(!*stopped.borrow(), "a producer that finished is not stopped");
}

/// The consumer leaves before the producer is done: `stop_producing`.
#[test]
fn a_pull_producer_hears_stop_producing_when_its_consumer_leaves() {
    let (mut reactor, addr, calls, stopped) = pull_server(1 << 40);
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        let _ = util::read_n(&mut s, 100_000);
    });
    util::run(&mut reactor);
    client.join();
    assert!(*stopped.borrow(), "stop_producing after the consumer left");
    assert!(!calls.borrow().is_empty());
}

/// `pause_reading_of` / `resume_reading_of`: one connection pauses and
/// resumes another by id; while paused, nothing is read from it (its
/// sender's writes stop being accepted), and after the resume everything
/// arrives.
#[test]
fn pause_and_resume_another_connection_by_id() {
    struct Counter {
        ids: Rc<RefCell<Vec<ConnId>>>,
        counted: Rc<RefCell<usize>>,
    }
    impl Protocol for Counter {
        fn connection_made(&mut self, cx: &mut Context<'_>) {
            self.ids.borrow_mut().push(cx.conn_id());
            cx.write(b"ok");
        }
        fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
            let first = self.ids.borrow()[0];
            if cx.conn_id() == first {
                *self.counted.borrow_mut() += data.len();
                return;
            }
            // The controller: "p" pauses the first connection, "r" resumes.
            for &b in data {
                let ok = match b {
                    b'p' => cx.pause_reading_of(first),
                    b'r' => cx.resume_reading_of(first),
                    _ => false,
                };
                cx.write(if ok { b"+" } else { b"-" });
            }
        }
    }
    let mut reactor = util::reactor();
    let (ids, counted) = (Rc::new(RefCell::new(Vec::new())), Rc::new(RefCell::new(0)));
    let (i2, c2) = (Rc::clone(&ids), Rc::clone(&counted));
    let lid = reactor
        .listen_tcp("127.0.0.1:0", move |_| Counter { ids: Rc::clone(&i2), counted: Rc::clone(&c2) })
        .expect("listen");
    let addr = reactor.listener_addr(lid).expect("addr");
    let (tx, rx) = mpsc::channel();
    let client = util::client(&reactor, move || {
        let mut data = util::connect(addr);
        assert_eq!(util::read_n(&mut data, 2), b"ok");
        let mut control = util::connect(addr);
        assert_eq!(util::read_n(&mut control, 2), b"ok");
        util::write_all(&mut control, b"p");
        assert_eq!(util::read_n(&mut control, 1), b"+");
        // Paused: the kernel buffers fill and a non-blocking sender stops.
        data.set_nonblocking(true).expect("nonblocking");
        let chunk = vec![1u8; 64 * 1024];
        let mut sent = 0;
        let mut would_block = 0;
        while would_block < 20 && sent < 256 * MIB {
            match data.write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    would_block += 1;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("write: {e}"),
            }
        }
        assert!(sent < 256 * MIB, "{sent} bytes accepted: the connection was still read");
        data.set_nonblocking(false).expect("blocking");
        util::write_all(&mut control, b"r");
        assert_eq!(util::read_n(&mut control, 1), b"+");
        data.shutdown(std::net::Shutdown::Write).expect("shutdown");
        tx.send(sent).expect("send");
        assert_eq!(util::read_to_end(&mut data), b"");
    });
    util::run(&mut reactor);
    client.join();
    let sent = rx.recv().expect("sent");
    assert_eq!(*counted.borrow(), sent, "everything sent while paused arrives after the resume");
}

/// What a push producer heard, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    Pause,
    Resume,
    Stop,
}

/// A switch the writing timer obeys, and a log of what it was told.
struct Switch {
    on: Rc<std::cell::Cell<bool>>,
    heard: Rc<RefCell<Vec<Heard>>>,
}

impl reel::producer::PushProducer for Switch {
    fn pause_producing(&mut self, _cx: &mut ReactorContext<'_>) {
        self.on.set(false);
        self.heard.borrow_mut().push(Heard::Pause);
    }
    fn resume_producing(&mut self, _cx: &mut ReactorContext<'_>) {
        self.on.set(true);
        self.heard.borrow_mut().push(Heard::Resume);
    }
    fn stop_producing(&mut self, _cx: &mut ReactorContext<'_>) {
        self.heard.borrow_mut().push(Heard::Stop);
    }
}

/// A push producer that is not a connection: a repeating timer writes
/// 16 KiB pieces to two consumers for as long as its switch is on. The
/// switch is turned off inside the write that fills a consumer (the timer's
/// loop would otherwise never end), on again when both have drained; the
/// queues stay bounded, the notifications alternate, and when both
/// consumers are gone the producer hears `stop_producing`.
#[test]
fn a_push_producer_is_told_inside_the_write_and_fans_out() {
    const PIECE: usize = 16 * 1024;
    const TOTAL: usize = 8 * MIB;
    struct Sink(Rc<RefCell<Vec<ConnId>>>);
    impl Protocol for Sink {
        fn connection_made(&mut self, cx: &mut Context<'_>) {
            self.0.borrow_mut().push(cx.conn_id());
        }
        fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
    }
    let mut reactor = util::reactor();
    let conns = Rc::new(RefCell::new(Vec::new()));
    let c2 = Rc::clone(&conns);
    let lid = reactor.listen_tcp("127.0.0.1:0", move |_| Sink(Rc::clone(&c2))).expect("listen");
    let addr = reactor.listener_addr(lid).expect("addr");
    let on = Rc::new(std::cell::Cell::new(false));
    let heard = Rc::new(RefCell::new(Vec::new()));
    let max_queued = Rc::new(std::cell::Cell::new(0));
    let (on2, heard2, max2, conns2) = (Rc::clone(&on), Rc::clone(&heard), Rc::clone(&max_queued), Rc::clone(&conns));
    let mut sent = 0usize;
    reactor.call_every(Duration::from_millis(1), move |cx| {
        let targets = conns2.borrow().clone();
        if targets.len() < 2 {
            return;
        }
        if sent == 0 && !on2.get() && heard2.borrow().is_empty() {
            // Both consumers are here: register, then start.
            let switch = Switch { on: Rc::clone(&on2), heard: Rc::clone(&heard2) };
            let id = cx.register_push_producer(targets[0], switch).expect("register");
            assert!(cx.add_consumer(id, targets[1]));
            assert!(!cx.add_consumer(id, targets[1]), "once per consumer");
            on2.set(true);
        }
        // Writes until told to stop: only a pause inside the write ends
        // this loop before everything is queued.
        while on2.get() && sent < TOTAL {
            let piece = util::pattern(sent, PIECE);
            for &t in &targets {
                cx.write_to(t, &piece);
                max2.set(max2.get().max(cx.queued_of(t)));
            }
            sent += PIECE;
        }
        if sent == TOTAL {
            for &t in &targets {
                cx.close_conn(t);
            }
            sent += 1;
        }
    });
    let client = util::client(&reactor, move || {
        let mut a = util::connect(addr);
        let mut b = util::connect(addr);
        let reader = std::thread::spawn(move || {
            let got = read_slowly(&mut b, TOTAL);
            assert_eq!(util::read_to_end(&mut b), b"");
            got
        });
        let got = read_slowly(&mut a, TOTAL);
        util::check_pattern(&got, TOTAL);
        assert_eq!(util::read_to_end(&mut a), b"");
        util::check_pattern(&reader.join().expect("second reader"), TOTAL);
    });
    util::run_limited(&mut reactor, Duration::from_secs(20));
    client.join();
    let heard = heard.borrow();
    assert!(max_queued.get() <= HIGH + PIECE, "a consumer's queue reached {}", max_queued.get());
    assert!(heard.len() >= 3, "{heard:?}");
    assert_eq!(heard.last(), Some(&Heard::Stop), "{heard:?}");
    for (i, h) in heard[..heard.len() - 1].iter().enumerate() {
        let want = if i % 2 == 0 { Heard::Pause } else { Heard::Resume };
        assert_eq!(*h, want, "notification {i} out of order: {heard:?}");
    }
}
