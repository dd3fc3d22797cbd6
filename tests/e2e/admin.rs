//! The admin API end to end (issue 7, design §9): every route in the OpenAPI document
//! answers, paging, details, the report checked against hand-computed figures in two time
//! zones, the postback tester, and run-time campaigns in KV.

use crate::harness::{worker, Reply, ADMIN_TOKEN};
use serde_json::{json, Value};

fn auth() -> String {
    format!("Bearer {ADMIN_TOKEN}")
}

fn api(method: &str, path: &str, body: Option<&str>) -> Reply {
    api_on(worker(), method, path, body)
}

fn api_on(target: &crate::harness::Worker, method: &str, path: &str, body: Option<&str>) -> Reply {
    let auth = auth();
    let mut headers = vec![("authorization", auth.as_str())];
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    target.send(method, path, &headers, body.map(str::as_bytes))
}

fn click(campaign: &str, query: &str) -> String {
    crate::harness::click_through(campaign, query, "192.0.2.120")
}

#[test]
fn every_documented_route_answers_and_needs_the_token() {
    let document = api("GET", "/api/openapi.json", None);
    assert_eq!(document.status, 200);
    let document = document.json();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, methods) in paths {
        for method in methods.as_object().unwrap().keys() {
            operations += 1;
            let concrete = path
                .replace("{id}", "no-such-id")
                .replace("{click_id}", "no-such-id");
            let method = method.to_ascii_uppercase();
            let body = matches!(method.as_str(), "POST" | "PUT").then_some("{}");
            let reply = api(&method, &concrete, body);
            assert_ne!(reply.status, 401, "{method} {path}");
            assert!(
                !reply.body.contains("no such API route"),
                "{method} {path} is documented but not routed: {}",
                reply.body
            );
            assert!(
                reply.status < 500,
                "{method} {path}: {} {}",
                reply.status,
                reply.body
            );
            let anonymous = worker().send(&method, &concrete, &[], body.map(str::as_bytes));
            assert_eq!(anonymous.status, 401, "{method} {path} without the token");
        }
    }
    assert!(operations >= 14, "{operations}");
    // An undocumented route is not routed.
    assert_eq!(api("GET", "/api/nothing-here", None).status, 404);
    assert_eq!(api("PATCH", "/api/conversions", None).status, 405);
}

