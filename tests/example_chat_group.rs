//! The chat example across the reactors of a group (`chat --threads 2`):
//! members pinned to different reactors (by connecting until each reactor
//! has one, as the accept hook reports) see each other's joins, lines and
//! leaves, in each sender's order; names stay unique across reactors; a
//! stop sends every member the shutdown line. Rooms owned by either
//! reactor are exercised (the owner is `hash(room) % 2`).
//!
//! Every wait is bounded by `IO_TIMEOUT`; nothing sleeps.

#[path = "../examples/common/mod.rs"]
mod common;

#[path = "../examples/common/chat.rs"]
mod chat;

#[path = "../examples/common/chat_group.rs"]
mod chat_group;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::sync::Mutex;
use std::time::Duration;

use chat::ChatArgs;
use reel::{GroupConfig, ReactorConfig, ReactorGroup};

const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A chat server of two reactors; stopped and joined on drop.
struct Server {
    addr: SocketAddr,
    group: Option<ReactorGroup>,
    /// (reactor, peer) for each accepted connection.
    accepted: Receiver<(usize, SocketAddr)>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(g) = self.group.take() {
            g.stop();
            let joined = g.join();
            if !std::thread::panicking() {
                joined.expect("the group stops cleanly");
            }
        }
    }
}

fn server() -> Server {
    let _ = env_logger::builder().is_test(true).try_init();
    let (addr_tx, addr_rx) = mpsc::channel();
    let (accept_tx, accept_rx) = mpsc::channel();
    let (addr_tx, accept_tx) = (Mutex::new(addr_tx), Mutex::new(accept_tx));
    let config = GroupConfig {
        threads: 2,
        reactor: ReactorConfig { grace_period: Duration::from_secs(2), ..Default::default() },
        ..Default::default()
    };
    let group = common::start_group(config, move |reactor| {
        let mut args = ChatArgs::default();
        args.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let (index, _) = common::group_member().expect("in a group");
        let tx = accept_tx.lock().unwrap().clone();
        let hook: chat_group::AcceptHook = Box::new(move |peer| {
            let _ = tx.send((index, peer));
        });
        let id = chat_group::start_observed(reactor, &args, Some(hook));
        addr_tx.lock().unwrap().send(reactor.listener_addr(id).expect("bound")).expect("send");
    })
    .expect("the group starts");
    let a = addr_rx.recv_timeout(IO_TIMEOUT).expect("reactor 0 listens");
    let b = addr_rx.recv_timeout(IO_TIMEOUT).expect("reactor 1 listens");
    assert_eq!(a, b, "both reactors share the port");
    Server { addr: a, group: Some(group), accepted: accept_rx }
}

/// A member: a line reader over a socket with timeouts.
struct Member {
    reader: BufReader<TcpStream>,
    reactor: usize,
}

impl Member {
    fn send(&mut self, line: &str) {
        self.reader.get_mut().write_all(format!("{line}\n").as_bytes()).expect("send");
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).unwrap_or_else(|e| panic!("read a line: {e}"));
        assert!(n > 0, "end of stream where a line was expected");
        line.trim_end_matches('\n').to_string()
    }

    /// A room line without its `[ctime] ` stamp (checked).
    fn room_line(&mut self) -> String {
        let line = self.line();
        let (stamp, rest) = line.split_once("] ").unwrap_or_else(|| panic!("no stamp: {line:?}"));
        assert!(stamp.starts_with('[') && stamp.len() == 25, "a ctime stamp: {line:?}");
        rest.to_string()
    }

    fn end(&mut self) -> String {
        let mut rest = String::new();
        match std::io::Read::read_to_string(&mut self.reader, &mut rest) {
            Ok(_) => rest,
            Err(e) => panic!("reading to the end: {e} (after {rest:?})"),
        }
    }
}

impl Server {
    /// Connects until a connection lands on `reactor`; the others close
    /// before saying anything (so nobody hears of them).
    fn member_on(&self, reactor: usize) -> Member {
        for _ in 0..100 {
            let s = TcpStream::connect(self.addr).expect("connect");
            s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
            s.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
            let local = s.local_addr().expect("local");
            let on = loop {
                let (on, peer) = self.accepted.recv_timeout(IO_TIMEOUT).expect("the server accepts");
                if peer == local {
                    break on;
                }
            };
            if on == reactor {
                return Member { reader: BufReader::new(s), reactor: on };
            }
        }
        panic!("100 connections, none on reactor {reactor}");
    }

