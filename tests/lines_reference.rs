//! `Lines` held to a plain reference on random input fed in random chunks:
//! one-byte delimiters (the word-at-a-time search and its 64-byte boundary),
//! lenient CR across chunk edges, multi-byte delimiters, and over-long lines
//! skipped through their delimiter.

use std::borrow::Cow;

use proptest::prelude::*;
use reel::framing::{FrameHandler, Framed, Framer, Lines};
use reel::testing::Harness;
use reel::Context;

/// Writes `[frame]` per line and `!` per over-long line (skipped).
struct Skipper;

impl FrameHandler<Lines> for Skipper {
    fn frame_received(&mut self, cx: &mut Context<'_>, _: &mut Framer<Lines>, frame: &[u8]) {
        cx.write_all(&[b"[", frame, b"]"]);
    }
    fn frame_too_long(&mut self, cx: &mut Context<'_>, _: &mut Framer<Lines>, _: u64) {
        cx.write(b"!");
    }
}

/// What `Lines` should give for `input` as a whole: every delimited line,
/// `!` for one over `max` (a lenient `\r` before `\n` not counted).
fn reference(input: &[u8], delimiter: &[u8], lenient: bool, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = input;
    while let Some(p) = rest.windows(delimiter.len()).position(|w| w == delimiter) {
        let mut line = &rest[..p];
        if lenient && line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if line.len() > max {
            out.push(b'!');
        } else {
            out.extend_from_slice(b"[");
            out.extend_from_slice(line);
            out.extend_from_slice(b"]");
        }
        rest = &rest[p + delimiter.len()..];
    }
    // An unfinished line over the limit is reported (once) before its end.
    let slack = if lenient { 1 } else { delimiter.len() - 1 };
    if rest.len() > max + slack {
        out.push(b'!');
    }
    out
}

fn codec(kind: u8, max: usize) -> (Lines, Vec<u8>, bool) {
    let lines = match kind {
        0 => Lines::lf(),
        1 => Lines::crlf(),
        2 => Lines::delimited(Cow::Borrowed(&b"|"[..])),
        3 => Lines::delimited(Cow::Borrowed(&b"\x80"[..])),
        _ => Lines::delimited(Cow::Borrowed(&b"<E>"[..])),
    };
    let delimiter = lines.delimiter().to_vec();
    (lines.max_length(max), delimiter, kind == 0)
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => proptest::collection::vec(proptest::sample::select(&b"abxyz\x7f\x81\xff"[..]), 0..80),
        1 => proptest::sample::select(vec![
            b"\n".to_vec(), b"\r".to_vec(), b"\r\n".to_vec(), b"|".to_vec(), b"\x80".to_vec(),
            b"<E>".to_vec(), b"<".to_vec(), b"<E".to_vec(), b"E>".to_vec()
        ]),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn lines_in_random_chunks_agree_with_the_reference(
        kind in 0u8..5,
        max in prop_oneof![0usize..=3, 55usize..=75, Just(200usize)],
        data in input(),
        cuts in proptest::collection::vec(1usize..90, 1..20),
    ) {
        let (lines, delimiter, lenient) = codec(kind, max);
        let mut h = Harness::new(Framed::new(lines, Skipper));
        let mut at = 0;
        let mut k = 0;
        while at < data.len() {
            let n = cuts[k % cuts.len()].min(data.len() - at);
            h.feed(&data[at..at + n]);
            at += n;
            k += 1;
        }
        prop_assert_eq!(
            String::from_utf8_lossy(&h.take_written()).into_owned(),
            String::from_utf8_lossy(&reference(&data, &delimiter, lenient, max)).into_owned(),
            "kind {} max {} input {:?}", kind, max, String::from_utf8_lossy(&data)
        );
    }
}
