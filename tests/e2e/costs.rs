//! Costs, profit and ROI end to end (docs/costs.md): a CPC, an automatic and a CPA campaign,
//! clicks (0 D1 queries before the response), a postback, the report's figures by hand; a
//! manual entry replacing the day's tracked cost, listed, refused when overlapping,
//! deleted.

use crate::harness::{worker, Reply, Worker, ADMIN_TOKEN};
use serde_json::{json, Value};

fn api(w: &Worker, method: &str, path: &str, body: Option<&Value>) -> Reply {
    let text = body.map(Value::to_string);
    w.send(
        method,
        path,
        &[
            ("authorization", &format!("Bearer {ADMIN_TOKEN}")),
            ("content-type", "application/json"),
        ],
        text.as_deref().map(str::as_bytes),
    )
}

/// A click on `campaign` with `query`; its click ID. The click path reads no D1.
fn click(w: &Worker, campaign: &str, query: &str) -> String {
    let reply = w.get(
        &format!("/c/{campaign}?{query}"),
        &[
            ("user-agent", "Mozilla/5.0 (e2e costs)"),
            ("cf-connecting-ip", "192.0.2.171"),
        ],
    );
    assert_eq!(reply.status, 302, "{}", reply.body);
    assert_eq!(
        reply.d1_queries(),
        0,
        "D1 queries before the click's response"
    );
    let location = url::Url::parse(reply.header("location").expect("Location")).expect("url");
    location
        .query_pairs()
        .find(|(name, _)| name == "c")
        .map(|(_, value)| value.into_owned())
        .expect("click ID")
}

fn today() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    edgeback::zone::Date::from_unix_ms(now)
        .expect("date")
        .to_string()
}

/// The report row of `campaign` today (UTC).
fn report_row(w: &Worker, campaign: &str) -> Value {
    let day = today();
    let reply = api(
        w,
        "GET",
        &format!("/api/report?from={day}&to={day}&tz=UTC&group_by=campaign"),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["campaign"] == campaign)
        .cloned()
        .unwrap_or_else(|| panic!("no {campaign} row: {}", reply.body))
}

