//! Producers and consumers across connections (Twisted's `IPushProducer`,
//! `IPullProducer` and `IConsumer`; asyncio's `pause_writing` /
//! `resume_writing` between two transports).
//!
//! A *consumer* is a connection whose output someone else fills. Three
//! kinds of producer feed one:
//!
//! - **A connection** ([`ReactorContext::register_producer`]): a push
//!   producer. While the consumer's queued output is above its high water
//!   mark the producer connection is not read (its peer is pushed back
//!   through TCP); at or below the low mark it is read again (and hears
//!   [`Protocol::reading_resumed`](crate::Protocol::reading_resumed)). One
//!   producer may feed several consumers (fan-out): it is paused while any
//!   of them is full. The pause takes effect inside the write that crossed
//!   the mark, so a framer delivering several frames from one read stops
//!   after the current one. Either side ending unregisters the pair.
//! - **A [`PushProducer`]** ([`ReactorContext::register_push_producer`]):
//!   any other source that writes on its own (a timer, results coming
//!   back from threads). It hears `pause_producing` inside the write that
//!   fills a consumer and `resume_producing` when they have all drained;
//!   it too may feed several consumers
//!   ([`ReactorContext::add_consumer`]).
//! - **A [`PullProducer`]** ([`ReactorContext::register_pull_producer`]):
//!   generated data (a file, `chargen`, a large response). The reactor asks
//!   it for more whenever the consumer's queue is at or below the low
//!   mark, until it says [`Pull::Done`]: no timers, no unbounded queue.
//!
//! [`ReactorContext::pause_reading_of`] and
//! [`ReactorContext::resume_reading_of`] pause and resume another
//! connection by hand.

use crate::{ConnId, ReactorContext};

/// A source that writes to connections on its own and can be told to stop
/// and go on (Twisted's `IPushProducer`; asyncio's
/// `pause_writing`/`resume_writing` for a producer that is not the
/// protocol).
///
/// Notifications come in order and at most once per crossing: a producer
/// hears `pause_producing` when the first of its consumers passes its high
/// water mark — inside the write that passed it, even when that write is
/// made in a callback — and `resume_producing` when the last full one has
/// drained to its low mark. If a crossing happens while one of its own
/// methods runs, it is told when that method returns (and not at all if
/// the state came back meanwhile). When its last consumer ends it hears
/// `stop_producing` and is dropped.
///
/// ```
/// use reel::producer::PushProducer;
/// use reel::ReactorContext;
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// /// A ticker's switch: the timer that writes checks it.
/// struct Switch(Rc<Cell<bool>>);
///
/// impl PushProducer for Switch {
///     fn pause_producing(&mut self, _cx: &mut ReactorContext<'_>) {
///         self.0.set(false);
///     }
///     fn resume_producing(&mut self, _cx: &mut ReactorContext<'_>) {
///         self.0.set(true);
///     }
/// }
/// ```
pub trait PushProducer {
    /// A consumer is full: stop writing until `resume_producing`.
    fn pause_producing(&mut self, cx: &mut ReactorContext<'_>);

    /// Every consumer has drained: go on writing.
    fn resume_producing(&mut self, cx: &mut ReactorContext<'_>);

    /// The last consumer ended: nothing will be read any more. The
    /// producer is dropped after this. Default: nothing.
    fn stop_producing(&mut self, cx: &mut ReactorContext<'_>) {
        let _ = cx;
    }
}

impl std::fmt::Debug for dyn PushProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushProducer")
    }
}

/// What a [`PullProducer`] says after writing a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pull {
    /// Ask again when the consumer has drained.
    More,
    /// Nothing more: the producer is unregistered and dropped (the
    /// consumer stays open; close it in the last call if the stream ends).
    Done,
}

/// A source of generated data for one connection, asked for each piece
/// (Twisted's `IPullProducer`).
///
/// The reactor calls [`resume_producing`](Self::resume_producing) whenever
/// the consumer's queued output is at or below its low water mark, and
/// again (in the same turn, up to a budget) while it stays there, so the
/// queue holds at most the low mark plus one piece. Each call should write
/// one piece to the consumer (with
/// [`write_to`](ReactorContext::write_to)); a call that writes nothing and
/// says [`Pull::More`] is asked again on the next turn of the loop.
///
/// ```
/// use reel::producer::{Pull, PullProducer};
/// use reel::{ConnId, ReactorContext};
///
/// /// Sends `left` bytes of `x`, 16 KiB at a time, then closes.
/// struct Xs { left: usize }
///
/// impl PullProducer for Xs {
///     fn resume_producing(&mut self, cx: &mut ReactorContext<'_>, to: ConnId) -> Pull {
///         let n = self.left.min(16 * 1024);
///         cx.write_to(to, &vec![b'x'; n]);
///         self.left -= n;
///         if self.left == 0 {
///             cx.close_conn(to);
///             return Pull::Done;
///         }
///         Pull::More
///     }
/// }
/// ```
pub trait PullProducer {
    /// The consumer wants more: write a piece to `consumer`.
    fn resume_producing(&mut self, cx: &mut ReactorContext<'_>, consumer: ConnId) -> Pull;

    /// The consumer ended (or the producer was unregistered) before
    /// [`Pull::Done`]. Default: nothing.
    fn stop_producing(&mut self, cx: &mut ReactorContext<'_>, consumer: ConnId) {
        let _ = (cx, consumer);
    }
}

impl std::fmt::Debug for dyn PullProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PullProducer")
    }
}
