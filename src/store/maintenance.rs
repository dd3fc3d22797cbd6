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

/// Deletes at most `PURGE_CHUNK` clicks and log rows older than `cutoff_ms`, and replay
/// keys expired at `now_ms`, in the main database.
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
    ]
}
