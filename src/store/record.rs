//! The record step (design §7): one D1 batch per postback that creates or changes a
//! conversion exactly once, with its history, deliveries, log row and report counts; and
//! the log rows of postbacks refused before it.

use super::ClickRow;
use super::{ConversionRow, SqlValue, Statement};
use crate::postback::ConversionDraft;

// Adds one to an existing `postback_rollup` row.
macro_rules! count_outcome_conflict {
    () => {
        "ON CONFLICT (bucket, network, outcome, campaign, event, country, sub1, sub2, sub3, sub4, \
         sub5, sub6, sub7, sub8, sub9, sub10) DO UPDATE SET postbacks = postbacks + excluded.postbacks"
    };
}

// The record step (design §7) is one batch: create-if-new, update-if-allowed, the history
// row, the log row, and a read-back of the outcome. D1 runs a batch as one transaction,
// so the UNIQUE dedup_key decides exactly one winner among concurrent identical
// postbacks, and a failure anywhere leaves nothing written. Every statement starts with
// the same `p` CTE, so all bind the same parameters and the decisions below read the
// same values.
macro_rules! record_params {
    () => {
        "WITH p (new_id, dedup_key, click_id, network, event, status, raw_status, payout, \
         currency, fallback_currency, transaction_id, clicked_at, now, postback_id, \
         source_ip, method, params, detail, replay_key, replay_expires_at, \
         destinations, is_test) AS (VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, \
         ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)) "
    };
}

// This postback claimed its replay key (or is unsigned): a signed request seen before
// changes nothing and is `replayed`.
macro_rules! fresh {
    () => {
        "(p.replay_key IS NULL OR EXISTS (SELECT 1 FROM seen_signatures s \
         WHERE s.replay_key = p.replay_key AND s.postback_id = p.postback_id))"
    };
}

// The allowed status changes (design §7).
macro_rules! allowed_change {
    () => {
        "(c.status = p.status OR c.status || '>' || p.status IN ('pending>approved', \
         'pending>rejected', 'pending>reversed', 'approved>reversed', 'approved>rejected', \
         'rejected>approved'))"
    };
}

// What this postback did, read after the writes (`c` is the conversion holding the key).
macro_rules! outcome {
    () => {
        concat!(
            "CASE WHEN NOT ",
            fresh!(),
            " THEN 'replayed' WHEN c.conversion_id IS NULL THEN 'invalid_click_id' \
             WHEN c.click_id <> p.click_id THEN 'click_mismatch' \
             WHEN c.conversion_id = p.new_id THEN 'accepted' \
             WHEN c.last_postback_id = p.postback_id THEN 'updated' \
             WHEN c.status = p.status AND (p.payout IS NULL OR c.payout_micros = p.payout) \
             THEN 'duplicate' ELSE 'invalid_transition' END"
        )
    };
}

macro_rules! outcome_detail {
    () => {
        concat!(
            "CASE WHEN NOT ",
            fresh!(),
            " THEN 'this signed request was already received' \
             WHEN c.conversion_id IS NULL THEN 'the conversion could not be recorded' \
             WHEN c.click_id <> p.click_id THEN 'transaction ' || COALESCE(p.transaction_id, '') \
             || ' of network ' || p.network || ' belongs to conversion ' || c.conversion_id \
             || ' of click ' || c.click_id || ', not to click ' || p.click_id \
             WHEN c.conversion_id = p.new_id OR c.last_postback_id = p.postback_id \
             OR (c.status = p.status AND (p.payout IS NULL OR c.payout_micros = p.payout)) \
             THEN p.detail \
             ELSE 'status cannot change from ' || c.status || ' to ' || p.status END"
        )
    };
}

const CLAIM_REPLAY_KEY: &str = concat!(
    record_params!(),
    "INSERT INTO seen_signatures (replay_key, network, postback_id, expires_at) \
     SELECT p.replay_key, p.network, p.postback_id, p.replay_expires_at FROM p \
     WHERE p.replay_key IS NOT NULL ON CONFLICT (replay_key) DO NOTHING"
);

