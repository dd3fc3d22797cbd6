//! The store's statements run on SQLite (the engine under D1) with the real migrations.

use super::*;
use crate::click::ClickRecord;
use crate::click_id::ClickSecrets;
use crate::config::Config;
use crate::postback::{evaluate, ConversionDraft};
use rusqlite::{types::Value, Connection};

const NOW: u64 = 1_790_000_000_000;
/// Destinations pause after five days of failures (the default).
const PAUSE: u64 = 5 * 86_400_000;

fn database() -> Connection {
    let connection = Connection::open_in_memory().unwrap();
    for (_, sql) in MIGRATIONS {
        connection.execute_batch(sql).unwrap();
    }
    connection
}

/// One click row, as the click path writes it (via `click_row` and `store_clicks`).
fn insert_click(
    record: &ClickRecord,
    payout_micros: Option<i64>,
    currency: Option<&str>,
) -> Vec<Statement> {
    store_clicks(&[click_row(record, payout_micros, currency, false)], NOW)
}

fn bind(statement: &Statement) -> Vec<Value> {
    statement
        .params
        .iter()
        .map(|value| match value {
            SqlValue::Null => Value::Null,
            SqlValue::Integer(n) => Value::Integer(*n),
            SqlValue::Text(s) => Value::Text(s.clone()),
        })
        .collect()
}

/// Runs a batch in one transaction, as D1 does; returns the last statement's rows.
fn run_batch(connection: &mut Connection, statements: &[Statement]) -> Vec<serde_json::Value> {
    let transaction = connection.transaction().unwrap();
    let mut rows_out = Vec::new();
    for statement in statements {
        let mut prepared = transaction.prepare(statement.sql).unwrap();
        rows_out = rows_as_json(&mut prepared, rusqlite::params_from_iter(bind(statement)));
    }
    transaction.commit().unwrap();
    rows_out
}

/// The rows a prepared statement returns, as JSON objects named by column.
fn rows_as_json(
    prepared: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> Vec<serde_json::Value> {
    let names: Vec<String> = prepared
        .column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut rows = prepared.query(params).unwrap();
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        let mut object = serde_json::Map::new();
        for (index, name) in names.iter().enumerate() {
            let value: Value = row.get(index).unwrap();
            object.insert(
                name.clone(),
                match value {
                    Value::Null => serde_json::Value::Null,
                    Value::Integer(n) => n.into(),
                    Value::Text(s) => s.into(),
                    other => panic!("{other:?}"),
                },
            );
        }
        out.push(serde_json::Value::Object(object));
    }
    out
}

fn secrets() -> ClickSecrets {
    ClickSecrets::new("test-click-secret-0123456789", None).unwrap()
}

fn click(id: &str) -> ClickRecord {
    ClickRecord {
        click_id: id.into(),
        campaign: "summer".into(),
        created_at_ms: NOW - 1000,
        subs: Default::default(),
        external_id: Some("ext".into()),
        country: Some("DE".into()),
        asn: Some(13335),
        colo: Some("FRA".into()),
        user_agent: Some("Mozilla".into()),
        ip_hash: Some("00".repeat(16)),
        bot_reason: None,
        rule: Some("dach".into()),
        offer: Some("offer-a".into()),
        lander: Some("quiz".into()),
        landed_at_ms: None,
        region: Some("BY".into()),
        agent: crate::user_agent::classify(Some("Mozilla")),
    }
}

fn draft(click_id: &str, txid: &str, payout: &str, conversion_id: &str) -> ConversionDraft {
    let config = Config::from_json(serde_json::json!({ "networks": { "generic": {} } })).unwrap();
    let mut params = vec![
        ("clickid".to_string(), click_id.to_string()),
        ("txid".to_string(), txid.to_string()),
    ];
    if !payout.is_empty() {
        params.push(("payout".to_string(), payout.to_string()));
    }
    evaluate(
        &config.networks["generic"],
        &secrets(),
        "USD",
        &params,
        NOW,
        conversion_id.into(),
    )
    .unwrap()
}

fn log(id: &str) -> LogEntry {
    LogEntry {
        postback_id: id.into(),
        received_at_ms: NOW,
        network: Some("generic".into()),
        source_ip: Some("203.0.113.9".into()),
        method: "GET".into(),
        params: "[]".into(),
        detail: None,
        click_id: None,
    }
}

fn count(connection: &Connection, sql: &str) -> i64 {
    connection.query_row(sql, [], |row| row.get(0)).unwrap()
}

#[test]
fn a_new_conversion_takes_the_clicks_campaign_payout_and_currency() {
    let mut db = database();
    let click_id = secrets().mint(NOW - 1000, [1; 7]).unwrap();
    run_batch(
        &mut db,
        &insert_click(&click(&click_id), Some(2_500_000), Some("EUR")),
    );
    let rows = run_batch(
        &mut db,
        &record_conversion(
            &draft(&click_id, "T1", "", "cv1"),
            &log("pb1"),
            &ReplayClaim::default(),
        ),
    );
    let recorded = RecordedConversion::from_row(&rows[0]).unwrap();
    assert_eq!(recorded.outcome, "accepted");
    let conversion = recorded.conversion.unwrap();
    assert_eq!(conversion.campaign.as_deref(), Some("summer"));
    assert_eq!(conversion.payout_micros, 2_500_000);
    assert_eq!(conversion.currency, "EUR");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM conversion_history"), 1);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM postback_log WHERE outcome = 'accepted' AND conversion_id = 'cv1'"),
        1
    );
}

#[test]
fn the_same_key_again_is_a_duplicate_of_the_first() {
    let mut db = database();
    let click_id = secrets().mint(NOW - 1000, [2; 7]).unwrap();
    run_batch(
        &mut db,
        &record_conversion(
            &draft(&click_id, "T1", "5", "cv1"),
            &log("pb1"),
            &ReplayClaim::default(),
        ),
    );
    let rows = run_batch(
        &mut db,
        &record_conversion(
            &draft(&click_id, "T1", "5", "cv2"),
            &log("pb2"),
            &ReplayClaim::default(),
        ),
    );
    let recorded = RecordedConversion::from_row(&rows[0]).unwrap();
    assert_eq!(recorded.outcome, "duplicate");
    assert_eq!(recorded.conversion.unwrap().conversion_id, "cv1");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM conversions"), 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM conversion_history"), 1);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM postback_log WHERE outcome = 'duplicate' AND conversion_id = 'cv1'"),
        1
    );
    // Another transaction ID on the same click is another conversion.
    let rows = run_batch(
        &mut db,
        &record_conversion(
            &draft(&click_id, "T2", "5", "cv3"),
            &log("pb3"),
            &ReplayClaim::default(),
        ),
    );
    assert_eq!(rows[0]["outcome"], "accepted");
}

#[test]
fn a_conversion_without_its_click_row_still_records_with_defaults() {
    let mut db = database();
    let click_id = secrets().mint(NOW - 1000, [3; 7]).unwrap();
    let rows = run_batch(
        &mut db,
        &record_conversion(
            &draft(&click_id, "T1", "", "cv1"),
            &log("pb1"),
            &ReplayClaim::default(),
        ),
    );
    assert_eq!(rows[0]["outcome"], "accepted");
    assert_eq!(rows[0]["campaign"], serde_json::Value::Null);
    assert_eq!(rows[0]["payout_micros"], 0);
    assert_eq!(rows[0]["currency"], "USD");
}

#[test]
fn list_pages_newest_first() {
    let mut db = database();
    for n in 0..5u8 {
        let click_id = secrets().mint(NOW - 1000, [n; 7]).unwrap();
        let id = format!("cv{n}");
        let txid = format!("T{n}");
        run_batch(
            &mut db,
            &record_conversion(
                &draft(&click_id, &txid, "1", &id),
                &log(&format!("pb{n}")),
                &ReplayClaim::default(),
            ),
        );
    }
    let filter = ConversionFilter::default();
    let page = run_batch(&mut db, &[list_conversions(&filter, None, 2)]);
    let ids: Vec<_> = page
        .iter()
        .map(|row| row["conversion_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["cv4", "cv3", "cv2"]);
    let page = run_batch(&mut db, &[list_conversions(&filter, Some("cv3"), 2)]);
    assert_eq!(page.len(), 3);
    assert_eq!(page[0]["conversion_id"], "cv2");
    let filtered = ConversionFilter {
        status: Some("rejected".into()),
        ..Default::default()
    };
    assert!(run_batch(&mut db, &[list_conversions(&filtered, None, 10)]).is_empty());
}

#[test]
fn conversions_filter_by_network_event_and_sub_ids() {
    let mut db = database();
    for n in 0..3u8 {
        let click_id = secrets().mint(NOW - 1000, [n + 80; 7]).unwrap();
        let mut record = click(&click_id);
        record.subs[0] = Some(format!("zone{}", n % 2));
        record.subs[9] = Some("last".into());
        run_batch(&mut db, &insert_click(&record, None, None));
        run_batch(
            &mut db,
            &record_conversion(
                &draft(&click_id, &format!("F{n}"), "1", &format!("cf{n}")),
                &log(&format!("pf{n}")),
                &ReplayClaim::default(),
            ),
        );
    }
    let mut ids = |filter: &ConversionFilter| -> Vec<String> {
        column(&mut db, list_conversions(filter, None, 10), "conversion_id")
    };
    let mut filter = ConversionFilter::default();
    filter.sub.sub1 = Some("zone0".into());
    assert_eq!(ids(&filter), ["cf2", "cf0"]);
    filter.sub.sub10 = Some("last".into());
    assert_eq!(ids(&filter), ["cf2", "cf0"]);
    filter.sub.sub10 = Some("other".into());
    assert!(ids(&filter).is_empty());
    let by_network = ConversionFilter {
        network: Some("generic".into()),
        event: Some("conversion".into()),
        ..Default::default()
    };
    assert_eq!(ids(&by_network).len(), 3);
    let elsewhere = ConversionFilter {
        network: Some("tune".into()),
        ..Default::default()
    };
    assert!(ids(&elsewhere).is_empty());
}

/// One column of a read's rows, as text.
fn column(db: &mut Connection, statement: Statement, name: &str) -> Vec<String> {
    run_batch(db, &[statement])
        .iter()
        .map(|row| row[name].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn clicks_list_as_a_key_range_newest_first_with_filters() {
    let mut db = database();
    // Clicks 10 minutes apart, going back 50 minutes; odd ones are bots from FR.
    let mut ids = Vec::new();
    for n in 0..6u8 {
        let at = NOW - u64::from(n) * 600_000;
        let click_id = secrets().mint(at, [n + 40; 7]).unwrap();
        let mut record = click(&click_id);
        record.created_at_ms = at;
        record.subs[1] = Some(format!("s{}", n % 3));
        if n % 2 == 1 {
            record.country = Some("FR".into());
            record.bot_reason = Some("user_agent".into());
        }
        run_batch(&mut db, &insert_click(&record, None, None));
        ids.push(click_id);
    }
    let mut list = |filter: &ClickFilter, cursor: Option<&str>, limit: u32| -> Vec<String> {
        column(&mut db, list_clicks(filter, cursor, limit), "click_id")
    };
    let all = ClickFilter {
        since_ms: (NOW - 3_600_000) as i64,
        ..Default::default()
    };
    assert_eq!(list(&all, None, 10), ids, "newest first");
    assert_eq!(list(&all, None, 2).len(), 3, "one more than the limit");
    assert_eq!(list(&all, Some(&ids[1].to_uppercase()), 10), ids[2..]);
    // `since` bounds the range: clicks 25 minutes old or newer.
    let recent = ClickFilter {
        since_ms: (NOW - 1_500_000) as i64,
        ..Default::default()
    };
    assert_eq!(list(&recent, None, 10), ids[..3]);
    let bots = ClickFilter {
        bot: Some(true),
        country: Some("FR".into()),
        ..all.clone()
    };
    assert_eq!(
        list(&bots, None, 10),
        [ids[1].clone(), ids[3].clone(), ids[5].clone()]
    );
    let humans = ClickFilter {
        bot: Some(false),
        ..all.clone()
    };
    assert_eq!(
        list(&humans, None, 10),
        [ids[0].clone(), ids[2].clone(), ids[4].clone()]
    );
    let mut by_sub = ClickFilter {
        campaign: Some("summer".into()),
        ..all.clone()
    };
    by_sub.sub.sub2 = Some("s1".into());
    assert_eq!(list(&by_sub, None, 10), [ids[1].clone(), ids[4].clone()]);
    by_sub.campaign = Some("winter".into());
    assert!(list(&by_sub, None, 10).is_empty());
    // Rows deserialize into the typed view.
    let rows = run_batch(&mut db, &[list_clicks(&all, None, 1)]);
    let view: ClickView = crate::store::from_value(&rows[0]).unwrap();
    assert_eq!(view.click_id, ids[0]);
}

#[test]
fn test_postbacks_are_left_out_of_the_log_unless_asked_for() {
    let mut db = database();
    run_batch(&mut db, &log_refusal(&log("pt0"), "bad_token", None));
    let mut test_log = log("pt1");
    test_log.network = Some("generic".into());
    run_batch(&mut db, &log_refusal(&test_log, "bad_token", None));
    db.execute(
        "UPDATE postback_log SET is_test = 1 WHERE postback_id = 'pt1'",
        [],
    )
    .unwrap();
    let mut ids = |include_test: bool| -> Vec<String> {
        let filter = PostbackFilter {
            include_test,
            ..Default::default()
        };
        column(&mut db, list_postbacks(&filter, None, 10), "postback_id")
    };
    assert_eq!(ids(false), ["pt0"]);
    assert_eq!(ids(true), ["pt1", "pt0"]);
}

#[test]
fn purge_deletes_old_rows_in_bounded_chunks() {
    let mut db = database();
    let mut old = click("x");
    old.created_at_ms = NOW - 200_000;
    for n in 0..(PURGE_CHUNK + 3) {
        // Click IDs sort by issue time: the purge is a key range.
        let random = [(n % 256) as u8, (n / 256) as u8, 0, 0, 0, 0, 0];
        old.click_id = secrets().mint(NOW - 200_000, random).unwrap();
        run_batch(&mut db, &insert_click(&old, None, None));
    }
    let fresh = secrets().mint(NOW - 1000, [9; 7]).unwrap();
    run_batch(&mut db, &insert_click(&click(&fresh), None, None));
    run_batch(&mut db, &purge_expired(NOW - 100_000, NOW));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM clicks"), 4);
    run_batch(&mut db, &purge_expired(NOW - 100_000, NOW));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM clicks"), 1);
}

#[test]
fn cron_mark_upserts() {
    let mut db = database();
    run_batch(&mut db, &[mark_cron_run(1)]);
    run_batch(&mut db, &[mark_cron_run(2)]);
    assert_eq!(
        count(
            &db,
            "SELECT CAST(value AS INTEGER) FROM service_state WHERE key = 'last_cron_run_at'"
        ),
        2
    );
}

#[test]
fn status_changes_follow_the_allowed_transitions_and_keep_history() {
    use crate::config::Status::*;
    let mut db = database();
    let click_id = secrets().mint(NOW - 1000, [9; 7]).unwrap();
    let base = with_status(draft(&click_id, "LC", "5", "cv1"), Pending, "cv1");
    assert_eq!(record(&mut db, &base, "pb1").outcome, "accepted");
    // pending → approved: updated, version 2, previous kept.
    let approved = record(&mut db, &with_status(base.clone(), Approved, "cv2"), "pb2");
    assert_eq!(approved.outcome, "updated");
    assert_eq!(approved.conversion.as_ref().unwrap().version, 2);
    assert_eq!(approved.previous, Some(("pending".to_string(), 5_000_000)));
    // approved again: duplicate.
    assert_eq!(
        record(&mut db, &with_status(base.clone(), Approved, "cv3"), "pb3").outcome,
        "duplicate"
    );
    // approved → pending is not allowed.
    let back = record(&mut db, &with_status(base.clone(), Pending, "cv4"), "pb4");
    assert_eq!(back.outcome, "invalid_transition");
    assert_eq!(
        back.detail.as_deref(),
        Some("status cannot change from approved to pending")
    );
    // approved → reversed, then reversed → approved is not allowed.
    assert_eq!(
        record(&mut db, &with_status(base.clone(), Reversed, "cv5"), "pb5").outcome,
        "updated"
    );
    assert_eq!(
        record(&mut db, &with_status(base.clone(), Approved, "cv6"), "pb6").outcome,
        "invalid_transition"
    );
    // History: pending, approved, reversed.
    let history: Vec<(i64, String)> = db
        .prepare("SELECT version, status FROM conversion_history WHERE conversion_id = 'cv1' ORDER BY version")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        history,
        [
            (1, "pending".into()),
            (2, "approved".into()),
            (3, "reversed".into())
        ]
    );
    // One log row per postback, with the outcome.
    assert_eq!(count(&db, "SELECT COUNT(*) FROM postback_log"), 6);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM postback_log WHERE outcome = 'invalid_transition'"
        ),
        2
    );
}

#[test]
fn every_allowed_and_refused_transition() {
    use crate::config::Status::{self, *};
    let allowed = [
        (Pending, Approved),
        (Pending, Rejected),
        (Pending, Reversed),
        (Approved, Reversed),
        (Approved, Rejected),
        (Rejected, Approved),
    ];
    for from in Status::ALL {
        for to in Status::ALL {
            if from == to {
                continue;
            }
            let mut db = database();
            let click_id = secrets().mint(NOW - 1000, [1; 7]).unwrap();
            let base = with_status(draft(&click_id, "TT", "5", "cv1"), from, "cv1");
            record(&mut db, &base, "pb1");
            let outcome = record(&mut db, &with_status(base, to, "cv2"), "pb2").outcome;
            let expected = if allowed.contains(&(from, to)) {
                "updated"
            } else {
                "invalid_transition"
            };
            assert_eq!(outcome, expected, "{from:?} -> {to:?}");
        }
    }
}

#[test]
fn a_payout_change_is_an_update_and_an_absent_payout_keeps_the_stored_one() {
    let mut db = database();
    let click_id = secrets().mint(NOW - 1000, [4; 7]).unwrap();
    record(&mut db, &draft(&click_id, "PC", "5", "cv1"), "pb1");
    let adjusted = record(&mut db, &draft(&click_id, "PC", "7.5", "cv2"), "pb2");
    assert_eq!(adjusted.outcome, "updated");
    assert_eq!(adjusted.conversion.unwrap().payout_micros, 7_500_000);
    let same = record(&mut db, &draft(&click_id, "PC", "", "cv3"), "pb3");
    assert_eq!(same.outcome, "duplicate");
    assert_eq!(same.conversion.unwrap().payout_micros, 7_500_000);
}

#[test]
fn dedup_modes() {
    let config = Config::from_json(serde_json::json!({ "networks": {
        "generic": {},
        "ce": { "dedup": "click_event" },
        "none": { "dedup": "none" }
    }}))
    .unwrap();
    let click_id = secrets().mint(NOW - 1000, [6; 7]).unwrap();
    let make = |network: &str, txid: &str, id: &str| {
        let params = vec![
            ("clickid".to_string(), click_id.clone()),
            ("txid".to_string(), txid.to_string()),
        ];
        evaluate(
            &config.networks[network],
            &secrets(),
            "USD",
            &params,
            NOW,
            id.into(),
        )
        .unwrap()
    };
    let mut db = database();
    // transaction: another txid on one click is another conversion.
    assert_eq!(
        record(&mut db, &make("generic", "A", "g1"), "p1").outcome,
        "accepted"
    );
    assert_eq!(
        record(&mut db, &make("generic", "B", "g2"), "p2").outcome,
        "accepted"
    );
    // click_event: the txid does not matter.
    assert_eq!(
        record(&mut db, &make("ce", "A", "c1"), "p3").outcome,
        "accepted"
    );
    assert_eq!(
        record(&mut db, &make("ce", "B", "c2"), "p4").outcome,
        "duplicate"
    );
    // none: every postback is new.
    assert_eq!(
        record(&mut db, &make("none", "A", "n1"), "p5").outcome,
        "accepted"
    );
    assert_eq!(
        record(&mut db, &make("none", "A", "n2"), "p6").outcome,
        "accepted"
    );
}

#[test]
fn a_campaign_restricted_to_one_network_refuses_the_others_with_or_without_its_click_row() {
    let config = Config::from_json(serde_json::json!({
        "networks": { "generic": {}, "tune": { "preset": "tune" } },
        "campaigns": { "summer": { "offer_url": "https://offer.example/", "network": "tune" } }
    }))
    .unwrap();
    for stored_first in [true, false] {
        let mut db = database();
        // The click path binds the campaign's restriction into the ID.
        let click_id = secrets()
            .mint_for(NOW - 1000, [8; 7], Some("tune"))
            .unwrap();
        if stored_first {
            run_batch(&mut db, &insert_click(&click(&click_id), None, None));
        }
        let params = |name: &str| {
            vec![
                (name.to_string(), click_id.clone()),
                ("txid".to_string(), "R1".to_string()),
            ]
        };
        let refused = evaluate(
            &config.networks["generic"],
            &secrets(),
            "USD",
            &params("clickid"),
            NOW,
            "x1".into(),
        )
        .unwrap_err();
        assert_eq!(refused.outcome, crate::postback::Outcome::InvalidClickId);
        assert!(
            refused.detail.contains("only network tune"),
            "{}",
            refused.detail
        );
        let allowed = evaluate(
            &config.networks["tune"],
            &secrets(),
            "USD",
            &params("aff_sub"),
            NOW,
            "x2".into(),
        )
        .unwrap();
        assert_eq!(record(&mut db, &allowed, "p2").outcome, "accepted");
    }
}

#[test]
fn a_failure_inside_the_batch_leaves_nothing_written() {
    let mut db = database();
    db.execute_batch(
        "CREATE TRIGGER fail_log BEFORE INSERT ON postback_log \
         BEGIN SELECT RAISE(ABORT, 'injected'); END;",
    )
    .unwrap();
    let click_id = secrets().mint(NOW - 1000, [2; 7]).unwrap();
    let statements = record_conversion(
        &draft(&click_id, "F1", "5", "cv1"),
        &log("pb1"),
        &ReplayClaim::default(),
    );
    let transaction = db.transaction().unwrap();
    let mut failed = false;
    for statement in &statements {
        let result = transaction.prepare(statement.sql).and_then(|mut prepared| {
            prepared
                .execute(rusqlite::params_from_iter(bind(statement)))
                .map(|_| ())
        });
        if result.is_err() {
            failed = true;
            break;
        }
    }
    drop(transaction); // rolled back, as D1 rolls back a failed batch
    assert!(failed);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM conversions"), 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM conversion_history"), 0);
}

