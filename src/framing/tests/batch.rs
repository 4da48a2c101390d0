//! Many frames in one read: the adapter's inner loop delivers them without
//! asking the connection's state again after each one, so every change a
//! handler can make in the middle of such a batch is tried here, at every
//! frame of it, with the whole batch handed over in one `data_received`.

use super::pausing::Idle;
use super::*;
use crate::TcpOptions;

/// The batch: six frames and an unfinished one, in one read.
const BATCH: &[u8] = b"f0\nf1\nf2\nf3\nf4\nf5\npart";
const FRAMES: usize = 6;

/// What the handler does on its frame number `at`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    Pause,
    Close,
    Abort,
    Stop,
    Raw,
    /// Writes past the high water mark: flow control pauses reading.
    Flood,
    /// Switches the codec to CRLF lines (so the rest is one unfinished line).
    Recodec,
    /// Writes to the connection through the reactor-wide `write_to`, as a
    /// handler writing to other connections does.
    WriteTo,
}

struct Actor {
    act: Act,
    at: usize,
    seen: usize,
}

impl FrameHandler<Lines> for Actor {
    fn frame_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<Lines>, frame: &[u8]) {
        assert!(!framer.is_raw() && !framer.is_delivery_stopped(), "a frame after the switch");
        cx.write_all(&[b"[", frame, b"]"]);
        let n = self.seen;
        self.seen += 1;
        if n != self.at {
            return;
        }
        match self.act {
            Act::Pause => cx.pause_reading(),
            Act::Close => cx.close(),
            Act::Abort => cx.abort(),
            Act::Stop => framer.stop_delivery(),
            Act::Raw => framer.set_raw_mode(),
            Act::Flood => cx.write(&[b'.'; 100]),
            Act::Recodec => *framer.codec_mut() = Lines::crlf(),
            Act::WriteTo => {
                let me = cx.conn_id();
                assert!(cx.write_to(me, b"(to)"));
            }
        }
    }

    fn raw_data_received(&mut self, cx: &mut Context<'_>, _: &mut Framer<Lines>, data: &[u8]) -> usize {
        cx.write_all(&[b"<", data, b">"]);
        data.len()
    }
}

/// `[f0]`…`[f{n-1}]`.
fn frames(range: std::ops::Range<usize>) -> Vec<u8> {
    range.flat_map(|i| format!("[f{i}]").into_bytes()).collect()
}

/// Hands `BATCH` over in one read to a framer that does `act` on frame
/// `at`; returns the harness, the framer and what was written.
fn run(act: Act, at: usize) -> (Harness, Framed<Lines, Actor>, Vec<u8>) {
    let opts = TcpOptions { low_water: 8, high_water: 64, ..TcpOptions::default() };
    let mut h = Harness::with_options(Idle, &opts);
    let mut f = Framed::new(Lines::lf(), Actor { act, at, seen: 0 });
    h.with_context(|cx| crate::Protocol::data_received(&mut f, cx, BATCH));
    let written = h.take_written();
    (h, f, written)
}

#[test]
fn a_pause_in_the_middle_of_a_batch_holds_back_the_rest() {
    for at in 0..FRAMES {
        let (mut h, mut f, written) = run(Act::Pause, at);
        assert_eq!(written, frames(0..at + 1), "pause at {at}");
        let rest = BATCH.len() - 3 * (at + 1);
        assert_eq!(f.buffered(), rest, "pause at {at}: the rest is kept");
        h.with_context(|cx| {
            cx.resume_reading();
            crate::Protocol::reading_resumed(&mut f, cx);
        });
        assert_eq!(h.take_written(), frames(at + 1..FRAMES), "resumed after a pause at {at}");
        assert_eq!(f.buffered(), 4, "`part` waits for its end");
    }
}

#[test]
fn flow_control_in_the_middle_of_a_batch_holds_back_the_rest() {
    // Through the reactor's read path (flow control pauses the connection
    // whose input is being answered), the peer reading nothing meanwhile.
    for at in 0..FRAMES {
        let opts = TcpOptions { low_water: 8, high_water: 64, ..TcpOptions::default() };
        let mut h = Harness::with_options(Framed::new(Lines::lf(), Actor { act: Act::Flood, at, seen: 0 }), &opts);
        h.set_peer_window(Some(0));
        h.feed(BATCH);
        assert!(h.is_reading_paused(), "over the high mark at {at}: reading paused");
        let mut want = frames(0..at + 1);
        want.extend_from_slice(&[b'.'; 100]);
        assert_eq!(h.queued(), want.len(), "over the high mark at {at}: no frame after it");
        h.set_peer_window(None);
        want.extend_from_slice(&frames(at + 1..FRAMES));
        assert_eq!(h.take_written(), want, "the rest once the peer read");
        assert!(!h.is_reading_paused());
    }
}

#[test]
fn a_close_or_abort_in_the_middle_of_a_batch_ends_delivery() {
    for act in [Act::Close, Act::Abort] {
        for at in 0..FRAMES {
            let (h, f, written) = run(act, at);
            if act == Act::Close {
                assert_eq!(written, frames(0..at + 1), "{act:?} at {at}");
            }
            assert!(h.lost().is_some(), "{act:?} at {at}: the connection ended");
            assert_eq!(f.handler().seen, at + 1, "{act:?} at {at}: no frame after it");
            assert_eq!(f.buffered(), 0, "{act:?} at {at}: nothing kept");
        }
    }
}

#[test]
fn stopping_delivery_in_the_middle_of_a_batch_drops_the_rest() {
    for at in 0..FRAMES {
        let (h, f, written) = run(Act::Stop, at);
        assert_eq!(written, frames(0..at + 1), "stop at {at}");
        assert_eq!(f.buffered(), 0, "stop at {at}: nothing kept");
        assert_eq!(h.lost(), None, "stop at {at}: the connection stays");
    }
}

#[test]
fn raw_mode_in_the_middle_of_a_batch_gets_the_rest_raw() {
    for at in 0..FRAMES {
        let (_, f, written) = run(Act::Raw, at);
        let mut want = frames(0..at + 1);
        want.push(b'<');
        want.extend_from_slice(&BATCH[3 * (at + 1)..]);
        want.push(b'>');
        assert_eq!(written, want, "raw at {at}");
        assert_eq!(f.buffered(), 0);
    }
}

#[test]
fn a_codec_changed_in_the_middle_of_a_batch_decodes_the_rest() {
    for at in 0..FRAMES {
        let (_, f, written) = run(Act::Recodec, at);
        assert_eq!(written, frames(0..at + 1), "CRLF lines from {at} on: no CRLF follows");
        assert_eq!(f.buffered(), BATCH.len() - 3 * (at + 1), "recodec at {at}: the rest is kept");
    }
}

#[test]
fn writing_through_the_reactor_in_the_middle_of_a_batch_changes_nothing() {
    for at in 0..FRAMES {
        let (_, f, written) = run(Act::WriteTo, at);
        let mut want = frames(0..at + 1);
        want.extend_from_slice(b"(to)");
        want.extend_from_slice(&frames(at + 1..FRAMES));
        assert_eq!(written, want, "write_to at {at}");
        assert_eq!(f.buffered(), 4);
    }
}
