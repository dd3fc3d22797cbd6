//! Forwarding end to end (issue 6, design §8): deliveries in the record batch, the first
//! attempt after the response, retries by the cron, attempt rules, Standard Webhooks
//! signatures checked by an independent implementation, postback destinations, replay.

use crate::harness::{worker, Reply, ADMIN_TOKEN};
use crate::listener::{listener, Behaviour, Received};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const HOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn click(campaign: &str, query: &str) -> String {
    crate::harness::click_through(campaign, query, "192.0.2.99")
}

fn postback(query: &str) -> Reply {
    let reply = worker().get(
        &format!("/postback?{query}"),
        &[("cf-connecting-ip", "203.0.113.88")],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply
}

fn deliveries(conversion_id: &str) -> Vec<Value> {
    worker().query(
        "SELECT delivery_id, destination, type, version, state, attempts, last_status, last_error, next_attempt_at \
         FROM deliveries WHERE conversion_id = ?1 ORDER BY created_at, destination",
        &[&conversion_id],
    )
}

fn attempts(delivery_id: &str) -> Vec<Value> {
    worker().query(
        "SELECT attempt, status_code, latency_ms, error, response_excerpt, attempted_at FROM delivery_attempts \
         WHERE delivery_id = ?1 ORDER BY attempt",
        &[&delivery_id],
    )
}

/// Runs the cron every ~1.1 s until `done` holds (or 40 s pass).
fn cron_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(1100));
        worker().trigger_cron();
    }
}

fn wait_for_state(delivery_id: &str, state: &str) -> Value {
    cron_until(&format!("{delivery_id} to be {state}"), || {
        worker()
            .query(
                "SELECT state FROM deliveries WHERE delivery_id = ?1",
                &[&delivery_id],
            )
            .first()
            .is_some_and(|row| row["state"] == state)
    });
    worker().query(
        "SELECT * FROM deliveries WHERE delivery_id = ?1",
        &[&delivery_id],
    )[0]
    .clone()
}

/// Verifies a received webhook with Python's standard library: not the code under test.
fn verify_independently(request: &Received) {
    let script = r#"
import base64, hashlib, hmac, sys
secret, msg_id, timestamp, signatures = sys.argv[1:5]
body = sys.stdin.buffer.read()
key = base64.b64decode(secret.split("_", 1)[1])
expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()).decode()
ok = any(s.split(",", 1)[1] == expected for s in signatures.split() if s.startswith("v1,"))
sys.exit(0 if ok else 3)
"#;
    let mut child = std::process::Command::new("python3")
        .args([
            "-c",
            script,
            HOOK_SECRET,
            request.header("webhook-id").expect("webhook-id"),
            request
                .header("webhook-timestamp")
                .expect("webhook-timestamp"),
            request
                .header("webhook-signature")
                .expect("webhook-signature"),
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&request.body)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "the signature did not verify: {:?}",
        request.headers
    );
    let timestamp: u64 = request
        .header("webhook-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(timestamp.abs_diff(now) < 60);
}

#[test]
fn a_delivery_arrives_signed_with_the_spec_body_in_the_same_batch() {
    let id = click("fw", "sub1=zone-7&external_id=ext-42");
    let reply = postback(&format!(
        "clickid={id}&txid=fw-1&event=sale&status=approved"
    ));
    assert_eq!(
        reply.d1_queries(),
        1,
        "the deliveries are in the record batch"
    );
    let conversion_id = reply.json()["conversion_id"].as_str().unwrap().to_string();

    let found =
        listener().wait_for_match("/hooks/fw-hook", |r| r.body_text().contains(&conversion_id));
    let request = &found.unwrap_or_else(|| panic!("no webhook for {conversion_id}"));
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("content-type"), Some("application/json"));
    verify_independently(request);
    let body = request.json();
    assert_eq!(body["type"], "conversion.created");
    let data = &body["data"];
    assert_eq!(data["conversion_id"], conversion_id.as_str());
    assert_eq!(data["version"], 1);
    assert_eq!(data["click_id"], id.as_str());
    assert_eq!(data["campaign"], "fw");
    assert_eq!(data["network"], "generic");
    assert_eq!(data["event"], "sale");
    assert_eq!(
        (data["status"].clone(), data["raw_status"].clone()),
        (json!("approved"), json!("approved"))
    );
    assert_eq!(data["payout"], "12.500000", "the campaign's payout");
    assert_eq!(data["currency"], "USD");
    assert_eq!(data["transaction_id"], "fw-1");
    assert_eq!(data["external_id"], "ext-42");
    assert_eq!(data["sub"], json!({ "sub1": "zone-7" }));
    assert_eq!(data["previous"], Value::Null);
    for field in ["clicked_at", "converted_at"] {
        assert!(data[field].as_str().unwrap().ends_with('Z'), "{field}");
    }
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));

    let rows = deliveries(&conversion_id);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        request.header("webhook-id"),
        Some(format!("msg_{}", rows[0]["delivery_id"].as_str().unwrap()).as_str())
    );
    let delivered = wait_for_state(rows[0]["delivery_id"].as_str().unwrap(), "delivered");
    assert_eq!(delivered["attempts"], 1);
    let recorded = attempts(rows[0]["delivery_id"].as_str().unwrap());
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["status_code"], 200);
    assert_eq!(recorded[0]["response_excerpt"], "listener says 200");
    assert!(recorded[0]["latency_ms"].as_i64().unwrap() >= 0);
}

