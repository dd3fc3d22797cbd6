use super::*;
use std::collections::BTreeMap;

fn query(pairs: &[(&str, &str)]) -> Result<ReportQuery, String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse_query(&pairs, "UTC", 1_741_651_200_000) // 2025-03-11T00:00:00Z
}

#[test]
fn parses_and_defaults() {
    let q = query(&[]).unwrap();
    assert_eq!(
        (q.from.to_string(), q.to.to_string()),
        ("2025-03-05".into(), "2025-03-11".into())
    );
    assert_eq!(q.group_by, [GroupKey::Day]);
    let q = query(&[
        ("from", "2025-03-10"),
        ("to", "2025-03-11"),
        ("tz", "Europe/Berlin"),
        ("group_by", "campaign,day,sub3,campaign"),
    ])
    .unwrap();
    assert_eq!(
        q.group_by,
        [GroupKey::Campaign, GroupKey::Day, GroupKey::Sub(3)]
    );
    for bad in [
        vec![("tz", "Mars/Olympus")],
        vec![("from", "2025-3-1")],
        vec![("from", "2025-03-12"), ("to", "2025-03-11")],
        vec![("from", "2024-01-01"), ("to", "2025-03-11")],
        vec![("group_by", "day,sub11")],
    ] {
        assert!(query(&bad).is_err(), "{bad:?}");
    }
}

#[test]
fn days_are_cut_at_local_midnight_including_dst_changes() {
    let q = query(&[
        ("from", "2025-03-29"),
        ("to", "2025-03-31"),
        ("tz", "Europe/Berlin"),
    ])
    .unwrap();
    let windows = day_windows(&q);
    assert_eq!(windows.len(), 3);
    // 2025-03-29 00:00 CET = 2025-03-28T23:00Z; the 30th is 23 hours long (DST starts).
    assert_eq!(windows[0].1, 1_743_202_800_000);
    assert_eq!(windows[1].2 - windows[1].1, 23 * 3_600_000);
    assert_eq!(windows[2].2 - windows[2].1, 24 * 3_600_000);
    for pair in windows.windows(2) {
        assert_eq!(pair[0].2, pair[1].1, "days are contiguous");
    }
    let ny = query(&[
        ("from", "2025-11-02"),
        ("to", "2025-11-02"),
        ("tz", "America/New_York"),
    ])
    .unwrap();
    let windows = day_windows(&ny);
    assert_eq!(
        windows[0].2 - windows[0].1,
        25 * 3_600_000,
        "DST ends: a 25-hour day"
    );
    let kolkata = query(&[
        ("from", "2025-03-10"),
        ("to", "2025-03-10"),
        ("tz", "Asia/Kolkata"),
    ])
    .unwrap();
    assert_eq!(day_windows(&kolkata)[0].1, 1_741_545_000_000, "UTC+05:30");
}

#[test]
fn a_skipped_day_loses_no_time() {
    // Samoa went from UTC-10 to UTC+14 at the end of 2011-12-29: the 30th never began
    // there. Found by fuzzing (fuzz/fuzz_targets/admin_query.rs): the 29th's window was
    // dropped with it, so that day's figures were missing from the report.
    let q = query(&[
        ("from", "2011-12-28"),
        ("to", "2011-12-31"),
        ("tz", "Pacific/Apia"),
    ])
    .unwrap();
    let windows = day_windows(&q);
    let labels: Vec<&str> = windows.iter().map(|(label, _, _)| label.as_str()).collect();
    assert_eq!(labels, ["2011-12-28", "2011-12-29", "2011-12-31"]);
    for pair in windows.windows(2) {
        assert_eq!(pair[0].2, pair[1].1, "days are contiguous");
    }
    assert_eq!(windows[1].2 - windows[1].1, 24 * 3_600_000);
}

#[test]
fn rates_and_money_are_exact() {
    assert_eq!(rate(2, 3), json!("0.666667"));
    assert_eq!(rate(1, 3), json!("0.333333"));
    assert_eq!(rate(1, 1), json!("1.000000"));
    assert_eq!(rate(0, 5), json!("0.000000"));
    assert_eq!(rate(1, 0), Value::Null);
}

