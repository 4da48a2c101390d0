//! UDP socket options: multicast on the loopback interface (IPv4 and
//! IPv6: join, receive one's own group datagram, leave) and broadcast.
//! Where the kernel refuses multicast on loopback (no multicast route, an
//! interface without the MULTICAST flag), the test says so and skips.

mod util;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use reel::{DatagramContext, DatagramProtocol, UdpId};
use util::Log;

/// Joins `group` on loopback when started, sends one datagram to it from
/// the sender endpoint, records what arrives, then leaves.
struct Member {
    group: SocketAddr,
    sender: UdpId,
    log: Log<String>,
}

fn lo_index() -> u32 {
    std::fs::read_to_string("/sys/class/net/lo/ifindex").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(1)
}

impl Member {
    fn join(&self, cx: &DatagramContext<'_>) -> io::Result<()> {
        match self.group {
            SocketAddr::V4(g) => cx.join_multicast_v4(*g.ip(), Ipv4Addr::LOCALHOST),
            SocketAddr::V6(g) => cx.join_multicast_v6(*g.ip(), lo_index()),
        }
    }
    fn leave(&self, cx: &DatagramContext<'_>) -> io::Result<()> {
        match self.group {
            SocketAddr::V4(g) => cx.leave_multicast_v4(*g.ip(), Ipv4Addr::LOCALHOST),
            SocketAddr::V6(g) => cx.leave_multicast_v6(*g.ip(), lo_index()),
        }
    }
}

impl DatagramProtocol for Member {
    fn started(&mut self, cx: &mut DatagramContext<'_>) {
        if let Err(e) = self.join(cx) {
            self.log.borrow_mut().push(format!("skip: join: {e}"));
            cx.stop();
            return;
        }
        let port = cx.local_addr().port();
        let mut to = self.group;
        to.set_port(port);
        let sender = self.sender;
        cx.send_from(sender, b"to the group", to);
    }
    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], _from: SocketAddr) {
        self.log.borrow_mut().push(format!("got {}", String::from_utf8_lossy(data)));
        self.log.borrow_mut().push(format!("leave {:?}", self.leave(cx).map_err(|e| e.kind())));
        // Not a member any more: leaving again is refused.
        self.log.borrow_mut().push(format!("again {}", self.leave(cx).is_err()));
        cx.stop();
    }
}

/// Sends with the multicast options set; reports send errors.
struct Sender {
    v6: bool,
    log: Log<String>,
}

impl DatagramProtocol for Sender {
    fn started(&mut self, cx: &mut DatagramContext<'_>) {
        let r = if self.v6 {
            cx.set_multicast_if_v6(lo_index())
                .and_then(|()| cx.set_multicast_hops_v6(1))
                .and_then(|()| cx.set_multicast_loop_v6(true))
        } else {
            cx.set_multicast_if_v4(Ipv4Addr::LOCALHOST)
                .and_then(|()| cx.set_multicast_ttl_v4(1))
                .and_then(|()| cx.set_multicast_loop_v4(true))
        };
        if let Err(e) = r {
            self.log.borrow_mut().push(format!("skip: options: {e}"));
            cx.stop();
        }
        let sock = cx.sock_ref().expect("socket");
        if self.v6 {
            assert_eq!(sock.multicast_hops_v6().ok(), Some(1));
            assert_eq!(sock.multicast_loop_v6().ok(), Some(true));
        } else {
            assert_eq!(sock.multicast_ttl_v4().ok(), Some(1));
            assert_eq!(sock.multicast_loop_v4().ok(), Some(true));
        }
    }
    fn datagram_received(&mut self, _cx: &mut DatagramContext<'_>, _data: &[u8], _from: SocketAddr) {}
    fn error_received(&mut self, cx: &mut DatagramContext<'_>, error: &io::Error) {
        self.log.borrow_mut().push(format!("skip: send: {error}"));
        cx.stop();
    }
}

/// Runs one group round trip; returns the log, or None if skipped.
fn round_trip(group: &str, sender_bind: &str) -> Option<Vec<String>> {
    let mut group: SocketAddr = group.parse().unwrap();
    if let SocketAddr::V6(g) = &mut group {
        // A link-local group is bound with its interface.
        g.set_scope_id(lo_index());
    }
    let mut reactor = util::reactor();
    let log = util::log();
    let sender = match reactor.listen_udp(sender_bind, Sender { v6: group.is_ipv6(), log: log.clone() }) {
        Ok(id) => id,
        Err(e) => {
            println!("SKIPPED: cannot bind {sender_bind}: {e}");
            return None;
        }
    };
    // Bound to the group address itself: only the group's datagrams reach
    // it, and it is reachable through no unicast address.
    if let Err(e) = reactor.listen_udp(group, Member { group, sender, log: log.clone() }) {
        println!("SKIPPED: cannot bind the group address {group}: {e}");
        return None;
    }
    util::run(&mut reactor);
    let log = log.borrow().clone();
    if let Some(skip) = log.iter().find(|l| l.starts_with("skip")) {
        println!("SKIPPED: multicast on loopback refused by the kernel here ({group}): {skip}");
        return None;
    }
    Some(log)
}

#[test]
fn multicast_v4_on_loopback() {
    if let Some(log) = round_trip("239.255.42.99:0", "127.0.0.1:0") {
        assert_eq!(log, ["got to the group", "leave Ok(())", "again true"]);
    }
}

#[test]
fn multicast_v6_on_loopback() {
    if !util::ipv6_available() {
        println!("SKIPPED: no IPv6 loopback here");
        return;
    }
    if let Some(log) = round_trip("[ff02::1:4299]:0", "[::1]:0") {
        assert_eq!(log, ["got to the group", "leave Ok(())", "again true"]);
    }
}

/// Sends to the loopback broadcast address, with or without
/// `SO_BROADCAST`, and records the outcome.
struct Broadcaster {
    allow: bool,
    log: Log<String>,
}

impl DatagramProtocol for Broadcaster {
    fn started(&mut self, cx: &mut DatagramContext<'_>) {
        cx.set_broadcast(self.allow).expect("SO_BROADCAST");
        let on = cx.sock_ref().expect("socket").broadcast().expect("read SO_BROADCAST");
        self.log.borrow_mut().push(format!("broadcast={on}"));
        cx.send_to(b"all", SocketAddr::from((Ipv4Addr::new(127, 255, 255, 255), 9)));
        // Errors of the send arrive in the settle phase; then stop.
        cx.call_later(std::time::Duration::ZERO, |cx| cx.stop());
    }
    fn datagram_received(&mut self, _cx: &mut DatagramContext<'_>, _data: &[u8], _from: SocketAddr) {}
    fn error_received(&mut self, _cx: &mut DatagramContext<'_>, error: &io::Error) {
        self.log.borrow_mut().push(format!("error {:?}", error.kind()));
    }
}

#[test]
fn broadcast_needs_the_option() {
    for allow in [false, true] {
        let mut reactor = util::reactor();
        let log = util::log();
        reactor.listen_udp("127.0.0.1:0", Broadcaster { allow, log: log.clone() }).unwrap();
        util::run(&mut reactor);
        let log = log.borrow();
        assert_eq!(log[0], format!("broadcast={allow}"));
        if allow {
            assert_eq!(log.len(), 1, "allowed: no error ({log:?})");
        } else {
            assert_eq!(log[1..], ["error PermissionDenied".to_string()], "refused without SO_BROADCAST");
        }
    }
}