/// Runs the record step and reads its result row.
fn record(db: &mut Connection, draft: &ConversionDraft, postback_id: &str) -> RecordedConversion {
    let rows = run_batch(
        db,
        &record_conversion(draft, &log(postback_id), &ReplayClaim::default()),
    );
    RecordedConversion::from_row(&rows[0]).unwrap()
}

fn with_status(
    mut draft: ConversionDraft,
    status: crate::config::Status,
    conversion_id: &str,
) -> ConversionDraft {
    draft.status = status;
    draft.conversion_id = conversion_id.into();
    draft
}

#[test]
fn a_signed_request_is_accepted_once_and_replays_change_nothing() {
    let mut db = database();
    let click_id = secrets().mint(NOW - 1000, [7; 7]).unwrap();
    let claim = ReplayClaim {
        key: Some("k1".into()),
        expires_at_ms: NOW + 600_000,
    };
    let first = run_batch(
        &mut db,
        &record_conversion(&draft(&click_id, "S1", "5", "cv1"), &log("pb1"), &claim),
    );
    assert_eq!(first[0]["outcome"], "accepted");
    // The same signed request again, even with another payout smuggled past the check:
    let replay = run_batch(
        &mut db,
        &record_conversion(&draft(&click_id, "S1", "9", "cv2"), &log("pb2"), &claim),
    );
    assert_eq!(replay[0]["outcome"], "replayed");
    assert_eq!(
        replay[0]["detail"],
        "this signed request was already received"
    );
    assert_eq!(
        count(&db, "SELECT payout_micros FROM conversions"),
        5_000_000
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM conversion_history"), 1);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM postback_log WHERE outcome = 'replayed'"
        ),
        1
    );
    // Another signed request (another key) for the same conversion updates it.
    let other = ReplayClaim {
        key: Some("k2".into()),
        expires_at_ms: NOW + 600_000,
    };
    let update = run_batch(
        &mut db,
        &record_conversion(&draft(&click_id, "S1", "9", "cv3"), &log("pb3"), &other),
    );
    assert_eq!(update[0]["outcome"], "updated");
    // Expired keys are purged by the cron.
    run_batch(&mut db, &purge_expired(0, NOW + 600_001));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM seen_signatures"), 0);
}

fn with_destinations(mut draft: ConversionDraft, json: &str) -> ConversionDraft {
    draft.destinations = json.to_string();
    draft
}

const CANDIDATES: &str = r#"[
    {"name": "all", "types": null, "campaigns": null, "max_attempts": 8},
    {"name": "created-only", "types": ["conversion.created"], "campaigns": null, "max_attempts": 8},
    {"name": "updates-summer", "types": ["conversion.updated"], "campaigns": ["summer"], "max_attempts": 3},
    {"name": "winter", "types": null, "campaigns": ["winter"], "max_attempts": 8}
]"#;

fn delivery_names(db: &Connection, postback_id: &str) -> Vec<String> {
    db.prepare("SELECT destination FROM deliveries WHERE postback_id = ?1 ORDER BY destination")
        .unwrap()
        .query_map([postback_id], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn deliveries_are_written_with_the_change_and_filtered_by_type_and_campaign() {
    use crate::config::Status::*;
    let mut db = database();
    let click_id = secrets().mint(NOW - 1000, [10; 7]).unwrap();
    run_batch(&mut db, &insert_click(&click(&click_id), None, None)); // campaign "summer"
    let base = with_destinations(
        with_status(draft(&click_id, "D1", "5", "cv1"), Pending, "cv1"),
        CANDIDATES,
    );
    let created = record(&mut db, &base, "pb1");
    assert_eq!(created.delivery_ids, ["pb1.all", "pb1.created-only"]);
    assert_eq!(delivery_names(&db, "pb1"), ["all", "created-only"]);
    // An identical postback changes nothing: no delivery.
    assert!(
        record(&mut db, &with_status(base.clone(), Pending, "cv2"), "pb2")
            .delivery_ids
            .is_empty()
    );
    // An update: conversion.updated deliveries, with the summer-only one.
    let updated = record(&mut db, &with_status(base.clone(), Approved, "cv3"), "pb3");
    assert_eq!(updated.outcome, "updated");
    assert_eq!(delivery_names(&db, "pb3"), ["all", "updates-summer"]);
    assert_eq!(
        count(
            &db,
            "SELECT max_attempts FROM deliveries WHERE delivery_id = 'pb3.updates-summer'"
        ),
        3
    );
    assert_eq!(
        count(
            &db,
            "SELECT version FROM deliveries WHERE delivery_id = 'pb3.all'"
        ),
        2
    );
    // A refused change (invalid transition) makes none either.
    assert!(record(&mut db, &with_status(base, Pending, "cv4"), "pb4")
        .delivery_ids
        .is_empty());
}

#[test]
fn a_failed_batch_leaves_no_delivery_behind() {
    let mut db = database();
    db.execute_batch("CREATE TRIGGER fail_log BEFORE INSERT ON postback_log BEGIN SELECT RAISE(ABORT, 'x'); END;")
        .unwrap();
    let click_id = secrets().mint(NOW - 1000, [11; 7]).unwrap();
    let statements = record_conversion(
        &with_destinations(draft(&click_id, "D2", "5", "cv1"), CANDIDATES),
        &log("pb1"),
        &ReplayClaim::default(),
    );
    let transaction = db.transaction().unwrap();
    let failed = statements.iter().any(|statement| {
        transaction
            .prepare(statement.sql)
            .and_then(|mut prepared| prepared.execute(rusqlite::params_from_iter(bind(statement))))
            .is_err()
    });
    drop(transaction);
    assert!(failed);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM deliveries"), 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM conversions"), 0);
}

#[test]
fn claims_load_the_delivered_version_and_attempts_move_deliveries_on() {
    use crate::config::Status::*;
    let mut db = database();
    let click_id = secrets().mint(NOW - 1000, [12; 7]).unwrap();
    let mut with_click = click(&click_id);
    with_click.subs[0] = Some("zone".into());
    run_batch(&mut db, &insert_click(&with_click, None, None));
    let one = r#"[{"name": "all", "types": null, "campaigns": null, "max_attempts": 8}]"#;
    let base = with_destinations(
        with_status(draft(&click_id, "D3", "5", "cv1"), Pending, "cv1"),
        one,
    );
    record(&mut db, &base, "pb1");
    record(&mut db, &with_status(base, Approved, "cv2"), "pb2");

    let rows = run_batch(
        &mut db,
        &claim_deliveries("claim-a", NOW + CLAIM_LEASE_MS + 10, None, 10, PAUSE),
    );
    let loaded: Vec<crate::forward::DeliveryRow> = rows
        .into_iter()
        .map(|r| crate::store::from_value(&r).unwrap())
        .collect();
    assert_eq!(loaded.len(), 2);
    let (v1, v2) = (&loaded[0], &loaded[1]);
    assert_eq!(
        (v1.version, v1.status.as_str(), v1.change_type.as_str()),
        (1, "pending", "conversion.created")
    );
    assert_eq!(
        (
            v2.version,
            v2.status.as_str(),
            v2.previous_status.as_deref()
        ),
        (2, "approved", Some("pending"))
    );
    assert_eq!(v1.subs.sub1.as_deref(), Some("zone"));
    assert_eq!(v1.external_id.as_deref(), Some("ext"));
    // Claimed: another sender gets nothing until the lease ends.
    assert!(run_batch(
        &mut db,
        &claim_deliveries("claim-b", NOW + CLAIM_LEASE_MS + 20, None, 10, PAUSE)
    )
    .is_empty());
    assert_eq!(
        run_batch(
            &mut db,
            &claim_deliveries("claim-c", NOW + 20 + 2 * CLAIM_LEASE_MS, None, 10, PAUSE)
        )
        .len(),
        2
    );

    let attempt = AttemptRecord {
        destination: "all".into(),
        delivery_id: v1.delivery_id.clone(),
        attempt: 1,
        attempted_at_ms: NOW + 30,
        status_code: Some(500),
        latency_ms: 12,
        error: None,
        response_excerpt: Some("oops".into()),
        state: crate::forward::DeliveryState::Retrying,
        next_attempt_at_ms: NOW + 5_000,
    };
    // Only the current claim holder may finish it.
    run_batch(&mut db, &finish_attempt(&attempt, "claim-a"));
    assert_eq!(
        count(&db, "SELECT attempts FROM deliveries WHERE version = 1"),
        0
    );
    run_batch(&mut db, &finish_attempt(&attempt, "claim-c"));
    assert_eq!(
        count(&db, "SELECT attempts FROM deliveries WHERE version = 1"),
        1
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM delivery_attempts"), 1);
    // Not due before next_attempt_at, due after.
    assert!(
        run_batch(
            &mut db,
            &claim_deliveries(
                "d",
                NOW + 4_000 + CLAIM_LEASE_MS * 2,
                Some(std::slice::from_ref(&v1.delivery_id)),
                10,
                PAUSE
            )
        )
        .len()
            == 1
    );

    // Replay: a failed delivery becomes due now with a fresh budget, same id.
    db.execute_batch(
        "UPDATE deliveries SET state = 'failed', attempts = 8, lease_until = NULL, claim_id = NULL",
    )
    .unwrap();
    let replayed = run_batch(&mut db, &[replay_delivery(&v1.delivery_id, NOW + 99)]);
    assert_eq!(replayed[0]["delivery_id"], v1.delivery_id.as_str());
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT attempt_base FROM deliveries WHERE delivery_id = '{}'",
                v1.delivery_id
            )
        ),
        8
    );
    let bulk = run_batch(
        &mut db,
        &[replay_deliveries(
            crate::forward::DeliveryState::Failed,
            Some(0),
            NOW + 100,
        )],
    );
    assert_eq!(bulk.len(), 1, "the other one was failed too");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'"
        ),
        2
    );
}

