//! Unix domain datagram endpoints.
//!
//! A sibling of the UDP endpoint rather than the same one: a
//! [`DatagramProtocol`](crate::DatagramProtocol) is handed the sender as a
//! `SocketAddr`, which a Unix socket does not have (it has a path, an
//! abstract name, or nothing), and changing that type would break every
//! UDP protocol for the rarer case. So [`UnixDatagramProtocol`] has the
//! same callbacks with a [`UnixAddr`], and [`UnixDatagramContext`] the same
//! operations; the endpoint's life (started, bounded send queue, errors
//! delivered after the callback, stopped) is the UDP endpoint's.

use std::collections::VecDeque;
use std::io;
use std::ops::{Deref, DerefMut};
use std::panic::{catch_unwind, AssertUnwindSafe};

use mio::Interest;

use super::{ToUnixAddr, UnixAddr};
use crate::core::{checked_index, Core};
use crate::dispatch::log_panic;
use crate::id::Source;
use crate::ReactorContext;

/// Identifies one Unix datagram endpoint of a reactor.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct UnixDgramId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl std::fmt::Display for UnixDgramId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unixdgram#{}.{}", self.index, self.generation)
    }
}

/// The callbacks of a Unix datagram endpoint: [`DatagramProtocol`]'s, with
/// the sender as a [`UnixAddr`].
///
/// [`DatagramProtocol`]: crate::DatagramProtocol
pub trait UnixDatagramProtocol {
    /// The endpoint is bound and registered.
    fn started(&mut self, cx: &mut UnixDatagramContext<'_>) {
        let _ = cx;
    }
    /// One datagram arrived (it may be empty). `from` is
    /// [`UnixAddr::Unnamed`] for a sender that never bound: such a sender
    /// cannot be answered.
    fn datagram_received(&mut self, cx: &mut UnixDatagramContext<'_>, data: &[u8], from: &UnixAddr);
    /// A send failed (no such socket, the receiver's queue full for good,
    /// refused), or a receive reported an error.
    fn error_received(&mut self, cx: &mut UnixDatagramContext<'_>, error: &io::Error) {
        let _ = (cx, error);
    }
    /// The endpoint closed (by `close`, or the reactor's stop).
    fn stopped(&mut self, cx: &mut UnixDatagramContext<'_>) {
        let _ = cx;
    }
}

/// One Unix datagram socket and its protocol.
pub(crate) struct UnixEndpoint {
    pub(crate) generation: u32,
    pub(crate) socket: mio::net::UnixDatagram,
    protocol: Option<Box<dyn UnixDatagramProtocol>>,
    pub(crate) local: UnixAddr,
    connected: Option<UnixAddr>,
    queue: VecDeque<(Vec<u8>, Option<UnixAddr>)>,
    /// Whether the socket is registered for writable events as well as
    /// readable ones: only while `queue` holds datagrams
    /// (`Core::sync_unix_interest`), as for UDP endpoints
    /// (`Endpoint::write_interest`). A Unix datagram socket raises a
    /// writable edge each time the receiver takes one of its datagrams
    /// (the datagram's buffer is charged to the sender until then), which
    /// without a queue to flush was one more `epoll_wait` for most replies
    /// at one datagram in flight.
    write_interest: bool,
    pub(crate) dropped: u64,
    errors: Vec<io::Error>,
    in_dirty: bool,
    in_ready: bool,
    /// The ready round in which errors were last delivered (see
    /// `dispatch::errors_wait`).
    errors_round: Option<u64>,
    closing: bool,
    started: bool,
    _file: Option<super::SocketFile>,
}

impl UnixEndpoint {
    fn send_now(&self, data: &[u8], to: Option<&UnixAddr>) -> io::Result<()> {
        let to = match to {
            None => return self.socket.send(data).map(drop),
            Some(to) => to.to_sockaddr()?,
        };
        socket2::SockRef::from(&self.socket).send_to(data, &to).map(drop)
    }

    /// Sends now or queues (bounded); other errors are kept for
    /// `error_received`. Returns whether the endpoint needs a settle:
    /// errors were recorded, or its queue went from empty to holding
    /// datagrams (the socket is to be polled for writable events).
    fn send(&mut self, data: &[u8], to: Option<UnixAddr>, limit: usize) -> bool {
        if self.queue.is_empty() {
            match self.send_now(data, to.as_ref()) {
                Ok(()) => return false,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    self.errors.push(e);
                    return true;
                }
            }
        }
        self.enqueue(data, to, limit)
    }

