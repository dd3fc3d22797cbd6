//! The postback receiver end to end (issue 4, design §6, §7): every outcome code outside
//! authentication, the lifecycle, exactly-once under concurrency, presets with the
//! documented real URLs, the log, and the D1 round trips of each path.

use crate::harness::{worker, Reply, CLICK_SECRET};
use edgeback::click_id::ClickSecrets;
use serde_json::{json, Value};
use std::sync::{Arc, Barrier};

const DAY_MS: u64 = 86_400_000;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A fresh click on `campaign`, its row stored; returns the click ID.
fn click(campaign: &str) -> String {
    crate::harness::click_through(campaign, "", "192.0.2.50")
}

/// A click ID minted by the test itself with the worker's secret (no click row).
fn minted(issued_at_ms: u64, seed: u8) -> String {
    ClickSecrets::new(CLICK_SECRET, None)
        .unwrap()
        .mint(issued_at_ms, [seed, 1, 2, 3, 4, 5, seed])
        .unwrap()
}

fn get(path: &str) -> Reply {
    worker().get(path, &[("cf-connecting-ip", "203.0.113.77")])
}

fn outcome(reply: &Reply) -> String {
    reply.outcome()
}

fn assert_outcome(reply: &Reply, status: u16, code: &str, d1_queries: u32) {
    reply.assert_outcome(status, code, d1_queries);
}

/// The log rows whose stored parameters contain `marker`.
fn logged(marker: &str) -> Vec<Value> {
    worker().wait_for_rows(
        "SELECT outcome, detail, network, params, conversion_id FROM postback_log \
         WHERE params LIKE '%' || ?1 || '%' ORDER BY postback_id",
        &[&marker],
    )
}

#[test]
fn request_shape_refusals() {
    let reply = worker().send("PUT", "/postback?clickid=x&tag=shape-put", &[], Some(b""));
    assert_outcome(&reply, 405, "method_not_allowed", 0);

    let big = vec![b'a'; 17 * 1024];
    let reply = worker().send(
        "POST",
        "/postback?tag=shape-big",
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(&big),
    );
    assert_outcome(&reply, 413, "body_too_large", 0);

    let long_url = format!("/postback?tag=shape-long-url&x={}", "y".repeat(8300));
    assert_outcome(&get(&long_url), 413, "body_too_large", 0);

    let reply = worker().send(
        "POST",
        "/postback?tag=shape-media",
        &[("content-type", "text/plain")],
        Some(b"clickid=x"),
    );
    assert_outcome(&reply, 415, "unsupported_media_type", 0);

    for body in [&b"{not json"[..], b"[1,2]", br#"{"clickid":{"nested":1}}"#] {
        let reply = worker().send(
            "POST",
            "/postback?tag=shape-json",
            &[("content-type", "application/json")],
            Some(body),
        );
        assert_outcome(&reply, 400, "malformed_body", 0);
    }

    let many: String = (0..101).map(|n| format!("p{n}=v&")).collect();
    assert_outcome(
        &get(&format!("/postback?{many}tag=shape-many")),
        400,
        "malformed_body",
        0,
    );

    let reply = get(&format!(
        "/postback?tag=shape-value&clickid={}",
        "z".repeat(1100)
    ));
    assert_outcome(&reply, 400, "malformed_body", 0);

    // Every refusal is logged after the response.
    for (tag, code) in [
        ("shape-put", "method_not_allowed"),
        ("shape-media", "unsupported_media_type"),
        ("shape-many", "malformed_body"),
    ] {
        let rows = worker().wait_for_rows(
            "SELECT outcome FROM postback_log WHERE outcome = ?1 AND received_at > ?2",
            &[&code, &((now_ms() - 60_000) as i64)],
        );
        assert!(!rows.is_empty(), "{tag}: no log row for {code}");
    }
}