#[test]
fn assembles_groups_and_totals() {
    let q = query(&[
        ("from", "2025-03-10"),
        ("to", "2025-03-11"),
        ("group_by", "day"),
    ])
    .unwrap();
    let clicks = [
        json!({"day": "2025-03-10", "clicks": 3, "bot_clicks": 1, "lp_views": 2, "lp_clicks": 1}),
        json!({"day": "2025-03-11", "clicks": 1, "bot_clicks": 0, "lp_views": 1, "lp_clicks": 1}),
    ];
    let conversions = [
        json!({"day": "2025-03-10", "currency": "USD", "conversions": 2, "approved": 1, "revenue_micros": 10_000_000, "pending_micros": 0}),
        json!({"day": "2025-03-10", "currency": "EUR", "conversions": 1, "approved": 0, "revenue_micros": 0, "pending_micros": 4_000_000}),
    ];
    let log = [
        json!({"day": "2025-03-10", "outcome": "duplicate", "postbacks": 2}),
        json!({"day": "2025-03-11", "outcome": "bad_token", "postbacks": 5}),
    ];
    fn typed<T: crate::store::FromRow>(rows: &[Value]) -> Vec<T> {
        rows.iter()
            .map(|row| crate::store::from_value(row).unwrap())
            .collect()
    }
    let clicks: Vec<ClickFigureRow> = typed(&clicks);
    let conversions: Vec<ConversionFigureRow> = typed(&conversions);
    let log: Vec<PostbackFigureRow> = typed(&log);
    let report = assemble(&q, &clicks, &conversions, &log);
    let first = &report["rows"][0];
    assert_eq!(first["day"], "2025-03-10");
    assert_eq!(
        (
            first["clicks"].clone(),
            first["conversions"].clone(),
            first["approved"].clone()
        ),
        (json!(3), json!(3), json!(1))
    );
    assert_eq!(first["revenue"], json!({"USD": "10.000000"}));
    assert_eq!(first["pending_revenue"], json!({"EUR": "4.000000"}));
    assert_eq!(first["cr"], "1.000000");
    assert_eq!(first["epc"], json!({"USD": "3.333333"}));
    assert_eq!(first["approval_rate"], "0.333333");
    assert_eq!(first["duplicates"], 2);
    assert_eq!(
        report["rows"][1]["refused_postbacks"],
        json!({"bad_token": 5})
    );
    assert_eq!(report["rows"][1]["cr"], "0.000000");
    assert_eq!(report["total"]["clicks"], 4);
    assert_eq!(report["total"]["conversions"], 3);
    // Landing views, landing clicks and their CTR (docs/flows.md, "Landing pages").
    assert_eq!(
        (
            first["lp_views"].clone(),
            first["lp_clicks"].clone(),
            first["lp_ctr"].clone()
        ),
        (json!(2), json!(1), json!("0.500000"))
    );
    assert_eq!(report["total"]["lp_views"], 3);
    assert_eq!(report["total"]["lp_clicks"], 2);
    assert_eq!(report["total"]["lp_ctr"], "0.666667");
    // Grouped by network, click figures do not apply.
    let by_network = query(&[("group_by", "network")]).unwrap();
    let report = assemble(&by_network, &clicks, &[], &[]);
    assert_eq!(report["total"]["clicks"], Value::Null);
    assert_eq!(report["total"]["lp_ctr"], Value::Null);
}