#[test]
fn a_claim_takes_a_bounded_batch_and_leaves_the_rest_for_the_next_run() {
    let mut db = database();
    let one = r#"[{"name": "all", "types": null, "campaigns": null, "max_attempts": 8}]"#;
    for n in 0..5u8 {
        let click_id = secrets().mint(NOW - 1000, [20 + n; 7]).unwrap();
        run_batch(&mut db, &insert_click(&click(&click_id), None, None));
        let d = with_destinations(
            draft(&click_id, &format!("B{n}"), "1", &format!("cv{n}")),
            one,
        );
        record(&mut db, &d, &format!("pb{n}"));
    }
    let first = run_batch(
        &mut db,
        &claim_deliveries("run-1", NOW + CLAIM_LEASE_MS + 10, None, 2, PAUSE),
    );
    assert_eq!(first.len(), 2);
    let second = run_batch(
        &mut db,
        &claim_deliveries("run-2", NOW + CLAIM_LEASE_MS + 10, None, 2, PAUSE),
    );
    assert_eq!(second.len(), 2);
    let third = run_batch(
        &mut db,
        &claim_deliveries("run-3", NOW + CLAIM_LEASE_MS + 10, None, 2, PAUSE),
    );
    assert_eq!(third.len(), 1);
    let mut ids: Vec<String> = first
        .iter()
        .chain(&second)
        .chain(&third)
        .map(|r| r["delivery_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "each delivery claimed once");
}

#[test]
fn admin_reads() {
    let mut db = database();
    let click_id = secrets().mint(NOW - 1000, [30; 7]).unwrap();
    run_batch(&mut db, &insert_click(&click(&click_id), None, None));
    let one = r#"[{"name": "all", "types": null, "campaigns": null, "max_attempts": 8}]"#;
    let d = with_destinations(draft(&click_id, "A1", "5", "cv1"), one);
    record(&mut db, &d, "pb1");
    run_batch(&mut db, &log_refusal(&log("pb0"), "bad_token", None));

    let page = run_batch(
        &mut db,
        &[list_postbacks(&PostbackFilter::default(), None, 1)],
    );
    assert_eq!(page.len(), 2, "one more than the limit");
    assert_eq!(page[0]["postback_id"], "pb1");
    let refused = PostbackFilter {
        outcome: Some("bad_token".into()),
        ..Default::default()
    };
    assert_eq!(
        run_batch(&mut db, &[list_postbacks(&refused, None, 10)]).len(),
        1
    );

    // Every read's rows deserialize into its typed view: a column the struct does not
    // know, or a missing one, fails here.
    let typed = |value: &serde_json::Value| value.clone();
    let rows = run_batch(&mut db, &get_conversion("cv1")[..1]);
    let conversion: ConversionRow = crate::store::from_value(&typed(&rows[0])).unwrap();
    assert_eq!(conversion.conversion_id, "cv1");
    let history = run_batch(&mut db, &get_conversion("cv1")[1..2]);
    let history: Vec<HistoryRow> = history
        .iter()
        .map(|row| crate::store::from_value(row).unwrap())
        .collect();
    assert_eq!(history.len(), 1);
    let deliveries = run_batch(&mut db, &get_conversion("cv1")[2..]);
    assert_eq!(deliveries.len(), 1);
    let view: DeliveryView = crate::store::from_value(&typed(&deliveries[0])).unwrap();
    assert_eq!(view.to_api_json()["attempt_log"], serde_json::json!([]));
    let postbacks = run_batch(
        &mut db,
        &[list_postbacks(&PostbackFilter::default(), None, 10)],
    );
    let postbacks: Vec<PostbackLogRow> = postbacks
        .iter()
        .map(|row| crate::store::from_value(row).unwrap())
        .collect();
    assert!(postbacks[0].to_api_json()["params"].is_array());

    let clicks = run_batch(&mut db, &[get_click(&click_id.to_uppercase())]);
    assert_eq!(clicks.len(), 1);
    let view: ClickView = crate::store::from_value(&typed(&clicks[0])).unwrap();
    assert_eq!(view.click_id, click_id);
    let listed = run_batch(
        &mut db,
        &[list_deliveries(
            Some(crate::forward::DeliveryState::Pending),
            None,
            None,
            10,
        )],
    );
    assert_eq!(listed.len(), 1);
    assert!(run_batch(
        &mut db,
        &[list_deliveries(
            Some(crate::forward::DeliveryState::Failed),
            None,
            None,
            10
        )]
    )
    .is_empty());
}

#[test]
fn the_report_statements_group_by_local_day() {
    let mut db = database();
    // Two clicks around Berlin midnight (UTC+1): 22:30Z is the 10th, 23:30Z the 11th.
    let mut early = click("early");
    early.created_at_ms = 1_741_645_800_000; // 2025-03-10T22:30Z
    early.subs[0] = Some("a".into());
    let mut late = click("late");
    late.created_at_ms = 1_741_649_400_000; // 2025-03-10T23:30Z
    late.bot_reason = Some("head".into());
    run_batch(
        &mut db,
        &[
            insert_click(&early, None, None),
            insert_click(&late, None, None),
        ]
        .concat(),
    );
    let pairs = |tz: &str, group: &str| -> Vec<(String, String)> {
        vec![
            ("from".into(), "2025-03-10".into()),
            ("to".into(), "2025-03-11".into()),
            ("tz".into(), tz.into()),
            ("group_by".into(), group.into()),
        ]
    };
    let query = crate::report::parse_query(
        &pairs("Europe/Berlin", "day,sub1"),
        "UTC",
        1_741_651_200_000,
    )
    .unwrap();
    let statements = report_statements(&query, &[]);
    let clicks = run_batch(&mut db, &statements[..1]);
    assert_eq!(clicks.len(), 2, "{clicks:?}");
    assert_eq!(clicks[0]["day"], "2025-03-10");
    assert_eq!(clicks[0]["sub1"], "a");
    assert_eq!(
        (
            clicks[0]["clicks"].as_i64(),
            clicks[0]["bot_clicks"].as_i64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(clicks[1]["day"], "2025-03-11");
    assert_eq!(clicks[1]["bot_clicks"], 1);
    // In UTC both are on the 10th.
    let utc = crate::report::parse_query(&pairs("UTC", "day"), "UTC", 1_741_651_200_000).unwrap();
    let rows = run_batch(&mut db, &report_statements(&utc, &[])[..1]);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["clicks"].as_i64(), rows[0]["bot_clicks"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(rows[0]["sub1"], serde_json::Value::Null, "sub1 not grouped");
    // The other two reads run too.
    assert!(run_batch(&mut db, &report_statements(&utc, &[])[1..2]).is_empty());
    assert!(run_batch(&mut db, &report_statements(&utc, &[])[2..]).is_empty());
}

/// Everything a conversion ends up as, minus when it was attributed.
fn final_state(db: &Connection) -> serde_json::Value {
    let conversion = run_query(
        db,
        "SELECT conversion_id, campaign, sub1, sub2, external_id, country, rule, offer, lander, \
         network, \
         event, status, payout_micros, payout_from_click, currency, currency_from_click, version, \
         attributed_at IS NOT NULL AS attributed FROM conversions",
    );
    let history = run_query(
        db,
        "SELECT version, status, payout_micros, currency FROM conversion_history ORDER BY version",
    );
    let deliveries = run_query(
        db,
        "SELECT delivery_id, version, type, campaign_filter FROM deliveries ORDER BY delivery_id",
    );
    let rollup = run_query(db, "SELECT * FROM click_rollup");
    serde_json::json!({ "conversion": conversion, "history": history, "deliveries": deliveries, "rollup": rollup })
}

fn run_query(db: &Connection, sql: &str) -> Vec<serde_json::Value> {
    rows_as_json(&mut db.prepare(sql).unwrap(), [])
}

/// A click with attributes, a postback without payout or currency (pending), then a
/// status change (approved), with the click row stored before, between or after them.
fn attribution_scenario(click_row_after: usize) -> (Connection, Vec<String>) {
    use crate::config::Status::*;
    let mut db = database();
    let click_id = secrets().mint(NOW - 1000, [40; 7]).unwrap();
    let mut record_of_click = click(&click_id);
    record_of_click.subs[0] = Some("zone-7".into());
    record_of_click.subs[1] = Some("creative b".into());
    let mut released = Vec::new();
    // As the worker writes a window (runtime::click_databases::store): the rows, then
    // whether any conversion waits; only then the completion, as a second batch.
    let mut store_click = |db: &mut Connection| {
        let row = click_row(&record_of_click, Some(2_500_000), Some("EUR"), false);
        let was_waiting =
            !run_query(db, "SELECT 1 FROM conversions WHERE attributed_at IS NULL").is_empty();
        let mut first = store_click_rows(std::slice::from_ref(&row));
        first.push(any_waiting(std::slice::from_ref(&row)));
        assert_eq!(answer_indexes(&first), [first.len() - 1]);
        let answer = run_batch(db, &first);
        assert_eq!(
            answer,
            if was_waiting {
                vec![serde_json::json!({ "delivery_id": "waiting" })]
            } else {
                Vec::new()
            }
        );
        if answer.is_empty() {
            return;
        }
        let statements = complete_waiting(&[row], NOW + 5);
        let at = answer_indexes(&statements)[0];
        let rows = run_batch(db, &statements[..=at]);
        run_batch(db, &statements[at + 1..]);
        released.extend(
            rows.iter()
                .map(|row| row["delivery_id"].as_str().unwrap().to_string()),
        );
    };
    let first = with_destinations(
        with_status(draft(&click_id, "", "", "cv1"), Pending, "cv1"),
        CANDIDATES,
    );
    let second = with_status(first.clone(), Approved, "cv2");
    if click_row_after == 0 {
        store_click(&mut db);
    }
    assert_eq!(record(&mut db, &first, "pb1").outcome, "accepted");
    if click_row_after == 1 {
        store_click(&mut db);
    }
    assert_eq!(record(&mut db, &second, "pb2").outcome, "updated");
    if click_row_after == 2 {
        store_click(&mut db);
    }
    // A retried click write changes nothing, and counts nothing twice.
    store_click(&mut db);
    (db, released)
}

/// The click batch's question (`any_waiting`) sees a conversion that may be one of its
/// clicks', however late, and not one that waits for good since before them: a
/// conversion whose click never came must not make every window pay the second batch.
#[test]
fn the_waiting_question_looks_back_only_as_far_as_its_clicks_could_have_converted() {
    let mut db = database();
    let waiting_for = secrets().mint(NOW - 1000, [41; 7]).unwrap();
    let recorded = record(
        &mut db,
        &draft(&waiting_for, "tx-wait", "", "cv-wait"),
        "pb-wait",
    );
    assert_eq!(recorded.outcome, "accepted");
    let later = secrets().mint(NOW, [42; 7]).unwrap();
    let mut row = click_row(&click(&later), None, None, false);
    let asks = |db: &mut Connection, row: &ClickRow| {
        let statement = any_waiting(std::slice::from_ref(row));
        run_batch(db, std::slice::from_ref(&statement)).len()
    };
    // A window of clicks made up to the clock skew a click ID may show after the
    // conversion (twice, for safety) may hold its click.
    row.created_at = NOW + 2 * crate::click_id::MAX_FUTURE_SKEW_MS;
    assert_eq!(asks(&mut db, &row), 1);
    // One made later cannot: that conversion was recorded before its click was made.
    row.created_at = NOW + 2 * crate::click_id::MAX_FUTURE_SKEW_MS + 1;
    assert_eq!(asks(&mut db, &row), 0);
    // Once the conversion is attributed, nothing waits.
    let own = click_row(&click(&waiting_for), None, None, false);
    run_batch(&mut db, &store_clicks(std::slice::from_ref(&own), NOW + 5));
    assert_eq!(asks(&mut db, &own), 0);
}

#[test]
fn a_conversion_ends_up_the_same_whenever_its_click_row_lands() {
    let (on_time, released) = attribution_scenario(0);
    assert!(released.is_empty(), "nothing was held: {released:?}");
    let expected = final_state(&on_time);
    assert_eq!(expected["conversion"][0]["campaign"], "summer");
    assert_eq!(expected["conversion"][0]["sub2"], "creative b");
    assert_eq!(expected["conversion"][0]["external_id"], "ext");
    assert_eq!(expected["conversion"][0]["country"], "DE");
    // The flow's choice (docs/flows.md) travels with the other attributes.
    assert_eq!(expected["conversion"][0]["rule"], "dach");
    assert_eq!(expected["conversion"][0]["offer"], "offer-a");
    assert_eq!(expected["conversion"][0]["lander"], "quiz");
    assert_eq!(expected["conversion"][0]["payout_micros"], 2_500_000);
    assert_eq!(expected["conversion"][0]["currency"], "EUR");
    assert_eq!(expected["rollup"][0]["clicks"], 1);
    assert_eq!(
        expected["deliveries"].as_array().unwrap().len(),
        4,
        "{expected}"
    );
    for late in [1, 2] {
        let (db, released) = attribution_scenario(late);
        assert_eq!(
            final_state(&db),
            expected,
            "click row after postback {late}"
        );
        // The deliveries held for the click are released by its write, at once.
        assert!(!released.is_empty(), "click row after postback {late}");
    }
}

/// The same scenario with the click in a click database of its own (docs/scale.md): the
/// record step cannot see it, so each postback is followed by the completion read (as the
/// postback path runs after its response), and the click batch completes from its rows.
fn attribution_scenario_spread(click_row_after: usize) -> (Connection, Connection, usize) {
    use crate::config::Status::*;
    let (mut main, mut clicks) = (database(), database());
    let click_id = secrets().mint(NOW - 1000, [40; 7]).unwrap();
    let mut record_of_click = click(&click_id);
    record_of_click.subs[0] = Some("zone-7".into());
    record_of_click.subs[1] = Some("creative b".into());
    let row = click_row(&record_of_click, Some(2_500_000), Some("EUR"), false);
    fn completion(main: &mut Connection, rows: &[ClickRow]) -> usize {
        let statements = complete_waiting(rows, NOW + 5);
        let at = answer_indexes(&statements)[0];
        let released = run_batch(main, &statements[..=at]).len();
        run_batch(main, &statements[at + 1..]);
        released
    }
    let store_click = |main: &mut Connection, clicks: &mut Connection| {
        run_batch(clicks, &store_click_rows(std::slice::from_ref(&row)));
        completion(main, std::slice::from_ref(&row))
    };
    let after_record =
        |main: &mut Connection, clicks: &mut Connection, recorded: &RecordedConversion| {
            if recorded
                .conversion
                .as_ref()
                .unwrap()
                .attributed_at
                .is_some()
            {
                return 0;
            }
            let found = run_batch(clicks, &[select_click_rows(&[click_id.as_str()])]);
            let rows = click_rows_from_json(found[0]["rows"].as_str().unwrap());
            if rows.is_empty() {
                0
            } else {
                completion(main, &rows)
            }
        };
    let mut released = 0;
    let first = with_destinations(
        with_status(draft(&click_id, "", "", "cv1"), Pending, "cv1"),
        CANDIDATES,
    );
    let second = with_status(first.clone(), Approved, "cv2");
    if click_row_after == 0 {
        released += store_click(&mut main, &mut clicks);
    }
    let recorded = record(&mut main, &first, "pb1");
    assert_eq!(recorded.outcome, "accepted");
    released += after_record(&mut main, &mut clicks, &recorded);
    if click_row_after == 1 {
        released += store_click(&mut main, &mut clicks);
    }
    let recorded = record(&mut main, &second, "pb2");
    assert_eq!(recorded.outcome, "updated");
    released += after_record(&mut main, &mut clicks, &recorded);
    if click_row_after == 2 {
        released += store_click(&mut main, &mut clicks);
    }
    released += store_click(&mut main, &mut clicks);
    (main, clicks, released)
}

#[test]
fn a_conversion_in_the_main_database_ends_up_the_same_when_its_click_is_in_another() {
    let (on_time, _) = attribution_scenario(0);
    let expected = final_state(&on_time);
    for late in [0, 1, 2] {
        let (main, clicks, released) = attribution_scenario_spread(late);
        let state = final_state(&main);
        for part in ["conversion", "history", "deliveries"] {
            assert_eq!(
                state[part], expected[part],
                "{part}, click row after postback {late}"
            );
        }
        // The click and its pre-aggregate are in the click database, not the main one.
        assert_eq!(state["rollup"], serde_json::json!([]));
        let rollup = run_query(&clicks, "SELECT SUM(clicks) AS clicks FROM click_rollup");
        assert_eq!(rollup[0]["clicks"], 1, "click row after postback {late}");
        let in_main = run_query(&main, "SELECT COUNT(*) AS n FROM clicks");
        assert_eq!(in_main[0]["n"], 0);
        // Every postback found its click missing from the main database: the deliveries
        // were held, then released by the completion (after the record step or the click).
        assert!(released > 0, "click row after postback {late}");
    }
}

#[test]
fn click_ids_spread_evenly_and_stably_over_click_databases() {
    let secrets = secrets();
    let mut counts = [0usize; 3];
    for n in 0..3000u32 {
        let mut random = [0u8; 7];
        random[..4].copy_from_slice(&n.to_be_bytes());
        let id = secrets.mint(NOW + u64::from(n), random).unwrap();
        let index = click_database_index(&id, 3);
        // Case does not matter (IDs are decoded case-insensitively).
        assert_eq!(click_database_index(&id.to_uppercase(), 3), index);
        counts[index] += 1;
    }
    for count in counts {
        assert!((850..=1150).contains(&count), "{counts:?}");
    }
    assert_eq!(click_database_index("anything", 1), 0);
    assert_eq!(click_database_index("anything", 0), 0);
}

#[test]
fn held_deliveries_wait_for_the_click_row_within_a_bound() {
    let mut db = database();
    let click_id = secrets().mint(NOW - 1000, [41; 7]).unwrap();
    let held = with_destinations(draft(&click_id, "H1", "", "cv1"), CANDIDATES);
    let recorded = record(&mut db, &held, "pb1");
    assert_eq!(recorded.outcome, "accepted");
    let conversion = recorded.conversion.unwrap();
    assert_eq!(conversion.attributed_at, None);
    assert_eq!(conversion.campaign, None);
    // The campaign filter is undecided: "winter" is written, and held.
    assert_eq!(
        delivery_names(&db, "pb1"),
        ["all", "created-only", "winter"]
    );
    assert!(run_batch(&mut db, &claim_deliveries("c1", NOW + 10, None, 10, PAUSE)).is_empty());
    let health = run_batch(&mut db, &[click_health(NOW + 10)]);
    assert_eq!(health[0]["conversions_awaiting_click"], 1);
    assert_eq!(health[0]["conversions_past_hold"], 0);
    // Past the hold, destinations without a campaign filter get what is known.
    let late = NOW + DELIVERY_HOLD_MS + 1;
    let claimed = run_batch(&mut db, &claim_deliveries("c2", late, None, 10, PAUSE));
    let names: Vec<&str> = claimed
        .iter()
        .map(|r| r["destination"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["all", "created-only"]);
    let health = run_batch(&mut db, &[click_health(late)]);
    assert_eq!(health[0]["conversions_past_hold"], 1);
    // The click row lands (campaign "summer"): "winter" never should have been.
    run_batch(&mut db, &insert_click(&click(&click_id), None, None));
    assert_eq!(delivery_names(&db, "pb1"), ["all", "created-only"]);
    let health = run_batch(&mut db, &[click_health(late)]);
    assert_eq!(health[0]["conversions_awaiting_click"], 0);
}

#[test]
fn click_losses_are_counted() {
    let mut db = database();
    run_batch(
        &mut db,
        &count_click_losses(ClickLosses {
            spilled: 3,
            lost: 1,
        }),
    );
    run_batch(
        &mut db,
        &count_click_losses(ClickLosses {
            spilled: 2,
            lost: 0,
        }),
    );
    run_batch(&mut db, &[count_clicks_recovered(4)]);
    let health = run_batch(&mut db, &[click_health(NOW)]);
    assert_eq!(health[0]["clicks_spilled"], 5);
    assert_eq!(health[0]["clicks_recovered"], 4);
    assert_eq!(health[0]["clicks_lost"], 1);
    let typed: ClickHealth = crate::store::from_value(&health[0]).unwrap();
    assert_eq!(typed.clicks_spilled, 5);
}

#[test]
fn the_rollup_bucket_in_sql_is_the_one_in_code() {
    assert!(super::clicks::COUNT_CLICKS_SQL.contains(&format!("% {ROLLUP_BUCKET_MS}")));
    assert!(MIGRATIONS
        .iter()
        .any(|(_, sql)| sql.contains(&format!("% {ROLLUP_BUCKET_MS}"))));
}

#[test]
fn purging_clicks_and_the_log_changes_no_report_figure() {
    use crate::config::Status::*;
    let mut db = database();
    for n in 0..3u8 {
        let click_id = secrets().mint(NOW - 1000, [50 + n; 7]).unwrap();
        let mut record_of_click = click(&click_id);
        record_of_click.subs[0] = Some(format!("zone-{}", n % 2));
        if n == 2 {
            record_of_click.bot_reason = Some("head".into());
        }
        run_batch(
            &mut db,
            &insert_click(&record_of_click, Some(1_000_000), None),
        );
        if n < 2 {
            // Real record IDs: they sort by time, and windows and purges are key ranges.
            let id = |tag: u8| crate::postback::new_record_id(NOW, [tag; 14]);
            let first = with_status(
                draft(&click_id, &format!("P{n}"), "", &id(n)),
                Pending,
                &id(n),
            );
            record(&mut db, &first, &id(10 + n));
            // The same again: a duplicate, counted per campaign and sub-ID.
            record(
                &mut db,
                &with_status(first, Pending, &id(20 + n)),
                &id(30 + n),
            );
        }
    }
    let mut refused = log(&crate::postback::new_record_id(NOW, [40; 14]));
    refused.detail = Some("bad token".into());
    run_batch(&mut db, &log_refusal(&refused, "bad_token", None));
    let report = |db: &mut Connection, group: &str| {
        let pairs: Vec<(String, String)> = vec![
            ("from".into(), "2026-09-20".into()),
            ("to".into(), "2026-09-23".into()),
            ("tz".into(), "Asia/Kathmandu".into()),
            ("group_by".into(), group.into()),
        ];
        let query = crate::report::parse_query(&pairs, "UTC", NOW as i64).unwrap();
        report_statements(&query, &[])
            .iter()
            .map(|statement| run_batch(db, std::slice::from_ref(statement)))
            .collect::<Vec<_>>()
    };
    let groupings = [
        "day",
        "day,campaign,sub1",
        "network,event",
        "campaign,sub1,sub2",
    ];
    let before: Vec<_> = groupings.iter().map(|g| report(&mut db, g)).collect();
    assert_eq!(before[0][0][0]["clicks"], 2, "{:?}", before[0]);
    assert_eq!(before[0][0][0]["bot_clicks"], 1);
    assert_eq!(before[0][1][0]["conversions"], 2, "{:?}", before[0]);
    assert_eq!(
        before[1][2].len(),
        3,
        "two duplicates by sub1, one refusal: {:?}",
        before[1][2]
    );
    // Everything older than the future cutoff goes: every click and every log row.
    for _ in 0..3 {
        run_batch(&mut db, &purge_expired(NOW + 1_000_000, NOW + 1_000_000));
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM clicks"), 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM postback_log"), 0);
    let after: Vec<_> = groupings.iter().map(|g| report(&mut db, g)).collect();
    assert_eq!(before, after);
}

#[test]
fn a_postback_changes_only_its_own_clicks_conversion() {
    use crate::config::Status::*;
    let mut db = database();
    let a = secrets().mint(NOW - 1000, [60; 7]).unwrap();
    let b = secrets().mint(NOW - 1000, [61; 7]).unwrap();
    for id in [&a, &b] {
        run_batch(&mut db, &insert_click(&click(id), None, None));
    }
    let original = with_destinations(
        with_status(draft(&a, "ORDER-1001", "5", "cv1"), Approved, "cv1"),
        CANDIDATES,
    );
    assert_eq!(record(&mut db, &original, "pa").outcome, "accepted");
    // Click B claims A's transaction: reversed, or with another payout.
    for (n, (status, payout)) in [(Reversed, "5"), (Approved, "500")].into_iter().enumerate() {
        let attack = with_destinations(
            with_status(
                draft(&b, "ORDER-1001", payout, &format!("cx{n}")),
                status,
                &format!("cx{n}"),
            ),
            CANDIDATES,
        );
        let recorded = record(&mut db, &attack, &format!("pb{n}"));
        assert_eq!(recorded.outcome, "click_mismatch");
        assert!(recorded.delivery_ids.is_empty());
        let detail = recorded.detail.unwrap_or_default();
        assert!(detail.contains(&a) && detail.contains(&b), "{detail}");
    }
    let row = &run_query(
        &db,
        "SELECT click_id, status, payout_micros, version FROM conversions",
    );
    assert_eq!(
        row,
        &[
            serde_json::json!({ "click_id": a, "status": "approved", "payout_micros": 5_000_000, "version": 1 })
        ]
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM conversion_history"), 1);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM deliveries WHERE postback_id <> 'pa'"
        ),
        0
    );
    let logged = run_query(
        &db,
        "SELECT click_id, outcome FROM postback_log WHERE outcome = 'click_mismatch' ORDER BY postback_id",
    );
    assert_eq!(logged.len(), 2);
    assert!(logged.iter().all(|row| row["click_id"] == b.as_str()));
    // The real postback for A still updates A.
    let real = with_status(draft(&a, "ORDER-1001", "5", "cv9"), Reversed, "cv9");
    assert_eq!(record(&mut db, &real, "pz").outcome, "updated");
}

#[test]
fn click_event_and_none_keys_hold_the_click_so_another_click_never_matches() {
    let config = Config::from_json(serde_json::json!({
        "default_network": "ce",
        "networks": { "ce": { "dedup": "click_event" }, "nd": { "dedup": "none" } }
    }))
    .unwrap();
    let mut db = database();
    let a = secrets().mint(NOW - 1000, [62; 7]).unwrap();
    let b = secrets().mint(NOW - 1000, [63; 7]).unwrap();
    for network in ["ce", "nd"] {
        let draft_for = |id: &str, conversion: &str| {
            evaluate(
                &config.networks[network],
                &secrets(),
                "USD",
                &[
                    ("clickid".to_string(), id.to_string()),
                    ("txid".to_string(), "SAME".to_string()),
                    ("status".to_string(), "approved".to_string()),
                ],
                NOW,
                conversion.into(),
            )
            .unwrap()
        };
        let first = draft_for(&a, &format!("{network}-a"));
        let second = draft_for(&b, &format!("{network}-b"));
        assert_ne!(first.dedup_key, second.dedup_key);
        assert_eq!(
            record(&mut db, &first, &format!("{network}-pa")).outcome,
            "accepted"
        );
        assert_eq!(
            record(&mut db, &second, &format!("{network}-pb")).outcome,
            "accepted"
        );
    }
    assert_eq!(
        count(
            &db,
            &format!("SELECT COUNT(*) FROM conversions WHERE click_id = '{a}'")
        ),
        2
    );
}

/// The values a CHECK constraint of the migrations allows for `column`.
fn check_list(column: &str) -> Vec<String> {
    let marker = format!("CHECK ({column} IN (");
    let all: String = MIGRATIONS.iter().map(|(_, sql)| *sql).collect();
    let start = all
        .find(&marker)
        .unwrap_or_else(|| panic!("no CHECK on {column}"))
        + marker.len();
    let end = start + all[start..].find("))").unwrap();
    all[start..end]
        .split(',')
        .map(|value| value.trim().trim_matches('\'').to_string())
        .collect()
}

#[test]
fn the_schema_vocabularies_are_the_enums() {
    use crate::forward::{ChangeType, DeliveryState};
    let names = |list: Vec<&str>| list.into_iter().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        check_list("status"),
        names(
            crate::config::Status::ALL
                .iter()
                .map(|s| s.as_str())
                .collect()
        )
    );
    assert_eq!(
        check_list("type"),
        names(ChangeType::ALL.iter().map(|t| t.as_str()).collect())
    );
    assert_eq!(
        check_list("state"),
        names(DeliveryState::ALL.iter().map(|s| s.as_str()).collect())
    );
}

/// Every statement the store builds, from sample inputs.
fn every_statement() -> Vec<Statement> {
    let click_id = secrets().mint(NOW - 1000, [70; 7]).unwrap();
    let row = click_row(&click(&click_id), Some(1), Some("EUR"), false);
    let query = crate::report::parse_query(
        &[("group_by".to_string(), "day,sub1".to_string())],
        "UTC",
        NOW as i64,
    )
    .unwrap();
    let attempt = AttemptRecord {
        destination: "all".into(),
        delivery_id: "d".into(),
        attempt: 1,
        attempted_at_ms: NOW,
        status_code: Some(200),
        latency_ms: 3,
        error: None,
        response_excerpt: None,
        state: crate::forward::DeliveryState::Delivered,
        next_attempt_at_ms: NOW,
    };
    let mut all = store_clicks(&[row], NOW);
    all.extend(count_click_losses(ClickLosses {
        spilled: 1,
        lost: 1,
    }));
    all.push(count_clicks_recovered(1));
    all.push(click_health(NOW));
    all.push(select_click_rows(&[click_id.as_str()]));
    all.push(waiting_click_ids(10));
    all.extend(record_conversion(
        &draft(&click_id, "T", "1", "cv"),
        &log("pb"),
        &ReplayClaim::default(),
    ));
    all.extend(log_refusal(&log("pr"), "bad_token", None));
    all.extend(claim_deliveries("c", NOW, None, 5, PAUSE));
    all.extend(finish_attempt(&attempt, "c"));
    let failed = AttemptRecord {
        status_code: Some(503),
        state: crate::forward::DeliveryState::Retrying,
        ..attempt.clone()
    };
    all.extend(finish_attempt(&failed, "c"));
    all.push(failing_destinations());
    all.push(replay_delivery("d", NOW));
    all.push(replay_deliveries(
        crate::forward::DeliveryState::Failed,
        None,
        NOW,
    ));
    all.push(list_postbacks(&PostbackFilter::default(), None, 5));
    all.push(list_conversions(&ConversionFilter::default(), None, 5));
    all.push(list_clicks(&ClickFilter::default(), None, 5));
    all.extend(get_conversion("cv"));
    all.push(get_click(&click_id));
    all.push(list_deliveries(None, None, None, 5));
    all.extend(report_statements(&query, &[]));
    all.push(mark_cron_run(NOW));
    all.extend(purge_expired(NOW, NOW));
    all
}

#[test]
fn every_statement_binds_exactly_its_parameters() {
    for statement in every_statement() {
        let highest = statement
            .sql
            .split('?')
            .skip(1)
            .filter_map(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse::<usize>().ok()
            })
            .max()
            .unwrap_or(0);
        assert_eq!(
            highest,
            statement.params.len(),
            "{}",
            &statement.sql[..statement.sql.len().min(120)]
        );
    }
}

#[test]
fn vocabulary_words_in_sql_are_the_enums() {
    use crate::forward::{ChangeType, DeliveryState};
    for statement in every_statement() {
        let quoted: Vec<&str> = statement.sql.split('\'').skip(1).step_by(2).collect();
        for word in &quoted {
            if word.starts_with("conversion.") {
                assert!(ChangeType::parse(word).is_some(), "{word}");
            }
        }
        // The outcomes the record step writes and returns, and the statuses of its
        // allowed changes (`pending>approved`), are the enums' words.
        for word in &quoted {
            let is_code = !word.is_empty()
                && word.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && statement.sql.contains(&format!("THEN '{word}'"))
                && statement.sql.contains("CASE WHEN NOT");
            if is_code {
                assert!(
                    crate::postback::Outcome::from_code(word).is_some(),
                    "outcome {word:?}"
                );
            }
            if let Some((from, to)) = word
                .split_once('>')
                .filter(|(a, b)| !a.is_empty() && !b.is_empty())
            {
                for status in [from, to] {
                    assert!(
                        crate::config::Status::from_name(status).is_some(),
                        "{status}"
                    );
                }
            }
        }
        for marker in ["state = '", "state IN ("] {
            for rest in statement.sql.split(marker).skip(1) {
                let list = rest.split(')').next().unwrap_or_default();
                let words: Vec<&str> = if marker.ends_with('\'') {
                    vec![list.split('\'').next().unwrap_or_default()]
                } else {
                    list.split(',')
                        .map(|w| w.trim().trim_matches('\''))
                        .collect()
                };
                for word in words.into_iter().filter(|w| !w.starts_with('?')) {
                    assert!(
                        DeliveryState::parse(word).is_some(),
                        "{word:?} in {}",
                        statement.sql
                    );
                }
            }
        }
    }
}

#[test]
fn statements_are_filed_under_the_table_they_write() {
    let tables: Vec<&str> = every_statement()
        .iter()
        .map(|statement| statement_table(statement.sql))
        .collect();
    for expected in [
        "click_rollup",
        "clicks",
        "conversions",
        "conversion_history",
        "deliveries",
        "postback_log",
        "postback_rollup",
        "seen_signatures",
        "delivery_attempts",
        "service_state",
        "read",
    ] {
        assert!(tables.contains(&expected), "{expected} not in {tables:?}");
    }
    assert_eq!(statement_table("SELECT 1"), "read");
}

#[test]
fn the_record_steps_lease_is_the_claim_lease() {
    let click_id = secrets().mint(NOW - 1000, [80; 7]).unwrap();
    let record = record_conversion(
        &draft(&click_id, "T", "1", "cv"),
        &log("pb"),
        &ReplayClaim::default(),
    );
    assert!(record
        .iter()
        .any(|statement| statement.sql.contains(&format!("p.now + {CLAIM_LEASE_MS}"))));
}

#[test]
fn report_click_figures_from_pre_aggregates_equal_the_raw_rows() {
    const DROP_SUMMED_BUCKETS: &str = "drop the summed days' 15-minute rows";
    // 3,000 clicks over 30 days, 3 campaigns, 4 zones, 3 creatives, some bots, some test
    // clicks, written in windows of varying size, as the click path writes them.
    let mut db = database();
    let mut rows = Vec::new();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let start = NOW - 30 * 86_400_000;
    for n in 0..3000u32 {
        let at = start + next() % (30 * 86_400_000);
        let random = [(n % 256) as u8, (n / 256) as u8, 1, 2, 3, 4, 5];
        let mut record = click(&secrets().mint(at, random).unwrap());
        record.created_at_ms = at;
        record.campaign = ["a", "b", "c"][(next() % 3) as usize].into();
        record.subs[0] = Some(format!("zone-{}", next() % 4));
        record.subs[1] = (next() % 3 > 0).then(|| format!("creative-{}", next() % 3));
        record.bot_reason = (next() % 10 == 0).then(|| "head".to_string());
        rows.push(click_row(&record, None, None, next() % 50 == 0));
    }
    // Half the clicks are stored, then every ended day of the configured zone
    // (Kathmandu, +05:45) is summed by the cron's statements, then the other half arrives
    // late, most of it in days already summed.
    let (early, late) = rows.split_at(1500);
    for window in early.chunks(37) {
        run_batch(&mut db, &store_clicks(window, NOW));
    }
    let days = crate::zone::ended_days(&crate::zone::tzdb::Tzdb, "Asia/Kathmandu", NOW as i64, 91);
    for _ in 0..40 {
        run_batch(&mut db, &sum_click_day(&days));
    }
    let summed = run_query(&db, "SELECT COUNT(*) AS n FROM click_days");
    assert_eq!(summed[0]["n"], 40);
    for window in late.chunks(37) {
        run_batch(&mut db, &store_clicks(window, NOW));
    }
    let late_days = run_query(&db, "SELECT COUNT(DISTINCT day) AS n FROM click_day_rollup");
    assert!(late_days[0]["n"].as_i64().unwrap() >= 30);
    for (tz, group) in [
        ("UTC", "day"),
        ("Asia/Kathmandu", "day"),
        ("Asia/Kathmandu", "campaign,sub2"),
        ("Asia/Kathmandu", "day,campaign,sub1"),
        ("America/St_Johns", "campaign,sub1,sub2"),
        ("Australia/Eucla", "day,sub2"),
        // Then the 15-minute rows of the summed days go: the summed zone's reports must
        // not change, which shows they read the daily rows.
        (DROP_SUMMED_BUCKETS, ""),
        ("Asia/Kathmandu", "day"),
        ("Asia/Kathmandu", "day,campaign,sub1"),
    ] {
        if tz == DROP_SUMMED_BUCKETS {
            db.execute(
                "DELETE FROM click_rollup WHERE EXISTS (SELECT 1 FROM click_days x \
                 WHERE bucket >= x.start_ms AND bucket < x.end_ms)",
                [],
            )
            .unwrap();
            continue;
        }
        let pairs: Vec<(String, String)> = vec![
            ("from".into(), "2026-08-20".into()),
            ("to".into(), "2026-09-21".into()),
            ("tz".into(), tz.into()),
            ("group_by".into(), group.into()),
        ];
        let query = crate::report::parse_query(&pairs, "UTC", NOW as i64).unwrap();
        let statements = report_statements(&query, &[]);
        let from_rollup = run_batch(&mut db, &statements[..1]);
        // The same figures from the raw rows, over the same local-day windows.
        let windows = crate::report::day_windows(&query);
        let key = |row: &serde_json::Value, name: &str| -> serde_json::Value {
            if group.split(',').any(|g| g == name) {
                row[name].clone()
            } else {
                serde_json::Value::Null
            }
        };
        let mut raw: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
        for row in run_query(&db, "SELECT * FROM clicks WHERE is_test = 0") {
            let at = row["created_at"].as_i64().unwrap();
            let Some((label, _, _)) = windows.iter().find(|(_, s, e)| at >= *s && at < *e) else {
                continue;
            };
            let day = if group.contains("day") {
                serde_json::json!(label)
            } else {
                serde_json::Value::Null
            };
            let id = serde_json::json!([
                day,
                key(&row, "campaign"),
                key(&row, "sub1"),
                key(&row, "sub2")
            ])
            .to_string();
            let entry = raw.entry(id).or_default();
            if row["is_bot"] == 0 {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }
        // Rows of one key from summed and unsummed days add up (as the core adds them).
        let mut rolled: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
        for row in &from_rollup {
            let id = serde_json::json!([row["day"], row["campaign"], row["sub1"], row["sub2"]])
                .to_string();
            let entry = rolled.entry(id).or_default();
            entry.0 += row["clicks"].as_i64().unwrap();
            entry.1 += row["bot_clicks"].as_i64().unwrap();
        }
        assert_eq!(rolled, raw, "{tz} {group}");
        assert!(rolled.len() > 3, "{tz} {group}");
    }
}

/// A conversion with `n` deliveries to `destination`, due at `due`, stored directly (the
/// shape the record step writes), for the claim tests.
fn queue(db: &mut Connection, destination: &str, n: usize, due: u64) -> Vec<String> {
    let click_id = secrets().mint(NOW - 1000, [90; 7]).unwrap();
    run_batch(db, &insert_click(&click(&click_id), None, None));
    let conversion = format!("cv-{destination}");
    db.execute(
        "INSERT OR IGNORE INTO conversions (conversion_id, dedup_key, click_id, campaign, network, \
         event, status, payout_micros, currency, last_postback_id, clicked_at, created_at, \
         updated_at, attributed_at) VALUES (?1, ?1, ?2, 'summer', 'generic', 'conversion', \
         'approved', 1, 'USD', 'x', 1, 1, 1, 1)",
        rusqlite::params![conversion, click_id],
    )
    .unwrap();
    db.execute(
        "INSERT OR IGNORE INTO conversion_history (conversion_id, version, status, payout_micros, \
         currency, changed_at, postback_id) VALUES (?1, 1, 'approved', 1, 'USD', 1, 'x')",
        rusqlite::params![conversion],
    )
    .unwrap();
    (0..n)
        .map(|k| {
            let id = format!("{destination}-{k:05}");
            db.execute(
                "INSERT INTO deliveries (delivery_id, postback_id, destination, conversion_id, \
                 version, type, state, max_attempts, next_attempt_at, created_at, updated_at) \
                 VALUES (?1, 'x', ?2, ?3, 1, 'conversion.created', 'retrying', 8, ?4, 1, 1)",
                rusqlite::params![id, destination, conversion, due as i64 + k as i64],
            )
            .unwrap();
            id
        })
        .collect()
}

#[test]
fn one_dead_destinations_backlog_never_delays_another() {
    let mut db = database();
    queue(&mut db, "dead", 500, NOW - 100_000);
    let other = queue(&mut db, "alive", 1, NOW - 10);
    let claimed = run_batch(&mut db, &claim_deliveries("run", NOW, None, 5, PAUSE));
    let names: Vec<&str> = claimed
        .iter()
        .map(|r| r["destination"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 5);
    assert_eq!(
        names.iter().filter(|n| **n == "alive").count(),
        1,
        "{names:?}"
    );
    assert!(claimed
        .iter()
        .any(|r| r["delivery_id"] == other[0].as_str()));
}

#[test]
fn a_destination_failing_for_days_is_paused_until_a_replay_succeeds() {
    let mut db = database();
    let dead = queue(&mut db, "dead", 3, NOW - 100_000);
    let attempt = |id: &str, status: u16, at: u64| AttemptRecord {
        delivery_id: id.to_string(),
        destination: "dead".into(),
        attempt: 1,
        attempted_at_ms: at,
        status_code: Some(status),
        latency_ms: 1,
        error: Some(format!("HTTP {status}")),
        response_excerpt: None,
        state: crate::forward::DeliveryState::Retrying,
        next_attempt_at_ms: at,
    };
    // The first failure marks the destination failing; later ones write no row.
    let first = finish_attempt(&attempt(&dead[0], 503, NOW - PAUSE - 1000), "none");
    run_batch(&mut db, &first);
    let health = run_query(
        &db,
        "SELECT destination, failing_since FROM destination_health",
    );
    assert_eq!(health[0]["failing_since"], (NOW - PAUSE - 1000) as i64);
    run_batch(
        &mut db,
        &finish_attempt(&attempt(&dead[1], 503, NOW - 10), "none"),
    );
    let health = run_query(&db, "SELECT failing_since FROM destination_health");
    assert_eq!(
        health[0]["failing_since"],
        (NOW - PAUSE - 1000) as i64,
        "unchanged"
    );
    // Failing longer than the pause: the cron claims none of it.
    assert!(run_batch(&mut db, &claim_deliveries("cron", NOW, None, 10, PAUSE)).is_empty());
    // A replay (asked for by id) is still attempted, and a success resumes it.
    let replayed = run_batch(
        &mut db,
        &claim_deliveries(
            "replay",
            NOW,
            Some(std::slice::from_ref(&dead[2])),
            10,
            PAUSE,
        ),
    );
    assert_eq!(replayed.len(), 1);
    run_batch(
        &mut db,
        &finish_attempt(&attempt(&dead[2], 200, NOW), "replay"),
    );
    assert!(run_query(
        &db,
        "SELECT 1 FROM destination_health WHERE failing_since IS NOT NULL"
    )
    .is_empty());
    assert!(!run_batch(&mut db, &claim_deliveries("cron", NOW + 1, None, 10, PAUSE)).is_empty());
    // A 410 refuses one delivery, not the service: no failing mark.
    run_batch(
        &mut db,
        &finish_attempt(&attempt(&dead[0], 410, NOW + 2), "none"),
    );
    assert!(run_query(
        &db,
        "SELECT 1 FROM destination_health WHERE failing_since IS NOT NULL"
    )
    .is_empty());
}

#[test]
fn a_refusal_counts_under_a_click_read_from_its_click_database_once() {
    let mut db = database();
    let click_id = secrets().mint(NOW - 1000, [42; 7]).unwrap();
    let mut record_of_click = click(&click_id);
    record_of_click.subs[0] = Some("zone-r".into());
    let row = click_row(&record_of_click, None, None, false);
    let mut refused = log("pr1");
    refused.click_id = Some(click_id.clone());
    let rollup = |db: &Connection| {
        run_query(
            db,
            "SELECT campaign, sub1, postbacks FROM postback_rollup WHERE outcome = 'bad_token'",
        )
    };
    // The click is elsewhere: its row, passed in, attributes the count.
    run_batch(&mut db, &log_refusal(&refused, "bad_token", Some(&row)));
    assert_eq!(
        rollup(&db),
        [serde_json::json!({ "campaign": "summer", "sub1": "zone-r", "postbacks": 1 })]
    );
    // The click is here too (one database): still one count, not two.
    run_batch(&mut db, &store_clicks(std::slice::from_ref(&row), NOW));
    let mut again = log("pr2");
    again.click_id = Some(click_id.clone());
    run_batch(&mut db, &log_refusal(&again, "bad_token", Some(&row)));
    assert_eq!(rollup(&db)[0]["postbacks"], 2);
    // Neither: counted without a campaign.
    let mut unknown = log("pr3");
    unknown.click_id = Some("nope".into());
    run_batch(&mut db, &log_refusal(&unknown, "bad_token", None));
    assert_eq!(rollup(&db).len(), 2);
}

fn report_rows(db: &mut Connection, group: &str) -> Vec<Vec<serde_json::Value>> {
    let pairs: Vec<(String, String)> = vec![("group_by".into(), group.into())];
    let query = crate::report::parse_query(&pairs, "UTC", NOW as i64).unwrap();
    report_statements(&query, &[])
        .iter()
        .map(|statement| run_batch(db, std::slice::from_ref(statement)))
        .collect()
}

#[test]
fn the_report_groups_by_country_from_the_pre_aggregates() {
    let mut db = database();
    let countries = [
        Some("DE"),
        Some("DE"),
        Some("DE"),
        Some("US"),
        Some("US"),
        None,
    ];
    let mut ids = Vec::new();
    for (n, country) in countries.iter().enumerate() {
        let id = secrets().mint(NOW - 1000, [90 + n as u8; 7]).unwrap();
        let mut record_of_click = click(&id);
        record_of_click.country = country.map(str::to_string);
        run_batch(&mut db, &insert_click(&record_of_click, None, None));
        ids.push(id);
    }
    let id = |tag: u8| crate::postback::new_record_id(NOW, [tag; 14]);
    assert_eq!(
        record(&mut db, &draft(&ids[0], "C1", "4", &id(1)), "pc1").outcome,
        "accepted"
    );
    // A duplicate counts under the conversion's country, a refusal under its click's.
    assert_eq!(
        record(&mut db, &draft(&ids[0], "C1", "4", &id(2)), "pc2").outcome,
        "duplicate"
    );
    let mut refused = log("pc3");
    refused.click_id = Some(ids[3].clone());
    run_batch(&mut db, &log_refusal(&refused, "bad_token", None));

    let [clicks, conversions, postbacks, _, _] =
        <[Vec<serde_json::Value>; 5]>::try_from(report_rows(&mut db, "country")).unwrap();
    let by_country =
        |rows: &[serde_json::Value], figure: &str| -> Vec<(serde_json::Value, serde_json::Value)> {
            let mut pairs: Vec<_> = rows
                .iter()
                .map(|r| (r["country"].clone(), r[figure].clone()))
                .collect();
            pairs.sort_by_key(|(country, _)| country.to_string());
            pairs
        };
    use serde_json::json;
    assert_eq!(
        by_country(&clicks, "clicks"),
        [
            (json!("DE"), json!(3)),
            (json!("US"), json!(2)),
            (json!(null), json!(1))
        ]
    );
    assert_eq!(
        by_country(&conversions, "conversions"),
        [(json!("DE"), json!(1))]
    );
    let outcomes: Vec<_> = postbacks
        .iter()
        .map(|r| (r["country"].clone(), r["outcome"].clone()))
        .collect();
    assert!(
        outcomes.contains(&(json!("DE"), json!("duplicate"))),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&(json!("US"), json!("bad_token"))),
        "{outcomes:?}"
    );
    // Not grouped by country: one row of clicks, as before.
    assert_eq!(report_rows(&mut db, "campaign")[0][0]["clicks"], 6);
}

/// Migration 0007 rebuilds the pre-aggregates with a country: buckets whose clicks are all
/// stored are recounted from them; older ones keep their counts under an unknown country.
#[test]
fn migration_0007_recounts_the_stored_clicks_by_country() {
    let db = Connection::open_in_memory().unwrap();
    for (name, sql) in MIGRATIONS {
        if *name == "0007_country_rollups.sql" {
            break;
        }
        db.execute_batch(sql).unwrap();
    }
    let bucket = 900_000_i64;
    // Bucket 1: purged in part (one click left, three counted). Buckets 2 and 3: complete.
    db.execute_batch(&format!(
        "INSERT INTO click_rollup VALUES ({b1}, 'summer', 'z', '', '', '', '', '', '', '', '', '', 3, 0);
         INSERT INTO click_rollup VALUES ({b2}, 'summer', 'z', '', '', '', '', '', '', '', '', '', 2, 1);
         INSERT INTO click_rollup VALUES ({b3}, 'summer', '', '', '', '', '', '', '', '', '', '', 1, 0);
         INSERT INTO clicks (click_id, campaign, created_at, sub1, country, is_bot, is_test) VALUES
           ('a1', 'summer', {b1} + 5, 'z', 'DE', 0, 0),
           ('b1', 'summer', {b2} + 5, 'z', 'DE', 0, 0),
           ('b2', 'summer', {b2} + 6, 'z', 'US', 1, 0),
           ('b3', 'summer', {b2} + 7, 'z', 'US', 0, 1),
           ('c1', 'summer', {b3} + 1, NULL, NULL, 0, 0);",
        b1 = bucket * 100,
        b2 = bucket * 101,
        b3 = bucket * 102,
    ))
    .unwrap();
    let migration_0007 = MIGRATIONS
        .iter()
        .find(|(name, _)| *name == "0007_country_rollups.sql")
        .unwrap();
    db.execute_batch(migration_0007.1).unwrap();
    let rows = run_query(
        &db,
        "SELECT bucket, country, sub1, clicks, bot_clicks FROM click_rollup ORDER BY bucket, country",
    );
    use serde_json::json;
    assert_eq!(
        rows,
        [
            json!({ "bucket": bucket * 100, "country": "", "sub1": "z", "clicks": 3, "bot_clicks": 0 }),
            json!({ "bucket": bucket * 101, "country": "DE", "sub1": "z", "clicks": 1, "bot_clicks": 0 }),
            json!({ "bucket": bucket * 101, "country": "US", "sub1": "z", "clicks": 0, "bot_clicks": 1 }),
            json!({ "bucket": bucket * 102, "country": "", "sub1": "", "clicks": 1, "bot_clicks": 0 }),
        ]
    );
}

/// Landing pages (docs/flows.md): a click shown a lander counts a landing view; its
/// landing click's row (`/go/…`) sets `landed_at` on the click row and counts a landing
/// click once, whether it is written after the click's own row or before it.
#[test]
fn landing_clicks_count_once_whatever_the_order() {
    let click_id = secrets().mint(NOW - 1000, [41; 7]).unwrap();
    let shown = click_row(&click(&click_id), None, None, false);
    let landed = ClickRow {
        landed_at: Some(NOW + 30_000),
        ..shown.clone()
    };
    let state = |db: &Connection| {
        let click = run_query(db, "SELECT lander, landed_at FROM clicks");
        let rollup = run_query(
            db,
            "SELECT SUM(clicks) AS clicks, SUM(lp_views) AS lp_views, SUM(lp_clicks) AS lp_clicks \
             FROM click_rollup",
        );
        serde_json::json!([click, rollup])
    };
    let expected = serde_json::json!([
        [{ "lander": "quiz", "landed_at": NOW + 30_000 }],
        [{ "clicks": 1, "lp_views": 1, "lp_clicks": 1 }]
    ]);
    for order in [[&shown, &landed], [&landed, &shown]] {
        let mut db = database();
        for row in order {
            run_batch(&mut db, &store_clicks(std::slice::from_ref(row), NOW));
        }
        assert_eq!(state(&db), expected, "{order:?}");
        // The call-to-action followed again, and a retried batch: nothing changes.
        run_batch(
            &mut db,
            &store_clicks(&[landed.clone(), shown.clone()], NOW),
        );
        run_batch(&mut db, &store_clicks(std::slice::from_ref(&landed), NOW));
        assert_eq!(state(&db), expected);
    }
    // Shown, never followed: a view and no landing click.
    let mut db = database();
    run_batch(&mut db, &store_clicks(std::slice::from_ref(&shown), NOW));
    assert_eq!(
        state(&db)[1],
        serde_json::json!([{ "clicks": 1, "lp_views": 1, "lp_clicks": 0 }])
    );
    // A conversion recorded before either row gets the lander from whichever lands first.
    let mut db = database();
    let draft = with_destinations(draft(&click_id, "", "", "cv1"), CANDIDATES);
    assert_eq!(record(&mut db, &draft, "pb1").outcome, "accepted");
    run_batch(&mut db, &store_clicks(std::slice::from_ref(&landed), NOW));
    let conversion = run_query(&db, "SELECT lander, offer FROM conversions");
    assert_eq!(conversion[0]["lander"], "quiz");
    assert_eq!(conversion[0]["offer"], "offer-a");
}

#[test]
fn landing_clicks_after_their_day_was_summed_reach_the_daily_figures() {
    let click_id = secrets().mint(NOW - 1000, [42; 7]).unwrap();
    let shown = click_row(&click(&click_id), None, None, false);
    let landed = ClickRow {
        landed_at: Some(NOW + 30_000),
        ..shown.clone()
    };
    let figures = |db: &Connection, table: &str| {
        run_query(
            db,
            &format!(
                "SELECT SUM(clicks) AS clicks, SUM(lp_views) AS lp_views, \
                 SUM(lp_clicks) AS lp_clicks FROM {table}"
            ),
        )
    };
    let days = crate::zone::ended_days(
        &crate::zone::tzdb::Tzdb,
        "UTC",
        (NOW + 2 * 86_400_000) as i64,
        3,
    );
    // The click's day is summed between its two rows, whichever comes first.
    for order in [[&shown, &landed], [&landed, &shown]] {
        let mut db = database();
        run_batch(&mut db, &store_clicks(std::slice::from_ref(order[0]), NOW));
        for _ in 0..3 {
            run_batch(&mut db, &sum_click_day(&days));
        }
        run_batch(&mut db, &store_clicks(std::slice::from_ref(order[1]), NOW));
        let expected = vec![serde_json::json!({ "clicks": 1, "lp_views": 1, "lp_clicks": 1 })];
        assert_eq!(figures(&db, "click_rollup"), expected, "{order:?}");
        assert_eq!(figures(&db, "click_day_rollup"), expected, "{order:?}");
    }
}

use serde_json::json;

/// A click of `summer` at `at_ms` with sub1 `sub1` costing `cost` USD micro-units (a bot
/// when `bot`), as the click path writes it.
fn costed_click(id: &str, at_ms: u64, sub1: &str, cost: i64, bot: bool) -> Vec<Statement> {
    let mut record = click(id);
    record.created_at_ms = at_ms;
    record.subs[0] = Some(sub1.into());
    if bot {
        record.bot_reason = Some("head".into());
    }
    let mut row = click_row(&record, None, None, false);
    row.cost_micros = Some(cost);
    row.cost_currency = Some("USD".into());
    store_clicks(&[row], NOW)
}

/// The report with costs as `runtime::report` builds it: the entries overlapping the
/// report, the batch, the spread's reads, `report::assemble_with_costs`.
fn report_with_costs(
    db: &mut Connection,
    from: &str,
    to: &str,
    tz: &str,
    group: &str,
) -> serde_json::Value {
    let pairs: Vec<(String, String)> = vec![
        ("from".into(), from.into()),
        ("to".into(), to.into()),
        ("tz".into(), tz.into()),
        ("group_by".into(), group.into()),
    ];
    let query = crate::report::parse_query(&pairs, "UTC", 1_742_000_000_000).unwrap();
    let days = crate::report::day_windows(&query);
    let (start, end) = (days[0].1, days[days.len() - 1].2);
    let entries: Vec<crate::cost::CostEntry> =
        run_batch(db, &[list_cost_entries(None, start, end)])
            .iter()
            .map(|row| from_value(row).unwrap())
            .collect();
    let statements = report_statements(&query, &entries);
    let typed = |rows: Vec<serde_json::Value>| -> Vec<_> { rows };
    let mut clicks: Vec<crate::report::ClickFigureRow> = typed(run_batch(db, &statements[..1]))
        .iter()
        .map(|row| from_value(row).unwrap())
        .collect();
    // The pixel's impressions, in the click figures' shape.
    clicks.extend(
        run_batch(db, &statements[4..5])
            .iter()
            .map(|row| from_value::<crate::report::ClickFigureRow>(row).unwrap()),
    );
    let conversions: Vec<crate::report::ConversionFigureRow> = run_batch(db, &statements[1..2])
        .iter()
        .map(|row| from_value(row).unwrap())
        .collect();
    let windows = crate::report::entry_windows(&crate::zone::tzdb::Tzdb, &entries);
    let reads = entry_clicks(&windows, true);
    let read = |db: &mut Connection, statement: &Statement| -> Vec<EntryClicks> {
        run_batch(db, std::slice::from_ref(statement))
            .iter()
            .map(|row| from_value(row).unwrap())
            .collect()
    };
    let day_clicks = read(db, &reads[0]);
    let bucket_clicks = read(db, &reads[1]);
    let mut costs: Vec<crate::report::CostFigureRow> = run_batch(db, &statements[3..4])
        .iter()
        .map(|row| from_value(row).unwrap())
        .collect();
    costs.extend(crate::report::entry_costs(
        &query,
        &entries,
        &windows,
        &day_clicks,
        &bucket_clicks,
    ));
    crate::report::assemble_with_costs(&query, &clicks, &conversions, &[], &costs)
}

fn put_entry(db: &mut Connection, body: serde_json::Value) -> Vec<serde_json::Value> {
    let entry = crate::cost::parse_entry(&crate::zone::tzdb::Tzdb, &body, "UTC").unwrap();
    run_batch(db, &put_cost_entry(&entry))
}

// 2025-03-10T10:00Z and the next day.
const MARCH_10: u64 = 1_741_600_800_000;
const MARCH_11: u64 = MARCH_10 + 86_400_000;

#[test]
fn click_costs_are_summed_into_the_pre_aggregates_and_reported_by_hand() {
    let mut db = database();
    let mut batch = Vec::new();
    // sub1 a: three clicks at the fixed 0.05; b: one click with its own 0.12; a bot: 0.
    for (index, id) in ["a1", "a2", "a3"].iter().enumerate() {
        batch.extend(costed_click(
            id,
            MARCH_10 + index as u64 * 1000,
            "a",
            50_000,
            false,
        ));
    }
    batch.extend(costed_click("b1", MARCH_10, "b", 120_000, false));
    batch.extend(costed_click("bot", MARCH_10, "b", 0, true));
    batch.extend(costed_click("n1", MARCH_11, "a", 50_000, false));
    run_batch(&mut db, &batch);
    // A retried batch counts nothing twice.
    run_batch(&mut db, &costed_click("a1", MARCH_10, "a", 50_000, false));
    assert_eq!(
        count(&db, "SELECT SUM(cost_micros) FROM click_rollup"),
        50_000 * 4 + 120_000
    );
    assert_eq!(
        count(&db, "SELECT cost_micros FROM clicks WHERE click_id = 'b1'"),
        120_000
    );
    let report = report_with_costs(&mut db, "2025-03-10", "2025-03-11", "UTC", "day,sub1");
    let rows = report["rows"].as_array().unwrap();
    let row = |day: &str, sub1: &str| {
        rows.iter()
            .find(|r| r["day"] == day && r["sub1"] == sub1)
            .unwrap()
            .clone()
    };
    assert_eq!(row("2025-03-10", "a")["cost"], json!({"USD": "0.150000"}));
    assert_eq!(row("2025-03-10", "a")["cpc"], json!({"USD": "0.050000"}));
    assert_eq!(row("2025-03-10", "b")["cost"], json!({"USD": "0.120000"}));
    assert_eq!(row("2025-03-11", "a")["cost"], json!({"USD": "0.050000"}));
    assert_eq!(report["total"]["cost"], json!({"USD": "0.320000"}));
    assert_eq!(report["total"]["profit"], json!({"USD": "-0.320000"}));
    // Summed into the daily rows by the cron: the same figures.
    let days = [(1_741_564_800_000, 1_741_651_200_000)];
    run_batch(&mut db, &sum_click_day(&days));
    assert_eq!(
        count(&db, "SELECT SUM(cost_micros) FROM click_day_rollup"),
        270_000
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM click_day_rollup WHERE cost_currency = 'USD'"
        ),
        2
    );
    let summed = report_with_costs(&mut db, "2025-03-10", "2025-03-11", "UTC", "day,sub1");
    assert_eq!(summed, report);
    // A late click of a summed day is counted there too, with its cost.
    run_batch(
        &mut db,
        &costed_click("late", MARCH_10 + 5000, "a", 50_000, false),
    );
    assert_eq!(
        count(&db, "SELECT SUM(cost_micros) FROM click_day_rollup"),
        320_000
    );
}

#[test]
fn a_manual_entry_replaces_its_days_tracked_costs_and_is_spread_by_clicks() {
    let mut db = database();
    let mut batch = Vec::new();
    for (index, id) in ["a1", "a2", "a3"].iter().enumerate() {
        batch.extend(costed_click(
            id,
            MARCH_10 + index as u64 * 1000,
            "a",
            50_000,
            false,
        ));
    }
    batch.extend(costed_click("b1", MARCH_10 + 7_200_000, "b", 50_000, false));
    batch.extend(costed_click("n1", MARCH_11, "a", 50_000, false));
    run_batch(&mut db, &batch);
    let stored = put_entry(
        &mut db,
        json!({"campaign": "summer", "from": "2025-03-10", "to": "2025-03-10",
               "amount": "1.000001", "currency": "USD"}),
    );
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["amount_micros"], 1_000_001);
    // 1.000001 over 3 and 1 clicks: 0.75000075 and 0.25000025; floors 750,000 and
    // 250,000, the micro-unit left to the larger remainder (a: 0.75).
    let report = report_with_costs(&mut db, "2025-03-10", "2025-03-11", "UTC", "day,sub1");
    let rows = report["rows"].as_array().unwrap();
    let cost = |day: &str, sub1: &str| {
        rows.iter()
            .find(|r| r["day"] == day && r["sub1"] == sub1)
            .unwrap()["cost"]
            .clone()
    };
    assert_eq!(cost("2025-03-10", "a"), json!({"USD": "0.750001"}));
    assert_eq!(cost("2025-03-10", "b"), json!({"USD": "0.250000"}));
    assert_eq!(
        cost("2025-03-11", "a"),
        json!({"USD": "0.050000"}),
        "outside the entry"
    );
    assert_eq!(report["total"]["cost"], json!({"USD": "1.050001"}));
    // In another zone (the second stage): the same total, split by bucket.
    let berlin = report_with_costs(&mut db, "2025-03-09", "2025-03-12", "Europe/Berlin", "day");
    assert_eq!(berlin["total"]["cost"], json!({"USD": "1.050001"}));
    // The same period replaces; an overlapping one is refused, the one in the way named.
    put_entry(
        &mut db,
        json!({"campaign": "summer", "from": "2025-03-10", "to": "2025-03-10",
               "amount": "2", "currency": "USD"}),
    );
    let report = report_with_costs(&mut db, "2025-03-10", "2025-03-10", "UTC", "day");
    assert_eq!(report["total"]["cost"], json!({"USD": "2.000000"}));
    let refused = put_entry(
        &mut db,
        json!({"campaign": "summer", "from": "2025-03-09", "to": "2025-03-11",
               "amount": "5", "currency": "USD"}),
    );
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["from_day"], "2025-03-10");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM cost_entries"), 1);
    // A period without clicks: evenly over its 96 buckets.
    put_entry(
        &mut db,
        json!({"campaign": "summer", "from": "2025-03-12", "to": "2025-03-12",
               "amount": "9.600001", "currency": "USD"}),
    );
    let empty = report_with_costs(&mut db, "2025-03-12", "2025-03-12", "UTC", "day");
    assert_eq!(empty["total"]["cost"], json!({"USD": "9.600001"}));
    // Deleted: the tracked costs are back.
    let entry = crate::cost::parse_entry(
        &crate::zone::tzdb::Tzdb,
        &json!({"campaign": "summer", "from": "2025-03-10", "to": "2025-03-10",
                "amount": "0", "currency": "USD"}),
        "UTC",
    )
    .unwrap();
    run_batch(
        &mut db,
        &[delete_cost_entry("summer", entry.from_ms, entry.to_ms)],
    );
    let report = report_with_costs(&mut db, "2025-03-10", "2025-03-10", "UTC", "day");
    assert_eq!(report["total"]["cost"], json!({"USD": "0.200000"}));
}

