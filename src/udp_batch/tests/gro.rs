//! Coalesced receives (UDP GRO): a grouped send reaches a socket with
//! `UDP_GRO` on as one message, which the batch cuts back into its
//! datagrams; the control message is found among others; a message the
//! kernel cut short loses only its last datagram; a connected outbox
//! reports a refusal pending on its socket.

use super::*;

/// A receiving socket with UDP GRO on (`gro`) or off.
fn receiver(gro: bool) -> UdpSocket {
    let socket = bound();
    if gro {
        assert!(crate::udp_batch::gro::enable(socket.as_raw_fd()), "UDP_GRO: {}", io::Error::last_os_error());
    }
    socket
}

/// A non-blocking IPv4 socket on a free port.
fn bound() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    socket
}

/// Sixteen datagrams of 12 bytes and a shorter last one, sent grouped
/// (one `UDP_SEGMENT` send) from `sender` to `to`.
fn send_group(sender: &UdpSocket, to: SocketAddr) -> Vec<Vec<u8>> {
    let mut sends: Vec<(Vec<u8>, SocketAddr)> =
        (0..15).map(|i| (format!("datagram #{i:02}").into_bytes(), to)).collect();
    sends.push((b"last".to_vec(), to));
    let mut out = Outbox::new();
    let (done, errors) = push_and_flush(&mut out, sender.as_raw_fd(), &sends);
    assert_eq!((done.sent, errors, out.grouped), (16, vec![], 1), "sent as one group");
    sends.into_iter().map(|(d, _)| d).collect()
}

/// Everything `socket` holds, as (datagram, sender), and the number of
/// messages it came in.
fn receive_all(batch: &mut Batch, socket: &UdpSocket, expected: usize) -> (Vec<(Vec<u8>, SocketAddr)>, usize) {
    let (mut got, mut messages) = (Vec::new(), 0);
    while got.len() < expected {
        await_datagram(socket);
        messages += batch.receive(socket.as_raw_fd(), BATCH).unwrap();
        for i in 0..batch.len() {
            let (data, from) = batch.datagram(i).unwrap();
            got.push((data.to_vec(), *from.unwrap()));
        }
        assert!(batch.datagram(batch.len()).is_none());
        assert_eq!(batch.lost(), 0);
    }
    (got, messages)
}

/// A group sent to a socket with UDP GRO on or off: every datagram
/// comes back from the batch, in order, from the sender; returns the
/// number of messages it came in.
fn group_through(gro: bool) -> usize {
    let socket = receiver(gro);
    let sender = bound();
    let sent = send_group(&sender, socket.local_addr().unwrap());
    let mut batch = Batch::new();
    let (got, messages) = receive_all(&mut batch, &socket, sent.len());
    let from = sender.local_addr().unwrap();
    assert_eq!(got, sent.into_iter().map(|d| (d, from)).collect::<Vec<_>>());
    messages
}

#[test]
fn a_grouped_send_arrives_as_one_message_cut_back_into_its_datagrams() {
    assert_eq!(group_through(true), 1, "the kernel handed the group over whole");
}

#[test]
fn without_gro_the_same_group_arrives_datagram_by_datagram() {
    assert_eq!(group_through(false), 16);
}

#[test]
fn coalesced_and_single_datagrams_keep_their_order_and_senders_in_one_receive() {
    let socket = receiver(true);
    let to = socket.local_addr().unwrap();
    let (a, b) = (UdpSocket::bind("127.0.0.1:0").unwrap(), UdpSocket::bind("127.0.0.1:0").unwrap());
    a.set_nonblocking(true).unwrap();
    b.send_to(b"before", to).unwrap();
    b.send_to(b"", to).unwrap();
    let group = send_group(&a, to);
    b.send_to(b"after", to).unwrap();
    let mut batch = Batch::new();
    // Reused twice, so that the second receive starts from what the
    // first left (control lengths given back, sizes reset).
    for round in 0..2 {
        if round == 1 {
            b.send_to(b"before", to).unwrap();
            b.send_to(b"", to).unwrap();
            send_group(&a, to);
            b.send_to(b"after", to).unwrap();
        }
        let (got, messages) = receive_all(&mut batch, &socket, 19);
        assert_eq!(messages, 4);
        let (fa, fb) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let mut want = vec![(b"before".to_vec(), fb), (Vec::new(), fb)];
        want.extend(group.iter().map(|d| (d.clone(), fa)));
        want.push((b"after".to_vec(), fb));
        assert_eq!(got, want, "round {round}");
    }
    // And a receive of single datagrams alone after them.
    b.send_to(b"single", to).unwrap();
    let (got, messages) = receive_all(&mut batch, &socket, 1);
    assert_eq!((got, messages), (vec![(b"single".to_vec(), b.local_addr().unwrap())], 1));
}

