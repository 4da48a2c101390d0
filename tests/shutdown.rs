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

/// Echoes; says when its queued replies passed the high water mark (flow
/// control has paused its reading then), and how many bytes it had echoed
/// when it closed: on `stop_requested`, or, with `close_when_paused`, at
/// once in `pause_writing`.
struct PausedEcho {
    close_when_paused: bool,
    echoed: usize,
    paused_tx: mpsc::Sender<()>,
    echoed_tx: mpsc::Sender<usize>,
}

/// The socket buffers of both ends in the tests below: fixed (no
/// autotuning), so that flow control pauses the server, and the client's
/// sends block, after a known amount whatever the host's settings.
const BUFFER: usize = 256 * 1024;

impl Protocol for PausedEcho {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        let sock = cx.sock_ref().expect("a TCP connection has a socket");
        sock.set_send_buffer_size(BUFFER).expect("SO_SNDBUF");
        sock.set_recv_buffer_size(BUFFER).expect("SO_RCVBUF");
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.echoed += data.len();
        cx.write(data);
    }
    fn pause_writing(&mut self, cx: &mut Context<'_>) {
        let _ = self.paused_tx.send(());
        if self.close_when_paused {
            let _ = self.echoed_tx.send(self.echoed);
            cx.close();
        }
    }
    fn stop_requested(&mut self, cx: &mut Context<'_>) {
        let _ = self.echoed_tx.send(self.echoed);
        cx.close();
    }
}

/// A client pipelines 16 MiB without reading, so that the server's replies
/// fill both socket buffers and flow control pauses its reading, with the
/// client's input piling up unread in the kernel; the server closes (told
/// to stop, or on its own); only then the client reads. Returns what the
/// server had echoed, how the client's stream ended, and whether all of the
/// client's sends went through.
fn pipeline_unread_then_close(close_when_paused: bool) -> (usize, util::End, bool) {
    const TOTAL: usize = 16 * 1024 * 1024;
    let mut reactor = util::reactor();
    let (paused_tx, paused_rx) = mpsc::channel();
    let (echoed_tx, echoed_rx) = mpsc::channel();
    let factory = move |_| {
        let (paused_tx, echoed_tx) = (paused_tx.clone(), echoed_tx.clone());
        Box::new(PausedEcho { close_when_paused, echoed: 0, paused_tx, echoed_tx }) as Box<dyn Protocol>
    };
    let lid = reactor.listen_tcp("127.0.0.1:0", factory).expect("listen");
    let addr = reactor.listener_addr(lid).unwrap();
    let handle = reactor.handle();
    let client = util::client(&reactor, move || {
        let mut s = util::connect_small_rcvbuf(addr, 16 * 1024);
        socket2::SockRef::from(&s).set_send_buffer_size(BUFFER).expect("SO_SNDBUF");
        let mut w = s.try_clone().expect("clone");
        let writer = std::thread::spawn(move || std::io::Write::write_all(&mut w, &util::pattern(0, TOTAL)).is_ok());
        paused_rx.recv_timeout(util::IO_TIMEOUT).expect("flow control paused the server");
        if !close_when_paused {
            handle.stop();
        }
        let echoed = echoed_rx.recv_timeout(util::IO_TIMEOUT).expect("the server closed");
        let end = util::read_until_end(&mut s);
        let sent_all = writer.join().expect("writer thread");
        (echoed, end, sent_all)
    });
    util::run(&mut reactor);
    client.join()
}

/// Checks that the client read exactly the `echoed` bytes the server
/// echoed, in order, and then a clean EOF.
fn check_echo(end: &util::End, echoed: usize) {
    let data = end.data();
    assert!(matches!(end, util::End::Eof(_)), "a reset after {} of {echoed} bytes", data.len());
    assert_eq!(data.len(), echoed, "bytes echoed before the EOF");
    let expected = util::pattern(0, echoed.next_multiple_of(8));
    assert!(data == &expected[..echoed], "the replies differ from the input");
}

/// Seen by the black-box tester on echo_hello: the stop's drain ended as
/// soon as every connection was flushed and lingering, and the halt then
/// closed them with the client's input unread, so the kernel reset them
/// and destroyed the replies still in flight.
#[test]
fn a_stop_delivers_every_reply_to_a_client_whose_input_is_unread() {
    let (echoed, end, sent_all) = pipeline_unread_then_close(false);
    check_echo(&end, echoed);
    assert!(sent_all, "the server reset the connection instead of reading the client's input to its end");
}

/// The same with a protocol's own close, made while flow control has its
/// reading paused.
#[test]
fn a_close_while_reading_is_paused_delivers_every_reply() {
    let (echoed, end, sent_all) = pipeline_unread_then_close(true);
    check_echo(&end, echoed);
    assert!(sent_all, "the server reset the connection instead of reading the client's input to its end");
}
