//! `socket2::SockRef` access to the sockets under connections, listeners
//! and datagram endpoints: options set through it read back, and the
//! options reel set itself show through it.

mod util;

use std::net::SocketAddr;
use std::time::Duration;

use reel::{Context, DatagramContext, DatagramProtocol, Protocol};
use socket2::TcpKeepalive;
use util::Log;

/// Sets keep-alive and a send buffer on its connection, reads them back.
struct Tune(Log<String>);

impl Protocol for Tune {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        let sock = cx.sock_ref().expect("a TCP connection has a socket");
        sock.set_tcp_keepalive(&TcpKeepalive::new().with_time(Duration::from_secs(42))).expect("keep-alive");
        sock.set_send_buffer_size(64 * 1024).expect("SO_SNDBUF");
        let mut log = self.0.borrow_mut();
        log.push(format!("keepalive={}", sock.keepalive().unwrap()));
        log.push(format!("idle={:?}", sock.tcp_keepalive_time().unwrap()));
        // Linux doubles what it is given, for its bookkeeping.
        log.push(format!("sndbuf>={}", sock.send_buffer_size().unwrap() >= 64 * 1024));
        log.push(format!("nodelay={}", sock.tcp_nodelay().unwrap()));
        log.push(format!("mss>0={}", sock.tcp_mss().unwrap() > 0));
        drop(log);
        let id = cx.conn_id();
        let same = cx.conn_sock_ref(id).map(|s| s.keepalive().unwrap());
        self.0.borrow_mut().push(format!("by id={same:?}"));
        cx.close();
    }
    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
}

#[test]
fn connection_options_set_and_read_back() {
    let mut reactor = util::reactor();
    let log = util::log();
    let l2 = log.clone();
    let id = reactor.listen_tcp("127.0.0.1:0", move |_| Tune(l2.clone())).unwrap();
    let listener = reactor.listener_sock_ref(id).expect("listener socket");
    assert!(listener.reuse_address().unwrap(), "reel sets SO_REUSEADDR on listeners");
    listener.set_recv_buffer_size(128 * 1024).unwrap();
    assert!(listener.recv_buffer_size().unwrap() >= 128 * 1024);
    let addr = reactor.listener_addr(id).unwrap();
    let client = util::client(&reactor, move || util::read_to_end(&mut util::connect(addr)));
    util::run(&mut reactor);
    client.join();
    assert_eq!(
        *log.borrow(),
        ["keepalive=true", "idle=42s", "sndbuf>=true", "nodelay=true", "mss>0=true", "by id=Some(true)"]
    );
}

struct Buffers(Log<String>);

impl DatagramProtocol for Buffers {
    fn started(&mut self, cx: &mut DatagramContext<'_>) {
        let sock = cx.sock_ref().expect("socket");
        sock.set_recv_buffer_size(256 * 1024).unwrap();
        self.0.borrow_mut().push(format!("rcvbuf>={}", sock.recv_buffer_size().unwrap() >= 256 * 1024));
        cx.stop();
    }
    fn datagram_received(&mut self, _cx: &mut DatagramContext<'_>, _data: &[u8], _from: SocketAddr) {}
}

#[test]
fn endpoint_options_set_and_read_back() {
    let mut reactor = util::reactor();
    let log = util::log();
    let id = reactor.listen_udp("127.0.0.1:0", Buffers(log.clone())).unwrap();
    assert!(reactor.udp_sock_ref(id).is_some());
    util::run(&mut reactor);
    assert_eq!(*log.borrow(), ["rcvbuf>=true"]);
}

#[test]
fn in_memory_connections_have_no_socket() {
    struct NoSocket(Log<bool>);
    impl Protocol for NoSocket {
        fn connection_made(&mut self, cx: &mut Context<'_>) {
            self.0.borrow_mut().push(cx.sock_ref().is_none());
        }
        fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
    }
    let log = util::log();
    let _h = reel::testing::Harness::new(NoSocket(log.clone()));
    assert_eq!(*log.borrow(), [true]);
}
