//! The common connection event (`dispatch::plain`): a readable edge for an
//! open connection with nothing queued is read, answered and flushed on a
//! fused path. These tests hold it to the general path's rules where it
//! hands over: a read that fills the buffer is read on, an answer the
//! socket does not take at once is flushed later, and a callback that also
//! writes to another connection gets both flushed.

mod util;

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

use reel::{ConnId, Context, Protocol};

/// Counts the bytes it receives; answers the total once it reaches `want`.
struct Counter {
    want: usize,
    got: usize,
}

impl Protocol for Counter {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.got += data.len();
        if self.got == self.want {
            cx.write(format!("{}\n", self.got).as_bytes());
        }
    }
}

#[test]
fn a_read_that_fills_the_read_buffer_is_read_on_to_the_end() {
    const TOTAL: usize = 4 * 1024 * 1024;
    let mut reactor = util::reactor();
    let lid = reactor
        .listen_tcp("127.0.0.1:0", |_| Box::new(Counter { want: TOTAL, got: 0 }) as Box<dyn Protocol>)
        .expect("listen");
    let addr = reactor.listener_addr(lid).expect("address");
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        // One write of several read buffers: edges come only while bytes
        // arrive, so the server must read on after each full read.
        util::write_all(&mut s, &util::pattern(0, TOTAL));
        util::read_line(&mut s)
    });
    util::run(&mut reactor);
    assert_eq!(client.join().trim_end(), TOTAL.to_string());
}

/// Answers each request with `size` bytes of the pattern.
struct Big {
    size: usize,
}

impl Protocol for Big {
    fn data_received(&mut self, cx: &mut Context<'_>, _data: &[u8]) {
        cx.write(&util::pattern(0, self.size));
    }
}

#[test]
fn an_answer_the_socket_does_not_take_at_once_arrives_whole() {
    const SIZE: usize = 4 * 1024 * 1024;
    let mut reactor = util::reactor();
    let lid = reactor.listen_tcp("127.0.0.1:0", |_| Box::new(Big { size: SIZE }) as Box<dyn Protocol>).expect("listen");
    let addr = reactor.listener_addr(lid).expect("address");
    let client = util::client(&reactor, move || {
        // A small window: the first send takes a part only.
        let mut s = util::connect_small_rcvbuf(addr, 4096);
        s.write_all(b"go\n").expect("write");
        util::read_n(&mut s, SIZE)
    });
    util::run(&mut reactor);
    util::check_pattern(&client.join(), SIZE);
}

/// Relays what one connection sends to every other connection first, then
/// echoes it to the sender.
struct Relay {
    conns: Rc<RefCell<Vec<ConnId>>>,
}

impl Protocol for Relay {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.conns.borrow_mut().push(cx.conn_id());
        cx.write(b"ready\n");
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        let me = cx.conn_id();
        for &other in self.conns.borrow().iter().filter(|&&c| c != me) {
            cx.write_to(other, data);
        }
        cx.write(data);
    }
}

#[test]
fn an_answer_that_also_writes_to_another_connection_reaches_both() {
    let mut reactor = util::reactor();
    let conns = Rc::new(RefCell::new(Vec::new()));
    let lid = reactor
        .listen_tcp("127.0.0.1:0", move |_| Box::new(Relay { conns: Rc::clone(&conns) }) as Box<dyn Protocol>)
        .expect("listen");
    let addr = reactor.listener_addr(lid).expect("address");
    let client = util::client(&reactor, move || {
        let mut a = util::connect(addr);
        assert_eq!(util::read_line(&mut a), "ready");
        let mut b = util::connect(addr);
        assert_eq!(util::read_line(&mut b), "ready");
        for round in 0..20 {
            let line = format!("round {round}\n");
            a.write_all(line.as_bytes()).expect("write");
            assert_eq!(util::read_line(&mut a), line.trim_end(), "the sender's echo");
            assert_eq!(util::read_line(&mut b), line.trim_end(), "the other connection's copy");
        }
    });
    util::run(&mut reactor);
    client.join();
}

/// What [`Act`] saw: the reason its connection ended, the lines it was
/// given after an action.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Data(Vec<u8>),
    Lost(reel::Reason),
}

/// Answers each read, then does what the read names: `close`, `eof`
/// (write_eof), `abort`, `panic`, `pause` (resumed by a timer), `empty`
/// (an empty write), anything else is echoed. Every read is logged.
struct Act {
    seen: util::Log<Seen>,
    ended: std::sync::mpsc::Sender<()>,
}

