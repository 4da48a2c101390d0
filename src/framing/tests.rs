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

// ----- what mutation testing showed unchecked ----------------------------------

#[test]
fn frame_errors_say_what_went_wrong() {
    assert_eq!(FrameError::TooLong { len: 9, max: 8 }.to_string(), "frame of 9 bytes is longer than the maximum of 8");
    assert_eq!(FrameError::ContainsDelimiter.to_string(), "line contains the delimiter");
}

/// Notes every callback it gets, in order.
struct Log(std::rc::Rc<std::cell::RefCell<Vec<String>>>);

impl Log {
    fn note(&self, what: String) {
        self.0.borrow_mut().push(what);
    }
}

impl FrameHandler<Lines> for Log {
    fn frame_received(&mut self, _: &mut Context<'_>, framer: &mut Framer<Lines>, frame: &[u8]) {
        self.note(format!("frame {} raw={}", String::from_utf8_lossy(frame), framer.is_raw()));
        if frame == b"raw" {
            framer.set_raw_mode();
            self.note(format!("raw={}", framer.is_raw()));
        }
    }
    fn raw_data_received(&mut self, _: &mut Context<'_>, framer: &mut Framer<Lines>, data: &[u8]) -> usize {
        self.note(format!("raw {} raw={}", String::from_utf8_lossy(data), framer.is_raw()));
        framer.set_frame_mode();
        self.note(format!("raw={}", framer.is_raw()));
        data.len()
    }
    fn connection_made(&mut self, _: &mut Context<'_>, _: &mut Framer<Lines>) {
        self.note("made".into());
    }
    fn eof_received(&mut self, _: &mut Context<'_>, _: &mut Framer<Lines>, pending: &[u8]) {
        self.note(format!("eof {}", String::from_utf8_lossy(pending)));
    }
    fn connection_lost(&mut self, _: &mut Context<'_>, reason: Reason) {
        self.note(format!("lost {reason:?}"));
    }
    fn connection_failed(&mut self, _: &mut Context<'_>, reason: Reason) {
        self.note(format!("failed {reason:?}"));
    }
    fn pause_writing(&mut self, _: &mut Context<'_>) {
        self.note("pause_writing".into());
    }
    fn resume_writing(&mut self, _: &mut Context<'_>) {
        self.note("resume_writing".into());
    }
    fn reading_resumed(&mut self, _: &mut Context<'_>, _: &mut Framer<Lines>) {
        self.note("reading_resumed".into());
    }
    fn timer_fired(&mut self, _: &mut Context<'_>, _: &mut Framer<Lines>, _: crate::TimerId) {
        self.note("timer".into());
    }
    fn stop_requested(&mut self, _: &mut Context<'_>, _: &mut Framer<Lines>) {
        self.note("stop_requested".into());
    }
}

#[test]
fn every_protocol_callback_reaches_the_handler() {
    use crate::Protocol;
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut h = Harness::new(Idle);
    let mut f = Framed::new(Lines::lf(), Log(log.clone()));
    h.with_context(|cx| {
        f.connection_made(cx);
        f.data_received(cx, b"a\nraw\nxy");
        f.data_received(cx, b"b\npart");
        f.pause_writing(cx);
        f.resume_writing(cx);
        f.reading_resumed(cx);
        let timer = cx.set_timer(std::time::Duration::from_secs(1));
        f.timer_fired(cx, timer);
        f.stop_requested(cx);
        f.connection_failed(cx, Reason::Refused);
    });
    assert_eq!(f.buffered(), 4);
    h.with_context(|cx| f.connection_lost(cx, Reason::Closed));
    assert_eq!(f.buffered(), 0, "a lost connection holds no framing buffer");
    assert_eq!(
        *log.borrow(),
        [
            "made",
            "frame a raw=false",
            "frame raw raw=false",
            "raw=true",
            "raw xy raw=true",
            "raw=false",
            "frame b raw=false",
            "pause_writing",
            "resume_writing",
            "reading_resumed",
            "timer",
            "stop_requested",
            "failed Refused",
            "lost Closed",
        ]
    );
}

#[test]
fn the_default_handler_closes_on_eof_and_on_a_stop_request() {
    let t = assert_chunking_invariant(lines(Lines::lf()), b"a\npart", true);
    assert_eq!(t.written, b"[a]");
    assert_eq!(t.events, vec![crate::testing::Event::Lost(Reason::PeerClosed)]);

    let mut h = Harness::new(Framed::new(Lines::lf(), Recorder));
    h.feed(b"a\n");
    h.stop();
    assert_eq!(h.lost(), Some(Reason::Closed), "closed at once, not after the grace period");
    assert!(h.is_stopped());
}

