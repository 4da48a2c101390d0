//! The unit tests of datagram batching, over real loopback sockets: the
//! receive batch and the outbox here, its grouped (GSO) sends in `gso`,
//! coalesced (GRO) receives and a connected outbox in `gro`.

use super::*;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Sets an integer socket option on `socket`; the test fails if it is
/// refused.
fn set_int_option(socket: &UdpSocket, level: libc::c_int, name: libc::c_int, value: libc::c_int) {
    // SAFETY: `value` is a local `c_int`, valid for reads of the length
    // given, on an open socket.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "setsockopt({level}, {name}): {}", io::Error::last_os_error());
}

/// Waits (bounded) until `socket` has a datagram to read.
fn await_datagram(socket: &UdpSocket) {
    socket.set_nonblocking(false).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut peek = [0u8; 1];
    socket.peek(&mut peek).unwrap();
    socket.set_nonblocking(true).unwrap();
}

#[test]
fn a_batch_holds_each_datagram_with_its_sender() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut batch = Batch::new();
    assert_eq!(batch.receive(server.as_raw_fd(), BATCH).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    let big = vec![7u8; 65_507];
    let sent: Vec<Vec<u8>> = vec![b"one".to_vec(), Vec::new(), big.clone(), b"four".to_vec(), b"five".to_vec()];
    for d in &sent {
        client.send_to(d, server.local_addr().unwrap()).unwrap();
    }
    await_datagram(&server);
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let n = batch.receive(server.as_raw_fd(), 2).unwrap();
        assert!((1..=2).contains(&n));
        for i in 0..n {
            let (data, from) = batch.datagram(i).unwrap();
            assert_eq!(from, Some(&client.local_addr().unwrap()));
            got.push(data.to_vec());
        }
        assert!(batch.datagram(n).is_none());
    }
    assert_eq!(got, sent);
}

#[test]
fn senders_on_many_sockets_are_told_apart_over_reused_slots() {
    // More datagrams than a batch from several senders, so that every
    // slot is reused with address lengths the last receive wrote.
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let clients: Vec<UdpSocket> = (0..5).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
    let mut batch = Batch::new();
    let mut expected = Vec::new();
    for round in 0..8u8 {
        for (k, c) in clients.iter().enumerate() {
            let payload = vec![round, k as u8];
            c.send_to(&payload, server.local_addr().unwrap()).unwrap();
            expected.push((payload, c.local_addr().unwrap()));
        }
    }
    let mut got = Vec::new();
    while got.len() < expected.len() {
        await_datagram(&server);
        let n = batch.receive(server.as_raw_fd(), BATCH).unwrap();
        for i in 0..n {
            let (data, from) = batch.datagram(i).unwrap();
            got.push((data.to_vec(), *from.unwrap()));
        }
    }
    // One socket per sender: each sender's own order is kept.
    for c in &clients {
        let addr = c.local_addr().unwrap();
        let mine = |v: &Vec<(Vec<u8>, SocketAddr)>| v.iter().filter(|(_, a)| *a == addr).cloned().collect::<Vec<_>>();
        assert_eq!(mine(&got), mine(&expected));
    }
    assert_eq!(got.len(), expected.len());
}

#[test]
fn ipv6_senders_come_back_as_they_are() {
    let Ok(server) = UdpSocket::bind("[::1]:0") else { return };
    let client = UdpSocket::bind("[::1]:0").unwrap();
    client.send_to(b"x", server.local_addr().unwrap()).unwrap();
    await_datagram(&server);
    let mut batch = Batch::new();
    assert_eq!(batch.receive(server.as_raw_fd(), BATCH).unwrap(), 1);
    assert_eq!(batch.datagram(0).unwrap(), (&b"x"[..], Some(&client.local_addr().unwrap())));
}