#[test]
fn a_listener_that_fails_three_times_gets_it_after_cron_runs() {
    listener().behave("/hooks/fw-flaky", Behaviour::FailTimes(3, 500));
    let id = click("fw-flaky", "");
    let reply = postback(&format!("clickid={id}&txid=fw-flaky-1"));
    let conversion_id = reply.json()["conversion_id"].as_str().unwrap().to_string();
    let delivery_id = deliveries(&conversion_id)[0]["delivery_id"]
        .as_str()
        .unwrap()
        .to_string();
    let row = wait_for_state(&delivery_id, "delivered");
    assert_eq!(row["attempts"], 4);
    let recorded = attempts(&delivery_id);
    let statuses: Vec<i64> = recorded
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 500, 500, 200]);
    assert_eq!(recorded[0]["error"], "HTTP 500");
    let received = listener().received("/hooks/fw-flaky");
    let ids: std::collections::BTreeSet<&str> = received
        .iter()
        .filter_map(|r| r.header("webhook-id"))
        .collect();
    assert_eq!(received.len(), 4);
    assert_eq!(ids.len(), 1, "one webhook-id across retries");
    assert_eq!(
        received[0].body, received[3].body,
        "the same body on every attempt"
    );
    // Retries waited for the schedule (1 s steps here).
    for pair in recorded.windows(2) {
        let gap =
            pair[1]["attempted_at"].as_i64().unwrap() - pair[0]["attempted_at"].as_i64().unwrap();
        assert!(gap >= 1000, "retried after {gap} ms");
    }
}

#[test]
fn a_listener_that_never_answers_in_time_ends_failed_after_max_attempts() {
    listener().behave("/hooks/fw-slow", Behaviour::Hang(Duration::from_secs(6)));
    let id = click("fw-slow", "");
    let reply = postback(&format!("clickid={id}&txid=fw-slow-1"));
    let conversion_id = reply.json()["conversion_id"].as_str().unwrap().to_string();
    let delivery_id = deliveries(&conversion_id)[0]["delivery_id"]
        .as_str()
        .unwrap()
        .to_string();
    let row = wait_for_state(&delivery_id, "failed");
    assert_eq!(row["attempts"], 2, "max_attempts = 2");
    let recorded = attempts(&delivery_id);
    assert_eq!(recorded.len(), 2);
    for attempt in &recorded {
        assert_eq!(attempt["status_code"], Value::Null);
        assert_eq!(attempt["error"], "no answer within 2 s");
        assert!(attempt["latency_ms"].as_i64().unwrap() >= 1900);
    }
}

