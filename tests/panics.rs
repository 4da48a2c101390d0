//! Panics in callbacks are contained: the panicking connection ends with
//! `Reason::ProtocolPanicked` (exactly once, its queued output dropped), the
//! reactor and the other connections go on, and a panicking timer closure
//! is logged and forgotten.

mod util;

use std::rc::Rc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use reel::{Context, Protocol, Reason};
use util::{End, Log};

// ----- a logger that keeps what it is told ------------------------------------

static LOGGED: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}", record.level(), record.args());
            eprintln!("{line}");
            LOGGED.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
    }
    fn flush(&self) {}
}

/// Installs the capturing logger (before `util::reactor`, whose
/// `env_logger` then finds a logger in place).
fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        log::set_boxed_logger(Box::new(Capture)).expect("no other logger installed yet");
        log::set_max_level(log::LevelFilter::Warn);
    });
}

fn logged_containing(needle: &str) -> Vec<String> {
    LOGGED.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|l| l.contains(needle)).cloned().collect()
}

// ----- protocols ----------------------------------------------------------------

/// Echoes; on "boom" queues output and then panics; on "made-boom" (for the
/// next connection) panics in `connection_made`.
struct Fragile {
    panic_on_connect: bool,
    name: &'static str,
    lost: Log<(&'static str, Reason)>,
}

impl Protocol for Fragile {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        if self.panic_on_connect {
            cx.write(b"you will never see this\n");
            panic!("boom in connection_made of {}", self.name);
        }
        cx.write(b"hello\n");
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if data.starts_with(b"boom") {
            cx.write(b"you will never see this either\n");
            panic!("boom in data_received of {}", self.name);
        }
        cx.write(data);
    }
    fn connection_lost(&mut self, _cx: &mut Context<'_>, reason: Reason) {
        self.lost.borrow_mut().push((self.name, reason));
    }
}

/// A listener whose connections are named in order by `names`; those named
/// "fragile-made" panic in `connection_made`.
fn fragile_listener(
    reactor: &mut reel::Reactor,
    names: &'static [&'static str],
) -> (std::net::SocketAddr, Log<(&'static str, Reason)>) {
    let lost = util::log();
    let mut next = 0;
    let factory = {
        let lost = Rc::clone(&lost);
        move |_| {
            let name = names[next];
            next += 1;
            Box::new(Fragile { panic_on_connect: name.ends_with("-made"), name, lost: Rc::clone(&lost) })
                as Box<dyn Protocol>
        }
    };
    let lid = reactor.listen_tcp("127.0.0.1:0", factory).expect("listen");
    (reactor.listener_addr(lid).unwrap(), lost)
}

/// The named connections ended once each, cleanly (the client closing or
/// the reactor stopping, whichever came first).
fn assert_clean(lost: &[(&'static str, Reason)], names: &[&str]) {
    for name in names {
        let ends: Vec<_> = lost.iter().filter(|(n, _)| n == name).collect();
        assert_eq!(ends.len(), 1, "{name}: {lost:?}");
        assert!(ends[0].1.is_clean(), "{name}: {lost:?}");
    }
}

#[test]
fn a_panic_in_data_received_ends_that_connection_only() {
    capture_logs();
    let mut reactor = util::reactor();
    let (addr, lost) = fragile_listener(&mut reactor, &["steady", "fragile-data", "late"]);
    let client = util::client(&reactor, move || {
        let mut steady = util::connect(addr);
        assert_eq!(util::read_line(&mut steady), "hello");
        let mut fragile = util::connect(addr);
        assert_eq!(util::read_line(&mut fragile), "hello");
        util::echo_round_trips(&mut fragile, "fine so far", 3);
        util::write_all(&mut fragile, b"boom\n");
        let end = util::read_until_end(&mut fragile);
        assert!(end.data().is_empty(), "output queued before the panic must be dropped: {end:?}");
        assert!(matches!(end, End::Reset(_) | End::Eof(_)));
        // The other connection, and the listener, go on.
        util::echo_round_trips(&mut steady, "still here", 50);
        let mut late = util::connect(addr);
        assert_eq!(util::read_line(&mut late), "hello");
        util::echo_round_trips(&mut late, "late", 5);
    });
    util::run(&mut reactor);
    client.join();
    let lost = lost.borrow();
    let fragile: Vec<_> = lost.iter().filter(|(n, _)| *n == "fragile-data").collect();
    assert_eq!(fragile, vec![&("fragile-data", Reason::ProtocolPanicked)], "exactly once: {lost:?}");
    assert_clean(&lost, &["steady", "late"]);
    assert!(
        !logged_containing("boom in data_received of fragile-data").is_empty(),
        "the panic is logged with its message"
    );
}

#[test]
fn a_panic_in_connection_made_ends_that_connection_only() {
    capture_logs();
    let mut reactor = util::reactor();
    let (addr, lost) = fragile_listener(&mut reactor, &["steady", "fragile-made", "after"]);
    let client = util::client(&reactor, move || {
        let mut steady = util::connect(addr);
        assert_eq!(util::read_line(&mut steady), "hello");
        // The reset may come so soon that connect itself reports it.
        let end = match std::net::TcpStream::connect_timeout(&addr, util::IO_TIMEOUT) {
            Ok(mut fragile) => {
                fragile.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
                util::read_until_end(&mut fragile)
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => End::Reset(Vec::new()),
            Err(e) => panic!("connect: {e}"),
        };
        assert!(end.data().is_empty(), "output queued before the panic must be dropped: {end:?}");
        util::echo_round_trips(&mut steady, "still here", 50);
        let mut after = util::connect(addr);
        assert_eq!(util::read_line(&mut after), "hello");
        util::echo_round_trips(&mut after, "after", 5);
    });
    util::run(&mut reactor);
    client.join();
    let lost = lost.borrow();
    let fragile: Vec<_> = lost.iter().filter(|(n, _)| *n == "fragile-made").collect();
    assert_eq!(fragile, vec![&("fragile-made", Reason::ProtocolPanicked)], "exactly once: {lost:?}");
    assert_clean(&lost, &["steady", "after"]);
    assert!(!logged_containing("boom in connection_made of fragile-made").is_empty());
}

#[test]
fn a_panicking_timer_closure_is_logged_and_the_reactor_goes_on() {
    capture_logs();
    let mut reactor = util::reactor();
    let fired = util::log();
    {
        let fired = Rc::clone(&fired);
        reactor.call_later(Duration::from_millis(1), move |_| {
            fired.borrow_mut().push("before");
        });
    }
    reactor.call_later(Duration::from_millis(2), |_| panic!("timer boom 0f3a"));
    {
        let fired = Rc::clone(&fired);
        let mut n = 0;
        reactor.call_every(Duration::from_millis(3), move |cx| {
            n += 1;
            if n == 2 {
                panic!("repeating timer boom 0f3a");
            }
            if n == 4 {
                fired.borrow_mut().push("every survived its panic");
                cx.stop();
            }
        });
    }
    {
        let fired = Rc::clone(&fired);
        reactor.call_later(Duration::from_millis(4), move |_| {
            fired.borrow_mut().push("after");
        });
    }
    util::run(&mut reactor);
    assert_eq!(*fired.borrow(), vec!["before", "after", "every survived its panic"]);
    assert!(!logged_containing("timer boom 0f3a").is_empty(), "the panic is logged");
    assert!(!logged_containing("repeating timer boom 0f3a").is_empty(), "the panic is logged");
}