    /// Keeps a datagram for when the receiver's queue drains (bounded).
    /// Returns whether the socket's poll interest is to change (see
    /// [`UnixEndpoint::interest_stale`]).
    fn enqueue(&mut self, data: &[u8], to: Option<UnixAddr>, limit: usize) -> bool {
        if self.queue.len() < limit {
            self.queue.push_back((data.to_vec(), to));
        } else {
            self.dropped += 1;
            log::warn!("unix datagram {}: send queue full, datagram dropped ({} so far)", self.local, self.dropped);
        }
        self.interest_stale()
    }

    /// Whether the socket's registration no longer fits its queue: polled
    /// for writable events with nothing queued, or not with datagrams
    /// queued (`Core::sync_unix_interest` puts it right).
    #[inline]
    fn interest_stale(&self) -> bool {
        self.queue.is_empty() == self.write_interest
    }

    fn flush_queue(&mut self) -> bool {
        let mut errors = false;
        while let Some((data, to)) = self.queue.front() {
            match self.send_now(data, to.as_ref()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.errors.push(e);
                    errors = true;
                }
            }
            self.queue.pop_front();
        }
        errors
    }
}

impl std::fmt::Debug for UnixEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixEndpoint").field("local", &self.local).field("connected", &self.connected).finish()
    }
}

/// What a Unix datagram callback may do: everything a [`ReactorContext`]
/// offers (it dereferences to one), plus "this endpoint": send, close,
/// its address and socket. It has no timers of its own: use
/// [`call_later`](ReactorContext::call_later).
#[derive(Debug)]
pub struct UnixDatagramContext<'a> {
    inner: ReactorContext<'a>,
    id: UnixDgramId,
}

impl<'a> Deref for UnixDatagramContext<'a> {
    type Target = ReactorContext<'a>;
    fn deref(&self) -> &ReactorContext<'a> {
        &self.inner
    }
}

impl DerefMut for UnixDatagramContext<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl UnixDatagramContext<'_> {
    /// The endpoint this callback is for.
    pub fn unix_dgram_id(&self) -> UnixDgramId {
        self.id
    }

    /// The address this endpoint is bound to.
    pub fn local_address(&self) -> UnixAddr {
        self.inner.core.unix_dgram(self.id).map_or(UnixAddr::Unnamed, |u| u.local.clone())
    }

    /// Sends a datagram to `to`. Never blocks: queued (bounded) while the
    /// receiver's queue is full; errors reach `error_received`. Returns
    /// false once the endpoint is closing.
    pub fn send_to(&mut self, data: &[u8], to: impl ToUnixAddr) -> bool {
        match to.to_unix_addr() {
            Ok(to) => self.inner.core.unix_dgram_send(self.id, data, Some(to)),
            Err(e) => {
                self.inner.core.unix_dgram_error(self.id, e);
                true
            }
        }
    }

    /// Sends a datagram to the peer of a connected endpoint.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the endpoint has no peer or is closing.
    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        let connected = self.inner.core.unix_dgram(self.id).is_some_and(|u| u.connected.is_some());
        if !connected {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "send: this endpoint has no connected peer"));
        }
        if self.inner.core.unix_dgram_send(self.id, data, None) {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::NotConnected, "send: this endpoint is closing"))
        }
    }

    /// Closes this endpoint; `stopped` follows.
    pub fn close(&mut self) {
        self.inner.core.close_unix_dgram(self.id);
    }

    /// This endpoint's socket, for options reel does not wrap.
    pub fn sock_ref(&self) -> Option<socket2::SockRef<'_>> {
        self.inner.core.unix_dgram(self.id).map(|u| socket2::SockRef::from(&u.socket))
    }
}

