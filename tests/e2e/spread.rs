//! Clicks over several D1 databases (issue 13, design §10 "Past one database",
//! docs/scale.md), end to end: a worker whose clicks live in three click databases apart
//! from the main one. Every conversion still ends up attributed, delivered with its
//! click's attributes, reported and listed, and every click database is purged. The
//! rest of the suite runs the same worker with one database.

use crate::attribution::{
    admin, assert_complete, click_then_postback, fifty_converted_at_once, now_ms,
};
use crate::harness::{spread_worker, Worker};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CLICK_DATABASES: [&str; 3] = ["CLICKS_0", "CLICKS_1", "CLICKS_2"];

/// The purge test deletes every click of the spread worker: the others wait for it.
static PURGE: Mutex<()> = Mutex::new(());

fn hold() -> std::sync::MutexGuard<'static, ()> {
    PURGE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Which click database holds `click_id`, waiting until one does.
fn stored_in(w: &Worker, click_id: &str) -> &'static str {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let found: Vec<&'static str> = CLICK_DATABASES
            .into_iter()
            .filter(|binding| {
                !w.query_in(
                    binding,
                    "SELECT 1 FROM clicks WHERE click_id = ?1",
                    &[&click_id],
                )
                .is_empty()
            })
            .collect();
        match found.as_slice() {
            [one] => return one,
            [] => assert!(Instant::now() < deadline, "{click_id} never stored"),
            many => panic!("{click_id} stored in {many:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn count(w: &Worker, binding: &str, sql: &str) -> i64 {
    w.query_in(binding, sql, &[])[0]["n"].as_i64().unwrap_or(-1)
}

#[test]
fn fifty_conversions_of_clicks_in_three_databases_are_complete_everywhere() {
    let _held = hold();
    let w = spread_worker();
    let attr_row = |report: &Value| {
        report["rows"]
            .as_array()
            .and_then(|rows| rows.iter().find(|row| row["campaign"] == "attr").cloned())
            .unwrap_or_else(|| serde_json::json!({ "clicks": 0, "conversions": 0 }))
    };
    let before = attr_row(&admin(w, "/api/report?group_by=campaign"));
    // The record step (one batch on the main database) cannot see any of these clicks:
    // each conversion is completed from its click's own database, whichever came first.
    let pairs = fifty_converted_at_once(w, "spread");
    let mut per_database = std::collections::BTreeMap::new();
    for (click_id, _) in &pairs {
        *per_database.entry(stored_in(w, click_id)).or_insert(0) += 1;
    }
    eprintln!("[spread] clicks per database: {per_database:?}");
    assert_eq!(
        per_database.len(),
        3,
        "every database holds some: {per_database:?}"
    );
    assert_eq!(count(w, "DB", "SELECT COUNT(*) AS n FROM clicks"), 0);
    assert_eq!(count(w, "DB", "SELECT COUNT(*) AS n FROM click_rollup"), 0);
    // The report adds the click figures of every database.
    let row = attr_row(&admin(w, "/api/report?group_by=campaign"));
    let added = |name: &str| row[name].as_i64().unwrap_or(0) - before[name].as_i64().unwrap_or(0);
    assert_eq!(added("clicks"), 50, "{row}");
    assert_eq!(added("conversions"), 50, "{row}");

    // The click list merges the databases newest first, page by page, none twice.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/clicks?campaign=attr&limit=20&cursor={cursor}"),
            None => "/api/clicks?campaign=attr&limit=20".to_string(),
        };
        let page = admin(w, &path);
        let items = page["items"].as_array().expect("items").clone();
        assert!(items.len() <= 20);
        seen.extend(
            items
                .iter()
                .filter_map(|i| i["click_id"].as_str().map(str::to_string)),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let mut newest_first = seen.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, newest_first, "newest first");
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no click listed twice");
    let missing: Vec<&String> = pairs
        .iter()
        .map(|(click_id, _)| click_id)
        .filter(|click_id| !unique.contains(click_id))
        .collect();
    assert!(missing.is_empty(), "not listed: {missing:?}");

    // A click is found in its own database.
    for (click_id, _) in pairs.iter().take(5) {
        let click = admin(w, &format!("/api/clicks/{click_id}"))["click"].clone();
        assert_eq!(click["click_id"], click_id.as_str());
        assert_eq!(click["campaign"], "attr");
    }
}

#[test]
fn a_conversion_the_completions_missed_is_completed_by_the_cron() {
    let _held = hold();
    let w = spread_worker();
    // Completions fail while this trigger is in the main database: the click batch's and
    // the one after the record step both miss the conversion.
    w.execute(
        "CREATE TRIGGER e2e_no_completion BEFORE UPDATE OF attributed_at ON conversions \
         BEGIN SELECT RAISE(ABORT, 'injected completion failure'); END",
    );
    let (click_id, conversion_id) = click_then_postback(w, "attr", 900, "missed");
    let database = stored_in(w, &click_id);
    // Past every retry of the click write (0.25 + 1 + 3 + 8 s): the click row is stored,
    // the completions all failed, and nothing but the cron is left to complete it.
    std::thread::sleep(Duration::from_secs(14));
    let conversion = admin(w, &format!("/api/conversions/{conversion_id}"))["conversion"].clone();
    w.execute("DROP TRIGGER e2e_no_completion");
    assert_eq!(conversion["attributed"], false, "{conversion}");
    // The cron reads the waiting conversion's click from its database and completes it.
    assert_eq!(w.trigger_cron().status, 200);
    assert_complete(
        w,
        "attr",
        &(click_id, conversion_id),
        900,
        "missed",
        "3.500000",
        "GBP",
    );
    eprintln!("[spread] completed by the cron from {database}");
}

