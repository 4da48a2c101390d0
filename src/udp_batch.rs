//! Receiving datagrams in batches: one `recvmmsg` system call fills up to
//! [`BATCH`] buffers, where `recv_from` took one call per datagram. Linux
//! only (as the crate), through `nix`'s safe wrapper: no `unsafe` here.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};

use crate::udp::MAX_DATAGRAM;

/// Datagrams received per system call at most.
pub(crate) const BATCH: usize = 16;

/// The reactor's batch buffers (`BATCH` × 64 KiB, made on the first
/// datagram event) and the headers `recvmmsg` fills.
pub(crate) struct Batch {
    buffers: Vec<u8>,
    headers: MultiHeaders<SockaddrStorage>,
    /// Length and sender of each datagram of the last receive.
    got: [(usize, Option<SocketAddr>); BATCH],
    count: usize,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("count", &self.count).finish()
    }
}

impl Batch {
    pub(crate) fn new() -> Batch {
        Batch {
            buffers: vec![0; BATCH * MAX_DATAGRAM],
            headers: MultiHeaders::preallocate(BATCH, None),
            got: [(0, None); BATCH],
            count: 0,
        }
    }

    /// Receives up to `max` (at most [`BATCH`], at least 1) datagrams
    /// without blocking; returns how many. `WouldBlock` when none waits.
    pub(crate) fn receive(&mut self, socket: &impl AsRawFd, max: usize) -> io::Result<usize> {
        self.count = 0;
        let max = max.clamp(1, BATCH);
        let mut chunks = self.buffers.chunks_exact_mut(MAX_DATAGRAM);
        let mut slices: [[IoSliceMut<'_>; 1]; BATCH] =
            std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())]);
        let results =
            recvmmsg(socket.as_raw_fd(), &mut self.headers, slices.iter_mut().take(max), MsgFlags::MSG_DONTWAIT, None)
                .map_err(io::Error::from)?;
        for (slot, msg) in self.got.iter_mut().zip(results) {
            *slot = (msg.bytes, msg.address.and_then(|a| to_socket_addr(&a)));
            self.count += 1;
        }
        Ok(self.count)
    }

    /// Datagram `i` of the last receive and its sender (`None` if the
    /// kernel gave no address, which a connected socket may).
    pub(crate) fn datagram(&self, i: usize) -> Option<(&[u8], Option<SocketAddr>)> {
        if i >= self.count {
            return None;
        }
        let (len, from) = *self.got.get(i)?;
        let start = i * MAX_DATAGRAM;
        Some((self.buffers.get(start..start + len.min(MAX_DATAGRAM))?, from))
    }
}

/// A socket address as `std` has it.
fn to_socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::from(*v4));
    }
    addr.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
}

/// Whether `addr` names a family the batch path reads (IPv4 or IPv6).
#[cfg(test)]
fn family_ok(addr: &SockaddrStorage) -> bool {
    use nix::sys::socket::SockaddrLike;
    addr.family().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    #[test]
    fn a_batch_holds_each_datagram_with_its_sender() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server.set_nonblocking(true).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = Batch::new();
        assert_eq!(batch.receive(&server, BATCH).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        let big = vec![7u8; 65_507];
        let sent: Vec<Vec<u8>> = vec![b"one".to_vec(), Vec::new(), big.clone(), b"four".to_vec(), b"five".to_vec()];
        for d in &sent {
            client.send_to(d, server.local_addr().unwrap()).unwrap();
        }
        // Loopback delivers at once; wait for them without sleeping blind.
        server.set_nonblocking(false).unwrap();
        server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut peek = [0u8; 1];
        server.peek(&mut peek).unwrap();
        server.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        while got.len() < sent.len() {
            let n = batch.receive(&server, 2).unwrap();
            assert!((1..=2).contains(&n));
            for i in 0..n {
                let (data, from) = batch.datagram(i).unwrap();
                assert_eq!(from, Some(client.local_addr().unwrap()));
                got.push(data.to_vec());
            }
            assert!(batch.datagram(n).is_none());
        }
        assert_eq!(got, sent);
        assert!(family_ok(&SockaddrStorage::from(client.local_addr().unwrap())));
    }

    #[test]
    fn ipv6_senders_come_back_as_they_are() {
        let Ok(server) = UdpSocket::bind("[::1]:0") else { return };
        server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let client = UdpSocket::bind("[::1]:0").unwrap();
        client.send_to(b"x", server.local_addr().unwrap()).unwrap();
        let mut peek = [0u8; 1];
        server.peek(&mut peek).unwrap();
        let mut batch = Batch::new();
        assert_eq!(batch.receive(&server, BATCH).unwrap(), 1);
        assert_eq!(batch.datagram(0).unwrap(), (&b"x"[..], Some(client.local_addr().unwrap())));
    }
}
