use super::*;

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