#[test]
fn cpa_and_revshare_conversions_cost_from_their_clicks_terms() {
    let mut db = database();
    let cpa_id = secrets().mint(NOW - 1000, [71; 7]).unwrap();
    let share_id = secrets().mint(NOW - 1000, [72; 7]).unwrap();
    // `summer`: 1.50 USD per approved conversion.
    let mut cpa = click_row(&click(&cpa_id), None, None, false);
    cpa.cpa_micros = Some(1_500_000);
    cpa.cost_currency = Some("USD".into());
    run_batch(&mut db, &store_clicks(&[cpa], NOW));
    let id = |tag: u8| crate::postback::new_record_id(NOW, [tag; 14]);
    assert_eq!(
        record(&mut db, &draft(&cpa_id, "T1", "4", &id(1)), "pa1").outcome,
        "accepted"
    );
    // `winter`: 40 % of the payout; its conversion is recorded before its click row and
    // completed by the click batch (the payout, 4 EUR, and the terms from the click).
    assert_eq!(
        record(&mut db, &draft(&share_id, "T2", "", &id(2)), "pa2").outcome,
        "accepted"
    );
    let mut share = click_row(&click(&share_id), Some(4_000_000), Some("EUR"), false);
    share.campaign = "winter".into();
    share.revshare_ppm = Some(400_000);
    run_batch(&mut db, &store_clicks(&[share], NOW));
    let terms = run_query(
        &db,
        "SELECT campaign, cpa_micros, revshare_ppm, cost_currency FROM conversions ORDER BY campaign",
    );
    assert_eq!(terms[0]["cpa_micros"], 1_500_000, "{terms:?}");
    assert_eq!(terms[1]["revshare_ppm"], 400_000, "{terms:?}");
    // No click cost: the pre-aggregates carry no cost currency.
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM click_rollup WHERE cost_currency <> ''"
        ),
        0
    );

    let day = crate::zone::Date::from_unix_ms(NOW as i64)
        .unwrap()
        .to_string();
    let report = report_with_costs(&mut db, &day, &day, "UTC", "campaign");
    let row = |campaign: &str| {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["campaign"] == campaign)
            .unwrap()
            .clone()
    };
    // By hand: summer 4 − 1.50 = 2.50, ROI 2.5 / 1.5; winter 40 % of 4 EUR = 1.60.
    assert_eq!(row("summer")["cost"], json!({"USD": "1.500000"}));
    assert_eq!(row("summer")["profit"], json!({"USD": "2.500000"}));
    assert_eq!(row("summer")["roi"], "1.666667");
    assert_eq!(row("summer")["cpa"], json!({"USD": "1.500000"}));
    assert_eq!(row("winter")["cost"], json!({"EUR": "1.600000"}));
    assert_eq!(row("winter")["profit"], json!({"EUR": "2.400000"}));
    // A manual entry of the day replaces summer's conversion cost.
    put_entry(
        &mut db,
        json!({"campaign": "summer", "from": day, "to": day, "amount": "3", "currency": "USD"}),
    );
    let report = report_with_costs(&mut db, &day, &day, "UTC", "campaign");
    let summer = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["campaign"] == "summer")
        .unwrap()
        .clone();
    assert_eq!(summer["cost"], json!({"USD": "3.000000"}));
    assert_eq!(
        report["total"]["cost"],
        json!({"EUR": "1.600000", "USD": "3.000000"})
    );
    // Reversed: the cost goes with the revenue.
    let mut reversal = draft(&share_id, "T2", "", &id(3));
    reversal.status = crate::config::Status::Reversed;
    let _ = record(&mut db, &reversal, "pa3");
    let report = report_with_costs(&mut db, &day, &day, "UTC", "campaign");
    assert_eq!(report["total"]["cost"], json!({"USD": "3.000000"}));
}

