//! Seeing inside a running reactor: the debug mode's slow-callback and
//! slow-turn warnings (captured by a test logger), and the stats snapshot
//! of a reactor serving real loopback clients, read from another thread.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use reel::testing::ServerHarness;
use reel::{Context, ListenOptions, Protocol, Reactor, ReactorConfig, TcpOptions};

/// Every log record, with the name of the thread that logged it (each
/// test runs on a thread named after it).
struct Capture(Mutex<Vec<(String, log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let thread = std::thread::current().name().unwrap_or("").to_owned();
        let mut records = self.0.lock().unwrap_or_else(|p| p.into_inner());
        records.push((thread, record.level(), format!("{}: {}", record.target(), record.args())));
    }
    fn flush(&self) {}
}

/// The records this test's thread logged at warning level or above.
fn warnings_here() -> Vec<String> {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    let capture = CAPTURE.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(c).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
        c
    });
    let me = std::thread::current().name().unwrap_or("").to_owned();
    let records = capture.0.lock().unwrap_or_else(|p| p.into_inner());
    records.iter().filter(|(t, l, _)| *t == me && *l <= log::Level::Warn).map(|(_, _, m)| m.clone()).collect()
}

/// Blocks for 200 ms on "slow", answers at once otherwise.
struct Sluggish;

impl Protocol for Sluggish {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if data == b"slow" {
            // The deliberately slow callback under test.
            std::thread::sleep(Duration::from_millis(200));
        }
        cx.write(data);
    }
}

#[test]
fn a_slow_callback_is_named_with_its_connection() {
    assert!(warnings_here().is_empty());
    let config = ReactorConfig { slow_callback: Some(Duration::from_millis(50)), ..ReactorConfig::default() };
    let mut reactor = Reactor::with_config(config).expect("reactor");
    let listener = reactor.listen_tcp("127.0.0.1:0", |_| Sluggish).expect("listen");
    let addr = reactor.listener_addr(listener).expect("bound");
    let handle = reactor.handle();
    let client = std::thread::spawn(move || -> std::io::Result<()> {
        let mut s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut buf = [0; 4];
        for msg in [b"fast", b"slow"] {
            s.write_all(msg)?;
            s.read_exact(&mut buf)?;
            assert_eq!(&buf, msg);
        }
        handle.stop();
        Ok(())
    });
    reactor.run().expect("run");
    client.join().expect("client thread").expect("client I/O");
    let warnings = warnings_here();
    // A busy machine may make the fast callback slow too: the slow one
    // must be there, with its connection, callback and time.
    let took = |w: &str, what: &str| -> Option<u64> {
        let rest = w.split(what).nth(1)?;
        rest.trim_start().split(' ').next()?.parse().ok()
    };
    let slow: Vec<_> = warnings
        .iter()
        .filter(|w| w.contains("slow callback: conn#") && took(w, "data_received took").is_some_and(|ms| ms >= 200))
        .collect();
    assert_eq!(slow.len(), 1, "one slow data_received: {warnings:?}");
    assert!(slow[0].contains("(threshold 50 ms)"), "{}", slow[0]);
    let turns =
        warnings.iter().filter(|w| w.contains("slow turn") && took(w, "slow turn:").is_some_and(|ms| ms >= 200));
    assert_eq!(turns.count(), 1, "the turn that ran it is slow too: {warnings:?}");
}

#[test]
fn the_debug_mode_off_says_nothing_and_times_nothing() {
    let _ = warnings_here();
    let config = ReactorConfig { slow_callback: None, ..ReactorConfig::default() };
    assert!(config.slow_callback.is_none());
    let mut server = ServerHarness::new(|_| Sluggish);
    let id = server.connect();
    server.feed(id, b"slow");
    assert_eq!(server.take_written(id), b"slow");
    assert!(warnings_here().iter().all(|w| !w.contains("slow")), "{:?}", warnings_here());
}

#[test]
fn stats_from_another_thread_count_real_clients() {
    let _ = warnings_here();
    let mut reactor = Reactor::new().expect("reactor");
    let opts = ListenOptions { max_connections: Some(2), tcp: TcpOptions::default(), ..ListenOptions::default() };
    let listener = reactor.listen_tcp_with("127.0.0.1:0", |_| Sluggish, opts).expect("listen");
    let addr = reactor.listener_addr(listener).expect("bound");
    let handle = reactor.handle();
    let client = std::thread::spawn(move || -> std::io::Result<_> {
        let timeout = Some(Duration::from_secs(5));
        let mut a = TcpStream::connect(addr)?;
        let mut b = TcpStream::connect(addr)?;
        let mut buf = [0; 4];
        for s in [&mut a, &mut b] {
            s.set_read_timeout(timeout)?;
            s.write_all(b"ping")?;
            s.read_exact(&mut buf)?;
        }
        // The third is over the limit: refused, closed at once.
        let mut c = TcpStream::connect(addr)?;
        c.set_read_timeout(timeout)?;
        let mut rest = Vec::new();
        c.read_to_end(&mut rest)?;
        let stats = handle.stats(Duration::from_secs(5));
        handle.stop();
        Ok(stats)
    });
    reactor.run().expect("run");
    let stats = client.join().expect("client thread").expect("client I/O").expect("the reactor answered");
    assert_eq!((stats.open, stats.listeners, stats.accepted, stats.refused), (2, 1, 2, 1), "{stats}");
    assert_eq!((stats.bytes_in, stats.bytes_out), (8, 8), "{stats}");
    assert_eq!(stats.queued_output, 0);
}
