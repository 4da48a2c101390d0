//! Framed over the in-memory harness with flow control on (the default):
//! a pause, the reactor's or the handler's, stops delivery at the next
//! frame boundary, and the frames held back come first, in order, once
//! reading resumes.

use std::time::Duration;

use reel::framing::{FrameHandler, Framed, Framer, Lines};
use reel::testing::{assert_chunking_invariant, Harness};
use reel::{Context, TimerId};

const REPLY: usize = 10 * 1024;
const HIGH_WATER: usize = 64 * 1024;

/// Answers each line with a 10 KiB reply: the line, then dots, then `\n`.
struct BigReplies;

impl FrameHandler<Lines> for BigReplies {
    fn frame_received(&mut self, cx: &mut Context<'_>, _: &mut Framer<Lines>, line: &[u8]) {
        let mut reply = vec![b'.'; REPLY];
        reply[..line.len()].copy_from_slice(line);
        reply[REPLY - 1] = b'\n';
        cx.write(&reply);
    }
}

fn numbered_lines(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| format!("line {i:03}\n").into_bytes()).collect()
}

#[test]
fn flow_control_stops_replies_at_the_high_mark_and_all_arrive_later() {
    let mut h = Harness::new(Framed::new(Lines::lf(), BigReplies));
    h.set_peer_window(Some(0));
    h.feed(&numbered_lines(100));

    assert!(h.is_reading_paused());
    assert!(h.written().is_empty());
    let queued = h.queued();
    assert!(queued > HIGH_WATER, "paused only above the high mark ({queued})");
    assert!(queued <= HIGH_WATER + REPLY, "no reply after the pause: {queued} queued, not 1 MB");
    assert_eq!(queued % REPLY, 0);

    h.set_peer_window(None);
    let written = h.take_written();
    assert_eq!(written.len(), 100 * REPLY);
    for (i, reply) in written.chunks(REPLY).enumerate() {
        assert_eq!(&reply[..8], format!("line {i:03}").as_bytes(), "reply {i} in order, once");
    }
    assert!(!h.is_reading_paused());
    assert_eq!(h.queued(), 0);
    assert_eq!(h.lost(), None);
}

#[test]
fn a_slow_peer_gets_every_reply_once_in_order() {
    let mut h = Harness::new(Framed::new(Lines::lf(), BigReplies));
    h.set_peer_window(Some(0));
    h.feed(&numbered_lines(100));
    // The peer reads in small steps; flow control pauses and resumes many
    // times on the way.
    let mut steps = 0;
    while h.written().len() < 100 * REPLY {
        h.peer_reads(7 * 1024);
        steps += 1;
        assert!(steps < 1000, "no progress");
        assert!(h.queued() <= HIGH_WATER + REPLY);
    }
    let written = h.take_written();
    assert_eq!(written.len(), 100 * REPLY);
    for (i, reply) in written.chunks(REPLY).enumerate() {
        assert_eq!(&reply[..8], format!("line {i:03}").as_bytes());
    }
}

/// Echoes lines as `[line]`; pauses reading on `wait`, and resumes from a
/// timer one second later when `timed`.
struct Waiter {
    timed: bool,
}

impl FrameHandler<Lines> for Waiter {
    fn frame_received(&mut self, cx: &mut Context<'_>, _: &mut Framer<Lines>, line: &[u8]) {
        cx.write(b"[");
        cx.write(line);
        cx.write(b"]");
        if line == b"wait" {
            cx.pause_reading();
            if self.timed {
                cx.set_timer(Duration::from_secs(1));
            }
        }
    }

    fn timer_fired(&mut self, cx: &mut Context<'_>, _: &mut Framer<Lines>, _: TimerId) {
        cx.resume_reading();
    }
}

#[test]
fn lines_after_a_pause_wait_for_the_resume_and_come_before_newer_ones() {
    let mut h = Harness::new(Framed::new(Lines::lf(), Waiter { timed: false }));
    h.feed(b"a\nwait\nb\nwait\nc\n");
    assert_eq!(h.take_written(), b"[a][wait]");
    assert!(h.is_reading_paused());

    h.feed(b"d\n");
    assert!(h.written().is_empty());
    assert_eq!(h.unread(), 2, "fed while paused: not read");

    h.with_context(|cx| cx.resume_reading());
    assert_eq!(h.take_written(), b"[b][wait]", "held-back lines first, pausing again");
    assert!(h.is_reading_paused());

    h.with_context(|cx| cx.resume_reading());
    assert_eq!(h.take_written(), b"[c][d]", "then the rest, then what was fed later");
    assert!(!h.is_reading_paused());
    assert_eq!(h.unread(), 0);
}

