//! Every SQL statement edgeback runs, in one place beside `migrations/`. The core builds
//! [`Statement`]s (SQL text and positional parameters); the adapter sends them to D1,
//! one statement or one batch per round trip; the native tests run the very same
//! statements on SQLite with the same migration files.

mod row;
pub use row::{as_row, from_value, Column, Columns, DeliveryId, FromRow, Row};
mod clicks;
pub use clicks::{
    answer_indexes, any_waiting, click_database_index, click_health, click_row,
    click_rows_from_json, complete_waiting, count_click_losses, count_clicks_recovered,
    json_array_chunks, select_click_rows, store_click_rows, store_clicks, waiting_click_ids,
    ClickHealth, ClickLosses, ClickRow, CLICK_JSON_BYTES_PER_STATEMENT, DELIVERY_HOLD_MS,
    ROLLUP_BUCKET_MS,
};

/// A positional parameter value. Integers stay within ±2^53 (times in ms, micro-units),
/// so they survive the trip through JavaScript numbers exactly.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Text(String),
}

impl From<Option<String>> for SqlValue {
    fn from(value: Option<String>) -> Self {
        value.map_or(SqlValue::Null, SqlValue::Text)
    }
}
impl From<Option<&str>> for SqlValue {
    fn from(value: Option<&str>) -> Self {
        value.map_or(SqlValue::Null, |text| SqlValue::Text(text.to_string()))
    }
}
impl From<&str> for SqlValue {
    fn from(value: &str) -> Self {
        SqlValue::Text(value.to_string())
    }
}
impl From<String> for SqlValue {
    fn from(value: String) -> Self {
        SqlValue::Text(value)
    }
}
impl From<i64> for SqlValue {
    fn from(value: i64) -> Self {
        SqlValue::Integer(value)
    }
}
impl From<Option<i64>> for SqlValue {
    fn from(value: Option<i64>) -> Self {
        value.map_or(SqlValue::Null, SqlValue::Integer)
    }
}
impl From<u64> for SqlValue {
    fn from(value: u64) -> Self {
        SqlValue::Integer(i64::try_from(value).unwrap_or(i64::MAX))
    }
}
impl From<bool> for SqlValue {
    fn from(value: bool) -> Self {
        SqlValue::Integer(i64::from(value))
    }
}

/// One SQL statement with its parameters (`?1`, `?2`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: &'static str,
    pub params: Vec<SqlValue>,
}

/// The table a statement writes (`INSERT INTO`, `UPDATE`, `DELETE FROM`, whichever comes
/// first after any `WITH` prelude), or `"read"` for a query: how the D1 ledger files the
/// rows D1 reports writing and reading (design §10, "cost is rows written").
pub fn statement_table(sql: &'static str) -> &'static str {
    let found = ["INSERT INTO ", "UPDATE ", "DELETE FROM "]
        .into_iter()
        .filter_map(|verb| sql.find(verb).map(|at| at.saturating_add(verb.len())))
        .min();
    match found.and_then(|start| sql.get(start..)) {
        Some(rest) => rest
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("read"),
        None => "read",
    }
}

/// The migration files, in order, for native tests and tools.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_init.sql",
        include_str!("../../migrations/0001_init.sql"),
    ),
    (
        "0002_seen_signatures.sql",
        include_str!("../../migrations/0002_seen_signatures.sql"),
    ),
    (
        "0003_deliveries.sql",
        include_str!("../../migrations/0003_deliveries.sql"),
    ),
    (
        "0004_attribution.sql",
        include_str!("../../migrations/0004_attribution.sql"),
    ),
    (
        "0005_rows_written.sql",
        include_str!("../../migrations/0005_rows_written.sql"),
    ),
    (
        "0006_destination_health.sql",
        include_str!("../../migrations/0006_destination_health.sql"),
    ),
    (
        "0007_country_rollups.sql",
        include_str!("../../migrations/0007_country_rollups.sql"),
    ),
    (
        "0008_flows.sql",
        include_str!("../../migrations/0008_flows.sql"),
    ),
    (
        "0009_click_days.sql",
        include_str!("../../migrations/0009_click_days.sql"),
    ),
    (
        "0010_landers.sql",
        include_str!("../../migrations/0010_landers.sql"),
    ),
    (
        "0011_costs.sql",
        include_str!("../../migrations/0011_costs.sql"),
    ),
    (
        "0012_flow_dimensions.sql",
        include_str!("../../migrations/0012_flow_dimensions.sql"),
    ),
    (
        "0013_impressions.sql",
        include_str!("../../migrations/0013_impressions.sql"),
    ),
];

// The columns of a [`ConversionRow`], from `conversions c`.
macro_rules! conversion_columns {
    () => {
        "c.conversion_id, c.click_id, c.campaign, c.network, c.event, c.status, c.raw_status, \
         c.payout_micros, c.currency, c.transaction_id, c.version, c.clicked_at, c.created_at, \
         c.updated_at, json_array(c.sub1, c.sub2, c.sub3, c.sub4, c.sub5, c.sub6, c.sub7, c.sub8, \
         c.sub9, c.sub10) AS subs, c.external_id, c.country, c.attributed_at, c.payout_from_click, \
         c.rule, c.offer, c.lander"
    };
}

mod costs;
mod deliveries;
mod impressions;
mod maintenance;
mod reads;
mod record;
mod report;
pub use costs::*;
pub use deliveries::*;
pub use impressions::*;
pub use maintenance::*;
pub use reads::*;
pub use record::*;
pub use report::*;

// Native only: SQLite (bundled C) does not build for wasm32.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
