//! Listener and endpoint options: `SO_REUSEPORT` (`reuse_port`) and
//! dual-stack IPv6 sockets (`dual_stack`), on loopback.

mod util;

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};

use reel::{Context, DatagramContext, DatagramProtocol, ListenOptions, Protocol, UdpOptions};

fn v4(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Whether this machine has IPv6 loopback (some containers do not).
fn has_ipv6() -> bool {
    match TcpListener::bind("[::1]:0") {
        Ok(_) => true,
        Err(e) => {
            eprintln!("skipped: no IPv6 loopback here ({e})");
            false
        }
    }
}

/// Writes the peer address it sees, then closes.
struct SaysPeer(SocketAddr);

impl Protocol for SaysPeer {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.write(format!("{}\n", self.0).as_bytes());
        cx.close();
    }
    fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
}

#[test]
fn reuse_port_lets_two_listeners_share_a_port_and_is_off_by_default() {
    let mut reactor = util::reactor();
    let shared = ListenOptions { reuse_port: true, ..Default::default() };
    let a = reactor.listen_tcp_with(v4(0), |_| util::Echo, shared.clone()).expect("first");
    let addr = reactor.listener_addr(a).expect("bound");
    let b = reactor.listen_tcp_with(addr, |_| util::Echo, shared).expect("second, same port");
    assert_eq!(reactor.listener_addr(b), Some(addr));

    let c = reactor.listen_tcp(v4(0), |_| util::Echo).expect("third");
    let taken = reactor.listener_addr(c).expect("bound");
    let err = reactor.listen_tcp(taken, |_| util::Echo).expect_err("the default refuses a second bind");
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
    // Nor can a socket that asks for the option join one that did not.
    let opts = ListenOptions { reuse_port: true, ..Default::default() };
    let err = reactor.listen_tcp_with(taken, |_| util::Echo, opts).expect_err("the first did not share");
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
}

/// Counts datagrams; answers each with "ok".
struct Count(Arc<Mutex<usize>>);

impl DatagramProtocol for Count {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, _data: &[u8], from: SocketAddr) {
        *self.0.lock().unwrap() += 1;
        cx.send_to(b"ok", from);
    }
}

#[test]
fn reuse_port_for_udp_endpoints_and_off_by_default() {
    let mut reactor = util::reactor();
    let opts = UdpOptions { reuse_port: true, ..Default::default() };
    let n = Arc::new(Mutex::new(0));
    let a = reactor.listen_udp_with(v4(0), Count(Arc::clone(&n)), &opts).expect("first");
    let addr = reactor.udp_addr(a).expect("bound");
    let b = reactor.listen_udp_with(addr, Count(Arc::clone(&n)), &opts).expect("second, same port");
    assert_eq!(reactor.udp_addr(b), Some(addr));

    let c = reactor.listen_udp(v4(0), Count(Arc::clone(&n))).expect("third");
    let taken = reactor.udp_addr(c).expect("bound");
    let err = reactor.listen_udp(taken, Count(Arc::clone(&n))).expect_err("the default refuses a second bind");
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
}

#[test]
fn a_dual_stack_listener_serves_ipv4_and_ipv6_and_names_ipv4_peers_plainly() {
    if !has_ipv6() {
        return;
    }
    let mut reactor = util::reactor();
    let opts = ListenOptions { dual_stack: true, ..Default::default() };
    let id = reactor.listen_tcp_with("[::]:0", SaysPeer, opts).expect("listen on [::]");
    let port = reactor.listener_addr(id).expect("bound").port();
    // An IPv4 socket cannot take the port: the IPv6 one holds it for both.
    let err = TcpListener::bind(("0.0.0.0", port)).expect_err("IPv4 port taken by the dual-stack socket");
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
    let client = util::client(&reactor, move || {
        let mut a = util::connect(v4(port));
        let seen_v4 = util::read_line(&mut a);
        let local_v4 = a.local_addr().expect("local");
        let mut b = util::connect(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)));
        let seen_v6 = util::read_line(&mut b);
        let local_v6 = b.local_addr().expect("local");
        (seen_v4, local_v4, seen_v6, local_v6)
    });
    util::run(&mut reactor);
    let (seen_v4, local_v4, seen_v6, local_v6) = client.join();
    assert_eq!(seen_v4, local_v4.to_string(), "an IPv4 peer is named as IPv4, not ::ffff:");
    assert_eq!(seen_v6, local_v6.to_string());
}

#[test]
fn an_ipv6_listener_is_ipv6_only_by_default() {
    if !has_ipv6() {
        return;
    }
    let mut reactor = util::reactor();
    let id = reactor.listen_tcp("[::]:0", SaysPeer).expect("listen on [::]");
    let port = reactor.listener_addr(id).expect("bound").port();
    // IPV6_V6ONLY: the IPv4 port is still free.
    let v4_listener = TcpListener::bind(("0.0.0.0", port)).expect("the IPv4 port is free");
    drop(v4_listener);
}

/// Echoes each datagram to its sender.
struct UdpEcho;

impl DatagramProtocol for UdpEcho {
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        let mut reply = format!("{from} ").into_bytes();
        reply.extend_from_slice(data);
        cx.send_to(&reply, from);
    }
}

#[test]
fn a_dual_stack_udp_endpoint_answers_ipv4_senders() {
    if !has_ipv6() {
        return;
    }
    let mut reactor = util::reactor();
    let opts = UdpOptions { dual_stack: true, ..Default::default() };
    let id = reactor.listen_udp_with("[::]:0", UdpEcho, &opts).expect("bind [::]");
    let port = reactor.udp_addr(id).expect("bound").port();
    let client = util::client(&reactor, move || {
        let mut answers = Vec::new();
        for local in ["127.0.0.1:0", "[::1]:0"] {
            let s = UdpSocket::bind(local).expect("bind client");
            s.set_read_timeout(Some(util::IO_TIMEOUT)).expect("timeout");
            let server: SocketAddr =
                if local.starts_with('[') { format!("[::1]:{port}") } else { format!("127.0.0.1:{port}") }
                    .parse()
                    .expect("address");
            s.send_to(b"hi", server).expect("send");
            let mut buf = [0; 128];
            let (n, from) = s.recv_from(&mut buf).expect("an answer");
            answers.push((String::from_utf8_lossy(&buf[..n]).into_owned(), s.local_addr().expect("local"), from));
        }
        answers
    });
    util::run(&mut reactor);
    for (answer, local, from) in client.join() {
        assert_eq!(answer, format!("{local} hi"), "the sender is named in its own family");
        assert_eq!(from.port(), port);
    }
}