    /// A member on `reactor` joined to `room` as `name`.
    fn joined(&self, reactor: usize, name: &str, room: &str) -> Member {
        let mut m = self.member_on(reactor);
        m.send(&format!("{name} {room}"));
        assert_eq!(m.line(), "success", "{name} joins {room}");
        m
    }
}

/// A room whose owner is `owner` (of 2 reactors).
fn room_owned_by(owner: usize) -> String {
    (0..100).map(|i| format!("room{i}")).find(|r| chat_group::owner_of(r, 2) == owner).expect("some room")
}

fn a_room_spans_both_reactors(owner: usize) {
    let server = server();
    let room = room_owned_by(owner);
    let mut alice = server.joined(0, "alice", &room);
    let mut bob = server.joined(1, "bob", &room);
    assert_eq!((alice.reactor, bob.reactor), (0, 1));
    assert_eq!(alice.room_line(), format!("* bob joined {room}"));

    // Both talk at once; each sees the other's lines in the order sent.
    for i in 0..50 {
        alice.send(&format!("a{i}"));
        bob.send(&format!("b{i}"));
    }
    for i in 0..50 {
        assert_eq!(bob.room_line(), format!("alice: a{i}"));
        assert_eq!(alice.room_line(), format!("bob: b{i}"));
    }

    // A name is unique in its room whichever reactor asks.
    for reactor in [0, 1] {
        let mut again = server.member_on(reactor);
        again.send(&format!("alice {room}"));
        assert_eq!(again.line(), "reuse");
        assert_eq!(again.end(), "", "closed after reuse");
    }
    // The refused ones took nothing from alice: she is still in, and a
    // third member on either reactor joins.
    bob.send("still there?");
    assert_eq!(alice.room_line(), "bob: still there?");
    let mut carol = server.joined(0, "carol", &room);
    assert_eq!(alice.room_line(), format!("* carol joined {room}"));
    assert_eq!(bob.room_line(), format!("* carol joined {room}"));

    // Leaving: quit is answered, the others hear of it on both reactors.
    alice.send("quit");
    assert_eq!(alice.line(), "quit");
    assert_eq!(alice.end(), "");
    assert_eq!(bob.room_line(), format!("* alice left {room}"));
    assert_eq!(carol.room_line(), format!("* alice left {room}"));
    // A disconnect without quit too.
    drop(carol);
    assert_eq!(bob.room_line(), format!("* carol left {room}"));
    // The name is free again once its holder left.
    let mut alice2 = server.joined(1, "alice", &room);
    assert_eq!(bob.room_line(), format!("* alice joined {room}"));
    alice2.send("back");
    assert_eq!(bob.room_line(), "alice: back");
}

#[test]
fn a_room_owned_by_reactor_0_spans_both_reactors() {
    a_room_spans_both_reactors(0);
}

#[test]
fn a_room_owned_by_reactor_1_spans_both_reactors() {
    a_room_spans_both_reactors(1);
}

#[test]
fn rooms_stay_independent_across_reactors() {
    let server = server();
    let (r0, r1) = (room_owned_by(0), room_owned_by(1));
    let mut a = server.joined(0, "ann", &r0);
    let mut b = server.joined(1, "ben", &r1);
    let mut c = server.joined(1, "cat", &r0);
    assert_eq!(a.room_line(), format!("* cat joined {r0}"));
    b.send("only for r1");
    c.send("for r0");
    assert_eq!(a.room_line(), "cat: for r0", "nothing from the other room came first");
    a.send("hi cat");
    assert_eq!(c.room_line(), "ann: hi cat");
    // ben, alone in his room, heard nothing: the next thing he reads is
    // the shutdown line.
    let mut members = [a, b, c];
    drop(server);
    for m in &mut members {
        assert_eq!(m.end(), "* server shutting down\n");
    }
}

#[test]
fn a_stop_sends_every_member_on_every_reactor_the_shutdown_line_only() {
    let server = server();
    let room = room_owned_by(1);
    let mut members = vec![
        server.joined(0, "m0", &room),
        server.joined(1, "m1", &room),
        server.joined(0, "m2", &room),
        server.joined(1, "m3", &room),
    ];
    // Read the joins so that what is left is the shutdown.
    for (i, m) in members.iter_mut().enumerate() {
        for j in i + 1..4 {
            assert_eq!(m.room_line(), format!("* m{j} joined {room}"));
        }
    }
    drop(server);
    for m in &mut members {
        assert_eq!(m.end(), "* server shutting down\n");
    }
}