#[test]
fn the_cron_purges_every_click_database() {
    let _held = hold();
    let w = spread_worker();
    let ids: Vec<String> = (0..12)
        .map(|n| w.click_only("attr", &format!("zoneid=purge-{n}"), "192.0.2.150"))
        .collect();
    for id in &ids {
        stored_in(w, id);
    }
    let total = |w: &Worker| -> i64 {
        CLICK_DATABASES
            .iter()
            .map(|binding| count(w, binding, "SELECT COUNT(*) AS n FROM clicks"))
            .sum()
    };
    assert!(total(w) >= 12);
    let report_before = admin(w, "/api/report?group_by=campaign");
    // A run scheduled past the retention (90 days) of every click made so far.
    let later = now_ms() + 91 * 86_400_000;
    for _ in 0..5 {
        assert_eq!(w.trigger_cron_at("* * * * *", Some(later)).status, 200);
        if total(w) == 0 {
            break;
        }
    }
    assert_eq!(total(w), 0, "every click database purged");
    // Purging clicks changes no report figure: the pre-aggregates stay.
    let report_after = admin(w, "/api/report?group_by=campaign");
    assert_eq!(clicks_of(&report_before), clicks_of(&report_after));
}

fn clicks_of(report: &Value) -> Vec<(Value, Value)> {
    report["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|row| (row["campaign"].clone(), row["clicks"].clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_refusal_naming_a_click_in_a_click_database_counts_under_its_campaign() {
    let w = spread_worker();
    let click_id = w.click_only("pb-only-tune", "", "192.0.2.151");
    stored_in(w, &click_id);
    let refused = w.get(
        &format!("/postback/generic?clickid={click_id}&txid=spread-refused"),
        &[],
    );
    refused.assert_outcome(400, "invalid_click_id", 0);
    // Counted after the response, from the click read in its own database.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let report = admin(w, "/api/report?group_by=campaign");
        let row = report["rows"].as_array().and_then(|rows| {
            rows.iter()
                .find(|row| row["campaign"] == "pb-only-tune")
                .cloned()
        });
        if let Some(row) = row.filter(|row| row["refused_postbacks"]["invalid_click_id"] == 1) {
            assert_eq!(row["clicks"], 1, "{row}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never counted under its click: {report}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The clicks of campaign `attr` on the report's day `label`, and its bot clicks.
fn attr_day(report: &Value, label: &str) -> (i64, i64) {
    report["rows"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|row| row["campaign"] == "attr" && row["day"] == label)
        })
        .map(|row| {
            (
                row["clicks"].as_i64().unwrap_or(-1),
                row["bot_clicks"].as_i64().unwrap_or(-1),
            )
        })
        .unwrap_or((0, 0))
}

#[test]
fn every_click_database_sums_its_ended_day_and_no_report_figure_changes() {
    let _held = hold();
    let w = spread_worker();
    const DAY_MS: u64 = 86_400_000;
    let ids: Vec<String> = (0..12)
        .map(|n| w.click_only("attr", &format!("zoneid=daily-{n}"), "192.0.2.151"))
        .collect();
    for id in &ids {
        stored_in(w, id);
    }
    let today_start = now_ms() / DAY_MS * DAY_MS;
    let report = |w: &Worker| admin(w, "/api/report?group_by=day,campaign");
    let before = report(w);
    let label = before["to"].as_str().expect("to").to_string();
    let (clicks_before, _) = attr_day(&before, &label);
    assert!(clicks_before >= 12, "{before}");

    // A run scheduled just after the configured zone's (UTC) midnight: today has ended
    // for it, and each database sums it from its 15-minute buckets.
    let tomorrow = today_start + DAY_MS + 60_000;
    assert_eq!(w.trigger_cron_at("* * * * *", Some(tomorrow)).status, 200);
    let mut summed = 0;
    for binding in CLICK_DATABASES {
        let day = w.query_in(
            binding,
            "SELECT end_ms FROM click_days WHERE start_ms = ?1",
            &[&(today_start as i64)],
        );
        assert_eq!(day.len(), 1, "{binding}: {day:?}");
        assert_eq!(day[0]["end_ms"], (today_start + DAY_MS) as i64);
        let quarter_hours = count(
            w,
            binding,
            &format!(
                "SELECT COALESCE(SUM(clicks), 0) AS n FROM click_rollup WHERE campaign = 'attr' \
                 AND bucket >= {today_start} AND bucket < {}",
                today_start + DAY_MS
            ),
        );
        let daily = count(
            w,
            binding,
            &format!(
                "SELECT COALESCE(SUM(clicks), 0) AS n FROM click_day_rollup \
                 WHERE campaign = 'attr' AND day = {today_start}"
            ),
        );
        assert_eq!(daily, quarter_hours, "{binding}");
        summed += daily;
    }
    assert_eq!(summed, clicks_before);
    assert_eq!(attr_day(&report(w), &label), attr_day(&before, &label));

    // A click stored after its day was summed counts in the daily figures as well.
    let late = w.click_only("attr", "zoneid=daily-late", "192.0.2.151");
    let database = stored_in(w, &late);
    let daily_late = count(
        w,
        database,
        &format!(
            "SELECT COALESCE(SUM(clicks), 0) AS n FROM click_day_rollup \
             WHERE campaign = 'attr' AND day = {today_start} AND sub1 = 'daily-late'"
        ),
    );
    assert_eq!(daily_late, 1);
    assert_eq!(attr_day(&report(w), &label).0, clicks_before + 1);
}