#[test]
fn the_postback_log_pages_and_filters() {
    let id = click("pb", "");
    for n in 0..3 {
        worker().get(&format!("/postback?clickid={id}&txid=adm-log-{n}"), &[]);
    }
    worker().get("/postback?clickid=adm-not-a-click", &[]);
    let first = api("GET", "/api/postbacks?limit=2", None).json();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let second = api(
        "GET",
        &format!("/api/postbacks?limit=2&cursor={cursor}"),
        None,
    )
    .json();
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["postback_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        ids(&second).iter().all(|id| !ids(&first).contains(id)),
        "pages overlap"
    );
    assert!(ids(&second).iter().all(|id| *id < cursor));
    let refused = api(
        "GET",
        "/api/postbacks?outcome=invalid_click_id&limit=500",
        None,
    )
    .json();
    assert!(refused["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["outcome"] == "invalid_click_id"));
    let ours = api("GET", "/api/postbacks?network=generic&limit=500", None).json();
    let item = ours["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["params"].to_string().contains("adm-log-2"))
        .expect("logged");
    assert!(item["params"].is_array(), "parameters come back as JSON");
    assert_eq!(api("GET", "/api/postbacks?limit=0", None).status, 400);
    assert_eq!(
        api("GET", "/api/postbacks?since=yesterday", None).status,
        400
    );
}

#[test]
fn a_conversion_with_history_and_deliveries_and_its_click() {
    let id = click("fw", "sub1=adm&external_id=adm-ext");
    let created = worker()
        .get(
            &format!("/postback?clickid={id}&txid=adm-detail&status=pending&payout=2"),
            &[],
        )
        .json();
    worker().get(
        &format!("/postback?clickid={id}&txid=adm-detail&status=approved&payout=2"),
        &[],
    );
    let conversion_id = created["conversion_id"].as_str().unwrap();
    let detail = api("GET", &format!("/api/conversions/{conversion_id}"), None);
    assert_eq!(detail.status, 200, "{}", detail.body);
    let detail = detail.json();
    assert_eq!(detail["conversion"]["status"], "approved");
    assert_eq!(detail["conversion"]["payout"], "2.000000");
    let history: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["pending", "approved"]);
    let deliveries = detail["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2);
    assert!(deliveries
        .iter()
        .all(|d| d["destination"] == "fw-hook" && d["attempt_log"].is_array()));
    assert_eq!(api("GET", "/api/conversions/nope", None).status, 404);

    let click = api("GET", &format!("/api/clicks/{}", id.to_uppercase()), None).json();
    assert_eq!(click["click"]["click_id"], id.as_str());
    assert_eq!(click["click"]["sub1"], "adm");
    assert_eq!(click["click"]["external_id"], "adm-ext");
    assert_eq!(api("GET", "/api/clicks/nope", None).status, 404);

    let listed = api(
        "GET",
        "/api/conversions?campaign=fw&status=approved&limit=500",
        None,
    )
    .json();
    assert!(listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["conversion_id"] == conversion_id));
    assert_eq!(api("GET", "/api/conversions?status=won", None).status, 400);
}

#[test]
fn deliveries_are_listed_with_their_attempts() {
    let id = click("fw", "");
    let reply = worker()
        .get(&format!("/postback?clickid={id}&txid=adm-deliv"), &[])
        .json();
    let conversion_id = reply["conversion_id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let page = api("GET", "/api/deliveries?state=delivered&limit=500", None).json();
        if let Some(found) = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["conversion_id"] == conversion_id.as_str())
        {
            let attempts = found["attempt_log"].as_array().unwrap();
            assert_eq!(attempts.len(), 1);
            assert_eq!(attempts[0]["status_code"], 200);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not delivered");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(api("GET", "/api/deliveries?state=lost", None).status, 400);
}

/// Seeds rows around midnight of 2025-03-10/11 and checks every figure against values
/// computed by hand for Europe/Berlin (UTC+1) and America/New_York (UTC-4, DST since
/// 2025-03-09).
#[test]
fn the_report_matches_hand_computed_figures_in_two_time_zones() {
    // Seeded from outside workerd: on the isolated worker, one such test at a time.
    let _alone = crate::harness::exclusive();
    let w = crate::harness::isolated_worker();
    // Times (UTC):            Berlin           New York
    // c1 2025-03-10T22:30Z    10th 23:30       10th 18:30
    // b1 2025-03-10T23:10Z    11th (bot)       10th (bot)
    // c2 2025-03-10T23:30Z    11th 00:30       10th 19:30
    // c3 2025-03-11T03:30Z    11th             10th 23:30
    // c5 2025-03-11T04:00Z    11th             11th 00:00 (exactly midnight)
    // c4 2025-03-11T04:30Z    11th             11th 00:30
    // t1 test click           excluded
    let clicks = [
        ("rpt-c1", 1_741_645_800_000_i64, 0, 0),
        ("rpt-b1", 1_741_648_200_000, 1, 0),
        ("rpt-c2", 1_741_649_400_000, 0, 0),
        ("rpt-c3", 1_741_663_800_000, 0, 0),
        ("rpt-c5", 1_741_665_600_000, 0, 0),
        ("rpt-c4", 1_741_667_400_000, 0, 0),
        ("rpt-t1", 1_741_649_400_000, 0, 1),
    ];
    // Real IDs: click, conversion and postback IDs sort by time, and the report and the
    // purge read them as key ranges. Each name maps to the ID made at its time.
    let secrets =
        edgeback::click_id::ClickSecrets::new(crate::harness::CLICK_SECRET, None).unwrap();
    let mut ids = std::collections::HashMap::new();
    for (n, (name, at, _, _)) in clicks.iter().enumerate() {
        ids.insert(*name, secrets.mint(*at as u64, [n as u8; 7]).unwrap());
    }
    let mut sql = String::new();
    for (name, at, bot, test) in clicks {
        let id = &ids[name];
        sql.push_str(&format!(
            "INSERT OR IGNORE INTO clicks (click_id, campaign, created_at, is_bot, is_test) VALUES ('{id}', 'rpt', {at}, {bot}, {test});"
        ));
    }
    // Conversions: v1 approved 10 USD at 23:45Z (Berlin 11th, NY 10th); v2 pending 4 USD
    // at 04:15Z on the 11th (both 11th); v3 rejected 3 USD at 22:50Z (both 10th); a test one.
    for (id, click, status, payout, at, test) in [
        (
            "rpt-v1",
            "rpt-c1",
            "approved",
            10_000_000,
            1_741_650_300_000_i64,
            0,
        ),
        (
            "rpt-v2",
            "rpt-c2",
            "pending",
            4_000_000,
            1_741_666_500_000,
            0,
        ),
        (
            "rpt-v3",
            "rpt-c3",
            "rejected",
            3_000_000,
            1_741_647_000_000,
            0,
        ),
        (
            "rpt-vt",
            "rpt-t1",
            "approved",
            99_000_000,
            1_741_650_300_000,
            1,
        ),
    ] {
        let n = ids.len() as u8;
        let id = ids
            .entry(id)
            .or_insert_with(|| edgeback::postback::new_record_id(at as u64, [n; 14]))
            .clone();
        let click = ids.get(click).cloned().unwrap_or_else(|| click.to_string());
        sql.push_str(&format!(
            "INSERT OR IGNORE INTO conversions (conversion_id, dedup_key, click_id, campaign, network, event, status, \
             payout_micros, currency, version, last_postback_id, clicked_at, created_at, updated_at, is_test, attributed_at) VALUES \
             ('{id}', 'rpt-key-{id}', '{click}', 'rpt', 'generic', 'conversion', '{status}', {payout}, 'USD', 1, 'x', 0, {at}, {at}, {test}, {at});"
        ));
    }
    // Log: a duplicate of v1 at 23:50Z (Berlin 11th, NY 10th); an invalid payout for c4 at
    // 05:00Z on the 11th (both 11th).
    let (l1, l2) = (
        edgeback::postback::new_record_id(1_741_650_600_000, [101; 14]),
        edgeback::postback::new_record_id(1_741_669_200_000, [102; 14]),
    );
    sql.push_str(&format!(
        "INSERT OR IGNORE INTO postback_log (postback_id, received_at, network, method, params, outcome, click_id, conversion_id) VALUES \
         ('{l1}', 1741650600000, 'generic', 'GET', '[]', 'duplicate', '{c1}', '{v1}'), \
         ('{l2}', 1741669200000, 'generic', 'GET', '[]', 'invalid_payout', '{c4}', NULL);",
        c1 = ids["rpt-c1"],
        v1 = ids["rpt-v1"],
        c4 = ids["rpt-c4"],
    ));
    // Reports read the pre-aggregates the worker writes beside these rows; seeded rows
    // get theirs the way migration 0004 computes them from existing rows.
    sql.push_str(&format!(
        "INSERT OR IGNORE INTO click_rollup (bucket, campaign, country, sub1, sub2, sub3, \
         sub4, sub5, sub6, sub7, sub8, sub9, sub10, clicks, bot_clicks) \
         SELECT created_at - created_at % 900000, campaign, COALESCE(country, ''), \
         COALESCE(sub1, ''), COALESCE(sub2, ''), COALESCE(sub3, ''), COALESCE(sub4, ''), \
         COALESCE(sub5, ''), COALESCE(sub6, ''), COALESCE(sub7, ''), COALESCE(sub8, ''), \
         COALESCE(sub9, ''), COALESCE(sub10, ''), SUM(is_bot = 0), SUM(is_bot <> 0) \
         FROM clicks WHERE campaign = 'rpt' AND is_test = 0 \
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13; \
         INSERT OR IGNORE INTO postback_rollup (bucket, network, outcome, campaign, event, \
         country, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, sub9, sub10, postbacks) \
         SELECT l.received_at - l.received_at % 900000, \
         l.network, l.outcome, COALESCE(c.campaign, k.campaign, ''), COALESCE(c.event, ''), \
         COALESCE(c.country, k.country, ''), \
         '', '', '', '', '', '', '', '', '', '', COUNT(*) FROM postback_log l \
         LEFT JOIN conversions c ON c.conversion_id = l.conversion_id \
         LEFT JOIN clicks k ON k.click_id = l.click_id WHERE l.postback_id IN ('{l1}', '{l2}') \
         GROUP BY 1, 2, 3, 4, 5, 6;"
    ));
    w.execute(&sql);

    let report = |tz: &str| -> Vec<Value> {
        let reply = api_on(
            w,
            "GET",
            &format!("/api/report?from=2025-03-10&to=2025-03-11&tz={tz}&group_by=campaign,day"),
            None,
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        let body = reply.json();
        assert_eq!(body["tz"], tz);
        body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["campaign"] == "rpt")
            .cloned()
            .collect()
    };
    let expect = |row: &Value, day: &str, figures: Value| {
        assert_eq!(row["day"], day);
        for (name, want) in figures.as_object().unwrap() {
            assert_eq!(&row[name], want, "{day} {name}");
        }
    };
    let berlin = report("Europe/Berlin");
    assert_eq!(berlin.len(), 2, "{berlin:?}");
    expect(
        &berlin[0],
        "2025-03-10",
        json!({
            "clicks": 1, "bot_clicks": 0, "conversions": 1, "approved": 0, "revenue": {}, "pending_revenue": {},
            "cr": "1.000000", "epc": {}, "approval_rate": "0.000000", "duplicates": 0, "refused_postbacks": {}
        }),
    );
    expect(
        &berlin[1],
        "2025-03-11",
        json!({
            "clicks": 4, "bot_clicks": 1, "conversions": 2, "approved": 1, "revenue": {"USD": "10.000000"},
            "pending_revenue": {"USD": "4.000000"}, "cr": "0.500000", "epc": {"USD": "2.500000"},
            "approval_rate": "0.500000", "duplicates": 1, "refused_postbacks": {"invalid_payout": 1}
        }),
    );
    let new_york = report("America/New_York");
    assert_eq!(new_york.len(), 2, "{new_york:?}");
    expect(
        &new_york[0],
        "2025-03-10",
        json!({
            "clicks": 3, "bot_clicks": 1, "conversions": 2, "approved": 1, "revenue": {"USD": "10.000000"},
            "pending_revenue": {}, "cr": "0.666667", "epc": {"USD": "3.333333"}, "approval_rate": "0.500000",
            "duplicates": 1, "refused_postbacks": {}
        }),
    );
    expect(
        &new_york[1],
        "2025-03-11",
        json!({
            "clicks": 2, "bot_clicks": 0, "conversions": 1, "approved": 0, "revenue": {},
            "pending_revenue": {"USD": "4.000000"}, "cr": "0.500000", "epc": {}, "approval_rate": "0.000000",
            "duplicates": 0, "refused_postbacks": {"invalid_payout": 1}
        }),
    );
    assert_eq!(
        api_on(w, "GET", "/api/report?tz=Mars/Base", None).status,
        400
    );
    assert_eq!(
        api_on(w, "GET", "/api/report?group_by=colour", None).status,
        400
    );
}

#[test]
fn the_postback_tester_runs_the_pipeline_and_flags_test() {
    let reply = api(
        "POST",
        "/api/test-postback",
        Some(
            r#"{"campaign": "fw", "params": {"payout": "7.5", "status": "approved", "txid": "tester-1"}}"#,
        ),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["test"], true);
    assert_eq!(body["outcome"], "accepted");
    assert_eq!(body["auth"]["mode"], "bypassed");
    assert_eq!(body["conversion"]["payout"], "7.500000");
    let planned = body["planned_deliveries"].as_array().unwrap();
    assert_eq!(planned.len(), 1);
    assert_eq!(
        (
            planned[0]["destination"].clone(),
            planned[0]["kind"].clone()
        ),
        (json!("fw-hook"), json!("webhook"))
    );
    let conversion_id = body["conversion"]["conversion_id"].as_str().unwrap();
    let stored = worker().query(
        "SELECT is_test FROM conversions WHERE conversion_id = ?1",
        &[&conversion_id],
    );
    assert_eq!(stored[0]["is_test"], 1);
    let click_id = body["click_id"].as_str().unwrap();
    assert_eq!(
        worker().query(
            "SELECT is_test FROM clicks WHERE click_id = ?1",
            &[&click_id]
        )[0]["is_test"],
        1
    );
    assert!(
        worker()
            .query(
                "SELECT 1 FROM deliveries WHERE conversion_id = ?1",
                &[&conversion_id]
            )
            .is_empty(),
        "test conversions are not forwarded"
    );
    assert_eq!(
        worker().query(
            "SELECT is_test FROM postback_log WHERE conversion_id = ?1",
            &[&conversion_id]
        )[0]["is_test"],
        1
    );
    // Not in the conversion list or reports.
    let listed = api("GET", "/api/conversions?campaign=fw&limit=500", None).json();
    assert!(!listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["conversion_id"] == conversion_id));

    // With authentication checked: refused without the token, passed with it.
    let refused = api(
        "POST",
        "/api/test-postback",
        Some(r#"{"campaign": "sec", "network": "sec-token", "auth": "check"}"#),
    )
    .json();
    assert_eq!(
        (
            refused["outcome"].clone(),
            refused["auth"]["passed"].clone()
        ),
        (json!("missing_token"), json!(false))
    );
    let passed = api(
        "POST",
        "/api/test-postback",
        Some(r#"{"campaign": "sec", "network": "sec-token", "auth": "check", "params": {"security_token": "sec-token-value-7f3a9c2e"}}"#),
    )
    .json();
    assert_eq!(
        (passed["outcome"].clone(), passed["auth"]["passed"].clone()),
        (json!("accepted"), json!(true))
    );
    // Field refusals come back with their code.
    let bad = api(
        "POST",
        "/api/test-postback",
        Some(r#"{"campaign": "fw", "params": {"payout": "$5"}}"#),
    )
    .json();
    assert_eq!(bad["outcome"], "invalid_payout");
    assert_eq!(
        api(
            "POST",
            "/api/test-postback",
            Some(r#"{"campaign": "nope"}"#)
        )
        .status,
        404
    );
    assert_eq!(
        api("POST", "/api/test-postback", Some("not json")).status,
        400
    );
}

#[test]
fn run_time_campaigns_live_in_kv_and_static_ones_win() {
    let put = api(
        "PUT",
        "/api/campaigns/rt-spring",
        Some(
            r#"{"offer_url": "https://spring.example/?c={clickid}&s={sub1}", "payout": 3, "redirect": "307"}"#,
        ),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    let got = api("GET", "/api/campaigns/rt-spring", None).json();
    assert_eq!(got["source"], "kv");
    assert_eq!(got["campaign"]["redirect"], "307");
    // The click path reads it from KV: still zero D1 queries before the response.
    let reply = worker().get("/c/rt-spring?sub1=x", &[("user-agent", "Mozilla/5.0")]);
    assert_eq!(reply.status, 307, "{}", reply.body);
    assert_eq!(reply.d1_queries(), 0);
    assert!(reply
        .header("location")
        .unwrap()
        .starts_with("https://spring.example/?c="));
    let listed = api("GET", "/api/campaigns", None).json();
    assert!(listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == "rt-spring" && c["source"] == "kv"));

    // Validated like static campaigns, with key paths.
    let invalid = api(
        "PUT",
        "/api/campaigns/rt-bad",
        Some(r#"{"offer_url": "https://x.example/?c={clikid}"}"#),
    );
    assert_eq!(invalid.status, 400);
    assert_eq!(
        invalid.json()["errors"][0]["path"],
        "campaigns.rt-bad.offer_url"
    );
    // A time filter's zone is checked by the runtime's own zone rules, as at load: a
    // name of the right shape that no zone has is refused (it passed before).
    let zoneless = api(
        "PUT",
        "/api/campaigns/rt-zone",
        Some(
            r#"{"offer_url": "https://x.example/", "rules": [{"name": "night",
                "filters": {"time": {"zone": "Mars/Olympus_Mons", "from": "22:00", "to": "06:00"}},
                "offer_url": "https://x.example/night"}]}"#,
        ),
    );
    assert_eq!(zoneless.status, 400, "{}", zoneless.body);
    assert_eq!(
        zoneless.json()["errors"][0]["path"],
        "campaigns.rt-zone.rules[0].filters.time.zone"
    );
    assert_eq!(api("GET", "/api/campaigns/rt-zone", None).status, 404);
    let known = api(
        "PUT",
        "/api/campaigns/rt-zone",
        Some(
            r#"{"offer_url": "https://x.example/", "rules": [{"name": "night",
                "filters": {"time": {"zone": "Asia/Kathmandu", "from": "22:00", "to": "06:00"}},
                "offer_url": "https://x.example/night"}]}"#,
        ),
    );
    assert_eq!(known.status, 200, "{}", known.body);
    assert_eq!(api("DELETE", "/api/campaigns/rt-zone", None).status, 200);
    assert_eq!(
        api(
            "PUT",
            "/api/campaigns/Bad%20Id",
            Some(r#"{"offer_url": "https://x.example/"}"#)
        )
        .status,
        400
    );
    // A static campaign of the same id wins, and the API says so.
    let clash = api(
        "PUT",
        "/api/campaigns/fw",
        Some(r#"{"offer_url": "https://x.example/"}"#),
    );
    assert_eq!(clash.status, 409);
    assert_eq!(clash.json()["error"], "static_campaign_wins");
    assert_eq!(
        api("GET", "/api/campaigns/fw", None).json()["source"],
        "static"
    );

    assert_eq!(api("DELETE", "/api/campaigns/rt-spring", None).status, 200);
    assert_eq!(api("GET", "/api/campaigns/rt-spring", None).status, 404);
}
