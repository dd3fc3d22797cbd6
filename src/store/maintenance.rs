//! The cron's upkeep (design §10): the last-run mark and the retention purge.

use super::Statement;

const UPSERT_STATE: &str = "INSERT INTO service_state (key, value) VALUES (?1, ?2) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// Records the time of the last cron run.
pub fn mark_cron_run(now_ms: u64) -> Statement {
    Statement {
        sql: UPSERT_STATE,
        params: vec!["last_cron_run_at".into(), now_ms.to_string().into()],
    }
}

// Click and postback IDs sort by time: `?1` is the smallest ID of the cutoff instant.
const PURGE_CLICKS: &str = "DELETE FROM clicks WHERE click_id IN \
     (SELECT click_id FROM clicks WHERE click_id < ?1 ORDER BY click_id LIMIT ?2)";
const PURGE_SEEN_SIGNATURES: &str = "DELETE FROM seen_signatures WHERE replay_key IN \
     (SELECT replay_key FROM seen_signatures WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2)";
const PURGE_POSTBACK_LOG: &str = "DELETE FROM postback_log WHERE postback_id IN \
     (SELECT postback_id FROM postback_log WHERE postback_id < ?1 ORDER BY postback_id LIMIT ?2)";

/// Rows deleted per table per cron run: bounded so one run stays short (design §10).
pub const PURGE_CHUNK: u32 = 500;

/// Deletes at most `PURGE_CHUNK` clicks older than `cutoff_ms` from one database that
/// holds clicks (the main one, or each click database: docs/scale.md).
pub fn purge_clicks(cutoff_ms: u64) -> Statement {
    Statement {
        sql: PURGE_CLICKS,
        params: vec![
            crate::click_id::time_lower_bound(cutoff_ms).into(),
            i64::from(PURGE_CHUNK).into(),
        ],
    }
}

/// Deletes at most `PURGE_CHUNK` clicks and log rows older than `cutoff_ms`, replay keys
/// expired at `now_ms` and impression writers gone for a day, in the main database.
pub fn purge_expired(cutoff_ms: u64, now_ms: u64) -> Vec<Statement> {
    let chunk = i64::from(PURGE_CHUNK);
    vec![
        purge_clicks(cutoff_ms),
        Statement {
            sql: PURGE_POSTBACK_LOG,
            params: vec![
                crate::postback::record_id_lower_bound(cutoff_ms).into(),
                chunk.into(),
            ],
        },
        Statement {
            sql: PURGE_SEEN_SIGNATURES,
            params: vec![now_ms.into(), chunk.into()],
        },
        super::purge_impression_writers(now_ms.saturating_sub(86_400_000), PURGE_CHUNK),
    ]
}

// The local days (`?1`: JSON `[[start_ms, end_ms], …]`, days of the configured zone that
// have ended) not summed yet, newest first, one per run: a day is summed from its
// 15-minute buckets in one statement, so a run stays short whatever the backlog (the
// first runs after the migration, or after a zone change, work back one day a minute).
// A day overlapping one already summed (another zone's) is skipped: its reports read the
// 15-minute buckets.
macro_rules! next_click_day {
    () => {
        "WITH w AS (SELECT json_extract(value, '$[0]') AS start_ms, \
         json_extract(value, '$[1]') AS end_ms FROM json_each(?1)), \
         pick AS (SELECT start_ms, end_ms FROM w WHERE NOT EXISTS (SELECT 1 FROM click_days x \
         WHERE x.start_ms < w.end_ms AND x.end_ms > w.start_ms) ORDER BY start_ms DESC LIMIT 1) "
    };
}

const SUM_CLICK_DAY: &str = concat!(
    next_click_day!(),
    "INSERT INTO click_day_rollup (day, campaign, country, sub1, sub2, sub3, sub4, sub5, \
     sub6, sub7, sub8, sub9, sub10, clicks, bot_clicks, lp_views, lp_clicks, cost_micros, \
     cost_currency) \
     SELECT pick.start_ms, t.campaign, t.country, t.sub1, t.sub2, t.sub3, t.sub4, t.sub5, \
     t.sub6, t.sub7, t.sub8, t.sub9, t.sub10, SUM(t.clicks), SUM(t.bot_clicks), \
     SUM(t.lp_views), SUM(t.lp_clicks), SUM(t.cost_micros), MAX(t.cost_currency) \
     FROM pick JOIN click_rollup t ON t.bucket >= pick.start_ms AND t.bucket < pick.end_ms \
     WHERE true GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13"
);

// Runs after [`SUM_CLICK_DAY`] in the same batch, which does not change `click_days`: the
// same day is picked.
const MARK_CLICK_DAY: &str = concat!(
    next_click_day!(),
    "INSERT INTO click_days (start_ms, end_ms) SELECT start_ms, end_ms FROM pick"
);

/// Sums the newest of `days` (`[start_ms, end_ms)` of local days that have ended) not yet
/// summed into the daily click figures, in one database that holds clicks. Both
/// statements belong in one batch (atomic: a click batch sees the day either wholly in
/// the 15-minute figures or wholly summed).
pub fn sum_click_day(days: &[(i64, i64)]) -> Vec<Statement> {
    let pairs: Vec<String> = days.iter().map(|(s, e)| format!("[{s},{e}]")).collect();
    let json = format!("[{}]", pairs.join(","));
    [SUM_CLICK_DAY, MARK_CLICK_DAY]
        .into_iter()
        .map(|sql| Statement {
            sql,
            params: vec![json.clone().into()],
        })
        .collect()
}