/// Writes each raw delivery as `<data>`; the frame `raw` switches to raw
/// mode, and raw mode lasts one delivery.
struct RawOnce;

impl<C: Codec> FrameHandler<C> for RawOnce {
    fn frame_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, frame: &[u8]) {
        cx.write(b"[");
        cx.write(frame);
        cx.write(b"]");
        if frame == b"raw" {
            framer.set_raw_mode();
        }
    }
    fn raw_data_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, data: &[u8]) -> usize {
        cx.write(b"<");
        cx.write(data);
        cx.write(b">");
        framer.set_frame_mode();
        data.len()
    }
}

#[test]
fn raw_mode_at_the_end_of_the_input_gets_no_empty_delivery() {
    let mut h = Harness::new(Framed::new(Lines::lf(), RawOnce));
    h.feed(b"a\nraw\n");
    assert_eq!(h.take_written(), b"[a][raw]", "no raw delivery without bytes");
    h.feed(b"xyz");
    h.feed(b"b\n");
    assert_eq!(h.take_written(), b"<xyz>[b]");
}

/// On a too-long frame, switches to raw mode; raw mode takes the bytes
/// through a `!` and switches back to frame mode.
struct RawAfterTooLong;

impl<C: Codec> FrameHandler<C> for RawAfterTooLong {
    fn frame_received(&mut self, cx: &mut Context<'_>, _: &mut Framer<C>, frame: &[u8]) {
        cx.write(b"[");
        cx.write(frame);
        cx.write(b"]");
    }
    fn frame_too_long(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, _: u64) {
        cx.write(b"(too long)");
        framer.set_raw_mode();
    }
    fn raw_data_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, data: &[u8]) -> usize {
        let take = data.iter().position(|&b| b == b'!').map_or(data.len(), |p| p + 1);
        cx.write(&data[..take]);
        if data[..take].ends_with(b"!") {
            framer.set_frame_mode();
        }
        take
    }
}

#[test]
fn frame_mode_after_a_too_long_frame_forgets_the_skipping() {
    // The over-long frame is handed over raw instead of skipped; back in
    // frame mode the codec starts afresh, and a second over-long frame is
    // reported again (raw mode used up input: that is progress).
    let mut input = vec![b'q'; 20];
    input.extend_from_slice(b"!");
    input.extend(std::iter::repeat_n(b'r', 20));
    input.extend_from_slice(b"!ok\n");
    for codec in [Lines::lf().max_length(10), Lines::crlf().max_length(10)] {
        let input =
            if codec.delimiter() == b"\n" { input.clone() } else { [&input[..input.len() - 1], b"\r\n"].concat() };
        let t = assert_chunking_invariant(move || Framed::new(codec.clone(), RawAfterTooLong), &input, false);
        let mut expected = b"(too long)".to_vec();
        expected.extend_from_slice(&input[..21]);
        expected.extend_from_slice(b"(too long)");
        expected.extend_from_slice(&input[21..42]);
        expected.extend_from_slice(b"[ok]");
        assert_eq!(t.written, expected);
        assert!(t.events.is_empty());
    }

    let t = assert_chunking_invariant(
        || Framed::new(LengthPrefixed::u8().max_length(2), RawAfterTooLong),
        b"\x05abc!\x07xy!\x01g",
        false,
    );
    assert_eq!(t.written, b"(too long)\x05abc!(too long)\x07xy![g]");
    assert!(t.events.is_empty());
}

/// On a too-long frame, switches to raw mode, where it takes nothing and
/// switches straight back.
struct Bouncer;