#[test]
fn an_entry_spreads_the_same_over_clicks_split_across_click_databases() {
    // The same clicks in one database, or split over two (docs/scale.md): the same parts.
    let clicks: Vec<Vec<Statement>> = (0..7)
        .map(|n| {
            let sub1 = ["a", "b", "c"][n % 3];
            costed_click(
                &format!("k{n}"),
                MARCH_10 + n as u64 * 600_000,
                sub1,
                50_000,
                false,
            )
        })
        .collect();
    let entry = crate::cost::parse_entry(
        &crate::zone::tzdb::Tzdb,
        &json!({"campaign": "summer", "from": "2025-03-10", "to": "2025-03-10",
                "tz": "Europe/Berlin", "amount": "10", "currency": "USD"}),
        "UTC",
    )
    .unwrap();
    let entries = [entry];
    let windows = crate::report::entry_windows(&crate::zone::tzdb::Tzdb, &entries);
    let reads = entry_clicks(&windows, true);
    let read = |db: &mut Connection, index: usize| -> Vec<EntryClicks> {
        run_batch(db, std::slice::from_ref(&reads[index]))
            .iter()
            .map(|row| from_value(row).unwrap())
            .collect()
    };
    let pairs: Vec<(String, String)> = vec![
        ("from".into(), "2025-03-09".into()),
        ("to".into(), "2025-03-11".into()),
        ("tz".into(), "UTC".into()),
        ("group_by".into(), "day,sub1".into()),
    ];
    let query = crate::report::parse_query(&pairs, "UTC", 1_742_000_000_000).unwrap();
    let costs_of = |dbs: &mut [Connection]| {
        let (mut days, mut buckets) = (Vec::new(), Vec::new());
        for db in dbs.iter_mut() {
            days.extend(read(db, 0));
            buckets.extend(read(db, 1));
        }
        let mut rows: Vec<(Option<String>, Option<String>, i64)> =
            crate::report::entry_costs(&query, &entries, &windows, &days, &buckets)
                .into_iter()
                .map(|row| {
                    let [day, _, _, _, _, sub1, ..] = row.keys.0;
                    (day, sub1, row.cost_micros)
                })
                .collect();
        rows.sort();
        rows
    };
    let mut one = [database()];
    run_batch(&mut one[0], &clicks.concat());
    let mut two = [database(), database()];
    for (n, statements) in clicks.iter().enumerate() {
        run_batch(&mut two[n % 2], statements);
    }
    let whole = costs_of(&mut one);
    assert_eq!(whole, costs_of(&mut two));
    assert_eq!(whole.iter().map(|row| row.2).sum::<i64>(), 10_000_000);
    // The Berlin day's parts, split over its buckets (the second stage), land on the UTC
    // days of their clicks: all on the 10th.
    assert!(whole
        .iter()
        .all(|row| row.0.as_deref() == Some("2025-03-10")));
}

