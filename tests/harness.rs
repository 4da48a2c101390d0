//! The in-memory harness runs the real buffer, water-mark, close and timer
//! logic, and catches protocol bugs such as writing after closing.

use std::time::Duration;

use reel::framing::{FrameHandler, Framed, Framer, Lines};
use reel::testing::{Event, Harness, Pair};
use reel::{Context, OutputLimit, Protocol, Reason, TcpOptions, TimerId};

/// Closes on "bye" and then (wrongly) keeps writing.
struct Sloppy;

impl Protocol for Sloppy {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if data == b"bye" {
            cx.write(b"goodbye");
            cx.close();
            cx.write(b"oops");
        }
    }
}

#[test]
fn catches_a_protocol_that_writes_after_closing() {
    let mut h = Harness::new(Sloppy);
    h.feed(b"bye");
    assert_eq!(h.written(), b"goodbye", "the late write is not sent");
    assert_eq!(h.events(), vec![Event::WriteAfterClose(4), Event::Lost(Reason::Closed)]);
    assert!(h.transcript().write_shutdown);
}

/// Produces `left` bytes, one 8 KiB piece per clock tick, while allowed to.
struct Producer {
    left: usize,
    paused: bool,
}

impl Protocol for Producer {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.set_interval(Duration::from_millis(1));
    }
    fn data_received(&mut self, _: &mut Context<'_>, _: &[u8]) {}
    fn timer_fired(&mut self, cx: &mut Context<'_>, timer: TimerId) {
        if self.paused || self.left == 0 {
            return;
        }
        let n = self.left.min(8192);
        cx.write(&vec![b'p'; n]);
        self.left -= n;
        if self.left == 0 {
            cx.cancel_timer(timer);
            cx.close();
        }
    }
    fn pause_writing(&mut self, _: &mut Context<'_>) {
        self.paused = true;
    }
    fn resume_writing(&mut self, _: &mut Context<'_>) {
        self.paused = false;
    }
}

fn tick(h: &mut Harness, times: usize) {
    for _ in 0..times {
        h.advance(Duration::from_millis(1));
    }
}

#[test]
fn water_marks_follow_what_the_peer_reads() {
    let opts = TcpOptions { high_water: 20_000, low_water: 10_000, ..Default::default() };
    let mut h = Harness::with_options(Producer { left: 100_000, paused: false }, &opts);
    h.set_peer_window(Some(0)); // the peer reads nothing
    tick(&mut h, 10);
    // Production stops at the first piece past the high mark.
    assert_eq!(h.events(), vec![Event::PauseWriting]);
    assert_eq!(h.queued(), 3 * 8192);
    // Reading a little is not enough to resume...
    h.peer_reads(5_000);
    tick(&mut h, 3);
    assert_eq!(h.events(), vec![Event::PauseWriting]);
    assert_eq!(h.queued(), 3 * 8192 - 5_000);
    // ...reading down to the low mark is.
    h.peer_reads(h.queued() - 10_000);
    assert_eq!(h.events(), vec![Event::PauseWriting, Event::ResumeWriting]);
    h.set_peer_window(None);
    tick(&mut h, 20);
    assert_eq!(h.written().len(), 100_000);
    assert_eq!(h.lost(), Some(Reason::Closed));
}

/// Writes 50,000 bytes per read, whatever the peer does.
struct Flood;
impl Protocol for Flood {
    fn data_received(&mut self, cx: &mut Context<'_>, _: &[u8]) {
        cx.write(&[0u8; 50_000]);
    }
}

fn flood_options() -> TcpOptions {
    TcpOptions {
        output_limit: 120_000,
        output_stall: Duration::from_secs(10),
        flow_control: reel::FlowControl::Off,
        ..TcpOptions::default()
    }
}

