//! Framing throughput: lines and length prefixes, fed in 1, 64 and 4096-byte
//! chunks through the in-memory harness (the real adapter and context code).
//!
//! `cargo bench -p reel-bench --bench framing`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use reel::framing::{Codec, FrameHandler, Framed, Framer, LengthPrefixed, Lines};
use reel::testing::Harness;
use reel::Context;

/// Counts frames; writes nothing, so the bench measures decoding.
struct Count(u64);

impl<C: Codec> FrameHandler<C> for Count {
    fn frame_received(&mut self, _: &mut Context<'_>, _: &mut Framer<C>, frame: &[u8]) {
        self.0 += frame.len() as u64 + 1;
    }
}

/// 64 KiB of input: lines (or frames) of 20 to 200 bytes.
fn payloads() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut total = 0;
    let mut i = 0usize;
    while total < 64 * 1024 {
        let len = 20 + (i * 37) % 180;
        out.push(vec![b'a' + (i % 26) as u8; len]);
        total += len;
        i += 1;
    }
    out
}

fn encode<C: Codec>(codec: &C) -> Vec<u8> {
    let mut wire = Vec::new();
    for p in payloads() {
        codec.encode(&p, &mut |b| wire.extend_from_slice(b)).expect("encodable");
    }
    wire
}

fn bench_codec<C: Codec + Clone + 'static>(c: &mut Criterion, name: &str, codec: C) {
    let wire = encode(&codec);
    let mut group = c.benchmark_group(format!("framing/{name}"));
    group.throughput(Throughput::Bytes(wire.len() as u64));
    for chunk in [1usize, 64, 4096] {
        group.bench_with_input(BenchmarkId::new("chunk", chunk), &chunk, |b, &chunk| {
            let mut h = Harness::new(Framed::new(codec.clone(), Count(0)));
            b.iter(|| h.feed_chunks(&wire, chunk));
        });
    }
    group.finish();
}

fn framing(c: &mut Criterion) {
    bench_codec(c, "lines", Lines::lf());
    bench_codec(c, "length_u32", LengthPrefixed::u32());
}

criterion_group!(benches, framing);
criterion_main!(benches);
