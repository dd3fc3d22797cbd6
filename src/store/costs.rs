//! Manual cost entries (docs/costs.md, `PUT /api/costs`) and the report's reads of the
//! click counts their amounts are spread over.

use super::{Columns, FromRow, Row, Statement};
use crate::cost::CostEntry;

// The entries of one campaign (`?1`, or every campaign when NULL) overlapping
// `[?2, ?3)`, in a fixed order.
const LIST_ENTRIES: &str = "SELECT campaign, from_ms, to_ms, from_day, to_day, tz, \
     amount_micros, currency FROM cost_entries WHERE (?1 IS NULL OR campaign = ?1) \
     AND from_ms < ?3 AND to_ms > ?2 ORDER BY campaign, from_ms";

// Stores an entry unless another period of its campaign overlaps it (atomic: two
// concurrent PUTs cannot both land overlapping); the same period replaces.
const PUT_ENTRY: &str = "INSERT INTO cost_entries (campaign, from_ms, to_ms, from_day, to_day, \
     tz, amount_micros, currency) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE NOT EXISTS \
     (SELECT 1 FROM cost_entries WHERE campaign = ?1 AND from_ms < ?3 AND to_ms > ?2 \
     AND NOT (from_ms = ?2 AND to_ms = ?3)) \
     ON CONFLICT (campaign, from_ms) DO UPDATE SET to_ms = excluded.to_ms, \
     from_day = excluded.from_day, to_day = excluded.to_day, tz = excluded.tz, \
     amount_micros = excluded.amount_micros, currency = excluded.currency";

const DELETE_ENTRY: &str = "DELETE FROM cost_entries WHERE campaign = ?1 AND from_ms = ?2 \
     AND to_ms = ?3";

impl FromRow for CostEntry {
    fn from_row(row: &Row) -> Result<Self, String> {
        let c = Columns::new(row);
        let day = |name: &str| crate::zone::Date::parse(&c.text(name));
        let (from, to) = (day("from_day"), day("to_day"));
        let currency = crate::money::normalize_currency(&c.text("currency"));
        let (Some(from), Some(to), Some(currency)) = (from, to, currency) else {
            return Err("cost entry: a day or the currency is unreadable".into());
        };
        c.finish(CostEntry {
            campaign: c.text("campaign"),
            from,
            to,
            tz: c.text("tz"),
            from_ms: c.int("from_ms"),
            to_ms: c.int("to_ms"),
            amount_micros: c.int("amount_micros"),
            currency,
        })
    }
}

/// The entries of `campaign` (every campaign's when `None`) overlapping
/// `[from_ms, to_ms)`.
pub fn list_cost_entries(campaign: Option<&str>, from_ms: i64, to_ms: i64) -> Statement {
    Statement {
        sql: LIST_ENTRIES,
        params: vec![campaign.into(), from_ms.into(), to_ms.into()],
    }
}

/// One batch: stores `entry` unless another period of its campaign overlaps it (the same
/// period is replaced), then lists the campaign's entries overlapping it: the entry
/// itself when it was stored, else the one in the way. One row written.
pub fn put_cost_entry(entry: &CostEntry) -> Vec<Statement> {
    vec![
        Statement {
            sql: PUT_ENTRY,
            params: vec![
                entry.campaign.as_str().into(),
                entry.from_ms.into(),
                entry.to_ms.into(),
                entry.from.to_string().into(),
                entry.to.to_string().into(),
                entry.tz.as_str().into(),
                entry.amount_micros.into(),
                entry.currency.into(),
            ],
        },
        list_cost_entries(Some(&entry.campaign), entry.from_ms, entry.to_ms),
    ]
}

/// Deletes the entry of `campaign` with exactly this period.
pub fn delete_cost_entry(campaign: &str, from_ms: i64, to_ms: i64) -> Statement {
    Statement {
        sql: DELETE_ENTRY,
        params: vec![campaign.into(), from_ms.into(), to_ms.into()],
    }
}

// The keys of a pre-aggregate row `r`: country and sub-IDs ('' when absent).
macro_rules! entry_keys {
    () => {
        "r.country AS country, r.sub1 AS sub1, r.sub2 AS sub2, r.sub3 AS sub3, r.sub4 AS sub4, \
         r.sub5 AS sub5, r.sub6 AS sub6, r.sub7 AS sub7, r.sub8 AS sub8, r.sub9 AS sub9, \
         r.sub10 AS sub10, SUM(r.clicks) AS clicks"
    };
}