const CREATE_CONVERSION: &str = concat!(
    record_params!(),
    "INSERT INTO conversions (conversion_id, dedup_key, click_id, campaign, sub1, sub2, sub3, \
     sub4, sub5, sub6, sub7, sub8, sub9, sub10, external_id, country, attributed_at, network, \
     event, status, raw_status, payout_micros, payout_from_click, currency, currency_from_click, \
     transaction_id, version, last_postback_id, clicked_at, created_at, updated_at, is_test, \
     rule, offer, lander, cpa_micros, revshare_ppm, cost_currency, region, device, os, browser) \
     SELECT p.new_id, p.dedup_key, p.click_id, k.campaign, k.sub1, k.sub2, k.sub3, k.sub4, \
     k.sub5, k.sub6, k.sub7, k.sub8, k.sub9, k.sub10, k.external_id, k.country, \
     CASE WHEN k.click_id IS NOT NULL THEN p.now END, p.network, p.event, p.status, \
     p.raw_status, COALESCE(p.payout, k.payout_micros, 0), p.payout IS NULL, \
     COALESCE(p.currency, k.currency, p.fallback_currency), p.currency IS NULL, \
     p.transaction_id, 1, p.postback_id, p.clicked_at, p.now, p.now, p.is_test, k.rule, k.offer, \
     k.lander, k.cpa_micros, k.revshare_ppm, k.cost_currency, k.region, k.device, k.os, k.browser \
     FROM p LEFT JOIN clicks k ON k.click_id = p.click_id WHERE ",
    fresh!(),
    " ON CONFLICT (dedup_key) DO NOTHING"
);

// A different status (allowed change) or a different payout (a commission adjustment)
// makes a new version; an absent payout keeps the stored one.
const UPDATE_CONVERSION: &str = concat!(
    record_params!(),
    "UPDATE conversions AS c SET status = p.status, raw_status = p.raw_status, \
     payout_micros = COALESCE(p.payout, c.payout_micros), \
     payout_from_click = p.payout IS NULL AND c.payout_from_click, \
     currency = COALESCE(p.currency, c.currency), \
     currency_from_click = p.currency IS NULL AND c.currency_from_click, \
     version = c.version + 1, \
     updated_at = p.now, last_postback_id = p.postback_id \
     FROM p WHERE c.dedup_key = p.dedup_key AND c.conversion_id <> p.new_id \
     AND c.click_id = p.click_id \
     AND (c.status <> p.status OR (p.payout IS NOT NULL AND c.payout_micros <> p.payout)) \
     AND ",
    allowed_change!(),
    " AND ",
    fresh!()
);

const INSERT_HISTORY: &str = concat!(
    record_params!(),
    "INSERT INTO conversion_history (conversion_id, version, status, raw_status, \
     payout_micros, currency, changed_at, postback_id, payout_from_click, currency_from_click) \
     SELECT c.conversion_id, c.version, c.status, c.raw_status, c.payout_micros, c.currency, \
     p.now, p.postback_id, c.payout_from_click, c.currency_from_click FROM p JOIN conversions c \
     ON c.dedup_key = p.dedup_key AND c.last_postback_id = p.postback_id"
);

// One delivery per candidate destination whose type and campaign filters match, for the
// change this postback made (none when it changed nothing).
macro_rules! change_type {
    () => {
        "(CASE WHEN c.conversion_id = p.new_id THEN 'conversion.created' \
         ELSE 'conversion.updated' END)"
    };
}

const INSERT_DELIVERIES: &str = concat!(
    record_params!(),
    "INSERT INTO deliveries (delivery_id, postback_id, destination, conversion_id, version, \
     type, state, attempts, attempt_base, max_attempts, next_attempt_at, created_at, updated_at, \
     is_test, campaign_filter, lease_until, claim_id) \
     SELECT p.postback_id || '.' || json_extract(d.value, '$.name'), p.postback_id, \
     json_extract(d.value, '$.name'), c.conversion_id, c.version, ",
    change_type!(),
    ", 'pending', 0, 0, json_extract(d.value, '$.max_attempts'), p.now, p.now, p.now, p.is_test, \
     json_extract(d.value, '$.campaigns'), \
     CASE WHEN c.attributed_at IS NOT NULL THEN p.now + 60000 END, \
     CASE WHEN c.attributed_at IS NOT NULL THEN p.postback_id END \
     FROM p JOIN conversions c ON c.dedup_key = p.dedup_key AND c.last_postback_id = p.postback_id \
     JOIN json_each(p.destinations) d \
     WHERE (json_extract(d.value, '$.types') IS NULL OR ",
    change_type!(),
    " IN (SELECT value FROM json_each(d.value, '$.types'))) \
     AND (json_extract(d.value, '$.campaigns') IS NULL OR c.attributed_at IS NULL \
     OR c.campaign IN (SELECT value FROM json_each(d.value, '$.campaigns')))"
);

const INSERT_RECORD_LOG: &str = concat!(
    record_params!(),
    "INSERT INTO postback_log (postback_id, received_at, network, source_ip, method, params, \
     outcome, detail, click_id, conversion_id, is_test) \
     SELECT p.postback_id, p.now, p.network, p.source_ip, p.method, p.params, ",
    outcome!(),
    ", ",
    outcome_detail!(),
    ", p.click_id, c.conversion_id, p.is_test \
     FROM p LEFT JOIN conversions c ON c.dedup_key = p.dedup_key"
);

