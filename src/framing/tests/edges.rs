//! Edges: delimiters straddling chunks, lengths exactly at the maximum,
//! and what mutation testing showed unchecked.

use super::hardening::Stuck;
use super::pausing::Idle;
use super::*;

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
    assert!(!h.is_stopped(), "lingering until the peer's EOF");
    h.feed_eof();
    assert!(h.is_stopped());
}

/// Writes each raw delivery as `<data>`; the frame `raw` switches to raw
/// mode, and raw mode lasts one delivery.
struct RawOnce;

impl<C: Codec> FrameHandler<C> for RawOnce {
    fn frame_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, frame: &[u8]) {
        cx.write_all(&[b"[", frame, b"]"]);
        if frame == b"raw" {
            framer.set_raw_mode();
        }
    }
    fn raw_data_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, data: &[u8]) -> usize {
        cx.write_all(&[b"<", data, b">"]);
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
        cx.write_all(&[b"[", frame, b"]"]);
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

impl<C: Decoder> FrameHandler<C> for Bouncer {
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
