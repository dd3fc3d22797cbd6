//! Writing the impression pre-aggregate (docs/costs.md, "The impression pixel"): one
//! upsert adds a write window's counts, one row per distinct key.

use super::{SqlValue, Statement, CLICK_JSON_BYTES_PER_STATEMENT};
use crate::impression::ImpressionTally;

// Each row of `?1` is a JSON array: bucket, campaign, country, sub1…sub10, cost currency,
// impressions, bot impressions, cost (the order of `impression_json`).
const COUNT_IMPRESSIONS: &str = "INSERT INTO impression_rollup (bucket, campaign, country, \
     sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, sub9, sub10, cost_currency, impressions, \
     bot_impressions, cost_micros) SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, \
     value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8, value ->> 9, value ->> 10, \
     value ->> 11, value ->> 12, value ->> 13, value ->> 14, value ->> 15, value ->> 16 \
     FROM json_each(?1) WHERE true \
     ON CONFLICT (bucket, campaign, country, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, \
     sub9, sub10, cost_currency) DO UPDATE SET impressions = impressions + excluded.impressions, \
     bot_impressions = bot_impressions + excluded.bot_impressions, \
     cost_micros = cost_micros + excluded.cost_micros";

/// The statements that add `tally` to the impression pre-aggregate: one upsert per
/// [`CLICK_JSON_BYTES_PER_STATEMENT`] of keys, one batch. Not idempotent (counts add up):
/// a write is retried only when it failed as a whole, which a batch (a transaction) does.
pub fn count_impressions(tally: &ImpressionTally) -> Vec<Statement> {
    let mut statements = Vec::new();
    let mut json = String::from("[");
    for (key, counts) in tally.iter() {
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
        let text = crate::json::text(&serde_json::Value::Array(row));
        if json.len() > 1
            && json.len().saturating_add(text.len()).saturating_add(2)
                > CLICK_JSON_BYTES_PER_STATEMENT
        {
            json.push(']');
            statements.push(std::mem::replace(&mut json, String::from("[")));
        }
        if json.len() > 1 {
            json.push(',');
        }
        json.push_str(&text);
    }
    if json.len() > 1 {
        json.push(']');
        statements.push(json);
    }
    statements
        .into_iter()
        .map(|json| Statement {
            sql: COUNT_IMPRESSIONS,
            params: vec![SqlValue::Text(json)],
        })
        .collect()
}
