//! The head parser in a plain loop, for instruction counts under callgrind
//! (noise-free, where the criterion bench `http_head` measures time):
//!
//! ```text
//! cargo build --release -p reel-bench --example http_head_loop
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/http_head_loop N HEAD PARSER
//! ```
//!
//! parses `HEAD` (`loadgen`, `curl` or `chromium`: the heads of the
//! `http_head` bench) `N` times with `PARSER` (`reel`, the strict parser,
//! or `httparse` alone, splitting into 32 fields). Instructions per parse:
//! the difference between `N` = 10,000 and `N` = 0, divided by 10,000.

use std::hint::black_box;

use reel::protocols::http::{parse_request, Parsed};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let head: &[u8] = match args.next().as_deref() {
        Some("chromium") => include_bytes!("../benches/heads/chromium.http"),
        Some("curl") => include_bytes!("../benches/heads/curl.http"),
        _ => b"GET / HTTP/1.1\r\nHost: 127.0.0.1:12345\r\n\r\n",
    };
    let mut total = 0;
    if args.next().as_deref() == Some("httparse") {
        for _ in 0..n {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(len)) = request.parse(black_box(head)) {
                total += len;
            }
        }
    } else {
        for _ in 0..n {
            if let Parsed::Request(r) = parse_request(black_box(head)) {
                total += r.head_len + r.body_len;
            }
        }
    }
    println!("{total}");
}