impl<C: Codec> FrameHandler<C> for Bouncer {
    fn frame_received(&mut self, _: &mut Context<'_>, _: &mut Framer<C>, _: &[u8]) {}
    fn frame_too_long(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, _: u64) {
        cx.write(b"(too long)");
        framer.set_raw_mode();
    }
    fn raw_data_received(&mut self, _: &mut Context<'_>, framer: &mut Framer<C>, _: &[u8]) -> usize {
        framer.set_frame_mode();
        0
    }
}

#[test]
fn a_mode_switch_that_takes_nothing_is_no_progress_after_a_too_long_frame() {
    let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    let mut h = Harness::new(Framed::new(Stuck { answer: Decoded::TooLong(7), calls: calls.clone() }, Bouncer));
    h.feed(b"abcde");
    assert_eq!(h.lost(), Some(Reason::Protocol("codec made no progress".into())));
    assert_eq!(calls.get(), 2);
    assert_eq!(h.written(), b"(too long)");
}

#[test]
fn only_crlf_ends_a_crlf_line_and_a_cr_before_it_is_kept() {
    let t = assert_chunking_invariant(lines(Lines::crlf()), b"a\r\r\n\r\nb\nc\r\n", false);
    assert_eq!(t.written, b"[a\r][][b\nc]");
    let t = assert_chunking_invariant(lines(Lines::delimited(&b"<E>"[..])), b"x\r<E><E>", false);
    assert_eq!(t.written, b"[x\r][]");
    let t = assert_chunking_invariant(lines(Lines::lf()), b"\n\r\n\n", false);
    assert_eq!(t.written, b"[][][]");
}

#[test]
fn the_default_maximum_line_is_16_kib() {
    assert_eq!(DEFAULT_MAX_LINE, 16 * 1024);
    assert_eq!(Lines::crlf().max(), DEFAULT_MAX_LINE);
    assert_eq!(Lines::lf().max_length(7).max(), 7);
    let mut line = vec![b'x'; DEFAULT_MAX_LINE];
    line.push(b'\n');
    let mut h = Harness::new(Framed::new(Lines::lf(), Recorder));
    h.feed(&line);
    assert_eq!(h.take_written().len(), DEFAULT_MAX_LINE + 2);
    line.insert(0, b'x');
    h.feed(&line);
    assert_eq!(h.lost(), Some(Reason::Protocol("line too long".into())));
    assert!(h.written().is_empty());
}

#[test]
fn skipping_an_over_long_line_keeps_only_what_may_begin_the_delimiter() {
    use crate::Protocol;
    for (codec, delimiter) in [
        (Lines::lf().max_length(10), &b"\n"[..]),
        (Lines::crlf().max_length(10), b"\r\n"),
        (Lines::delimited(&b"<E>"[..]).max_length(10), b"<E>"),
    ] {
        let keep = delimiter.len() - 1;
        let mut h = Harness::new(Idle);
        let mut f = Framed::new(codec, Forgiving);
        for _ in 0..5 {
            h.with_context(|cx| f.data_received(cx, &[b'q'; 50]));
            assert_eq!(f.buffered(), keep, "{delimiter:?}");
        }
        h.with_context(|cx| {
            f.data_received(cx, delimiter);
            f.data_received(cx, b"ok");
            f.data_received(cx, delimiter);
        });
        assert_eq!(h.written(), b"(too long)[ok]", "{delimiter:?}");
        assert_eq!(f.buffered(), 0);
    }
}

#[test]
fn length_prefix_widths_and_maxima() {
    assert_eq!(DEFAULT_MAX_FRAME, 8 * 1024 * 1024);
    for (codec, width, prefix_max) in [
        (LengthPrefixed::u8(), 1, 0xff),
        (LengthPrefixed::u16(), 2, 0xffff),
        (LengthPrefixed::u32(), 4, 0xffff_ffff),
        (LengthPrefixed::u64(), 8, u64::MAX),
    ] {
        assert_eq!(codec.width(), width);
        assert_eq!(codec.max(), DEFAULT_MAX_FRAME.min(prefix_max));
        assert_eq!(codec.max_length(u64::MAX).max(), prefix_max, "width {width}");
    }
    // The default maximum, from the header alone.
    let mut h = Harness::new(Framed::new(LengthPrefixed::u32(), Recorder));
    h.feed(&(8u32 << 20).to_be_bytes());
    assert_eq!(h.lost(), None);
    let mut h = Harness::new(Framed::new(LengthPrefixed::u32(), Recorder));
    h.feed(&((8u32 << 20) + 1).to_be_bytes());
    assert_eq!(h.lost(), Some(Reason::Protocol("frame too long".into())));
}

#[test]
fn an_empty_frame_is_delivered_as_soon_as_its_header_arrives() {
    for width in [1, 2, 4, 8] {
        let mut h = Harness::new(Framed::new(LengthPrefixed::new(width), Recorder));
        h.feed(&vec![0; width]);
        assert_eq!(h.take_written(), b"[]", "width {width}");
    }
    let mut h = Harness::new(Framed::new(Netstrings::new(), Recorder));
    h.feed(b"0:,");
    assert_eq!(h.take_written(), b"[]");
}

#[test]
fn the_default_netstring_maximum_is_8_mib() {
    assert_eq!(Netstrings::new().max(), DEFAULT_MAX_FRAME);
    assert_eq!(Netstrings::default().max_length(7).max(), 7);
    let mut h = Harness::new(Framed::new(Netstrings::new(), Recorder));
    h.feed(b"8388608:");
    assert_eq!(h.lost(), None);
    let mut h = Harness::new(Framed::new(Netstrings::new(), Recorder));
    h.feed(b"8388609:");
    assert_eq!(h.lost(), Some(Reason::Protocol("frame too long".into())));
}