fn wait_for_clicks(w: &Worker, campaign: &str, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while w
        .query(
            "SELECT COUNT(*) AS n FROM clicks WHERE campaign = ?1",
            &[&campaign],
        )
        .first()
        .and_then(|row| row["n"].as_u64())
        != Some(n as u64)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{campaign}: click rows missing"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn cpc_automatic_and_cpa_costs_give_profit_and_roi_and_an_entry_replaces_the_day() {
    let w = worker();
    // CPC 0.05 USD: three clicks at the fixed amount, one carrying its own 0.12.
    let ids: Vec<String> = ["sub1=a", "sub1=a", "sub1=b", "sub1=b&cost=0.12"]
        .iter()
        .map(|query| click(w, "cost-cpc", query))
        .collect();
    // Automatic: 0.5 (under the alias), 5 (above max 1: ignored, 0), none (0).
    for query in ["price=0.5", "cost=5", ""] {
        click(w, "cost-auto", query);
    }
    // CPA 1.50 USD: the click costs nothing, its approved conversion 1.50.
    let cpa_click = click(w, "cost-cpa", "");
    wait_for_clicks(w, "cost-cpc", 4);
    wait_for_clicks(w, "cost-auto", 3);
    wait_for_clicks(w, "cost-cpa", 1);
    let costs = w.query(
        "SELECT cost_micros, cost_currency FROM clicks WHERE campaign = 'cost-cpc' \
         ORDER BY cost_micros",
        &[],
    );
    assert_eq!(
        costs[0],
        json!({"cost_micros": 50_000, "cost_currency": "USD"})
    );
    assert_eq!(costs[3]["cost_micros"], 120_000);
    // One approved conversion at the campaign's 4 USD.
    let reply = w.get(
        &format!("/postback?clickid={}&txid=cost-1&status=approved", ids[0]),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = w.get(
        &format!("/postback?clickid={cpa_click}&txid=cost-2&status=approved"),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);

    // By hand: cost 3 × 0.05 + 0.12 = 0.27; profit 4 − 0.27 = 3.73; ROI 3.73 / 0.27 =
    // 13.8148148… ; CPC 0.27 / 4 = 0.0675; CPA 0.27 / 1; EPC 4 / 4.
    let row = report_row(w, "cost-cpc");
    assert_eq!(row["cost"], json!({"USD": "0.270000"}), "{row}");
    assert_eq!(row["revenue"], json!({"USD": "4.000000"}), "{row}");
    assert_eq!(row["profit"], json!({"USD": "3.730000"}), "{row}");
    assert_eq!(row["roi"], "13.814815", "{row}");
    assert_eq!(row["cpc"], json!({"USD": "0.067500"}), "{row}");
    assert_eq!(row["cpa"], json!({"USD": "0.270000"}), "{row}");
    assert_eq!(row["epc"], json!({"USD": "1.000000"}), "{row}");
    let auto = report_row(w, "cost-auto");
    assert_eq!(auto["cost"], json!({"USD": "0.500000"}), "{auto}");
    assert_eq!(auto["profit"], json!({"USD": "-0.500000"}), "{auto}");
    assert_eq!(auto["roi"], "-1.000000", "{auto}");
    // CPA: 4 − 1.50 = 2.50, ROI 2.5 / 1.5.
    let cpa = report_row(w, "cost-cpa");
    assert_eq!(cpa["cost"], json!({"USD": "1.500000"}), "{cpa}");
    assert_eq!(cpa["profit"], json!({"USD": "2.500000"}), "{cpa}");
    assert_eq!(cpa["roi"], "1.666667", "{cpa}");

    // The source's statement says 2 USD for today: it replaces the tracked 0.27.
    let day = today();
    let entry = json!({"campaign": "cost-cpc", "from": day, "to": day, "tz": "UTC",
                       "amount": "2", "currency": "USD"});
    let put = api(w, "PUT", "/api/costs", Some(&entry));
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json()["entry"]["amount"], "2.000000");
    let row = report_row(w, "cost-cpc");
    assert_eq!(row["cost"], json!({"USD": "2.000000"}), "{row}");
    assert_eq!(row["roi"], "1.000000", "{row}");
    // Listed; an overlapping period is refused and names the entry in the way.
    let list = api(w, "GET", "/api/costs?campaign=cost-cpc", None);
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.json()["entries"].as_array().map(Vec::len), Some(1));
    let yesterday = edgeback::zone::Date::parse(&day)
        .and_then(|d| d.add_days(-1))
        .expect("yesterday")
        .to_string();
    let overlapping = json!({"campaign": "cost-cpc", "from": yesterday, "to": day, "tz": "UTC",
                             "amount": "3", "currency": "USD"});
    let refused = api(w, "PUT", "/api/costs", Some(&overlapping));
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains(&day), "{}", refused.body);
    // Bad bodies and unknown campaigns are named.
    let bad = api(
        w,
        "PUT",
        "/api/costs",
        Some(&json!({"campaign": "cost-cpc", "from": day,
        "to": day, "amount": "-1", "currency": "USD"})),
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("amount"), "{}", bad.body);
    let unknown = api(
        w,
        "PUT",
        "/api/costs",
        Some(&json!({"campaign": "no-such-campaign",
        "from": day, "to": day, "amount": "1", "currency": "USD"})),
    );
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    // Without the admin token: 401.
    assert_eq!(w.send("GET", "/api/costs", &[], None).status, 401);
    // Deleted: the tracked costs are back.
    let deleted = api(
        w,
        "DELETE",
        &format!("/api/costs?campaign=cost-cpc&from={day}&to={day}&tz=UTC"),
        None,
    );
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let row = report_row(w, "cost-cpc");
    assert_eq!(row["cost"], json!({"USD": "0.270000"}), "{row}");
    // The CSV export has the columns.
    let csv = api(
        w,
        "GET",
        &format!("/api/report?from={day}&to={day}&tz=UTC&group_by=campaign&format=csv"),
        None,
    );
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert!(
        // Other tests' campaigns on the shared worker may add other currencies' columns.
        csv.body
            .lines()
            .next()
            .is_some_and(|header| header.contains(",roi,")
                && header.contains("cost_USD,profit_USD,cpa_USD,cpc_USD")),
        "{}",
        csv.body
    );
}

