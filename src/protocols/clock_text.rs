//! Wall-clock time as text: C's `ctime` and the RFC 867 daytime line, in
//! local time (the `TZ` environment variable is honoured), a wall clock
//! tests can set by hand, and a per-second cache for servers that stamp
//! every request.
//!
//! The reactor's [`Clock`](crate::Clock) is monotonic: it measures
//! timeouts, not the date. The services that tell the date read a
//! [`WallClock`] instead, which is the system's real-time clock or, in
//! tests, a manual one ([`WallClock::manual`]).
//!
//! ```
//! use chrono::{FixedOffset, TimeZone};
//! use reel::protocols::clock_text::{ctime, daytime};
//!
//! let utc = FixedOffset::east_opt(0).unwrap();
//! let t = utc.with_ymd_and_hms(2026, 11, 21, 23, 53, 24).unwrap();
//! assert_eq!(ctime(&t), "Sat Nov 21 23:53:24 2026");
//! assert_eq!(daytime(&t), "Saturday, November 21, 2026 23:53:24 +00:00");
//!
//! let t = utc.with_ymd_and_hms(2026, 11, 1, 9, 5, 3).unwrap();
//! assert_eq!(ctime(&t), "Sun Nov  1 09:05:03 2026");
//! ```

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Datelike, Local, Offset, TimeZone, Timelike};

const WEEKDAYS_SHORT: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const WEEKDAYS_LONG: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const MONTHS_SHORT: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTHS_LONG: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `t` as C's `ctime` (and Python's `time.ctime`) writes it, without the
/// newline: `Sat Nov 21 23:53:24 2026`, the day of the month padded with a
/// space (`Sun Nov  1 09:05:03 2026`).
pub fn ctime<Tz: TimeZone>(t: &DateTime<Tz>) -> String {
    let mut out = String::with_capacity(24);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        WEEKDAYS_SHORT[t.weekday().num_days_from_monday() as usize],
        MONTHS_SHORT[t.month0() as usize],
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.year()
    );
    out
}

/// `t` as the daytime service (RFC 867) tells it, without the line end:
/// `Saturday, November 21, 2026 23:53:24 +00:00`. The offset from UTC
/// names the time zone unambiguously.
pub fn daytime<Tz: TimeZone>(t: &DateTime<Tz>) -> String {
    let offset = t.offset().fix().local_minus_utc();
    let sign = if offset < 0 { '-' } else { '+' };
    let offset = offset.unsigned_abs();
    let mut out = String::with_capacity(48);
    let _ = write!(
        out,
        "{}, {} {}, {} {:02}:{:02}:{:02} {}{:02}:{:02}",
        WEEKDAYS_LONG[t.weekday().num_days_from_monday() as usize],
        MONTHS_LONG[t.month0() as usize],
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second(),
        sign,
        offset / 3600,
        offset / 60 % 60
    );
    out
}

/// Whole seconds from the Unix epoch to `t`, rounded down (negative before
/// 1970).
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            -whole - i64::from(d.subsec_nanos() > 0)
        }
    }
}

/// `t` in local time (the `TZ` environment variable honoured), to the
/// second. A time chrono cannot represent (hundreds of thousands of years
/// away) becomes the epoch rather than a panic.
pub fn local_time(t: SystemTime) -> DateTime<Local> {
    DateTime::from_timestamp(unix_seconds(t), 0).unwrap_or_default().with_timezone(&Local)
}

/// [`ctime`] of `t` in local time.
pub fn ctime_local(t: SystemTime) -> String {
    ctime(&local_time(t))
}

/// [`daytime`] of `t` in local time.
pub fn daytime_local(t: SystemTime) -> String {
    daytime(&local_time(t))
}

/// Where the date services read the time of day: the system's real-time
/// clock, or a manual clock that only moves when told (for tests).
///
/// Clones share the same time, across threads too, so a test can move the
/// clock of a server running on another thread.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use reel::protocols::clock_text::WallClock;
///
/// let clock = WallClock::manual(UNIX_EPOCH);
/// clock.advance(Duration::from_secs(86_400));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(86_400));
/// ```
#[derive(Debug, Clone, Default)]
pub struct WallClock {
    /// `None`: the system clock. `Some`: the manual time, shared by clones.
    manual: Option<Arc<Mutex<SystemTime>>>,
}

impl WallClock {
    /// The system's real-time clock.
    pub fn system() -> WallClock {
        WallClock { manual: None }
    }

    /// A clock that reads `start` until [`set`](WallClock::set) or
    /// [`advance`](WallClock::advance) moves it.
    pub fn manual(start: SystemTime) -> WallClock {
        WallClock { manual: Some(Arc::new(Mutex::new(start))) }
    }

