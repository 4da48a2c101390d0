//! Back-pressure: the hard output limit disconnects a peer that does not
//! read (and only it), the water marks call `pause_writing` and
//! `resume_writing` where configured, and `pause_reading` holds data in the
//! kernel until `resume_reading` delivers it without a new edge.

mod util;

use std::net::Shutdown;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use reel::{ConnId, Context, ListenOptions, OutputLimit, Protocol, Reason, TimerId};
use util::{End, Log};

// ----- the hard output limit -------------------------------------------------------

const LIMIT: usize = 256 * 1024;
const FLOOD_CHUNK: usize = 32 * 1024;

#[derive(Debug, Clone, PartialEq)]
enum Ev {
    /// Bytes queued just before a flood write.
    Write(usize),
    Lost(Reason),
}

/// Echoes lines; on "flood" writes the pattern every millisecond, ignoring
/// `pause_writing`, as a server that does not care would.
struct Flooder {
    buf: Vec<u8>,
    sent: usize,
    events: Log<(ConnId, Ev)>,
    lost_tx: mpsc::Sender<Reason>,
}

impl Protocol for Flooder {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.buf.extend_from_slice(data);
        while let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=end).collect();
            if line == b"flood\n" {
                cx.set_interval(Duration::from_millis(1));
            } else {
                cx.write(&line);
            }
        }
    }
    fn timer_fired(&mut self, cx: &mut Context<'_>, _timer: TimerId) {
        for _ in 0..4 {
            if cx.is_closing() {
                return;
            }
            self.events.borrow_mut().push((cx.conn_id(), Ev::Write(cx.queued())));
            cx.write(&util::pattern(self.sent, FLOOD_CHUNK));
            self.sent += FLOOD_CHUNK;
        }
    }
    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.events.borrow_mut().push((cx.conn_id(), Ev::Lost(reason.clone())));
        let _ = self.lost_tx.send(reason);
    }
}

