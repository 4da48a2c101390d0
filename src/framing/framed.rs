//! The generic framing adapter: [`Framed`] (buffering, modes, delivery)
//! and [`Framer`], the handler's side of it.
//!
//! The codec traits ([`Decoder`], [`Encoder`], [`Codec`], with [`Decoded`]
//! and [`FrameError`]) are in `framed/codec.rs`, the handler trait
//! ([`FrameHandler`]) in `framed/handler.rs`; all are re-exported here.

use std::borrow::Cow;
use std::fmt;

use crate::context::InputState;
use crate::{ConnId, Context, Protocol, ReactorContext, Reason, TimerId};

mod codec;
mod handler;

pub use self::codec::{Codec, Decoded, Decoder, Encoder, FrameError};
pub use self::handler::FrameHandler;

/// The framer's side of things that a handler may use: send frames, switch
/// between frame mode and raw mode, reach the codec and what it learned
/// about the frame at hand.
pub struct Framer<C: Decoder> {
    codec: C,
    raw: bool,
    /// Delivery stopped for good ([`Framer::stop_delivery`]).
    stopped: bool,
    /// What the decoder said about the frame being delivered.
    meta: Option<C::Meta>,
    /// The [`Framed`] adapter's flags, here because they fit in this
    /// struct's padding: an idle connection's protocol object stays a
    /// size class smaller.
    adapter: AdapterState,
}

impl<C: Decoder + fmt::Debug> fmt::Debug for Framer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Framer")
            .field("codec", &self.codec)
            .field("raw", &self.raw)
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

impl<C: Decoder + Encoder> Framer<C> {
    /// Sends `payload` as one frame on this connection.
    ///
    /// # Errors
    ///
    /// When the codec cannot frame it; nothing is written then.
    pub fn send(&self, cx: &mut Context<'_>, payload: &[u8]) -> Result<(), FrameError> {
        self.codec.encode(payload, &mut |bytes| cx.write(bytes))
    }

    /// Sends `payload` as one frame on another connection `to` (a
    /// broadcast to a room, a relay): see [`Encoder::encode_to`].
    /// `Ok(false)` when `to` is gone or closing.
    ///
    /// # Errors
    ///
    /// When the codec cannot frame it; nothing is written then.
    pub fn send_to(&self, cx: &mut ReactorContext<'_>, to: ConnId, payload: &[u8]) -> Result<bool, FrameError> {
        self.codec.encode_to(cx, to, payload)
    }
}

impl<C: Decoder> Framer<C> {
    /// What the decoder learned about the frame being delivered (in
    /// [`FrameHandler::frame_received`]); elsewhere, about the last frame
    /// decoded. `None` before the first frame.
    pub fn meta(&self) -> Option<&C::Meta> {
        self.meta.as_ref()
    }

    /// Switches to raw mode: further input goes to
    /// [`FrameHandler::raw_data_received`] as it comes, starting with the
    /// rest of the current input.
    pub fn set_raw_mode(&mut self) {
        self.raw = true;
    }

    /// Switches back to frame mode; the rest of the current input is
    /// decoded into frames.
    pub fn set_frame_mode(&mut self) {
        if self.raw {
            self.raw = false;
            self.codec.reset();
        }
    }

    /// Whether raw mode is on.
    pub fn is_raw(&self) -> bool {
        self.raw
    }

    /// Stops delivery for good (Twisted's `stopProducing`): from now on no
    /// frame and no raw data reaches the handler, whatever arrives; input
    /// still buffered or arriving later is discarded. Takes effect at once,
    /// so frames behind the current one in the same read are dropped too.
    ///
    /// The connection stays open: the handler can go on writing, and still
    /// hears `eof_received` (with no pending bytes), timers and
    /// `connection_lost`. The peer is still read (and its bytes dropped),
    /// so it is not pushed back; to stop the peer as well, also call
    /// [`Context::pause_reading`] or [`Context::close`]. There is no undo:
    /// for a pause that ends, use [`Context::pause_reading`].
    pub fn stop_delivery(&mut self) {
        self.stopped = true;
    }

    /// Whether [`stop_delivery`](Self::stop_delivery) was called.
    pub fn is_delivery_stopped(&self) -> bool {
        self.stopped
    }

    /// The codec.
    pub fn codec(&self) -> &C {
        &self.codec
    }

    /// The codec, to change its settings.
    pub fn codec_mut(&mut self) -> &mut C {
        &mut self.codec
    }
}