#[test]
fn field_refusals_make_no_query_and_name_the_problem() {
    let id = minted(now_ms() - 1000, 11);
    let expired = minted(now_ms() - 31 * DAY_MS, 12);
    let cases: Vec<(String, u16, &str)> = vec![
        ("/postback/nosuch?clickid=x".into(), 404, "unknown_network"),
        (
            "/postback?network=nosuch&clickid=x".into(),
            404,
            "unknown_network",
        ),
        (
            "/postback?payout=1&tag=fields-missing".into(),
            400,
            "missing_click_id",
        ),
        (
            "/postback?clickid=%7Bsubid%7D".into(),
            400,
            "unreplaced_macro",
        ),
        (
            "/postback?clickid=%257Bclickid%257D".into(),
            400,
            "unreplaced_macro",
        ),
        ("/postback?clickid=%23s2%23".into(), 400, "unreplaced_macro"),
        (
            "/postback?clickid=%5Bsubid%5D".into(),
            400,
            "unreplaced_macro",
        ),
        (
            "/postback?clickid=%24%7BSUBID%7D".into(),
            400,
            "unreplaced_macro",
        ),
        (
            "/postback?clickid=%7B%7Bclickid%7D%7D".into(),
            400,
            "unreplaced_macro",
        ),
        (
            format!("/postback?clickid={}", "0".repeat(32)),
            400,
            "invalid_click_id",
        ),
        (
            format!("/postback?clickid={}", &id[..31]),
            400,
            "invalid_click_id",
        ),
        (format!("/postback?clickid={expired}"), 410, "click_expired"),
        (
            format!("/postback?clickid={id}&payout=%245"),
            400,
            "invalid_payout",
        ),
        (
            format!("/postback?clickid={id}&payout=1e3"),
            400,
            "invalid_payout",
        ),
        (
            format!("/postback?clickid={id}&payout=1,234.56"),
            400,
            "invalid_payout",
        ),
        (
            format!("/postback/strict?clickid={id}&payout=100.01"),
            422,
            "payout_out_of_range",
        ),
        (
            format!("/postback?clickid={id}&payout=-3"),
            422,
            "payout_out_of_range",
        ),
        (
            format!("/postback?clickid={id}&currency=DOLLARS"),
            400,
            "invalid_currency",
        ),
        (
            format!("/postback?clickid={id}&status=maybe"),
            400,
            "unknown_status",
        ),
        (
            format!("/postback?clickid={id}&event=First%20Deposit!"),
            400,
            "unknown_event",
        ),
    ];
    for (path, status, code) in cases {
        let reply = get(&path);
        assert_outcome(&reply, status, code, 0);
        let detail = reply.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(!detail.is_empty(), "{code}: no detail");
    }
    let reply = get("/postback?clickid=%7Bsubacc4%7D");
    assert!(
        reply.json()["detail"]
            .as_str()
            .unwrap()
            .contains("clickid={subacc4}"),
        "{}",
        reply.body
    );
}

