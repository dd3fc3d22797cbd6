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
    // Click figures from every click database besides the main one, in parallel with
    // the main batch; their rows add up like the main database's (docs/scale.md).
    let others = super::click_databases::others(env, app, "report")?;
    let click_statement = report_click_statement(&query);
    let other_reads = others.iter().map(|other| {
        let statement = click_statement.clone();
        async move {
            match statement {
                Some(statement) => other.all::<ClickFigureRow>(&statement).await,
                None => Ok(Vec::new()),
            }
        }
    });
    let statements = report_statements(&query);
    let (results, other_clicks) = futures_util::future::try_join(
        db.batch(&statements),
        futures_util::future::try_join_all(other_reads),
    )
    .await?;
    // Typed rows: a column that does not match its struct fails the request, loudly.
    let mut clicks: Vec<ClickFigureRow> = super::d1::rows_of(&results, 0)?;
    clicks.extend(other_clicks.into_iter().flatten());
    let conversions = super::d1::rows_of(&results, 1)?;
    let log = super::d1::rows_of(&results, 2)?;
    Ok(Ok(assemble(&query, &clicks, &conversions, &log)))
}
