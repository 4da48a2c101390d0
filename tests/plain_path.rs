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
