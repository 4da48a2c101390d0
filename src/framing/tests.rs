//! Framer tests, every one run at every segmentation by the harness.

use std::borrow::Cow;

use proptest::prelude::*;

use super::*;
use crate::testing::{assert_chunking_invariant, Harness};
use crate::{Context, Reason};

/// Echoes each frame back as `[frame]`; the frame `raw` switches to raw
/// mode, in which bytes come back as `<bytes>` until a `!`, which switches
/// back to frame mode.
#[derive(Default)]
struct Recorder;

impl<C: Codec> FrameHandler<C> for Recorder {
    fn frame_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, frame: &[u8]) {
        cx.write(b"[");
        cx.write(frame);
        cx.write(b"]");
        if frame == b"raw" {
            cx.write(b"<");
            framer.set_raw_mode();
        }
    }

    fn raw_data_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, data: &[u8]) -> usize {
        let take = data.iter().position(|&b| b == b'!').map_or(data.len(), |p| p + 1);
        cx.write(&data[..take]);
        if data[..take].ends_with(b"!") {
            cx.write(b">");
            framer.set_frame_mode();
        }
        take
    }
}

fn lines(codec: Lines) -> impl Fn() -> Framed<Lines, Recorder> {
    move || Framed::new(codec.clone(), Recorder)
}

#[test]
fn crlf_lines_at_every_split() {
    let t = assert_chunking_invariant(lines(Lines::crlf()), b"one\r\ntwo\r\n\r\nthree\r\npartial", false);
    assert_eq!(t.written, b"[one][two][][three]");
}

#[test]
fn lf_mode_drops_a_preceding_cr_only() {
    let t = assert_chunking_invariant(lines(Lines::lf()), b"a\r\nb\nc\r\r\n\rd\n", false);
    assert_eq!(t.written, b"[a][b][c\r][\rd]");
}

#[test]
fn custom_multibyte_delimiter_split_across_chunks() {
    let t =
        assert_chunking_invariant(lines(Lines::delimited(Cow::Borrowed(&b"<END>"[..]))), b"x<EN<END>y<END><END", false);
    assert_eq!(t.written, b"[x<EN][y]");
}

#[test]
fn line_exactly_at_the_maximum_with_split_delimiter() {
    let max = 300;
    let mut input = vec![b'x'; max];
    input.extend_from_slice(b"\r\nok\r\n");
    let t = assert_chunking_invariant(lines(Lines::crlf().max_length(max)), &input, false);
    let mut expected = b"[".to_vec();
    expected.extend(std::iter::repeat_n(b'x', max));
    expected.extend_from_slice(b"][ok]");
    assert_eq!(t.written, expected);
    assert!(t.events.is_empty());
}

#[test]
fn line_one_over_the_maximum_closes_with_the_reason() {
    for codec in [Lines::crlf().max_length(300), Lines::lf().max_length(300)] {
        let mut input = b"fine\n".to_vec();
        if codec.delimiter() == b"\r\n" {
            input = b"fine\r\n".to_vec();
        }
        input.extend(std::iter::repeat_n(b'y', 301));
        input.extend_from_slice(b"\r\nnever\r\n");
        let t = assert_chunking_invariant(lines(codec), &input, false);
        assert_eq!(t.written, b"[fine]");
        assert_eq!(t.events, vec![crate::testing::Event::Lost(Reason::Protocol("line too long".into()))]);
        assert!(t.write_shutdown);
    }
}

#[test]
fn over_long_line_is_refused_before_its_delimiter_arrives() {
    let mut h = Harness::new(Framed::new(Lines::crlf().max_length(100), Recorder));
    h.feed(&[b'z'; 101]);
    assert_eq!(h.lost(), None, "101 bytes could still end in \\r\\n");
    h.feed(b"z");
    assert_eq!(h.lost(), Some(Reason::Protocol("line too long".into())));
}

/// Answers an over-long line with a farewell but keeps the connection.
struct Forgiving;

impl FrameHandler<Lines> for Forgiving {
    fn frame_received(&mut self, cx: &mut Context<'_>, _: &mut Framer<Lines>, frame: &[u8]) {
        cx.write(b"[");
        cx.write(frame);
        cx.write(b"]");
    }
    fn frame_too_long(&mut self, cx: &mut Context<'_>, _: &mut Framer<Lines>, _: u64) {
        cx.write(b"(too long)");
    }
}

