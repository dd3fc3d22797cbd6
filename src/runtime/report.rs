//! `GET /api/report`: the core parses the query and computes local-day windows, one D1
//! batch reads the grouped rows, the core does the maths.

use super::d1::Db;
use super::zones::IntlZones;
use super::App;
use crate::report::{assemble, parse_query_with, ClickFigureRow};
use crate::store::{report_click_statement, report_statements};
use worker::Result;

/// The report for the query `pairs` at `now`: the answer, or why the query is refused.
pub async fn build(
    env: &worker::Env,
    app: &App,
    db: &Db,
    pairs: &[(String, String)],
    now: i64,
) -> Result<std::result::Result<serde_json::Value, String>> {
    let query = match parse_query_with(&IntlZones::default(), pairs, &app.config.timezone, now) {
        Ok(query) => query,
        Err(detail) => return Ok(Err(detail)),
    };
    // The main batch, then the click figures of every other click database; their
    // rows add up like the main database's (docs/scale.md).
    let mut jobs = vec![(db.clone(), report_statements(&query))];
    if let Some(click_statement) = report_click_statement(&query) {
        for other in super::click_databases::others(env, app, "report")? {
            jobs.push((other, vec![click_statement.clone()]));
        }
    }
    let all = super::click_databases::each(jobs).await?;
    let results = all.first().map(Vec::as_slice).unwrap_or_default();
    // Typed rows: a column that does not match its struct fails the request, loudly.
    let mut clicks: Vec<ClickFigureRow> = super::d1::rows_of(results, 0)?;
    for other in all.iter().skip(1) {
        clicks.extend(super::d1::rows_of::<ClickFigureRow>(other, 0)?);
    }
    let conversions = super::d1::rows_of(results, 1)?;
    let log = super::d1::rows_of(results, 2)?;
    Ok(Ok(assemble(&query, &clicks, &conversions, &log)))
}
