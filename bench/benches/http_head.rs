//! The strict HTTP head parser (`reel::protocols::http::parse_request`)
//! against `httparse` alone, on real request heads: what curl and headless
//! Chromium sent (captured on loopback, `benches/heads/`), and the load
//! generator's minimal head. `httparse` is given a 32-field array and only
//! splits; the strict parser also checks every rule of its contract and
//! works out the body length and keep-alive.
//!
//! `cargo bench --bench http_head`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use reel::protocols::http::{parse_request, Parsed};

/// The heads, by name.
fn heads() -> [(&'static str, &'static [u8]); 3] {
    [
        ("loadgen", b"GET / HTTP/1.1\r\nHost: 127.0.0.1:12345\r\n\r\n"),
        ("curl", include_bytes!("heads/curl.http")),
        ("chromium", include_bytes!("heads/chromium.http")),
    ]
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("http_head");
    for (name, head) in heads() {
        assert!(matches!(parse_request(head), Parsed::Request(r) if r.head_len == head.len()), "{name}");
        group.throughput(Throughput::Bytes(head.len() as u64));
        group.bench_with_input(BenchmarkId::new("reel_strict", name), head, |b, head| {
            b.iter(|| match parse_request(black_box(head)) {
                Parsed::Request(r) => r.head_len + r.body_len,
                _ => 0,
            })
        });
        group.bench_with_input(BenchmarkId::new("httparse", name), head, |b, head| {
            b.iter(|| {
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut request = httparse::Request::new(&mut headers);
                match request.parse(black_box(head)) {
                    Ok(httparse::Status::Complete(n)) => n,
                    _ => 0,
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
