//! Flows end to end (issue 17 items 1 and 2, docs/flows.md): the worked example's URLs
//! through workerd. Rules pick by device and click parameter, the default pool splits
//! between two offers and keeps each visitor on one, the click makes 0 D1 queries, and
//! the chosen rule and offer reach the click row, `GET /api/clicks/{id}` and the
//! conversion. The country filter cannot be driven locally (workerd's `cf` object is not
//! the test's to set), so it is tested natively (src/flow/tests.rs); here the example's
//! country rule is checked against whatever country the local runtime reports.

use crate::harness::{worker, Reply, ADMIN_TOKEN};
use serde_json::Value;

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const DESKTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

fn click(query: &str, agent: &str, ip: &str) -> (url::Url, String) {
    let reply = worker().get(
        &format!("/c/flows-example?{query}"),
        &[("user-agent", agent), ("cf-connecting-ip", ip)],
    );
    assert_eq!(reply.status, 302, "{}", reply.body);
    assert_eq!(
        reply.d1_queries(),
        0,
        "a flow reads no storage before the redirect"
    );
    let location = url::Url::parse(reply.header("location").unwrap()).unwrap();
    let click_id = location
        .query_pairs()
        .find(|(name, _)| name == "click")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| panic!("no click ID in {location}"));
    (location, click_id)
}

fn api(path: &str) -> Reply {
    let auth = format!("Bearer {ADMIN_TOKEN}");
    worker().get(path, &[("authorization", auth.as_str())])
}

fn stored(click_id: &str) -> Value {
    let rows = worker().wait_for_rows(
        "SELECT country, rule, offer FROM clicks WHERE click_id = ?1",
        &[&click_id],
    );
    assert_eq!(rows.len(), 1, "click {click_id} was not stored");
    rows[0].clone()
}

fn in_dach(row: &Value) -> bool {
    matches!(row["country"].as_str(), Some("DE" | "AT" | "CH"))
}

#[test]
fn the_worked_example_routes_by_device_and_parameter_and_records_the_choice() {
    // docs/flows.md shows the campaign this worker runs, verbatim.
    let doc = include_str!("../../docs/flows.md");
    let config = include_str!("wrangler.toml");
    let start = config
        .find("[vars.EDGEBACK.campaigns.flows-example]")
        .unwrap();
    // The whole campaign, every rule and comment, up to the next test's campaign.
    let end = config[start..]
        .find("\n# landers.rs")
        .map_or(config.len(), |n| start + n);
    let example = config[start..end].trim();
    assert!(
        doc.contains(example),
        "docs/flows.md differs from:\n{example}"
    );

    // A phone from Facebook: the second rule (unless the local country is in DACH).
    let (location, mobile) = click("sub1=fb_ad7", IPHONE, "192.0.2.71");
    let row = stored(&mobile);
    if in_dach(&row) {
        assert_eq!(row["rule"], "dach");
        assert_eq!(location.host_str(), Some("de.offer.example"));
    } else {
        assert_eq!(location.host_str(), Some("m.offer.example"), "{location}");
        assert_eq!(row["rule"], "mobile-facebook");
        assert_eq!(row["offer"], "app-install");
    }

    // Desktops, with the Facebook parameter or without: the default pool's A/B test.
    // (The same phone without it goes to the lander rule: tests/e2e/landers.rs.)
    for (query, agent) in [("sub1=organic", DESKTOP), ("sub1=fb_ad7", DESKTOP)] {
        let (location, id) = click(query, agent, "192.0.2.72");
        let row = stored(&id);
        if in_dach(&row) {
            continue;
        }
        assert_eq!(row["rule"], Value::Null, "{query}");
        let offer = row["offer"].as_str().unwrap().to_string();
        let host = if offer == "offer-a" {
            "a.offer.example"
        } else {
            "b.offer.example"
        };
        assert_eq!(location.host_str(), Some(host), "{offer}: {location}");
    }

    // The API shows the choice on the click and copies it into the conversion.
    let view = api(&format!("/api/clicks/{mobile}"));
    assert_eq!(view.status, 200, "{}", view.body);
    assert_eq!(view.json()["click"]["rule"], row["rule"], "{}", view.body);
    assert_eq!(view.json()["click"]["offer"], row["offer"], "{}", view.body);
    let listed = api("/api/clicks?campaign=flows-example&sub1=fb_ad7&limit=50");
    assert_eq!(listed.status, 200, "{}", listed.body);
    let listed = listed.json();
    let mine = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["click_id"] == mobile.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{mobile} not listed: {listed}"));
    assert_eq!(mine["rule"], row["rule"]);
    assert_eq!(mine["offer"], row["offer"]);
    let reply = worker().get(
        &format!("/postback?clickid={mobile}&txid=flows-{mobile}"),
        &[],
    );
    assert_eq!(reply.outcome(), "accepted", "{}", reply.body);
    let conversion_id = reply.json()["conversion_id"].as_str().unwrap().to_string();
    // Attribution may complete after the postback's response (a click database of its
    // own, docs/scale.md): wait for it, as a reader of the API would.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let found = loop {
        let conversion = api(&format!("/api/conversions/{conversion_id}"));
        assert_eq!(conversion.status, 200, "{}", conversion.body);
        let found = conversion.json()["conversion"].clone();
        if found["attributed"] == true || std::time::Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(found["attributed"], true, "{found}");
    assert_eq!(found["rule"], row["rule"], "{found}");
    assert_eq!(found["offer"], row["offer"], "{found}");

    // Every click costs 0.05 USD (the example's CPC): the report's cost is the campaign's
    // clicks (not bots) × 0.05, and its CPC 0.05, whatever the rule each click took.
    let report = api("/api/report?group_by=campaign").json();
    let campaign = report["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["campaign"] == "flows-example"))
        .cloned()
        .unwrap_or_else(|| panic!("{report}"));
    let clicks = campaign["clicks"].as_i64().unwrap_or(-1);
    assert!(clicks >= 3, "{campaign}");
    let cost = format!(
        "{}.{:06}",
        clicks * 50_000 / 1_000_000,
        clicks * 50_000 % 1_000_000
    );
    assert_eq!(
        campaign["cost"],
        serde_json::json!({ "USD": cost }),
        "{campaign}"
    );
    assert_eq!(
        campaign["cpc"],
        serde_json::json!({ "USD": "0.050000" }),
        "{campaign}"
    );
}

#[test]
fn the_default_pool_splits_and_keeps_each_visitor_on_one_offer() {
    let mut seen = std::collections::BTreeSet::new();
    for visitor in 0..40u32 {
        let ip = format!("198.51.100.{}", 100 + visitor);
        let agent = format!("{DESKTOP} e2e/{visitor}");
        let (first, first_id) = click("sub1=organic", &agent, &ip);
        if in_dach(&stored(&first_id)) {
            return;
        }
        for _ in 0..2 {
            let (again, _) = click("sub1=organic", &agent, &ip);
            assert_eq!(
                again.host_str(),
                first.host_str(),
                "{ip} moved between offers"
            );
        }
        seen.insert(first.host_str().unwrap().to_string());
    }
    // 40 visitors at 70/30: both offers appear unless the split is broken (chance of one
    // offer taking all 40: 0.7^40 + 0.3^40, about 6 in a million).
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["a.offer.example", "b.offer.example"]
    );
}
