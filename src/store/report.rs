//! The report's reads (design §9): clicks and refusals from their pre-aggregates,
//! conversions from their own rows, grouped over the core's local-day windows.

use super::{SqlValue, Statement};

// The report (design §9): grouped reads (clicks, conversions, the postback log, conversion
// costs, impressions) over the local-day windows the core computed.
// Grouping keys are switched on and off by parameters (a key that is off is NULL for
// every row), so the statements stay fixed. Test traffic is left out. GROUP BY uses
// positions: SQLite would resolve a name such as `sub1` to the input column first.
macro_rules! report_params {
    () => {
        "WITH p (days, g_day, g_campaign, g_network, g_event, g1, g2, g3, g4, g5, g6, g7, g8, \
         g9, g10, g_country, entries, g_region, g_rule, g_lander, g_offer, g_device, g_os, \
         g_browser) AS (VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
         ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)), \
         d AS (SELECT json_extract(value, '$[0]') AS label, json_extract(value, '$[1]') AS start_ms, \
         json_extract(value, '$[2]') AS end_ms, json_extract(value, '$[3]') AS start_id, \
         json_extract(value, '$[4]') AS end_id FROM p, json_each(p.days)) "
    };
}

// The sub-ID grouping keys of table alias `$t` (absent sub-IDs are NULL in rows and ''
// in the pre-aggregates: both report as null).
macro_rules! report_sub_keys {
    ($t:literal) => {
        concat!(
            "CASE WHEN p.g1 THEN NULLIF(",
            $t,
            ".sub1, '') END AS sub1, ",
            "CASE WHEN p.g2 THEN NULLIF(",
            $t,
            ".sub2, '') END AS sub2, ",
            "CASE WHEN p.g3 THEN NULLIF(",
            $t,
            ".sub3, '') END AS sub3, ",
            "CASE WHEN p.g4 THEN NULLIF(",
            $t,
            ".sub4, '') END AS sub4, ",
            "CASE WHEN p.g5 THEN NULLIF(",
            $t,
            ".sub5, '') END AS sub5, ",
            "CASE WHEN p.g6 THEN NULLIF(",
            $t,
            ".sub6, '') END AS sub6, ",
            "CASE WHEN p.g7 THEN NULLIF(",
            $t,
            ".sub7, '') END AS sub7, ",
            "CASE WHEN p.g8 THEN NULLIF(",
            $t,
            ".sub8, '') END AS sub8, ",
            "CASE WHEN p.g9 THEN NULLIF(",
            $t,
            ".sub9, '') END AS sub9, ",
            "CASE WHEN p.g10 THEN NULLIF(",
            $t,
            ".sub10, '') END AS sub10"
        )
    };
}

// The flow grouping keys of table alias `$t` (docs/report.md; '' and NULL report as
// null, as sub-IDs do).
macro_rules! report_flow_keys {
    ($t:literal) => {
        concat!(
            "CASE WHEN p.g_region THEN NULLIF(",
            $t,
            ".region, '') END AS region, ",
            "CASE WHEN p.g_rule THEN NULLIF(",
            $t,
            ".rule, '') END AS rule, ",
            "CASE WHEN p.g_lander THEN NULLIF(",
            $t,
            ".lander, '') END AS lander, ",
            "CASE WHEN p.g_offer THEN NULLIF(",
            $t,
            ".offer, '') END AS offer, ",
            "CASE WHEN p.g_device THEN NULLIF(",
            $t,
            ".device, '') END AS device, ",
            "CASE WHEN p.g_os THEN NULLIF(",
            $t,
            ".os, '') END AS os, ",
            "CASE WHEN p.g_browser THEN NULLIF(",
            $t,
            ".browser, '') END AS browser"
        )
    };
}

// The day, campaign and country keys of click pre-aggregate rows `r` over day windows `w`.
macro_rules! click_report_keys {
    () => {
        "SELECT CASE WHEN p.g_day THEN w.label END AS day, \
         CASE WHEN p.g_campaign THEN r.campaign END AS campaign, \
         CASE WHEN p.g_country THEN NULLIF(r.country, '') END AS country, "
    };
}

// The tracked cost of pre-aggregate rows `r` (starting at `$at`), per cost currency: it
// counts unless a manual entry of their campaign covers their time (`p.entries`:
// `[[campaign, from_ms, to_ms], …]`, the entries overlapping the report; docs/costs.md).
macro_rules! tracked_cost {
    ($at:literal) => {
        concat!(
            "NULLIF(r.cost_currency, '') AS cost_currency, \
             SUM(CASE WHEN EXISTS (SELECT 1 FROM json_each(p.entries) e \
             WHERE json_extract(e.value, '$[0]') = r.campaign \
             AND ",
            $at,
            " >= json_extract(e.value, '$[1]') \
             AND ",
            $at,
            " < json_extract(e.value, '$[2]')) THEN 0 ELSE r.cost_micros END) \
             AS cost_micros FROM p CROSS JOIN "
        )
    };
}

