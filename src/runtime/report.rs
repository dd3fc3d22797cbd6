//! `GET /api/report`: the core parses the query and computes local-day windows, one D1
//! batch reads the grouped rows, the core does the maths.

use super::d1::Db;
use super::zones::IntlZones;
use super::{respond_json, App};
use crate::report::{assemble, parse_query_with};
use crate::store::report_statements;
use serde_json::json;
use worker::{Response, Result};

pub async fn handle(app: &App, db: &Db, pairs: &[(String, String)]) -> Result<Response> {
    let now = i64::try_from(super::now_ms()).unwrap_or(i64::MAX);
    let query = match parse_query_with(&IntlZones::default(), pairs, &app.config.timezone, now) {
        Ok(query) => query,
        Err(detail) => {
            return respond_json(
                400,
                &json!({ "ok": false, "error": "bad_request", "detail": detail }),
            )
        }
    };
    let results = db.batch(&report_statements(&query)).await?;
    // Typed rows: a column that does not match its struct fails the request, loudly.
    let clicks = super::d1::rows_of(&results, 0)?;
    let conversions = super::d1::rows_of(&results, 1)?;
    let log = super::d1::rows_of(&results, 2)?;
    respond_json(200, &assemble(&query, &clicks, &conversions, &log))
}
