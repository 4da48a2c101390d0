//! Pausing at frame granularity, and stopping delivery for good.

use super::*;

// ----- pausing at frame granularity --------------------------------------------

/// Records frames as `[frame]` and EOF as `(eof pending)`; pauses reading
/// on the frame `wait`.
struct PauseOn;

impl FrameHandler<Lines> for PauseOn {
    fn frame_received(&mut self, cx: &mut Context<'_>, _: &mut Framer<Lines>, frame: &[u8]) {
        cx.write_all(&[b"[", frame, b"]"]);
        if frame == b"wait" {
            cx.pause_reading();
        }
    }
    fn eof_received(&mut self, cx: &mut Context<'_>, _: &mut Framer<Lines>, pending: &[u8]) {
        cx.write(b"(eof ");
        cx.write(pending);
        cx.write(b")");
    }
}

/// A protocol that does nothing: the harness's connection, when the test
/// drives its own `Framed` through `Harness::with_context`.
pub(super) struct Idle;

impl crate::Protocol for Idle {
    fn data_received(&mut self, _: &mut Context<'_>, _: &[u8]) {}
}

#[test]
fn bytes_arriving_while_paused_are_buffered_not_delivered() {
    // The reactor does not read while paused, but bytes already in flight
    // may still come; they wait for the resume.
    let mut h = Harness::new(Idle);
    let mut f = Framed::new(Lines::lf(), PauseOn);
    h.with_context(|cx| {
        cx.pause_reading();
        crate::Protocol::data_received(&mut f, cx, b"a\nb\npart");
    });
    assert!(h.written().is_empty());
    assert_eq!(f.buffered(), 8);
    h.with_context(|cx| {
        cx.resume_reading();
        crate::Protocol::reading_resumed(&mut f, cx);
    });
    assert_eq!(h.written(), b"[a][b]");
    assert_eq!(f.buffered(), 4);
    h.with_context(|cx| crate::Protocol::data_received(&mut f, cx, b"\n"));
    assert_eq!(h.written(), b"[a][b][part]");
    assert_eq!(f.buffered(), 0);
}

#[test]
fn eof_while_frames_are_held_back_waits_for_them() {
    let mut h = Harness::new(Idle);
    let mut f = Framed::new(Lines::lf(), PauseOn);
    h.with_context(|cx| {
        crate::Protocol::data_received(&mut f, cx, b"a\nwait\nb\nc\npart");
        crate::Protocol::eof_received(&mut f, cx);
    });
    assert_eq!(h.written(), b"[a][wait]", "no frame nor EOF while paused");
    h.with_context(|cx| {
        cx.resume_reading();
        crate::Protocol::reading_resumed(&mut f, cx);
    });
    assert_eq!(h.written(), b"[a][wait][b][c](eof part)");
}

#[test]
fn eof_when_not_paused_gets_only_the_unfinished_frame() {
    let t = assert_chunking_invariant(|| Framed::new(Lines::lf(), PauseOn), b"a\nb\npart", true);
    assert_eq!(t.written, b"[a][b](eof part)");
}

/// In raw mode takes bytes through a `|`, then pauses reading; `!`
/// switches back to frame mode.
struct RawPauser;

impl FrameHandler<Lines> for RawPauser {
    fn frame_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<Lines>, frame: &[u8]) {
        cx.write_all(&[b"[", frame, b"]"]);
        if frame == b"raw" {
            framer.set_raw_mode();
        }
    }
    fn raw_data_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<Lines>, data: &[u8]) -> usize {
        let take = data.iter().position(|&b| b == b'|' || b == b'!').map_or(data.len(), |p| p + 1);
        cx.write_all(&[b"<", &data[..take], b">"]);
        match data[..take].last() {
            Some(b'|') => cx.pause_reading(),
            Some(b'!') => framer.set_frame_mode(),
            _ => {}
        }
        take
    }
}

#[test]
fn raw_mode_honours_a_pause_and_keeps_what_was_not_taken() {
    let mut h = Harness::new(Framed::new(Lines::lf(), RawPauser));
    h.feed(b"x\nraw\nab|cd|ef!y\n");
    assert_eq!(h.take_written(), b"[x][raw]<ab|>");
    assert!(h.is_reading_paused());
    h.feed(b"z\n");
    assert!(h.written().is_empty(), "fed while paused: waits");
    h.with_context(|cx| cx.resume_reading());
    assert_eq!(h.take_written(), b"<cd|>");
    h.with_context(|cx| cx.resume_reading());
    assert_eq!(h.take_written(), b"<ef!>[y][z]");
    assert!(!h.is_reading_paused());
}

// ----- stopping delivery for good ------------------------------------------------

/// Stops delivery on the frame `stop`; notes EOF with its pending bytes,
/// then closes.
struct Stopper;

impl<C: Codec> FrameHandler<C> for Stopper {
    fn frame_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, frame: &[u8]) {
        assert!(!framer.is_delivery_stopped(), "a frame after stop_delivery");
        cx.write_all(&[b"[", frame, b"]"]);
        if frame == b"stop" {
            framer.stop_delivery();
            cx.write(b"(stopped)");
        }
        if frame == b"raw" {
            framer.set_raw_mode();
        }
    }
    fn raw_data_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, data: &[u8]) -> usize {
        cx.write_all(&[b"<", data, b">"]);
        framer.stop_delivery();
        data.len()
    }
    fn eof_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, pending: &[u8]) {
        cx.write(format!("(eof {} {})", pending.len(), framer.is_delivery_stopped()).as_bytes());
        cx.close();
    }
}

#[test]
fn stop_delivery_drops_the_rest_for_good_and_keeps_the_connection() {
    let t = assert_chunking_invariant(|| Framed::new(Lines::lf(), Stopper), b"a\nstop\nb\nraw\nxyz\npartial", true);
    assert_eq!(t.written, b"[a][stop](stopped)(eof 0 true)");
    assert_eq!(t.events, vec![crate::testing::Event::Lost(Reason::PeerClosed)]);

    // The connection stays open and writable; later input is dropped too.
    let mut h = Harness::new(Framed::new(Netstrings::new(), Stopper));
    h.feed(b"1:a,4:stop,1:b,");
    assert_eq!(h.take_written(), b"[a][stop](stopped)");
    h.feed(b"1:c,garbage that would be malformed");
    assert!(h.written().is_empty());
    assert_eq!(h.lost(), None);
    assert!(!h.is_reading_paused(), "the peer is still read (and dropped)");
}

#[test]
fn stop_delivery_in_raw_mode() {
    let mut h = Harness::new(Framed::new(Lines::lf(), Stopper));
    h.feed(b"raw\nxy");
    h.feed(b"z\nq\n");
    h.feed_eof();
    assert_eq!(h.written(), b"[raw]<xy>(eof 0 true)");
}