/// A [`Protocol`] that frames the byte stream with a codec `C` and hands
/// whole frames to a handler `H`.
///
/// Buffering: a frame wholly inside one read is handed over straight from
/// the reactor's read buffer; only an unfinished frame is kept, in a buffer
/// bounded by the codec's maximum, plus, while reading is paused, the rest
/// of the read that was being delivered (at most one read's worth, since
/// nothing more is read while paused). Scanning is linear in the bytes
/// received, however they are chunked.
///
/// A codec that misbehaves (returns a frame, a skip or a second
/// [`Decoded::TooLong`] without using up any input, or a frame outside its
/// input) cannot make the adapter loop or panic: the connection is closed
/// with [`Reason::Protocol`]`("codec made no progress")` or
/// `("codec returned a frame outside its input")`.
#[derive(Debug)]
pub struct Framed<C: Decoder, H> {
    framer: Framer<C>,
    handler: H,
    /// Input not consumed yet: the unfinished frame, and while reading is
    /// paused, the frames held back.
    pending: Vec<u8>,
}

/// The adapter's flags: three bytes that would round the adapter up by a
/// whole word if they stood beside the framer (see [`Framer`]).
#[derive(Debug, Clone, Copy, Default)]
struct AdapterState {
    /// Nothing more is decoded (after malformed input or a codec fault).
    dead: bool,
    /// The codec said [`Decoded::TooLong`] and no input was used up since:
    /// another `TooLong` now would repeat forever.
    too_long_unskipped: bool,
    /// The peer's EOF came while frames were held back by a pause: the
    /// handler hears it once they are delivered.
    eof_owed: bool,
}

/// Why the adapter gave up on a codec.
const NO_PROGRESS: &str = "codec made no progress";
const OUT_OF_BOUNDS: &str = "codec returned a frame outside its input";