// Counts a postback that changed nothing (duplicate, invalid transition, replay) for the
// report, with the campaign, event and sub-IDs of the conversion it concerned.
const COUNT_RECORD_OUTCOME: &str = concat!(
    record_params!(),
    "INSERT INTO postback_rollup (bucket, network, outcome, campaign, event, country, sub1, \
     sub2, sub3, sub4, sub5, sub6, sub7, sub8, sub9, sub10, postbacks) \
     SELECT p.now - p.now % 900000, p.network, o.outcome, COALESCE(c.campaign, ''), \
     COALESCE(c.event, ''), COALESCE(c.country, ''), COALESCE(c.sub1, ''), COALESCE(c.sub2, ''), COALESCE(c.sub3, ''), \
     COALESCE(c.sub4, ''), COALESCE(c.sub5, ''), COALESCE(c.sub6, ''), COALESCE(c.sub7, ''), \
     COALESCE(c.sub8, ''), COALESCE(c.sub9, ''), COALESCE(c.sub10, ''), 1 \
     FROM p JOIN postback_log o ON o.postback_id = p.postback_id \
     LEFT JOIN conversions c ON c.dedup_key = p.dedup_key \
     WHERE p.is_test = 0 AND o.outcome NOT IN ('accepted', 'updated') ",
    count_outcome_conflict!()
);

const SELECT_RECORDED: &str = concat!(
    record_params!(),
    "SELECT ",
    outcome!(),
    " AS outcome, ",
    outcome_detail!(),
    " AS detail, ",
    conversion_columns!(),
    ", h.status AS previous_status, h.payout_micros AS previous_payout_micros, \
     (SELECT json_group_array(delivery_id) FROM deliveries WHERE delivery_id > p.postback_id || '.' \
     AND delivery_id < p.postback_id || '/' AND claim_id = p.postback_id) \
     AS delivery_ids \
     FROM p LEFT JOIN conversions c ON c.dedup_key = p.dedup_key \
     LEFT JOIN conversion_history h ON h.conversion_id = c.conversion_id \
     AND h.version = c.version - 1"
);

/// What the postback log records about a request besides its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub postback_id: String,
    pub received_at_ms: u64,
    pub network: Option<String>,
    pub source_ip: Option<String>,
    pub method: String,
    /// Redacted parameters as JSON text.
    pub params: String,
    pub detail: Option<String>,
    pub click_id: Option<String>,
}

/// A signed request's replay key and how long to remember it (see `postback::auth`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayClaim {
    pub key: Option<String>,
    pub expires_at_ms: u64,
}

/// The record-step batch for `draft`. Its last statement returns one row, read with
/// [`RecordedConversion::from_row`].
pub fn record_conversion(
    draft: &ConversionDraft,
    log: &LogEntry,
    replay: &ReplayClaim,
) -> Vec<Statement> {
    let detail = if draft.notes.is_empty() {
        log.detail.clone()
    } else {
        Some(draft.notes.join("; "))
    };
    let params: Vec<SqlValue> = vec![
        draft.conversion_id.as_str().into(),
        draft.dedup_key.as_str().into(),
        draft.click_id.as_str().into(),
        draft.network.as_str().into(),
        draft.event.as_str().into(),
        draft.status.as_str().into(),
        draft.raw_status.clone().into(),
        draft.payout_micros.into(),
        draft.currency.into(),
        draft.fallback_currency.into(),
        draft.transaction_id.clone().into(),
        draft.clicked_at_ms.into(),
        draft.received_at_ms.into(),
        log.postback_id.as_str().into(),
        log.source_ip.clone().into(),
        log.method.as_str().into(),
        log.params.as_str().into(),
        detail.into(),
        replay.key.clone().into(),
        replay.expires_at_ms.into(),
        draft.destinations.as_str().into(),
        draft.is_test.into(),
    ];
    [
        CLAIM_REPLAY_KEY,
        CREATE_CONVERSION,
        UPDATE_CONVERSION,
        INSERT_HISTORY,
        INSERT_DELIVERIES,
        INSERT_RECORD_LOG,
        COUNT_RECORD_OUTCOME,
        SELECT_RECORDED,
    ]
    .into_iter()
    .map(|sql| Statement {
        sql,
        params: params.clone(),
    })
    .collect()
}

const INSERT_REFUSAL_LOG: &str = "INSERT INTO postback_log (postback_id, received_at, network, \
     source_ip, method, params, outcome, detail, click_id, conversion_id) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL)";