#[test]
fn a_peer_that_never_reads_is_dropped_at_the_output_ceiling_while_others_are_served() {
    let mut reactor = util::reactor();
    let events = util::log();
    let (lost_tx, lost_rx) = mpsc::channel();
    let mut opts = ListenOptions::default();
    // The absolute ceiling cuts at once, whatever the stall timer says.
    opts.tcp.output_limit = LIMIT;
    opts.tcp.output_ceiling = LIMIT;
    let factory = {
        let events = Rc::clone(&events);
        move |_| {
            Box::new(Flooder { buf: Vec::new(), sent: 0, events: Rc::clone(&events), lost_tx: lost_tx.clone() })
                as Box<dyn Protocol>
        }
    };
    let lid = reactor.listen_tcp_with("127.0.0.1:0", factory, opts).expect("listen");
    let addr = reactor.listener_addr(lid).unwrap();
    let client = util::client(&reactor, move || {
        let mut fast = util::connect(addr);
        util::echo_round_trips(&mut fast, "before", 10);
        let mut slow = util::connect_small_rcvbuf(addr, 16 * 1024);
        util::write_all(&mut slow, b"flood\n");
        // Served all along while the slow one floods...
        let mut during = 0;
        let reason = loop {
            match lost_rx.try_recv() {
                Ok(reason) => break reason,
                Err(mpsc::TryRecvError::Empty) => {
                    util::echo_round_trips(&mut fast, "during", 1);
                    during += 1;
                    assert!(during < 100_000, "the slow peer was never disconnected");
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(reason, Reason::OutputLimitExceeded(OutputLimit::Ceiling));
        // ... and after it is gone.
        util::echo_round_trips(&mut fast, "after", 100);
        // What the slow peer did get is an unbroken prefix of the flood.
        let end = util::read_until_end(&mut slow);
        let got = end.data();
        assert!(matches!(end, End::Reset(_) | End::Eof(_)));
        let whole = got.len() / 8 * 8;
        util::check_pattern(&got[..whole], whole);
    });
    util::run(&mut reactor);
    client.join();

    let events = events.borrow();
    let lost: Vec<(ConnId, Reason)> = events
        .iter()
        .filter_map(|(id, e)| match e {
            Ev::Lost(r) => Some((*id, r.clone())),
            Ev::Write(_) => None,
        })
        .collect();
    assert_eq!(lost.len(), 2, "one connection_lost per connection: {lost:?}");
    let slow = lost
        .iter()
        .find(|(_, r)| *r == Reason::OutputLimitExceeded(OutputLimit::Ceiling))
        .expect("slow peer dropped")
        .0;
    let fast = lost.iter().find(|(id, _)| *id != slow).expect("fast peer").1.clone();
    // The client closing or the reactor stopping, whichever comes first.
    assert!(fast.is_clean(), "the reading peer ends cleanly, got {fast:?}");
    let writes: Vec<usize> = events
        .iter()
        .filter_map(|(id, e)| match e {
            Ev::Write(q) if *id == slow => Some(*q),
            _ => None,
        })
        .collect();
    assert!(writes.iter().all(|&q| q <= LIMIT), "the queue never went past the limit unpunished: {writes:?}");
    let last = *writes.last().expect("flood writes");
    assert!(last + FLOOD_CHUNK > LIMIT, "dropped only once the queue passed the limit: last queued {last}");
}

// ----- water marks -----------------------------------------------------------------

const HIGH: usize = 128 * 1024;
const LOW: usize = 32 * 1024;
const TICK_CHUNK: usize = 16 * 1024;
const TOTAL: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Pause(usize),
    Resume(usize),
}

/// A push producer in the Twisted sense: writes one chunk per millisecond
/// while not paused, closes after `TOTAL` bytes.
struct Ticker {
    sent: usize,
    paused: bool,
    marks: Log<Mark>,
    paused_tx: mpsc::Sender<()>,
    wrote_while_paused: Rc<std::cell::Cell<bool>>,
}

impl Protocol for Ticker {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.set_interval(Duration::from_millis(1));
    }
    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
    fn timer_fired(&mut self, cx: &mut Context<'_>, timer: TimerId) {
        if self.paused || self.sent == TOTAL {
            return;
        }
        if cx.queued() > HIGH {
            // The reactor pauses after the callback that passed the mark.
            self.wrote_while_paused.set(true);
        }
        cx.write(&util::pattern(self.sent, TICK_CHUNK));
        self.sent += TICK_CHUNK;
        if self.sent == TOTAL {
            cx.cancel_timer(timer);
            cx.close();
        }
    }
    fn pause_writing(&mut self, cx: &mut Context<'_>) {
        self.marks.borrow_mut().push(Mark::Pause(cx.queued()));
        self.paused = true;
        let _ = self.paused_tx.send(());
    }
    fn resume_writing(&mut self, cx: &mut Context<'_>) {
        self.marks.borrow_mut().push(Mark::Resume(cx.queued()));
        self.paused = false;
    }
}

#[test]
fn pause_and_resume_writing_come_at_the_configured_water_marks() {
    let mut reactor = util::reactor();
    let marks = util::log();
    let wrote_while_paused = Rc::new(std::cell::Cell::new(false));
    let (paused_tx, paused_rx) = mpsc::channel();
    let mut opts = ListenOptions::default();
    opts.tcp.high_water = HIGH;
    opts.tcp.low_water = LOW;
    let factory = {
        let marks = Rc::clone(&marks);
        let wrote_while_paused = Rc::clone(&wrote_while_paused);
        move |_| {
            Box::new(Ticker {
                sent: 0,
                paused: false,
                marks: Rc::clone(&marks),
                paused_tx: paused_tx.clone(),
                wrote_while_paused: Rc::clone(&wrote_while_paused),
            }) as Box<dyn Protocol>
        }
    };
    let lid = reactor.listen_tcp_with("127.0.0.1:0", factory, opts).expect("listen");
    let addr = reactor.listener_addr(lid).unwrap();
    let client = util::client(&reactor, move || {
        let mut s = util::connect_small_rcvbuf(addr, 16 * 1024);
        paused_rx.recv_timeout(util::IO_TIMEOUT).expect("pause_writing never came");
        let data = util::read_to_end(&mut s);
        util::check_pattern(&data, TOTAL);
    });
    util::run(&mut reactor);
    client.join();

    assert!(!wrote_while_paused.get(), "the queue passed the high water mark without pause_writing");
    let marks = marks.borrow();
    assert!(marks.len() >= 2, "at least one pause and one resume: {marks:?}");
    for (i, mark) in marks.iter().enumerate() {
        match *mark {
            Mark::Pause(q) => {
                assert_eq!(i % 2, 0, "alternating, pause first: {marks:?}");
                assert!(q > HIGH && q <= HIGH + TICK_CHUNK, "paused at {q} queued; high water {HIGH}");
            }
            Mark::Resume(q) => {
                assert_eq!(i % 2, 1, "alternating, pause first: {marks:?}");
                assert!(q <= LOW, "resumed at {q} queued; low water {LOW}");
            }
        }
    }
}

// ----- pause_reading ----------------------------------------------------------------

const PART2: usize = 32 * 1024;

/// Pauses reading after the first bytes, tells the client, and resumes once
/// the client says (through the reactor handle) that it has sent more.
struct Pausable {
    received: usize,
    received_while_paused: usize,
    paused: bool,
    client_sent: Arc<AtomicBool>,
    log: Log<String>,
}

impl Protocol for Pausable {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if self.paused {
            self.received_while_paused += data.len();
        }
        self.received += data.len();
        if self.received == 5 && !self.paused {
            // "first" is in.
            cx.pause_reading();
            assert!(cx.is_reading_paused());
            self.paused = true;
            cx.write(b"paused\n");
            cx.set_interval(Duration::from_millis(10));
        } else if self.received == 5 + PART2 {
            cx.write(format!("got {}\n", self.received - 5).as_bytes());
        }
    }
    fn eof_received(&mut self, cx: &mut Context<'_>) {
        self.log.borrow_mut().push(format!("eof after {}", self.received));
        cx.write(b"bye\n");
        cx.close();
    }
    fn timer_fired(&mut self, cx: &mut Context<'_>, timer: TimerId) {
        if self.client_sent.load(Ordering::Acquire) {
            cx.cancel_timer(timer);
            self.log.borrow_mut().push(format!("while paused {}", self.received_while_paused));
            self.paused = false;
            cx.resume_reading();
            assert!(!cx.is_reading_paused());
        }
    }
}

