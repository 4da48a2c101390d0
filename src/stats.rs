//! Seeing inside a running reactor: the [`Stats`] snapshot and the
//! counters behind it.
//!
//! The loop keeps a handful of plain integer counters (bytes and datagrams
//! in and out, clients accepted and refused), each one addition where the
//! work is done anyway; everything else is counted from the reactor's own
//! tables when a snapshot is taken. Taking one walks the connections once
//! (a few hundred microseconds for 100,000 of them), so it is meant for a
//! periodic log line or a status page, not for every callback.

use std::fmt;
use std::sync::mpsc;
use std::time::Duration;

use crate::conn::{flag, Phase};
use crate::core::Core;
use crate::ReactorHandle;

/// The running totals the loop keeps: one addition each where the work
/// happens.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) datagrams_in: u64,
    pub(crate) datagrams_out: u64,
    /// Datagrams dropped by endpoints closed since, those left in their
    /// send queues included (the open ones keep their own count).
    pub(crate) datagrams_dropped: u64,
    pub(crate) accepted: u64,
    pub(crate) refused: u64,
}

/// A snapshot of a reactor: what it holds now, and totals since it was
/// made. Read it from any callback ([`ReactorContext::stats`](crate::ReactorContext::stats)),
/// from the owner of the reactor ([`Reactor::stats`](crate::Reactor::stats)),
/// or from another thread ([`ReactorHandle::stats`]).
///
/// Its `Display` is one log line:
///
/// ```
/// let reactor = reel::Reactor::new()?;
/// let stats = reactor.stats();
/// assert_eq!(stats.connections(), 0);
/// assert_eq!(
///     stats.to_string(),
///     "conns 0 (connecting 0, open 0, write-closed 0, closing 0, lingering 0), paused 0+0, queued 0 B, \
///      listeners 0, endpoints 0, timers 0, in 0 B, out 0 B, datagrams 0/0 (0 dropped), accepted 0, refused 0"
/// );
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Client connections whose connect is in progress.
    pub connecting: usize,
    /// Established connections (half-closed ones included).
    pub open: usize,
    /// Connections whose write side we shut (`write_eof`), still reading.
    pub write_closed: usize,
    /// Connections flushing their output before closing.
    pub closing: usize,
    /// Connections whose protocol is done, waiting for the peer's close.
    pub lingering: usize,
    /// Open connections whose reading flow control paused (their queued
    /// output passed the high water mark).
    pub paused_by_flow_control: usize,
    /// Open connections whose protocol paused reading.
    pub paused_by_protocol: usize,
    /// Bytes queued on all connections, not yet taken by the kernel.
    pub queued_output: usize,
    /// TCP listeners.
    pub listeners: usize,
    /// Datagram endpoints.
    pub endpoints: usize,
    /// Timers pending (the protocols' and the reactor's own deadlines).
    pub pending_timers: usize,
    /// Bytes read from connections since the reactor was made.
    pub bytes_in: u64,
    /// Bytes written to connections since the reactor was made.
    pub bytes_out: u64,
    /// Datagrams received.
    pub datagrams_in: u64,
    /// Datagrams sent (queued ones once they leave).
    pub datagrams_out: u64,
    /// Datagrams dropped because an endpoint's send queue was full, or
    /// still in its send queue when it closed.
    pub datagrams_dropped: u64,
    /// Clients accepted by the listeners.
    pub accepted: u64,
    /// Clients refused at a listener's connection limits.
    pub refused: u64,
}

impl Stats {
    /// Connections in every phase.
    pub fn connections(&self) -> usize {
        self.connecting + self.open + self.write_closed + self.closing + self.lingering
    }
}

/// Bytes with a binary unit: `512 B`, `1.5 KiB`, `3.0 MiB`.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        let mut v = self.0 as f64 / 1024.0;
        let mut unit = 0;
        while v >= 1024.0 && unit < UNITS.len() - 1 {
            v /= 1024.0;
            unit += 1;
        }
        write!(f, "{v:.1} {}", UNITS[unit])
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conns {} (connecting {}, open {}, write-closed {}, closing {}, lingering {}), paused {}+{}, queued {}, \
             listeners {}, endpoints {}, timers {}, in {}, out {}, datagrams {}/{} ({} dropped), accepted {}, refused {}",
            self.connections(),
            self.connecting,
            self.open,
            self.write_closed,
            self.closing,
            self.lingering,
            self.paused_by_flow_control,
            self.paused_by_protocol,
            Bytes(self.queued_output as u64),
            self.listeners,
            self.endpoints,
            self.pending_timers,
            Bytes(self.bytes_in),
            Bytes(self.bytes_out),
            self.datagrams_in,
            self.datagrams_out,
            self.datagrams_dropped,
            self.accepted,
            self.refused,
        )
    }
}

impl Core {
    /// Counts the snapshot: one pass over the connections.
    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        let mut s = Stats {
            listeners: self.listeners.len(),
            endpoints: self.udps.len(),
            pending_timers: self.timers.len(),
            bytes_in: c.bytes_in,
            bytes_out: c.bytes_out,
            datagrams_in: c.datagrams_in,
            datagrams_out: c.datagrams_out,
            datagrams_dropped: c.datagrams_dropped,
            accepted: c.accepted,
            refused: c.refused,
            ..Stats::default()
        };
        for (_, conn) in &self.conns {
            match conn.phase {
                Phase::Connecting => s.connecting += 1,
                Phase::Open => s.open += 1,
                Phase::WriteClosed => s.write_closed += 1,
                Phase::Closing => s.closing += 1,
                Phase::Lingering => s.lingering += 1,
            }
            if matches!(conn.phase, Phase::Open | Phase::WriteClosed) {
                if conn.has(flag::READ_AUTO_PAUSED) {
                    s.paused_by_flow_control += 1;
                }
                if conn.has(flag::READ_PAUSED) {
                    s.paused_by_protocol += 1;
                }
            }
            s.queued_output += conn.out.len();
        }
        for (_, u) in &self.udps {
            s.datagrams_out += u.sent;
            s.datagrams_dropped += u.dropped;
        }
        s
    }
}

impl ReactorHandle {
    /// A [`Stats`] snapshot taken on the reactor thread (through
    /// [`call_from_thread`](ReactorHandle::call_from_thread)); `None` if the
    /// reactor did not answer within `timeout` (it is not running, or
    /// busy). Never call it from the reactor thread itself: it would wait
    /// for the reactor it is blocking (use
    /// [`ReactorContext::stats`](crate::ReactorContext::stats) there).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut reactor = reel::Reactor::new()?;
    /// # struct Quiet;
    /// # impl reel::Protocol for Quiet {
    /// #     fn data_received(&mut self, _: &mut reel::Context<'_>, _: &[u8]) {}
    /// # }
    /// reactor.listen_tcp("127.0.0.1:0", |_| Quiet)?;
    /// let handle = reactor.handle();
    /// let watcher = std::thread::spawn(move || {
    ///     let stats = handle.stats(Duration::from_secs(10));
    ///     handle.stop();
    ///     stats
    /// });
    /// reactor.run()?;
    /// let stats = watcher.join().unwrap().expect("the reactor answered");
    /// assert_eq!(stats.listeners, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stats(&self, timeout: Duration) -> Option<Stats> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.call_from_thread(move |cx| {
            // The caller may have given up waiting: nothing to do then.
            let _ = tx.send(cx.stats());
        });
        rx.recv_timeout(timeout).ok()
    }
}
