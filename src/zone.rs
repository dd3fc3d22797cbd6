//! Local days in IANA time zones, from any source of zone rules.
//!
//! The report cuts days at local midnight (design §9). The rules of the zones themselves
//! (the IANA database) are not compiled in: the Workers runtime has them already, in
//! ICU behind `Intl.DateTimeFormat`, and a copy in the wasm would triple its size
//! (design §13, issue 14). So the core asks a [`ZoneRules`] for one thing, the offset of a
//! zone at an instant, and works out local dates and midnights from that: the adapter
//! answers with `Intl` (`src/runtime/zones.rs`), native code (tests, the command-line
//! tools) with `chrono-tz` ([`tzdb::Tzdb`]).

use std::fmt;

/// Milliseconds per day.
const DAY_MS: i64 = 86_400_000;
/// No zone is, or ever was, further than this from UTC; an answer beyond it is junk.
const MAX_OFFSET_SECONDS: i32 = 18 * 3600;

/// A source of time zone rules.
pub trait ZoneRules {
    /// The offset of local time from UTC (local − UTC, in seconds) in `zone` at the
    /// instant `at_utc_ms`, or `None` when the zone is not known (or the instant is
    /// outside what the source can answer for).
    fn offset_seconds(&self, zone: &str, at_utc_ms: i64) -> Option<i32>;
}

/// A calendar day of the proleptic Gregorian calendar, years 0 to 9999 (what `YYYY-MM-DD`
/// can say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Days since 1970-01-01.
    days: i64,
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_index = (month + 9) % 12; // March = 0
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a day count (H. Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both are in range by construction (1..=12, 1..=31).
    (year, month as u32, day as u32)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        _ => 28,
    }
}

impl Date {
    pub const MIN_YEAR: i64 = 0;
    pub const MAX_YEAR: i64 = 9999;

    /// The date, if it exists and its year is within 0..=9999.
    pub fn from_ymd(year: i64, month: u32, day: u32) -> Option<Date> {
        let valid = (Self::MIN_YEAR..=Self::MAX_YEAR).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        valid.then(|| Date {
            days: days_from_civil(year, i64::from(month), i64::from(day)),
        })
    }

    /// Parses exactly `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
            return None;
        }
        let number = |range: std::ops::Range<usize>| -> Option<u32> {
            let digits = text.get(range)?;
            digits
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| digits.parse().ok())
                .flatten()
        };
        Date::from_ymd(i64::from(number(0..4)?), number(5..7)?, number(8..10)?)
    }

    /// The UTC calendar day of an instant (unix milliseconds).
    pub fn from_unix_ms(ms: i64) -> Option<Date> {
        let date = Date {
            days: ms.div_euclid(DAY_MS),
        };
        (Self::MIN_YEAR..=Self::MAX_YEAR)
            .contains(&date.year())
            .then_some(date)
    }

    /// Year, month (1-12), day (1-31).
    pub fn ymd(self) -> (i64, u32, u32) {
        civil_from_days(self.days)
    }

    fn year(self) -> i64 {
        self.ymd().0
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        self.days
    }

    /// `days` days later (or earlier, when negative), within 0..=9999.
    pub fn add_days(self, days: i64) -> Option<Date> {
        let date = Date {
            days: self.days.checked_add(days)?,
        };
        (Self::MIN_YEAR..=Self::MAX_YEAR)
            .contains(&date.year())
            .then_some(date)
    }

    /// Days from `other` to `self`.
    pub fn days_after(self, other: Date) -> i64 {
        self.days - other.days
    }

    /// Midnight starting this day as if the local clock were UTC, in milliseconds: the
    /// local wall-clock reading the zone arithmetic below looks for.
    fn wall_ms(self) -> i64 {
        self.days * DAY_MS
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = self.ymd();
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

/// Whether `name` looks like an IANA zone name (`Europe/Berlin`, `America/Argentina/Salta`,
/// `Etc/GMT+5`, `UTC`): what the core can check without the zone database. Whether the
/// zone exists is for a [`ZoneRules`] to say ([`check_zone`]).
pub fn is_zone_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.split('/').all(|part| {
            part.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+'))
        })
}

/// `Ok` when `name` is a well-formed zone name that `rules` knows.
pub fn check_zone(rules: &dyn ZoneRules, name: &str) -> Result<(), String> {
    if is_zone_name(name) && rules.offset_seconds(name, 0).is_some() {
        Ok(())
    } else {
        Err(format!("{name:?} is not an IANA time zone name"))
    }
}

/// How many answers [`ZoneOffsets`] remembers.
const REMEMBERED: usize = 8;

/// Offsets of one zone, the last few remembered: consecutive local midnights ask for the
/// same instants (midnight of day d + 1 day = midnight of day d + 1), and each answer
/// from `Intl` costs a call into JavaScript.
pub struct ZoneOffsets<'a> {
    rules: &'a dyn ZoneRules,
    zone: &'a str,
    known: [(i64, Option<i32>); REMEMBERED],
    next: usize,
}

impl<'a> ZoneOffsets<'a> {
    pub fn new(rules: &'a dyn ZoneRules, zone: &'a str) -> Self {
        ZoneOffsets {
            rules,
            zone,
            // An instant no one asks about (before year 0), so every slot starts empty.
            known: [(i64::MIN, None); REMEMBERED],
            next: 0,
        }
    }

