//! The graceful stop: the drain (listeners and endpoints closed, every
//! protocol told, a grace period) and the halt that ends what is left.

use std::time::Duration;

use super::Reactor;
use crate::conn::Phase;
use crate::core::{Core, RunState, TimerTask};
use crate::{ConnId, ListenerId, Reason, UdpId};

impl Reactor {
    /// Moves a graceful stop along as `run` would, without waiting: turns
    /// until the drain makes no more progress, and once it is over, aborts
    /// what is left. Returns whether the stop completed (`run` would have
    /// returned). For the in-memory harness.
    pub(crate) fn advance_stop_by_hand(&mut self) -> bool {
        while matches!(self.core.state, RunState::StopRequested | RunState::Draining | RunState::Halt) {
            let before = self.core.state;
            if before != RunState::Halt {
                if let Err(e) = self.turn(Some(Duration::ZERO)) {
                    panic!("harness turn failed: {e}");
                }
            }
            if self.core.state == RunState::Halt {
                self.halt();
                self.core.state = RunState::Running;
                return true;
            }
            if self.core.state == before {
                break;
            }
        }
        false
    }

    /// Moves a graceful stop along: start the drain, and halt once no
    /// connection is left.
    pub(super) fn advance_stop(&mut self) {
        let core = &mut self.core;
        if core.state == RunState::StopRequested {
            core.state = RunState::Draining;
            for id in core.listener_ids() {
                core.close_listener(id);
            }
            for id in core.udp_ids() {
                core.close_udp(id);
            }
            for id in core.unix_dgram_ids() {
                core.close_unix_dgram(id);
            }
            // Deliver `stopped` now: with no connection to drain the
            // loop halts before any other settle, and `stopped` would be lost.
            core.settle();
            let conns = core.conn_ids();
            log::debug!("stopping: draining {} connection(s)", conns.len());
            for id in conns {
                if core.conn(id).is_some_and(|c| matches!(c.phase, Phase::Open | Phase::WriteClosed)) {
                    core.call_conn(id, "stop_requested", |p, cx| p.stop_requested(cx));
                } else if core.conn(id).is_some_and(|c| c.phase == Phase::Connecting) {
                    core.abort(id, Reason::Shutdown);
                }
                core.settle();
            }
            let grace = core.config.grace_period;
            core.update_time();
            core.grace_timer = Some(core.add_timer(grace, TimerTask::Grace));
        }
        // Done when no connection is left, lingering ones included
        // (flushed, write side shut, reading and discarding until the
        // peer's EOF or the linger time): closed with the peer's input
        // unread, or still coming, a socket is reset, and the reset
        // destroys the replies the peer has not received yet. The grace
        // period bounds the wait; `halt` aborts what is left then.
        if core.state == RunState::Draining && core.conns.is_empty() {
            core.state = RunState::Halt;
        }
    }

    /// Ends everything still open at the end of a stop.
    pub(crate) fn halt(&mut self) {
        let core = &mut self.core;
        // A drain that ended early leaves its grace timer: a later `run`
        // must not be cut short by it.
        if let Some(t) = core.grace_timer.take() {
            core.timers.cancel(t);
        }
        for id in core.conn_ids() {
            core.abort(id, Reason::Shutdown);
            core.settle();
            core.free_conn(id);
        }
        for (_, l) in core.listeners.iter_mut() {
            if let Err(e) = core.registry.deregister(&mut l.socket) {
                log::trace!("deregister failed: {e}");
            }
        }
        core.listeners.clear();
        // Endpoints still open (a halt without a drain, e.g. a second
        // signal) get their `stopped` too.
        for id in core.udp_ids() {
            core.close_udp(id);
        }
        for id in core.unix_dgram_ids() {
            core.close_unix_dgram(id);
        }
        core.settle();
        log::debug!("reactor stopped");
    }
}

impl Core {
    /// The ids of every connection, in slot order (a copy: the caller
    /// changes the table while it walks them).
    fn conn_ids(&self) -> Vec<ConnId> {
        self.conns.iter().map(|(i, c)| ConnId { index: i as u32, generation: c.generation }).collect()
    }

    /// The ids of every listener (a copy, as for `conn_ids`).
    fn listener_ids(&self) -> Vec<ListenerId> {
        self.listeners.iter().map(|(i, l)| ListenerId { index: i as u32, generation: l.generation }).collect()
    }

    /// The ids of every datagram endpoint (a copy, as for `conn_ids`).
    fn udp_ids(&self) -> Vec<UdpId> {
        self.udps.iter().map(|(i, u)| UdpId { index: i as u32, generation: u.generation }).collect()
    }
}
