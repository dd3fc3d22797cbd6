//! The admin lists end to end (issue 16, design §9): the click list and its filters,
//! conversion filters by network, event and sub-ID, unknown parameters refused by name,
//! test traffic left out of the postback log, and CSV exports that match the JSON.

use crate::harness::{worker, Reply, ADMIN_TOKEN};
use serde_json::Value;

fn api(path: &str) -> Reply {
    let auth = format!("Bearer {ADMIN_TOKEN}");
    worker().get(path, &[("authorization", auth.as_str())])
}

fn items(path: &str) -> Vec<Value> {
    let reply = api(path);
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    reply.json()["items"].as_array().unwrap().clone()
}

/// A CSV body as rows of cells (no cell of these tests holds a comma, quote or newline).
fn csv_rows(reply: &Reply) -> Vec<Vec<String>> {
    assert!(
        reply.body.ends_with("\r\n"),
        "CRLF line ends: {:?}",
        reply.body
    );
    reply
        .body
        .trim_end()
        .split("\r\n")
        .map(|line| line.split(',').map(str::to_string).collect())
        .collect()
}

fn unique(prefix: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}{now}")
}

#[test]
fn unknown_query_parameters_are_refused_by_name() {
    let reply = api("/api/conversions?sub_1=x");
    assert_eq!(reply.status, 400, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["error"], "bad_request");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("\"sub_1\"") && detail.contains("did you mean \"sub1\""),
        "{detail}"
    );
    for path in [
        "/api/report?groupby=day",
        "/api/openapi.json?x=1",
        "/api/postbacks?outcomes=bad_token",
        "/api/clicks?sub11=a",
        "/api/campaigns?limit=5",
        "/api/conversions/abc?format=csv",
    ] {
        let reply = api(path);
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        assert!(
            reply.body.contains("unknown query parameter"),
            "{path}: {}",
            reply.body
        );
    }
    assert_eq!(api("/api/conversions?format=xlsx").status, 400);
    assert_eq!(api("/api/clicks?bot=maybe").status, 400);
    assert_eq!(api("/api/postbacks?include_test=yes").status, 400);
}

#[test]
fn clicks_are_listed_with_filters_and_conversions_filter_by_sub_ids() {
    let zone = unique("zone");
    let human =
        crate::harness::click_through("lists", &format!("sub1={zone}&sub3=x"), "192.0.2.160");
    let other = crate::harness::click_through("lists", &format!("sub1={zone}-b"), "192.0.2.160");
    // A curl click is a bot (its user agent says so): listed, and flagged.
    let bot = worker().get(
        &format!("/c/lists?sub1={zone}"),
        &[("user-agent", "curl/8.5.0")],
    );
    assert_eq!(bot.status, 302);
    let since = worker().wait_for_rows(
        "SELECT created_at FROM clicks WHERE campaign = 'lists' AND sub1 = ?1 AND is_bot = 1",
        &[&zone],
    );
    assert_eq!(since.len(), 1);

    let listed = items(&format!("/api/clicks?campaign=lists&sub1={zone}"));
    assert_eq!(listed.len(), 2, "{listed:?}");
    let bots: Vec<&Value> = listed.iter().filter(|c| c["is_bot"] == 1).collect();
    assert_eq!(bots.len(), 1);
    assert_eq!(
        listed
            .iter()
            .filter(|c| c["click_id"] == human.as_str())
            .count(),
        1
    );
    assert_eq!(
        items(&format!("/api/clicks?sub1={zone}&bot=false"))[0]["click_id"],
        human.as_str()
    );
    assert_eq!(items(&format!("/api/clicks?sub1={zone}&bot=true")).len(), 1);
    assert_eq!(items(&format!("/api/clicks?sub1={zone}&sub3=x")).len(), 1);
    assert!(items(&format!("/api/clicks?sub1={zone}&campaign=fw")).is_empty());
    assert!(items(&format!("/api/clicks?sub1={zone}&country=ZZ")).is_empty());
    // `since` bounds the scan: clicks made before it are not read.
    let later = 4_000_000_000_000_u64;
    assert!(items(&format!("/api/clicks?sub1={zone}&since={later}")).is_empty());
    // Pages, newest first.
    let first = api(&format!("/api/clicks?sub1={zone}-b&limit=1")).json();
    assert_eq!(first["items"][0]["click_id"], other.as_str());

    // Conversions carry their click's sub-IDs and filter by them.
    for (click, txid) in [(&human, "lists-a"), (&other, "lists-b")] {
        let reply = worker().get(
            &format!("/postback?clickid={click}&txid={txid}-{zone}"),
            &[],
        );
        assert_eq!(reply.outcome(), "accepted", "{}", reply.body);
    }
    let mine = items(&format!("/api/conversions?sub1={zone}"));
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["click_id"], human.as_str());
    assert_eq!(mine[0]["sub"]["sub3"], "x");
    assert_eq!(
        items(&format!(
            "/api/conversions?sub1={zone}&network=generic&event=conversion"
        ))
        .len(),
        1
    );
    assert!(items(&format!("/api/conversions?sub1={zone}&network=tune")).is_empty());
    assert!(items(&format!("/api/conversions?sub1={zone}&event=sale")).is_empty());
}

