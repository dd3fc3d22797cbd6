//! Reports by flow dimension end to end (issue 17 item 5, docs/report.md "Flow
//! dimensions"): clicks through a campaign whose phones go to one offer and everything
//! else to another, a postback, then `GET /api/report?group_by=offer,device` against
//! figures computed by hand, and the same as CSV.

use crate::harness::{worker, ADMIN_TOKEN};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const DESKTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

fn api(path: &str) -> crate::harness::Reply {
    let auth = format!("Bearer {ADMIN_TOKEN}");
    worker().get(path, &[("authorization", auth.as_str())])
}

fn click(agent: &str, ip: &str) -> String {
    let reply = worker().get(
        "/c/groupby-e2e",
        &[("user-agent", agent), ("cf-connecting-ip", ip)],
    );
    assert_eq!(reply.status, 302, "{}", reply.body);
    let location = url::Url::parse(reply.header("location").unwrap()).unwrap();
    location
        .query_pairs()
        .find(|(name, _)| name == "click")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| panic!("no click ID in {location}"))
}

/// The report's rows of this test's offers, by offer name.
fn rows_by_offer(report: &Value) -> Vec<Value> {
    let mut rows: Vec<Value> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| matches!(row["offer"].as_str(), Some("gb-phone" | "gb-desk")))
        .cloned()
        .collect();
    rows.sort_by_key(|row| row["offer"].as_str().unwrap_or_default().to_string());
    rows
}

#[test]
fn the_report_groups_by_offer_and_device_as_computed_by_hand() {
    // Three phone clicks (the rule's offer), two desktop clicks (the default pool's).
    let phones: Vec<String> = (0..3)
        .map(|n| click(IPHONE, &format!("192.0.2.18{n}")))
        .collect();
    for n in 0..2 {
        click(DESKTOP, &format!("192.0.2.19{n}"));
    }
    // The click row keeps the classes and the region; the conversion copies them.
    let rows = worker().wait_for_rows(
        "SELECT offer, device, os, browser, region FROM clicks WHERE click_id = ?1",
        &[&phones[0].as_str()],
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            &rows[0]["offer"],
            &rows[0]["device"],
            &rows[0]["os"],
            &rows[0]["browser"]
        ),
        (
            &json!("gb-phone"),
            &json!("mobile"),
            &json!("ios"),
            &json!("safari")
        ),
        "{}",
        rows[0]
    );
    let region = rows[0]["region"].clone();
    let reply = worker().get(
        &format!(
            "/postback?clickid={}&txid=groupby-{}&status=approved",
            phones[0], phones[0]
        ),
        &[],
    );
    assert_eq!(reply.outcome(), "accepted", "{}", reply.body);

    // By hand: gb-phone on mobile, 3 clicks at 0.10 USD = 0.30 cost; 1 approved
    // conversion at the campaign's 4 USD: CR 1/3, EPC 4/3 = 1.333333, profit 3.70, ROI
    // 3.70 / 0.30 = 12.333333, CPA 0.30, CPC 0.10. gb-desk on desktop: 2 clicks, 0.20
    // cost, no conversion: profit -0.20, ROI -1.
    let phone = json!({
        "offer": "gb-phone", "device": "mobile", "clicks": 3, "bot_clicks": 0,
        "conversions": 1, "approved": 1, "revenue": { "USD": "4.000000" },
        "pending_revenue": {}, "cr": "0.333333", "epc": { "USD": "1.333333" },
        "lp_views": 0, "lp_clicks": 0, "lp_ctr": null, "impressions": 0, "ctr": null,
        "approval_rate": "1.000000",
        "duplicates": 0, "refused_postbacks": {}, "cost": { "USD": "0.300000" },
        "profit": { "USD": "3.700000" }, "roi": "12.333333", "cpa": { "USD": "0.300000" },
        "cpc": { "USD": "0.100000" }
    });
    let desk = json!({
        "offer": "gb-desk", "device": "desktop", "clicks": 2, "bot_clicks": 0,
        "conversions": 0, "approved": 0, "revenue": {}, "pending_revenue": {}, "cr": "0.000000",
        "epc": {}, "lp_views": 0, "lp_clicks": 0, "lp_ctr": null, "impressions": 0, "ctr": null,
        "approval_rate": null,
        "duplicates": 0, "refused_postbacks": {}, "cost": { "USD": "0.200000" },
        "profit": { "USD": "-0.200000" }, "roi": "-1.000000", "cpa": null,
        "cpc": { "USD": "0.100000" }
    });
    // Click rows and attribution land after the responses: wait for the figures.
    let deadline = Instant::now() + Duration::from_secs(15);
    let rows = loop {
        let report = api("/api/report?group_by=offer,device");
        assert_eq!(report.status, 200, "{}", report.body);
        let rows = rows_by_offer(&report.json());
        if rows == [desk.clone(), phone.clone()] || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(rows, [desk, phone]);

    // By region: the phone offer's clicks under the region the runtime reported.
    let report = api("/api/report?group_by=offer,region").json();
    let phone_rows: Vec<&Value> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["offer"] == "gb-phone")
        .collect();
    assert_eq!(phone_rows.len(), 1, "{report}");
    assert_eq!(
        (&phone_rows[0]["region"], &phone_rows[0]["clicks"]),
        (&region, &json!(3))
    );

    // The CSV carries the keys as its first columns.
    let csv = api("/api/report?group_by=offer,device&format=csv");
    assert_eq!(csv.status, 200, "{}", csv.body);
    let mut lines = csv.body.lines();
    assert!(lines.next().unwrap().starts_with("offer,device,clicks,"));
    assert!(
        lines.any(|line| line.starts_with("gb-phone,mobile,3,0,1,1,")),
        "{}",
        csv.body
    );

    // A flow dimension beside a sub-ID: refused, naming both.
    let refused = api("/api/report?group_by=offer,sub1");
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("offer and sub1 cannot be combined"),
        "{}",
        refused.body
    );
}