#[test]
fn an_overridden_hook_may_keep_the_connection_and_framing_resumes() {
    let mut input = b"a\n".to_vec();
    input.extend(std::iter::repeat_n(b'q', 50));
    input.extend_from_slice(b"\nb\n");
    input.extend(std::iter::repeat_n(b'r', 20));
    input.extend_from_slice(b"\nc\n");
    let t = assert_chunking_invariant(|| Framed::new(Lines::lf().max_length(10), Forgiving), &input, false);
    assert_eq!(t.written, b"[a](too long)[b](too long)[c]");
}

#[test]
fn raw_mode_switch_inside_one_chunk_is_byte_exact() {
    let t = assert_chunking_invariant(lines(Lines::crlf()), b"hi\r\nraw\r\nbytes\r\n!back\r\nraw\r\nx!", false);
    assert_eq!(t.written, b"[hi][raw]<bytes\r\n!>[back][raw]<x!>");
}

#[test]
fn no_line_is_delivered_after_close() {
    struct CloseOnStop;
    impl FrameHandler<Lines> for CloseOnStop {
        fn frame_received(&mut self, cx: &mut Context<'_>, _: &mut Framer<Lines>, frame: &[u8]) {
            cx.write(frame);
            if frame == b"stop" {
                cx.close();
            }
        }
    }
    let t = assert_chunking_invariant(|| Framed::new(Lines::lf(), CloseOnStop), b"a\nstop\nb\nc\n", false);
    assert_eq!(t.written, b"astop");
    assert_eq!(t.events, vec![crate::testing::Event::Lost(Reason::Closed)]);
}

#[test]
fn send_line_refuses_what_cannot_be_a_line() {
    let codec = Lines::crlf().max_length(5);
    let mut out = Vec::new();
    assert_eq!(codec.encode(b"a\r\nb", &mut |b| out.extend_from_slice(b)), Err(FrameError::ContainsDelimiter));
    assert!(matches!(codec.encode(b"toolong", &mut |b| out.extend_from_slice(b)), Err(FrameError::TooLong { .. })));
    assert!(out.is_empty());
    codec.encode(b"ok", &mut |b| out.extend_from_slice(b)).unwrap();
    assert_eq!(out, b"ok\r\n");
}

#[test]
fn a_megabyte_line_one_byte_at_a_time_is_linear() {
    // Counts decode work: with rescanning this would be ~5 * 10^11 steps.
    let n = 1 << 20;
    let mut h = Harness::new(Framed::new(Lines::lf().max_length(n), Recorder));
    let line = vec![b'm'; n];
    for chunk in line.chunks(1) {
        h.feed(chunk);
    }
    h.feed(b"\n");
    let written = h.take_written();
    assert_eq!(written.len(), n + 2);
}

// ----- length prefixes -----------------------------------------------------

fn frame(width: usize, endian: Endian, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    LengthPrefixed::new(width).endian(endian).encode(payload, &mut |b| out.extend_from_slice(b)).unwrap();
    out
}

#[test]
fn length_prefixes_of_every_width_and_order() {
    for width in [1, 2, 4, 8] {
        for endian in [Endian::Big, Endian::Little] {
            let mut input = frame(width, endian, b"hello");
            input.extend(frame(width, endian, b""));
            input.extend(frame(width, endian, b"raw"));
            input.extend_from_slice(b"xyz!");
            input.extend(frame(width, endian, &[7u8; 200]));
            let t = assert_chunking_invariant(
                move || Framed::new(LengthPrefixed::new(width).endian(endian), Recorder),
                &input,
                false,
            );
            let mut expected = b"[hello][][raw]<xyz!>[".to_vec();
            expected.extend([7u8; 200]);
            expected.push(b']');
            assert_eq!(t.written, expected, "width {width} {endian:?}");
        }
    }
}

#[test]
fn big_endian_header_layout() {
    assert_eq!(frame(4, Endian::Big, b"ab"), b"\0\0\0\x02ab");
    assert_eq!(frame(2, Endian::Little, b"ab"), b"\x02\0ab");
}

#[test]
fn a_4_gib_header_is_refused_at_once_without_allocating() {
    let mut h = Harness::new(Framed::new(LengthPrefixed::u32(), Recorder));
    h.feed(&[0xff, 0xff]);
    assert_eq!(h.lost(), None);
    h.feed(&[0xff, 0xff, 1, 2, 3]);
    assert_eq!(h.lost(), Some(Reason::Protocol("frame too long".into())));
    assert!(h.written().is_empty());
}