#[test]
fn a_timer_resumes_and_the_held_back_lines_follow_in_order() {
    let mut h = Harness::new(Framed::new(Lines::lf(), Waiter { timed: true }));
    h.feed(b"a\nwait\nb\nc");
    h.feed(b"\nd\n");
    assert_eq!(h.take_written(), b"[a][wait]");
    h.advance(Duration::from_millis(999));
    assert!(h.written().is_empty());
    h.advance(Duration::from_millis(1));
    assert_eq!(h.take_written(), b"[b][c][d]");
}

#[test]
fn timer_resumes_at_every_split() {
    // assert_chunking_invariant feeds nothing more once paused, so the
    // timer is driven here: every split point, the clock moved whenever
    // the protocol is paused.
    let input = b"a\nwait\nb\nwait\nc\nd\npartial";
    let run = |chunks: &[&[u8]]| {
        let mut h = Harness::new(Framed::new(Lines::lf(), Waiter { timed: true }));
        for chunk in chunks {
            h.feed(chunk);
            for _ in 0..10 {
                if !h.is_reading_paused() {
                    break;
                }
                h.advance(Duration::from_secs(1));
            }
        }
        assert!(!h.is_reading_paused());
        h.transcript()
    };
    let whole = run(&[&input[..]]);
    assert_eq!(whole.written, b"[a][wait][b][wait][c][d]");
    for split in 1..input.len() {
        let (x, y) = input.split_at(split);
        assert_eq!(run(&[x, y]), whole, "split at {split}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(&bytes), whole, "one byte at a time");
}

/// Answers `wait` with more than the high water mark: flow control
/// pauses reading during that write (noted as `(paused)`), and resumes it
/// once the peer took the reply. With a peer that reads everything that is
/// deterministic: the drain, and the resume, come in the same turn, before
/// anything new is read. (A pause of the handler's own that a timer lifts
/// is checked at every split above: `assert_chunking_invariant` moves no
/// clock.)
struct BigAnswerToWait;

impl FrameHandler<Lines> for BigAnswerToWait {
    fn frame_received(&mut self, cx: &mut Context<'_>, _: &mut Framer<Lines>, line: &[u8]) {
        if cx.is_reading_paused() {
            cx.write(b"(delivered while paused!)");
        }
        cx.write(b"[");
        cx.write(line);
        cx.write(b"]");
        if line == b"wait" {
            cx.write(&vec![b'.'; HIGH_WATER + 1]);
            if cx.is_reading_paused() {
                cx.write(b"(paused)");
            }
        }
    }
}

#[test]
fn a_flow_control_pause_and_its_resume_at_every_split() {
    let t = assert_chunking_invariant(
        || Framed::new(Lines::lf(), BigAnswerToWait),
        b"a\nwait\nb\nc\nwait\nd\nlast\npartial",
        true,
    );
    let shown = |w: &[u8]| String::from_utf8_lossy(w).replace(&".".repeat(HIGH_WATER + 1), "<dots>");
    assert_eq!(shown(&t.written), "[a][wait]<dots>(paused)[b][c][wait]<dots>(paused)[d][last]");
}

/// Found by a clean-clone CI run: `IdleTimeout` did not forward
/// `reading_resumed`, so frames held back behind a pause waited for the
/// peer's next bytes (for ever, if it sent none).
#[test]
fn a_wrapped_framer_delivers_its_held_frames_on_resume_without_new_input() {
    let framed = Framed::new(Lines::lf(), BigReplies);
    let mut h = Harness::new(reel::policies::IdleTimeout::new(framed, Duration::from_secs(60)));
    h.set_peer_window(Some(0));
    h.feed(&numbered_lines(100));
    assert!(h.is_reading_paused());
    // The peer reads everything and sends nothing more.
    h.set_peer_window(None);
    assert_eq!(h.written().len(), 100 * REPLY);
    assert_eq!(h.lost(), None);
}
