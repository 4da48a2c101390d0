//! In-memory datagram endpoints for the [`ServerHarness`](super::ServerHarness).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use crate::core::{checked_index, Core};
use crate::udp::{DatagramTransport, DgramSocket, Endpoint};
use crate::{DatagramProtocol, UdpId};

/// One datagram an in-memory endpoint sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Where it was sent.
    pub to: SocketAddr,
    /// Its payload.
    pub data: Vec<u8>,
}

/// The network side of an in-memory endpoint.
#[derive(Debug, Default)]
pub(crate) struct MemoryNet {
    /// Datagrams for the endpoint, with their source, not yet received.
    pub(crate) inbound: VecDeque<(Vec<u8>, SocketAddr)>,
    /// What the endpoint sent, in order.
    pub(crate) sent: Vec<Datagram>,
    /// Sends fail with this error (and are not recorded).
    pub(crate) send_error: Option<io::ErrorKind>,
}

struct MemoryDgram(Rc<RefCell<MemoryNet>>);

impl DatagramTransport for MemoryDgram {
    fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let Some((data, from)) = self.0.borrow_mut().inbound.pop_front() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        // A datagram longer than the buffer is truncated, as recvfrom does
        // (the reactor's buffer holds the largest UDP payload).
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok((n, from))
    }

    fn send_to(&self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        let mut net = self.0.borrow_mut();
        if let Some(kind) = net.send_error {
            return Err(kind.into());
        }
        net.sent.push(Datagram { to, data: data.to_vec() });
        Ok(data.len())
    }
}

/// The in-memory endpoints of one harness, by id.
pub(crate) type Endpoints = HashMap<UdpId, Rc<RefCell<MemoryNet>>>;

/// Adds an endpoint bound to `local` (connected to `remote`, if given)
/// whose socket is in memory; `started` follows in the next settle.
pub(crate) fn add_memory_udp(
    core: &mut Core,
    local: SocketAddr,
    remote: Option<SocketAddr>,
    protocol: Box<dyn DatagramProtocol>,
) -> (UdpId, Rc<RefCell<MemoryNet>>) {
    let net = Rc::new(RefCell::new(MemoryNet::default()));
    let generation = core.generation();
    let entry = core.udps.vacant_entry();
    let index = match checked_index(entry.key()) {
        Ok(i) => i,
        Err(e) => panic!("in-memory endpoint: {e}"),
    };
    let id = UdpId { index, generation };
    let socket = DgramSocket::Memory(Box::new(MemoryDgram(Rc::clone(&net))));
    entry.insert(Endpoint::new(generation, socket, protocol, local, remote));
    core.dirty_udp.push(id);
    (id, net)
}