#[test]
fn a_message_cut_short_loses_only_what_is_incomplete_or_unknown() {
    // Not seen from a kernel (a coalesced message fits the 64 KiB
    // buffer, its size message the control buffer): the headers as a
    // receive would leave them. A coalesced message cut short (its last
    // datagram incomplete, or cut at a datagram's end), a single
    // datagram, a message whose control messages were cut short without
    // its size (never delivered: its datagrams may be joined), and a
    // coalesced one whole.
    let mut batch = Batch::new();
    let messages =
        [(100u32, 30, libc::MSG_TRUNC), (90, 30, libc::MSG_TRUNC), (5, 0, 0), (40, UNKNOWN_SIZE, 0), (60, 20, 0)];
    batch.count = messages.len();
    batch.sizes = [0; BATCH];
    for (i, (len, size, flags)) in messages.into_iter().enumerate() {
        batch.headers[i].msg_len = len;
        batch.headers[i].msg_hdr.msg_flags = flags;
        batch.sizes[i] = size;
        batch.senders[i] = Some(SocketAddr::from(([127, 0, 0, 1], 1000 + i as u16)));
        for k in 0..len as usize {
            batch.buffers[i * MAX_DATAGRAM + k] = (i * 100 + k) as u8;
        }
    }
    batch.coalesced = true;
    batch.count_coalesced();
    let pieces: Vec<(Vec<u8>, u16)> =
        (0..batch.len()).map(|i| batch.datagram(i).unwrap()).map(|(d, f)| (d.to_vec(), f.unwrap().port())).collect();
    let bytes = |i: usize, r: std::ops::Range<usize>| r.map(|k| (i * 100 + k) as u8).collect::<Vec<u8>>();
    assert_eq!(
        pieces,
        vec![
            (bytes(0, 0..30), 1000),
            (bytes(0, 30..60), 1000),
            (bytes(0, 60..90), 1000),
            (bytes(1, 0..30), 1001),
            (bytes(1, 30..60), 1001),
            (bytes(1, 60..90), 1001),
            (bytes(2, 0..5), 1002),
            (bytes(4, 0..20), 1004),
            (bytes(4, 20..40), 1004),
            (bytes(4, 40..60), 1004),
        ]
    );
    assert_eq!(batch.lost(), 3, "the two cut short and the one of unknown size");
}

