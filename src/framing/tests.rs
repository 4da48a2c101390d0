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
        cx.write_all(&[b"[", frame, b"]"]);
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
        cx.write_all(&[b"[", frame, b"]"]);
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

mod batch;
mod edges;
mod hardening;
mod pausing;