/// One request of the impression pixel: a 43-byte GIF whatever the campaign, never
/// cached, and no D1 query before it.
fn impression(w: &Worker, method: &str, path: &str, agent: &str) {
    let reply = w.send(method, path, &[("user-agent", agent)], None);
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    assert_eq!(reply.header("content-type"), Some("image/gif"), "{path}");
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{path}");
    if method == "GET" {
        assert_eq!(reply.header("content-length"), Some("43"), "{path}");
    }
    assert_eq!(
        reply.d1_queries(),
        0,
        "D1 queries before the pixel's response"
    );
}

#[test]
fn the_impression_pixel_counts_cpm_costs_and_impressions_in_the_report() {
    let w = worker();
    let browser = "Mozilla/5.0 (e2e impressions)";
    for _ in 0..4 {
        impression(w, "GET", "/i/cost-cpm?zone=z1", browser);
    }
    // A bot's and a HEAD: counted apart, free.
    impression(w, "GET", "/i/cost-cpm?zone=z1", "Googlebot/2.1");
    impression(w, "HEAD", "/i/cost-cpm?zone=z1", browser);
    // An unknown campaign still gets its image, and counts nothing.
    impression(w, "GET", "/i/no-such-campaign?zone=z1", browser);
    assert_eq!(w.send("POST", "/i/cost-cpm", &[], Some(b"x")).status, 405);
    click(w, "cost-cpm", "zone=z1");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let rows = loop {
        let rows = w.query(
            "SELECT sub1, cost_currency, impressions, bot_impressions, cost_micros \
             FROM impression_rollup WHERE campaign = 'cost-cpm'",
            &[],
        );
        let seen: u64 = rows
            .iter()
            .map(|row| {
                row["impressions"].as_u64().unwrap_or(0)
                    + row["bot_impressions"].as_u64().unwrap_or(0)
            })
            .sum();
        if seen == 6 {
            break rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "impressions not counted: {rows:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    // Counted, not stored one by one: one row per key, and all six share one key (two
    // rows only if they straddle a 15-minute bucket boundary).
    assert!(rows.len() <= 2, "{rows:?}");
    let sum = |field: &str| -> u64 {
        rows.iter()
            .map(|row| row[field].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(
        (
            sum("impressions"),
            sum("bot_impressions"),
            sum("cost_micros")
        ),
        (4, 2, 10_000),
        "{rows:?}"
    );
    for row in &rows {
        assert_eq!(
            (&row["sub1"], &row["cost_currency"]),
            (&json!("z1"), &json!("USD"))
        );
    }
    assert!(w
        .query(
            "SELECT 1 FROM impression_rollup WHERE campaign = 'no-such-campaign'",
            &[]
        )
        .is_empty());
    wait_for_clicks(w, "cost-cpm", 1);
    // By hand: 4 × 2.50 / 1,000 = 0.01 USD; CTR 1 / 4; CPC 0.01 / 1.
    let row = report_row(w, "cost-cpm");
    assert_eq!(row["impressions"], 4, "{row}");
    assert_eq!(row["clicks"], 1, "{row}");
    assert_eq!(row["ctr"], "0.250000", "{row}");
    assert_eq!(row["cost"], json!({"USD": "0.010000"}), "{row}");
    assert_eq!(row["cpc"], json!({"USD": "0.010000"}), "{row}");
}