    /// Whether this is a manual clock.
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        match &self.manual {
            None => SystemTime::now(),
            Some(m) => *m.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Sets a manual clock to `t`; does nothing on the system clock.
    pub fn set(&self, t: SystemTime) {
        if let Some(m) = &self.manual {
            *m.lock().unwrap_or_else(PoisonError::into_inner) = t;
        }
    }

    /// Moves a manual clock forward by `by` (saturating); does nothing on
    /// the system clock.
    pub fn advance(&self, by: Duration) {
        if let Some(m) = &self.manual {
            let mut t = m.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(later) = t.checked_add(by) {
                *t = later;
            }
        }
    }
}

/// The current time as text, formatted at most once per second.
///
/// A server that stamps every request (`[ctime] X`) would otherwise format
/// the date, and look up the local time zone, for each one. `ClockText`
/// keeps the last text keyed by its Unix second and formats again only when
/// the second changes. It is meant to be shared by the protocols of one
/// reactor behind an [`Rc`].
///
/// ```
/// use std::rc::Rc;
/// use std::time::{Duration, UNIX_EPOCH};
/// use reel::protocols::clock_text::{ClockText, WallClock};
///
/// let clock = WallClock::manual(UNIX_EPOCH + Duration::from_millis(1_795_305_204_100));
/// let text = ClockText::ctime(clock.clone());
/// let first = text.now();
/// clock.advance(Duration::from_millis(800)); // same second
/// assert!(Rc::ptr_eq(&first, &text.now()));
/// clock.advance(Duration::from_millis(200)); // the next one
/// assert!(!Rc::ptr_eq(&first, &text.now()));
/// ```
#[derive(Debug)]
pub struct ClockText {
    clock: WallClock,
    format: fn(SystemTime) -> String,
    /// The Unix second last formatted and its text.
    cache: RefCell<Option<(i64, Rc<str>)>>,
}

impl ClockText {
    /// Text made by `format` from `clock`'s time.
    pub fn new(clock: WallClock, format: fn(SystemTime) -> String) -> ClockText {
        ClockText { clock, format, cache: RefCell::new(None) }
    }

    /// [`ctime_local`] text: `Sat Nov 21 23:53:24 2026`.
    pub fn ctime(clock: WallClock) -> ClockText {
        ClockText::new(clock, ctime_local)
    }

    /// [`daytime_local`] text: `Saturday, November 21, 2026 23:53:24 +00:00`.
    pub fn daytime(clock: WallClock) -> ClockText {
        ClockText::new(clock, daytime_local)
    }

    /// The text for the current time (formatted afresh only if the second
    /// changed since the last call).
    pub fn now(&self) -> Rc<str> {
        let now = self.clock.now();
        let second = unix_seconds(now);
        let mut cache = self.cache.borrow_mut();
        match &*cache {
            Some((s, text)) if *s == second => Rc::clone(text),
            _ => {
                let text: Rc<str> = (self.format)(now).into();
                *cache = Some((second, Rc::clone(&text)));
                text
            }
        }
    }

    /// The clock the text is read from.
    pub fn clock(&self) -> &WallClock {
        &self.clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn at(offset_secs: i32, y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<FixedOffset> {
        FixedOffset::east_opt(offset_secs).unwrap().with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn ctime_matches_c() {
        assert_eq!(ctime(&at(0, 2026, 11, 21, 23, 53, 24)), "Sat Nov 21 23:53:24 2026");
        assert_eq!(ctime(&at(0, 2026, 11, 1, 9, 5, 3)), "Sun Nov  1 09:05:03 2026");
        assert_eq!(ctime(&at(3600, 1970, 1, 1, 0, 0, 0)), "Thu Jan  1 00:00:00 1970");
        assert_eq!(ctime(&at(0, 2024, 2, 29, 12, 0, 59)), "Thu Feb 29 12:00:59 2024");
    }

    #[test]
    fn daytime_names_the_zone() {
        assert_eq!(daytime(&at(0, 2026, 11, 21, 23, 53, 24)), "Saturday, November 21, 2026 23:53:24 +00:00");
        assert_eq!(daytime(&at(19_800, 2026, 1, 5, 7, 8, 9)), "Monday, January 5, 2026 07:08:09 +05:30");
        assert_eq!(daytime(&at(-12_600, 2026, 7, 4, 0, 0, 0)), "Saturday, July 4, 2026 00:00:00 -03:30");
    }

    #[test]
    fn unix_seconds_rounds_down() {
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_millis(1500)), 1);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_millis(1500)), -2);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(3)), -3);
    }

    #[test]
    fn local_time_of_an_absurd_time_does_not_panic() {
        let far = UNIX_EPOCH + Duration::from_secs(u64::MAX / 4);
        let _ = ctime_local(far);
        let _ = daytime_local(far);
    }

    #[test]
    fn manual_clock_is_shared_by_clones() {
        let a = WallClock::manual(UNIX_EPOCH);
        let b = a.clone();
        b.set(UNIX_EPOCH + Duration::from_secs(10));
        assert_eq!(a.now(), UNIX_EPOCH + Duration::from_secs(10));
        assert!(a.is_manual());
        assert!(!WallClock::system().is_manual());
        // Moving the system clock is a no-op, not a panic.
        WallClock::system().advance(Duration::from_secs(1));
    }

    #[test]
    fn clock_text_formats_once_per_second() {
        let clock = WallClock::manual(UNIX_EPOCH);
        let text = ClockText::new(clock.clone(), |t| unix_seconds(t).to_string());
        let a = text.now();
        assert_eq!(&*a, "0");
        clock.advance(Duration::from_millis(999));
        assert!(Rc::ptr_eq(&a, &text.now()));
        clock.advance(Duration::from_millis(1));
        assert_eq!(&*text.now(), "1");
    }
}
