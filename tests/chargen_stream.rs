//! 1 GiB of chargen, produced by a pull producer (no timers, no unbounded
//! queue), to a reader that stops now and then: every byte is the RFC 864
//! pattern in order, and the process's resident memory stays bounded.
//!
//! Alone in its test binary, so that the memory measured is this test's.

mod util;

use std::io::Read;
use std::time::{Duration, Instant};

use reel::protocols::chargen::{self, Chargen};
use reel::Protocol;

const GIB: usize = 1024 * 1024 * 1024;
const MIB: usize = 1024 * 1024;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("proc status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmRSS value")
}

#[test]
fn a_gibibyte_of_chargen_to_a_slow_reader_is_exact_and_bounded() {
    let mut reactor = util::reactor();
    let lid = reactor.listen_tcp("127.0.0.1:0", |_| Box::new(Chargen::new()) as Box<dyn Protocol>).expect("listen");
    let addr = reactor.listener_addr(lid).expect("addr");
    let client = util::client(&reactor, move || {
        // One whole cycle and then some: any offset's expected bytes are a
        // slice of it.
        let cycle_len = chargen::CYCLE_LINES * chargen::LINE_BYTES;
        let reference: Vec<u8> = (0..).flat_map(|n| chargen::line(n).to_vec()).take(cycle_len + 64 * 1024).collect();
        let mut s = util::connect(addr);
        let mut buf = vec![0u8; 64 * 1024];
        let (mut got, mut next_stop) = (0usize, 0usize);
        let mut before = 0;
        let mut peak = 0;
        let start = Instant::now();
        while got < GIB {
            if got >= next_stop {
                // The reader stops for a moment: the queue fills to its
                // bound and the producer is not asked.
                std::thread::sleep(Duration::from_millis(20));
                let rss = rss_kib();
                if before == 0 {
                    before = rss;
                }
                peak = peak.max(rss);
                next_stop += 64 * MIB;
            }
            let want = buf.len().min(GIB - got);
            let n = s.read(&mut buf[..want]).expect("read");
            assert!(n > 0, "EOF after {got} bytes");
            let off = got % cycle_len;
            assert!(buf[..n] == reference[off..off + n], "the pattern differs near byte {got}");
            got += n;
        }
        peak = peak.max(rss_kib());
        let took = start.elapsed();
        eprintln!("1 GiB of chargen in {took:?}; RSS {before} KiB after the first reads, {peak} KiB at most");
        assert!(peak - before < 4 * 1024, "RSS grew by {} KiB", peak - before);
    });
    util::run_limited(&mut reactor, Duration::from_secs(60));
    client.join();
}