#[test]
fn the_segment_size_is_found_after_another_control_message() {
    #[repr(C, align(8))]
    struct Buffer([u8; crate::udp_batch::gro::CONTROL_BYTES]);
    let mut buffer = Buffer([0; crate::udp_batch::gro::CONTROL_BYTES]);
    let mut msg: libc::msghdr = zeroed_header().msg_hdr;
    msg.msg_control = buffer.0.as_mut_ptr().cast();
    msg.msg_controllen = crate::udp_batch::gro::CONTROL_BYTES as _;
    let int = size_of::<libc::c_int>() as libc::c_uint;
    // SAFETY: `msg` points at `buffer`, alive, aligned for a `cmsghdr`
    // and unaliased for this block, with its full length; the headers
    // the helpers return lie within it (asserted non-null), and the
    // values are written unaligned, as `c_int`s, inside their messages.
    let found = |first: (i32, i32, i32), second: Option<(i32, i32, i32)>, msg: &mut libc::msghdr| unsafe {
        std::ptr::write_bytes(msg.msg_control.cast::<u8>(), 0, crate::udp_batch::gro::CONTROL_BYTES);
        let mut used = 0;
        let mut c = libc::CMSG_FIRSTHDR(msg);
        for (level, kind, value) in std::iter::once(first).chain(second) {
            assert!(!c.is_null());
            (*c).cmsg_level = level;
            (*c).cmsg_type = kind;
            (*c).cmsg_len = libc::CMSG_LEN(int) as _;
            libc::CMSG_DATA(c).cast::<libc::c_int>().write_unaligned(value);
            used += libc::CMSG_SPACE(int) as usize;
            c = libc::CMSG_NXTHDR(msg, c);
        }
        let full = msg.msg_controllen;
        msg.msg_controllen = used as _;
        let size = crate::udp_batch::gro::segment_size(msg);
        msg.msg_controllen = full;
        size
    };
    let gro_of = |size| (libc::SOL_UDP, libc::UDP_GRO, size);
    let tos = (libc::SOL_IP, libc::IP_TOS, 0x10);
    assert_eq!(found(gro_of(1200), None, &mut msg), Some(1200));
    assert_eq!(found(tos, Some(gro_of(1400)), &mut msg), Some(1400));
    assert_eq!(found(tos, None, &mut msg), None, "no UDP_GRO message: one datagram");
    assert_eq!(found(gro_of(0), None, &mut msg), None, "a size of 0 is none");
    assert_eq!(found(gro_of(-1), None, &mut msg), None);
}

#[test]
fn a_connected_outbox_groups_without_addresses_and_reports_a_pending_refusal() {
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.connect(peer.local_addr().unwrap()).unwrap();
    sender.set_nonblocking(true).unwrap();
    let to = peer.local_addr().unwrap();
    let mut out = Outbox::new();
    out.set_connected();
    let sends: Vec<(Vec<u8>, SocketAddr)> = (0..6).map(|i| (format!("grouped {i}").into_bytes(), to)).collect();
    let (done, errors) = push_and_flush(&mut out, sender.as_raw_fd(), &sends);
    assert_eq!((done.sent, errors, out.grouped), (6, vec![], 1));
    let from = sender.local_addr().unwrap();
    assert_eq!(receive_n(&peer, 6), sends.iter().map(|(d, _)| (d.clone(), from)).collect::<Vec<_>>());

    // The peer goes: a datagram to it is refused (ICMP port unreachable,
    // not rate-limited on loopback), and the refusal waits on the socket
    // for the next send, which a group's first datagram meets.
    drop(peer);
    sender.send(b"refused").unwrap();
    let (done, errors) = push_and_flush(&mut out, sender.as_raw_fd(), &sends);
    assert_eq!(errors, vec![Some(libc::ECONNREFUSED)], "reported once, as the first datagram's");
    assert_eq!(done.sent, 5, "the rest still sent");
}

/// A connected outbox to a peer that is gone, with two entries planned
/// (a datagram, then a group): the first datagram's refusal (ICMP, at
/// once on loopback) waits on the socket when the group is sent, and is
/// reported as separate sends would report it, not lost inside a
/// `sendmmsg` of both. (Found by review.)
#[test]
fn a_connected_outbox_reports_a_refusal_met_by_a_later_entry() {
    let (sender, to) = connected_to_a_closed_port();
    let mut out = Outbox::new();
    out.set_connected();
    let sends = vec![(b"aaa".to_vec(), to), (b"bbbbb".to_vec(), to), (b"bbbbb".to_vec(), to)];
    let (done, errors) = push_and_flush(&mut out, sender.as_raw_fd(), &sends);
    assert_eq!((done.sent, errors), (2, vec![Some(libc::ECONNREFUSED)]));
}

/// As above with nothing to group (two sizes): still one call per
/// datagram. (Found by review.)
#[test]
fn a_connected_outbox_without_groups_reports_a_later_refusal() {
    let (sender, to) = connected_to_a_closed_port();
    let mut out = Outbox::new();
    out.set_connected();
    let sends = vec![(b"aaa".to_vec(), to), (b"bbbbb".to_vec(), to)];
    let (done, errors) = push_and_flush(&mut out, sender.as_raw_fd(), &sends);
    assert_eq!((done.sent, errors), (1, vec![Some(libc::ECONNREFUSED)]));
}

