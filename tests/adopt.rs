//! Adopting sockets created elsewhere: std TCP and Unix listeners, a
//! connected TCP stream, one end of a Unix socket pair, a UDP socket and a
//! Unix datagram socket, each served like one reel opened.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};

use reel::{
    Context, DatagramContext, DatagramProtocol, Protocol, Reason, UnixAddr, UnixDatagramContext, UnixDatagramProtocol,
};
use util::Log;

fn temp_path(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("reel-adopt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn a_std_tcp_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut reactor = util::reactor();
    let id = reactor.context().adopt_tcp_listener(listener, util::echo_factory(), Default::default()).unwrap();
    assert_eq!(reactor.listener_addr(id), Some(addr));
    let client = util::client(&reactor, move || util::echo_round_trips(&mut util::connect(addr), "adopted", 3));
    util::run(&mut reactor);
    client.join();
}

#[test]
fn a_std_unix_listener_whose_file_is_left_alone() {
    let path = temp_path("listener.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let mut reactor = util::reactor();
    let id = reactor.context().adopt_unix_listener(listener, util::echo_factory(), Default::default()).unwrap();
    assert_eq!(reactor.listener_address(id).and_then(|a| a.as_unix().cloned()), Some(UnixAddr::Path(path.clone())));
    let p = path.clone();
    let client = util::client(&reactor, move || {
        let mut s = UnixStream::connect(&p).unwrap();
        s.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
        s.write_all(b"abc").unwrap();
        let mut got = [0; 3];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abc");
    });
    util::run(&mut reactor);
    client.join();
    drop(reactor);
    assert!(path.exists(), "reel did not create the file: it does not remove it");
    std::fs::remove_file(&path).unwrap();
}

/// Writes a greeting on connect and records what comes back.
struct Greeter(Log<String>);

impl Protocol for Greeter {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.0.borrow_mut().push(format!("made {}", cx.peer_address()));
        cx.write(b"hello\n");
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.0.borrow_mut().push(format!("got {}", String::from_utf8_lossy(data)));
        cx.close();
    }
    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.0.borrow_mut().push(format!("lost {reason:?}"));
        cx.stop();
    }
}

/// Answers the greeting on the other end (a plain std socket).
fn answer(mut s: impl Read + Write) {
    let mut buf = [0; 6];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello\n");
    s.write_all(b"back").unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
}

#[test]
fn a_connected_tcp_stream() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (theirs, _) = listener.accept().unwrap();
    theirs.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
    let peer = ours.peer_addr().unwrap();
    let mut reactor = util::reactor();
    let log = util::log();
    let id = reactor.context().adopt_tcp_stream(ours, Greeter(log.clone()), &Default::default()).unwrap();
    assert!(reactor.conn_sock_ref(id).is_some());
    let t = std::thread::spawn(move || answer(theirs));
    util::run(&mut reactor);
    t.join().unwrap();
    assert_eq!(*log.borrow(), [format!("made {peer}"), "got back".into(), "lost Closed".into()]);
}

#[test]
fn one_end_of_a_unix_socket_pair() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    theirs.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
    let mut reactor = util::reactor();
    let log = util::log();
    reactor.context().adopt_unix_stream(ours, Greeter(log.clone()), &Default::default()).unwrap();
    let t = std::thread::spawn(move || answer(theirs));
    util::run(&mut reactor);
    t.join().unwrap();
    assert_eq!(*log.borrow(), ["made (unnamed)", "got back", "lost Closed"]);
}

struct UdpEcho;

impl DatagramProtocol for UdpEcho {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        cx.send_to(data, from);
    }
}

#[test]
fn a_std_udp_socket() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let mut reactor = util::reactor();
    let id = reactor.context().adopt_udp(socket, UdpEcho).unwrap();
    assert_eq!(reactor.udp_addr(id), Some(addr));
    let client = util::client(&reactor, move || {
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
        c.send_to(b"ping", addr).unwrap();
        let mut buf = [0; 16];
        let (n, from) = c.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], addr));
    });
    util::run(&mut reactor);
    client.join();
}

struct UnixEcho;

impl UnixDatagramProtocol for UnixEcho {
    fn datagram_received(&mut self, cx: &mut UnixDatagramContext<'_>, data: &[u8], from: &UnixAddr) {
        cx.send_to(data, from);
    }
}

#[test]
fn a_std_unix_datagram_socket() {
    let path = temp_path("dgram.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let mut reactor = util::reactor();
    reactor.context().adopt_unix_datagram(socket, UnixEcho).unwrap();
    let (p, back) = (path.clone(), temp_path("dgram-client.sock"));
    let client = util::client(&reactor, move || {
        let c = UnixDatagram::bind(&back).unwrap();
        c.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
        c.send_to(b"ping", &p).unwrap();
        let mut buf = [0; 16];
        let n = c.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");
        let _ = std::fs::remove_file(&back);
    });
    util::run(&mut reactor);
    client.join();
    let _ = std::fs::remove_file(&path);
}