#[test]
fn the_lifecycle_accepted_updated_duplicate_invalid_transition() {
    let id = click("pb");
    let base = format!("/postback/strict?clickid={id}&txid=life-1");
    let first = get(&format!("{base}&payout=10&status=pending"));
    assert_outcome(&first, 200, "accepted", 1);
    let conversion_id = first.json()["conversion_id"].as_str().unwrap().to_string();

    let same = get(&format!("{base}&payout=10&status=pending"));
    assert_outcome(&same, 200, "duplicate", 1);
    assert_eq!(same.json()["conversion_id"], conversion_id.as_str());

    let approved = get(&format!("{base}&payout=10&status=1"));
    assert_outcome(&approved, 200, "updated", 1);
    let adjusted = get(&format!("{base}&payout=12.5&status=1"));
    assert_outcome(&adjusted, 200, "updated", 1);
    let backwards = get(&format!("{base}&payout=12.5&status=pending"));
    assert_outcome(&backwards, 409, "invalid_transition", 1);
    assert_eq!(
        backwards.json()["detail"],
        "status cannot change from approved to pending"
    );
    let reversed = get(&format!("{base}&status=chargeback"));
    assert_outcome(&reversed, 200, "updated", 1);

    let rows = worker().query(
        "SELECT * FROM conversions WHERE conversion_id = ?1",
        &[&conversion_id],
    );
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["status"], "reversed");
    assert_eq!(row["raw_status"], "chargeback");
    assert_eq!(
        row["payout_micros"], 12_500_000,
        "an absent payout keeps the stored one"
    );
    assert_eq!(row["currency"], "EUR", "the campaign's currency applies");
    assert_eq!(row["version"], 4);
    let history = worker().query(
        "SELECT version, status, payout_micros FROM conversion_history WHERE conversion_id = ?1 ORDER BY version",
        &[&conversion_id],
    );
    assert_eq!(
        history,
        [
            json!({"version": 1, "status": "pending", "payout_micros": 10_000_000}),
            json!({"version": 2, "status": "approved", "payout_micros": 10_000_000}),
            json!({"version": 3, "status": "approved", "payout_micros": 12_500_000}),
            json!({"version": 4, "status": "reversed", "payout_micros": 12_500_000}),
        ]
    );
    let log = worker().query(
        "SELECT outcome FROM postback_log WHERE click_id = ?1 ORDER BY postback_id",
        &[&id],
    );
    let outcomes: Vec<&str> = log
        .iter()
        .map(|row| row["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "accepted",
            "duplicate",
            "updated",
            "updated",
            "invalid_transition",
            "updated"
        ]
    );
}

#[test]
fn events_by_map_slug_or_default_and_one_click_many_conversions() {
    let id = click("pb");
    let lead = get(&format!("/postback/strict?clickid={id}&txid=ev-1"));
    assert_outcome(&lead, 200, "accepted", 1);
    let ftd = get(&format!(
        "/postback/strict?clickid={id}&txid=ev-2&event=FTD"
    ));
    assert_outcome(&ftd, 200, "accepted", 1);
    let slug = get(&format!(
        "/postback/strict?clickid={id}&txid=ev-3&goal=Upsell_2"
    ));
    assert_outcome(&slug, 200, "accepted", 1);
    let rows = worker().query(
        "SELECT event, status FROM conversions WHERE click_id = ?1 ORDER BY transaction_id",
        &[&id],
    );
    assert_eq!(
        rows,
        [
            json!({"event": "conversion", "status": "pending"}),
            json!({"event": "ftd", "status": "pending"}),
            json!({"event": "upsell_2", "status": "pending"}),
        ]
    );
}

#[test]
fn a_campaign_restricted_to_one_network_refuses_the_others() {
    let id = click("pb-only-tune");
    let refused = get(&format!("/postback?clickid={id}&txid=only-1"));
    // Decided from the click ID alone (the restriction is bound into its tag): no D1.
    assert_outcome(&refused, 400, "invalid_click_id", 0);
    let accepted = get(&format!("/postback/tune?aff_sub={id}&adv_sub=only-1"));
    assert_outcome(&accepted, 200, "accepted", 1);
    assert_eq!(
        worker()
            .query("SELECT 1 FROM conversions WHERE click_id = ?1", &[&id])
            .len(),
        1
    );
}