#[test]
fn addresses_round_trip_through_their_c_form() {
    for addr in ["127.0.0.1:9", "10.1.2.3:65535", "[::1]:1", "[fe80::1%3]:4242", "[::ffff:192.0.2.7]:53"] {
        let addr: SocketAddr = addr.parse().unwrap();
        let mut storage = zeroed_storage();
        let mut c = CAddr { v6: zeroed_in6() };
        let len = c.set(addr);
        let name = &c as *const CAddr;
        // SAFETY: `name` points at `len` initialised bytes of `c`,
        // which lives to the end of the loop body; `storage` is a
        // distinct local at least that large.
        unsafe {
            std::ptr::copy_nonoverlapping(
                name.cast::<u8>(),
                (&mut storage as *mut libc::sockaddr_storage).cast::<u8>(),
                len as usize,
            )
        };
        assert_eq!(storage_to_addr(&storage, len), Some(addr));
        assert_eq!(storage_to_addr(&storage, 2), None, "a short length is no address");
    }
    assert_eq!(storage_to_addr(&zeroed_storage(), STORAGE_LEN), None);
}

#[test]
fn a_flush_of_one_datagram_sends_it_or_reports_its_error() {
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.set_nonblocking(true).unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut out = Outbox::new();
    for round in 0..3u8 {
        assert!(out.push(&[round], peer.local_addr().unwrap()));
        let done = out.flush(sender.as_raw_fd(), |e| panic!("unexpected error {e}"));
        assert_eq!(done, Flushed { sent: 1, blocked: false });
        assert!(out.is_empty());
        assert_eq!(receive_n(&peer, 1), vec![(vec![round], sender.local_addr().unwrap())]);
    }
    // An IPv6 destination on an IPv4 socket: its own error, nothing sent.
    assert!(out.push(b"nowhere", "[::1]:9".parse().unwrap()));
    let mut errors = Vec::new();
    assert_eq!(out.flush(sender.as_raw_fd(), |e| errors.push(e)), Flushed { sent: 0, blocked: false });
    assert_eq!(errors.len(), 1);
    assert!(out.is_empty());
}

#[test]
fn flow_information_is_kept_as_std_socket2_and_mio_keep_it() {
    // `sin6_flowinfo` holds `SocketAddrV6::flowinfo` as it is, not
    // byte-swapped, in `std`, `socket2` and `mio` alike: the batch
    // paths must agree with them, or an address's flow label differs
    // between a reply that leaves with `sendmmsg` and one that leaves
    // from the send queue (through `mio`).
    let addr = SocketAddr::V6(SocketAddrV6::new("2001:db8::1".parse().unwrap(), 9, 0x000a_bcde, 3));
    let theirs = socket2::SockAddr::from(addr);
    let mut storage = zeroed_storage();
    // SAFETY: `theirs` points at a `sockaddr_storage`-sized C address
    // of which its first `len` bytes are written; `storage` is a
    // distinct local of that size.
    unsafe {
        std::ptr::copy_nonoverlapping(
            theirs.as_ptr().cast::<u8>(),
            (&mut storage as *mut libc::sockaddr_storage).cast::<u8>(),
            theirs.len() as usize,
        )
    };
    assert_eq!(storage_to_addr(&storage, theirs.len()), Some(addr), "read as socket2 writes it");
    let mut c = CAddr { v6: zeroed_in6() };
    let len = c.set_as(&addr, true);
    assert_eq!(len, theirs.len());
    assert_eq!(c.get(len), Some(addr), "written as read");
}

#[test]
fn a_dual_stack_socket_s_ipv4_destinations_are_written_mapped() {
    let mut c = CAddr { v6: zeroed_in6() };
    for (addr, mapped, written) in [
        ("192.0.2.7:53", true, "[::ffff:192.0.2.7]:53"),
        ("192.0.2.7:53", false, "192.0.2.7:53"),
        ("[2001:db8::1]:9", true, "[2001:db8::1]:9"),
        ("[fe80::1%3]:4242", true, "[fe80::1%3]:4242"),
    ] {
        let len = c.set_as(&addr.parse().unwrap(), mapped);
        assert_eq!(c.get(len), Some(written.parse().unwrap()), "{addr} mapped: {mapped}");
    }
    assert_eq!(c.get(0), None, "nothing written");
}