/// A window's click rows go into as few statements as fit D1's limit on one bound value:
/// every row in exactly one chunk, in order, each chunk's JSON under the budget; a
/// window of typical rows is one chunk.
#[test]
fn click_rows_are_chunked_by_bytes_every_row_once() {
    use super::clicks::json_chunks;
    use super::CLICK_JSON_BYTES_PER_STATEMENT;
    let typical: Vec<ClickRow> = (0..300)
        .map(|n| click_row(&click(&format!("c{n}")), Some(1), Some("EUR"), false))
        .collect();
    assert_eq!(
        json_chunks(&typical).len(),
        1,
        "300 typical rows: one statement"
    );
    // The largest rows a click can make: ten 512-byte sub-IDs and a 512-byte User-Agent.
    let largest: Vec<ClickRow> = (0..400)
        .map(|n| {
            let mut record = click(&format!("big{n}"));
            record.user_agent = Some("u".repeat(512));
            record.subs = std::array::from_fn(|_| Some("s".repeat(512)));
            click_row(&record, Some(1), Some("EUR"), false)
        })
        .collect();
    let chunks = json_chunks(&largest);
    assert!(chunks.len() > 1, "{} chunks", chunks.len());
    let mut seen = Vec::new();
    for (json, rows) in &chunks {
        let SqlValue::Text(text) = json else {
            panic!("a chunk's JSON is text")
        };
        assert!(
            text.len() <= CLICK_JSON_BYTES_PER_STATEMENT,
            "{}",
            text.len()
        );
        let parsed: Vec<serde_json::Value> = serde_json::from_str(text).unwrap();
        assert_eq!(parsed.len(), rows.len());
        for (value, row) in parsed.iter().zip(rows.iter()) {
            assert_eq!(value[0], row.click_id.as_str());
        }
        seen.extend(rows.iter().map(|row| row.click_id.clone()));
    }
    let all: Vec<String> = largest.iter().map(|row| row.click_id.clone()).collect();
    assert_eq!(seen, all);
    assert!(json_chunks(&[]).is_empty());
}

