//! Zone rules from the runtime: `Intl.DateTimeFormat`, backed by the ICU time zone data
//! workerd ships. The core's [`ZoneRules`] asks for one offset at a time; a formatter
//! is built once per zone (that is the costly part) and kept for the request.
//!
//! Also the zone diagnostics route, `GET /_diagnostics/zone-days`, on only with
//! `[vars.EDGEBACK.diagnostics] zone_days = true` (the end-to-end tests), which lets the
//! tests compare these days with chrono-tz's for every zone the runtime knows.

use super::{respond_json, App};
use crate::zone::{day_summary, Date, ZoneRules};
use serde_json::{json, Value};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use worker::{Response, Result};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = Intl)]
    type DateTimeFormat;

    // Throws a RangeError for a zone ICU does not know: caught, an error value.
    #[wasm_bindgen(constructor, catch, js_namespace = Intl)]
    fn new(locales: &str, options: &js_sys::Object)
        -> std::result::Result<DateTimeFormat, JsValue>;

    // Takes the instant as unix milliseconds (a number is as good as a Date here).
    #[wasm_bindgen(method, catch)]
    fn format(this: &DateTimeFormat, at_ms: f64) -> std::result::Result<String, JsValue>;

    #[wasm_bindgen(method, catch, js_name = formatToParts)]
    fn format_to_parts(
        this: &DateTimeFormat,
        at_ms: f64,
    ) -> std::result::Result<js_sys::Array, JsValue>;

    #[wasm_bindgen(catch, js_namespace = Intl, js_name = supportedValuesOf)]
    fn supported_values_of(key: &str) -> std::result::Result<js_sys::Array, JsValue>;
}

/// The six numbers a formatted instant carries, in the order the pattern prints them.
#[derive(Clone, Copy, PartialEq)]
enum Field {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

/// A formatter for one zone: `en-US`, Latin digits, Gregorian calendar, 24-hour clock,
/// every field numeric. Reading `format`'s one string is much cheaper than
/// `formatToParts`' array of objects, so the parts are read once, for the fields' order.
struct Formatter {
    format: DateTimeFormat,
    order: Vec<Field>,
}

impl Formatter {
    fn new(zone: &str) -> Option<Formatter> {
        let options = js_sys::Object::new();
        for (key, value) in [
            ("timeZone", zone),
            ("calendar", "gregory"),
            ("numberingSystem", "latn"),
            ("hourCycle", "h23"),
            ("year", "numeric"),
            ("month", "2-digit"),
            ("day", "2-digit"),
            ("hour", "2-digit"),
            ("minute", "2-digit"),
            ("second", "2-digit"),
        ] {
            js_sys::Reflect::set(&options, &key.into(), &value.into()).ok()?;
        }
        let format = DateTimeFormat::new("en-US", &options).ok()?;
        let order: Vec<Field> = format
            .format_to_parts(0.0)
            .ok()?
            .iter()
            .filter_map(|part| {
                let kind = js_sys::Reflect::get(&part, &"type".into())
                    .ok()?
                    .as_string()?;
                Some(match kind.as_str() {
                    "year" => Field::Year,
                    "month" => Field::Month,
                    "day" => Field::Day,
                    "hour" => Field::Hour,
                    "minute" => Field::Minute,
                    "second" => Field::Second,
                    _ => return None,
                })
            })
            .collect();
        (order.len() == 6).then_some(Formatter { format, order })
    }