#[test]
fn fifty_identical_postbacks_at_once_record_exactly_once() {
    let id = click("pb");
    let path = Arc::new(format!("/postback?clickid={id}&payout=3&txid=burst-1"));
    let gate = Arc::new(Barrier::new(50));
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let (path, gate) = (Arc::clone(&path), Arc::clone(&gate));
            std::thread::spawn(move || {
                gate.wait();
                let reply = get(&path);
                (
                    reply.status,
                    outcome(&reply),
                    reply.json()["conversion_id"].clone(),
                )
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let accepted = results.iter().filter(|(_, o, _)| o == "accepted").count();
    let duplicate = results.iter().filter(|(_, o, _)| o == "duplicate").count();
    assert_eq!((accepted, duplicate), (1, 49), "{results:?}");
    assert!(results.iter().all(|(status, _, _)| *status == 200));
    let ids: std::collections::BTreeSet<String> =
        results.iter().map(|(_, _, c)| c.to_string()).collect();
    assert_eq!(ids.len(), 1, "every reply names the one conversion");
    assert_eq!(
        worker()
            .query("SELECT 1 FROM conversions WHERE click_id = ?1", &[&id])
            .len(),
        1
    );
    assert_eq!(worker().query("SELECT 1 FROM conversion_history h JOIN conversions c USING (conversion_id) WHERE c.click_id = ?1", &[&id]).len(), 1);
    assert_eq!(
        worker()
            .query("SELECT 1 FROM postback_log WHERE click_id = ?1", &[&id])
            .len(),
        50
    );
}

#[test]
fn distinct_transactions_at_once_are_each_recorded_once() {
    let id = click("pb");
    let gate = Arc::new(Barrier::new(40));
    let threads: Vec<_> = (0..40)
        .map(|n| {
            let (id, gate) = (id.clone(), Arc::clone(&gate));
            std::thread::spawn(move || {
                gate.wait();
                outcome(&get(&format!(
                    "/postback?clickid={id}&payout=1&txid=many-{n}"
                )))
            })
        })
        .collect();
    let outcomes: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(outcomes.iter().all(|o| o == "accepted"), "{outcomes:?}");
    let rows = worker().query("SELECT COUNT(DISTINCT transaction_id) AS n, COUNT(*) AS total FROM conversions WHERE click_id = ?1", &[&id]);
    assert_eq!(rows[0], json!({"n": 40, "total": 40}));
}

#[test]
fn flat_json_and_form_bodies() {
    let id = click("pb");
    let body = json!({ "clickid": id, "payout": 2.75, "txid": "json-1", "status": "approved", "extra": null, "flag": true });
    let reply = worker().send(
        "POST",
        "/postback",
        &[("content-type", "application/json; charset=utf-8")],
        Some(body.to_string().as_bytes()),
    );
    assert_outcome(&reply, 200, "accepted", 1);
    let row = &worker().query(
        "SELECT payout_micros FROM conversions WHERE transaction_id = 'json-1'",
        &[],
    )[0];
    assert_eq!(row["payout_micros"], 2_750_000);
    let form = format!("clickid={id}&payout=1%2C5&txid=form-1");
    let reply = worker().send(
        "POST",
        "/postback/strict",
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(form.as_bytes()),
    );
    assert_outcome(&reply, 200, "accepted", 1);
}

#[test]
fn the_log_redacts_personal_data_and_keeps_sql_looking_values_verbatim() {
    let id = click("pb");
    let sql = "x'); DROP TABLE conversions; --";
    let path = format!(
        "/postback?clickid={id}&txid=redact-1&email=someone%40example.com&phone=%2B15550100&note={}",
        url::form_urlencoded::byte_serialize(sql.as_bytes()).collect::<String>()
    );
    assert_outcome(&get(&path), 200, "accepted", 1);
    let rows = logged("redact-1");
    assert_eq!(rows.len(), 1);
    let params = rows[0]["params"].as_str().unwrap();
    assert!(
        !params.contains("someone@example.com") && !params.contains("15550100"),
        "{params}"
    );
    assert!(params.contains("[redacted]"));
    assert!(params.contains(sql), "{params}");
    assert!(!worker()
        .query("SELECT 1 FROM conversions LIMIT 1", &[])
        .is_empty());
}

#[test]
fn text_replies_for_text_networks() {
    let id = click("pb");
    let reply = get(&format!("/postback/textnet?clickid={id}&txid=text-1"));
    assert_eq!((reply.status, reply.body.as_str()), (200, "OK accepted"));
    let reply = get(&format!("/postback/textnet?clickid={id}&txid=text-1"));
    assert_eq!((reply.status, reply.body.as_str()), (200, "OK duplicate"));
    let reply = get(&format!("/postback/textnet?clickid={id}&payout=abc"));
    assert_eq!(reply.status, 400);
    assert!(
        reply.body.starts_with("ERROR invalid_payout: "),
        "{}",
        reply.body
    );
}

/// The platforms' documented postback URLs (docs/networks.md) through their presets.
#[test]
fn documented_real_urls_through_their_presets() {
    // AdCombo → Keitaro, as received with values (status words taught in the URL).
    let id = click("pb");
    let reply = get(&format!(
        "/postback/keitaro?subid={id}&payout=21.0&status=confirmed&tid=52949935&from=adcombo.com\
         &lead_status=hold&sale_status=lead&rejected_status=reject,trash,cancelled"
    ));
    assert_outcome(&reply, 200, "accepted", 1);
    let row = &worker().query("SELECT status, raw_status, payout_micros, transaction_id FROM conversions WHERE click_id = ?1", &[&id])[0];
    assert_eq!(
        *row,
        json!({"status": "approved", "raw_status": "confirmed", "payout_micros": 21_000_000, "transaction_id": "52949935"})
    );
    // The same sender's words: "hold" means pending, "lead" means approved here.
    let id = click("pb");
    let reply = get(&format!(
        "/postback/keitaro?subid={id}&status=hold&tid=k-2&lead_status=hold&sale_status=lead"
    ));
    assert_outcome(&reply, 200, "accepted", 1);
    assert_eq!(
        worker().query("SELECT status FROM conversions WHERE click_id = ?1", &[&id])[0]["status"],
        "pending"
    );
    // The template with its macro left in.
    let reply = get("/postback/keitaro?subid={subacc4}&payout={revenue}&status={status}&tid={trans_id}&from=adcombo.com");
    assert_outcome(&reply, 400, "unreplaced_macro", 0);

    // Voluum upsells: two conversions on one click, told apart by txid.
    let id = click("pb");
    assert_outcome(
        &get(&format!("/postback/voluum?cid={id}&payout=10.00&txid=120")),
        200,
        "accepted",
        1,
    );
    assert_outcome(
        &get(&format!(
            "/postback/voluum?cid={id}&payout=0.00&txid=NEWSLETTER"
        )),
        200,
        "accepted",
        1,
    );
    assert_eq!(
        worker()
            .query("SELECT 1 FROM conversions WHERE click_id = ?1", &[&id])
            .len(),
        2
    );
    let reply =
        get("/postback/voluum?cid={}&payout={}&txid={}&currency={}&et={}&param1={}&param2={}");
    assert_outcome(&reply, 400, "unreplaced_macro", 0);

    // BeMob's default template: REPLACE / OPTIONAL placeholders.
    let reply = get("/postback?cid=REPLACE&payout=OPTIONAL&txid=OPTIONAL&status=OPTIONAL");
    assert_outcome(&reply, 400, "unreplaced_macro", 0);
    assert!(reply.json()["detail"]
        .as_str()
        .unwrap()
        .contains("cid=REPLACE"));

    // Everflow.
    let id = click("pb");
    assert_outcome(
        &get(&format!(
            "/postback/everflow?nid=5&transaction_id={id}&amount=100&currency=GBP"
        )),
        200,
        "accepted",
        1,
    );
    let row = &worker().query(
        "SELECT payout_micros, currency FROM conversions WHERE click_id = ?1",
        &[&id],
    )[0];
    assert_eq!(
        *row,
        json!({"payout_micros": 100_000_000, "currency": "GBP"})
    );

    // Affise: status 2 is pending, action_id the transaction, goal the event.
    let id = click("pb");
    assert_outcome(
        &get(&format!(
            "/postback/affise?clickid={id}&action_id=A-1&goal=first_deposit&status=2&sum=7"
        )),
        200,
        "accepted",
        1,
    );
    let row = &worker().query(
        "SELECT status, event, transaction_id, payout_micros FROM conversions WHERE click_id = ?1",
        &[&id],
    )[0];
    assert_eq!(
        *row,
        json!({"status": "pending", "event": "first_deposit", "transaction_id": "A-1", "payout_micros": 7_000_000})
    );
    let reply = get(
        "/postback/affise?clickid={clickid}&action_id={adv-macro-for-action-id}&goal={event-name}",
    );
    assert_outcome(&reply, 400, "unreplaced_macro", 0);

    // TUNE's own click ID in transaction_id.
    let id = click("pb");
    assert_outcome(
        &get(&format!("/postback/tune?offer_id=26&transaction_id={id}")),
        200,
        "accepted",
        1,
    );
    assert_outcome(
        &get("/postback/tune?offer_id=26&transaction_id=TRANSACTION_ID"),
        400,
        "invalid_click_id",
        0,
    );

    // CAKE, Binom, RedTrack by their own parameter names.
    let id = click("pb");
    assert_outcome(
        &get(&format!(
            "/postback/cake?o=1&e=3&r={id}&t=cake-1&amount=4.5"
        )),
        200,
        "accepted",
        1,
    );
    let id = click("pb");
    assert_outcome(
        &get(&format!(
            "/postback/binom?cnv_id={id}&payout=2&cnv_status=Hold&cnv_currency=usd"
        )),
        200,
        "accepted",
        1,
    );
    assert_eq!(
        worker().query("SELECT status FROM conversions WHERE click_id = ?1", &[&id])[0]["status"],
        "pending"
    );
    let id = click("pb");
    assert_outcome(&get(&format!("/postback/redtrack?clickid={id}&sum=3&type=Purchase&status=Declined&rdtk_event_id=rt-1")), 200, "accepted", 1);
    let row = &worker().query(
        "SELECT status, event FROM conversions WHERE click_id = ?1",
        &[&id],
    )[0];
    assert_eq!(*row, json!({"status": "rejected", "event": "purchase"}));
}

#[test]
fn a_storage_failure_answers_503_and_writes_nothing() {
    let _alone = crate::harness::exclusive();
    let w = crate::harness::isolated_worker();
    let id = w.click_through("pb", "", "192.0.2.51");
    // Make the record step's log insert fail for this one postback, inside the real D1:
    // the conversion insert before it in the same batch must be rolled back.
    w.execute(
        "CREATE TRIGGER IF NOT EXISTS e2e_fail_record BEFORE INSERT ON postback_log \
         WHEN NEW.conversion_id IS NOT NULL AND NEW.params LIKE '%storage-failure-probe%' \
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
    );
    let path = format!("/postback?clickid={id}&payout=9&txid=storage-failure-probe");
    let reply = w.get(&path, &[]);
    assert_outcome(&reply, 503, "internal_error", 1);
    // The sender is told when to retry (docs/reliability.md, D1 outage).
    assert_eq!(reply.header("retry-after"), Some("30"));
    assert!(
        w.query("SELECT 1 FROM conversions WHERE click_id = ?1", &[&id])
            .is_empty(),
        "half-written"
    );
    let rows = w.wait_for_rows(
        "SELECT outcome FROM postback_log WHERE params LIKE '%storage-failure-probe%'",
        &[],
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["outcome"], "internal_error");
    w.execute("DROP TRIGGER e2e_fail_record");
    // The sender's retry then succeeds; only a storage failure asks for a retry.
    let retried = w.get(&path, &[]);
    assert_outcome(&retried, 200, "accepted", 1);
    assert_eq!(retried.header("retry-after"), None);
}