#[test]
fn the_soft_output_limit_disconnects_a_peer_that_reads_nothing_for_the_stall_period() {
    let mut h = Harness::with_options(Flood, &flood_options());
    h.set_peer_window(Some(0));
    for _ in 0..3 {
        h.feed(b"x");
    }
    assert_eq!(h.queued(), 150_000, "above the soft limit, not cut yet");
    h.advance(Duration::from_millis(9_999));
    assert_eq!(h.lost(), None, "cut before the stall period");
    h.advance(Duration::from_millis(1));
    assert_eq!(h.lost(), Some(Reason::OutputLimitExceeded(OutputLimit::Stalled)));
    assert!(h.transcript().reset, "an output-limit disconnect is a reset");
    assert!(h.is_freed(), "nothing lingers after a reset");
}

#[test]
fn a_slow_reader_above_the_soft_limit_is_never_cut() {
    let mut h = Harness::with_options(Flood, &flood_options());
    h.set_peer_window(Some(0));
    for _ in 0..3 {
        h.feed(b"x");
    }
    // One byte every 9 s: slow, but reading. Three minutes of it.
    for _ in 0..20 {
        h.advance(Duration::from_secs(9));
        h.peer_reads(1);
        assert_eq!(h.lost(), None, "a peer that reads was cut");
    }
    h.set_peer_window(None);
    assert_eq!(h.written().len(), 150_000);
    assert_eq!(h.queued(), 0);
    // Below the limit the stall timer is gone: no cut however long it idles.
    h.advance(Duration::from_secs(3600));
    assert_eq!(h.lost(), None);
}

#[test]
fn the_output_ceiling_disconnects_at_once() {
    let opts = TcpOptions { output_ceiling: 120_000, ..flood_options() };
    let mut h = Harness::with_options(Flood, &opts);
    h.set_peer_window(Some(0));
    h.feed(b"1");
    h.feed(b"2");
    assert_eq!(h.lost(), None);
    h.feed(b"3");
    assert_eq!(h.lost(), Some(Reason::OutputLimitExceeded(OutputLimit::Ceiling)));
    assert!(h.transcript().reset, "an output-limit disconnect is a reset");
}

#[test]
fn flow_control_stops_reading_above_the_high_mark_and_resumes_at_the_low_mark() {
    let opts = TcpOptions { output_limit: 120_000, ..TcpOptions::default() };
    let mut h = Harness::with_options(Flood, &opts);
    h.set_peer_window(Some(0));
    h.feed(b"1");
    assert!(!h.is_reading_paused());
    h.feed(b"2");
    assert!(h.is_reading_paused(), "100,000 queued is above the 64 KiB high mark");
    h.feed(b"3");
    assert_eq!(h.queued(), 100_000, "the third read waits in the peer's kernel buffer");
    assert_eq!(h.unread(), 1);
    // Down to 40,000: still above the 32 KiB low mark.
    h.peer_reads(60_000);
    assert!(h.is_reading_paused());
    assert_eq!(h.unread(), 1);
    // At the low mark reading resumes and the waiting byte is read.
    h.peer_reads(40_000 - 32 * 1024);
    assert_eq!(h.unread(), 0);
    assert_eq!(h.queued(), 32 * 1024 + 50_000);
    h.set_peer_window(None);
    assert_eq!(h.written().len(), 150_000);
    assert_eq!(h.lost(), None);
}

