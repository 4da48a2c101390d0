//! Generation-tagged identifiers and the mio token layout.
//!
//! Every identifier carries the slot index it names and the generation of
//! the object that was in the slot when the identifier was made. A slot is
//! reused after its object is freed, but with a new generation, so a stale
//! identifier (a chat room still holding the `ConnId` of a member that left)
//! or a stale readiness event can never reach the slot's next owner.

use std::fmt;

/// Identifies one TCP connection of a reactor.
///
/// Cheap to copy and compare; stays valid (and simply stops matching
/// anything) after the connection is gone.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Identifies one TCP listener of a reactor.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Identifies one UDP endpoint of a reactor.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UdpId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Identifies one registered push producer
/// ([`ReactorContext::register_push_producer`](crate::ReactorContext::register_push_producer)).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProducerId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Identifies one pending timer (one-shot or repeating).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId {
    pub(crate) index: u32,
    /// Never zero, so that `Option<TimerId>` (what a protocol keeps for
    /// its timer) is as small as a `TimerId`.
    pub(crate) generation: std::num::NonZeroU32,
}

macro_rules! id_debug {
    ($($ty:ident => $prefix:literal),*) => {$(
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "#{}.{}"), self.index, self.generation)
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    )*};
}
id_debug!(ConnId => "conn", ListenerId => "listener", UdpId => "udp", TimerId => "timer", ProducerId => "producer");

/// What a mio token points at.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Source {
    Conn(ConnId),
    Listener(ListenerId),
    Udp(UdpId),
    UnixDgram(crate::UnixDgramId),
    Waker,
    Signals,
}

const KIND_BITS: u32 = 3;
const KIND_CONN: usize = 0;
const KIND_LISTENER: usize = 1;
const KIND_UDP: usize = 2;
const KIND_WAKER: usize = 3;
const KIND_SIGNALS: usize = 4;
const KIND_UNIX_DGRAM: usize = 5;
const INDEX_BITS: u32 = 29;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;

/// The largest slot index a token can carry.
pub(crate) const MAX_INDEX: usize = INDEX_MASK;

impl Source {
    /// Packs the source into a token: `generation << 32 | index << 3 | kind`.
    pub(crate) fn token(self) -> mio::Token {
        let (kind, index, generation) = match self {
            Source::Conn(id) => (KIND_CONN, id.index, id.generation),
            Source::Listener(id) => (KIND_LISTENER, id.index, id.generation),
            Source::Udp(id) => (KIND_UDP, id.index, id.generation),
            Source::UnixDgram(id) => (KIND_UNIX_DGRAM, id.index, id.generation),
            Source::Waker => (KIND_WAKER, 0, 0),
            Source::Signals => (KIND_SIGNALS, 0, 0),
        };
        mio::Token(((generation as usize) << 32) | ((index as usize) << KIND_BITS) | kind)
    }

    /// Unpacks a token made by [`Source::token`].
    pub(crate) fn from_token(token: mio::Token) -> Option<Source> {
        let raw = token.0;
        let index = ((raw >> KIND_BITS) & INDEX_MASK) as u32;
        let generation = (raw >> 32) as u32;
        Some(match raw & ((1 << KIND_BITS) - 1) {
            KIND_CONN => Source::Conn(ConnId { index, generation }),
            KIND_LISTENER => Source::Listener(ListenerId { index, generation }),
            KIND_UDP => Source::Udp(UdpId { index, generation }),
            KIND_UNIX_DGRAM => Source::UnixDgram(crate::UnixDgramId { index, generation }),
            KIND_WAKER => Source::Waker,
            KIND_SIGNALS => Source::Signals,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let sources = [
            Source::Conn(ConnId { index: 0, generation: 0 }),
            Source::Conn(ConnId { index: MAX_INDEX as u32, generation: u32::MAX }),
            Source::Listener(ListenerId { index: 7, generation: 9 }),
            Source::Udp(UdpId { index: 12345, generation: 1 }),
            Source::UnixDgram(crate::UnixDgramId { index: 3, generation: 5 }),
            Source::Waker,
            Source::Signals,
        ];
        for s in sources {
            assert_eq!(Source::from_token(s.token()), Some(s));
        }
    }
}
