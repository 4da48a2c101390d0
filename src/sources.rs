//! Opening and closing the reactor's sources: TCP listeners, TCP
//! connections (accepted, client side, in memory), UDP endpoints and
//! standard input. Each is inserted in its slab with a fresh generation and
//! registered with the poll once, under a token naming slot and generation.

use std::collections::HashMap;
use std::net::SocketAddr;

use mio::Interest;

use crate::conn::{Origin, Phase};
use crate::core::{checked_index, Core};
use crate::id::Source;
use crate::tcp::{ListenSocket, Listener};
use crate::transport::Stream;
use crate::udp::Endpoint;
use crate::{
    ConnId, DatagramProtocol, Factory, ListenOptions, ListenerId, Protocol, Reason, TcpOptions, UdpId, UdpOptions,
};

impl Core {
    pub(crate) fn listen_tcp(
        &mut self,
        addr: SocketAddr,
        factory: Box<dyn Factory>,
        opts: ListenOptions,
    ) -> std::io::Result<ListenerId> {
        let socket = crate::tcp::bind_listener(addr, &opts)?;
        let local = socket.local_addr()?;
        let id = self.insert_listener(ListenSocket::Tcp(socket), local, factory, opts)?;
        log::debug!("{id}: listening on {local} (tcp)");
        Ok(id)
    }

    /// Registers a listening socket and keeps it with its factory.
    pub(crate) fn insert_listener(
        &mut self,
        mut socket: ListenSocket,
        local: SocketAddr,
        factory: Box<dyn Factory>,
        opts: ListenOptions,
    ) -> std::io::Result<ListenerId> {
        let generation = self.generation();
        let entry = self.listeners.vacant_entry();
        let id = ListenerId { index: checked_index(entry.key())?, generation };
        self.registry.register(&mut socket, Source::Listener(id).token(), Interest::READABLE)?;
        entry.insert(Listener {
            generation,
            socket,
            factory,
            local,
            opts,
            active: 0,
            refusing: 0,
            per_peer: HashMap::new(),
            refused: 0,
            retry: None,
            in_ready: false,
            starved: false,
            tls: None,
        });
        Ok(id)
    }

    pub(crate) fn close_listener(&mut self, id: ListenerId) -> bool {
        if self.listener(id).is_none() {
            return false;
        }
        let mut l = self.listeners.remove(id.index as usize);
        // Its connections outlive it: the places they hold in a shared
        // limit are given back as they are freed.
        if let Some(limit) = l.opts.shared_limit.take() {
            if l.active > 0 {
                self.orphaned_limits.insert(id, (limit, l.active));
            }
        }
        if let Err(e) = self.registry.deregister(&mut l.socket) {
            log::warn!("{id}: deregister failed: {e}");
        }
        if let Some(t) = l.retry.take() {
            self.timers.cancel(t);
        }
        log::debug!("{id}: closed listener on {}", l.local);
        true
    }