#[test]
fn by_day_alone_every_day_of_the_range_is_a_row() {
    let q = query(&[
        ("from", "2025-02-27"),
        ("to", "2025-03-02"),
        ("group_by", "day"),
    ])
    .unwrap();
    let clicks: Vec<ClickFigureRow> = vec![crate::store::from_value(
        &json!({"day": "2025-03-01", "clicks": 2, "bot_clicks": 0, "lp_views": 0, "lp_clicks": 0}),
    )
    .unwrap()];
    let report = assemble(&q, &clicks, &[], &[]);
    let days: Vec<&str> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["day"].as_str().unwrap())
        .collect();
    assert_eq!(
        days,
        ["2025-02-27", "2025-02-28", "2025-03-01", "2025-03-02"]
    );
    let empty = &report["rows"][0];
    assert_eq!(
        (
            empty["clicks"].clone(),
            empty["conversions"].clone(),
            empty["cr"].clone()
        ),
        (json!(0), json!(0), Value::Null)
    );
    assert_eq!(report["rows"][2]["clicks"], 2);
    // Grouped by more than the day, only groups with figures are rows.
    let by_campaign = query(&[
        ("from", "2025-02-27"),
        ("to", "2025-03-02"),
        ("group_by", "day,campaign"),
    ])
    .unwrap();
    assert_eq!(
        assemble(&by_campaign, &clicks, &[], &[])["rows"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_renamed_or_missing_report_column_is_an_error_not_a_zero() {
    let renamed = json!({"day": "2025-03-10", "click_count": 3, "bot_clicks": 1});
    assert!(crate::store::from_value::<ClickFigureRow>(&renamed).is_err());
    let renamed_key = json!({"dia": "2025-03-10", "clicks": 3, "bot_clicks": 1});
    assert!(crate::store::from_value::<ClickFigureRow>(&renamed_key).is_err());
    let missing = json!({"day": "2025-03-10", "outcome": "duplicate"});
    assert!(crate::store::from_value::<PostbackFigureRow>(&missing).is_err());
}

fn typed<T: crate::store::FromRow>(rows: &[Value]) -> Vec<T> {
    rows.iter()
        .map(|row| crate::store::from_value(row).unwrap())
        .collect()
}

/// docs/costs.md's worked example, by hand: a CPC of 0.05 USD, 1,000 clicks, 20
/// approved conversions at 4 USD. Cost 1,000 × 0.05 = 50; revenue 20 × 4 = 80; profit
/// 80 − 50 = 30; ROI 30 / 50 = 0.6; CPA 50 / 20 = 2.5; CPC 50 / 1,000 = 0.05; EPC
/// 80 / 1,000 = 0.08; CR 20 / 1,000 = 0.02.
#[test]
fn costs_profit_and_roi_by_hand() {
    let q = query(&[
        ("from", "2025-03-10"),
        ("to", "2025-03-10"),
        ("group_by", "campaign"),
    ])
    .unwrap();
    let clicks: Vec<ClickFigureRow> = typed(&[
        json!({"campaign": "summer", "clicks": 600, "bot_clicks": 7, "lp_views": 0, "lp_clicks": 0}),
        json!({"campaign": "summer", "clicks": 400, "bot_clicks": 0, "lp_views": 0, "lp_clicks": 0}),
    ]);
    let conversions: Vec<ConversionFigureRow> = typed(&[json!({
        "campaign": "summer", "currency": "USD", "conversions": 20, "approved": 20,
        "revenue_micros": 80_000_000, "pending_micros": 0
    })]);
    // The cost rows of one group add up: 600 and 400 clicks at 0.05.
    let costs: Vec<CostFigureRow> = typed(&[
        json!({"campaign": "summer", "currency": "USD", "cost_micros": 30_000_000}),
        json!({"campaign": "summer", "currency": "USD", "cost_micros": 20_000_000}),
    ]);
    let report = assemble_with_costs(&q, &clicks, &conversions, &[], &costs);
    let row = &report["rows"][0];
    assert_eq!(row["campaign"], "summer");
    assert_eq!(row["clicks"], 1000);
    assert_eq!(row["cost"], json!({"USD": "50.000000"}));
    assert_eq!(row["revenue"], json!({"USD": "80.000000"}));
    assert_eq!(row["profit"], json!({"USD": "30.000000"}));
    assert_eq!(row["roi"], "0.600000");
    assert_eq!(row["cpa"], json!({"USD": "2.500000"}));
    assert_eq!(row["cpc"], json!({"USD": "0.050000"}));
    assert_eq!(row["epc"], json!({"USD": "0.080000"}));
    assert_eq!(row["cr"], "0.020000");
    assert_eq!(report["total"]["roi"], "0.600000");
    assert_eq!(report["total"]["cost"], json!({"USD": "50.000000"}));
}

#[test]
fn losses_currencies_and_groups_without_clicks() {
    let q = query(&[
        ("from", "2025-03-10"),
        ("to", "2025-03-10"),
        ("group_by", "sub1"),
    ])
    .unwrap();
    let clicks: Vec<ClickFigureRow> = typed(&[
        json!({"sub1": "loss", "clicks": 3, "bot_clicks": 0, "lp_views": 0, "lp_clicks": 0}),
        json!({"sub1": "mixed", "clicks": 7, "bot_clicks": 0, "lp_views": 0, "lp_clicks": 0}),
        json!({"sub1": "free", "clicks": 2, "bot_clicks": 0, "lp_views": 0, "lp_clicks": 0}),
    ]);
    let conversions: Vec<ConversionFigureRow> = typed(&[
        json!({"sub1": "loss", "currency": "USD", "conversions": 2, "approved": 1, "revenue_micros": 1_000_000, "pending_micros": 0}),
        json!({"sub1": "mixed", "currency": "EUR", "conversions": 1, "approved": 1, "revenue_micros": 5_000_000, "pending_micros": 0}),
        json!({"sub1": "free", "currency": "USD", "conversions": 1, "approved": 1, "revenue_micros": 2_000_000, "pending_micros": 0}),
    ]);
    let costs: Vec<CostFigureRow> = typed(&[
        // 1 USD revenue against 3 USD cost: profit −2, ROI −2/3 = −0.666667 (half away
        // from zero), CPA 3 / 1 approved, CPC 3 / 3 clicks.
        json!({"sub1": "loss", "currency": "USD", "cost_micros": 3_000_000}),
        // Revenue in EUR, cost in USD: profit per currency, no ROI across currencies.
        json!({"sub1": "mixed", "currency": "USD", "cost_micros": 2_000_000}),
        // A cost with no click (a manual entry spread over a day without clicks).
        json!({"sub1": "idle", "currency": "USD", "cost_micros": 1_000_000}),
    ]);
    let report = assemble_with_costs(&q, &clicks, &conversions, &[], &costs);
    let rows: BTreeMap<String, Value> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["sub1"].as_str().unwrap().to_string(), row.clone()))
        .collect();
    let loss = &rows["loss"];
    assert_eq!(loss["profit"], json!({"USD": "-2.000000"}));
    assert_eq!(loss["roi"], "-0.666667");
    assert_eq!(loss["cpa"], json!({"USD": "3.000000"}));
    assert_eq!(loss["cpc"], json!({"USD": "1.000000"}));
    let mixed = &rows["mixed"];
    assert_eq!(
        mixed["profit"],
        json!({"EUR": "5.000000", "USD": "-2.000000"})
    );
    assert_eq!(mixed["roi"], Value::Null);
    assert_eq!(mixed["cpc"], json!({"USD": "0.285714"}));
    // No cost: profit is the revenue, ROI has nothing to divide by.
    let free = &rows["free"];
    assert_eq!(free["cost"], json!({}));
    assert_eq!(free["profit"], json!({"USD": "2.000000"}));
    assert_eq!(free["roi"], Value::Null);
    assert_eq!(free["cpa"], json!({}));
    let idle = &rows["idle"];
    assert_eq!(idle["clicks"], 0);
    assert_eq!(idle["cost"], json!({"USD": "1.000000"}));
    assert_eq!(idle["profit"], json!({"USD": "-1.000000"}));
    assert_eq!(idle["roi"], "-1.000000");
    assert_eq!(
        (idle["cpc"].clone(), idle["cpa"].clone()),
        (Value::Null, Value::Null)
    );
    // The total: revenue 3 USD + 5 EUR, cost 6 USD: two currencies, no ROI.
    let total = &report["total"];
    assert_eq!(total["cost"], json!({"USD": "6.000000"}));
    assert_eq!(
        total["profit"],
        json!({"EUR": "5.000000", "USD": "-3.000000"})
    );
    assert_eq!(total["roi"], Value::Null);
    assert_eq!(total["cpc"], json!({"USD": "0.500000"}));
    assert_eq!(total["cpa"], json!({"USD": "2.000000"}));
    // Grouped by network, costs are left out like clicks.
    let by_network = query(&[("group_by", "network")]).unwrap();
    let report = assemble_with_costs(&by_network, &clicks, &[], &[], &costs);
    for name in ["cost", "profit", "roi", "cpa", "cpc"] {
        assert_eq!(report["total"][name], Value::Null, "{name}");
    }
    assert!(report["rows"].as_array().unwrap().is_empty());
}