/// A socket connected to a port nobody listens on, and that port.
fn connected_to_a_closed_port() -> (UdpSocket, SocketAddr) {
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = peer.local_addr().unwrap();
    drop(peer);
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.connect(to).unwrap();
    sender.set_nonblocking(true).unwrap();
    (sender, to)
}

/// An IPv6 socket, dual stack, bound to `bind`.
fn dual_stack(bind: &str) -> UdpSocket {
    let s = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None).unwrap();
    s.set_only_v6(false).unwrap();
    s.bind(&bind.parse::<SocketAddr>().unwrap().into()).unwrap();
    s.into()
}

#[test]
fn a_connected_outbox_groups_over_ipv6_and_to_a_dual_stack_ipv4_peer() {
    if UdpSocket::bind("[::1]:0").is_err() {
        return;
    }
    for (bind, peer_bind) in [("[::1]:0", "[::1]:0"), ("[::]:0", "127.0.0.1:0")] {
        let peer = UdpSocket::bind(peer_bind).unwrap();
        let sender = dual_stack(bind);
        let to = peer.local_addr().unwrap();
        let wire = match to {
            SocketAddr::V4(a) => SocketAddr::new(a.ip().to_ipv6_mapped().into(), a.port()),
            other => other,
        };
        sender.connect(wire).unwrap();
        sender.set_nonblocking(true).unwrap();
        let mut out = Outbox::new();
        out.set_connected();
        let sends = [&b"x"[..], b"yyyy", b"yyyy", b"yy"];
        for d in sends {
            // Mapped, as an IPv6 endpoint pushes.
            assert!(out.push_to(d, &to, true));
        }
        let mut errors = Vec::new();
        let done = out.flush(sender.as_raw_fd(), |e| errors.push(e.raw_os_error()));
        assert_eq!((done.sent, errors, out.grouped), (4, vec![], 1), "{bind}");
        let got: Vec<Vec<u8>> = receive_n(&peer, 4).into_iter().map(|(d, _)| d).collect();
        assert_eq!(got, sends.map(<[u8]>::to_vec), "{bind}");
    }
}

#[test]
fn coalesced_receives_keep_ipv6_and_dual_stack_ipv4_senders() {
    if UdpSocket::bind("[::1]:0").is_err() {
        return;
    }
    for (bind, sender_bind) in [("[::1]:0", "[::1]:0"), ("[::]:0", "127.0.0.1:0")] {
        let socket = dual_stack(bind);
        socket.set_nonblocking(true).unwrap();
        assert!(crate::udp_batch::gro::enable(socket.as_raw_fd()));
        let port = socket.local_addr().unwrap().port();
        let sender = UdpSocket::bind(sender_bind).unwrap();
        sender.set_nonblocking(true).unwrap();
        let to = SocketAddr::new(sender.local_addr().unwrap().ip(), port);
        let sent = send_group(&sender, to);
        let mut batch = Batch::new();
        await_datagram(&socket);
        assert_eq!(batch.receive(socket.as_raw_fd(), BATCH).unwrap(), 1, "{bind}");
        batch.resolve_senders(true, None);
        let got: Vec<(Vec<u8>, SocketAddr)> =
            (0..batch.len()).map(|i| batch.datagram(i).unwrap()).map(|(d, f)| (d.to_vec(), *f.unwrap())).collect();
        let from = sender.local_addr().unwrap();
        assert_eq!(got, sent.into_iter().map(|d| (d, from)).collect::<Vec<_>>(), "{bind}");
    }
}

/// A socket with software receive timestamps (`SO_TIMESTAMPING`), whose
/// 64-byte message the kernel writes before `UDP_GRO`, once the kernel
/// stamps its datagrams (turned on in deferred work: waited for,
/// bounded); `batch` has received the stamped one.
fn stamped_receiver(batch: &mut Batch, sender: &UdpSocket) -> UdpSocket {
    let socket = receiver(false);
    let flags = (libc::SOF_TIMESTAMPING_SOFTWARE | libc::SOF_TIMESTAMPING_RX_SOFTWARE) as libc::c_int;
    super::set_int_option(&socket, libc::SOL_SOCKET, libc::SO_TIMESTAMPING, flags);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        assert!(std::time::Instant::now() < deadline, "never stamped");
        sender.send_to(b"warm", socket.local_addr().unwrap()).unwrap();
        await_datagram(&socket);
        assert_eq!(batch.receive(socket.as_raw_fd(), BATCH).unwrap(), 1);
        let level = i32::from_ne_bytes(batch._controls[0].0[8..12].try_into().unwrap());
        if level == libc::SOL_SOCKET {
            return socket;
        }
    }
}