#[test]
fn a_dual_stack_socket_sends_to_ipv4_peers_from_the_outbox() {
    let opts = crate::UdpOptions { dual_stack: true, ..Default::default() };
    let Ok(sender) = crate::udp::bind_udp("[::]:0".parse().unwrap(), &opts) else { return };
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut out = Outbox::new();
    assert!(out.push_to(b"mapped", &peer.local_addr().unwrap(), true));
    let done = out.flush(sender.as_raw_fd(), |e| panic!("unexpected error {e}"));
    assert_eq!(done, Flushed { sent: 1, blocked: false });
    let got = receive_n(&peer, 1);
    assert_eq!(got[0].0, b"mapped");
    assert_eq!(got[0].1.port(), sender.local_addr().unwrap().port());
}

/// Receives `n` datagrams on a blocking `socket` (bounded in time).
fn receive_n(socket: &UdpSocket, n: usize) -> Vec<(Vec<u8>, SocketAddr)> {
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    (0..n)
        .map(|_| {
            let (len, from) = socket.recv_from(&mut buf).unwrap();
            (buf[..len].to_vec(), from)
        })
        .collect()
}

#[test]
fn one_flush_sends_each_reply_to_its_own_peer() {
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.set_nonblocking(true).unwrap();
    let peers: Vec<UdpSocket> = (0..3).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
    let mut out = Outbox::new();
    for round in 0..2 {
        for (k, p) in peers.iter().enumerate() {
            assert!(out.push(format!("{round}:{k}").as_bytes(), p.local_addr().unwrap()));
        }
        assert!(out.push(b"", peers[0].local_addr().unwrap()), "an empty datagram is one too");
        let mut errors = Vec::new();
        let done = out.flush(sender.as_raw_fd(), |e| errors.push(e));
        assert_eq!(done, Flushed { sent: 4, blocked: false });
        assert!(errors.is_empty() && out.is_empty());
        for (k, p) in peers.iter().enumerate() {
            let mut want = vec![(format!("{round}:{k}").into_bytes(), sender.local_addr().unwrap())];
            if k == 0 {
                want.push((Vec::new(), sender.local_addr().unwrap()));
            }
            assert_eq!(receive_n(p, want.len()), want);
        }
    }
}

#[test]
fn the_outbox_refuses_what_does_not_fit() {
    let to: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut out = Outbox::new();
    assert!(!out.push(&vec![0u8; OUTBOX_BYTES + 1], to));
    for _ in 0..OUTBOX_DATAGRAMS {
        assert!(out.push(b"x", to));
    }
    assert!(!out.push(b"x", to), "OUTBOX_DATAGRAMS datagrams at most");
    let mut out = Outbox::new();
    assert!(out.push(&vec![0u8; OUTBOX_BYTES - 1], to));
    assert!(out.push(b"x", to));
    assert!(!out.push(b"x", to), "OUTBOX_BYTES at most");
}

#[test]
fn an_error_on_one_datagram_is_its_own_and_the_rest_still_go() {
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.set_nonblocking(true).unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = peer.local_addr().unwrap();
    let v6: SocketAddr = "[::1]:9".parse().unwrap();
    let mut out = Outbox::new();
    assert!(out.push(b"first", to));
    // An IPv6 destination on an IPv4 socket fails for that datagram
    // alone (EAFNOSUPPORT), in the middle of a batch.
    assert!(out.push(b"nowhere", v6));
    assert!(out.push(b"second", to));
    assert!(out.push(b"nowhere again", v6));
    assert!(out.push(b"third", to));
    let mut errors = Vec::new();
    let done = out.flush(sender.as_raw_fd(), |e| errors.push(e));
    assert_eq!(done, Flushed { sent: 3, blocked: false });
    assert_eq!(errors.len(), 2, "{errors:?}");
    let from = sender.local_addr().unwrap();
    let got = receive_n(&peer, 3);
    assert_eq!(got, vec![(b"first".to_vec(), from), (b"second".to_vec(), from), (b"third".to_vec(), from)]);
    assert!(out.is_empty());
}

