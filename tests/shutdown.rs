//! Graceful stop: protocols are told, queued output is flushed, every
//! connection is lost once, `run` returns; the grace period bounds it; the
//! port is free again at once.

mod util;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reel::{Context, ListenOptions, Protocol, Reason};
use util::Log;

const FAREWELL: usize = 512 * 1024;

/// Greets; on `stop_requested` queues a large farewell and closes.
struct Farewell {
    events: Log<String>,
}

impl Protocol for Farewell {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.write(b"hi\n");
    }
    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
    fn stop_requested(&mut self, cx: &mut Context<'_>) {
        self.events.borrow_mut().push("stop_requested".into());
        cx.write(&util::pattern(0, FAREWELL));
        cx.close();
    }
    fn connection_lost(&mut self, _cx: &mut Context<'_>, reason: Reason) {
        self.events.borrow_mut().push(format!("lost {reason:?}"));
    }
}

#[test]
fn stop_tells_every_protocol_flushes_and_returns() {
    let mut reactor = util::reactor();
    let events = util::log();
    let factory = {
        let events = Rc::clone(&events);
        move |_| Box::new(Farewell { events: Rc::clone(&events) }) as Box<dyn Protocol>
    };
    let lid = reactor.listen_tcp("127.0.0.1:0", factory).expect("listen");
    let addr = reactor.listener_addr(lid).unwrap();
    let handle = reactor.handle();
    let client = util::client(&reactor, move || {
        let mut conns: Vec<_> = (0..3).map(|_| util::connect(addr)).collect();
        for s in &mut conns {
            assert_eq!(util::read_line(s), "hi");
        }
        handle.stop();
        for s in &mut conns {
            let farewell = util::read_to_end(s);
            util::check_pattern(&farewell, FAREWELL);
        }
        // The listener closed when the stop began.
        let refused = std::net::TcpStream::connect_timeout(&addr, util::IO_TIMEOUT);
        assert!(refused.is_err(), "a new connection during the stop must be refused");
    });
    let took = util::run(&mut reactor);
    client.join();
    let events = events.borrow();
    assert_eq!(events.iter().filter(|e| *e == "stop_requested").count(), 3, "{events:?}");
    assert_eq!(events.iter().filter(|e| *e == "lost Closed").count(), 3, "{events:?}");
    assert_eq!(events.len(), 6, "{events:?}");
    assert!(took < util::GRACE, "returned after {took:?}, not by the grace period");
    assert_eq!(reactor.connection_count(), 0);
}

/// Queues 8 MiB for a client that never reads.
struct Hog {
    events: Log<String>,
    queued_tx: mpsc::Sender<()>,
}

impl Protocol for Hog {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.write(&vec![b'x'; 8 * 1024 * 1024]);
        let _ = self.queued_tx.send(());
    }
    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
    fn stop_requested(&mut self, cx: &mut Context<'_>) {
        self.events.borrow_mut().push("stop_requested".into());
        cx.close();
    }
    fn connection_lost(&mut self, _cx: &mut Context<'_>, reason: Reason) {
        self.events.borrow_mut().push(format!("lost {reason:?}"));
    }
}

#[test]
fn the_grace_period_bounds_a_stop_and_ends_the_rest_with_shutdown() {
    const GRACE: Duration = Duration::from_millis(300);
    let mut cfg = util::config();
    cfg.grace_period = GRACE;
    let mut reactor = util::reactor_with(cfg);
    let events = util::log();
    let (queued_tx, queued_rx) = mpsc::channel();
    let mut opts = ListenOptions::default();
    opts.tcp.output_limit = 16 * 1024 * 1024;
    let factory = {
        let events = Rc::clone(&events);
        move |_| Box::new(Hog { events: Rc::clone(&events), queued_tx: queued_tx.clone() }) as Box<dyn Protocol>
    };
    let lid = reactor.listen_tcp_with("127.0.0.1:0", factory, opts).expect("listen");
    let addr = reactor.listener_addr(lid).unwrap();
    let handle = reactor.handle();
    let (returned_tx, returned_rx) = mpsc::channel::<()>();
    let client = util::client(&reactor, move || {
        let s = util::connect_small_rcvbuf(addr, 16 * 1024);
        queued_rx.recv_timeout(util::IO_TIMEOUT).expect("the server queued its output");
        let stopped_at = Instant::now();
        handle.stop();
        // Keep the connection open, unread, until run() has returned.
        let _ = returned_rx.recv_timeout(util::IO_TIMEOUT);
        drop(s);
        stopped_at
    });
    util::run(&mut reactor);
    let returned_at = Instant::now();
    drop(returned_tx);
    let stopped_at = client.join();
    let took = returned_at - stopped_at;
    assert!(took >= GRACE, "run returned {took:?} after stop, before the grace period");
    assert!(took < GRACE + Duration::from_millis(700), "run returned {took:?} after stop");
    assert_eq!(*events.borrow(), vec!["stop_requested".to_string(), "lost Shutdown".to_string()]);
    assert_eq!(reactor.connection_count(), 0);
}