impl<C: Decoder, H: FrameHandler<C>> Framed<C, H> {
    /// Frames with `codec`, delivering to `handler`.
    pub fn new(codec: C, handler: H) -> Self {
        Framed {
            framer: Framer { codec, raw: false, stopped: false, meta: None, adapter: AdapterState::default() },
            handler,
            pending: Vec::new(),
        }
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The handler, mutably.
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// Bytes received and not delivered yet: an unfinished frame, and while
    /// reading is paused, the frames held back.
    pub fn buffered(&self) -> usize {
        self.pending.len()
    }

    /// Whether input is discarded rather than decoded.
    fn discarding(&self, cx: &Context<'_>) -> bool {
        self.framer.adapter.dead || self.framer.stopped || cx.is_closing()
    }

    /// The codec broke its contract: close rather than loop or panic.
    #[cold]
    fn codec_fault(&mut self, cx: &mut Context<'_>, why: &'static str) {
        log::warn!("framing: {why}; closing the connection");
        self.framer.adapter.dead = true;
        cx.close_with(Reason::Protocol(Cow::Borrowed(why)));
    }

    /// Decodes and delivers what `input` holds; returns the bytes used (all
    /// of them when the rest is to be discarded). Stops at a frame boundary
    /// when reading is paused, leaving the rest unused.
    ///
    /// Two loops: the outer one asks everything (the adapter's and the
    /// framer's flags, the connection's input state, raw mode); the inner
    /// one delivers frames while none of that can have changed, and after
    /// each frame re-checks only what a handler can change: raw mode and
    /// stopped delivery (through the framer), and the connection's input
    /// state (a pause, a close, a hand-over), through `input_epoch`, which
    /// moves whenever that may have changed.
    fn process(&mut self, cx: &mut Context<'_>, input: &[u8]) -> usize {
        let mut pos = 0;
        while pos < input.len() {
            if self.framer.adapter.dead || self.framer.stopped {
                return input.len();
            }
            match cx.input_state() {
                InputState::Open => {}
                InputState::Paused => return pos,
                InputState::Discarded => return input.len(),
                InputState::Handover => {
                    cx.hand_over_input(&input[pos..]);
                    return input.len();
                }
            }
            if self.framer.raw {
                let rest = &input[pos..];
                let taken = self.handler.raw_data_received(cx, &mut self.framer, rest).min(rest.len());
                if self.framer.raw && !cx.is_reading_paused() {
                    return input.len();
                }
                if taken > 0 {
                    self.framer.adapter.too_long_unskipped = false;
                }
                pos += taken;
                continue;
            }
            // The input is open and the framer in frame mode: deliver
            // frames until something a handler can change moved.
            let epoch = cx.input_epoch();
            loop {
                let rest = &input[pos..];
                match self.framer.codec.decode(rest) {
                    Decoded::Frame { start, end, consumed, meta } => {
                        // `get` checks what indexing would; a frame past
                        // what the codec consumed is out of bounds too, and
                        // an empty one made no progress.
                        let frame = match rest.get(start..end) {
                            Some(frame) if end <= consumed && consumed <= rest.len() && consumed != 0 => frame,
                            _ => {
                                let why = if consumed == 0 { NO_PROGRESS } else { OUT_OF_BOUNDS };
                                self.codec_fault(cx, why);
                                return input.len();
                            }
                        };
                        self.framer.adapter.too_long_unskipped = false;
                        pos += consumed;
                        self.framer.meta = Some(meta);
                        self.handler.frame_received(cx, &mut self.framer, frame);
                        if pos >= input.len() {
                            return pos;
                        }
                        // `|`, not `||`: the two flags side by side are
                        // loaded and tested together.
                        if cx.input_epoch() != epoch || (self.framer.raw | self.framer.stopped) {
                            break;
                        }
                    }
                    Decoded::Incomplete => return pos,
                    Decoded::Skip(0) => {
                        self.codec_fault(cx, NO_PROGRESS);
                        return input.len();
                    }
                    Decoded::Skip(n) => {
                        self.framer.adapter.too_long_unskipped = false;
                        pos += n.min(rest.len());
                        break;
                    }
                    Decoded::TooLong(announced) => {
                        if self.framer.adapter.too_long_unskipped {
                            self.codec_fault(cx, NO_PROGRESS);
                            return input.len();
                        }
                        self.framer.adapter.too_long_unskipped = true;
                        self.handler.frame_too_long(cx, &mut self.framer, announced);
                        break;
                    }
                    Decoded::Malformed(why) => {
                        self.framer.adapter.dead = true;
                        self.handler.malformed(cx, &mut self.framer, why);
                        return input.len();
                    }
                }
            }
        }
        pos
    }

    /// Delivers what is buffered (after a pause ended, or before EOF).
    fn deliver_pending(&mut self, cx: &mut Context<'_>) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let used = self.process(cx, &pending);
        self.keep_rest(cx, pending, used);
    }

    /// Keeps `buf[used..]` as the pending input, reusing `buf`.
    fn keep_rest(&mut self, cx: &Context<'_>, mut buf: Vec<u8>, used: usize) {
        if used >= buf.len() || self.discarding(cx) {
            // An idle connection holds no framing buffer.
            self.pending = Vec::new();
        } else {
            buf.drain(..used);
            self.pending = buf;
        }
    }

    /// Tells the handler of the peer's EOF, with the unfinished frame.
    fn deliver_eof(&mut self, cx: &mut Context<'_>) {
        self.framer.adapter.eof_owed = false;
        let pending = std::mem::take(&mut self.pending);
        let pending: &[u8] = if self.framer.stopped { &[] } else { &pending };
        self.handler.eof_received(cx, &mut self.framer, pending);
    }
}

impl<C: Decoder, H: FrameHandler<C>> Protocol for Framed<C, H> {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.handler.connection_made(cx, &mut self.framer);
    }

    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if self.pending.is_empty() {
            let used = self.process(cx, data);
            if used < data.len() && !self.discarding(cx) {
                self.pending.extend_from_slice(&data[used..]);
            }
        } else {
            // Bytes in flight while paused land here too: appended, not
            // delivered (process stops at once).
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(data);
            let used = self.process(cx, &pending);
            self.keep_rest(cx, pending, used);
        }
    }

    fn reading_resumed(&mut self, cx: &mut Context<'_>) {
        self.handler.reading_resumed(cx, &mut self.framer);
        self.deliver_pending(cx);
        if self.framer.adapter.eof_owed && !cx.is_reading_paused() && !cx.is_closing() {
            self.deliver_eof(cx);
        }
    }

    fn eof_received(&mut self, cx: &mut Context<'_>) {
        // The reactor does not read while paused, so frames are seldom
        // held back here; if they are, they come first, and the EOF waits
        // for them if the pause goes on.
        if !self.discarding(cx) {
            self.deliver_pending(cx);
            if cx.is_reading_paused() && !self.pending.is_empty() && !cx.is_closing() {
                self.framer.adapter.eof_owed = true;
                return;
            }
        }
        self.deliver_eof(cx);
    }

    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.pending = Vec::new();
        self.handler.connection_lost(cx, reason);
    }

    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.handler.connection_failed(cx, reason);
    }

    fn pause_writing(&mut self, cx: &mut Context<'_>) {
        self.handler.pause_writing(cx);
    }

    fn resume_writing(&mut self, cx: &mut Context<'_>) {
        self.handler.resume_writing(cx);
    }

    fn timer_fired(&mut self, cx: &mut Context<'_>, timer: TimerId) {
        self.handler.timer_fired(cx, &mut self.framer, timer);
    }

    fn stop_requested(&mut self, cx: &mut Context<'_>) {
        self.handler.stop_requested(cx, &mut self.framer);
    }
}
