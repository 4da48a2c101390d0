//! Timers: order, cancel, reset, repeating timers (cancelled from inside,
//! skipping missed intervals), connection timers, and the manual clock.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reel::{Clock, Context, Protocol, Reactor, ReactorContext, Reason, TimerId};
use util::Log;

const MS: Duration = Duration::from_millis(1);

/// A reactor on a manual clock.
fn manual() -> (Reactor, Clock) {
    let mut cfg = util::config();
    let clock = Clock::manual();
    cfg.clock = clock.clone();
    (util::reactor_with(cfg), clock)
}

/// Moves the manual clock and runs one turn without waiting.
fn step(reactor: &mut Reactor, clock: &Clock, by: Duration) {
    clock.advance(by);
    reactor.turn(Some(Duration::ZERO)).expect("turn");
}

fn recorder(log: &Log<&'static str>, name: &'static str) -> impl FnOnce(&mut ReactorContext<'_>) + 'static {
    let log = Rc::clone(log);
    move |_| log.borrow_mut().push(name)
}

#[test]
fn timers_fire_in_deadline_order_and_equal_deadlines_in_the_order_set() {
    let (mut reactor, clock) = manual();
    let fired = util::log();
    for (delay, name) in [(30, "a"), (10, "b"), (20, "c"), (10, "d"), (0, "e"), (20, "f"), (10, "g")] {
        reactor.call_later(delay * MS, recorder(&fired, name));
    }
    step(&mut reactor, &clock, 100 * MS);
    assert_eq!(*fired.borrow(), vec!["e", "b", "d", "g", "c", "f", "a"]);

    // A hundred timers with one deadline fire in the order they were set.
    let order = Rc::new(RefCell::new(Vec::new()));
    for i in 0..100 {
        let order = Rc::clone(&order);
        reactor.call_later(5 * MS, move |_| order.borrow_mut().push(i));
    }
    step(&mut reactor, &clock, 5 * MS);
    assert_eq!(*order.borrow(), (0..100).collect::<Vec<_>>());
}

#[test]
fn timers_on_the_system_clock_fire_in_order_and_not_early() {
    let mut reactor = util::reactor();
    let start = Instant::now();
    let fired: Log<(u32, Duration)> = util::log();
    for delay in [40u32, 10, 30, 20] {
        let fired = Rc::clone(&fired);
        reactor.call_later(delay * MS, move |cx| {
            fired.borrow_mut().push((delay, start.elapsed()));
            if delay == 40 {
                cx.stop();
            }
        });
    }
    util::run(&mut reactor);
    let fired = fired.borrow();
    assert_eq!(fired.iter().map(|(d, _)| *d).collect::<Vec<_>>(), vec![10, 20, 30, 40]);
    for (delay, at) in fired.iter() {
        assert!(*at >= *delay * MS, "timer of {delay} ms fired early, at {at:?}");
    }
}

#[test]
fn cancelled_timers_never_fire() {
    let (mut reactor, clock) = manual();
    let fired = util::log();
    let a = reactor.call_later(10 * MS, recorder(&fired, "a"));
    let b = reactor.call_later(10 * MS, recorder(&fired, "b"));
    let c_slot: Rc<Cell<Option<TimerId>>> = Rc::new(Cell::new(None));
    {
        // "d" fires first and cancels "c", due in the same turn.
        let (fired, c_slot) = (Rc::clone(&fired), Rc::clone(&c_slot));
        reactor.call_later(5 * MS, move |cx| {
            fired.borrow_mut().push("d");
            let c = c_slot.get().expect("c is set");
            assert!(cx.timer_active(c));
            assert!(cx.cancel_timer(c), "cancel of a pending timer");
            assert!(!cx.timer_active(c));
        });
    }
    let c = reactor.call_later(10 * MS, recorder(&fired, "c"));
    c_slot.set(Some(c));
    assert!(reactor.cancel_timer(b), "cancel of a pending timer");
    assert!(!reactor.cancel_timer(b), "a second cancel finds nothing");
    clock.advance(10 * MS);
    reactor.turn(Some(Duration::ZERO)).unwrap();
    step(&mut reactor, &clock, 100 * MS);
    assert_eq!(*fired.borrow(), vec!["d", "a"]);
    assert!(!reactor.cancel_timer(a), "a fired timer cannot be cancelled");
    // Slots of cancelled timers are reused; the old ids stay dead.
    let e = reactor.call_later(10 * MS, recorder(&fired, "e"));
    assert!(!reactor.cancel_timer(b));
    assert!(!reactor.cancel_timer(c));
    step(&mut reactor, &clock, 10 * MS);
    assert_eq!(*fired.borrow(), vec!["d", "a", "e"]);
    assert!(!reactor.context().timer_active(e));
}

#[test]
fn reset_timer_moves_a_timer() {
    let (mut reactor, clock) = manual();
    let fired = util::log();
    let a = reactor.call_later(10 * MS, recorder(&fired, "a"));
    reactor.call_later(20 * MS, recorder(&fired, "b"));
    let c = reactor.call_later(50 * MS, recorder(&fired, "c"));
    assert!(reactor.context().reset_timer(a, 30 * MS), "later");
    assert!(reactor.context().reset_timer(c, 5 * MS), "earlier");
    step(&mut reactor, &clock, 5 * MS);
    assert_eq!(*fired.borrow(), vec!["c"]);
    step(&mut reactor, &clock, 5 * MS); // t = 10: a's old deadline
    assert_eq!(*fired.borrow(), vec!["c"]);
    step(&mut reactor, &clock, 10 * MS); // t = 20
    assert_eq!(*fired.borrow(), vec!["c", "b"]);
    step(&mut reactor, &clock, 9 * MS); // t = 29
    assert_eq!(*fired.borrow(), vec!["c", "b"]);
    step(&mut reactor, &clock, MS); // t = 30
    assert_eq!(*fired.borrow(), vec!["c", "b", "a"]);
    assert!(!reactor.context().reset_timer(a, MS), "a fired timer cannot be reset");
}

#[test]
fn call_every_repeats_and_can_cancel_itself_from_its_callback() {
    let (mut reactor, clock) = manual();
    let count = Rc::new(Cell::new(0));
    let me: Rc<Cell<Option<TimerId>>> = Rc::new(Cell::new(None));
    let id = {
        let (count, me) = (Rc::clone(&count), Rc::clone(&me));
        reactor.call_every(10 * MS, move |cx| {
            count.set(count.get() + 1);
            if count.get() == 3 {
                let id = me.get().expect("own id");
                assert!(cx.cancel_timer(id), "cancel from inside its own callback");
            }
        })
    };
    me.set(Some(id));
    step(&mut reactor, &clock, 9 * MS);
    assert_eq!(count.get(), 0, "first after one interval");
    for expected in [1, 2, 3, 3, 3, 3] {
        step(&mut reactor, &clock, if expected == 1 { MS } else { 10 * MS });
        assert_eq!(count.get(), expected);
    }
    assert!(!reactor.context().timer_active(id));
    assert!(!reactor.cancel_timer(id));
}

#[test]
fn call_every_on_the_system_clock_repeats_until_cancelled() {
    let mut reactor = util::reactor();
    let count = Rc::new(Cell::new(0));
    let me: Rc<Cell<Option<TimerId>>> = Rc::new(Cell::new(None));
    let id = {
        let (count, me) = (Rc::clone(&count), Rc::clone(&me));
        reactor.call_every(2 * MS, move |cx| {
            count.set(count.get() + 1);
            if count.get() == 5 {
                cx.cancel_timer(me.get().unwrap());
                // Long enough for a few more intervals, were it not cancelled.
                cx.call_later(30 * MS, |cx| cx.stop());
            }
        })
    };
    me.set(Some(id));
    util::run(&mut reactor);
    assert_eq!(count.get(), 5);
}

#[test]
fn a_manual_clock_drives_timers_without_real_waiting() {
    let (mut reactor, clock) = manual();
    let start = Instant::now();
    let fired = util::log();
    reactor.call_later(Duration::from_secs(3600), recorder(&fired, "an hour"));
    reactor.call_later(Duration::from_secs(86_400), recorder(&fired, "a day"));
    let t0 = reactor.now();
    step(&mut reactor, &clock, Duration::ZERO);
    step(&mut reactor, &clock, Duration::from_secs(3599));
    assert!(fired.borrow().is_empty());
    step(&mut reactor, &clock, Duration::from_secs(1));
    assert_eq!(*fired.borrow(), vec!["an hour"]);
    step(&mut reactor, &clock, Duration::from_secs(86_400));
    assert_eq!(*fired.borrow(), vec!["an hour", "a day"]);
    assert_eq!(reactor.now() - t0, Duration::from_secs(3600 + 86_400));
    assert!(start.elapsed() < Duration::from_secs(1), "no real waiting: took {:?}", start.elapsed());
}

#[test]
fn a_repeating_timer_skips_missed_intervals() {
    let (mut reactor, clock) = manual();
    let fired: Log<Duration> = util::log();
    let t0 = reactor.now();
    {
        let fired = Rc::clone(&fired);
        reactor.call_every(10 * MS, move |cx| fired.borrow_mut().push(cx.now() - t0));
    }
    // 3.5 intervals late: one call, not three...
    step(&mut reactor, &clock, 35 * MS);
    assert_eq!(*fired.borrow(), vec![35 * MS]);
    // ... and the next is due at the 4th interval, on the original grid.
    step(&mut reactor, &clock, 4 * MS); // t = 39
    assert_eq!(fired.borrow().len(), 1, "fired before the 4th interval");
    step(&mut reactor, &clock, MS); // t = 40
    assert_eq!(*fired.borrow(), vec![35 * MS, 40 * MS], "due at the 4th interval");
    step(&mut reactor, &clock, 10 * MS); // t = 50
    assert_eq!(*fired.borrow(), vec![35 * MS, 40 * MS, 50 * MS]);
}

// ----- connection timers ------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Fired(&'static str),
    Lost(Reason),
}

