//! The split codec traits: a decode-only codec with metadata behind
//! `Framed`, and frames encoded for other connections (`Framer::send_to`,
//! `Encoder::encode_to`) in a whole server in memory.

use std::cell::RefCell;
use std::rc::Rc;

use reel::framing::{
    Decoded, Decoder, Encoder, FrameError, FrameHandler, Framed, Framer, LengthPrefixed, Lines, Netstrings,
};
use reel::testing::{assert_chunking_invariant, ServerHarness};
use reel::{ConnId, Context, Reason};

/// `<tag><len digit><payload>`: a decode-only codec whose metadata is the
/// tag byte (no encoder at all).
#[derive(Default)]
struct Tagged;

impl Decoder for Tagged {
    type Meta = u8;
    fn decode(&mut self, input: &[u8]) -> Decoded<u8> {
        let [tag, len, ..] = *input else { return Decoded::Incomplete };
        if !len.is_ascii_digit() {
            return Decoded::Malformed("length is not a digit");
        }
        let end = 2 + usize::from(len - b'0');
        if input.len() < end {
            return Decoded::Incomplete;
        }
        Decoded::Frame { start: 2, end, consumed: end, meta: tag }
    }
    fn reset(&mut self) {}
}

/// Writes `tag:payload;` for each frame, the tag from the metadata.
struct ShowTags;

impl FrameHandler<Tagged> for ShowTags {
    fn frame_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<Tagged>, frame: &[u8]) {
        let tag = *framer.meta().expect("a frame has metadata");
        cx.write(&[tag, b':']);
        cx.write(frame);
        cx.write(b";");
    }
}

#[test]
fn a_decode_only_codec_hands_its_metadata_with_each_frame_at_every_segmentation() {
    let t = assert_chunking_invariant(|| Framed::new(Tagged, ShowTags), b"a3xyzb0c1!", false);
    assert_eq!(t.written, b"a:xyz;b:;c:!;");
}

/// Relays each frame to every other member with `Framer::send_to`;
/// records what `send_to` answered.
struct Relay<C> {
    members: Rc<RefCell<Vec<ConnId>>>,
    answers: Rc<RefCell<Vec<Result<bool, FrameError>>>>,
    codec: std::marker::PhantomData<C>,
}

impl<C: Decoder + Encoder> FrameHandler<C> for Relay<C> {
    fn connection_made(&mut self, cx: &mut Context<'_>, _: &mut Framer<C>) {
        self.members.borrow_mut().push(cx.conn_id());
    }
    fn frame_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, frame: &[u8]) {
        let me = cx.conn_id();
        let members = self.members.borrow().clone();
        for other in members.into_iter().filter(|&m| m != me) {
            let answer = framer.send_to(cx, other, frame);
            self.answers.borrow_mut().push(answer);
        }
    }
}

type Answers = Rc<RefCell<Vec<Result<bool, FrameError>>>>;

fn relay<C: Decoder + Encoder + Clone + 'static>(codec: C) -> (ServerHarness, Answers) {
    let members = Rc::new(RefCell::new(Vec::new()));
    let answers = Rc::new(RefCell::new(Vec::new()));
    let shared = Rc::clone(&answers);
    let server = ServerHarness::new(move |_| {
        let relay =
            Relay { members: Rc::clone(&members), answers: Rc::clone(&shared), codec: std::marker::PhantomData };
        Framed::new(codec.clone(), relay)
    });
    (server, answers)
}

#[test]
fn send_to_frames_a_message_for_another_connection_with_each_codec() {
    let (mut server, _) = relay(Netstrings::new());
    let (a, b) = (server.connect(), server.connect());
    server.feed(a, b"5:hello,");
    assert_eq!(server.take_written(b), b"5:hello,");
    assert!(server.written(a).is_empty());

    let (mut server, _) = relay(LengthPrefixed::u16());
    let (a, b) = (server.connect(), server.connect());
    server.feed(a, b"\x00\x02hi");
    assert_eq!(server.take_written(b), b"\x00\x02hi");
}

#[test]
fn send_to_says_false_for_a_member_closing_or_gone() {
    let (mut server, answers) = relay(Lines::lf().max_length(4));
    let (a, b, c) = (server.connect(), server.connect(), server.connect());
    // `c` is closing: nothing more is written to it.
    server.set_peer_window(c, Some(0));
    server.feed(a, b"one\n");
    assert!(server.close(c));
    server.feed(a, b"two\n");
    assert_eq!(server.take_written(b), b"one\ntwo\n");
    assert_eq!(*answers.borrow(), vec![Ok(true), Ok(true), Ok(true), Ok(false)]);
    assert_eq!(server.lost(c), None, "still flushing");
    // `c` goes; `a` is told of its peer's end and closes (the default).
    server.peer_resets(c);
    server.feed_eof(a);
    assert_eq!((server.lost(a), server.lost(c)), (Some(Reason::PeerClosed), Some(Reason::Reset)));
    answers.borrow_mut().clear();
    server.feed(b, b"four\r\n");
    assert_eq!(*answers.borrow(), vec![Ok(false), Ok(false)]);
}

#[test]
fn encode_to_reports_a_frame_error_and_writes_nothing() {
    let (mut server, _) = relay(Lines::lf());
    let (a, b) = (server.connect(), server.connect());
    let lines = Lines::lf().max_length(3);
    let answer = server.with_reactor(|cx| (lines.encode_to(cx, b, b"abcd"), lines.encode_to(cx, b, b"a\nb")));
    assert_eq!(answer, (Err(FrameError::TooLong { len: 4, max: 3 }), Err(FrameError::ContainsDelimiter)));
    assert_eq!(server.with_reactor(|cx| lines.encode_to(cx, b, b"abc")), Ok(true));
    assert_eq!(server.take_written(b), b"abc\n");
    server.feed_eof(a);
    assert_eq!(server.with_reactor(|cx| lines.encode_to(cx, a, b"abc")), Ok(false));
}
