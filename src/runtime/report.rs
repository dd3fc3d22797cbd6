//! `GET /api/report`: the core parses the query and computes local-day windows, one D1
//! batch reads the grouped rows, the core does the maths. Manual cost entries overlapping
//! the report are read first (one small read): the batch leaves their periods' tracked
//! costs out and reads the clicks their amounts are spread over (docs/costs.md).

use super::d1::{rows_of, Db};
use super::zones::IntlZones;
use super::App;
use crate::cost::CostEntry;
use crate::report::{
    assemble_with_costs, day_windows, entry_costs, entry_windows, parse_query_with, ClickFigureRow,
    CostFigureRow,
};
use crate::store::{
    entry_clicks, list_cost_entries, report_click_statement, report_statements, EntryClicks,
};
use worker::Result;

/// The report for the query `pairs` at `now`: the answer, or why the query is refused.
pub async fn build(
    env: &worker::Env,
    app: &App,
    db: &Db,
    pairs: &[(String, String)],
    now: i64,
) -> Result<std::result::Result<serde_json::Value, String>> {
    let zones = IntlZones::default();
    let query = match parse_query_with(&zones, pairs, &app.config.timezone, now) {
        Ok(query) => query,
        Err(detail) => return Ok(Err(detail)),
    };
    let days = day_windows(&query);
    let start = days.first().map_or(0, |day| day.1);
    let end = days.last().map_or(0, |day| day.2);
    let entries: Vec<CostEntry> = db.all(&list_cost_entries(None, start, end)).await?;
    let windows = entry_windows(&zones, &entries);
    let buckets = entries.iter().any(|entry| entry.tz != query.tz);
    let spread_reads = if entries.is_empty() {
        Vec::new()
    } else {
        entry_clicks(&windows, buckets)
    };
    // The main batch, then the click figures of every other click database; their
    // rows add up like the main database's (docs/scale.md).
    let mut main = report_statements(&query, &entries);
    main.extend(spread_reads.iter().cloned());
    let mut jobs = vec![(db.clone(), main)];
    if let Some(click_statement) = report_click_statement(&query, &entries) {
        for other in super::click_databases::others(env, app, "report")? {
            let mut statements = vec![click_statement.clone()];
            statements.extend(spread_reads.iter().cloned());
            jobs.push((other, statements));
        }
    }
    let all = super::click_databases::each(jobs).await?;
    let results = all.first().map(Vec::as_slice).unwrap_or_default();
    // Typed rows: a column that does not match its struct fails the request, loudly.
    let mut clicks: Vec<ClickFigureRow> = rows_of(results, 0)?;
    let (mut day_clicks, mut bucket_clicks) = (Vec::new(), Vec::new());
    // The impressions (main database only), in the click figures' shape.
    clicks.extend(rows_of::<ClickFigureRow>(results, 4)?);
    if !spread_reads.is_empty() {
        day_clicks.extend(rows_of::<EntryClicks>(results, 5)?);
        if buckets {
            bucket_clicks.extend(rows_of::<EntryClicks>(results, 6)?);
        }
    }
    for other in all.iter().skip(1) {
        clicks.extend(rows_of::<ClickFigureRow>(other, 0)?);
        if !spread_reads.is_empty() {
            day_clicks.extend(rows_of::<EntryClicks>(other, 1)?);
            if buckets {
                bucket_clicks.extend(rows_of::<EntryClicks>(other, 2)?);
            }
        }
    }
    let conversions = rows_of(results, 1)?;
    let log = rows_of(results, 2)?;
    // The conversions' costs, then the entries' parts.
    let mut costs: Vec<CostFigureRow> = rows_of(results, 3)?;
    costs.extend(entry_costs(
        &query,
        &entries,
        &windows,
        &day_clicks,
        &bucket_clicks,
    ));
    Ok(Ok(assemble_with_costs(
        &query,
        &clicks,
        &conversions,
        &log,
        &costs,
    )))
}
