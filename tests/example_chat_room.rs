//! The chat example's rooms (PROTOCOLS.md, "chat") in memory: the
//! example's own factory served by [`ServerHarness`], every member one
//! in-memory connection of one reactor, on a manual wall clock. The same
//! contract as `tests/example_chat.rs` checks over sockets, without a
//! socket, a thread or a timeout.

#[path = "../examples/common/mod.rs"]
mod common;

#[path = "../examples/common/chat.rs"]
mod chat;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use chat::{ChatFactory, Rooms};
use reel::protocols::clock_text::{self, WallClock};
use reel::testing::ServerHarness;
use reel::{ConnId, Reason, TcpOptions};

/// A room server on a manual wall clock, with the example's idle timeout.
fn server() -> (ServerHarness, Rc<RefCell<Rooms>>, WallClock) {
    let clock = WallClock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000));
    let rooms = Rc::new(RefCell::new(Rooms::new(clock.clone())));
    let factory = ChatFactory { rooms: Rc::clone(&rooms), idle_timeout: Duration::from_secs(chat::DEFAULT_IDLE_SECS) };
    (ServerHarness::with_options(factory, &TcpOptions::default()), rooms, clock)
}

/// Connects and joins; checks the `success` reply.
fn join(server: &mut ServerHarness, user: &str, room: &str) -> ConnId {
    let id = server.connect();
    server.feed(id, format!("{user} {room}\r\n").as_bytes());
    assert_eq!(text(server.take_written(id)), "success\n", "{user} joins {room}");
    id
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("chat output is UTF-8")
}

#[test]
fn a_room_relays_to_every_other_member_and_rooms_are_independent() {
    let (mut server, rooms, clock) = server();
    let stamp = format!("[{}]", clock_text::ctime_local(clock.now()));
    let ann = join(&mut server, "ann", "lobby");
    let ben = join(&mut server, "ben", "lobby");
    assert_eq!(text(server.take_written(ann)), format!("{stamp} * ben joined lobby\n"));
    let cat = join(&mut server, "cat", "lobby");
    let dan = join(&mut server, "dan", "kitchen");
    assert_eq!(rooms.borrow().members("lobby"), 3);
    assert_eq!(rooms.borrow().members("kitchen"), 1);
    for id in [ann, ben] {
        assert_eq!(text(server.take_written(id)), format!("{stamp} * cat joined lobby\n"));
    }

    // One line, split across reads, reaches every other member once.
    server.feed(ben, b"hel");
    server.feed(ben, b"lo all\n");
    for id in [ann, cat] {
        assert_eq!(text(server.take_written(id)), format!("{stamp} ben: hello all\n"));
    }
    assert_eq!(text(server.take_written(ben)), "", "not echoed to the sender");
    assert_eq!(text(server.take_written(dan)), "", "other rooms hear nothing");

    // Control characters are dropped, invalid UTF-8 replaced.
    server.feed(cat, b"see \x1b[2J\xff\n");
    assert_eq!(text(server.take_written(ann)), format!("{stamp} cat: see [2J\u{fffd}\n"));
    server.take_written(ben);

    // A name in use is refused; the room is unchanged.
    let again = server.connect();
    server.feed(again, b"ann lobby\n");
    assert_eq!(text(server.take_written(again)), "reuse\n");
    assert!(matches!(server.lost(again), Some(Reason::Protocol(_))));
    assert_eq!(rooms.borrow().members("lobby"), 3);

    // The wall clock moves: the stamp follows.
    clock.advance(Duration::from_secs(61));
    let later = format!("[{}]", clock_text::ctime_local(clock.now()));
    assert_ne!(later, stamp);

    // `quit`, a half-close and a reset each announce one leave line.
    server.feed(ann, b"quit\n");
    assert_eq!(text(server.take_written(ann)), "quit\n");
    assert_eq!(server.lost(ann), Some(Reason::Closed));
    for id in [ben, cat] {
        assert_eq!(text(server.take_written(id)), format!("{later} * ann left lobby\n"));
    }
    server.feed(ben, b"last words");
    server.feed_eof(ben);
    assert_eq!(text(server.take_written(cat)), format!("{later} ben: last words\n{later} * ben left lobby\n"));
    server.peer_resets(cat);
    assert_eq!(server.lost(cat), Some(Reason::Reset));
    assert_eq!(rooms.borrow().members("lobby"), 0);
    assert_eq!(rooms.borrow().members("kitchen"), 1);
}

#[test]
fn a_stop_sends_each_member_only_the_shutdown_line() {
    let (mut server, _rooms, _clock) = server();
    let members: Vec<ConnId> = ["a", "b", "c"].iter().map(|u| join(&mut server, u, "hall")).collect();
    for &id in &members {
        server.take_written(id);
    }
    let greeting = server.connect(); // connected, never joined
    server.stop();
    for &id in &members {
        // No leave line from the others: nothing is broadcast during the
        // shutdown.
        assert_eq!(text(server.take_written(id)), "* server shutting down\n");
        assert_eq!(server.lost(id), Some(Reason::Closed));
    }
    assert_eq!(text(server.take_written(greeting)), "");
    assert_eq!(server.lost(greeting), Some(Reason::Closed));
    // The stop ends once every connection is done lingering.
    assert!(!server.is_stopped());
    for &id in members.iter().chain([&greeting]) {
        server.feed_eof(id);
    }
    assert!(server.is_stopped());
}

#[test]
fn a_member_that_does_not_read_is_cut_off_and_the_room_goes_on() {
    let clock = WallClock::manual(SystemTime::UNIX_EPOCH);
    let rooms = Rc::new(RefCell::new(Rooms::new(clock)));
    let factory = ChatFactory { rooms: Rc::clone(&rooms), idle_timeout: Duration::ZERO };
    let opts = TcpOptions { output_limit: 4096, output_ceiling: 8192, ..TcpOptions::default() };
    let mut server = ServerHarness::with_options(factory, &opts);
    let talker = join(&mut server, "talker", "r");
    let sleeper = join(&mut server, "sleeper", "r");
    let reader = join(&mut server, "reader", "r");
    server.set_peer_window(sleeper, Some(0));
    let line = vec![b'x'; 1000];
    let mut sent = 0;
    while server.lost(sleeper).is_none() {
        server.feed(talker, &line);
        server.feed(talker, b"\n");
        sent += 1;
        assert!(sent < 100, "the sleeper is never cut off");
    }
    assert!(matches!(server.lost(sleeper), Some(Reason::OutputLimitExceeded(_))));
    let heard = text(server.take_written(reader));
    assert_eq!(heard.matches(": xxx").count(), sent);
    assert!(heard.ends_with(" * sleeper left r\n"), "{heard:?}");
    assert_eq!(rooms.borrow().members("r"), 2);
}

#[test]
fn an_idle_member_is_closed_on_the_reactor_clock() {
    let (mut server, rooms, _clock) = server();
    let ann = join(&mut server, "ann", "lobby");
    let ben = join(&mut server, "ben", "lobby");
    server.take_written(ann);
    server.advance(Duration::from_secs(chat::DEFAULT_IDLE_SECS - 1));
    server.feed(ben, b"awake\n");
    server.advance(Duration::from_secs(2));
    assert_eq!(server.lost(ann), Some(Reason::TimedOut));
    assert!(server.lost(ben).is_none());
    assert_eq!(rooms.borrow().members("lobby"), 1);
}