fn pause_reading_case(then_eof: bool) -> Vec<String> {
    let mut reactor = util::reactor();
    let log = util::log();
    let client_sent = Arc::new(AtomicBool::new(false));
    let factory = {
        let log = Rc::clone(&log);
        let client_sent = Arc::clone(&client_sent);
        move |_| {
            Box::new(Pausable {
                received: 0,
                received_while_paused: 0,
                paused: false,
                client_sent: Arc::clone(&client_sent),
                log: Rc::clone(&log),
            }) as Box<dyn Protocol>
        }
    };
    let lid = reactor.listen_tcp("127.0.0.1:0", factory).expect("listen");
    let addr = reactor.listener_addr(lid).unwrap();
    let handle = reactor.handle();
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        util::write_all(&mut s, b"first");
        assert_eq!(util::read_line(&mut s), "paused");
        // All of it goes out while the server is paused: it waits in the
        // server's receive buffer, and no edge comes after the resume.
        util::write_all(&mut s, &vec![7u8; PART2]);
        if then_eof {
            s.shutdown(Shutdown::Write).expect("shutdown(Write)");
        }
        handle.call_from_thread(move |_| client_sent.store(true, Ordering::Release));
        assert_eq!(util::read_line(&mut s), format!("got {PART2}"));
        if then_eof {
            assert_eq!(util::read_line(&mut s), "bye");
            assert!(util::read_to_end(&mut s).is_empty());
        }
    });
    util::run(&mut reactor);
    client.join();
    let log = log.borrow().clone();
    log
}

#[test]
fn pause_reading_holds_data_and_resume_reading_delivers_it_without_a_new_edge() {
    // (An EOF may follow when the client hangs up.)
    assert_eq!(pause_reading_case(false)[0], "while paused 0");
}

#[test]
fn resume_reading_delivers_data_and_eof_that_waited_in_the_kernel() {
    assert_eq!(pause_reading_case(true), vec!["while paused 0".to_string(), format!("eof after {}", 5 + PART2)]);
}
