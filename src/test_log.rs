//! A logger for the unit tests: each record at `info` level or above is
//! kept with the name of the thread that logged it (each test runs on a
//! thread named after it), so that a test reads its own.

use std::sync::{Mutex, OnceLock};

static RECORDS: Mutex<Vec<(String, log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let thread = std::thread::current().name().unwrap_or("").to_owned();
        // Formatted before the lock is taken: a `Display` that logs would
        // otherwise wait for the lock it holds.
        let message = record.args().to_string();
        let mut records = RECORDS.lock().unwrap_or_else(|p| p.into_inner());
        records.push((thread, record.level(), message));
    }

    fn flush(&self) {}
}

/// Installs the logger (once for the test binary); call it before what
/// is to be logged. Panics if another logger was installed first.
pub(crate) fn capture() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        if let Err(e) = log::set_logger(&Capture) {
            panic!("another logger is installed in this test binary: {e}");
        }
        log::set_max_level(log::LevelFilter::Info);
    });
}

/// The records this test's thread logged since [`capture`], in order.
pub(crate) fn records_here() -> Vec<(log::Level, String)> {
    let me = std::thread::current().name().unwrap_or("").to_owned();
    let records = RECORDS.lock().unwrap_or_else(|p| p.into_inner());
    records.iter().filter(|(t, _, _)| *t == me).map(|(_, l, m)| (*l, m.clone())).collect()
}