    pub(crate) fn connect_tcp(&mut self, addr: SocketAddr, protocol: Box<dyn Protocol>, opts: &TcpOptions) -> ConnId {
        let unspecified: SocketAddr = if addr.is_ipv6() {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let result = mio::net::TcpStream::connect(addr).and_then(|s| {
            if let Err(e) = s.set_nodelay(opts.nodelay) {
                log::debug!("set_nodelay failed: {e}");
            }
            let local = s.local_addr().unwrap_or(unspecified);
            // The protocol is attached only once the slot exists.
            self.insert_conn(Stream::Tcp(s), None, Phase::Connecting, (local, addr), opts, Origin::Own)
        });
        match result {
            Ok(id) => {
                if let Some(c) = self.conn_mut(id) {
                    c.protocol = Some(protocol);
                    c.has_protocol = true;
                }
                log::debug!("{id}: connecting to {addr}");
                id
            }
            Err(e) => {
                log::debug!("connect to {addr} failed at once: {e}");
                self.connect_failed_at_once(protocol, &e)
            }
        }
    }

    /// A connect that failed before a slot was made: the protocol hears of
    /// it through `connection_failed` in the next settle phase.
    pub(crate) fn connect_failed_at_once(&mut self, protocol: Box<dyn Protocol>, err: &std::io::Error) -> ConnId {
        let id = ConnId { index: u32::MAX, generation: self.generation() };
        self.failed.push((id, protocol, Reason::from_io(err)));
        id
    }

    pub(crate) fn add_udp(
        &mut self,
        local: SocketAddr,
        remote: Option<SocketAddr>,
        protocol: Box<dyn DatagramProtocol>,
        opts: &UdpOptions,
    ) -> std::io::Result<UdpId> {
        let socket = crate::udp::bind_udp(local, opts)?;
        if let Some(remote) = remote {
            socket.connect(remote)?;
        }
        self.insert_udp(socket, remote, protocol)
    }

    /// Registers a bound UDP socket (connected to `remote`, if given) as an
    /// endpoint.
    pub(crate) fn insert_udp(
        &mut self,
        mut socket: mio::net::UdpSocket,
        remote: Option<SocketAddr>,
        protocol: Box<dyn DatagramProtocol>,
    ) -> std::io::Result<UdpId> {
        let local = socket.local_addr()?;
        // Coalesced receives (see `udp_batch::gro`), where the kernel has
        // them; an endpoint without goes on one datagram per buffer.
        if self.config.udp_gro && !crate::udp_batch::gro::enable(std::os::fd::AsRawFd::as_raw_fd(&socket)) {
            log::trace!("udp socket on {local}: no UDP_GRO ({})", std::io::Error::last_os_error());
        }
        let generation = self.generation();
        let entry = self.udps.vacant_entry();
        let id = UdpId { index: checked_index(entry.key())?, generation };
        // Writable events only while datagrams wait in the send queue
        // (`sync_udp_interest`).
        self.registry.register(&mut socket, Source::Udp(id).token(), Interest::READABLE)?;
        entry.insert(Endpoint::new(generation, crate::udp::DgramSocket::Udp(socket), protocol, local, remote));
        // `started` is delivered in the settle phase.
        self.dirty_udp.push(id);
        log::debug!("{id}: udp bound to {local}");
        Ok(id)
    }

    /// Reads the process's standard input through `protocol`, as one more
    /// event source (a pipe or terminal is polled; a regular file is read
    /// as fast as the loop turns).
    pub(crate) fn add_stdin(&mut self, protocol: Box<dyn Protocol>) -> std::io::Result<ConnId> {
        use std::os::fd::AsFd;
        let fd = std::io::stdin().as_fd().try_clone_to_owned()?;
        let receiver = mio::unix::pipe::Receiver::from(fd);
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        receiver.set_nonblocking(true)?;
        let id = self.insert_conn(
            Stream::Stdin(receiver),
            Some(protocol),
            Phase::Open,
            (unspecified, unspecified),
            &TcpOptions::default(),
            Origin::Own,
        )?;
        self.made(id);
        log::debug!("{id}: reading standard input");
        Ok(id)
    }

    /// Polls an endpoint's socket for writable events while datagrams wait
    /// in its send queue, and for readable ones alone otherwise (a UDP
    /// socket raises a writable edge for every datagram sent: see
    /// `Endpoint::write_interest`). Adding the interest reports the socket
    /// at once if it is writable already (`EPOLL_CTL_MOD` polls it), so a
    /// queue that could be flushed now is not left waiting. A failed change
    /// is logged and tried again when the endpoint is next settled (its
    /// next send, error or close; `EPOLL_CTL_MOD` on a registered socket
    /// fails only for want of kernel memory).
    pub(crate) fn sync_udp_interest(&mut self, id: UdpId) {
        let Some(u) = self.udps.get_mut(id.index as usize).filter(|u| u.generation == id.generation) else { return };
        if !u.interest_stale() {
            return;
        }
        let want = !u.queue.is_empty();
        if let crate::udp::DgramSocket::Udp(socket) = &mut u.socket {
            let interest = if want { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            if let Err(e) = self.registry.reregister(socket, Source::Udp(id).token(), interest) {
                log::warn!("{id}: cannot change what the socket is polled for: {e}");
                return;
            }
        }
        u.write_interest = want;
    }

    pub(crate) fn mark_udp_dirty(&mut self, id: UdpId) {
        if let Some(u) = self.udp_mut(id) {
            if !u.in_dirty {
                u.in_dirty = true;
                self.dirty_udp.push(id);
            }
        }
    }

    /// Sends a datagram from an endpoint.
    pub(crate) fn send_to(&mut self, id: UdpId, data: &[u8], to: SocketAddr) -> bool {
        let limit = self.config.udp_queue_limit;
        let Some(u) = self.udp_mut(id) else { return false };
        if u.closing {
            return false;
        }
        if u.send(data, to, limit) {
            self.mark_udp_dirty(id);
        }
        true
    }

    /// A reply made of `parts` that found the endpoint's outbox full
    /// during a receive batch ([`Endpoint::push_parts_past_outbox`]):
    /// false when it did not join the outbox, and the caller takes the
    /// general path, which queues it behind a blocked flush's rest.
    #[cold]
    #[inline(never)]
    pub(crate) fn flush_outbox_then_push(&mut self, id: UdpId, parts: &[&[u8]], to: SocketAddr) -> bool {
        let limit = self.config.udp_queue_limit;
        let Some(u) = self.udp_mut(id) else { return false };
        let (joined, settle) = u.push_parts_past_outbox(parts, to, limit);
        if settle {
            self.mark_udp_dirty(id);
        }
        joined
    }

    pub(crate) fn close_udp(&mut self, id: UdpId) -> bool {
        let Some(u) = self.udp_mut(id) else { return false };
        u.closing = true;
        self.mark_udp_dirty(id);
        true
    }
}