#[test]
fn too_long_frames_are_skipped_when_the_hook_keeps_the_connection() {
    struct Skipper;
    impl FrameHandler<LengthPrefixed> for Skipper {
        fn frame_received(&mut self, cx: &mut Context<'_>, _: &mut Framer<LengthPrefixed>, f: &[u8]) {
            cx.write(f);
        }
        fn frame_too_long(&mut self, cx: &mut Context<'_>, _: &mut Framer<LengthPrefixed>, n: u64) {
            cx.write(format!("({n})").as_bytes());
        }
    }
    let mut input = frame(2, Endian::Big, b"ok");
    input.extend(frame(2, Endian::Big, &[b'x'; 40]));
    input.extend(frame(2, Endian::Big, b"next"));
    let t = assert_chunking_invariant(|| Framed::new(LengthPrefixed::u16().max_length(10), Skipper), &input, false);
    assert_eq!(t.written, b"ok(40)next");
}

#[test]
fn sending_a_frame_too_long_for_the_prefix_is_an_error() {
    let codec = LengthPrefixed::u8();
    let mut out = Vec::new();
    let err = codec.encode(&[0; 256], &mut |b| out.extend_from_slice(b)).unwrap_err();
    assert_eq!(err, FrameError::TooLong { len: 256, max: 255 });
    assert!(out.is_empty());
    assert!(codec.encode(&[0; 255], &mut |b| out.extend_from_slice(b)).is_ok());
}

// ----- netstrings ------------------------------------------------------------

#[test]
fn netstrings_at_every_split() {
    let t = assert_chunking_invariant(
        || Framed::new(Netstrings::new(), Recorder),
        b"5:hello,0:,3:raw,ab!12:hello world!,",
        false,
    );
    assert_eq!(t.written, b"[hello][][raw]<ab!>[hello world!]");
}

#[test]
fn malformed_netstrings_close_with_a_clear_reason() {
    for (input, why) in [
        (&b"5:hello;"[..], "netstring does not end with ','"),
        (b"05:hello,", "netstring length has a leading zero"),
        (b":x,", "netstring length is empty"),
        (b"-1:x,", "netstring length is not a decimal number"),
        (b"3 :abc,", "netstring length is not a decimal number"),
    ] {
        let t = assert_chunking_invariant(|| Framed::new(Netstrings::new(), Recorder), input, false);
        assert_eq!(t.events, vec![crate::testing::Event::Lost(Reason::Protocol(why.into()))], "{input:?}");
    }
    let t = assert_chunking_invariant(|| Framed::new(Netstrings::new().max_length(99), Recorder), b"100:", false);
    assert_eq!(t.events, vec![crate::testing::Event::Lost(Reason::Protocol("frame too long".into()))]);
}

// ----- round trips -------------------------------------------------------------

fn round_trip<C: Codec + Clone + 'static>(codec: C, payloads: &[Vec<u8>], chunk: usize) -> Vec<Vec<u8>> {
    struct Collect(std::rc::Rc<std::cell::RefCell<Vec<Vec<u8>>>>);
    impl<C: Codec> FrameHandler<C> for Collect {
        fn frame_received(&mut self, _: &mut Context<'_>, _: &mut Framer<C>, f: &[u8]) {
            self.0.borrow_mut().push(f.to_vec());
        }
    }
    let mut wire = Vec::new();
    for p in payloads {
        codec.encode(p, &mut |b| wire.extend_from_slice(b)).unwrap();
    }
    let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut h = Harness::new(Framed::new(codec, Collect(got.clone())));
    h.feed_chunks(&wire, chunk);
    let v = got.borrow().clone();
    v
}

proptest! {
    #[test]
    fn length_prefixed_round_trip(payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20), chunk in 1usize..500, width in prop::sample::select(vec![2usize, 4, 8])) {
        prop_assert_eq!(round_trip(LengthPrefixed::new(width), &payloads, chunk), payloads);
    }

    #[test]
    fn netstring_round_trip(payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20), chunk in 1usize..500) {
        prop_assert_eq!(round_trip(Netstrings::new(), &payloads, chunk), payloads);
    }

    #[test]
    fn line_round_trip(lines in prop::collection::vec(prop::collection::vec(prop::num::u8::ANY.prop_filter("no newline", |b| *b != b'\n' && *b != b'\r'), 0..200), 0..20), chunk in 1usize..300) {
        prop_assert_eq!(round_trip(Lines::lf(), &lines, chunk), lines.clone());
        prop_assert_eq!(round_trip(Lines::crlf(), &lines, chunk), lines);
    }

    #[test]
    fn arbitrary_input_never_panics(input in prop::collection::vec(any::<u8>(), 0..600), chunk in 1usize..64) {
        let mut h = Harness::new(Framed::new(Netstrings::new().max_length(50), Recorder));
        h.feed_chunks(&input, chunk);
        let mut h = Harness::new(Framed::new(LengthPrefixed::u16().max_length(50), Recorder));
        h.feed_chunks(&input, chunk);
        let mut h = Harness::new(Framed::new(Lines::crlf().max_length(50), Recorder));
        h.feed_chunks(&input, chunk);
    }
}

