//! What the kernel says about CPU time and memory, read from `/proc`
//! (Linux), without `unsafe` and without `libc`.
//!
//! - Our own CPU time: `/proc/thread-self/schedstat`, first field, in
//!   nanoseconds (user and system together) for the thread that runs the
//!   reactor, which is the whole load generator: it is single-threaded.
//!   The user/system split comes from `/proc/thread-self/stat`.
//! - The server's CPU time: fields 14 and 15 (`utime`, `stime`) of
//!   `/proc/PID/stat`, which count every thread of the process, in clock
//!   ticks. A tick is taken as 1/100 s (`USER_HZ` = 100, what Linux
//!   reports on every mainstream architecture; reading it needs
//!   `sysconf(_SC_CLK_TCK)`, i.e. libc). Resolution is 10 ms, so a run
//!   should last seconds for the per-request figure to mean something.
//! - The server's memory: `VmRSS` from `/proc/PID/status`.

use std::fs;

/// Clock ticks per second assumed for `/proc/*/stat` (see the module docs).
pub(super) const USER_HZ: u64 = 100;

/// User and system CPU time, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTime {
    /// Time in user mode.
    pub user: f64,
    /// Time in the kernel.
    pub sys: f64,
}

impl CpuTime {
    /// User plus system.
    pub fn total(&self) -> f64 {
        self.user + self.sys
    }

    pub(super) fn minus(&self, earlier: &CpuTime) -> CpuTime {
        CpuTime { user: (self.user - earlier.user).max(0.0), sys: (self.sys - earlier.sys).max(0.0) }
    }
}

/// `utime` and `stime` of a `/proc/.../stat` file, in seconds.
fn stat_times(path: &str) -> Option<CpuTime> {
    let text = fs::read_to_string(path).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself: the fields we want come after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // After ')' comes field 3 (state); utime is field 14, stime 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(CpuTime { user: utime as f64 / USER_HZ as f64, sys: stime as f64 / USER_HZ as f64 })
}

/// CPU time of process `pid` (all its threads).
pub(super) fn process_cpu(pid: u32) -> Option<CpuTime> {
    stat_times(&format!("/proc/{pid}/stat"))
}

/// CPU time of the calling thread: the user/system split in ticks, and
/// the total in nanoseconds where `schedstat` is available.
pub(super) fn thread_cpu() -> (Option<CpuTime>, Option<u64>) {
    let split = stat_times("/proc/thread-self/stat").or_else(|| stat_times("/proc/self/stat"));
    let ns = fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_ascii_whitespace().next().and_then(|f| f.parse().ok()));
    (split, ns)
}

/// Resident memory of process `pid`, in KiB.
pub(super) fn vm_rss_kib(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    line["VmRSS:".len()..].split_ascii_whitespace().next()?.parse().ok()
}

/// One reading of every CPU clock the report needs.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CpuSample {
    pub(super) own: Option<CpuTime>,
    pub(super) own_ns: Option<u64>,
    pub(super) server: Option<CpuTime>,
}

impl CpuSample {
    pub(super) fn take(server_pid: Option<u32>) -> CpuSample {
        let (own, own_ns) = thread_cpu();
        CpuSample { own, own_ns, server: server_pid.and_then(process_cpu) }
    }
}
