//! Framing adapters: the end of the "sticky packet" problem.
//!
//! TCP delivers a byte stream, not messages: one read may hold half a
//! message, or three and a half. A framing adapter is a [`Protocol`](crate::Protocol) that
//! buffers the stream and hands a [`FrameHandler`] one whole frame at a
//! time, however the bytes were chunked:
//!
//! - [`Lines`]: delimited lines (Twisted's `LineReceiver`);
//! - [`LengthPrefixed`]: a 1/2/4/8-byte length before each frame (Twisted's
//!   `Int32StringReceiver`, tokio's `LengthDelimitedCodec`);
//! - [`Netstrings`]: `len:data,` (Twisted's `NetstringReceiver`).
//!
//! One adapter, [`Framed`], does the buffering for all of them; a
//! [`Decoder`] says where frames end (and may hand the handler what it
//! learned on the way, [`Framer::meta`]), an [`Encoder`] writes them, and
//! a [`Codec`] is both. See the guide's codec chapter
//! (`docs/guide/codecs.md`) for writing one. Every codec has a maximum
//! frame length, enforced
//! as soon as it is visible (from a length header, before the frame
//! arrives), with an overridable hook. A handler can switch the adapter to
//! raw mode and back at any point; the rest of the current input is
//! delivered in the new mode, byte-exact.
//!
//! Pausing works per frame: once reading is paused (by the handler with
//! [`Context::pause_reading`](crate::Context::pause_reading), or by flow
//! control when a reply took queued output past the high water mark), no
//! further frame is delivered, even from the read at hand; the frames held
//! back come first, in order, when reading resumes. A handler that wants
//! no more input at all calls [`Framer::stop_delivery`]. A faulty codec
//! that makes no progress closes the connection instead of looping.
//!
//! ```
//! use reel::framing::{FrameHandler, Framed, Framer, Lines};
//! use reel::testing::Harness;
//! use reel::Context;
//!
//! struct Hello;
//! impl FrameHandler<Lines> for Hello {
//!     fn frame_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<Lines>, line: &[u8]) {
//!         let mut reply = b"Hello, ".to_vec();
//!         reply.extend_from_slice(line);
//!         reply.push(b'!');
//!         framer.send(cx, &reply).unwrap();
//!     }
//! }
//!
//! let mut h = Harness::new(Framed::new(Lines::lf(), Hello));
//! h.feed(b"Mich");
//! h.feed(b"ael\r\nTracy\nSar");
//! assert_eq!(h.take_written(), b"Hello, Michael!\nHello, Tracy!\n");
//! ```

mod framed;
mod length;
mod lines;
mod netstring;

pub use self::framed::{Codec, Decoded, Decoder, Encoder, FrameError, FrameHandler, Framed, Framer};
pub use self::length::{Endian, LengthPrefixed, DEFAULT_MAX_FRAME};
pub use self::lines::{Lines, DEFAULT_MAX_LINE};
pub use self::netstring::Netstrings;

#[cfg(test)]
mod tests;