// The windows of the spread (`?1`: JSON `[[entry, campaign, start_ms, end_ms], …]`, each
// entry's local days).
macro_rules! entry_windows {
    () => {
        "WITH w AS (SELECT json_extract(value, '$[0]') AS entry, \
         json_extract(value, '$[1]') AS campaign, json_extract(value, '$[2]') AS start_ms, \
         json_extract(value, '$[3]') AS end_ms FROM json_each(?1)) "
    };
}

// The non-bot clicks of each entry day per country and sub-ID tuple: from the daily rows
// of a day the cron summed (the same start and end), else from the day's 15-minute
// buckets; the same counts either way (docs/costs.md, the spread's first stage).
const ENTRY_DAY_CLICKS: &str = concat!(
    entry_windows!(),
    ", ws AS (SELECT w.* FROM w JOIN click_days x ON x.start_ms = w.start_ms \
     AND x.end_ms = w.end_ms), \
     wu AS (SELECT w.* FROM w WHERE NOT EXISTS (SELECT 1 FROM click_days x \
     WHERE x.start_ms = w.start_ms AND x.end_ms = w.end_ms)) \
     SELECT w.entry AS entry, w.start_ms AS at, ",
    entry_keys!(),
    " FROM ws AS w JOIN click_day_rollup r ON r.day = w.start_ms AND r.campaign = w.campaign \
     WHERE true GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 HAVING SUM(r.clicks) > 0 \
     UNION ALL SELECT w.entry AS entry, w.start_ms AS at, ",
    entry_keys!(),
    " FROM wu AS w JOIN click_rollup r ON r.bucket >= w.start_ms AND r.bucket < w.end_ms \
     AND r.campaign = w.campaign WHERE true GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 \
     HAVING SUM(r.clicks) > 0"
);

// The same per 15-minute bucket (the second stage, for a report in another zone).
const ENTRY_BUCKET_CLICKS: &str = concat!(
    entry_windows!(),
    "SELECT w.entry AS entry, r.bucket AS at, ",
    entry_keys!(),
    " FROM w JOIN click_rollup r ON r.bucket >= w.start_ms AND r.bucket < w.end_ms \
     AND r.campaign = w.campaign WHERE true GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 \
     HAVING SUM(r.clicks) > 0"
);

/// Non-bot clicks of one entry's day (or bucket: `at`) and key (country, sub1 … sub10;
/// `''` when absent), from one database that holds clicks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryClicks {
    pub entry: usize,
    pub at: i64,
    pub key: [String; 11],
    pub clicks: u64,
}

impl FromRow for EntryClicks {
    fn from_row(row: &Row) -> Result<Self, String> {
        let c = Columns::new(row);
        let key = [
            "country", "sub1", "sub2", "sub3", "sub4", "sub5", "sub6", "sub7", "sub8", "sub9",
            "sub10",
        ]
        .map(|name| c.text(name));
        c.finish(EntryClicks {
            entry: c.uint("entry"),
            at: c.int("at"),
            key,
            clicks: c.uint("clicks"),
        })
    }
}

/// The reads of the spread over `windows` (`(entry index, campaign, start_ms, end_ms)`
/// of each entry's local days): per day, and with `buckets` per 15-minute bucket too.
pub fn entry_clicks(windows: &[(usize, String, i64, i64)], buckets: bool) -> Vec<Statement> {
    let json: Vec<String> = windows
        .iter()
        .map(|(entry, campaign, start, end)| {
            let campaign = crate::json::text(&serde_json::Value::from(campaign.as_str()));
            format!("[{entry},{campaign},{start},{end}]")
        })
        .collect();
    let param = super::SqlValue::Text(format!("[{}]", json.join(",")));
    let mut statements = vec![Statement {
        sql: ENTRY_DAY_CLICKS,
        params: vec![param.clone()],
    }];
    if buckets {
        statements.push(Statement {
            sql: ENTRY_BUCKET_CLICKS,
            params: vec![param],
        });
    }
    statements
}