// The figures of click pre-aggregate rows `r` (starting at `$at`), per cost currency.
macro_rules! click_report_figures {
    ($at:literal) => {
        concat!(
            ", SUM(r.clicks) AS clicks, SUM(r.bot_clicks) AS bot_clicks, \
             SUM(r.lp_views) AS lp_views, SUM(r.lp_clicks) AS lp_clicks, ",
            tracked_cost!($at)
        )
    };
}

// A day an entry covers in part (an entry in another zone) is read from its buckets, so
// that each bucket is wholly in the entry or out of it.
macro_rules! partly_covered {
    () => {
        "EXISTS (SELECT 1 FROM p, json_each(p.entries) e \
         WHERE json_extract(e.value, '$[1]') < d.end_ms AND json_extract(e.value, '$[2]') > d.start_ms \
         AND (json_extract(e.value, '$[1]') > d.start_ms OR json_extract(e.value, '$[2]') < d.end_ms))"
    };
}

// Clicks come from the pre-aggregates, never the raw rows: purging clicks changes no
// figure. A day the cron summed (`click_days`, a day of the configured zone: the same
// start and end) is read from its daily rows (`dc`); any other day, from the 15-minute
// buckets it spans (`du`): local days fall on bucket bounds in every zone. Each part is
// grouped on its own (no compound result to materialize); rows of the same key from the
// two parts add up in the core, as those of several click databases do.
const REPORT_CLICKS: &str = concat!(
    report_params!(),
    ", dc AS (SELECT d.label, d.start_ms FROM d JOIN click_days x ON x.start_ms = d.start_ms \
     AND x.end_ms = d.end_ms WHERE NOT ",
    partly_covered!(),
    "), du AS (SELECT d.label, d.start_ms, d.end_ms FROM d WHERE NOT EXISTS (SELECT 1 FROM \
     click_days x WHERE x.start_ms = d.start_ms AND x.end_ms = d.end_ms) OR ",
    partly_covered!(),
    ") ",
    click_report_keys!(),
    report_sub_keys!("r"),
    click_report_figures!("r.day"),
    "dc AS w JOIN click_day_rollup r ON r.day = w.start_ms \
     WHERE true GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 18 UNION ALL ",
    click_report_keys!(),
    report_sub_keys!("r"),
    click_report_figures!("r.bucket"),
    "du AS w JOIN click_rollup r ON r.bucket >= w.start_ms AND r.bucket < w.end_ms \
     WHERE true GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 18"
);

// Click figures by flow dimension (docs/report.md), from their own pre-aggregate: its
// 15-minute buckets over every day window, in any zone (no daily rows).
const REPORT_FLOW_CLICKS: &str = concat!(
    report_params!(),
    click_report_keys!(),
    report_flow_keys!("r"),
    click_report_figures!("r.bucket"),
    "d AS w JOIN click_flow_rollup r ON r.bucket >= w.start_ms AND r.bucket < w.end_ms \
     WHERE true GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15"
);

// Impressions of the pixel and their `cpm` cost (docs/costs.md, "The impression
// pixel"), from their pre-aggregate in the main database, in the click figures' shape
// (no clicks): its 15-minute buckets over every day window, in any zone. They have no
// flow dimension: grouped by one, they are under none.
const REPORT_IMPRESSIONS: &str = concat!(
    report_params!(),
    click_report_keys!(),
    report_sub_keys!("r"),
    ", 0 AS clicks, 0 AS bot_clicks, 0 AS lp_views, 0 AS lp_clicks, \
     SUM(r.impressions) AS impressions, ",
    tracked_cost!("r.bucket"),
    "d AS w JOIN impression_rollup r ON r.bucket >= w.start_ms AND r.bucket < w.end_ms \
     WHERE true GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 19"
);

// The grouping keys of conversion rows `c` over day windows `d` (their attribution
// snapshot), shared by the conversion figures and their costs.
macro_rules! conversion_report_keys {
    () => {
        concat!(
            "SELECT CASE WHEN p.g_day THEN d.label END AS day, \
             CASE WHEN p.g_campaign THEN c.campaign END AS campaign, \
             CASE WHEN p.g_network THEN c.network END AS network, \
             CASE WHEN p.g_event THEN c.event END AS event, \
             CASE WHEN p.g_country THEN c.country END AS country, ",
            report_sub_keys!("c"),
            ", ",
            report_flow_keys!("c")
        )
    };
}

// Conversions carry their own attribution snapshot: no click is read. Their IDs sort by
// creation time, so each local-day window is a key range.
const REPORT_CONVERSIONS: &str = concat!(
    report_params!(),
    conversion_report_keys!(),
    ", c.currency AS currency, COUNT(*) AS conversions, SUM(c.status = 'approved') AS approved, \
     SUM(CASE WHEN c.status = 'approved' THEN c.payout_micros ELSE 0 END) AS revenue_micros, \
     SUM(CASE WHEN c.status = 'pending' THEN c.payout_micros ELSE 0 END) AS pending_micros \
     FROM p CROSS JOIN d JOIN conversions c ON c.conversion_id >= d.start_id AND c.conversion_id < d.end_id \
     WHERE c.is_test = 0 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, \
     18, 19, 20, 21, 22, 23"
);

