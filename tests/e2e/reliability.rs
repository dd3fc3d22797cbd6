//! Reliability (issue 15, design §14): one dead destination's backlog never delays
//! another destination's deliveries, and a destination failing for days is paused.

use crate::harness::{exclusive, isolated_worker};
use crate::listener::{listener, Behaviour};
use std::time::{Duration, Instant};

#[test]
fn a_dead_destinations_backlog_of_5000_never_delays_another_destination() {
    let _alone = exclusive();
    let w = isolated_worker();
    listener().behave("/hooks/backlog-dead", Behaviour::Status(503));
    listener().behave("/hooks/backlog-alive", Behaviour::FailTimes(1, 503));
    // 5,000 deliveries due for the dead destination, older than anything else, stored the
    // way the record step stores them (one conversion, its history, its deliveries).
    let click_id = w.click_through("backlog-alive", "", "192.0.2.170");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let conversion = edgeback::postback::new_record_id(now as u64 - 60_000, [7; 14]);
    let mut sql = format!(
        "INSERT INTO conversions (conversion_id, dedup_key, click_id, campaign, network, event, \
         status, payout_micros, currency, last_postback_id, clicked_at, created_at, updated_at, \
         attributed_at) VALUES ('{conversion}', 'backlog-key', '{click_id}', 'backlog-dead', \
         'generic', 'conversion', 'approved', 1, 'USD', 'x', {now}, {now}, {now}, {now}); \
         INSERT INTO conversion_history (conversion_id, version, status, payout_micros, currency, \
         changed_at, postback_id) VALUES ('{conversion}', 1, 'approved', 1, 'USD', {now}, 'x'); \
         WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 4999) \
         INSERT INTO deliveries (delivery_id, postback_id, destination, conversion_id, version, \
         type, state, attempts, max_attempts, next_attempt_at, created_at, updated_at) \
         SELECT 'backlog-' || printf('%05d', k), 'x', 'backlog-dead', '{conversion}', 1, \
         'conversion.created', 'retrying', 1, 8, {due} + k, {due}, {due} FROM n;",
        due = now - 3_600_000,
    );
    sql.push_str("");
    w.execute(&sql);

    // A conversion for the other destination: its first attempt fails (503).
    let reply = w.get(&format!("/postback?clickid={click_id}&txid=backlog-1"), &[]);
    reply.assert_outcome(200, "accepted", 1);
    let conversion_id = reply.json()["conversion_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    listener().wait_for("/hooks/backlog-alive", 1);
    // Its retry is due a second later (the test schedule); the cron, 40 deliveries a run,
    // must reach it although 5,000 older deliveries of the dead destination are due.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut runs = 0;
    loop {
        std::thread::sleep(Duration::from_millis(1200));
        assert_eq!(w.trigger_cron().status, 200);
        runs += 1;
        let state = w.query(
            "SELECT state FROM deliveries WHERE conversion_id = ?1",
            &[&conversion_id],
        );
        if state.first().is_some_and(|row| row["state"] == "delivered") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not retried after {runs} cron runs: {state:?}"
        );
    }
    println!("the other destination's retry was delivered after {runs} cron run(s)");
    assert!(runs <= 3, "{runs} cron runs");
    let dead_attempted = w.query(
        "SELECT COUNT(*) AS n FROM deliveries WHERE destination = 'backlog-dead' AND attempts > 1",
        &[],
    )[0]["n"]
        .as_i64()
        .unwrap_or(0);
    assert!(
        dead_attempted > 0,
        "the dead destination keeps its turns too"
    );
    // The dead destination is shown failing on /healthz.
    let health = w.get("/healthz", &[]).json();
    let failing = health["failing_destinations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        failing
            .iter()
            .any(|d| d["destination"] == "backlog-dead" && d["paused"] == false),
        "{health}"
    );
    // Leave the isolated worker as found: the backlog goes.
    w.execute("DELETE FROM deliveries WHERE destination = 'backlog-dead'; DELETE FROM destination_health;");
}