    /// The offset in milliseconds at `at_utc_ms`.
    fn offset_ms(&mut self, at_utc_ms: i64) -> Option<i64> {
        let seconds = match self.known.iter().find(|(at, _)| *at == at_utc_ms) {
            Some((_, seconds)) => *seconds,
            None => {
                let seconds = self.rules.offset_seconds(self.zone, at_utc_ms);
                if let Some(slot) = self.known.get_mut(self.next) {
                    *slot = (at_utc_ms, seconds);
                }
                self.next = (self.next + 1) % REMEMBERED;
                seconds
            }
        };
        seconds
            .filter(|s| s.abs() <= MAX_OFFSET_SECONDS)
            .map(|s| i64::from(s) * 1000)
    }

    /// The local calendar day at `at_utc_ms`.
    pub fn local_date(&mut self, at_utc_ms: i64) -> Option<Date> {
        let offset = self.offset_ms(at_utc_ms)?;
        Date::from_unix_ms(at_utc_ms.checked_add(offset)?)
    }

    /// The UTC instant (unix milliseconds) at which local day `date` starts: the first
    /// instant whose local time is 00:00 of that day or later. Where the clocks fall back
    /// across midnight, that is the first of the two midnights; where they jump over
    /// midnight (a DST gap at 00:00), the instant of the jump.
    pub fn local_midnight_ms(&mut self, date: Date) -> Option<i64> {
        let wall = date.wall_ms();
        // Any instant whose local time is `wall` lies within 18 hours of it, so the
        // offsets in force a day before and a day after are the ones to try, with the
        // offsets found at the first guesses (should two changes fall within two days).
        let before = self.offset_ms(wall - DAY_MS)?;
        let after = self.offset_ms(wall + DAY_MS)?;
        let mut candidates = [
            before,
            after,
            self.offset_ms(wall - before)?,
            self.offset_ms(wall - after)?,
        ];
        // The largest offset gives the earliest instant.
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        for &offset in &candidates {
            let instant = wall - offset;
            if self.offset_ms(instant)? == offset {
                return Some(instant);
            }
        }
        // Local midnight does not exist: the clocks jump over it. The day starts at the
        // jump, the first instant whose local time is past midnight; it lies between the
        // readings of the smallest and the largest offset. Offsets change on whole
        // seconds, so the search runs over seconds.
        let (&largest, &smallest) = (candidates.first()?, candidates.last()?);
        let (mut low, mut high) = ((wall - largest) / 1000, (wall - smallest) / 1000);
        // Invariant: local time at `low` is before midnight, at `high` it is not.
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            if middle * 1000 + self.offset_ms(middle * 1000)? >= wall {
                high = middle;
            } else {
                low = middle;
            }
        }
        Some(high * 1000)
    }

    /// `[label, start_ms, end_ms)` for each local day from `from` to `to` inclusive.
    pub fn day_windows(&mut self, from: Date, to: Date) -> Vec<(String, i64, i64)> {
        let mut windows = Vec::new();
        let mut day = from;
        let mut start = self.local_midnight_ms(day);
        while day <= to {
            let Some(next) = day.add_days(1) else {
                break;
            };
            let end = self.local_midnight_ms(next);
            // A day its zone skipped (Samoa's 2011-12-30) starts where the next one does:
            // it has no window, and the day before runs to the next midnight.
            match (start, end) {
                (Some(start), Some(end)) if start < end => {
                    windows.push((day.to_string(), start, end));
                }
                _ => {}
            }
            (day, start) = (next, end);
        }
        windows
    }
}

/// `[start_ms, end_ms)` of the last `count` local days of `zone` that ended at or before
/// `now_ms`, oldest first: the days the cron may sum into daily click figures (the
/// report's windows for the same days are these exact pairs).
pub fn ended_days(rules: &dyn ZoneRules, zone: &str, now_ms: i64, count: u32) -> Vec<(i64, i64)> {
    let mut offsets = ZoneOffsets::new(rules, zone);
    let Some(today) = offsets.local_date(now_ms) else {
        return Vec::new();
    };
    let Some(first) = today.add_days(-i64::from(count)) else {
        return Vec::new();
    };
    offsets
        .day_windows(first, today)
        .into_iter()
        .filter(|(_, _, end)| *end <= now_ms)
        .map(|(_, start, end)| (start, end))
        .collect()
}

/// The days of `zone` from `from` to `to` in a compact form that still fixes every
/// boundary: the start of the first day, the number of days, and each day that is not
/// 24 hours long as `[label, start_ms, end_ms]`. The diagnostics route answers this, so
/// the end-to-end tests can compare the worker's days (`Intl`) with chrono-tz's for every
/// zone over years without megabytes of 24-hour days (tests/e2e/zones.rs).
pub fn day_summary(rules: &dyn ZoneRules, zone: &str, from: Date, to: Date) -> serde_json::Value {
    let windows = ZoneOffsets::new(rules, zone).day_windows(from, to);
    let odd: Vec<serde_json::Value> = windows
        .iter()
        .filter(|(_, start, end)| end - start != DAY_MS)
        .map(|(label, start, end)| serde_json::json!([label, start, end]))
        .collect();
    serde_json::json!({
        "first": windows.first().map(|(_, start, _)| *start),
        "days": windows.len(),
        "odd": odd,
    })
}

#[cfg(not(target_arch = "wasm32"))]
pub mod tzdb;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