// The costs of approved `cpa` and `revshare` conversions (docs/costs.md) created outside
// the manual entries of their campaign, from the terms they copied from their click: a
// fixed amount in the cost currency, or a share of the current payout (rounded half away
// from zero, as `cost::share`) in the payout's currency.
const REPORT_CONVERSION_COSTS: &str = concat!(
    report_params!(),
    conversion_report_keys!(),
    ", CASE WHEN c.revshare_ppm IS NOT NULL THEN c.currency \
     ELSE COALESCE(c.cost_currency, c.currency) END AS currency, \
     CAST(SUM(CASE WHEN c.revshare_ppm IS NOT NULL THEN (c.payout_micros * c.revshare_ppm \
     + CASE WHEN c.payout_micros < 0 THEN -500000 ELSE 500000 END) / 1000000 \
     ELSE c.cpa_micros END) AS INTEGER) AS cost_micros \
     FROM p CROSS JOIN d JOIN conversions c ON c.conversion_id >= d.start_id AND c.conversion_id < d.end_id \
     WHERE c.is_test = 0 AND c.status = 'approved' \
     AND (c.revshare_ppm IS NOT NULL OR c.cpa_micros IS NOT NULL) \
     AND NOT EXISTS (SELECT 1 FROM json_each(p.entries) e \
     WHERE json_extract(e.value, '$[0]') = c.campaign AND c.created_at >= json_extract(e.value, '$[1]') \
     AND c.created_at < json_extract(e.value, '$[2]')) \
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23"
);

// Duplicates and refusals from their pre-aggregates: purging the log changes nothing.
const REPORT_POSTBACKS: &str = concat!(
    report_params!(),
    "SELECT CASE WHEN p.g_day THEN d.label END AS day, \
     CASE WHEN p.g_campaign THEN NULLIF(r.campaign, '') END AS campaign, \
     CASE WHEN p.g_network THEN NULLIF(r.network, '') END AS network, \
     CASE WHEN p.g_event THEN NULLIF(r.event, '') END AS event, \
     CASE WHEN p.g_country THEN NULLIF(r.country, '') END AS country, ",
    report_sub_keys!("r"),
    ", r.outcome AS outcome, SUM(r.postbacks) AS postbacks \
     FROM p CROSS JOIN d JOIN postback_rollup r ON r.bucket >= d.start_ms AND r.bucket < d.end_ms \
     WHERE true GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16"
);

/// The report's read of click figures alone, for a database that holds clicks besides
/// the main one (its rows add to the main batch's first result: docs/scale.md).
pub fn report_click_statement(
    query: &crate::report::ReportQuery,
    entries: &[crate::cost::CostEntry],
) -> Option<Statement> {
    report_statements(query, entries).into_iter().next()
}

/// The report's five reads (clicks, conversions, postback log, conversion costs,
/// impressions) for `query`, one batch;
/// `entries` are the manual cost entries overlapping the report, whose periods' tracked
/// costs are left out.
pub fn report_statements(
    query: &crate::report::ReportQuery,
    entries: &[crate::cost::CostEntry],
) -> Vec<Statement> {
    use crate::report::GroupKey;
    let windows: Vec<serde_json::Value> = crate::report::day_windows(query)
        .into_iter()
        .map(|(label, start, end)| {
            // Conversion IDs sort by creation time: each window is also a key range.
            let bound =
                |ms: i64| crate::postback::record_id_lower_bound(u64::try_from(ms).unwrap_or(0));
            serde_json::json!([label, start, end, bound(start), bound(end)])
        })
        .collect();
    let on = |key: GroupKey| SqlValue::from(query.group_by.contains(&key));
    let mut params = vec![
        SqlValue::Text(crate::json::text(&serde_json::Value::Array(windows))),
        on(GroupKey::Day),
        on(GroupKey::Campaign),
        on(GroupKey::Network),
        on(GroupKey::Event),
    ];
    params.extend((1..=10).map(|n| on(GroupKey::Sub(n))));
    params.push(on(GroupKey::Country));
    let entries: Vec<String> = entries
        .iter()
        .map(|e| {
            let campaign = crate::json::text(&serde_json::Value::from(e.campaign.as_str()));
            format!("[{campaign},{},{}]", e.from_ms, e.to_ms)
        })
        .collect();
    params.push(SqlValue::Text(format!("[{}]", entries.join(","))));
    let flow = [
        GroupKey::Region,
        GroupKey::Rule,
        GroupKey::Lander,
        GroupKey::Offer,
        GroupKey::Device,
        GroupKey::Os,
        GroupKey::Browser,
    ];
    params.extend(flow.map(on));
    // By a flow dimension, click figures come from the flow pre-aggregate.
    let clicks = if query.group_by.iter().any(|key| key.is_flow()) {
        REPORT_FLOW_CLICKS
    } else {
        REPORT_CLICKS
    };
    [
        clicks,
        REPORT_CONVERSIONS,
        REPORT_POSTBACKS,
        REPORT_CONVERSION_COSTS,
        REPORT_IMPRESSIONS,
    ]
    .into_iter()
    .map(|sql| Statement {
        sql,
        params: params.clone(),
    })
    .collect()
}