// ----- peer-controlled lengths: no overflow, no allocation up front -----------

/// Keeps the connection after a too-long frame, noting it as `(n)`.
struct KeepOpen;

impl<C: Codec> FrameHandler<C> for KeepOpen {
    fn frame_received(&mut self, cx: &mut Context<'_>, _: &mut Framer<C>, frame: &[u8]) {
        cx.write(b"[");
        cx.write(frame);
        cx.write(b"]");
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
struct Stuck {
    answer: Decoded,
    calls: std::rc::Rc<std::cell::Cell<usize>>,
}

const BUDGET: usize = 1000;

impl Codec for Stuck {
    fn decode(&mut self, _: &[u8]) -> Decoded {
        self.calls.set(self.calls.get() + 1);
        if self.calls.get() > BUDGET {
            return Decoded::Incomplete;
        }
        self.answer
    }
    fn reset(&mut self) {}
    fn encode(&self, payload: &[u8], write: &mut dyn FnMut(&[u8])) -> Result<(), FrameError> {
        write(payload);
        Ok(())
    }
}

#[test]
fn a_codec_that_makes_no_progress_closes_the_connection() {
    for (answer, why) in [
        (Decoded::Frame { start: 0, end: 0, consumed: 0 }, "codec made no progress"),
        (Decoded::Skip(0), "codec made no progress"),
        (Decoded::TooLong(7), "codec made no progress"),
        (Decoded::Frame { start: 0, end: 10, consumed: 10 }, "codec returned a frame outside its input"),
        (Decoded::Frame { start: 2, end: 1, consumed: 3 }, "codec returned a frame outside its input"),
        (Decoded::Frame { start: 0, end: 3, consumed: 2 }, "codec returned a frame outside its input"),
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

// ----- pausing at frame granularity --------------------------------------------

/// Records frames as `[frame]` and EOF as `(eof pending)`; pauses reading
/// on the frame `wait`.
struct PauseOn;

impl FrameHandler<Lines> for PauseOn {
    fn frame_received(&mut self, cx: &mut Context<'_>, _: &mut Framer<Lines>, frame: &[u8]) {
        cx.write(b"[");
        cx.write(frame);
        cx.write(b"]");
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
struct Idle;

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
        cx.write(b"[");
        cx.write(frame);
        cx.write(b"]");
        if frame == b"raw" {
            framer.set_raw_mode();
        }
    }
    fn raw_data_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<Lines>, data: &[u8]) -> usize {
        let take = data.iter().position(|&b| b == b'|' || b == b'!').map_or(data.len(), |p| p + 1);
        cx.write(b"<");
        cx.write(&data[..take]);
        cx.write(b">");
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
        cx.write(b"[");
        cx.write(frame);
        cx.write(b"]");
        if frame == b"stop" {
            framer.stop_delivery();
            cx.write(b"(stopped)");
        }
        if frame == b"raw" {
            framer.set_raw_mode();
        }
    }
    fn raw_data_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, data: &[u8]) -> usize {
        cx.write(b"<");
        cx.write(data);
        cx.write(b">");
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

// ----- edges: delimiters straddling chunks, lengths exactly at the maximum ----

/// Forgiving, for any delimiter: over-long lines are skipped.
fn forgiving(codec: Lines) -> impl Fn() -> Framed<Lines, Forgiving> {
    move || Framed::new(codec.clone(), Forgiving)
}

#[test]
fn skipping_an_over_long_crlf_line_at_every_split() {
    let mut input = b"a\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'q', 50));
    input.extend_from_slice(b"\r\nb\r\n");
    // Lone CRs inside the skipped line, and one right before the delimiter.
    input.extend(std::iter::repeat_n(b'r', 20));
    input.extend_from_slice(b"\rr\r\r\nc\r\n");
    let t = assert_chunking_invariant(forgiving(Lines::crlf().max_length(10)), &input, false);
    assert_eq!(t.written, b"[a](too long)[b](too long)[c]");
    assert!(t.events.is_empty());
}

#[test]
fn skipping_with_a_chunk_one_byte_shorter_than_the_delimiter() {
    // While skipping, a chunk of dlen - 1 bytes cannot be dropped: it may
    // be the start of the delimiter.
    let mut h = Harness::new(forgiving(Lines::crlf().max_length(10))());
    h.feed(&[b'q'; 12]);
    assert_eq!(h.take_written(), b"(too long)");
    h.feed(b"\r");
    h.feed(b"\nb\r\n");
    assert_eq!(h.take_written(), b"[b]");

    let mut h = Harness::new(forgiving(Lines::delimited(&b"<E>"[..]).max_length(4))());
    h.feed(b"qqqqqqqq");
    assert_eq!(h.take_written(), b"(too long)");
    h.feed(b"q<");
    h.feed(b"E");
    h.feed(b">ok<E>");
    assert_eq!(h.take_written(), b"[ok]");
    assert_eq!(h.lost(), None);
}

#[test]
fn the_delimiter_straddling_a_skipped_chunk_edge() {
    let mut h = Harness::new(forgiving(Lines::crlf().max_length(10))());
    h.feed(&[b'q'; 20]);
    h.feed(b"qq\r");
    h.feed(b"\nnext\r");
    h.feed(b"\n");
    assert_eq!(h.take_written(), b"(too long)[next]");
}

fn received_at(codec: impl Codec + Clone + 'static, wire: &[u8]) -> crate::testing::Transcript {
    assert_chunking_invariant(move || Framed::new(codec.clone(), Recorder), wire, false)
}

#[test]
fn frames_of_exactly_the_maximum_are_received_one_more_is_refused() {
    let x = |n| vec![b'x'; n];
    let bracketed = |n| [&b"["[..], &x(n), b"]"].concat();
    let refused = |reason: &str| vec![crate::testing::Event::Lost(Reason::Protocol(reason.to_owned().into()))];

    for codec in [Lines::crlf().max_length(8), Lines::lf().max_length(8)] {
        for ending in [&b"\r\n"[..], b"\n"] {
            if codec.delimiter() == b"\r\n" && ending == b"\n" {
                continue;
            }
            let t = received_at(codec.clone(), &[&x(8), ending].concat());
            assert_eq!(t.written, bracketed(8));
            assert!(t.events.is_empty());
            let t = received_at(codec.clone(), &[&x(9), ending].concat());
            assert!(t.written.is_empty());
            assert_eq!(t.events, refused("line too long"));
        }
    }

    let codec = LengthPrefixed::u16().max_length(8);
    let t = received_at(codec.clone(), &[&b"\0\x08"[..], &x(8)].concat());
    assert_eq!(t.written, bracketed(8));
    let t = received_at(codec, &[&b"\0\x09"[..], &x(9)].concat());
    assert_eq!((t.written.is_empty(), t.events), (true, refused("frame too long")));

    let codec = Netstrings::new().max_length(8);
    let t = received_at(codec.clone(), &[&b"8:"[..], &x(8), b","].concat());
    assert_eq!(t.written, bracketed(8));
    let t = received_at(codec, &[&b"9:"[..], &x(9), b","].concat());
    assert_eq!((t.written.is_empty(), t.events), (true, refused("frame too long")));
}

/// Sends frames of the given sizes on connection, noting each result.
struct SendSizes(Vec<usize>, std::rc::Rc<std::cell::RefCell<Vec<Result<(), FrameError>>>>);

impl<C: Codec> FrameHandler<C> for SendSizes {
    fn connection_made(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>) {
        for &n in &self.0 {
            let sent = framer.send(cx, &vec![b'x'; n]);
            self.1.borrow_mut().push(sent);
        }
    }
    fn frame_received(&mut self, _: &mut Context<'_>, _: &mut Framer<C>, _: &[u8]) {}
}

fn sent(codec: impl Codec + 'static) -> (Vec<Result<(), FrameError>>, Vec<u8>) {
    let results = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let h = Harness::new(Framed::new(codec, SendSizes(vec![8, 9], results.clone())));
    let r = results.borrow().clone();
    (r, h.written())
}

#[test]
fn frames_of_exactly_the_maximum_are_sent_one_more_is_refused() {
    let x8 = vec![b'x'; 8];
    let too_long = Err(FrameError::TooLong { len: 9, max: 8 });
    for (results, written, wire) in [
        {
            let (r, w) = sent(Lines::crlf().max_length(8));
            (r, w, [&x8[..], b"\r\n"].concat())
        },
        {
            let (r, w) = sent(Lines::lf().max_length(8));
            (r, w, [&x8[..], b"\n"].concat())
        },
        {
            let (r, w) = sent(LengthPrefixed::u16().max_length(8));
            (r, w, [&b"\0\x08"[..], &x8].concat())
        },
        {
            let (r, w) = sent(Netstrings::new().max_length(8));
            (r, w, [&b"8:"[..], &x8, b","].concat())
        },
    ] {
        assert_eq!(results, vec![Ok(()), too_long.clone()]);
        assert_eq!(written, wire, "only the frame at the maximum is written");
    }
}
