//! A connection limit shared by listeners (`ListenOptions::shared_limit`):
//! the connections of all of them together stay within it, in one reactor
//! and across the reactors of several threads, and the places held by
//! connections of a closed listener come back as they close.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use reel::{ConnectionLimit, ListenOptions, Reactor};

fn opts(limit: &ConnectionLimit) -> ListenOptions {
    ListenOptions { shared_limit: Some(limit.clone()), ..Default::default() }
}

/// Whether a new client of `addr` is served: an echo comes back, where a
/// refused one reads the end of the stream (the test factory says no
/// farewell).
fn served(addr: SocketAddr) -> (bool, TcpStream) {
    let mut s = util::connect(addr);
    s.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    let ok = match s.read(&mut buf) {
        Ok(4) => &buf == b"ping",
        Ok(_) | Err(_) => false,
    };
    (ok, s)
}

#[test]
fn two_listeners_share_one_limit_and_a_closed_listeners_connections_give_their_places_back() {
    let mut reactor = util::reactor();
    let limit = ConnectionLimit::new(2);
    let a = reactor.listen_tcp_with("127.0.0.1:0", util::echo_factory(), opts(&limit)).unwrap();
    let b = reactor.listen_tcp_with("127.0.0.1:0", util::echo_factory(), opts(&limit)).unwrap();
    let (addr_a, addr_b) = (reactor.listener_addr(a).unwrap(), reactor.listener_addr(b).unwrap());
    let handle = util::handle(&reactor);
    let seen = limit.clone();
    let c = util::client(&reactor, move || {
        let (one, c1) = served(addr_a);
        let (two, c2) = served(addr_b);
        let (three, _refused) = served(addr_a);
        let (four, _refused) = served(addr_b);
        assert_eq!((one, two, three, four), (true, true, false, false), "two places over both listeners");
        assert_eq!(seen.in_use(), 2);
        // Listener a goes; its client still holds a place until it closes.
        let (tx, rx) = std::sync::mpsc::channel();
        handle.call_from_thread(move |cx| {
            tx.send(cx.close_listener(a)).unwrap();
        });
        assert!(rx.recv_timeout(util::IO_TIMEOUT).unwrap());
        assert!(!served(addr_b).0, "c1 of the closed listener still holds its place");
        drop(c1);
        // Its place comes back when the reactor sees the close: tried
        // until then (bounded).
        let deadline = std::time::Instant::now() + util::IO_TIMEOUT;
        let kept = loop {
            let (ok, s) = served(addr_b);
            if ok {
                break s;
            }
            assert!(std::time::Instant::now() < deadline, "the closed listener's place never came back");
        };
        assert_eq!(seen.in_use(), 2);
        drop((c2, kept));
    });
    util::run(&mut reactor);
    c.join();
    drop(reactor);
    assert_eq!(limit.in_use(), 0, "every place given back");
}

#[test]
fn reactors_on_several_threads_count_together() {
    let limit = ConnectionLimit::new(3);
    let (tx, rx) = std::sync::mpsc::channel();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (limit, tx) = (limit.clone(), tx.clone());
            std::thread::spawn(move || {
                let mut reactor = Reactor::new().unwrap();
                let id = reactor.listen_tcp_with("127.0.0.1:0", util::echo_factory(), opts(&limit)).unwrap();
                tx.send((reactor.listener_addr(id).unwrap(), util::handle(&reactor))).unwrap();
                reactor.run().unwrap();
            })
        })
        .collect();
    let reactors: Vec<_> = (0..2).map(|_| rx.recv_timeout(util::IO_TIMEOUT).unwrap()).collect();
    let mut clients = Vec::new();
    let mut results = Vec::new();
    for i in 0..6 {
        let (ok, s) = served(reactors[i % 2].0);
        results.push(ok);
        clients.push(s);
    }
    assert_eq!(results.iter().filter(|&&ok| ok).count(), 3, "{results:?}");
    assert_eq!(&results[..3], [true, true, true]);
    for (_, handle) in &reactors {
        handle.stop();
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(limit.in_use(), 0, "a stopped reactor gives its places back");
}

#[test]
fn a_client_whose_protocol_could_not_be_built_gives_its_place_back() {
    let mut reactor = util::reactor();
    let limit = ConnectionLimit::new(1);
    let mut first = true;
    // The first build panics (reel logs it and closes the client).
    let factory = move |_peer: SocketAddr| -> Box<dyn reel::Protocol> {
        if std::mem::take(&mut first) {
            panic!("no protocol for the first client");
        }
        Box::new(util::Echo)
    };
    let id = reactor.listen_tcp_with("127.0.0.1:0", factory, opts(&limit)).unwrap();
    let addr = reactor.listener_addr(id).unwrap();
    let c = util::client(&reactor, move || {
        assert!(!served(addr).0, "the first client is closed");
        let (ok, _kept) = served(addr);
        assert!(ok, "the one place came back for the second");
    });
    util::run(&mut reactor);
    c.join();
}
