//! The codec traits: [`Decoder`] (where frames end), [`Encoder`] (how to
//! write one) and [`Codec`] (both), with what they return: [`Decoded`] and
//! [`FrameError`].

use std::fmt;

use crate::{ConnId, ReactorContext};

/// What a decoder found at the front of the unconsumed input; `M` is what
/// it learned about a frame while finding it ([`Decoder::Meta`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<M = ()> {
    /// A frame: its payload is `input[start..end]`; `consumed` bytes
    /// (header, payload, delimiter) are used up.
    Frame {
        /// Where the payload starts.
        start: usize,
        /// Where the payload ends.
        end: usize,
        /// Bytes used up, delimiters and headers included.
        consumed: usize,
        /// What the decoder learned about the frame (say, where each
        /// argument of a command starts), handed to the handler through
        /// [`Framer::meta`](super::Framer::meta): no second parse, no
        /// allocation.
        meta: M,
    },
    /// Not enough input yet: keep it and call again with more. Partial
    /// input is not an error.
    Incomplete,
    /// These many bytes are to be dropped (the rest of an over-long frame
    /// being skipped).
    Skip(usize),
    /// The frame is longer than the maximum; `announced` is its length as
    /// far as known. The codec skips it if the connection stays open.
    TooLong(u64),
    /// The input cannot be a frame.
    Malformed(&'static str),
}

/// Why a frame could not be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// Longer than the codec's maximum or than its length prefix can say.
    TooLong {
        /// The payload's length.
        len: usize,
        /// The most the codec can send.
        max: u64,
    },
    /// A line payload contains the delimiter.
    ContainsDelimiter,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLong { len, max } => write!(f, "frame of {len} bytes is longer than the maximum of {max}"),
            FrameError::ContainsDelimiter => f.write_str("line contains the delimiter"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Where frames end in a byte stream: the reading half of a codec.
///
/// A protocol whose requests and replies differ (RESP, HTTP) implements
/// this for what it reads, and [`Encoder`] only if it writes the same
/// kind of frame; [`Framed`](super::Framed) needs only a decoder. See
/// the codec chapter of the guide (`docs/guide/codecs.md`) for one built
/// step by step.
pub trait Decoder {
    /// What the decoder learns about a frame while finding it, handed to
    /// the handler with the frame
    /// ([`Framer::meta`](super::Framer::meta)): where each argument
    /// starts, a type tag, a parsed number. `()` when there is nothing to
    /// tell. Returned by value inside [`Decoded::Frame`], so a fixed-size
    /// type costs no allocation.
    type Meta;

    /// Looks at the unconsumed input (which always starts at a frame
    /// boundary) and says what is there. Called again with the same start
    /// and more bytes after [`Decoded::Incomplete`]: a decoder may remember
    /// how far it scanned, so that total work stays linear in the input.
    fn decode(&mut self, input: &[u8]) -> Decoded<Self::Meta>;

    /// Forgets any scanning state (after a mode switch).
    fn reset(&mut self);

    /// The words for a frame that is too long, e.g. `"line too long"`.
    fn too_long_reason(&self) -> &'static str {
        "frame too long"
    }
}

/// How to write a frame: the writing half of a codec.
pub trait Encoder {
    /// Writes `payload` as one frame through `write` (in pieces: a header,
    /// the payload, a delimiter).
    ///
    /// # Errors
    ///
    /// When the payload cannot be framed (too long, or a line containing
    /// its delimiter); nothing has been written then.
    fn encode(&self, payload: &[u8], write: &mut dyn FnMut(&[u8])) -> Result<(), FrameError>;

    /// Queues `payload` as one frame on connection `to`, any connection of
    /// the reactor (a broadcast, a relay). `Ok(false)` when `to` is gone
    /// or closing (nothing is written), as
    /// [`write_to`](ReactorContext::write_to).
    ///
    /// # Errors
    ///
    /// When the payload cannot be framed.
    fn encode_to(&self, cx: &mut ReactorContext<'_>, to: ConnId, payload: &[u8]) -> Result<bool, FrameError> {
        if !cx.is_open(to) {
            return Ok(false);
        }
        let mut all = true;
        self.encode(payload, &mut |bytes| all &= cx.write_to(to, bytes))?;
        Ok(all)
    }
}

/// A codec that both decodes and encodes the same kind of frame (lines,
/// length-prefixed frames, netstrings). Implemented for every type that
/// is both a [`Decoder`] and an [`Encoder`].
pub trait Codec: Decoder + Encoder {}

impl<T: Decoder + Encoder> Codec for T {}