#[test]
fn a_full_socket_buffer_keeps_the_rest_in_order() {
    // A UDP sender on loopback never blocks (the receiver drops what
    // does not fit), a Unix datagram one does once the receiver's
    // queue is full: a connected pair shows the blocked flush.
    let (sender, receiver) = std::os::unix::net::UnixDatagram::pair().unwrap();
    // A destination of its own for each datagram (IPv4 and IPv6, some
    // IPv4 ones written mapped), never sent to (the pair is connected).
    let destination = |n: u32| -> SocketAddr {
        let port = (n % 60_000) as u16 + 1;
        match n % 3 {
            0 => SocketAddr::from(([127, 0, 0, (n % 250) as u8 + 1], port)),
            1 => SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, port, 0, n % 7)),
            _ => SocketAddr::from(([10, (n >> 8) as u8, n as u8, 1], port)),
        }
    };
    sender.set_nonblocking(true).unwrap();
    let mut out = Outbox::new();
    out.unaddressed = true;
    let mut sent = 0u64;
    let mut kept = Vec::new();
    for round in 0..1000u32 {
        for k in 0..BATCH as u32 {
            let n = round * BATCH as u32 + k;
            assert!(out.push_to(&n.to_be_bytes().repeat(64), &destination(n), n % 2 == 0));
        }
        let done = out.flush(sender.as_raw_fd(), |e| panic!("unexpected error {e}"));
        sent += done.sent;
        if done.blocked {
            assert!(!out.is_empty());
            out.take_unsent(|data, to| {
                let n = u32::from_be_bytes(data[..4].try_into().unwrap());
                let want = match destination(n) {
                    // Written mapped (as for a dual-stack socket): kept so.
                    SocketAddr::V4(v4) if n % 2 == 0 => SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port()),
                    other => other,
                };
                assert_eq!(to, want, "each kept with its own destination");
                kept.push(data.to_vec())
            });
            break;
        }
        assert!(out.is_empty());
    }
    assert!(!kept.is_empty(), "the receiver's queue never filled");
    assert!(out.is_empty());
    let number = |d: &[u8]| u32::from_be_bytes(d[..4].try_into().unwrap());
    // What was kept follows what was sent, in order, and what was sent
    // arrived, in order.
    assert_eq!(number(&kept[0]) as u64, sent);
    for (i, d) in kept.iter().enumerate() {
        assert_eq!(number(d) as u64, sent + i as u64);
    }
    receiver.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 512];
    for i in 0..sent {
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!((n, number(&buf[..n]) as u64), (256, i));
    }
    // A Unix socket takes no `UDP_SEGMENT` (it would ignore the control
    // message and send a group as one datagram): never grouped.
    assert_eq!((out.gso, out.grouped), (Gso::Off, 0));
}

/// Pushes each `(payload, destination)` and flushes once; returns the
/// errors (their OS numbers), in order.
fn push_and_flush(out: &mut Outbox, fd: RawFd, sends: &[(Vec<u8>, SocketAddr)]) -> (Flushed, Vec<Option<i32>>) {
    for (data, to) in sends {
        assert!(out.push_to(data, to, false), "room for {} bytes", data.len());
    }
    let mut errors = Vec::new();
    let done = out.flush(fd, |e| errors.push(e.raw_os_error()));
    assert!(out.is_empty());
    (done, errors)
}

mod gro;
mod gso;
mod walk;