#[test]
fn after_a_stop_the_port_can_be_bound_again_at_once() {
    let mut reactor = util::reactor();
    let lid = reactor.listen_tcp("127.0.0.1:0", util::echo_factory()).expect("listen");
    let addr: SocketAddr = reactor.listener_addr(lid).unwrap();
    let handle = reactor.handle();
    let client = util::client(&reactor, move || {
        // Connections closed by the server (its stop) leave TIME_WAIT
        // sockets on the server's port.
        let mut conns: Vec<_> = (0..3).map(|_| util::connect(addr)).collect();
        for (i, s) in conns.iter_mut().enumerate() {
            util::echo_round_trips(s, &format!("conn {i}"), 3);
        }
        handle.stop();
        for s in &mut conns {
            assert!(util::read_to_end(s).is_empty());
        }
    });
    util::run(&mut reactor);
    client.join();

    // The first reactor still exists: the stop, not a drop, freed the port.
    let mut again = util::reactor();
    let lid2 = again.listen_tcp(addr, util::echo_factory()).expect("the port is free again after stop");
    assert_eq!(again.listener_addr(lid2), Some(addr));
    let client = util::client(&again, move || {
        let mut s = util::connect(addr);
        util::echo_round_trips(&mut s, "again", 3);
    });
    util::run(&mut again);
    client.join();
    drop(reactor);
}

#[test]
fn a_stop_before_run_returns_at_once_and_the_reactor_runs_again() {
    let mut reactor = util::reactor();
    reactor.stop();
    let took = util::run(&mut reactor);
    assert!(took < Duration::from_millis(500), "{took:?}");
    // A second run works like the first.
    let fired = Rc::new(std::cell::Cell::new(false));
    {
        let fired = Rc::clone(&fired);
        reactor.call_later(Duration::from_millis(5), move |cx| {
            fired.set(true);
            cx.stop();
        });
    }
    util::run(&mut reactor);
    assert!(fired.get());
}

/// Records its life; on `stop_requested` connects a newcomer (as a
/// reconnecting client would during a drain) and closes.
struct Reconnector {
    target: SocketAddr,
    events: Log<String>,
    name: &'static str,
}

impl Protocol for Reconnector {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.events.borrow_mut().push(format!("{} made", self.name));
        if self.name == "first" {
            cx.stop();
        }
    }
    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
    fn stop_requested(&mut self, cx: &mut Context<'_>) {
        self.events.borrow_mut().push(format!("{} told to stop", self.name));
        if self.name == "first" {
            let newcomer = Reconnector { target: self.target, events: Rc::clone(&self.events), name: "second" };
            cx.connect_tcp(self.target, newcomer);
        }
        cx.close();
    }
    fn connection_lost(&mut self, _cx: &mut Context<'_>, reason: Reason) {
        self.events.borrow_mut().push(format!("{} lost {reason:?}", self.name));
    }
}

#[test]
fn a_connection_made_during_the_drain_is_told_to_stop() {
    let target = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = target.local_addr().expect("addr");
    // Accepts both clients and holds them until they close.
    let acceptor = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = target.accept().expect("accept");
            std::thread::spawn(move || {
                let mut sink = Vec::new();
                let _ = std::io::Read::read_to_end(&mut s, &mut sink);
            });
        }
    });
    let mut reactor = util::reactor();
    let events = util::log();
    reactor.connect_tcp(addr, Reconnector { target: addr, events: Rc::clone(&events), name: "first" });
    let took = util::run(&mut reactor);
    acceptor.join().expect("acceptor");
    assert!(took < util::GRACE, "the drain ended without waiting for the grace period: {took:?}");
    let events = events.borrow();
    assert_eq!(
        *events,
        [
            "first made",
            "first told to stop",
            "first lost Closed",
            "second made",
            "second told to stop",
            "second lost Closed",
        ],
    );
}
