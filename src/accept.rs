//! Accepting connections: budgets, connection limits, and running out of
//! descriptors without spinning or leaving clients in the backlog.

use std::io;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::conn::{Origin, Phase};
use crate::core::{Core, TimerTask};
use crate::dispatch::log_panic;
use crate::id::Source;
use crate::tcp::{is_resource_exhaustion, is_transient_accept_error};
use crate::transport::Stream;
use crate::ListenerId;

/// How long accepting pauses after descriptors ran out.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Refused clients per listener that may hold a descriptor at once while
/// their farewell flushes; more are reset at once.
const MAX_REFUSING: usize = 64;

impl Core {
    /// Accepts until the backlog is empty or the budget is spent.
    pub(crate) fn accept_ready(&mut self, lid: ListenerId) {
        for _ in 0..self.config.accept_budget.max(1) {
            let Some(l) = self.listener_mut(lid) else { return };
            if l.retry.is_some() {
                return; // paused: the retry timer resumes accepting
            }
            match l.socket.accept() {
                Ok((stream, peer)) => {
                    if l.starved {
                        l.starved = false;
                        log::warn!("{lid}: accepting again");
                    }
                    self.accepted(lid, stream, crate::tcp::canonical(peer))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if is_transient_accept_error(&e) => {
                    log::debug!("{lid}: accept: {e} (going on)");
                }
                Err(e) if is_resource_exhaustion(&e) => return self.out_of_descriptors(lid, &e),
                Err(e) => {
                    log::warn!("{lid}: accept failed: {e}; retrying in {ACCEPT_RETRY:?}");
                    return self.pause_accepting(lid);
                }
            }
            self.settle();
        }
        if let Some(l) = self.listener_mut(lid) {
            if !l.in_ready {
                l.in_ready = true;
                self.ready.push_back(Source::Listener(lid));
            }
        }
    }

    /// Descriptors ran out: use the spare one to accept and close what is
    /// queued, so those clients see a prompt close instead of hanging in the
    /// backlog, then pause accepting; a timer retries, since no new edge
    /// comes for a backlog left queued.
    fn out_of_descriptors(&mut self, lid: ListenerId, err: &io::Error) {
        let Some(l) = self.listener_mut(lid) else { return };
        if !l.starved {
            l.starved = true;
            log::warn!("{lid}: accept failed: {err}; closing queued clients, retrying every {ACCEPT_RETRY:?}");
        }
        let mut shed = 0;
        if self.spare_fd.take().is_some() {
            if let Some(l) = self.listener(lid) {
                while let Ok((stream, _)) = l.socket.accept() {
                    drop(stream);
                    shed += 1;
                    if shed >= 1024 {
                        break;
                    }
                }
            }
            self.spare_fd = std::fs::File::open("/dev/null").ok();
        }
        if shed > 0 {
            log::debug!("{lid}: closed {shed} queued client(s) for want of descriptors");
        }
        self.pause_accepting(lid);
    }

    fn pause_accepting(&mut self, lid: ListenerId) {
        let t = self.add_timer(ACCEPT_RETRY, TimerTask::AcceptRetry(lid));
        if let Some(l) = self.listener_mut(lid) {
            l.retry = Some(t);
        }
    }

    /// The retry timer fired: accept again.
    pub(crate) fn resume_accepting(&mut self, lid: ListenerId) {
        if let Some(l) = self.listener_mut(lid) {
            l.retry = None;
            self.accept_ready(lid);
        }
    }

    /// One accepted client: refuse it at a limit, or build its protocol.
    fn accepted(&mut self, lid: ListenerId, mut stream: Stream, peer: SocketAddr) {
        let Some(l) = self.listener_mut(lid) else { return };
        let over_total = l.opts.max_connections.is_some_and(|max| l.active >= max);
        let over_peer = l.opts.max_per_peer.is_some_and(|max| l.per_peer.get(&peer.ip()).copied().unwrap_or(0) >= max);
        // A place in a shared limit is taken last, only for a client the
        // other limits let in; the connection gives it back when it is
        // freed (`release_listener_slot`).
        let over_shared =
            !over_total && !over_peer && l.opts.shared_limit.as_ref().is_some_and(|limit| !limit.try_acquire());
        let over_total = over_total || over_shared;
        let opts = l.opts.tcp.clone();
        // The listener's address is the connection's, unless it listens on
        // every address: then ask (saves a system call per accept).
        let local = match &stream {
            Stream::Tcp(s) if l.local.ip().is_unspecified() => s.local_addr().unwrap_or(l.local),
            _ => l.local,
        };
        if let Err(e) = stream.set_nodelay(opts.nodelay) {
            log::debug!("{lid}: set_nodelay failed: {e}");
        }
        if over_total || over_peer {
            l.refused += 1;
            if l.refusing >= MAX_REFUSING {
                // A flood at the limit: each refused client still flushing
                // its farewell holds a descriptor. Past the cap they are
                // reset at once, so that a flood cannot exhaust them.
                log::debug!("{lid}: resetting {peer}: connection limit reached, {MAX_REFUSING} refusals in flight");
                stream.set_reset_on_close();
                self.counters.refused += 1;
                return;
            }
            log::debug!("{lid}: refusing {peer}: connection limit reached ({} refused so far)", l.refused);
            // Over TLS a farewell in the clear would be garbage: none.
            let farewell = if l.tls.is_some() {
                Vec::new()
            } else {
                catch_unwind(AssertUnwindSafe(|| l.factory.busy_farewell(peer))).unwrap_or_default()
            };
            self.counters.refused += 1;
            // The farewell goes through the normal flush-and-close path.
            let origin = Origin::Refused(lid);
            match self.insert_conn(stream, None, Phase::Closing, (local, peer), &opts, origin) {
                Ok(id) => {
                    self.write_refusal(id, &farewell);
                }
                Err(e) => log::warn!("{lid}: could not register refused client: {e}"),
            }
            return;
        }
        let protocol = match catch_unwind(AssertUnwindSafe(|| l.factory.build_protocol(peer))) {
            Ok(p) => p,
            Err(payload) => {
                log_panic(&format!("{lid}: build_protocol"), payload.as_ref());
                self.give_back_place(lid);
                return; // dropping the stream closes it
            }
        };
        if let Some(config) = l.tls.clone() {
            // `connection_made` waits for the handshake (`Core::establish`).
            let origin = Origin::Accepted(lid);
            let made = match stream {
                Stream::Tcp(s) => self.accepted_tls(s, config, protocol, (local, peer), &opts, origin),
                Stream::Unix(s) => self.accepted_tls(s, config, protocol, (local, peer), &opts, origin),
                _ => Err(io::Error::new(io::ErrorKind::Unsupported, "TLS over this transport")),
            };
            match made {
                Ok(id) => log::debug!("{id}: accepted from {peer} on {local} (tls)"),
                Err(e) => {
                    log::warn!("{lid}: could not register connection from {peer}: {e}");
                    self.give_back_place(lid);
                }
            }
            return;
        }
        let id =
            match self.insert_conn(stream, Some(protocol), Phase::Open, (local, peer), &opts, Origin::Accepted(lid)) {
                Ok(id) => id,
                Err(e) => {
                    log::warn!("{lid}: could not register connection from {peer}: {e}");
                    self.give_back_place(lid);
                    return;
                }
            };
        log::debug!("{id}: accepted from {peer} on {local}");
        self.counters.accepted += 1;
        self.made(id);
    }

    /// An accepted client that took a place in the listener's shared
    /// limit and never became a connection (its protocol's factory
    /// panicked, or registering it failed): the place goes back.
    #[cold]
    fn give_back_place(&mut self, lid: ListenerId) {
        if let Some(limit) = self.listener(lid).and_then(|l| l.opts.shared_limit.as_ref()) {
            limit.release();
        }
    }

    fn write_refusal(&mut self, id: crate::ConnId, farewell: &[u8]) {
        if let Some(c) = crate::core::conn_slot(&mut self.conns, id) {
            c.out.push(farewell, &mut self.pool);
        }
        self.mark_dirty(id);
    }
}