#[test]
fn report_figures_by_flow_dimension_equal_the_raw_rows() {
    // 400 clicks over 4 days: 2 campaigns, rules, landers and offers, 4 User-Agents, 3
    // regions, some bots and test clicks, landing clicks stored after their click's row
    // and before it, and conversions recorded before and after their click rows.
    const AGENTS: [&str; 4] = [
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
        "curl/8.5.0",
    ];
    let mut db = database();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let start = NOW - 4 * 86_400_000;
    let mut rows = Vec::new();
    for n in 0..400u32 {
        let at = start + next() % (4 * 86_400_000 - 60_000);
        let random = [(n % 256) as u8, (n / 256) as u8, 9, 8, 7, 6, 5];
        let mut record = click(&secrets().mint(at, random).unwrap());
        record.created_at_ms = at;
        record.campaign = ["a", "b"][(next() % 2) as usize].into();
        record.rule = [None, Some("phones".to_string())][(next() % 2) as usize].clone();
        record.lander =
            [None, Some("quiz".to_string()), Some(String::new())][(next() % 3) as usize].clone();
        record.offer = [
            None,
            Some("offer-a".to_string()),
            Some("offer-b".to_string()),
        ][(next() % 3) as usize]
            .clone();
        record.region =
            [None, Some("TX".to_string()), Some("BY".to_string())][(next() % 3) as usize].clone();
        record.agent = crate::user_agent::classify(Some(AGENTS[(next() % 4) as usize]));
        record.bot_reason = (next() % 10 == 0).then(|| "head".to_string());
        let mut row = click_row(&record, Some(1_000_000), Some("USD"), next() % 40 == 0);
        if row.campaign == "a" {
            row.cost_micros = Some(30_000 + (next() % 3) as i64);
            row.cost_currency = Some("USD".into());
        }
        rows.push(row);
    }
    // Landing clicks of a fifth of the clicks with a lander: their own rows, the same
    // click ID; a third of them reach the database before the click's own row.
    let mut landings = Vec::new();
    let mut early_landings = Vec::new();
    for row in rows.iter().filter(|row| row.lander.is_some()).step_by(5) {
        let mut landing = row.clone();
        landing.landed_at = Some(row.created_at + 30_000);
        if landings.len() % 3 == 0 {
            early_landings.push(landing);
        } else {
            landings.push(landing);
        }
    }
    // Conversions of every seventh click: half recorded before the click rows exist.
    let converted: Vec<String> = rows
        .iter()
        .step_by(7)
        .map(|row| row.click_id.clone())
        .collect();
    let (before, after) = converted.split_at(converted.len() / 2);
    let mut tag = 0u8;
    let mut convert = |db: &mut Connection, ids: &[String]| {
        for id in ids {
            tag = tag.wrapping_add(1);
            let conversion_id = crate::postback::new_record_id(NOW, [tag; 14]);
            let payout = format!("{}", 1 + tag % 4);
            let draft = draft(id, &format!("T{tag}"), &payout, &conversion_id);
            let outcome = record(db, &draft, &format!("pf{tag}"));
            assert_eq!(outcome.outcome, "accepted", "{id}");
        }
    };
    convert(&mut db, before);
    run_batch(&mut db, &store_clicks(&early_landings, NOW));
    for window in rows.chunks(23) {
        run_batch(&mut db, &store_clicks(window, NOW));
    }
    for window in landings.chunks(11) {
        run_batch(&mut db, &store_clicks(window, NOW));
    }
    // Retried: counted once.
    run_batch(&mut db, &store_clicks(&rows[..50], NOW));
    convert(&mut db, after);
    let unattributed = run_query(
        &db,
        "SELECT COUNT(*) AS n FROM conversions WHERE attributed_at IS NULL OR device IS NULL",
    );
    assert_eq!(unattributed[0]["n"], 0);

    let flow = [
        "region", "rule", "lander", "offer", "device", "os", "browser",
    ];
    for (tz, group) in [
        ("UTC", "offer"),
        ("UTC", "device,region"),
        ("Asia/Kathmandu", "day,campaign,offer,device"),
        ("America/St_Johns", "lander,rule,os,browser,country"),
        (
            "UTC",
            "campaign,offer,device,os,browser,region,lander,rule,day",
        ),
    ] {
        let pairs: Vec<(String, String)> = vec![
            ("from".into(), "2026-09-15".into()),
            ("to".into(), "2026-09-22".into()),
            ("tz".into(), tz.into()),
            ("group_by".into(), group.into()),
        ];
        let query = crate::report::parse_query(&pairs, "UTC", NOW as i64).unwrap();
        let statements = report_statements(&query, &[]);
        assert!(statements[0].sql.contains("click_flow_rollup"), "{group}");
        let windows = crate::report::day_windows(&query);
        let names: Vec<&str> = ["day", "campaign", "country"]
            .into_iter()
            .chain(flow)
            .collect();
        // The key of a raw row: '' and NULL both report as null.
        let key = |row: &serde_json::Value, day: &str| -> String {
            let values: Vec<serde_json::Value> = names
                .iter()
                .map(|name| {
                    if !group.split(',').any(|g| g == *name) {
                        return serde_json::Value::Null;
                    }
                    if *name == "day" {
                        return day.into();
                    }
                    match &row[*name] {
                        serde_json::Value::String(s) if s.is_empty() => serde_json::Value::Null,
                        other => other.clone(),
                    }
                })
                .collect();
            serde_json::Value::Array(values).to_string()
        };
        let day_of = |at: i64| {
            windows
                .iter()
                .find(|(_, s, e)| at >= *s && at < *e)
                .map(|(label, _, _)| label.clone())
        };
        // Clicks: [clicks, bots, lp views, lp clicks, cost].
        let mut raw: std::collections::BTreeMap<String, [i64; 5]> = Default::default();
        for row in run_query(&db, "SELECT * FROM clicks WHERE is_test = 0") {
            let Some(day) = day_of(row["created_at"].as_i64().unwrap()) else {
                continue;
            };
            let entry = raw.entry(key(&row, &day)).or_default();
            let person = row["is_bot"] == 0;
            entry[0] += i64::from(person);
            entry[1] += i64::from(!person);
            entry[2] += i64::from(person && !row["lander"].is_null());
            entry[3] += i64::from(person && !row["landed_at"].is_null());
            entry[4] += row["cost_micros"].as_i64().unwrap_or(0);
        }
        let mut rolled: std::collections::BTreeMap<String, [i64; 5]> = Default::default();
        for row in run_batch(&mut db, &statements[..1]) {
            let id = serde_json::Value::Array(names.iter().map(|n| row[*n].clone()).collect())
                .to_string();
            let entry = rolled.entry(id).or_default();
            for (n, name) in [
                "clicks",
                "bot_clicks",
                "lp_views",
                "lp_clicks",
                "cost_micros",
            ]
            .iter()
            .enumerate()
            {
                entry[n] += row[*name].as_i64().unwrap_or(0);
            }
        }
        assert_eq!(rolled, raw, "{tz} {group}");
        assert!(rolled.len() >= 3, "{tz} {group}");
        assert!(raw.values().any(|v| v[3] > 0), "landing clicks counted");

        // Conversions: [conversions, approved, revenue], from their own copies of the
        // click's dimensions, against the click rows they came from.
        let mut raw: std::collections::BTreeMap<String, [i64; 3]> = Default::default();
        for row in run_query(
            &db,
            "SELECT k.*, c.created_at AS converted_at, c.status, c.payout_micros AS payout \
             FROM conversions c JOIN clicks k ON k.click_id = c.click_id WHERE c.is_test = 0",
        ) {
            let Some(day) = day_of(row["converted_at"].as_i64().unwrap()) else {
                continue;
            };
            let entry = raw.entry(key(&row, &day)).or_default();
            let approved = row["status"] == "approved";
            entry[0] += 1;
            entry[1] += i64::from(approved);
            entry[2] += if approved {
                row["payout"].as_i64().unwrap()
            } else {
                0
            };
        }
        let mut grouped: std::collections::BTreeMap<String, [i64; 3]> = Default::default();
        for row in run_batch(&mut db, &statements[1..2]) {
            let id = serde_json::Value::Array(names.iter().map(|n| row[*n].clone()).collect())
                .to_string();
            let entry = grouped.entry(id).or_default();
            entry[0] += row["conversions"].as_i64().unwrap();
            entry[1] += row["approved"].as_i64().unwrap();
            entry[2] += row["revenue_micros"].as_i64().unwrap();
        }
        assert_eq!(grouped, raw, "{tz} {group}");
        assert!(grouped.values().map(|v| v[0]).sum::<i64>() > 40, "{group}");
    }

    // The sub-ID pre-aggregate holds the same totals.
    let totals = |table: &str| {
        run_query(
            &db,
            &format!(
                "SELECT SUM(clicks) AS c, SUM(bot_clicks) AS b, SUM(lp_views) AS v, \
                 SUM(lp_clicks) AS l, SUM(cost_micros) AS m FROM {table}"
            ),
        )
    };
    assert_eq!(totals("click_flow_rollup"), totals("click_rollup"));
}