impl ReactorContext<'_> {
    /// Binds a Unix datagram endpoint at `addr` (a path, or `"\0name"` for
    /// an abstract name). A stale socket file at the path is removed as
    /// for a stream listener (see [`UnixListenOptions`](crate::UnixListenOptions)),
    /// and the file is removed when the endpoint closes.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub fn bind_unix_datagram(
        &mut self,
        addr: impl ToUnixAddr,
        protocol: impl UnixDatagramProtocol + 'static,
    ) -> io::Result<UnixDgramId> {
        let addr = addr.to_unix_addr()?;
        let (socket, file) = bind_dgram(&addr)?;
        self.core.insert_unix_dgram_with(socket, None, Box::new(protocol), file)
    }

    /// Binds a Unix datagram endpoint at `local` (or an unnamed one, for
    /// [`UnixAddr::Unnamed`]) connected to `remote`: it sends with
    /// [`UnixDatagramContext::send`] and receives from `remote` only.
    ///
    /// # Errors
    ///
    /// When an address cannot be bound or connected.
    pub fn connect_unix_datagram(
        &mut self,
        local: impl ToUnixAddr,
        remote: impl ToUnixAddr,
        protocol: impl UnixDatagramProtocol + 'static,
    ) -> io::Result<UnixDgramId> {
        let (local, remote) = (local.to_unix_addr()?, remote.to_unix_addr()?);
        let (socket, file) = match local {
            UnixAddr::Unnamed => (mio::net::UnixDatagram::unbound()?, None),
            local => bind_dgram(&local)?,
        };
        socket2::SockRef::from(&socket).connect(&remote.to_sockaddr()?)?;
        self.core.insert_unix_dgram_with(socket, Some(remote), Box::new(protocol), file)
    }

    /// Sends a datagram from a Unix datagram endpoint to `to`. Returns
    /// false if the endpoint is gone or closing.
    pub fn send_from_unix(&mut self, from: UnixDgramId, data: &[u8], to: impl ToUnixAddr) -> bool {
        match to.to_unix_addr() {
            Ok(to) => self.core.unix_dgram_send(from, data, Some(to)),
            Err(e) => {
                self.core.unix_dgram_error(from, e);
                true
            }
        }
    }

    /// Closes a Unix datagram endpoint; its `stopped` is called. Returns
    /// false if it is gone.
    pub fn close_unix_datagram(&mut self, id: UnixDgramId) -> bool {
        self.core.close_unix_dgram(id)
    }
}

/// Binds a non-blocking Unix datagram socket, removing a stale socket
/// file first (nobody answers a datagram to it).
fn bind_dgram(addr: &UnixAddr) -> io::Result<(mio::net::UnixDatagram, Option<super::SocketFile>)> {
    use socket2::{Domain, Socket, Type};
    let sockaddr = addr.to_sockaddr()?;
    let mut cleared = false;
    let socket = loop {
        let socket = Socket::new(Domain::UNIX, Type::DGRAM, None)?;
        socket.set_nonblocking(true)?;
        match socket.bind(&sockaddr) {
            Ok(()) => break socket,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && !cleared => {
                let UnixAddr::Path(path) = addr else { return Err(super::with_path(addr, e)) };
                super::clear_stale(path, addr, &sockaddr, Type::DGRAM)?;
                cleared = true;
            }
            Err(e) => return Err(super::with_path(addr, e)),
        }
    };
    let file = addr.as_path().and_then(super::SocketFile::new);
    let std: std::os::unix::net::UnixDatagram = socket.into();
    Ok((mio::net::UnixDatagram::from_std(std), file))
}

impl Core {
    pub(crate) fn unix_dgram(&self, id: UnixDgramId) -> Option<&UnixEndpoint> {
        self.unix_dgrams.get(id.index as usize).filter(|u| u.generation == id.generation)
    }

    fn unix_dgram_mut(&mut self, id: UnixDgramId) -> Option<&mut UnixEndpoint> {
        self.unix_dgrams.get_mut(id.index as usize).filter(|u| u.generation == id.generation)
    }

    pub(crate) fn insert_unix_dgram(
        &mut self,
        socket: mio::net::UnixDatagram,
        connected: Option<UnixAddr>,
        protocol: Box<dyn UnixDatagramProtocol>,
    ) -> io::Result<UnixDgramId> {
        self.insert_unix_dgram_with(socket, connected, protocol, None)
    }

