//! The worker's local days against chrono-tz's: the worker takes zone rules from the
//! runtime (`Intl` in workerd, src/runtime/zones.rs) and has no zone database of its
//! own, so this checks, for every zone the runtime lists and the odd ones the report must
//! get right, every local midnight from 2020 to 2030 against an independent computation
//! with chrono-tz (the first existing local hour of each day, the earlier where it
//! repeats: how the report cut days before issue 14).

use crate::harness::{worker, ADMIN_TOKEN};
use chrono::{NaiveDate, TimeZone};
use serde_json::{json, Value};

const FROM: &str = "2020-01-01";
const TO: &str = "2030-12-31";
/// Zones per request: a request computes 11 years of days for each.
const BATCH: usize = 40;
/// Half-hour and 45-minute offsets, half-hour DST, and DST changes over midnight.
const MUST_CHECK: &[&str] = &[
    "Asia/Kathmandu",
    "Australia/Eucla",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "America/Havana",
    "America/Santiago",
    "Asia/Beirut",
    "Europe/Berlin",
    "America/New_York",
    "Pacific/Apia",
    "Pacific/Kiritimati",
    "Etc/GMT+12",
    "UTC",
];

fn chrono_midnight(tz: chrono_tz::Tz, date: NaiveDate) -> Option<i64> {
    (0..24).find_map(|hour| {
        tz.from_local_datetime(&date.and_hms_opt(hour, 0, 0)?)
            .earliest()
            .map(|t| t.timestamp_millis())
    })
}

/// What `edgeback::zone::day_summary` answers, computed with chrono-tz alone.
fn expected_summary(tz: chrono_tz::Tz) -> Value {
    let from = NaiveDate::parse_from_str(FROM, "%Y-%m-%d").unwrap();
    let to = NaiveDate::parse_from_str(TO, "%Y-%m-%d").unwrap();
    let (mut first, mut days, mut odd) = (None, 0, Vec::new());
    let mut date = from;
    let mut start = chrono_midnight(tz, date);
    while date <= to {
        let next = date.succ_opt().unwrap();
        let end = chrono_midnight(tz, next);
        if let (Some(start), Some(end)) = (start, end) {
            first = first.or(Some(start));
            days += 1;
            if end - start != 86_400_000 {
                odd.push(json!([date.format("%Y-%m-%d").to_string(), start, end]));
            }
        }
        (date, start) = (next, end);
    }
    json!({ "first": first, "days": days, "odd": odd })
}

#[test]
fn local_days_from_intl_match_chrono_tz_for_every_zone_from_2020_to_2030() {
    let w = worker();
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let headers = [("authorization", auth.as_str())];
    let listed = w.get("/_diagnostics/zone-days", &headers);
    assert_eq!(listed.status, 200, "{}", listed.body);
    let mut zones: Vec<String> = listed.json()["zones"]
        .as_array()
        .expect("zones")
        .iter()
        .filter_map(|zone| zone.as_str().map(str::to_string))
        .collect();
    assert!(zones.len() > 300, "the runtime lists {} zones", zones.len());
    zones.extend(MUST_CHECK.iter().map(|zone| zone.to_string()));
    zones.sort();
    zones.dedup();

    let started = std::time::Instant::now();
    let mut mismatches = Vec::new();
    let mut unknown_to_chrono_tz = Vec::new();
    for batch in zones.chunks(BATCH) {
        let list: Vec<String> = batch
            .iter()
            .map(|zone| url::form_urlencoded::byte_serialize(zone.as_bytes()).collect())
            .collect();
        let reply = w.get(
            &format!(
                "/_diagnostics/zone-days?from={FROM}&to={TO}&zones={}",
                list.join(",")
            ),
            &headers,
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        let days = reply.json()["days"].clone();
        for zone in batch {
            let ours = &days[zone.as_str()];
            assert!(
                !ours.is_null(),
                "the runtime does not know {zone}, which it listed"
            );
            let Ok(tz) = zone.parse::<chrono_tz::Tz>() else {
                unknown_to_chrono_tz.push(zone.clone());
                continue;
            };
            let expected = expected_summary(tz);
            if *ours != expected {
                mismatches.push(format!(
                    "{zone}:\n  worker    {ours}\n  chrono-tz {expected}"
                ));
            }
        }
    }
    eprintln!(
        "[zones] {} zones, {FROM} to {TO}, checked in {:.1} s",
        zones.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        unknown_to_chrono_tz.is_empty(),
        "zones the runtime knows and chrono-tz does not: {unknown_to_chrono_tz:?}"
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} zones differ:\n{}",
        mismatches.len(),
        zones.len(),
        mismatches.join("\n")
    );
}

#[test]
fn the_zone_route_needs_the_admin_token_and_bounds_its_work() {
    let w = worker();
    let auth = format!("Bearer {ADMIN_TOKEN}");
    assert_eq!(w.get("/_diagnostics/zone-days", &[]).status, 404);
    let too_long = w.get(
        "/_diagnostics/zone-days?from=2000-01-01&to=2030-12-31&zones=UTC",
        &[("authorization", &auth)],
    );
    assert_eq!(too_long.status, 400, "{}", too_long.body);
    let unknown = w.get(
        "/_diagnostics/zone-days?from=2025-01-01&to=2025-01-02&zones=Mars/Olympus",
        &[("authorization", &auth)],
    );
    assert_eq!(unknown.json()["days"]["Mars/Olympus"], Value::Null);
}
