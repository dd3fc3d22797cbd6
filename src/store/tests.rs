//! The store's statements run on SQLite (the engine under D1) with the real migrations.

use super::*;
use crate::click::ClickRecord;
use crate::click_id::ClickSecrets;
use crate::config::Config;
use crate::postback::evaluate;
use rusqlite::{types::Value, Connection};

const NOW: u64 = 1_790_000_000_000;

fn database() -> Connection {
    let connection = Connection::open_in_memory().unwrap();
    for (_, sql) in MIGRATIONS {
        connection.execute_batch(sql).unwrap();
    }
    connection
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
        let names: Vec<String> = prepared
            .column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut rows = prepared
            .query(rusqlite::params_from_iter(bind(statement)))
            .unwrap();
        rows_out.clear();
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
            rows_out.push(serde_json::Value::Object(object));
        }
    }
    transaction.commit().unwrap();
    rows_out
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
        &[insert_click(
            &click(&click_id),
            Some(2_500_000),
            Some("EUR"),
        )],
    );
    let rows = run_batch(
        &mut db,
        &record_conversion(&draft(&click_id, "T1", "", "cv1"), &log("pb1")),
    );
    let recorded: RecordedConversion = serde_json::from_value(rows[0].clone()).unwrap();
    assert_eq!(recorded.outcome, "accepted");
    assert_eq!(recorded.conversion.campaign.as_deref(), Some("summer"));
    assert_eq!(recorded.conversion.payout_micros, 2_500_000);
    assert_eq!(recorded.conversion.currency, "EUR");
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
        &record_conversion(&draft(&click_id, "T1", "5", "cv1"), &log("pb1")),
    );
    let rows = run_batch(
        &mut db,
        &record_conversion(&draft(&click_id, "T1", "5", "cv2"), &log("pb2")),
    );
    let recorded: RecordedConversion = serde_json::from_value(rows[0].clone()).unwrap();
    assert_eq!(recorded.outcome, "duplicate");
    assert_eq!(recorded.conversion.conversion_id, "cv1");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM conversions"), 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM conversion_history"), 1);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM postback_log WHERE outcome = 'duplicate' AND conversion_id = 'cv1'"),
        1
    );
    // Another transaction ID on the same click is another conversion.
    let rows = run_batch(
        &mut db,
        &record_conversion(&draft(&click_id, "T2", "5", "cv3"), &log("pb3")),
    );
    assert_eq!(rows[0]["outcome"], "accepted");
}

#[test]
fn a_conversion_without_its_click_row_still_records_with_defaults() {
    let mut db = database();
    let click_id = secrets().mint(NOW - 1000, [3; 7]).unwrap();
    let rows = run_batch(
        &mut db,
        &record_conversion(&draft(&click_id, "T1", "", "cv1"), &log("pb1")),
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
            &record_conversion(&draft(&click_id, &txid, "1", &id), &log(&format!("pb{n}"))),
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
fn purge_deletes_old_rows_in_bounded_chunks() {
    let mut db = database();
    let mut old = click("x");
    old.created_at_ms = 10;
    for n in 0..(PURGE_CHUNK + 3) {
        old.click_id = format!("old{n}");
        run_batch(&mut db, &[insert_click(&old, None, None)]);
    }
    run_batch(&mut db, &[insert_click(&click("fresh"), None, None)]);
    run_batch(&mut db, &purge_expired(NOW - 100_000));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM clicks"), 4);
    run_batch(&mut db, &purge_expired(NOW - 100_000));
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
