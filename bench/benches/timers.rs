//! Timer operations with 0, 1,000, 100,000 and 1,000,000 timers pending:
//! set, cancel, reset (the idle-timeout case: pushed later), and firing.
//! Runs on a manual clock, so it measures the timer queue, not sleeping.
//!
//! `cargo bench -p reel-bench --bench timers`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use reel::{Clock, Reactor, ReactorConfig};

fn reactor_with_pending(n: usize) -> Reactor {
    let config = ReactorConfig { clock: Clock::manual(), ..Default::default() };
    let mut reactor = Reactor::with_config(config).expect("reactor");
    for i in 0..n {
        // Far in the future, spread out: they stay pending.
        reactor.call_later(Duration::from_secs(3600) + Duration::from_micros(i as u64), |_| {});
    }
    reactor
}

fn sizes() -> Vec<usize> {
    // `cargo test -p reel-bench --benches` runs each bench once: keep that quick.
    if std::env::args().any(|a| a == "--bench") {
        vec![0, 1_000, 100_000, 1_000_000]
    } else {
        vec![0, 1_000]
    }
}

fn timers(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers");
    group.throughput(Throughput::Elements(1));
    for n in sizes() {
        let mut reactor = reactor_with_pending(n);
        group.bench_with_input(BenchmarkId::new("set_then_cancel", n), &n, |b, _| {
            b.iter(|| {
                let id = reactor.call_later(Duration::from_secs(60), |_| {});
                reactor.cancel_timer(id)
            });
        });
        let id = reactor.call_later(Duration::from_secs(60), |_| {});
        let mut step = 0u64;
        group.bench_with_input(BenchmarkId::new("reset_later", n), &n, |b, _| {
            b.iter(|| {
                step += 1;
                reactor.context().reset_timer(id, Duration::from_secs(60) + Duration::from_nanos(step))
            });
        });
    }
    group.finish();
    // Firing: set 1,000 due timers, then one turn fires them all (the turn's
    // one zero-timeout poll is shared by the 1,000).
    let mut group = c.benchmark_group("timers/fire_1000");
    group.throughput(Throughput::Elements(1000));
    for n in sizes() {
        let mut reactor = reactor_with_pending(n);
        group.bench_with_input(BenchmarkId::new("pending", n), &n, |b, _| {
            b.iter(|| {
                for _ in 0..1000 {
                    reactor.call_later(Duration::ZERO, |_| {});
                }
                reactor.turn(Some(Duration::ZERO)).expect("turn");
            });
        });
    }
    group.finish();
}

criterion_group!(benches, timers);
criterion_main!(benches);
