//! Cost is rows written (issue 13, design §10): the rows D1 reports writing for a click,
//! an accepted postback with one destination delivered at the first attempt, and a
//! duplicate, read from D1's own `meta` (the `x-edgeback-d1-rows-written` header for the
//! work before a response, the isolate's ledger for the work after it).

use crate::harness::{exclusive, isolated_worker, Worker, ADMIN_TOKEN};
use crate::listener::listener;
use serde_json::Value;
use std::time::{Duration, Instant};

fn ledger(w: &Worker, reset: bool) -> Vec<Value> {
    let path = if reset {
        "/api/diagnostics/d1?reset=1"
    } else {
        "/api/diagnostics/d1"
    };
    let reply = w.get(path, &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["ledger"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Rows written under `path` (and `table`, when given).
fn written(rows: &[Value], path: &str, table: Option<&str>) -> u64 {
    rows.iter()
        .filter(|row| row["path"] == path && table.is_none_or(|t| row["table"] == t))
        .filter_map(|row| row["rows_written"].as_u64())
        .sum()
}

fn header(reply: &crate::harness::Reply, name: &str) -> u64 {
    reply
        .header(name)
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[test]
fn rows_written_per_click_postback_and_duplicate_hold_the_budgets() {
    let _alone = exclusive();
    let w = isolated_worker();
    ledger(w, true);
    // The stated burst: 200 clicks, 4 at a time, over 5 zones × 2 creatives (10 sub-ID
    // tuples in one 15-minute bucket), the shape of a campaign bought on a few placements.
    let clicks: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|lane| {
                scope.spawn(move || {
                    (0..50)
                        .map(|n| {
                            let k = lane * 50 + n;
                            w.click_only(
                                "cap",
                                &format!("sub1=zone-{}&sub2=creative-{}", k % 5, k % 2),
                                "192.0.2.160",
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("lane"))
            .collect()
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.query(
        "SELECT COUNT(*) AS n FROM clicks WHERE campaign = 'cap'",
        &[],
    )[0]["n"]
        != 200
    {
        assert!(Instant::now() < deadline, "click rows missing");
        std::thread::sleep(Duration::from_millis(100));
    }
    let after_clicks = ledger(w, true);
    let n = clicks.len() as f64;
    let insert = written(&after_clicks, "click", Some("clicks")) as f64 / n;
    let rollup = written(&after_clicks, "click", Some("click_rollup")) as f64 / n;
    let flow = written(&after_clicks, "click", Some("click_flow_rollup")) as f64 / n;
    let other = (written(&after_clicks, "click", None) as f64 / n) - insert - rollup - flow;
    println!(
        "rows written per click: insert {insert:.2}, pre-aggregates {rollup:.3} by sub-ID \
         + {flow:.3} by flow dimension, completion {other:.3}"
    );

    // An accepted postback whose one destination takes the first attempt.
    let click_id = &clicks[0];
    let reply = w.get(
        &format!("/postback?clickid={click_id}&txid=cap-1&status=approved"),
        &[],
    );
    reply.assert_outcome(200, "accepted", 1);
    let record = header(&reply, "x-edgeback-d1-rows-written");
    let conversion_id = reply.json()["conversion_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    listener()
        .wait_for_match("/hooks/cap-hook", |r| {
            r.json()["data"]["conversion_id"] == conversion_id.as_str()
        })
        .expect("delivered");
    let deadline = Instant::now() + Duration::from_secs(10);
    while w.query(
        "SELECT state FROM deliveries WHERE conversion_id = ?1",
        &[&conversion_id],
    )[0]["state"]
        != "delivered"
    {
        assert!(Instant::now() < deadline, "not marked delivered");
        std::thread::sleep(Duration::from_millis(50));
    }
    let after_postback = ledger(w, true);
    let delivery = written(&after_postback, "delivery", None);
    let accepted = record + delivery;
    println!("rows written per accepted postback with one delivery: {accepted} (record batch {record}, delivery {delivery})");

    // The same postback again: a duplicate.
    let reply = w.get(
        &format!("/postback?clickid={click_id}&txid=cap-1&status=approved"),
        &[],
    );
    reply.assert_outcome(200, "duplicate", 1);
    let duplicate = header(&reply, "x-edgeback-d1-rows-written");
    println!("rows written per duplicate: {duplicate}");

    // The purge, run as the cron would in 91 days: rows written per purged click.
    let stored = w.query("SELECT COUNT(*) AS n FROM clicks", &[])[0]["n"]
        .as_u64()
        .unwrap_or(0);
    ledger(w, true);
    let future = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
        + 91 * 86_400_000;
    for _ in 0..((stored / 500) + 2) {
        w.trigger_cron_at("* * * * *", Some(future));
    }
    let purged = stored
        - w.query("SELECT COUNT(*) AS n FROM clicks", &[])[0]["n"]
            .as_u64()
            .unwrap_or(0);
    let purge = written(&ledger(w, true), "cron", Some("clicks")) as f64 / purged.max(1) as f64;
    println!("rows written per purged click: {purge:.2} ({purged} purged)");

    assert!(
        insert + purge <= 2.0,
        "a click's own insert and purge: {insert} + {purge}"
    );
    // Each window's batch upserts one pre-aggregate row per sub-ID tuple it saw, so a
    // click's share is at most 1 row (alone in its window); on this burst (10 tuples, 4
    // senders) 0.3-0.6 measured, depending on how many clicks share a window (load).
    assert!(
        rollup <= 1.0,
        "pre-aggregates on this burst: {rollup} a click"
    );
    // The flow pre-aggregate (docs/report.md, "Flow dimensions") likewise: one row per
    // window's batch and flow key, here one key (one campaign, User-Agent and region, no
    // rules), so at most the sub-ID share (0.010 measured beside the sub-IDs' 0.100).
    assert!(
        flow <= 1.0 && flow <= rollup,
        "flow pre-aggregate on this burst: {flow} a click (sub-ID: {rollup})"
    );
    assert!(
        accepted <= 10,
        "accepted postback with one delivery: {accepted}"
    );
    assert!(duplicate <= 2, "duplicate: {duplicate}");
}