#[test]
fn csv_exports_match_the_json_and_page_with_a_header() {
    let zone = unique("csv");
    let mut clicks = Vec::new();
    for n in 0..3 {
        let id = crate::harness::click_through(
            "lists",
            &format!("sub2={zone}&sub4=n{n}"),
            "192.0.2.161",
        );
        let reply = worker().get(
            &format!("/postback?clickid={id}&txid={zone}-{n}&payout=1.5"),
            &[],
        );
        assert_eq!(reply.outcome(), "accepted", "{}", reply.body);
        clicks.push(id);
    }
    let json = items(&format!("/api/conversions?sub2={zone}"));
    assert_eq!(json.len(), 3);
    let reply = api(&format!("/api/conversions?sub2={zone}&format=csv"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        reply.header("content-disposition"),
        Some("attachment; filename=\"edgeback-conversions.csv\"")
    );
    assert_eq!(reply.header("x-next-cursor"), None);
    let rows = csv_rows(&reply);
    assert_eq!(rows.len(), 4, "a header and one row per item");
    let header = &rows[0];
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    for (row, item) in rows[1..].iter().zip(&json) {
        assert_eq!(
            row[at("conversion_id")],
            item["conversion_id"].as_str().unwrap()
        );
        assert_eq!(row[at("payout")], "1.500000");
        assert_eq!(row[at("campaign")], "lists");
        assert_eq!(row[at("sub2")], zone);
        assert_eq!(row[at("sub4")], item["sub"]["sub4"].as_str().unwrap());
        assert_eq!(row[at("created_at")], item["created_at"].to_string());
        assert_eq!(row[at("sub5")], "");
    }
    // CSV pages too: the next page's cursor is a header.
    let first = api(&format!("/api/conversions?sub2={zone}&format=csv&limit=2"));
    assert_eq!(csv_rows(&first).len(), 3);
    let cursor = first
        .header("x-next-cursor")
        .expect("x-next-cursor")
        .to_string();
    assert_eq!(cursor, json[1]["conversion_id"].as_str().unwrap());
    let second = api(&format!(
        "/api/conversions?sub2={zone}&format=csv&limit=2&cursor={cursor}"
    ));
    let rows = csv_rows(&second);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][0], json[2]["conversion_id"].as_str().unwrap());
    assert_eq!(second.header("x-next-cursor"), None);

    // Every list has an export with a header row.
    for (path, first_column) in [
        (format!("/api/clicks?sub2={zone}&format=csv"), "click_id"),
        (
            "/api/postbacks?format=csv&limit=5".to_string(),
            "postback_id",
        ),
        (
            "/api/deliveries?format=csv&limit=5".to_string(),
            "delivery_id",
        ),
    ] {
        let reply = api(&path);
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        assert_eq!(
            reply.header("content-type"),
            Some("text/csv; charset=utf-8"),
            "{path}"
        );
        assert!(
            reply.body.starts_with(&format!("{first_column},")),
            "{path}: {}",
            reply.body
        );
    }
    let clicks_csv = csv_rows(&api(&format!("/api/clicks?sub2={zone}&format=csv")));
    assert_eq!(clicks_csv.len(), 4);
    let listed: Vec<&str> = clicks_csv[1..].iter().map(|row| row[0].as_str()).collect();
    let mut expected: Vec<&str> = clicks.iter().map(String::as_str).collect();
    expected.reverse();
    assert_eq!(listed, expected, "newest first, like the JSON");
    assert_eq!(api("/api/postbacks?format=csv&limit=10001").status, 400);

    // The report: one row per day of the range (all seven present), then the total.
    let report = api("/api/report?group_by=day&format=csv");
    assert_eq!(report.status, 200, "{}", report.body);
    let rows = csv_rows(&report);
    assert!(
        rows[0].starts_with(&["day".to_string(), "clicks".to_string()]),
        "{:?}",
        rows[0]
    );
    assert_eq!(rows.len(), 1 + 7 + 1, "{}", report.body);
    assert_eq!(rows[8][0], "total");
    let json = api("/api/report?group_by=day").json();
    assert_eq!(json["rows"].as_array().unwrap().len(), 7);
    assert_eq!(rows[8][1], json["total"]["clicks"].to_string());
    assert!(report
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment; filename=\"edgeback-report-"));
}

#[test]
fn tester_runs_stay_out_of_the_postback_log_unless_asked_for() {
    let txid = unique("tester-log-");
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let body = format!(r#"{{"campaign": "lists", "params": {{"txid": "{txid}"}}}}"#);
    let reply = worker().send(
        "POST",
        "/api/test-postback",
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(reply.json()["outcome"], "accepted", "{}", reply.body);
    let has = |path: &str| {
        items(path)
            .iter()
            .any(|i| i["params"].to_string().contains(&txid))
    };
    assert!(!has("/api/postbacks?limit=500"));
    assert!(has("/api/postbacks?limit=500&include_test=true"));
}
