//! Writing the impression pre-aggregate (docs/costs.md, "The impression pixel"): one
//! upsert adds a write window's counts, one row per distinct key.

use super::{json_array_chunks, Statement};
use crate::impression::ImpressionTally;

// Each row of `?1` is a JSON array: bucket, campaign, country, sub1…sub10, cost currency,
// impressions, bot impressions, cost (the order of `impression_json`).
const COUNT_IMPRESSIONS: &str = "INSERT INTO impression_rollup (bucket, campaign, country, \
     sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, sub9, sub10, cost_currency, impressions, \
     bot_impressions, cost_micros) SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, \
     value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8, value ->> 9, value ->> 10, \
     value ->> 11, value ->> 12, value ->> 13, value ->> 14, value ->> 15, value ->> 16 \
     FROM json_each(?1) WHERE NOT EXISTS (SELECT 1 FROM impression_writers w, \
     json_each(w.windows) n WHERE w.writer = ?2 AND n.value = ?3) \
     ON CONFLICT (bucket, campaign, country, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, \
     sub9, sub10, cost_currency) DO UPDATE SET impressions = impressions + excluded.impressions, \
     bot_impressions = bot_impressions + excluded.bot_impressions, \
     cost_micros = cost_micros + excluded.cost_micros";

// The window is marked written by its writer (an isolate), in the same batch: a retry of
// a batch that did commit adds nothing. The writer keeps its last 32 window numbers.
const MARK_WINDOW_WRITTEN: &str = "INSERT INTO impression_writers (writer, windows, at) \
     VALUES (?1, json_array(?2), ?3) ON CONFLICT (writer) DO UPDATE SET \
     windows = (SELECT json_group_array(value) FROM (SELECT value FROM \
     json_each(impression_writers.windows) WHERE value <> ?2 AND value > ?2 - 32 \
     UNION ALL SELECT ?2)), at = ?3";

// Writers not seen for a day (`?1`), at most `?2` a run.
const PURGE_IMPRESSION_WRITERS: &str = "DELETE FROM impression_writers WHERE writer IN \
     (SELECT writer FROM impression_writers WHERE at < ?1 LIMIT ?2)";

/// Deletes at most `limit` writer marks last written before `cutoff_ms`.
pub fn purge_impression_writers(cutoff_ms: u64, limit: u32) -> Statement {
    Statement {
        sql: PURGE_IMPRESSION_WRITERS,
        params: vec![cutoff_ms.into(), i64::from(limit).into()],
    }
}

/// The batch that adds `tally`, window number `window` of isolate `writer`, to the
/// impression pre-aggregate at `now_ms`: one upsert per chunk of keys
/// (`json_array_chunks`), then the window's mark. Idempotent: run again (a retry after an
/// error that came after the commit), it adds nothing.
pub fn count_impressions(
    tally: &ImpressionTally,
    writer: &str,
    window: u64,
    now_ms: u64,
) -> Vec<Statement> {
    let texts = tally.iter().map(|(key, counts)| {
        let mut row = vec![
            serde_json::Value::from(key.bucket),
            key.campaign.as_str().into(),
            key.country.as_str().into(),
        ];
        row.extend(key.subs.iter().map(|sub| sub.as_str().into()));
        row.extend([
            key.cost_currency.as_str().into(),
            counts.impressions.into(),
            counts.bot_impressions.into(),
            counts.cost_micros.into(),
        ]);
        crate::json::text(&serde_json::Value::Array(row))
    });
    let mut batch: Vec<Statement> = json_array_chunks(texts.collect())
        .into_iter()
        .map(|(json, _)| Statement {
            sql: COUNT_IMPRESSIONS,
            params: vec![json, writer.to_string().into(), window.into()],
        })
        .collect();
    if batch.is_empty() {
        return batch;
    }
    batch.push(Statement {
        sql: MARK_WINDOW_WRITTEN,
        params: vec![writer.to_string().into(), window.into(), now_ms.into()],
    });
    batch
}
