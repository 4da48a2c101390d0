//! Peer-controlled lengths (no overflow, no allocation up front) and codecs
//! that break their contract (the framer closes rather than loop).

use super::*;

// ----- peer-controlled lengths: no overflow, no allocation up front -----------

/// Keeps the connection after a too-long frame, noting it as `(n)`.
struct KeepOpen;

impl<C: Decoder> FrameHandler<C> for KeepOpen {
    fn frame_received(&mut self, cx: &mut Context<'_>, _: &mut Framer<C>, frame: &[u8]) {
        cx.write_all(&[b"[", frame, b"]"]);
    }
    fn frame_too_long(&mut self, cx: &mut Context<'_>, _: &mut Framer<C>, announced: u64) {
        cx.write(format!("({announced})").as_bytes());
    }
}

#[test]
fn a_u64_header_of_all_ones_with_no_maximum_is_too_long_not_a_panic() {
    let mut h = Harness::new(Framed::new(LengthPrefixed::u64().max_length(u64::MAX), Recorder));
    h.feed(&[0xff; 8]);
    assert_eq!(h.lost(), Some(Reason::Protocol("frame too long".into())));
    assert!(h.written().is_empty());

    // The same length when the handler keeps the connection: what follows
    // is skipped as part of that frame.
    let mut h = Harness::new(Framed::new(LengthPrefixed::u64().max_length(u64::MAX), KeepOpen));
    h.feed(&[0xff; 8]);
    h.feed(b"\0\0\0\0\0\0\0\x01x");
    assert_eq!(h.written(), format!("({})", u64::MAX).as_bytes());
    assert_eq!(h.lost(), None);
}

#[test]
fn a_length_whose_end_overflows_usize_is_too_long() {
    // Fits in a usize, but header + length does not.
    let len = usize::MAX as u64 - 3;
    let mut h = Harness::new(Framed::new(LengthPrefixed::u64().max_length(u64::MAX), Recorder));
    h.feed(&len.to_be_bytes());
    assert_eq!(h.lost(), Some(Reason::Protocol("frame too long".into())));
}

#[test]
fn a_huge_acceptable_length_is_buffered_as_it_comes_not_allocated() {
    // 1 TiB announced and allowed: allocating it up front would abort the
    // test process; only the bytes that arrive are kept.
    let mut h = Harness::new(Framed::new(LengthPrefixed::u64().max_length(u64::MAX), Recorder));
    h.feed(&(1u64 << 40).to_be_bytes());
    h.feed(b"abc");
    assert_eq!(h.lost(), None);
    assert!(h.written().is_empty());

    let mut h = Harness::new(Framed::new(Netstrings::new().max_length(u64::MAX), Recorder));
    h.feed(b"1099511627776:abc");
    assert_eq!(h.lost(), None);
    assert!(h.written().is_empty());
}

#[test]
fn netstring_lengths_past_u64_are_too_long_not_a_panic() {
    for input in [
        &b"18446744073709551615:"[..],     // u64::MAX: the end overflows
        b"18446744073709551616:",          // one more: the digits overflow
        b"99999999999999999999999999999:", // far more
    ] {
        let t =
            assert_chunking_invariant(|| Framed::new(Netstrings::new().max_length(u64::MAX), Recorder), input, false);
        assert_eq!(t.events, vec![crate::testing::Event::Lost(Reason::Protocol("frame too long".into()))], "{input:?}");
    }
    // Digits without end are refused once they overflow (twenty ones fit
    // in a u64, twenty-one do not), not buffered
    // (and rescanned) forever.
    let mut h = Harness::new(Framed::new(Netstrings::new().max_length(u64::MAX), Recorder));
    for _ in 0..20 {
        h.feed(b"1");
    }
    assert_eq!(h.lost(), None);
    h.feed(b"1");
    assert_eq!(h.lost(), Some(Reason::Protocol("frame too long".into())));
}

#[test]
fn lines_with_no_maximum_do_not_overflow() {
    let t = assert_chunking_invariant(lines(Lines::crlf().max_length(usize::MAX)), b"one\r\ntwo\r\nthr", false);
    assert_eq!(t.written, b"[one][two]");
    let t = assert_chunking_invariant(lines(Lines::lf().max_length(usize::MAX)), b"one\r\ntwo\nthr\r", false);
    assert_eq!(t.written, b"[one][two]");
}

// ----- a codec that breaks its contract cannot make the framer loop -----------

/// Answers `answer` to its first `budget` calls, then `Incomplete`, so
/// that a framer that loops on it still ends (and the test fails on the
/// count instead of hanging).
pub(super) struct Stuck {
    pub(super) answer: Decoded,
    pub(super) calls: std::rc::Rc<std::cell::Cell<usize>>,
}

const BUDGET: usize = 1000;

/// Decode only: a handler of a [`Decoder`] without an [`Encoder`].
impl Decoder for Stuck {
    type Meta = ();
    fn decode(&mut self, _: &[u8]) -> Decoded {
        self.calls.set(self.calls.get() + 1);
        if self.calls.get() > BUDGET {
            return Decoded::Incomplete;
        }
        self.answer
    }
    fn reset(&mut self) {}
}

#[test]
fn a_codec_that_makes_no_progress_closes_the_connection() {
    for (answer, why) in [
        (Decoded::Frame { start: 0, end: 0, consumed: 0, meta: () }, "codec made no progress"),
        (Decoded::Skip(0), "codec made no progress"),
        (Decoded::TooLong(7), "codec made no progress"),
        (Decoded::Frame { start: 0, end: 10, consumed: 10, meta: () }, "codec returned a frame outside its input"),
        (Decoded::Frame { start: 2, end: 1, consumed: 3, meta: () }, "codec returned a frame outside its input"),
        (Decoded::Frame { start: 0, end: 3, consumed: 2, meta: () }, "codec returned a frame outside its input"),
    ] {
        let calls = std::rc::Rc::new(std::cell::Cell::new(0));
        // KeepOpen keeps the connection after a too-long frame, so only the
        // framer's own check can stop a TooLong loop.
        let mut h = Harness::new(Framed::new(Stuck { answer, calls: calls.clone() }, KeepOpen));
        h.feed(b"abcde");
        assert_eq!(h.lost(), Some(Reason::Protocol(why.into())), "{answer:?}");
        assert!(calls.get() <= 2, "{answer:?}: decode called {} times", calls.get());
        // A frame is never delivered from a broken answer; a first TooLong
        // is a legitimate answer and reaches the handler once.
        let expected: &[u8] = if matches!(answer, Decoded::TooLong(_)) { b"(7)" } else { b"" };
        assert_eq!(h.written(), expected, "{answer:?}");
    }
}

#[test]
fn a_too_long_then_a_skip_is_progress() {
    // The legitimate sequence: TooLong, then skipping, more than once.
    let t = assert_chunking_invariant(
        || Framed::new(LengthPrefixed::u8().max_length(2), KeepOpen),
        b"\x03abc\x03def\x01g\x05hijkl\x02mn",
        false,
    );
    assert_eq!(t.written, b"(3)(3)[g](5)[mn]");
    assert!(t.events.is_empty());
}