impl Protocol for Act {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.seen.borrow_mut().push(Seen::Data(data.to_vec()));
        match data {
            b"close\n" => {
                cx.write(b"bye\n");
                cx.close();
            }
            b"eof\n" => {
                cx.write(b"half\n");
                cx.write_eof();
            }
            b"abort\n" => {
                cx.write(b"never sent\n");
                cx.abort();
            }
            b"panic\n" => {
                cx.write(b"never sent\n");
                panic!("the protocol panics after writing (a test)");
            }
            b"pause\n" => {
                cx.write(b"paused\n");
                cx.pause_reading();
                cx.set_timer(std::time::Duration::from_millis(20));
            }
            b"empty\n" => {
                // Nothing to send: the answer (a timer's) comes turns later.
                cx.write(b"");
                cx.set_timer(std::time::Duration::from_millis(5));
            }
            _ => cx.write(data),
        }
    }
    fn timer_fired(&mut self, cx: &mut Context<'_>, _timer: reel::TimerId) {
        cx.write(b"resumed\n");
        cx.resume_reading();
    }
    fn connection_lost(&mut self, _cx: &mut Context<'_>, reason: reel::Reason) {
        self.seen.borrow_mut().push(Seen::Lost(reason));
        let _ = self.ended.send(());
    }
}

/// Tells a client thread that a connection ended on the server.
type Ended = std::sync::mpsc::Receiver<()>;

/// Waits until a connection has ended on the server (its `connection_lost`
/// ran): the client stops the reactor when it returns.
fn wait_ended(ended: &Ended) {
    ended.recv_timeout(util::IO_TIMEOUT).expect("the connection ends on the server");
}

/// A reactor listening with [`Act`] on 127.0.0.1; the log, the address,
/// and the news of each connection's end.
fn act_server() -> (reel::Reactor, util::Log<Seen>, std::net::SocketAddr, Ended) {
    let mut reactor = util::reactor();
    let seen = util::log();
    let s2 = Rc::clone(&seen);
    let (tx, ended) = std::sync::mpsc::channel();
    let lid = reactor
        .listen_tcp("127.0.0.1:0", move |_| {
            Box::new(Act { seen: Rc::clone(&s2), ended: tx.clone() }) as Box<dyn Protocol>
        })
        .expect("listen");
    let addr = reactor.listener_addr(lid).expect("address");
    (reactor, seen, addr, ended)
}

/// The reasons connections ended, in order.
fn lost(seen: &util::Log<Seen>) -> Vec<reel::Reason> {
    seen.borrow().iter().filter_map(|s| if let Seen::Lost(r) = s { Some(r.clone()) } else { None }).collect()
}

/// Sends `line` and waits for its echo: the connection is open, plain and
/// flushed (the common path's state) before the action that follows.
fn echoed(s: &mut std::net::TcpStream, line: &[u8]) {
    util::write_all(s, line);
    assert_eq!(util::read_n(s, line.len()), line, "the echo");
}

#[test]
fn an_answer_then_a_close_is_sent_then_the_connection_ends() {
    let (mut reactor, seen, addr, ended) = act_server();
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        echoed(&mut s, b"hi\n");
        util::write_all(&mut s, b"close\n");
        let end = util::read_until_end(&mut s);
        wait_ended(&ended);
        end
    });
    util::run(&mut reactor);
    assert_eq!(client.join(), util::End::Eof(b"bye\n".to_vec()));
    assert_eq!(lost(&seen), [reel::Reason::Closed]);
}

#[test]
fn an_answer_then_write_eof_is_sent_then_our_side_shut_and_input_still_delivered() {
    let (mut reactor, seen, addr, ended) = act_server();
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        echoed(&mut s, b"hi\n");
        util::write_all(&mut s, b"eof\n");
        let answer = util::read_until_end(&mut s);
        // Our side may still talk: the server reads on.
        util::write_all(&mut s, b"after\n");
        s.shutdown(std::net::Shutdown::Write).expect("shutdown");
        wait_ended(&ended);
        answer
    });
    util::run(&mut reactor);
    assert_eq!(client.join(), util::End::Eof(b"half\n".to_vec()));
    assert!(seen.borrow().contains(&Seen::Data(b"after\n".to_vec())), "input after write_eof: {:?}", seen.borrow());
    assert_eq!(lost(&seen), [reel::Reason::PeerClosed]);
}

#[test]
fn an_answer_then_an_abort_is_dropped_and_the_peer_reset() {
    let (mut reactor, seen, addr, ended) = act_server();
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        echoed(&mut s, b"hi\n");
        util::write_all(&mut s, b"abort\n");
        let end = util::read_until_end(&mut s);
        wait_ended(&ended);
        end
    });
    util::run(&mut reactor);
    assert_eq!(client.join(), util::End::Reset(Vec::new()));
    assert_eq!(lost(&seen), [reel::Reason::Aborted]);
}

