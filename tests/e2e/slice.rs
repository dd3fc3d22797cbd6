//! The first vertical slice (issue 2): health, click, postback, admin list, cron, and
//! the D1 round trips each path makes before its response.

use crate::harness::{worker, Reply, ADMIN_TOKEN, CLICK_SECRET};
use edgeback::click_id::ClickSecrets;

const BROWSER: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148";

fn click(path: &str, ip: &str) -> Reply {
    worker().get(path, &[("user-agent", BROWSER), ("cf-connecting-ip", ip)])
}

/// The click ID the redirect carried in `aff_sub`.
fn click_id_from(reply: &Reply) -> String {
    let location = reply.header("location").expect("a Location header");
    let url = url::Url::parse(location).expect("an absolute Location");
    url.query_pairs()
        .find(|(name, _)| name == "aff_sub")
        .map(|(_, value)| value.into_owned())
        .expect("aff_sub in the Location")
}

fn admin_get(path: &str) -> Reply {
    worker().get(path, &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))])
}

#[test]
fn healthz_reports_the_version_and_never_caches() {
    let reply = worker().get("/healthz", &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["ok"], true);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}

#[test]
fn a_click_redirects_with_zero_queries_and_its_row_arrives_after() {
    let reply = click(
        "/c/slice?zoneid=zone%201&external_id=ext-77&sub3=s3",
        "198.51.100.23",
    );
    assert_eq!(reply.status, 302, "{}", reply.body);
    assert_eq!(
        reply.d1_queries(),
        0,
        "the click path must not touch D1 before responding"
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let location = reply.header("location").unwrap();
    assert!(
        location.starts_with("https://offer.example/lp?aff_sub="),
        "{location}"
    );
    assert!(location.ends_with("&s2=zone%201&ext=ext-77"), "{location}");

    let click_id = click_id_from(&reply);
    let secrets = ClickSecrets::new(CLICK_SECRET, None).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        secrets.verify(&click_id, now, 60_000).is_ok(),
        "{click_id} does not verify"
    );

    let rows = worker().wait_for_rows("SELECT * FROM clicks WHERE click_id = ?1", &[&click_id]);
    assert_eq!(rows.len(), 1, "the click row never arrived");
    let row = &rows[0];
    assert_eq!(row["campaign"], "slice");
    assert_eq!(row["sub1"], "zone 1");
    assert_eq!(row["sub3"], "s3");
    assert_eq!(row["external_id"], "ext-77");
    assert_eq!(row["user_agent"], BROWSER);
    assert_eq!(row["is_bot"], 0);
    assert_eq!(row["payout_micros"], 2_500_000);
    let ip_hash = row["ip_hash"].as_str().unwrap();
    assert_eq!(ip_hash.len(), 32);
    assert!(
        !row.to_string().contains("198.51.100.23"),
        "raw IP stored: {row}"
    );
}

#[test]
fn unknown_and_paused_campaigns_are_404_without_a_row() {
    for path in ["/c/no-such-campaign", "/c/slice-paused"] {
        let reply = click(path, "198.51.100.24");
        assert_eq!(reply.status, 404, "{path}: {}", reply.body);
        assert_eq!(reply.d1_queries(), 0);
        assert!(reply.header("location").is_none());
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let rows = worker().query(
        "SELECT click_id FROM clicks WHERE campaign IN ('no-such-campaign', 'slice-paused')",
        &[],
    );
    assert!(rows.is_empty(), "{rows:?}");
}

#[test]
fn a_postback_records_once_in_one_round_trip_and_the_api_lists_it() {
    let click_id = click_id_from(&click("/c/slice?sub1=pb", "198.51.100.25"));
    worker().wait_for_rows("SELECT 1 FROM clicks WHERE click_id = ?1", &[&click_id]);

    let path = format!(
        "/postback?clickid={}&payout=3,75&txid=slice-tx-1&status=approved",
        click_id.to_uppercase()
    );
    let first = worker().get(&path, &[("cf-connecting-ip", "203.0.113.5")]);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        first.d1_queries(),
        1,
        "an accepted postback is one D1 round trip"
    );
    let body = first.json();
    assert_eq!(body["ok"], true);
    assert_eq!(body["outcome"], "accepted");
    assert_eq!(body["click_id"], click_id.as_str());
    let conversion_id = body["conversion_id"].as_str().unwrap().to_string();

    let again = worker().get(&path, &[("cf-connecting-ip", "203.0.113.5")]);
    assert_eq!(again.status, 200);
    assert_eq!(again.d1_queries(), 1);
    assert_eq!(again.json()["outcome"], "duplicate");
    assert_eq!(again.json()["conversion_id"], conversion_id.as_str());

    let rows = worker().query(
        "SELECT * FROM conversions WHERE click_id = ?1",
        &[&click_id],
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["payout_micros"], 3_750_000);
    assert_eq!(rows[0]["campaign"], "slice");
    assert_eq!(rows[0]["status"], "approved");
    let log = worker().query(
        "SELECT outcome FROM postback_log WHERE click_id = ?1 ORDER BY postback_id",
        &[&click_id],
    );
    assert_eq!(
        log,
        [
            serde_json::json!({"outcome": "accepted"}),
            serde_json::json!({"outcome": "duplicate"})
        ]
    );

    let unauthorized = worker().get("/api/conversions", &[]);
    assert_eq!(unauthorized.status, 401);
    assert_eq!(unauthorized.header("www-authenticate"), Some("Bearer"));
    let wrong = worker().get(
        "/api/conversions",
        &[("authorization", "Bearer not-the-token-at-all")],
    );
    assert_eq!(wrong.status, 401);

    let listed = admin_get("/api/conversions?campaign=slice&limit=500");
    assert_eq!(listed.status, 200, "{}", listed.body);
    let items = listed.json()["items"].as_array().unwrap().clone();
    let item = items
        .iter()
        .find(|item| item["conversion_id"] == conversion_id.as_str())
        .unwrap_or_else(|| panic!("{conversion_id} not listed in {items:?}"));
    assert_eq!(item["payout"], "3.750000");
    assert_eq!(item["transaction_id"], "slice-tx-1");
}

