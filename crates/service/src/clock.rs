//! One clock for every use case, injected, so tests can pin the time. The register's dates
//! ("today", effective dates, attainer checks) are UK local dates: Europe/London, with
//! British Summer Time, from the time-zone database bundled with `jiff`.

use rollguard_register::Date;
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch, UTC.
    fn now_ms(&self) -> i64;

    fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Today's date in the United Kingdom.
    fn today(&self) -> Date {
        uk_date(self.now_ms())
    }
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that says what it is told (tests, replays).
#[derive(Debug)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    pub fn at_ms(ms: i64) -> Self {
        Self(AtomicI64::new(ms))
    }

    pub fn set_ms(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn london() -> &'static jiff::tz::TimeZone {
    static ZONE: std::sync::OnceLock<jiff::tz::TimeZone> = std::sync::OnceLock::new();
    ZONE.get_or_init(|| {
        jiff::tz::TimeZone::get("Europe/London").expect("the bundled time-zone database has Europe/London")
    })
}

/// The UK civil date at `ms` since the epoch.
pub fn uk_date(ms: i64) -> Date {
    let civil = jiff::Timestamp::from_millisecond(ms)
        .map(|t| london().to_datetime(t).date())
        .unwrap_or_else(|_| jiff::civil::date(1970, 1, 1));
    let month = u8::try_from(civil.month())
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .expect("a civil month is 1 to 12");
    let day = u8::try_from(civil.day()).expect("a civil day is 1 to 31");
    Date::from_calendar_date(i32::from(civil.year()), month, day).expect("a civil date is valid")
}

/// The first instant (ms since the epoch) of UK date `date`: its midnight in Europe/London.
pub fn uk_midnight_ms(date: Date) -> i64 {
    let civil = jiff::civil::date(
        i16::try_from(date.year()).unwrap_or(1970),
        i8::try_from(u8::from(date.month())).unwrap_or(1),
        i8::try_from(date.day()).unwrap_or(1),
    );
    london()
        .to_ambiguous_timestamp(civil.to_datetime(jiff::civil::Time::midnight()))
        .compatible()
        .map(|t| t.as_millisecond())
        .unwrap_or_else(|_| date.midnight().assume_utc().unix_timestamp() * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn a_uk_day_starts_at_its_london_midnight() {
        let june = Date::from_calendar_date(2026, time::Month::June, 16).unwrap();
        assert_eq!(uk_midnight_ms(june), ms("2026-06-15T23:00:00Z"), "BST");
        let january = Date::from_calendar_date(2026, time::Month::January, 16).unwrap();
        assert_eq!(uk_midnight_ms(january), ms("2026-01-16T00:00:00Z"));
    }

    #[test]
    fn half_past_midnight_in_summer_time_is_already_the_next_day() {
        // 00:30 BST on 16 June is 23:30 UTC on 15 June.
        let c = FixedClock::at_ms(ms("2026-06-15T23:30:00Z"));
        assert_eq!(c.today(), Date::from_calendar_date(2026, time::Month::June, 16).unwrap());
        // In winter the UK keeps UTC.
        let c = FixedClock::at_ms(ms("2026-01-15T23:30:00Z"));
        assert_eq!(c.today(), Date::from_calendar_date(2026, time::Month::January, 15).unwrap());
    }
}