#[test]
fn timers_run_on_the_manual_clock() {
    struct Ticker(u32);
    impl Protocol for Ticker {
        fn connection_made(&mut self, cx: &mut Context<'_>) {
            cx.set_interval(Duration::from_secs(10));
        }
        fn data_received(&mut self, _: &mut Context<'_>, _: &[u8]) {}
        fn timer_fired(&mut self, cx: &mut Context<'_>, _: TimerId) {
            self.0 += 1;
            cx.write(format!("tick {}\n", self.0).as_bytes());
        }
    }
    let mut h = Harness::new(Ticker(0));
    h.advance(Duration::from_secs(9));
    assert!(h.written().is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(h.take_written(), b"tick 1\n");
    // 35 s late: one tick, not three (missed intervals are skipped)...
    h.advance(Duration::from_secs(35));
    assert_eq!(h.take_written(), b"tick 2\n");
    // ...and the next is due on the original grid, at t = 50 s.
    h.advance(Duration::from_secs(4));
    assert!(h.written().is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(h.take_written(), b"tick 3\n");
}

/// A line client that sends its lines and records the answers.
struct LineClient {
    lines: Vec<&'static [u8]>,
}

impl FrameHandler<Lines> for LineClient {
    fn connection_made(&mut self, cx: &mut Context<'_>, framer: &mut Framer<Lines>) {
        for line in &self.lines {
            framer.send(cx, line).expect("a line");
        }
    }
    fn frame_received(&mut self, cx: &mut Context<'_>, _: &mut Framer<Lines>, line: &[u8]) {
        if line == b"done" {
            cx.close();
        }
    }
}

/// Answers each line with its length; "end" makes it say "done" and close.
struct LineServer;

impl FrameHandler<Lines> for LineServer {
    fn frame_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<Lines>, line: &[u8]) {
        if line == b"end" {
            let _ = framer.send(cx, b"done");
            cx.close();
        } else {
            let _ = framer.send(cx, line.len().to_string().as_bytes());
        }
    }
}

#[test]
fn two_protocols_back_to_back() {
    let client = Framed::new(Lines::lf(), LineClient { lines: vec![b"hello", b"", b"four", b"end"] });
    let server = Framed::new(Lines::lf(), LineServer);
    let mut pair = Pair::new(client, server);
    pair.pump();
    assert_eq!(pair.transcript_a().written, b"hello\n\nfour\nend\n");
    assert_eq!(pair.transcript_b().written, b"5\n0\n4\ndone\n");
    assert_eq!(pair.transcript_b().events, vec![Event::Lost(Reason::Closed)]);
    assert_eq!(pair.transcript_a().events, vec![Event::Lost(Reason::Closed)]);
}

#[test]
fn a_connection_timer_is_cancelled_when_the_connection_ends() {
    use std::cell::Cell;
    use std::rc::Rc;
    struct Timed(Rc<Cell<Option<TimerId>>>);
    impl Protocol for Timed {
        fn connection_made(&mut self, cx: &mut Context<'_>) {
            self.0.set(Some(cx.set_timer(Duration::from_secs(3600))));
            cx.set_interval(Duration::from_secs(60));
        }
        fn data_received(&mut self, cx: &mut Context<'_>, _: &[u8]) {
            cx.close();
        }
    }
    let slot = Rc::new(Cell::new(None));
    let mut h = Harness::new(Timed(Rc::clone(&slot)));
    let id = slot.get().expect("timer set");
    assert!(h.with_context(|cx| cx.timer_active(id)));
    h.feed(b"bye");
    assert_eq!(h.lost(), Some(Reason::Closed));
    assert!(!h.with_context(|cx| cx.timer_active(id)), "no timer outlives its connection");
}

// ----- the lifecycle over the harness --------------------------------------------

/// Records every callback's name; answers nothing.
#[derive(Default)]
struct Recorder {
    calls: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
}
impl Protocol for Recorder {
    fn data_received(&mut self, _: &mut Context<'_>, data: &[u8]) {
        self.calls.borrow_mut().push(format!("data {}", data.len()));
    }
    fn eof_received(&mut self, _: &mut Context<'_>) {
        // Half-closed: stay open, keep writing.
        self.calls.borrow_mut().push("eof".into());
    }
    fn connection_lost(&mut self, _: &mut Context<'_>, reason: Reason) {
        self.calls.borrow_mut().push(format!("lost {reason:?}"));
    }
}

#[test]
fn a_reset_after_the_peer_half_closed_ends_the_connection() {
    let calls = std::rc::Rc::default();
    let mut h = Harness::new(Recorder { calls: std::rc::Rc::clone(&calls) });
    h.feed(b"abc");
    h.feed_eof();
    assert_eq!(h.lost(), None, "half-closed stays open");
    h.peer_resets();
    assert_eq!(h.lost(), Some(Reason::Reset));
    assert!(h.is_freed());
    assert_eq!(h.pending_timers(), 0);
    assert_eq!(*calls.borrow(), ["data 3", "eof", "lost Reset"]);
}

#[test]
fn a_reset_while_lingering_ends_nothing_twice() {
    let calls = std::rc::Rc::default();
    let mut h = Harness::new(Recorder { calls: std::rc::Rc::clone(&calls) });
    h.with_context(|cx| {
        cx.write(b"bye");
        cx.close();
    });
    assert_eq!(h.lost(), Some(Reason::Closed));
    assert!(!h.is_freed(), "lingering until the peer closes");
    h.peer_resets();
    assert!(h.is_freed());
    assert_eq!(h.pending_timers(), 0, "the linger timer went with it");
    assert_eq!(*calls.borrow(), ["lost Closed"], "connection_lost exactly once");
    assert_eq!(h.written(), b"bye");
}

#[test]
fn a_close_that_cannot_flush_is_aborted_at_the_close_timeout() {
    let opts = TcpOptions { close_timeout: Duration::from_secs(5), ..TcpOptions::default() };
    let calls = std::rc::Rc::default();
    let mut h = Harness::with_options(Recorder { calls: std::rc::Rc::clone(&calls) }, &opts);
    h.set_peer_window(Some(0));
    h.with_context(|cx| {
        cx.write(&[7u8; 1000]);
        cx.close();
        // Closing already: a second close changes nothing.
        cx.close_with(Reason::TimedOut);
    });
    h.advance(Duration::from_millis(4_999));
    assert_eq!(h.lost(), None, "still flushing");
    h.advance(Duration::from_millis(1));
    assert_eq!(h.lost(), Some(Reason::TimedOut));
    assert!(h.transcript().reset, "an aborted close resets");
    assert!(h.is_freed());
    assert_eq!(h.pending_timers(), 0);
}

#[test]
fn a_reset_while_closing_is_noticed() {
    let mut h = Harness::new(Recorder::default());
    h.set_peer_window(Some(0));
    h.with_context(|cx| {
        cx.write(b"never read");
        cx.close();
    });
    h.peer_resets();
    assert_eq!(h.lost(), Some(Reason::Reset));
    assert!(h.is_freed());
    assert_eq!(h.pending_timers(), 0);
}

#[test]
fn duration_max_means_never_for_every_deadline() {
    let opts = TcpOptions {
        close_timeout: Duration::MAX,
        output_stall: Duration::MAX,
        close_linger: Duration::MAX,
        ..TcpOptions::default()
    };
    let mut h = Harness::with_options(Flood, &opts);
    h.set_peer_window(Some(0));
    h.with_context(|cx| {
        cx.set_timer(Duration::MAX);
        cx.call_later(Duration::MAX, |_| {});
        cx.write(&[1u8; 5 << 20]);
        cx.close();
    });
    h.advance(Duration::from_secs(10 * 365 * 24 * 3600));
    assert_eq!(h.lost(), None, "no deadline fired");
    h.set_peer_window(None);
    assert_eq!(h.lost(), Some(Reason::Closed));
}

#[test]
fn a_graceful_stop_closes_after_flushing_and_completes() {
    let mut h = Harness::new(Recorder::default());
    h.set_peer_window(Some(3));
    h.with_context(|cx| cx.write(b"abcdef"));
    h.stop();
    assert!(!h.is_stopped(), "waiting for the flush");
    assert_eq!(h.lost(), None);
    h.peer_reads(3);
    assert_eq!(h.written(), b"abcdef");
    assert_eq!(h.lost(), Some(Reason::Closed));
    // Lingering holds the stop up: freed with the peer's input unread, a
    // socket would be reset, destroying what is still in flight.
    assert!(!h.is_stopped(), "lingering until the peer's EOF");
    h.feed_eof();
    assert!(h.is_freed());
    assert!(h.is_stopped(), "nothing left to drain");
    assert_eq!(h.pending_timers(), 0, "the grace timer is cancelled when the drain ends early");
}

#[test]
fn a_graceful_stop_waits_for_lingering_at_most_the_linger_time() {
    let mut h = Harness::new(Recorder::default());
    h.with_context(|cx| cx.write(b"abcdef"));
    h.stop();
    assert_eq!(h.lost(), Some(Reason::Closed));
    assert!(!h.is_stopped(), "lingering");
    h.advance(Duration::from_secs(2));
    assert!(h.is_freed());
    assert!(h.is_stopped(), "the linger time ended it, before the grace period");
    assert_eq!(h.pending_timers(), 0);
}

#[test]
fn the_grace_period_aborts_what_cannot_flush() {
    let mut h = Harness::new(Recorder::default());
    h.set_peer_window(Some(0));
    h.with_context(|cx| cx.write(b"stuck"));
    h.stop();
    h.advance(Duration::from_secs(4));
    assert!(!h.is_stopped());
    h.advance(Duration::from_secs(1));
    assert!(h.is_stopped());
    assert_eq!(h.lost(), Some(Reason::Shutdown));
    assert!(h.is_freed());
    assert_eq!(h.pending_timers(), 0);
}

#[test]
fn the_peers_eof_is_delivered_once_however_often_the_connection_is_read() {
    let calls = std::rc::Rc::default();
    let mut h = Harness::new(Recorder { calls: std::rc::Rc::clone(&calls) });
    h.feed(b"ab");
    h.feed_eof();
    // Each of these reads the connection again, as new readiness would.
    h.feed(b"");
    h.with_context(|cx| cx.write(b"still open"));
    h.feed(b"");
    assert_eq!(h.written(), b"still open");
    assert_eq!(*calls.borrow(), ["data 2", "eof"]);
}

// ----- the limits' boundaries ------------------------------------------------------

/// Writes what it is told from the test, nothing on its own.
struct Quiet;
impl Protocol for Quiet {
    fn data_received(&mut self, _: &mut Context<'_>, _: &[u8]) {}
}

#[test]
fn a_queue_of_exactly_the_ceiling_stays_and_one_byte_more_is_cut_within_the_callback() {
    let opts = TcpOptions { output_limit: 1000, output_ceiling: 5000, ..TcpOptions::default() };
    let mut h = Harness::with_options(Quiet, &opts);
    h.set_peer_window(Some(0));
    h.with_context(|cx| {
        cx.write(&[1u8; 5000]);
        assert!(!cx.is_closing(), "exactly the ceiling is allowed");
    });
    assert_eq!(h.lost(), None);
    h.with_context(|cx| {
        cx.write(b"!");
        assert!(cx.is_closing(), "the write that passes the ceiling cuts at once, within the callback");
    });
    assert_eq!(h.lost(), Some(Reason::OutputLimitExceeded(OutputLimit::Ceiling)));
}

#[test]
fn a_queue_of_exactly_the_soft_limit_is_never_cut_for_stalling() {
    let opts = TcpOptions {
        output_limit: 1000,
        output_stall: Duration::from_secs(1),
        high_water: 100_000,
        low_water: 50_000,
        ..TcpOptions::default()
    };
    let mut h = Harness::with_options(Quiet, &opts);
    h.set_peer_window(Some(0));
    h.with_context(|cx| cx.write(&[1u8; 1000]));
    h.advance(Duration::from_secs(60));
    assert_eq!(h.lost(), None, "at the limit is not above it");
    h.with_context(|cx| cx.write(b"!"));
    h.advance(Duration::from_secs(1));
    assert_eq!(h.lost(), Some(Reason::OutputLimitExceeded(OutputLimit::Stalled)));
}

#[test]
fn writable_events_without_progress_do_not_postpone_the_stall_cut() {
    let opts = TcpOptions { output_limit: 1000, output_stall: Duration::from_secs(10), ..TcpOptions::default() };
    let mut h = Harness::with_options(Quiet, &opts);
    h.set_peer_window(Some(0));
    h.with_context(|cx| cx.write(&[1u8; 2000]));
    for _ in 0..9 {
        h.advance(Duration::from_secs(1));
        // A writable event, but the peer takes nothing.
        h.peer_reads(0);
    }
    assert_eq!(h.lost(), None);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.lost(), Some(Reason::OutputLimitExceeded(OutputLimit::Stalled)));
}

#[test]
fn exactly_the_high_water_mark_does_not_pause_and_one_byte_more_does() {
    let opts = TcpOptions { high_water: 3000, low_water: 1000, ..TcpOptions::default() };
    let mut h = Harness::with_options(Quiet, &opts);
    h.set_peer_window(Some(0));
    h.with_context(|cx| cx.write(&[1u8; 3000]));
    assert!(!h.events().contains(&Event::PauseWriting));
    h.with_context(|cx| cx.write(b"!"));
    assert_eq!(h.events(), [Event::PauseWriting]);
    // Down to exactly the low mark: resumed.
    h.peer_reads(2000);
    assert_eq!(h.events(), [Event::PauseWriting], "1,001 queued is above the low mark");
    h.peer_reads(1);
    assert_eq!(h.events(), [Event::PauseWriting, Event::ResumeWriting]);
}

#[test]
fn a_write_error_ends_the_connection_at_the_next_flush() {
    let calls = std::rc::Rc::default();
    let mut h = Harness::new(Recorder { calls: std::rc::Rc::clone(&calls) });
    h.fail_writes(std::io::ErrorKind::BrokenPipe);
    h.with_context(|cx| cx.write(b"into the void"));
    assert_eq!(h.lost(), Some(Reason::Reset));
    assert!(h.is_freed());
    assert_eq!(*calls.borrow(), ["lost Reset"]);
}

/// Counts `reading_resumed`; pauses, resumes and closes on command.
#[derive(Default)]
struct Resumable {
    resumed: std::rc::Rc<std::cell::Cell<u32>>,
}
impl Protocol for Resumable {
    fn data_received(&mut self, _: &mut Context<'_>, _: &[u8]) {}
    fn reading_resumed(&mut self, _: &mut Context<'_>) {
        self.resumed.set(self.resumed.get() + 1);
    }
}

#[test]
fn pausing_twice_is_one_pause_and_resuming_delivers_reading_resumed_once() {
    let resumed = std::rc::Rc::default();
    let mut h = Harness::new(Resumable { resumed: std::rc::Rc::clone(&resumed) });
    h.with_context(|cx| cx.pause_reading());
    assert_eq!(h.events(), [Event::PauseReading]);
    h.with_context(|cx| cx.pause_reading());
    assert_eq!(h.events(), [Event::PauseReading], "a second pause is no new pause");
    h.feed(b"waits");
    assert_eq!(h.unread(), 5);
    h.with_context(|cx| {
        cx.resume_reading();
        cx.resume_reading();
    });
    assert_eq!(h.unread(), 0);
    assert_eq!(h.events(), [Event::PauseReading, Event::ResumeReading]);
    assert_eq!(resumed.get(), 1);
}

#[test]
fn a_connection_that_closes_right_after_resuming_hears_no_reading_resumed() {
    let resumed = std::rc::Rc::default();
    let mut h = Harness::new(Resumable { resumed: std::rc::Rc::clone(&resumed) });
    h.with_context(|cx| cx.pause_reading());
    h.feed(b"waits");
    // The close has output to flush: the connection stays, closing.
    h.set_peer_window(Some(0));
    h.with_context(|cx| {
        cx.resume_reading();
        cx.write(b"bye");
        cx.close();
    });
    assert_eq!(resumed.get(), 0, "a closing connection delivers nothing more");
    assert_eq!(h.lost(), None);
    h.set_peer_window(None);
    assert_eq!(resumed.get(), 0);
    assert_eq!(h.lost(), Some(Reason::Closed));
}

#[test]
fn a_write_past_the_ceiling_first_sends_what_it_can_and_is_cut_only_if_still_past_it() {
    let opts = TcpOptions { output_limit: 1000, output_ceiling: 5000, ..TcpOptions::default() };
    let mut h = Harness::with_options(Quiet, &opts);
    // The peer takes 1,000 bytes now; nothing is queued or blocked yet.
    h.set_peer_window(Some(1000));
    h.with_context(|cx| {
        cx.write(&[1u8; 6000]);
        assert!(!cx.is_closing(), "6,000 - 1,000 sent = exactly the ceiling: kept");
    });
    assert_eq!(h.written().len(), 1000);
    assert_eq!(h.lost(), None);
    h.set_peer_window(None);
    assert_eq!(h.written().len(), 6000);
}

/// Answers each read with 100 KiB, and produces 100 KiB more on its own
/// whenever the queue drains (`resume_writing`).
#[derive(Default)]
struct AnswerAndProduce {
    got: usize,
}
impl Protocol for AnswerAndProduce {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.got += data.len();
        cx.write(&[7u8; 100 * 1024]);
    }
    fn resume_writing(&mut self, cx: &mut Context<'_>) {
        cx.write(&[8u8; 100 * 1024]);
    }
}

/// Found by review: output a protocol produces on its own (here in
/// `resume_writing`) kept reading paused for ever. Only answers to the
/// connection's input pause its reading.
#[test]
fn only_answers_pause_reading_and_a_refill_in_resume_writing_does_not_starve_input() {
    let mut h = Harness::new(AnswerAndProduce::default());
    h.set_peer_window(Some(0));
    h.feed(b"a");
    assert!(h.is_reading_paused(), "100 KiB answered: above the high mark");
    h.feed(b"b");
    assert_eq!(h.unread(), 1);
    // The peer reads down to the low mark: resume_writing refills above the
    // high mark, yet reading resumes and "b" is read (and answered, which
    // pauses reading again).
    h.peer_reads(100 * 1024 - 32 * 1024);
    assert_eq!(h.unread(), 0, "the input waiting behind a refill is read");
    assert!(h.is_reading_paused());
    h.set_peer_window(None);
    assert_eq!(h.written().len(), 3 * 100 * 1024 + 100 * 1024, "two answers and two refills");
    assert_eq!(h.lost(), None);
}

#[test]
fn output_produced_on_its_own_does_not_stop_reading() {
    let mut h = Harness::new(Quiet);
    h.set_peer_window(Some(0));
    h.with_context(|cx| cx.write(&[1u8; 200 * 1024]));
    assert!(!h.is_reading_paused(), "nothing the peer sent is being answered");
    h.feed(b"still read");
    assert_eq!(h.unread(), 0);
    assert_eq!(h.events(), [Event::PauseWriting], "pause_writing is still advice to the producer");
}

/// Echoes what it reads (an answer: flow control may pause reading).
struct Echoes;

impl Protocol for Echoes {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        cx.write(data);
    }
}

/// A peer that sends and never reads: flow control pauses reading with
/// the queue near the high water mark, far below the soft output limit,
/// and without the stall watch there the connection would be held for
/// ever (an idle timeout spares it: the server is the side not reading).
#[test]
fn a_peer_that_never_reads_is_cut_for_stalling_while_flow_control_pauses_reading() {
    let opts = TcpOptions {
        high_water: 4000,
        low_water: 1000,
        output_stall: Duration::from_secs(10),
        ..TcpOptions::default()
    };
    let mut h = Harness::with_options(Echoes, &opts);
    h.set_peer_window(Some(0));
    h.feed(&[7u8; 5000]);
    assert!(h.is_reading_paused(), "flow control paused reading");
    assert!(h.queued() < opts.output_limit, "far below the soft limit");
    h.advance(Duration::from_secs(9));
    assert_eq!(h.lost(), None);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.lost(), Some(Reason::OutputLimitExceeded(OutputLimit::Stalled)));
}

/// The same peer reading a little now and then is never cut: each byte it
/// takes pushes the stall deadline back, and once the queue is at the low
/// mark reading resumes and the watch ends.
#[test]
fn a_peer_that_reads_slowly_while_flow_control_pauses_reading_is_never_cut() {
    let opts = TcpOptions {
        high_water: 4000,
        low_water: 1000,
        output_stall: Duration::from_secs(10),
        ..TcpOptions::default()
    };
    let mut h = Harness::with_options(Echoes, &opts);
    h.set_peer_window(Some(0));
    h.feed(&[7u8; 5000]);
    assert!(h.is_reading_paused());
    for _ in 0..40 {
        h.advance(Duration::from_secs(9));
        h.peer_reads(100);
    }
    assert_eq!(h.lost(), None, "a slow reader makes progress");
    assert!(!h.is_reading_paused(), "down to the low mark: reading resumed");
    h.advance(Duration::from_secs(60));
    assert_eq!(h.lost(), None, "nothing paused, nothing queued above the limit: no stall watch");
}