#[test]
fn the_campaign_payout_applies_when_the_postback_has_none() {
    let click_id = click_id_from(&click("/c/slice", "198.51.100.26"));
    worker().wait_for_rows("SELECT 1 FROM clicks WHERE click_id = ?1", &[&click_id]);
    let reply = worker().get(
        &format!("/postback/generic?subid={click_id}&txid=slice-tx-2"),
        &[],
    );
    assert_eq!(reply.json()["outcome"], "accepted", "{}", reply.body);
    let rows = worker().query(
        "SELECT payout_micros, currency FROM conversions WHERE click_id = ?1",
        &[&click_id],
    );
    assert_eq!(rows[0]["payout_micros"], 2_500_000);
    assert_eq!(rows[0]["currency"], "USD");
}

#[test]
fn a_refused_postback_makes_zero_queries_and_is_logged_after() {
    let forged = "0".repeat(32);
    let reply = worker().get(
        &format!("/postback?clickid={forged}&payout=1&txid=slice-forged"),
        &[("cf-connecting-ip", "203.0.113.6")],
    );
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        reply.d1_queries(),
        0,
        "a refusal must not touch D1 before responding"
    );
    let body = reply.json();
    assert_eq!(body["ok"], false);
    assert_eq!(body["outcome"], "invalid_click_id");
    let rows = worker().wait_for_rows(
        "SELECT outcome, source_ip, network FROM postback_log WHERE params LIKE '%slice-forged%'",
        &[],
    );
    assert_eq!(
        rows,
        [
            serde_json::json!({"outcome": "invalid_click_id", "source_ip": "203.0.113.6", "network": "generic"})
        ]
    );
}

#[test]
fn unreplaced_macros_and_unknown_networks_are_named() {
    let reply = worker().get("/postback?clickid={subid}&payout=1", &[]);
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["outcome"], "unreplaced_macro");
    let reply = worker().get("/postback/nosuchnet?clickid=x", &[]);
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["outcome"], "unknown_network");
}

#[test]
fn text_networks_get_text_replies() {
    let click_id = click_id_from(&click("/c/slice", "198.51.100.27"));
    let reply = worker().get(
        &format!("/postback/textnet?clickid={click_id}&txid=slice-text"),
        &[],
    );
    assert_eq!((reply.status, reply.body.as_str()), (200, "OK accepted"));
    let rows = worker().query(
        "SELECT status FROM conversions WHERE click_id = ?1",
        &[&click_id],
    );
    assert_eq!(rows[0]["status"], "pending");
    let reply = worker().get("/postback/textnet?clickid=nope", &[]);
    assert_eq!(reply.status, 400);
    assert!(
        reply.body.starts_with("ERROR invalid_click_id: "),
        "{}",
        reply.body
    );
}

#[test]
fn a_form_post_is_a_postback_too() {
    let click_id = click_id_from(&click("/c/slice", "198.51.100.28"));
    let body = format!("clickid={click_id}&payout=1.5&txid=slice-form");
    let reply = worker().send(
        "POST",
        "/postback",
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(body.as_bytes()),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["outcome"], "accepted");
}

#[test]
fn the_cron_handler_runs() {
    let before = worker().query(
        "SELECT value FROM service_state WHERE key = 'last_cron_run_at'",
        &[],
    );
    let reply = worker().trigger_cron();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let after = worker().query(
            "SELECT value FROM service_state WHERE key = 'last_cron_run_at'",
            &[],
        );
        if !after.is_empty() && after != before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cron run left no mark"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