#[test]
fn an_answer_then_a_panic_is_dropped_and_the_peer_reset() {
    let (mut reactor, seen, addr, ended) = act_server();
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        echoed(&mut s, b"hi\n");
        util::write_all(&mut s, b"panic\n");
        let end = util::read_until_end(&mut s);
        wait_ended(&ended);
        // The reactor serves on.
        let mut t = util::connect(addr);
        echoed(&mut t, b"still here\n");
        end
    });
    util::run(&mut reactor);
    assert_eq!(client.join(), util::End::Reset(Vec::new()));
    assert_eq!(lost(&seen)[0], reel::Reason::ProtocolPanicked);
}

#[test]
fn an_answer_then_a_pause_is_sent_and_input_waits_for_the_resume() {
    let (mut reactor, seen, addr, ended) = act_server();
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        echoed(&mut s, b"hi\n");
        util::write_all(&mut s, b"pause\n");
        assert_eq!(util::read_line(&mut s), "paused");
        // Sent while paused: held back until the timer resumes reading.
        util::write_all(&mut s, b"held\n");
        assert_eq!(util::read_line(&mut s), "resumed");
        assert_eq!(util::read_line(&mut s), "held");
        echoed(&mut s, b"then\n");
        drop(ended);
    });
    util::run(&mut reactor);
    client.join();
    let data: Vec<_> = seen.borrow().iter().filter(|s| matches!(s, Seen::Data(_))).cloned().collect();
    let want: Vec<Seen> =
        [&b"hi\n"[..], b"pause\n", b"held\n", b"then\n"].iter().map(|d| Seen::Data(d.to_vec())).collect();
    assert_eq!(data, want);
}

#[test]
fn an_empty_write_in_an_answer_holds_no_storage() {
    // The debug build's invariant check (after every turn) fails the test
    // if an empty output buffer keeps storage.
    let (mut reactor, _seen, addr, _ended) = act_server();
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        for _ in 0..3 {
            util::write_all(&mut s, b"empty\n");
            assert_eq!(util::read_line(&mut s), "resumed");
            echoed(&mut s, b"hi\n");
        }
    });
    util::run(&mut reactor);
    client.join();
}

#[test]
fn the_common_path_counts_the_bytes_in_and_out() {
    let (mut reactor, _seen, addr, _ended) = act_server();
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        let mut total = 0;
        for i in 0..50 {
            let line = format!("line {i}\n");
            echoed(&mut s, line.as_bytes());
            total += line.len();
        }
        total as u64
    });
    util::run(&mut reactor);
    let total = client.join();
    let stats = reactor.stats();
    assert_eq!((stats.bytes_in, stats.bytes_out), (total, total));
}

#[test]
fn a_unix_stream_connection_takes_the_common_path_and_closes() {
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    let mut reactor = util::reactor();
    let seen = util::log();
    let s2 = Rc::clone(&seen);
    let (tx, ended) = std::sync::mpsc::channel();
    let name = format!("\0reel-plain-path-{}", std::process::id());
    reactor
        .listen_unix(name.as_str(), move |_| {
            Box::new(Act { seen: Rc::clone(&s2), ended: tx.clone() }) as Box<dyn Protocol>
        })
        .expect("listen_unix");
    let client = util::client(&reactor, move || {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name.as_bytes()[1..]).expect("name");
        let mut s = UnixStream::connect_addr(&addr).expect("connect");
        s.set_read_timeout(Some(util::IO_TIMEOUT)).expect("timeout");
        let mut total = 0;
        for i in 0..50 {
            let line = format!("unix {i}\n");
            s.write_all(line.as_bytes()).expect("write");
            let mut got = vec![0; line.len()];
            s.read_exact(&mut got).expect("read");
            assert_eq!(got, line.as_bytes());
            total += line.len();
        }
        s.write_all(b"close\n").expect("write");
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).expect("read to end");
        assert_eq!(rest, b"bye\n");
        wait_ended(&ended);
        total as u64
    });
    util::run(&mut reactor);
    let total = client.join();
    let stats = reactor.stats();
    assert_eq!((stats.bytes_in, stats.bytes_out), (total + 6, total + 4));
    assert_eq!(lost(&seen), [reel::Reason::Closed]);
}

/// Writes nothing (an empty slice) when connected, then echoes.
struct EmptyFirst;

impl Protocol for EmptyFirst {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.write(b"");
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        cx.write(data);
    }
}

#[test]
fn an_empty_write_on_the_general_path_holds_no_storage_either() {
    // The common path sends an empty queue and so releases its storage;
    // the settle phase (here after `connection_made`) must not keep it:
    // the debug build's invariant check fails the test if it does.
    let mut reactor = util::reactor();
    let lid = reactor.listen_tcp("127.0.0.1:0", |_| Box::new(EmptyFirst) as Box<dyn Protocol>).expect("listen");
    let addr = reactor.listener_addr(lid).expect("address");
    let client = util::client(&reactor, move || {
        let mut s = util::connect(addr);
        util::echo_round_trips(&mut s, "after an empty write", 3);
    });
    util::run(&mut reactor);
    client.join();
}

