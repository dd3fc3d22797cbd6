//! `GET /api/report`: the core parses the query and computes local-day windows, one D1
//! batch reads the grouped rows, the core does the maths.

use super::d1::Db;
use super::zones::IntlZones;
use super::App;
use crate::report::{assemble, parse_query_with};
use crate::store::report_statements;
use worker::Result;

/// The report for the query `pairs` at `now`: the answer, or why the query is refused.
pub async fn build(
    app: &App,
    db: &Db,
    pairs: &[(String, String)],
    now: i64,
) -> Result<std::result::Result<serde_json::Value, String>> {
    let query = match parse_query_with(&IntlZones::default(), pairs, &app.config.timezone, now) {
        Ok(query) => query,
        Err(detail) => return Ok(Err(detail)),
    };
    let results = db.batch(&report_statements(&query)).await?;
    // Typed rows: a column that does not match its struct fails the request, loudly.
    let clicks = super::d1::rows_of(&results, 0)?;
    let conversions = super::d1::rows_of(&results, 1)?;
    let log = super::d1::rows_of(&results, 2)?;
    Ok(Ok(assemble(&query, &clicks, &conversions, &log)))
}