#[test]
fn migration_0012_counts_history_into_the_flow_pre_aggregate() {
    // Before 0012: an old bucket whose clicks were purged (only its counts remain), and
    // two stored clicks of a later bucket with their flow choice.
    let db = Connection::open_in_memory().unwrap();
    let at = MIGRATIONS
        .iter()
        .position(|(name, _)| *name == "0012_flow_dimensions.sql")
        .unwrap();
    let (before, after) = MIGRATIONS.split_at(at);
    for (_, sql) in before {
        db.execute_batch(sql).unwrap();
    }
    db.execute_batch(
        "INSERT INTO click_rollup (bucket, campaign, country, sub1, sub2, sub3, sub4, sub5, \
         sub6, sub7, sub8, sub9, sub10, clicks, bot_clicks, lp_views, lp_clicks) VALUES \
         (0, 'a', 'DE', 'z1', '', '', '', '', '', '', '', '', '', 5, 1, 2, 1), \
         (0, 'a', 'DE', 'z2', '', '', '', '', '', '', '', '', '', 3, 0, 0, 0), \
         (900000, 'a', 'US', 'z1', '', '', '', '', '', '', '', '', '', 2, 0, 1, 1); \
         INSERT INTO clicks (click_id, campaign, created_at, country, is_bot, rule, offer, \
         lander, landed_at) VALUES ('k1', 'a', 0, 'DE', 0, NULL, 'offer-a', NULL, NULL), \
         ('k2', 'a', 900001, 'US', 0, 'r', 'offer-b', 'quiz', 900500), \
         ('k3', 'a', 900002, 'US', 0, 'r', 'offer-b', NULL, NULL);",
    )
    .unwrap();
    db.execute_batch(after[0].1).unwrap();
    let rows = run_query(
        &db,
        "SELECT bucket, country, rule, lander, offer, device, clicks, bot_clicks, lp_views, \
         lp_clicks FROM click_flow_rollup ORDER BY bucket, offer, lander",
    );
    assert_eq!(
        rows,
        [
            serde_json::json!({ "bucket": 0, "country": "DE", "rule": "", "lander": "",
                "offer": "", "device": "", "clicks": 8, "bot_clicks": 1, "lp_views": 2,
                "lp_clicks": 1 }),
            serde_json::json!({ "bucket": 900000, "country": "US", "rule": "r", "lander": "",
                "offer": "offer-b", "device": "", "clicks": 1, "bot_clicks": 0, "lp_views": 0,
                "lp_clicks": 0 }),
            serde_json::json!({ "bucket": 900000, "country": "US", "rule": "r",
                "lander": "quiz", "offer": "offer-b", "device": "", "clicks": 1,
                "bot_clicks": 0, "lp_views": 1, "lp_clicks": 1 }),
        ]
    );
}

/// The click statements read rows by position (`column_index!`); `PositionalRow` writes
/// them: every column read back through the statements' own SQL equals the row's named
/// JSON (a row with every field set, each to a value no other field has).
#[test]
fn click_rows_read_by_position_equal_the_named_row() {
    let connection = database();
    let mut record = click("c-positional");
    record.subs = std::array::from_fn(|n| Some(format!("sub-{}", n + 1)));
    record.bot_reason = Some("bot-reason".into());
    record.landed_at_ms = Some(NOW + 7);
    let mut row = click_row(&record, Some(2_500_001), Some("EUR"), true);
    row.cost_micros = Some(11);
    row.cost_currency = Some("GBP".into());
    row.cpa_micros = Some(12);
    row.revshare_ppm = Some(13);
    row.region = Some("region-x".into());
    row.device = Some("device-x".into());
    row.os = Some("os-x".into());
    row.browser = Some("browser-x".into());
    let named = serde_json::to_value(&row).unwrap();
    let named = named.as_object().unwrap();
    let mut prepared = connection
        .prepare(super::clicks::SELECT_POSITIONAL_ROWS)
        .unwrap();
    let positional = serde_json::to_string(&[super::clicks::PositionalRow(&row)]).unwrap();
    let read = rows_as_json(&mut prepared, [positional.as_str()]);
    let read = read[0].as_object().unwrap();
    assert_eq!(read.len(), named.len(), "{read:?}");
    for (column, value) in named {
        assert!(!value.is_null(), "{column} is not set by the test");
        assert_eq!(&read[column], value, "{column}");
    }
}

/// `impressions` impressions (and `bots` of bots) of `summer` at `at_ms` with sub1
/// `sub1`, each costing `micros` USD micro-units, as one write window of the pixel (its
/// number: the 500 ms windows since the epoch).
fn impressions(at_ms: u64, sub1: &str, impressions: i64, bots: i64, micros: i64) -> Vec<Statement> {
    use crate::impression::{ImpressionCounts, ImpressionKey, ImpressionTally};
    let mut subs: [String; 10] = Default::default();
    subs[0] = sub1.into();
    let key = ImpressionKey {
        bucket: at_ms - at_ms % ROLLUP_BUCKET_MS,
        campaign: "summer".into(),
        country: "DE".into(),
        subs,
        cost_currency: "USD".into(),
    };
    let mut tally = ImpressionTally::default();
    for _ in 0..impressions {
        tally.add(
            key.clone(),
            ImpressionCounts {
                impressions: 1,
                bot_impressions: 0,
                cost_micros: micros,
            },
        );
    }
    for _ in 0..bots {
        tally.add(
            key.clone(),
            ImpressionCounts {
                impressions: 0,
                bot_impressions: 1,
                cost_micros: 0,
            },
        );
    }
    count_impressions(&tally, "isolate-a", at_ms / 500, at_ms)
}

#[test]
fn a_retried_impression_window_is_added_once() {
    let mut db = database();
    let window = impressions(MARCH_10, "a", 3, 1, 2_500);
    // The batch committed, then its reply was lost: the retry adds nothing.
    run_batch(&mut db, &window);
    run_batch(&mut db, &window);
    let totals = |db: &Connection| {
        (
            count(db, "SELECT SUM(impressions) FROM impression_rollup"),
            count(db, "SELECT SUM(bot_impressions) FROM impression_rollup"),
            count(db, "SELECT SUM(cost_micros) FROM impression_rollup"),
        )
    };
    assert_eq!(totals(&db), (3, 1, 7_500));
    // The isolate's next windows add up, and each of their retries adds nothing, also
    // after later windows (out of order); another isolate's window of the same number
    // is its own.
    let next = impressions(MARCH_10 + 500, "a", 2, 0, 2_500);
    let later = impressions(MARCH_10 + 1_000, "a", 1, 0, 2_500);
    run_batch(&mut db, &next);
    run_batch(&mut db, &later);
    run_batch(&mut db, &next);
    run_batch(&mut db, &window);
    assert_eq!(totals(&db), (6, 1, 15_000));
    let mut other = window.clone();
    for statement in &mut other {
        for param in &mut statement.params {
            if *param == SqlValue::from("isolate-a") {
                *param = SqlValue::from("isolate-b");
            }
        }
    }
    run_batch(&mut db, &other);
    assert_eq!(totals(&db), (9, 2, 22_500));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM impression_writers"), 2);
    // Writers gone for a day are purged by the cron.
    run_batch(
        &mut db,
        &[purge_impression_writers(MARCH_10 + 86_400_000 + 1_001, 500)],
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM impression_writers"), 0);
}

#[test]
fn impressions_are_counted_per_key_and_reported_with_their_cpm_cost_and_ctr() {
    let mut db = database();
    // Two free clicks on the 10th under sub1 a.
    let mut batch = costed_click("c1", MARCH_10, "a", 0, false);
    batch.extend(costed_click("c2", MARCH_10 + 1000, "a", 0, false));
    run_batch(&mut db, &batch);
    // 1,000 impressions at 2.50 USD CPM (2,500 micro-units each) on the 10th, written
    // in two windows that add up in one row; 5 of bots, free; 200 on the 11th under b.
    run_batch(&mut db, &impressions(MARCH_10, "a", 600, 5, 2_500));
    run_batch(&mut db, &impressions(MARCH_10 + 60_000, "a", 400, 0, 2_500));
    run_batch(&mut db, &impressions(MARCH_11, "b", 200, 0, 2_500));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM impression_rollup"), 2);
    assert_eq!(
        count(&db, "SELECT SUM(bot_impressions) FROM impression_rollup"),
        5
    );

    let report = report_with_costs(&mut db, "2025-03-10", "2025-03-11", "UTC", "day,sub1");
    let rows = report["rows"].as_array().unwrap();
    let row = |day: &str| {
        rows.iter()
            .find(|row| row["day"] == day)
            .unwrap_or_else(|| panic!("{report}"))
    };
    // By hand: 1,000 × 0.0025 = 2.50 USD; CTR 2 / 1,000.
    assert_eq!(row("2025-03-10")["sub1"], "a");
    assert_eq!(row("2025-03-10")["impressions"], 1000);
    assert_eq!(row("2025-03-10")["clicks"], 2);
    assert_eq!(row("2025-03-10")["ctr"], "0.002000");
    assert_eq!(row("2025-03-10")["cost"]["USD"], "2.500000");
    assert_eq!(row("2025-03-10")["cpc"]["USD"], "1.250000");
    // 200 × 0.0025 = 0.50 USD, and no click: a CTR of 0, no CPC.
    assert_eq!(row("2025-03-11")["sub1"], "b");
    assert_eq!(row("2025-03-11")["impressions"], 200);
    assert_eq!(row("2025-03-11")["ctr"], "0.000000");
    assert_eq!(row("2025-03-11")["cpc"], serde_json::Value::Null);
    assert_eq!(row("2025-03-11")["cost"]["USD"], "0.500000");
    assert_eq!(report["total"]["impressions"], 1200);
    assert_eq!(report["total"]["cost"]["USD"], "3.000000");

    // A manual entry for the 11th replaces its impressions' tracked cost.
    put_entry(
        &mut db,
        serde_json::json!({"campaign": "summer", "from": "2025-03-11", "to": "2025-03-11",
            "amount": "0.30", "currency": "USD"}),
    );
    let report = report_with_costs(&mut db, "2025-03-10", "2025-03-11", "UTC", "day");
    let day = |label: &str| {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["day"] == label)
            .cloned()
            .unwrap()
    };
    assert_eq!(day("2025-03-10")["cost"]["USD"], "2.500000");
    assert_eq!(day("2025-03-11")["cost"]["USD"], "0.300000");
    assert_eq!(day("2025-03-11")["impressions"], 200);
    assert_eq!(report["total"]["cost"]["USD"], "2.800000");
}