    fn insert_unix_dgram_with(
        &mut self,
        mut socket: mio::net::UnixDatagram,
        connected: Option<UnixAddr>,
        protocol: Box<dyn UnixDatagramProtocol>,
        file: Option<super::SocketFile>,
    ) -> io::Result<UnixDgramId> {
        let local = socket2::SockRef::from(&socket)
            .local_addr()
            .map(|a| UnixAddr::from_sockaddr(&a))
            .unwrap_or(UnixAddr::Unnamed);
        let connected =
            connected.or_else(|| socket2::SockRef::from(&socket).peer_addr().ok().map(|a| UnixAddr::from_sockaddr(&a)));
        let generation = self.generation();
        let entry = self.unix_dgrams.vacant_entry();
        let id = UnixDgramId { index: checked_index(entry.key())?, generation };
        // Writable events only while datagrams wait in the send queue
        // (`sync_unix_interest`).
        self.registry.register(&mut socket, Source::UnixDgram(id).token(), Interest::READABLE)?;
        log::debug!("{id}: unix datagram endpoint on {local}");
        entry.insert(UnixEndpoint {
            generation,
            socket,
            protocol: Some(protocol),
            local,
            connected,
            queue: VecDeque::new(),
            write_interest: false,
            dropped: 0,
            errors: Vec::new(),
            in_dirty: true,
            in_ready: false,
            errors_round: None,
            closing: false,
            started: false,
            _file: file,
        });
        self.dirty_unix.push(id);
        Ok(id)
    }

    fn mark_unix_dirty(&mut self, id: UnixDgramId) {
        if let Some(u) = self.unix_dgram_mut(id) {
            if !u.in_dirty {
                u.in_dirty = true;
                self.dirty_unix.push(id);
            }
        }
    }

