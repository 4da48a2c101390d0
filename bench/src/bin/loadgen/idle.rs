//! Idle mode: open `K` TCP connections (echo_hello: each gets its
//! welcome, checked byte for byte), send nothing, hold them for the
//! duration, and see what they cost the server in memory.
//!
//! The hold starts once every connection has opened or failed; failures
//! are not retried (the point is to see how many the server takes).

use std::rc::Rc;
use std::time::Instant;

use reel::{Context, Protocol, ReactorContext, Reason, TimerId};

use super::tcp::WELCOME;
use super::{mismatch, Phase, Shared, State};

pub(super) struct IdleClient {
    sh: Rc<Shared>,
    /// Welcome bytes matched so far.
    matched: usize,
    /// Counted as open (established, and welcomed for echo_hello).
    counted: bool,
    /// Counted as failed (and aborted).
    failed: bool,
}

impl IdleClient {
    pub(super) fn new(sh: Rc<Shared>) -> IdleClient {
        IdleClient { sh, matched: 0, counted: false, failed: false }
    }

    fn welcomed(&self) -> bool {
        self.sh.cfg.target != super::Target::EchoHello || self.matched == WELCOME.len()
    }

    fn mark_open(&mut self, cx: &mut ReactorContext<'_>, st: &mut State) {
        self.counted = true;
        st.open += 1;
        st.idle.opened += 1;
        all_in(&self.sh, st, cx);
    }

    /// This connection will not open: an error, counted once.
    fn mark_failed(&mut self, cx: &mut ReactorContext<'_>, st: &mut State, msg: impl FnOnce() -> String) {
        if self.counted || self.failed {
            return;
        }
        self.failed = true;
        st.idle.failed += 1;
        if st.phase != Phase::Done {
            let addr = self.sh.cfg.addr;
            st.error(|| format!("{addr}: {}", msg()));
        }
        all_in(&self.sh, st, cx);
    }
}

/// Once every connection has opened or failed: note the server's memory,
/// say so, and hold them for the duration.
fn all_in(sh: &Rc<Shared>, st: &mut State, cx: &mut ReactorContext<'_>) {
    let k = sh.cfg.idle.unwrap_or(0);
    if st.idle.all_in.is_some() || st.idle.opened + st.idle.failed < k {
        return;
    }
    let now = Instant::now();
    st.idle.all_in = Some(now);
    st.idle.rss_open = sh.cfg.server_pid.and_then(super::sys::vm_rss_kib);
    let hold = sh.cfg.duration.unwrap_or(std::time::Duration::from_secs(10));
    if sh.cfg.announce {
        let clear = if st.progress_shown { "\r\x1b[K" } else { "" };
        let secs = now.saturating_duration_since(st.begun).as_secs_f64();
        eprintln!(
            "{clear}loadgen: {} of {k} connections open ({} failed) after {secs:.2} s; holding them for {:.1} s",
            st.idle.opened,
            st.idle.failed,
            hold.as_secs_f64()
        );
    }
    let sh = Rc::clone(sh);
    cx.call_later(hold, move |cx| super::finish(&sh.cfg, &mut sh.st.borrow_mut(), cx));
}

impl Protocol for IdleClient {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        let sh = Rc::clone(&self.sh);
        {
            let mut st = sh.st.borrow_mut();
            st.connecting -= 1;
            if self.welcomed() {
                self.mark_open(cx, &mut st);
            } else {
                // The welcome must come within the timeout.
                cx.set_timer(sh.cfg.timeout);
            }
        }
        super::launch(&sh, cx);
    }

    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if self.failed || self.welcomed() {
            return; // nothing else is expected; ignore it
        }
        let sh = Rc::clone(&self.sh);
        let mut st = sh.st.borrow_mut();
        let want = &WELCOME[self.matched..];
        let n = want.len().min(data.len());
        if data[..n] != want[..n] {
            let matched = self.matched;
            self.mark_failed(cx, &mut st, || mismatch("welcome", WELCOME, matched, data));
            cx.abort();
            return;
        }
        self.matched += n;
        if self.welcomed() {
            self.mark_open(cx, &mut st);
        }
    }

    fn timer_fired(&mut self, cx: &mut Context<'_>, _timer: TimerId) {
        if !self.counted && !self.failed {
            let sh = Rc::clone(&self.sh);
            let timeout = sh.cfg.timeout;
            self.mark_failed(cx, &mut sh.st.borrow_mut(), || format!("no welcome within {timeout:?}"));
            cx.abort();
        }
    }

    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        let sh = Rc::clone(&self.sh);
        let mut st = sh.st.borrow_mut();
        if self.counted {
            st.open -= 1;
        } else {
            self.mark_failed(cx, &mut st, || format!("connection lost before the welcome: {reason}"));
        }
    }

    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        let sh = Rc::clone(&self.sh);
        {
            let mut st = sh.st.borrow_mut();
            st.connecting -= 1;
            self.mark_failed(cx, &mut st, || format!("connect failed: {reason}"));
        }
        super::launch(&sh, cx);
    }

    fn stop_requested(&mut self, cx: &mut Context<'_>) {
        super::observe_stop(&self.sh);
        cx.close();
    }
}