#[test]
fn a_status_change_produces_conversion_updated_with_previous() {
    let id = click("fw", "");
    let first = postback(&format!(
        "clickid={id}&txid=fw-upd&status=pending&payout=10"
    ));
    let conversion_id = first.json()["conversion_id"].as_str().unwrap().to_string();
    let second = postback(&format!(
        "clickid={id}&txid=fw-upd&status=approved&payout=11"
    ));
    assert_eq!(second.json()["outcome"], "updated");
    assert_eq!(second.d1_queries(), 1);
    postback(&format!(
        "clickid={id}&txid=fw-upd&status=approved&payout=11"
    )); // duplicate: no delivery
    let hooks: Vec<Value> = listener()
        .wait_for("/hooks/fw-hook", 1)
        .iter()
        .map(Received::json)
        .filter(|body| body["data"]["conversion_id"] == conversion_id.as_str())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut hooks = hooks;
    while hooks.len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        hooks = listener()
            .received("/hooks/fw-hook")
            .iter()
            .map(Received::json)
            .filter(|b| b["data"]["conversion_id"] == conversion_id.as_str())
            .collect();
    }
    hooks.sort_by_key(|body| body["data"]["version"].as_i64());
    assert_eq!(hooks.len(), 2, "{hooks:?}");
    assert_eq!(
        (
            hooks[0]["type"].clone(),
            hooks[0]["data"]["version"].clone()
        ),
        (json!("conversion.created"), json!(1))
    );
    assert_eq!(hooks[1]["type"], "conversion.updated");
    assert_eq!(hooks[1]["data"]["version"], 2);
    assert_eq!(hooks[1]["data"]["status"], "approved");
    assert_eq!(hooks[1]["data"]["payout"], "11.000000");
    assert_eq!(
        hooks[1]["data"]["previous"],
        json!({ "status": "pending", "payout": "10.000000" })
    );
    assert_eq!(
        deliveries(&conversion_id).len(),
        2,
        "the duplicate made no delivery"
    );
}

#[test]
fn filters_send_only_what_matches() {
    let id = click("fw-filter", "");
    let pending = postback(&format!("clickid={id}&txid=fw-filter-1&status=pending"));
    let conversion_id = pending.json()["conversion_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        deliveries(&conversion_id).is_empty(),
        "pending + created matches neither filter"
    );
    postback(&format!("clickid={id}&txid=fw-filter-1&status=approved"));
    let rows = deliveries(&conversion_id);
    let names: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["destination"].as_str().unwrap(),
                r["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("fw-approved", "conversion.updated"),
            ("fw-updates", "conversion.updated")
        ]
    );
    listener().wait_for("/hooks/fw-approved", 1);
    listener().wait_for("/hooks/fw-updates", 1);
    // Other campaigns' conversions reach none of these destinations.
    let other = click("fw-ts", "");
    let reply = postback(&format!("clickid={other}&txid=fw-filter-2&status=approved"));
    let rows = deliveries(reply.json()["conversion_id"].as_str().unwrap());
    assert!(
        rows.iter()
            .all(|r| r["destination"].as_str().unwrap().starts_with("fw-ts")),
        "{rows:?}"
    );
}

#[test]
fn postback_destinations_get_the_traffic_source_click_id_and_sub_ids() {
    let id = click("fw-ts", "visitor_id=ts%20visitor%2F1&sub1=zone%2633");
    let reply = postback(&format!(
        "clickid={id}&txid=ts%20tx&payout=3,5&event=lead&status=approved&currency=eur"
    ));
    let conversion_id = reply.json()["conversion_id"].as_str().unwrap().to_string();
    let request = listener()
        .wait_for_match("/ts/get", |r| r.target.contains(&conversion_id))
        .unwrap_or_else(|| panic!("no GET postback for {conversion_id}"));
    assert_eq!(request.method, "GET");
    let url = url::Url::parse(&format!("http://x{}", request.target)).unwrap();
    let pairs: std::collections::BTreeMap<String, String> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(pairs["visitor"], "ts visitor/1");
    assert_eq!(pairs["s1"], "zone&33");
    assert_eq!(pairs["payout"], "3.5");
    assert_eq!(pairs["status"], "approved");
    assert_eq!(pairs["cid"], id);
    assert_eq!(pairs["tx"], "ts tx");
    assert_eq!(pairs["ev"], "lead");
    assert_eq!(pairs["cur"], "EUR");
    assert_eq!(pairs["net"], "generic");
    assert_eq!(pairs["camp"], "fw-ts");
    assert!(
        request.target.contains("visitor=ts%20visitor%2F1&"),
        "values are URL-encoded: {}",
        request.target
    );

    let form = listener()
        .wait_for_match("/ts/post", |r| r.body_text().contains("ts%20visitor%2F1"))
        .expect("a form POST postback");
    assert_eq!(form.method, "POST");
    assert_eq!(
        form.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        form.body_text(),
        "visitor=ts%20visitor%2F1&payout=3.5&s1=zone%2633"
    );
}

