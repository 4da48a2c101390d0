//! The figures of a run: what [`run`](super::run) returns.

use std::net::SocketAddr;
use std::time::Duration;

use super::sys::CpuTime;
use super::{Config, State, Target};

/// Latency percentiles of the measured requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// The slowest.
    pub max: Duration,
    /// The mean.
    pub mean: Duration,
}

/// What idle mode found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleReport {
    /// Connections asked for.
    pub requested: usize,
    /// Connections that opened (and got the welcome, for echo_hello).
    pub opened: usize,
    /// Connections that could not be opened.
    pub failed: usize,
    /// Connections still open at the end.
    pub open_at_end: usize,
    /// How long opening them all took.
    pub open_time: Duration,
    /// How long they were held.
    pub held: Duration,
    /// Server RSS before opening, in KiB.
    pub rss_before_kib: Option<u64>,
    /// Server RSS once all were open, in KiB.
    pub rss_open_kib: Option<u64>,
    /// Server RSS at the end, in KiB.
    pub rss_end_kib: Option<u64>,
}

impl IdleReport {
    /// The server's resident memory per open connection, in bytes.
    pub fn rss_per_conn_bytes(&self) -> Option<f64> {
        let (before, open) = (self.rss_before_kib?, self.rss_open_kib?);
        (self.opened > 0).then(|| (open as f64 - before as f64) * 1024.0 / self.opened as f64)
    }
}

/// The figures of one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was driven.
    pub target: Target,
    /// Where.
    pub addr: SocketAddr,
    /// Connections or sockets.
    pub conns: usize,
    /// Requests in flight per connection.
    pub depth: usize,
    /// The warm-up asked for.
    pub warmup: Duration,
    /// The measured stretch (after the warm-up).
    pub elapsed: Duration,
    /// Requests answered correctly while measuring.
    pub requests: u64,
    /// Wrong replies, timeouts, failed or lost connections (the warm-up
    /// included: a wrong byte is wrong whenever it comes).
    pub errors: u64,
    /// UDP replies that came after their request had timed out.
    pub late: u64,
    /// Bytes sent while measuring.
    pub bytes_sent: u64,
    /// Bytes received while measuring.
    pub bytes_received: u64,
    /// Latency of the measured requests (none if there were none).
    pub latency: Option<Latency>,
    /// Our own CPU time while measuring (user/system split, 10 ms ticks).
    pub own_cpu: Option<CpuTime>,
    /// Our own CPU time while measuring, in ns (schedstat).
    pub own_cpu_ns: Option<u64>,
    /// The server's CPU time while measuring.
    pub server_cpu: Option<CpuTime>,
    /// The first error, in words, with the bytes involved.
    pub first_error: Option<String>,
    /// Idle mode's findings.
    pub idle: Option<IdleReport>,
}

impl Report {
    fn secs(&self) -> f64 {
        self.elapsed.as_secs_f64()
    }

    /// Measured requests per second.
    pub fn rps(&self) -> f64 {
        if self.secs() > 0.0 {
            self.requests as f64 / self.secs()
        } else {
            0.0
        }
    }

    /// Megabytes (10^6) per second, both directions together.
    pub fn mb_per_s(&self) -> f64 {
        if self.secs() > 0.0 {
            (self.bytes_sent + self.bytes_received) as f64 / self.secs() / 1e6
        } else {
            0.0
        }
    }

    /// Our CPU seconds while measuring (the precise clock where there is one).
    pub fn own_cpu_secs(&self) -> Option<f64> {
        self.own_cpu_ns.map(|ns| ns as f64 / 1e9).or(self.own_cpu.map(|c| c.total()))
    }

    /// Our CPU microseconds per measured request.
    pub fn own_us_per_req(&self) -> Option<f64> {
        let cpu = self.own_cpu_secs()?;
        (self.requests > 0).then(|| cpu * 1e6 / self.requests as f64)
    }

    /// The server's CPU microseconds per measured request.
    pub fn server_us_per_req(&self) -> Option<f64> {
        let cpu = self.server_cpu?.total();
        (self.requests > 0).then(|| cpu * 1e6 / self.requests as f64)
    }

    /// Our CPU time as a share of one core (1.0 = one core busy).
    pub fn own_utilization(&self) -> Option<f64> {
        let cpu = self.own_cpu_secs()?;
        (self.secs() > 0.0).then(|| cpu / self.secs())
    }

    /// The server's CPU time as a share of one core.
    pub fn server_utilization(&self) -> Option<f64> {
        let cpu = self.server_cpu?.total();
        (self.secs() > 0.0).then(|| cpu / self.secs())
    }
}

/// The report from the state at the end of a run.
pub(super) fn report(cfg: &Config, st: &State) -> Report {
    let elapsed = match (st.measure_start, st.end) {
        (Some(start), Some(end)) => end.saturating_duration_since(start),
        _ => Duration::ZERO,
    };
    let latency = (!st.hist.is_empty()).then(|| Latency {
        p50: Duration::from_nanos(st.hist.value_at_quantile(0.50)),
        p99: Duration::from_nanos(st.hist.value_at_quantile(0.99)),
        p999: Duration::from_nanos(st.hist.value_at_quantile(0.999)),
        max: Duration::from_nanos(st.hist.max()),
        mean: Duration::from_nanos(st.hist.mean() as u64),
    });
    let (start, end) = (st.cpu_start.unwrap_or_default(), st.cpu_end.unwrap_or_default());
    let diff = |a: Option<CpuTime>, b: Option<CpuTime>| Some(b?.minus(&a?));
    let idle = cfg.idle.map(|k| {
        let all_in = st.idle.all_in.unwrap_or(st.end.unwrap_or(st.begun));
        IdleReport {
            requested: k,
            opened: st.idle.opened,
            failed: st.idle.failed,
            open_at_end: st.idle.open_at_end,
            open_time: all_in.saturating_duration_since(st.begun),
            held: st.end.map_or(Duration::ZERO, |e| e.saturating_duration_since(all_in)),
            rss_before_kib: st.idle.rss_before,
            rss_open_kib: st.idle.rss_open,
            rss_end_kib: st.idle.rss_end,
        }
    });
    Report {
        target: cfg.target,
        addr: cfg.addr,
        conns: cfg.idle.unwrap_or(cfg.conns),
        depth: cfg.depth,
        warmup: if cfg.idle.is_some() { Duration::ZERO } else { cfg.warmup },
        elapsed,
        requests: st.requests,
        errors: st.errors,
        late: st.late,
        bytes_sent: st.bytes_out,
        bytes_received: st.bytes_in,
        latency,
        own_cpu: diff(start.own, end.own),
        own_cpu_ns: end.own_ns.zip(start.own_ns).map(|(e, s)| e.saturating_sub(s)),
        server_cpu: diff(start.server, end.server),
        first_error: st.first_error.clone(),
        idle,
    }
}
