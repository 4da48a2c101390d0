//! The `Date` header of the `http_hello` module (`examples/common/http_hello.rs`):
//! a per-second cache and the IMF-fixdate formatter. A submodule split out
//! so that each file holds one concern; `http_hello` re-exports its items.

use std::cell::{Cell, Ref, RefCell};
use std::io::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{Datelike, Timelike};

use reel::protocols::http;

use super::{DATE_LEN, HTML, PAGE};

/// The `Date` header's value, formatted once per second.
#[derive(Debug, Default)]
pub struct DateCache {
    /// The Unix second last formatted and its text.
    cached: Cell<Option<(u64, [u8; DATE_LEN])>>,
    /// Always this text instead of the time (for tests).
    frozen: Option<[u8; DATE_LEN]>,
    /// The loop time until which the last text holds, and the text.
    until: Cell<Option<(Instant, [u8; DATE_LEN])>>,
    /// The usual answer (`200`, the page, kept alive) for the date it holds,
    /// formatted once per second: answering is then one copy.
    page: RefCell<Vec<u8>>,
    /// `page` holds the text `until` holds.
    page_fresh: Cell<bool>,
}

impl DateCache {
    /// A cache that always answers `date`, so that two runs of a
    /// connection give the same bytes.
    pub fn frozen(date: [u8; DATE_LEN]) -> Self {
        DateCache {
            cached: Cell::new(None),
            frozen: Some(date),
            until: Cell::new(None),
            page: RefCell::default(),
            page_fresh: Cell::new(false),
        }
    }

    /// The time as an IMF-fixdate at `loop_now`, the reactor's loop time
    /// ([`reel::Context::now`], read once per turn): the text is kept until
    /// the loop time passes the next second, so that most answers cost no
    /// clock read at all.
    pub fn now_at(&self, loop_now: Instant) -> [u8; DATE_LEN] {
        if let Some((until, text)) = self.until.get() {
            if loop_now < until && self.frozen.is_none() {
                return text;
            }
        }
        let text = self.now();
        let into_second = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(Duration::ZERO, |d| Duration::from_nanos(u64::from(d.subsec_nanos())));
        let until = loop_now.checked_add(Duration::from_secs(1).saturating_sub(into_second));
        self.until.set(until.map(|until| (until, text)));
        self.page_fresh.set(false);
        text
    }

    /// [`page`](Self::page) for the date [`now_at`](Self::now_at) gives:
    /// while the loop time has not passed the text's second, the prebuilt
    /// answer as it is, with no date to copy or compare.
    pub fn page_at(&self, loop_now: Instant) -> Ref<'_, Vec<u8>> {
        let current = self.until.get().is_some_and(|(until, _)| loop_now < until);
        if !(current && self.page_fresh.get() && self.frozen.is_none()) {
            let date = self.now_at(loop_now);
            drop(self.page(&date));
            self.page_fresh.set(true);
        }
        self.page.borrow()
    }

    /// The current time as an IMF-fixdate.
    pub fn now(&self) -> [u8; DATE_LEN] {
        if let Some(date) = self.frozen {
            return date;
        }
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        match self.cached.get() {
            Some((at, text)) if at == secs => text,
            _ => {
                let text = imf_fixdate(secs);
                self.cached.set(Some((secs, text)));
                text
            }
        }
    }
}

impl DateCache {
    /// The usual answer, `200` with the page on a kept connection, dated
    /// `date` (formatted again only when the date changed). Borrowed: drop
    /// it before asking for another date's.
    pub fn page(&self, date: &[u8; DATE_LEN]) -> Ref<'_, Vec<u8>> {
        // The date follows "HTTP/1.1 200 OK\r\nDate: ".
        const DATE_AT: usize = 23;
        if self.page.borrow().get(DATE_AT..DATE_AT + DATE_LEN) != Some(&date[..]) {
            let mut page = self.page.borrow_mut();
            page.clear();
            http::write_response(&mut page, 200, "OK", date, &[], Some(HTML), PAGE, false, false);
            debug_assert_eq!(page.get(DATE_AT..DATE_AT + DATE_LEN), Some(&date[..]));
        }
        self.page.borrow()
    }
}

/// Formats a Unix time as an IMF-fixdate (RFC 9110, section 5.6.7).
pub fn imf_fixdate(unix_secs: u64) -> [u8; DATE_LEN] {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let mut text = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    let secs = i64::try_from(unix_secs).unwrap_or(0);
    // Years past 9999 would not fit the format; they do not happen.
    let Some(t) = chrono::DateTime::from_timestamp(secs, 0).filter(|t| t.year() <= 9999) else {
        return text;
    };
    let day = DAYS.get(t.weekday().num_days_from_monday() as usize).unwrap_or(&"Mon");
    let month = MONTHS.get(t.month0() as usize).unwrap_or(&"Jan");
    let mut cursor: &mut [u8] = &mut text;
    let written = write!(
        cursor,
        "{day}, {:02} {month} {:04} {:02}:{:02}:{:02} GMT",
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    );
    debug_assert!(written.is_ok() && cursor.is_empty());
    text
}
