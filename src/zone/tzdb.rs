//! [`ZoneRules`] from `chrono-tz` (the IANA database compiled in), for native code only:
//! the unit tests, the command-line tools (`check-config` validates `timezone` with it)
//! and the end-to-end test that checks the worker's `Intl` answers against it. The
//! worker never links it (design §13: it would triple the wasm).

use super::ZoneRules;
use chrono::{Offset, TimeZone};
use chrono_tz::Tz;

/// The zone rules of the `chrono-tz` crate.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tzdb;

impl ZoneRules for Tzdb {
    fn offset_seconds(&self, zone: &str, at_utc_ms: i64) -> Option<i32> {
        let tz: Tz = zone.parse().ok()?;
        let instant = tz.timestamp_millis_opt(at_utc_ms).single()?;
        Some(instant.offset().fix().local_minus_utc())
    }
}

/// Every zone name `chrono-tz` knows, links included.
pub fn zone_names() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())
}
