//! [`FrameHandler`]: what a framed protocol implements, called by
//! [`Framed`](super::Framed) with one whole frame at a time.

use std::borrow::Cow;

use super::{Decoder, Framer};
use crate::{Context, Reason, TimerId};

/// What a framed protocol implements: Twisted's `lineReceived` /
/// `stringReceived`, plus the connection's other callbacks, forwarded.
///
/// The contract of [`Protocol`](crate::Protocol) holds, and on top of it:
///
/// - `frame_received` gets exactly one whole frame per call, never a part,
///   whatever the chunking;
/// - no frame is delivered once the connection is closing, nor after
///   [`Framer::stop_delivery`];
/// - **pausing works at frame granularity**: once reading is paused
///   ([`Context::pause_reading`] from the handler, or flow control because
///   queued output passed the high water mark during a write), no further
///   frame (nor raw data) is delivered, even if the current read holds
///   more. Those bytes stay buffered and are delivered, in order, when
///   reading resumes, before anything newer; delivery stops again if the
///   handler pauses again.
pub trait FrameHandler<C: Decoder> {
    /// A whole frame arrived.
    fn frame_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, frame: &[u8]);

    /// Bytes arrived in raw mode. Returns how many of them it took: if it
    /// switched back to frame mode with
    /// [`Framer::set_frame_mode`], the rest is decoded as frames at once;
    /// if it paused reading, the rest is kept and delivered again when
    /// reading resumes; otherwise all of `data` counts as taken. The
    /// default takes (and drops) everything.
    fn raw_data_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, data: &[u8]) -> usize {
        let _ = (cx, framer);
        data.len()
    }

    /// A frame longer than the codec's maximum began (`announced` is its
    /// length as far as known). The default closes the connection with
    /// [`Reason::Protocol`] and the codec's words (`"line too long"`); an
    /// override may send a farewell first. If the connection stays open,
    /// the over-long frame is skipped and framing goes on after it.
    fn frame_too_long(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, announced: u64) {
        let _ = announced;
        cx.close_with(Reason::Protocol(Cow::Borrowed(framer.codec().too_long_reason())));
    }

    /// The input cannot be parsed. The default closes the connection with
    /// [`Reason::Protocol`] and `why`. Nothing more is decoded either way.
    fn malformed(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, why: &'static str) {
        let _ = framer;
        cx.close_with(Reason::Protocol(Cow::Borrowed(why)));
    }

    /// See [`Protocol::connection_made`](crate::Protocol::connection_made).
    fn connection_made(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>) {
        let _ = (cx, framer);
    }

    /// See [`Protocol::eof_received`](crate::Protocol::eof_received);
    /// `pending` is the unfinished frame's bytes. The default closes.
    fn eof_received(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, pending: &[u8]) {
        let _ = (framer, pending);
        cx.close();
    }

    /// See [`Protocol::connection_lost`](crate::Protocol::connection_lost).
    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        let _ = (cx, reason);
    }

    /// See [`Protocol::connection_failed`](crate::Protocol::connection_failed):
    /// a framed client connection could not be established; called instead
    /// of every other method.
    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        let _ = (cx, reason);
    }

    /// See [`Protocol::pause_writing`](crate::Protocol::pause_writing).
    fn pause_writing(&mut self, cx: &mut Context<'_>) {
        let _ = cx;
    }

    /// See [`Protocol::resume_writing`](crate::Protocol::resume_writing).
    fn resume_writing(&mut self, cx: &mut Context<'_>) {
        let _ = cx;
    }

    /// See [`Protocol::reading_resumed`](crate::Protocol::reading_resumed).
    /// Called before the frames held back during the pause are delivered;
    /// pausing again here holds them back further.
    fn reading_resumed(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>) {
        let _ = (cx, framer);
    }

    /// See [`Protocol::timer_fired`](crate::Protocol::timer_fired).
    fn timer_fired(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>, timer: TimerId) {
        let _ = (cx, framer, timer);
    }

    /// See [`Protocol::stop_requested`](crate::Protocol::stop_requested).
    /// The default closes.
    fn stop_requested(&mut self, cx: &mut Context<'_>, framer: &mut Framer<C>) {
        let _ = framer;
        cx.close();
    }
}