/// With 64 bytes of control buffer the size message did not fit after
/// the timestamp, and the group came as one datagram. (Found by review.)
#[test]
fn a_coalesced_receive_with_timestamps_is_still_cut_into_its_datagrams() {
    let sender = bound();
    let mut batch = Batch::new();
    let socket = stamped_receiver(&mut batch, &sender);
    assert!(crate::udp_batch::gro::enable(socket.as_raw_fd()));
    let sent = send_group(&sender, socket.local_addr().unwrap());
    let (got, messages) = receive_all(&mut batch, &socket, sent.len());
    assert_eq!(messages, 1);
    let from = sender.local_addr().unwrap();
    assert_eq!(got, sent.into_iter().map(|d| (d, from)).collect::<Vec<_>>());
}

/// Counts its datagrams.
struct Count(std::rc::Rc<std::cell::Cell<usize>>);

impl crate::DatagramProtocol for Count {
    fn datagram_received(&mut self, _cx: &mut crate::DatagramContext<'_>, _data: &[u8], _from: SocketAddr) {
        self.0.set(self.0.get() + 1);
    }
}

/// The same through the reactor: an adopted socket with timestamps on
/// (the reactor turns GRO on) hears each datagram of a group.
#[test]
fn an_adopted_socket_with_timestamps_hears_each_datagram_of_a_group() {
    let sender = bound();
    let socket = stamped_receiver(&mut Batch::new(), &sender);
    let to = socket.local_addr().unwrap();
    let mut reactor = crate::Reactor::new().unwrap();
    let n = std::rc::Rc::new(std::cell::Cell::new(0));
    reactor.context().adopt_udp(socket, Count(std::rc::Rc::clone(&n))).unwrap();
    reactor.turn(Some(Duration::ZERO)).unwrap();
    send_group(&sender, to);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while n.get() < 16 {
        assert!(std::time::Instant::now() < deadline, "{} of 16 datagrams", n.get());
        reactor.turn(Some(Duration::from_millis(100))).unwrap();
    }
    assert_eq!((n.get(), reactor.stats().datagrams_in), (16, 16));
}

/// The read budget counts datagrams, and the receive that passes it is
/// the turn's last: with `read_budget` 1 (4 datagrams), one read takes
/// one receive (up to 4 messages, here 4 groups of 16) and leaves the
/// rest for the next turn. (Review: coalesced messages overshoot the
/// budget; bounded to one receive.)
#[test]
fn the_read_budget_ends_a_read_after_the_receive_that_passes_it() {
    let config = crate::ReactorConfig { read_budget: 1, ..Default::default() };
    let mut reactor = crate::Reactor::with_config(config).unwrap();
    let n = std::rc::Rc::new(std::cell::Cell::new(0));
    let id = reactor.listen_udp("127.0.0.1:0", Count(std::rc::Rc::clone(&n))).unwrap();
    reactor.turn(Some(Duration::ZERO)).unwrap();
    let to = reactor.udp_addr(id).unwrap();
    let sender = bound();
    let mut out = Outbox::new();
    for _ in 0..8 {
        let sends: Vec<(Vec<u8>, SocketAddr)> = (0..16).map(|_| (vec![1u8; 100], to)).collect();
        let (done, _) = push_and_flush(&mut out, sender.as_raw_fd(), &sends);
        assert_eq!(done.sent, 16);
    }
    let mut scratch = vec![0u8; MAX_DATAGRAM];
    reactor.core.read_udp(id, &mut scratch);
    assert_eq!(n.get(), 64, "one receive of 4 groups");
    reactor.core.read_udp(id, &mut scratch);
    assert_eq!(n.get(), 128, "the rest on the next read");
}