    /// Polls an endpoint's socket for writable events while datagrams wait
    /// in its send queue, and for readable ones alone otherwise (see
    /// `UnixEndpoint::write_interest`; the UDP endpoint's twin is
    /// `Core::sync_udp_interest`). Adding the interest reports the socket
    /// at once if it is writable already (`EPOLL_CTL_MOD` polls it), so a
    /// queue that could be flushed now is not left waiting. A failed change
    /// is logged and tried again when the endpoint is next settled (its
    /// next send, error or close; `EPOLL_CTL_MOD` on a registered socket
    /// fails only for want of kernel memory).
    fn sync_unix_interest(&mut self, id: UnixDgramId) {
        let Some(u) = self.unix_dgrams.get_mut(id.index as usize).filter(|u| u.generation == id.generation) else {
            return;
        };
        if !u.interest_stale() {
            return;
        }
        let want = !u.queue.is_empty();
        let interest = if want { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
        if let Err(e) = self.registry.reregister(&mut u.socket, Source::UnixDgram(id).token(), interest) {
            log::warn!("{id}: cannot change what the socket is polled for: {e}");
            return;
        }
        u.write_interest = want;
    }

    fn unix_dgram_send(&mut self, id: UnixDgramId, data: &[u8], to: Option<UnixAddr>) -> bool {
        let limit = self.config.udp_queue_limit;
        let Some(u) = self.unix_dgram_mut(id) else { return false };
        if u.closing {
            return false;
        }
        if u.send(data, to, limit) {
            self.mark_unix_dirty(id);
        }
        true
    }

    fn unix_dgram_error(&mut self, id: UnixDgramId, e: io::Error) {
        if let Some(u) = self.unix_dgram_mut(id) {
            u.errors.push(e);
            self.mark_unix_dirty(id);
        }
    }

    pub(crate) fn close_unix_dgram(&mut self, id: UnixDgramId) -> bool {
        let Some(u) = self.unix_dgram_mut(id) else { return false };
        u.closing = true;
        self.mark_unix_dirty(id);
        true
    }

    /// Every endpoint, for the stop.
    pub(crate) fn unix_dgram_ids(&self) -> Vec<UnixDgramId> {
        self.unix_dgrams.iter().map(|(i, u)| UnixDgramId { index: i as u32, generation: u.generation }).collect()
    }

    fn call_unix_dgram(
        &mut self,
        id: UnixDgramId,
        f: impl FnOnce(&mut dyn UnixDatagramProtocol, &mut UnixDatagramContext<'_>),
    ) {
        let Some(mut protocol) = self.unix_dgram_mut(id).and_then(|u| u.protocol.take()) else { return };
        let result = {
            let mut cx = UnixDatagramContext { inner: ReactorContext::new(self), id };
            catch_unwind(AssertUnwindSafe(|| f(protocol.as_mut(), &mut cx)))
        };
        if let Err(payload) = result {
            log_panic(&format!("{id}: unix datagram protocol callback"), payload.as_ref());
        }
        if let Some(u) = self.unix_dgram_mut(id) {
            u.protocol = Some(protocol);
        }
    }

    /// Delivers `started`, pending errors and `stopped`; frees a closed
    /// endpoint.
    pub(crate) fn settle_unix_dgram(&mut self, id: UnixDgramId) {
        let Some(u) = self.unix_dgram_mut(id) else { return };
        u.in_dirty = false;
        self.sync_unix_interest(id);
        let Some(u) = self.unix_dgram_mut(id) else { return };
        if !u.started {
            u.started = true;
            self.call_unix_dgram(id, |p, cx| p.started(cx));
        }
        // In the order they happened; those these callbacks cause wait for
        // the next round (as for UDP endpoints: `settle_udp`).
        let round = self.ready_round;
        if let Some(u) = self.unix_dgram_mut(id) {
            if crate::dispatch::errors_wait(!u.errors.is_empty(), u.closing, &mut u.errors_round, round) {
                if !u.in_ready {
                    u.in_ready = true;
                    self.ready.push_back(Source::UnixDgram(id));
                }
                return;
            }
        }
        let errors = self.unix_dgram_mut(id).map(|u| std::mem::take(&mut u.errors)).unwrap_or_default();
        for e in errors {
            self.call_unix_dgram(id, |p, cx| p.error_received(cx, &e));
        }
        if self.unix_dgram(id).is_some_and(|u| u.closing) {
            self.call_unix_dgram(id, |p, cx| p.stopped(cx));
            let mut u = self.unix_dgrams.remove(id.index as usize);
            if let Err(e) = self.registry.deregister(&mut u.socket) {
                log::trace!("{id}: deregister failed: {e}");
            }
            if u.in_ready {
                self.ready.retain(|s| *s != Source::UnixDgram(id));
            }
            log::debug!("{id}: unix datagram endpoint on {} closed", u.local);
        }
    }

    /// Receives datagrams until drained or the budget is spent.
    pub(crate) fn read_unix_dgram(&mut self, id: UnixDgramId, scratch: &mut [u8]) {
        for _ in 0..self.config.read_budget.max(1) * 4 {
            let Some(u) = self.unix_dgram_mut(id) else { return };
            if u.closing {
                return;
            }
            match u.socket.recv_from(scratch) {
                Ok((n, from)) => {
                    let from = from_std(&from);
                    self.call_unix_dgram(id, |p, cx| p.datagram_received(cx, &scratch[..n], &from));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.call_unix_dgram(id, |p, cx| p.error_received(cx, &e)),
            }
            self.settle();
        }
        if let Some(u) = self.unix_dgram_mut(id) {
            if !u.in_ready {
                u.in_ready = true;
                self.ready.push_back(Source::UnixDgram(id));
            }
        }
    }

    /// Served from the ready list.
    pub(crate) fn unix_dgram_ready(&mut self, id: UnixDgramId, scratch: &mut [u8]) {
        if let Some(u) = self.unix_dgram_mut(id) {
            u.in_ready = false;
            // Errors held back from the last round (settle_unix_dgram).
            let owed = !u.errors.is_empty();
            self.read_unix_dgram(id, scratch);
            if owed {
                self.mark_unix_dirty(id);
            }
            self.settle();
        }
    }

    /// A readiness event for a Unix datagram endpoint.
    pub(crate) fn unix_dgram_event(&mut self, id: UnixDgramId, event: &mio::event::Event, scratch: &mut [u8]) {
        let Some(u) = self.unix_dgram_mut(id) else { return };
        if event.is_writable() && !u.queue.is_empty() {
            if u.flush_queue() {
                self.mark_unix_dirty(id);
            }
            // Drained: readable events alone again.
            self.sync_unix_interest(id);
        }
        if event.is_readable() || event.is_error() {
            self.read_unix_dgram(id, scratch);
        }
        self.settle();
    }
}

/// A sender's address as the standard library reports it.
fn from_std(addr: &std::os::unix::net::SocketAddr) -> UnixAddr {
    use std::os::linux::net::SocketAddrExt;
    if let Some(path) = addr.as_pathname() {
        UnixAddr::Path(path.to_path_buf())
    } else if let Some(name) = addr.as_abstract_name() {
        UnixAddr::Abstract(name.to_vec())
    } else {
        UnixAddr::Unnamed
    }
}

#[cfg(test)]
mod tests;
