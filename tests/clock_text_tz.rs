//! Local time honours `TZ`: the ctime and daytime texts in a few zones.
//!
//! This binary holds a single test because it changes the process's `TZ`
//! environment variable, which every thread of the process sees. chrono
//! reads `TZ` once per thread and then at most once a second, so each zone
//! is tried on a fresh thread rather than by waiting.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reel::protocols::clock_text::{ctime_local, daytime_local, ClockText, WallClock};

/// Sat Nov 21 23:53:24 2026 UTC.
const T: u64 = 1_795_305_204;

/// The ctime and daytime texts of `t` with `TZ` set to `tz`.
fn texts_in(tz: &str, t: SystemTime) -> (String, String) {
    std::env::set_var("TZ", tz);
    let texts = std::thread::spawn(move || (ctime_local(t), daytime_local(t))).join();
    texts.unwrap_or_else(|_| panic!("formatting panicked with TZ={tz}"))
}

#[test]
fn local_time_follows_tz() {
    let t = UNIX_EPOCH + Duration::from_secs(T);
    let cases = [
        ("UTC", "Sat Nov 21 23:53:24 2026", "Saturday, November 21, 2026 23:53:24 +00:00"),
        // A POSIX zone string: five hours west of UTC, no database needed.
        ("EST5", "Sat Nov 21 18:53:24 2026", "Saturday, November 21, 2026 18:53:24 -05:00"),
        ("<+0530>-5:30", "Sun Nov 22 05:23:24 2026", "Sunday, November 22, 2026 05:23:24 +05:30"),
    ];
    for (tz, ctime, daytime) in cases {
        assert_eq!(texts_in(tz, t), (ctime.to_string(), daytime.to_string()), "TZ={tz}");
    }
    // A zone of the system database, where there is one.
    if std::path::Path::new("/usr/share/zoneinfo/America/New_York").exists() {
        let (ctime, daytime) = texts_in("America/New_York", t);
        assert_eq!(ctime, "Sat Nov 21 18:53:24 2026");
        assert_eq!(daytime, "Saturday, November 21, 2026 18:53:24 -05:00");
    }
    // The day of the month is padded with a space, as C's ctime does; the
    // cached text is the same.
    let first = UNIX_EPOCH + Duration::from_secs(T - 20 * 86_400 - 14 * 3_600 - 48 * 60 - 21);
    assert_eq!(texts_in("UTC", first).0, "Sun Nov  1 09:05:03 2026");
    let cached = std::thread::spawn(move || ClockText::ctime(WallClock::manual(first)).now().to_string()).join();
    assert_eq!(cached.expect("formatting"), "Sun Nov  1 09:05:03 2026");
}