/// Sets a short and a long timer; tells the client when the short one fired.
struct Timed {
    short: Option<TimerId>,
    long: Option<TimerId>,
    events: Log<Ev>,
    long_out: Rc<Cell<Option<TimerId>>>,
}

impl Protocol for Timed {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.short = Some(cx.set_timer(5 * MS));
        let long = cx.set_timer(100 * MS);
        self.long = Some(long);
        self.long_out.set(Some(long));
    }
    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
    fn timer_fired(&mut self, cx: &mut Context<'_>, timer: TimerId) {
        if Some(timer) == self.short {
            self.events.borrow_mut().push(Ev::Fired("short"));
            cx.write(b"fired\n");
        } else if Some(timer) == self.long {
            self.events.borrow_mut().push(Ev::Fired("long"));
        } else {
            self.events.borrow_mut().push(Ev::Fired("unknown"));
        }
    }
    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.events.borrow_mut().push(Ev::Lost(reason));
        // Wait past the long timer's deadline, then stop.
        cx.call_later(150 * MS, |cx| cx.stop());
    }
}

#[test]
fn a_connection_timer_reaches_timer_fired_and_dies_with_the_connection() {
    let mut reactor = util::reactor();
    let events = util::log();
    let long = Rc::new(Cell::new(None));
    let factory = {
        let (events, long) = (Rc::clone(&events), Rc::clone(&long));
        move |_| {
            Box::new(Timed { short: None, long: None, events: Rc::clone(&events), long_out: Rc::clone(&long) })
                as Box<dyn Protocol>
        }
    };
    let lid = reactor.listen_tcp("127.0.0.1:0", factory).expect("listen");
    let addr = reactor.listener_addr(lid).unwrap();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        assert_eq!(util::read_line(&mut s), "fired");
        drop(s);
        // Let the reactor stop by itself (the protocol's call_later).
        let _ = done_rx.recv_timeout(util::IO_TIMEOUT);
    });
    util::run(&mut reactor);
    drop(done_tx);
    client.join();
    assert_eq!(*events.borrow(), vec![Ev::Fired("short"), Ev::Lost(Reason::PeerClosed)]);
}
