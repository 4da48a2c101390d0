//! Slot reuse: connections opened and closed rapidly (cleanly by either
//! side, or reset) reuse slab slots; nothing meant for an old connection,
//! an event, a timer or a `write_to` by its `ConnId`, reaches the new one.

mod util;

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use reel::{ConnId, Context, Protocol, Reason, TimerId};

#[derive(Default)]
struct Registry {
    /// Every connection ever made, in order: (id, serial).
    made: Vec<(ConnId, u32)>,
    /// Connections gone, with how many times `connection_lost` ran.
    lost: Vec<(ConnId, Reason)>,
    /// Anything that reached the wrong connection.
    errors: Vec<String>,
    /// `write_to` calls on dead ids, and how many were accepted.
    stale_writes: usize,
    stale_accepted: usize,
}

/// Greets with its serial; expects the client to echo that serial; on
/// "close" closes, on "bye" answers and waits for the peer. Every new
/// connection writes to a few dead ids, which must all be refused.
struct Tenant {
    serial: u32,
    reg: Rc<RefCell<Registry>>,
    timers: Vec<TimerId>,
    lost: bool,
    buf: Vec<u8>,
}

impl Protocol for Tenant {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        let me = cx.conn_id();
        let dead: Vec<ConnId> = {
            let reg = self.reg.borrow();
            reg.lost.iter().rev().take(64).map(|(id, _)| *id).collect()
        };
        for old in dead {
            let accepted = cx.write_to(old, b"POISON\n");
            let mut reg = self.reg.borrow_mut();
            reg.stale_writes += 1;
            if accepted {
                reg.stale_accepted += 1;
                reg.errors.push(format!("{me:?}: write_to({old:?}) of a dead connection accepted"));
            }
        }
        self.reg.borrow_mut().made.push((me, self.serial));
        cx.write(format!("{}\n", self.serial).as_bytes());
        // A timer that outlives most connections: must never reach a
        // later tenant of the slot.
        self.timers.push(cx.set_timer(Duration::from_millis(3)));
        self.timers.push(cx.set_timer(Duration::ZERO));
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if self.lost {
            self.reg.borrow_mut().errors.push(format!("serial {}: data after connection_lost", self.serial));
        }
        self.buf.extend_from_slice(data);
        while let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            let mut words = line.split(' ');
            let serial: u32 = words.next().and_then(|w| w.parse().ok()).unwrap_or(u32::MAX);
            if serial != self.serial {
                self.reg.borrow_mut().errors.push(format!("serial {} got {line:?}", self.serial));
            }
            match words.next() {
                Some("close") => {
                    cx.write(b"ok\n");
                    cx.close();
                }
                _ => cx.write(b"ok\n"),
            }
        }
    }
    fn timer_fired(&mut self, cx: &mut Context<'_>, timer: TimerId) {
        if self.lost || !self.timers.contains(&timer) {
            self.reg.borrow_mut().errors.push(format!(
                "serial {} ({:?}) got a foreign timer {timer:?}",
                self.serial,
                cx.conn_id()
            ));
        }
    }
    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        if self.lost {
            self.reg.borrow_mut().errors.push(format!("serial {}: connection_lost twice", self.serial));
        }
        self.lost = true;
        self.reg.borrow_mut().lost.push((cx.conn_id(), reason));
    }
}

#[test]
fn rapid_churn_reuses_slots_and_nothing_reaches_the_wrong_connection() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 250;
    let mut reactor = util::reactor();
    let reg = Rc::new(RefCell::new(Registry::default()));
    let factory = {
        let reg = Rc::clone(&reg);
        let mut serial = 0;
        move |_| {
            serial += 1;
            Box::new(Tenant { serial, reg: Rc::clone(&reg), timers: Vec::new(), lost: false, buf: Vec::new() })
                as Box<dyn Protocol>
        }
    };
    let lid = reactor.listen_tcp("127.0.0.1:0", factory).expect("listen");
    let addr = reactor.listener_addr(lid).unwrap();
    let client = util::client(&reactor, move || {
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                scope.spawn(move || {
                    for i in 0..PER_THREAD {
                        let mut s = util::connect(addr);
                        let serial = util::read_line(&mut s);
                        assert_ne!(serial, "POISON");
                        match (t + i) % 4 {
                            // The client closes cleanly.
                            0 => {
                                util::write_all(&mut s, format!("{serial}\n").as_bytes());
                                assert_eq!(util::read_line(&mut s), "ok");
                            }
                            // The server closes.
                            1 => {
                                util::write_all(&mut s, format!("{serial} close\n").as_bytes());
                                assert_eq!(util::read_line(&mut s), "ok");
                                assert!(util::read_to_end(&mut s).is_empty());
                            }
                            // The client resets, with a request in flight.
                            2 => {
                                util::write_all(&mut s, format!("{serial}\n").as_bytes());
                                socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).expect("SO_LINGER");
                            }
                            // The client half-closes and waits for the end.
                            _ => {
                                util::write_all(&mut s, format!("{serial}\n").as_bytes());
                                s.shutdown(std::net::Shutdown::Write).expect("shutdown");
                                let rest = util::read_to_end(&mut s);
                                assert_eq!(rest, b"ok\n");
                            }
                        }
                    }
                });
            }
        });
    });
    util::run(&mut reactor);
    client.join();

    let reg = reg.borrow();
    assert!(reg.errors.is_empty(), "{} errors, first: {:?}", reg.errors.len(), &reg.errors[..reg.errors.len().min(5)]);
    let total = THREADS * PER_THREAD;
    assert_eq!(reg.made.len(), total);
    assert_eq!(reg.lost.len(), total, "connection_lost once for every connection");
    let lost_ids: HashSet<ConnId> = reg.lost.iter().map(|(id, _)| *id).collect();
    assert_eq!(lost_ids.len(), total, "ids are unique even when slots are reused");
    let slots: HashSet<u32> = reg.made.iter().map(|(id, _)| util::slot_index(*id)).collect();
    assert!(slots.len() <= THREADS * 4, "slots were reused: {} slots for {total} connections", slots.len());
    assert!(reg.stale_writes > total, "the test wrote to dead ids {} times", reg.stale_writes);
    assert_eq!(reg.stale_accepted, 0);
}