    /// Local wall-clock time at `at_seconds` (unix seconds), as unix seconds of that
    /// reading taken as UTC.
    fn local_seconds(&self, at_seconds: i64) -> Option<i64> {
        let text = self.format.format(at_seconds as f64 * 1000.0).ok()?;
        let numbers: Vec<i64> = text
            .split(|c: char| !c.is_ascii_digit())
            .filter(|run| !run.is_empty())
            .map(|run| run.parse().ok())
            .collect::<Option<_>>()?;
        if numbers.len() != self.order.len() {
            return None;
        }
        let field = |wanted: Field| -> Option<i64> {
            let index = self.order.iter().position(|f| *f == wanted)?;
            numbers.get(index).copied()
        };
        let in_range = |wanted: Field, below: i64| field(wanted).filter(|n| (0..below).contains(n));
        let (hour, minute, second) = (
            in_range(Field::Hour, 24)?,
            in_range(Field::Minute, 60)?,
            in_range(Field::Second, 61)?,
        );
        let date = Date::from_ymd(
            field(Field::Year)?,
            u32::try_from(field(Field::Month)?).ok()?,
            u32::try_from(field(Field::Day)?).ok()?,
        )?;
        Some(date.days_since_epoch() * 86_400 + hour * 3600 + minute * 60 + second)
    }
}

/// [`ZoneRules`] answered by `Intl`, with the last zone's formatter kept.
#[derive(Default)]
pub struct IntlZones {
    last: RefCell<Option<(String, Option<Formatter>)>>,
}

impl ZoneRules for IntlZones {
    fn offset_seconds(&self, zone: &str, at_utc_ms: i64) -> Option<i32> {
        let mut last = self.last.try_borrow_mut().ok()?;
        if last.as_ref().is_none_or(|(name, _)| name != zone) {
            *last = Some((zone.to_string(), Formatter::new(zone)));
        }
        let formatter = last.as_ref()?.1.as_ref()?;
        // Offsets are whole seconds; the formatted reading has no milliseconds.
        let at_seconds = at_utc_ms.div_euclid(1000);
        let local = formatter.local_seconds(at_seconds)?;
        i32::try_from(local.checked_sub(at_seconds)?).ok()
    }
}

/// Every zone name the runtime's `Intl` lists (its canonical names).
fn runtime_zone_names() -> Vec<String> {
    supported_values_of("timeZone")
        .map(|names| names.iter().filter_map(|name| name.as_string()).collect())
        .unwrap_or_default()
}

/// Zones per request and years per zone the diagnostics route accepts: enough for the
/// cross-check in a few dozen requests, bounded so no request runs away.
const MAX_ZONES: usize = 100;
const MAX_DIAGNOSTIC_DAYS: i64 = 20 * 366;

/// `GET /_diagnostics/zone-days`: without `zones`, the zone names `Intl` lists; with
/// `zones=A,B,…&from=YYYY-MM-DD&to=YYYY-MM-DD`, each zone's [`day_summary`].
pub fn diagnostics(pairs: &[(String, String)]) -> Result<Response> {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let Some(zones) = get("zones") else {
        return respond_json(200, &json!({ "zones": runtime_zone_names() }));
    };
    let bad = |detail: &str| respond_json(400, &json!({ "ok": false, "detail": detail }));
    let (Some(from), Some(to)) = (
        get("from").and_then(Date::parse),
        get("to").and_then(Date::parse),
    ) else {
        return bad("from and to must be dates as YYYY-MM-DD");
    };
    let zones: Vec<&str> = zones.split(',').filter(|zone| !zone.is_empty()).collect();
    if zones.len() > MAX_ZONES || !(0..=MAX_DIAGNOSTIC_DAYS).contains(&to.days_after(from)) {
        return bad("at most 100 zones and 20 years, from before to");
    }
    let rules = IntlZones::default();
    let days: serde_json::Map<String, Value> = zones
        .iter()
        .map(|zone| {
            let known = crate::zone::check_zone(&rules, zone).is_ok();
            let summary = if known {
                day_summary(&rules, zone, from, to)
            } else {
                Value::Null
            };
            (zone.to_string(), summary)
        })
        .collect();
    respond_json(200, &json!({ "days": days }))
}

/// Whether the diagnostics route is switched on for this deployment.
pub fn diagnostics_enabled(app: &App) -> bool {
    app.config.diagnostics.zone_days
}