#[test]
fn gone_fails_at_once_and_a_replay_keeps_the_webhook_id() {
    listener().behave("/hooks/fw-gone", Behaviour::Status(410));
    let id = click("fw-gone", "");
    let reply = postback(&format!("clickid={id}&txid=fw-gone-1"));
    let conversion_id = reply.json()["conversion_id"].as_str().unwrap().to_string();
    let delivery_id = deliveries(&conversion_id)[0]["delivery_id"]
        .as_str()
        .unwrap()
        .to_string();
    let failed = wait_for_state(&delivery_id, "failed");
    assert_eq!(failed["attempts"], 1, "410 fails at once");
    let first_id = listener().received("/hooks/fw-gone")[0]
        .header("webhook-id")
        .unwrap()
        .to_string();

    listener().behave("/hooks/fw-gone", Behaviour::Status(200));
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let unauthorized = worker().send(
        "POST",
        &format!("/api/deliveries/{delivery_id}/replay"),
        &[],
        Some(b""),
    );
    assert_eq!(unauthorized.status, 401);
    let replay = worker().send(
        "POST",
        &format!("/api/deliveries/{delivery_id}/replay"),
        &[("authorization", &auth)],
        Some(b""),
    );
    assert_eq!(replay.status, 202, "{}", replay.body);
    assert_eq!(replay.json()["replayed"], 1);
    let row = wait_for_state(&delivery_id, "delivered");
    assert_eq!(row["attempts"], 2);
    let received = listener().received("/hooks/fw-gone");
    let last = received
        .iter()
        .rev()
        .find(|r| r.body_text().contains(&conversion_id))
        .unwrap();
    assert_eq!(
        last.header("webhook-id"),
        Some(first_id.as_str()),
        "the same webhook-id after a replay"
    );
    verify_independently(last);
    let missing = worker().send(
        "POST",
        "/api/deliveries/nope/replay",
        &[("authorization", &auth)],
        Some(b""),
    );
    assert_eq!(missing.status, 404);

    // Bulk replay of failed deliveries since a time.
    listener().behave("/hooks/fw-gone", Behaviour::Status(410));
    let second = click("fw-gone", "");
    let reply = postback(&format!("clickid={second}&txid=fw-gone-2"));
    let second_conversion = reply.json()["conversion_id"].as_str().unwrap().to_string();
    let second_delivery = deliveries(&second_conversion)[0]["delivery_id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for_state(&second_delivery, "failed");
    listener().behave("/hooks/fw-gone", Behaviour::Status(204));
    let since = worker().query(
        "SELECT created_at FROM deliveries WHERE delivery_id = ?1",
        &[&second_delivery],
    )[0]["created_at"]
        .as_i64()
        .unwrap();
    let bulk = worker().send(
        "POST",
        &format!("/api/deliveries/replay?state=failed&since={since}"),
        &[("authorization", &auth)],
        Some(b""),
    );
    assert_eq!(bulk.status, 202, "{}", bulk.body);
    assert!(bulk.json()["delivery_ids"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d == second_delivery.as_str()));
    wait_for_state(&second_delivery, "delivered");
}

#[test]
fn retry_after_is_honoured_and_redirects_are_not_followed() {
    listener().behave("/hooks/fw-ra", Behaviour::RetryAfter(429, 3));
    let id = click("fw-ra", "");
    let reply = postback(&format!("clickid={id}&txid=fw-ra-1"));
    let conversion_id = reply.json()["conversion_id"].as_str().unwrap().to_string();
    let delivery_id = deliveries(&conversion_id)[0]["delivery_id"]
        .as_str()
        .unwrap()
        .to_string();
    cron_until("the first 429", || !attempts(&delivery_id).is_empty());
    let row = &deliveries(&conversion_id)[0];
    let attempted = attempts(&delivery_id)[0]["attempted_at"].as_i64().unwrap();
    let wait = row["next_attempt_at"].as_i64().unwrap() - attempted;
    assert!(
        (3000..3500).contains(&wait),
        "Retry-After 3 s gave a {wait} ms wait"
    );
    assert_eq!(row["last_status"], 429);

    listener().behave(
        "/hooks/fw-redirect",
        Behaviour::Redirect("/hooks/fw-redirect-target".into()),
    );
    let id = click("fw-redirect", "");
    let reply = postback(&format!("clickid={id}&txid=fw-redirect-1"));
    let conversion_id = reply.json()["conversion_id"].as_str().unwrap().to_string();
    let delivery_id = deliveries(&conversion_id)[0]["delivery_id"]
        .as_str()
        .unwrap()
        .to_string();
    cron_until("the redirect attempt", || {
        !attempts(&delivery_id).is_empty()
    });
    let row = &deliveries(&conversion_id)[0];
    assert_eq!(
        (row["state"].clone(), row["last_status"].clone()),
        (json!("retrying"), json!(302))
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        listener().received("/hooks/fw-redirect-target").is_empty(),
        "the redirect was followed"
    );
}