#[test]
fn signed_rates_round_half_away_from_zero() {
    assert_eq!(signed_rate(-1, 3), json!("-0.333333"));
    assert_eq!(signed_rate(-2, 3), json!("-0.666667"));
    assert_eq!(signed_rate(1, 2_000_000), json!("0.000001"));
    assert_eq!(signed_rate(-1, 2_000_000), json!("-0.000001"));
    assert_eq!(signed_rate(3, 2), json!("1.500000"));
    assert_eq!(signed_rate(5, 0), Value::Null);
    assert_eq!(signed_rate(i64::MAX, 1), json!(format_micros(i64::MAX)));
    assert_eq!(signed_rate(i64::MIN, 1), json!(format_micros(i64::MIN)));
}

#[test]
fn flow_dimensions_group_and_refuse_sub_ids_beside_them() {
    let q = query(&[("group_by", "offer,device,region,lander,rule,os,browser,day")]).unwrap();
    assert_eq!(
        q.group_by,
        [
            GroupKey::Offer,
            GroupKey::Device,
            GroupKey::Region,
            GroupKey::Lander,
            GroupKey::Rule,
            GroupKey::Os,
            GroupKey::Browser,
            GroupKey::Day
        ]
    );
    assert!(q
        .group_by
        .iter()
        .all(|k| k.is_flow() != (*k == GroupKey::Day)));
    let names: Vec<String> = q.group_by.iter().map(|k| k.name()).collect();
    assert_eq!(
        names,
        ["offer", "device", "region", "lander", "rule", "os", "browser", "day"]
    );
    // With network, event or country: accepted.
    assert!(query(&[("group_by", "offer,network,event,country,campaign")]).is_ok());
    // With a sub-ID: refused, naming both.
    let refused = query(&[("group_by", "campaign,device,sub3")]).unwrap_err();
    assert!(
        refused.contains("group_by device and sub3 cannot be combined"),
        "{refused}"
    );
    let unknown = query(&[("group_by", "placement")]).unwrap_err();
    assert!(unknown.contains("offer, device, os, browser"), "{unknown}");

    // By offer and device, hand-computed: offer-a on mobile has 3 clicks and 1 approved
    // conversion of 4.00 EUR, cost 0.30 USD; offer-b on desktop 2 clicks, none.
    let q = query(&[
        ("from", "2025-03-10"),
        ("to", "2025-03-11"),
        ("group_by", "offer,device"),
    ])
    .unwrap();
    let clicks: Vec<ClickFigureRow> = typed(&[
        json!({"offer": "offer-a", "device": "mobile", "clicks": 2, "bot_clicks": 0,
               "lp_views": 2, "lp_clicks": 1, "cost_currency": "USD", "cost_micros": 200_000}),
        // Another click database's (or day's) row of the same key adds up.
        json!({"offer": "offer-a", "device": "mobile", "clicks": 1, "bot_clicks": 1,
               "lp_views": 0, "lp_clicks": 0, "cost_currency": "USD", "cost_micros": 100_000}),
        json!({"offer": "offer-b", "device": "desktop", "clicks": 2, "bot_clicks": 0,
               "lp_views": 0, "lp_clicks": 0, "cost_currency": null, "cost_micros": null}),
    ]);
    let conversions: Vec<ConversionFigureRow> = typed(&[json!({
        "offer": "offer-a", "device": "mobile", "currency": "EUR", "conversions": 1,
        "approved": 1, "revenue_micros": 4_000_000, "pending_micros": 0})]);
    let report = assemble(&q, &clicks, &conversions, &[]);
    assert_eq!(report["group_by"], json!(["offer", "device"]));
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{report}");
    let a = &rows[0];
    assert_eq!(
        (&a["offer"], &a["device"]),
        (&json!("offer-a"), &json!("mobile"))
    );
    assert_eq!(a["clicks"], 3);
    assert_eq!(a["bot_clicks"], 1);
    assert_eq!(a["conversions"], 1);
    assert_eq!(a["cr"], "0.333333");
    assert_eq!(a["revenue"], json!({"EUR": "4.000000"}));
    assert_eq!(a["cost"], json!({"USD": "0.300000"}));
    assert_eq!(a["lp_ctr"], "0.500000");
    let b = &rows[1];
    assert_eq!(
        (&b["offer"], &b["device"]),
        (&json!("offer-b"), &json!("desktop"))
    );
    assert_eq!(
        (b["clicks"].clone(), b["conversions"].clone()),
        (json!(2), json!(0))
    );
    assert_eq!(report["total"]["clicks"], 5);
}