// A refusal counts under its click's campaign and sub-IDs when it names a stored click
// (read after the response, so it costs the sender nothing): the row in this database's
// `clicks`, or the one `?5` carries (a `ClickRow` read from its click database).
const COUNT_REFUSAL: &str = concat!(
    "INSERT INTO postback_rollup (bucket, network, outcome, campaign, event, country, sub1, \
     sub2, sub3, sub4, sub5, sub6, sub7, sub8, sub9, sub10, postbacks) \
     SELECT ?1 - ?1 % 900000, COALESCE(?2, ''), ?3, COALESCE(k.campaign, ''), '', \
     COALESCE(k.country, ''), COALESCE(k.sub1, ''), COALESCE(k.sub2, ''), COALESCE(k.sub3, ''), COALESCE(k.sub4, ''), \
     COALESCE(k.sub5, ''), COALESCE(k.sub6, ''), COALESCE(k.sub7, ''), COALESCE(k.sub8, ''), \
     COALESCE(k.sub9, ''), COALESCE(k.sub10, ''), 1 \
     FROM (SELECT ?4 AS click_id) r LEFT JOIN (SELECT campaign, country, sub1, sub2, sub3, \
     sub4, sub5, sub6, sub7, sub8, sub9, sub10 FROM clicks WHERE click_id = ?4 UNION ALL \
     SELECT json_extract(?5, '$.campaign'), json_extract(?5, '$.country'), \
     json_extract(?5, '$.sub1'), \
     json_extract(?5, '$.sub2'), json_extract(?5, '$.sub3'), json_extract(?5, '$.sub4'), \
     json_extract(?5, '$.sub5'), json_extract(?5, '$.sub6'), json_extract(?5, '$.sub7'), \
     json_extract(?5, '$.sub8'), json_extract(?5, '$.sub9'), json_extract(?5, '$.sub10') \
     WHERE ?5 IS NOT NULL LIMIT 1) k ON true WHERE true ",
    count_outcome_conflict!()
);

/// Logs a postback refused before the record step, and counts it for the report (one
/// batch, written after the response). `click` is the named click's row when it lives in
/// a click database (docs/scale.md); a click in this database is found by its ID.
pub fn log_refusal(log: &LogEntry, outcome: &str, click: Option<&ClickRow>) -> Vec<Statement> {
    let click = click.and_then(|row| serde_json::to_string(row).ok());
    vec![
        insert_refusal_log(log, outcome),
        Statement {
            sql: COUNT_REFUSAL,
            params: vec![
                log.received_at_ms.into(),
                log.network.clone().into(),
                outcome.into(),
                log.click_id.clone().into(),
                click.into(),
            ],
        },
    ]
}

fn insert_refusal_log(log: &LogEntry, outcome: &str) -> Statement {
    Statement {
        sql: INSERT_REFUSAL_LOG,
        params: vec![
            log.postback_id.as_str().into(),
            log.received_at_ms.into(),
            log.network.clone().into(),
            log.source_ip.clone().into(),
            log.method.as_str().into(),
            log.params.as_str().into(),
            outcome.into(),
            log.detail.clone().into(),
            log.click_id.clone().into(),
        ],
    }
}

/// The row the record step's last statement returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedConversion {
    /// `accepted`, `updated`, `duplicate`, `invalid_transition` or `invalid_click_id`.
    pub outcome: String,
    pub detail: Option<String>,
    /// The conversion holding the key; `None` when the postback was refused.
    pub conversion: Option<ConversionRow>,
    /// Status and payout before this postback, for `updated`.
    pub previous: Option<(String, i64)>,
    /// Deliveries this change created (to attempt right after the response).
    pub delivery_ids: Vec<String>,
}

impl RecordedConversion {
    /// Reads the row; `None` if it is not the record step's row.
    pub fn from_row(row: &serde_json::Value) -> Option<Self> {
        let outcome = row.get("outcome")?.as_str()?.to_string();
        let detail = row
            .get("detail")
            .and_then(|d| d.as_str())
            .map(str::to_string);
        let conversion = super::from_value::<ConversionRow>(row).ok();
        let previous = match (
            row.get("previous_status"),
            row.get("previous_payout_micros"),
        ) {
            (Some(serde_json::Value::String(status)), Some(payout)) => {
                payout.as_i64().map(|payout| (status.clone(), payout))
            }
            _ => None,
        };
        let delivery_ids = row
            .get("delivery_ids")
            .and_then(|ids| ids.as_str())
            .and_then(|text| serde_json::from_slice::<Vec<String>>(text.as_bytes()).ok())
            .unwrap_or_default();
        Some(Self {
            outcome,
            detail,
            conversion,
            previous,
            delivery_ids,
        })
    }
}