/// The server side of [`a_reset_after_the_read_is_not_taken_for_an_eof`]:
/// `go` aborts the client connection `victim`; `ping` is answered with an
/// empty write (the connection marked dirty with nothing to send).
struct Target {
    victim: Rc<std::cell::Cell<Option<ConnId>>>,
    made: Rc<std::cell::Cell<usize>>,
    pinged: bool,
    seen: util::Log<&'static str>,
}

impl Protocol for Target {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        made_one(cx, &self.made, &self.victim);
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        match data {
            b"go" => {
                self.seen.borrow_mut().push("go");
                if let Some(victim) = self.victim.get() {
                    cx.abort_conn(victim);
                }
            }
            _ => {
                self.seen.borrow_mut().push("ping");
                self.pinged = true;
                cx.write(b"");
            }
        }
    }
    fn eof_received(&mut self, cx: &mut Context<'_>) {
        if self.pinged {
            self.seen.borrow_mut().push("eof");
        }
        cx.close();
    }
    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: reel::Reason) {
        if self.pinged {
            self.seen.borrow_mut().push(if reason == reel::Reason::Reset { "reset" } else { "other end" });
            cx.stop();
        }
    }
}

/// A client connection of the same test: counts itself made.
struct Dialer {
    made: Rc<std::cell::Cell<usize>>,
    victim: Rc<std::cell::Cell<Option<ConnId>>>,
}

impl Protocol for Dialer {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        made_one(cx, &self.made, &self.victim);
    }
    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
}

/// Once all four ends are made: the victim's peer becomes readable
/// (`ping`) in the same batch of events as the other server connection
/// (`go`).
fn made_one(cx: &mut Context<'_>, made: &std::cell::Cell<usize>, victim: &std::cell::Cell<Option<ConnId>>) {
    made.set(made.get() + 1);
    if made.get() == 4 {
        let (victim, other) = (victim.get(), OTHER.with(std::cell::Cell::get));
        cx.call_later(std::time::Duration::ZERO, move |cx| {
            if let (Some(victim), Some(other)) = (victim, other) {
                cx.write_to(other, b"go");
                cx.write_to(victim, b"ping");
            }
        });
    }
}

thread_local! {
    /// The client connection that sends `go`.
    static OTHER: std::cell::Cell<Option<ConnId>> = const { std::cell::Cell::new(None) };
}

/// Runs the scenario of [`a_reset_after_the_read_is_not_taken_for_an_eof`]
/// on a reactor with `config`; what the victim's peer saw.
fn reset_after_the_read(config: reel::ReactorConfig) -> Vec<&'static str> {
    let mut reactor = util::reactor_with(config);
    let seen = util::log();
    let victim = Rc::new(std::cell::Cell::new(None));
    let made = Rc::new(std::cell::Cell::new(0));
    let (s2, v2, m2) = (Rc::clone(&seen), Rc::clone(&victim), Rc::clone(&made));
    let lid = reactor
        .listen_tcp("127.0.0.1:0", move |_| {
            Box::new(Target { victim: Rc::clone(&v2), made: Rc::clone(&m2), pinged: false, seen: Rc::clone(&s2) })
                as Box<dyn Protocol>
        })
        .expect("listen");
    let addr = reactor.listener_addr(lid).expect("address");
    // Accepted first, so served first in a batch of events.
    let o = reactor.connect_tcp(addr, Dialer { made: Rc::clone(&made), victim: Rc::clone(&victim) });
    OTHER.with(|c| c.set(Some(o)));
    let v = reactor.connect_tcp(addr, Dialer { made: Rc::clone(&made), victim: Rc::clone(&victim) });
    victim.set(Some(v));
    util::run(&mut reactor);
    let seen = seen.borrow().clone();
    seen
}

#[test]
fn a_reset_after_the_read_is_not_taken_for_an_eof() {
    // The victim's peer reads `ping` after the victim's reset has arrived
    // (the abort ran earlier in the same batch of events). Its answer
    // queues nothing: a send of the empty queue would take the socket's
    // pending reset, and the next read would see a clean end of stream
    // (`eof_received`) where the general path sees the reset.
    //
    // The debug mode (a slow-callback threshold) times every callback and
    // so takes the general path: the reference.
    let general = reel::ReactorConfig { slow_callback: Some(std::time::Duration::from_secs(60)), ..util::config() };
    for (path, config) in [("general", general), ("common", util::config())] {
        let seen = reset_after_the_read(config);
        // The events of one batch come in the order their sockets were
        // accepted (the other's first): `go` is served before `ping`.
        assert_eq!(seen[..2], ["go", "ping"], "{path} path: the test's premise, the abort first");
        assert_eq!(seen[2..], ["reset"], "{path} path: the victim's peer heard of its reset, and only of that");
    }
}
