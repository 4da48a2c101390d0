//! [`assert_chunking_invariant`]: a protocol's answers must not depend on
//! how its input was cut into reads.

use super::{Harness, Transcript};
use crate::Protocol;

/// Feeds `input` to fresh protocols from `make`, whole and split every
/// possible way, and panics with the first chunking whose transcript
/// differs from the whole-input one. Returns that reference transcript.
///
/// Covered chunkings: every single split point (for inputs up to 2 KiB;
/// longer inputs get 2048 evenly spread split points plus the first and
/// last 64), one byte at a time, and 32 random chunkings from a fixed seed.
/// After the input, EOF is fed too when `then_eof` is true.
pub fn assert_chunking_invariant<P: Protocol + 'static>(
    make: impl Fn() -> P,
    input: &[u8],
    then_eof: bool,
) -> Transcript {
    let run = |chunks: &mut dyn Iterator<Item = &[u8]>| {
        let mut h = Harness::new(make());
        for chunk in chunks {
            if h.lost().is_some() {
                break;
            }
            h.feed(chunk);
        }
        if then_eof && h.lost().is_none() {
            h.feed_eof();
        }
        h.transcript()
    };
    let reference = run(&mut std::iter::once(input));
    let check = |what: &str, got: Transcript| {
        if got != reference {
            panic!(
                "chunking changed the outcome ({what}):\n  whole input: {:?}\n  chunked:     {:?}",
                summarize(&reference),
                summarize(&got)
            );
        }
    };
    for split in split_points(input.len()) {
        let (a, b) = input.split_at(split);
        check(&format!("split at {split}"), run(&mut [a, b].into_iter()));
    }
    check("one byte at a time", run(&mut input.chunks(1)));
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for round in 0..32 {
        let mut pieces = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let n = (rng.next() % (rest.len() as u64).min(64) + 1) as usize;
            let (a, b) = rest.split_at(n);
            pieces.push(a);
            rest = b;
        }
        check(&format!("random chunking #{round}"), run(&mut pieces.into_iter()));
    }
    reference
}

fn split_points(len: usize) -> Vec<usize> {
    if len <= 2048 {
        return (1..len).collect();
    }
    let mut points: Vec<usize> = (1..64).chain(len - 64..len).collect();
    points.extend((0..2048).map(|i| 1 + i * (len - 2) / 2048));
    points.sort_unstable();
    points.dedup();
    points
}

fn summarize(t: &Transcript) -> String {
    let shown = &t.written[..t.written.len().min(200)];
    format!(
        "written {} bytes {:?}{}, events {:?}, shutdown {}, reset {}",
        t.written.len(),
        String::from_utf8_lossy(shown),
        if t.written.len() > 200 { "..." } else { "" },
        t.events,
        t.write_shutdown,
        t.reset
    )
}

/// A tiny deterministic generator for chunk sizes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
