//! Every SQL statement edgeback runs, in one place beside `migrations/`. The core builds
//! [`Statement`]s (SQL text and positional parameters); the adapter sends them to D1,
//! one statement or one batch per round trip; the native tests run the very same
//! statements on SQLite with the same migration files.

use crate::postback::ConversionDraft;
use serde::Deserialize;

mod clicks;
pub use clicks::{
    click_health, click_row, count_click_losses, count_clicks_recovered, store_clicks, ClickHealth,
    ClickLosses, ClickRow, CLICKS_PER_STATEMENT, DELIVERY_HOLD_MS, ROLLUP_BUCKET_MS,
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
];

// Adds one to an existing `postback_rollup` row.
macro_rules! count_outcome_conflict {
    () => {
        "ON CONFLICT (bucket, network, outcome, campaign, event, sub1, sub2, sub3, sub4, sub5, \
         sub6, sub7, sub8, sub9, sub10) DO UPDATE SET postbacks = postbacks + excluded.postbacks"
    };
}

// The record step (SPEC §7) is one batch: create-if-new, update-if-allowed, the history
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

// The allowed status changes (SPEC §7).
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
     transaction_id, version, last_postback_id, clicked_at, created_at, updated_at, is_test) \
     SELECT p.new_id, p.dedup_key, p.click_id, k.campaign, k.sub1, k.sub2, k.sub3, k.sub4, \
     k.sub5, k.sub6, k.sub7, k.sub8, k.sub9, k.sub10, k.external_id, k.country, \
     CASE WHEN k.click_id IS NOT NULL THEN p.now END, p.network, p.event, p.status, \
     p.raw_status, COALESCE(p.payout, k.payout_micros, 0), p.payout IS NULL, \
     COALESCE(p.currency, k.currency, p.fallback_currency), p.currency IS NULL, \
     p.transaction_id, 1, p.postback_id, p.clicked_at, p.now, p.now, p.is_test \
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
     is_test, campaign_filter) \
     SELECT p.postback_id || '.' || json_extract(d.value, '$.name'), p.postback_id, \
     json_extract(d.value, '$.name'), c.conversion_id, c.version, ",
    change_type!(),
    ", 'pending', 0, 0, json_extract(d.value, '$.max_attempts'), p.now, p.now, p.now, p.is_test, \
     json_extract(d.value, '$.campaigns') \
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

// The columns of a [`ConversionRow`], from `conversions c`.
macro_rules! conversion_columns {
    () => {
        "c.conversion_id, c.click_id, c.campaign, c.network, c.event, c.status, c.raw_status, \
         c.payout_micros, c.currency, c.transaction_id, c.version, c.clicked_at, c.created_at, \
         c.updated_at, c.sub1, c.sub2, c.sub3, c.sub4, c.sub5, c.sub6, c.sub7, c.sub8, c.sub9, \
         c.sub10, c.external_id, c.country, c.attributed_at, c.payout_from_click"
    };
}

// Counts a postback that changed nothing (duplicate, invalid transition, replay) for the
// report, with the campaign, event and sub-IDs of the conversion it concerned.
const COUNT_RECORD_OUTCOME: &str = concat!(
    record_params!(),
    "INSERT INTO postback_rollup (bucket, network, outcome, campaign, event, sub1, sub2, sub3, \
     sub4, sub5, sub6, sub7, sub8, sub9, sub10, postbacks) \
     SELECT p.now - p.now % 900000, p.network, o.outcome, COALESCE(c.campaign, ''), \
     COALESCE(c.event, ''), COALESCE(c.sub1, ''), COALESCE(c.sub2, ''), COALESCE(c.sub3, ''), \
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
     (SELECT json_group_array(delivery_id) FROM deliveries WHERE postback_id = p.postback_id) \
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
// (read after the response, so it costs the sender nothing).
const COUNT_REFUSAL: &str = concat!(
    "INSERT INTO postback_rollup (bucket, network, outcome, campaign, event, sub1, sub2, sub3, \
     sub4, sub5, sub6, sub7, sub8, sub9, sub10, postbacks) \
     SELECT ?1 - ?1 % 900000, COALESCE(?2, ''), ?3, COALESCE(k.campaign, ''), '', \
     COALESCE(k.sub1, ''), COALESCE(k.sub2, ''), COALESCE(k.sub3, ''), COALESCE(k.sub4, ''), \
     COALESCE(k.sub5, ''), COALESCE(k.sub6, ''), COALESCE(k.sub7, ''), COALESCE(k.sub8, ''), \
     COALESCE(k.sub9, ''), COALESCE(k.sub10, ''), 1 \
     FROM (SELECT ?4 AS click_id) r LEFT JOIN clicks k ON k.click_id = r.click_id WHERE true ",
    count_outcome_conflict!()
);

/// Logs a postback refused before the record step, and counts it for the report (one
/// batch, written after the response).
pub fn log_refusal(log: &LogEntry, outcome: &str) -> Vec<Statement> {
    vec![
        insert_refusal_log(log, outcome),
        Statement {
            sql: COUNT_REFUSAL,
            params: vec![
                log.received_at_ms.into(),
                log.network.clone().into(),
                outcome.into(),
                log.click_id.clone().into(),
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

/// A conversion as stored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConversionRow {
    pub conversion_id: String,
    pub click_id: String,
    pub campaign: Option<String>,
    pub network: String,
    pub event: String,
    pub status: String,
    pub raw_status: Option<String>,
    pub payout_micros: i64,
    pub currency: String,
    pub transaction_id: Option<String>,
    pub version: i64,
    pub clicked_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The click's attributes, kept with the conversion for life (docs/clicks.md).
    pub sub1: Option<String>,
    pub sub2: Option<String>,
    pub sub3: Option<String>,
    pub sub4: Option<String>,
    pub sub5: Option<String>,
    pub sub6: Option<String>,
    pub sub7: Option<String>,
    pub sub8: Option<String>,
    pub sub9: Option<String>,
    pub sub10: Option<String>,
    pub external_id: Option<String>,
    pub country: Option<String>,
    /// When the click's attributes were copied in; `None` while its click row is missing.
    pub attributed_at: Option<i64>,
    /// The payout is the campaign's default (no postback of this version carried one).
    pub payout_from_click: i64,
}

impl ConversionRow {
    /// Sub-IDs that are set, by name.
    pub fn subs(&self) -> serde_json::Map<String, serde_json::Value> {
        [
            &self.sub1,
            &self.sub2,
            &self.sub3,
            &self.sub4,
            &self.sub5,
            &self.sub6,
            &self.sub7,
            &self.sub8,
            &self.sub9,
            &self.sub10,
        ]
        .into_iter()
        .enumerate()
        .filter_map(|(index, value)| {
            value
                .as_ref()
                .map(|v| (format!("sub{}", index + 1), v.clone().into()))
        })
        .collect()
    }

    /// The API form: payout as an exact decimal string beside its micro-units.
    pub fn to_api_json(&self) -> serde_json::Value {
        serde_json::json!({
            "conversion_id": self.conversion_id,
            "click_id": self.click_id,
            "campaign": self.campaign,
            "network": self.network,
            "event": self.event,
            "status": self.status,
            "raw_status": self.raw_status,
            "payout": crate::money::format_micros(self.payout_micros),
            "payout_micros": self.payout_micros,
            "currency": self.currency,
            "transaction_id": self.transaction_id,
            "version": self.version,
            "clicked_at": self.clicked_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "external_id": self.external_id,
            "country": self.country,
            "sub": self.subs(),
            "attributed": self.attributed_at.is_some(),
            "attributed_at": self.attributed_at,
            "payout_source": if self.payout_from_click != 0 { "campaign" } else { "postback" },
        })
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
        let conversion = serde_json::from_value::<ConversionRow>(row.clone()).ok();
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
            .and_then(|text| serde_json::from_str::<Vec<String>>(text).ok())
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

const LIST_CONVERSIONS: &str = concat!(
    "SELECT ",
    conversion_columns!(),
    " FROM conversions c \
     WHERE (?1 IS NULL OR c.conversion_id < ?1) AND (?2 IS NULL OR c.status = ?2) \
     AND (?3 IS NULL OR c.campaign = ?3) AND (?4 IS NULL OR c.created_at >= ?4) \
     AND c.is_test = 0 ORDER BY c.conversion_id DESC LIMIT ?5"
);

/// Filters for the conversion list (SPEC §9).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversionFilter {
    pub status: Option<String>,
    pub campaign: Option<String>,
    pub since_ms: Option<i64>,
}

/// Newest first; `cursor` is the last conversion ID of the previous page. Fetches one row
/// more than `limit` so the caller knows whether another page exists.
pub fn list_conversions(filter: &ConversionFilter, cursor: Option<&str>, limit: u32) -> Statement {
    Statement {
        sql: LIST_CONVERSIONS,
        params: vec![
            cursor.into(),
            filter.status.clone().into(),
            filter.campaign.clone().into(),
            filter.since_ms.into(),
            i64::from(limit.saturating_add(1)).into(),
        ],
    }
}

// Claims due deliveries (or the given ones) for one sender and returns what sending
// needs. Two statements, one batch: the claim, then the claimed rows.
// A delivery of a conversion still waiting for its click row is held (docs/clicks.md):
// for `DELIVERY_HOLD_MS` (`?6` is now minus that), and for good when its destination
// filters by campaign.
const CLAIM_DELIVERIES: &str = "UPDATE deliveries SET lease_until = ?1, claim_id = ?2 \
     WHERE delivery_id IN (SELECT d.delivery_id FROM deliveries d \
     JOIN conversions c ON c.conversion_id = d.conversion_id \
     WHERE d.state IN ('pending', 'retrying') AND d.next_attempt_at <= ?3 \
     AND (d.lease_until IS NULL OR d.lease_until <= ?3) \
     AND (?4 IS NULL OR d.delivery_id IN (SELECT value FROM json_each(?4))) \
     AND (c.attributed_at IS NOT NULL OR (d.campaign_filter IS NULL AND d.created_at <= ?6)) \
     ORDER BY d.next_attempt_at LIMIT ?5)";

const SELECT_CLAIMED: &str = "SELECT d.delivery_id, d.destination, d.type, d.attempts, \
     d.attempt_base, d.max_attempts, c.conversion_id, d.version, c.click_id, c.campaign, \
     c.network, c.event, h.status, h.raw_status, h.payout_micros, h.currency, \
     c.transaction_id, c.clicked_at, c.created_at AS converted_at, h.changed_at, \
     prev.status AS previous_status, prev.payout_micros AS previous_payout_micros, \
     c.external_id, c.country, c.sub1, c.sub2, c.sub3, c.sub4, c.sub5, c.sub6, c.sub7, c.sub8, \
     c.sub9, c.sub10 \
     FROM deliveries d JOIN conversions c ON c.conversion_id = d.conversion_id \
     JOIN conversion_history h ON h.conversion_id = d.conversion_id AND h.version = d.version \
     LEFT JOIN conversion_history prev ON prev.conversion_id = d.conversion_id \
     AND prev.version = d.version - 1 \
     WHERE d.claim_id = ?1 ORDER BY d.next_attempt_at";

/// How long a claim holds: longer than any attempt (at most 30 s) plus margin.
pub const CLAIM_LEASE_MS: u64 = 60_000;

/// Claims up to `limit` due deliveries (only `only_ids` when given) for `claim_id`. The
/// batch's last statement returns [`crate::forward::DeliveryRow`]s.
pub fn claim_deliveries(
    claim_id: &str,
    now_ms: u64,
    only_ids: Option<&[String]>,
    limit: u32,
) -> Vec<Statement> {
    let ids = only_ids.map(|ids| serde_json::Value::from(ids.to_vec()).to_string());
    vec![
        Statement {
            sql: CLAIM_DELIVERIES,
            params: vec![
                now_ms.saturating_add(CLAIM_LEASE_MS).into(),
                claim_id.into(),
                now_ms.into(),
                ids.into(),
                i64::from(limit).into(),
                now_ms.saturating_sub(DELIVERY_HOLD_MS).into(),
            ],
        },
        Statement {
            sql: SELECT_CLAIMED,
            params: vec![claim_id.into()],
        },
    ]
}

const INSERT_ATTEMPT: &str = "INSERT INTO delivery_attempts (delivery_id, attempt, attempted_at, \
     status_code, latency_ms, error, response_excerpt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
     ON CONFLICT (delivery_id, attempt) DO NOTHING";

const FINISH_ATTEMPT: &str = "UPDATE deliveries SET attempts = attempts + 1, state = ?1, \
     next_attempt_at = ?2, last_status = ?3, last_error = ?4, lease_until = NULL, \
     claim_id = NULL, updated_at = ?5 WHERE delivery_id = ?6 AND claim_id = ?7";

/// One finished attempt, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub delivery_id: String,
    /// 1-based, over the delivery's whole life.
    pub attempt: i64,
    pub attempted_at_ms: u64,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
    pub state: crate::forward::DeliveryState,
    pub next_attempt_at_ms: u64,
}

/// Records an attempt and moves its delivery on, releasing the claim.
pub fn finish_attempt(record: &AttemptRecord, claim_id: &str) -> Vec<Statement> {
    let status: Option<i64> = record.status_code.map(i64::from);
    vec![
        Statement {
            sql: INSERT_ATTEMPT,
            params: vec![
                record.delivery_id.as_str().into(),
                record.attempt.into(),
                record.attempted_at_ms.into(),
                status.into(),
                record.latency_ms.into(),
                record.error.clone().into(),
                record.response_excerpt.clone().into(),
            ],
        },
        Statement {
            sql: FINISH_ATTEMPT,
            params: vec![
                record.state.as_str().into(),
                record.next_attempt_at_ms.into(),
                status.into(),
                record.error.clone().into(),
                record.attempted_at_ms.into(),
                record.delivery_id.as_str().into(),
                claim_id.into(),
            ],
        },
    ]
}

// Replay: due now, with a fresh attempt budget, keeping the delivery (and webhook) id.
const REPLAY_ONE: &str = "UPDATE deliveries SET state = 'pending', next_attempt_at = ?1, \
     attempt_base = attempts, lease_until = NULL, claim_id = NULL, updated_at = ?1 \
     WHERE delivery_id = ?2 RETURNING delivery_id";

const REPLAY_MATCHING: &str = "UPDATE deliveries SET state = 'pending', next_attempt_at = ?1, \
     attempt_base = attempts, lease_until = NULL, claim_id = NULL, updated_at = ?1 \
     WHERE delivery_id IN (SELECT delivery_id FROM deliveries WHERE state = ?2 \
     AND (?3 IS NULL OR created_at >= ?3) ORDER BY created_at LIMIT ?4) RETURNING delivery_id";

/// Most deliveries one bulk replay call takes (call again for more).
pub const REPLAY_LIMIT: u32 = 500;

pub fn replay_delivery(delivery_id: &str, now_ms: u64) -> Statement {
    Statement {
        sql: REPLAY_ONE,
        params: vec![now_ms.into(), delivery_id.into()],
    }
}

pub fn replay_deliveries(
    state: crate::forward::DeliveryState,
    since_ms: Option<i64>,
    now_ms: u64,
) -> Statement {
    Statement {
        sql: REPLAY_MATCHING,
        params: vec![
            now_ms.into(),
            state.as_str().into(),
            since_ms.into(),
            i64::from(REPLAY_LIMIT).into(),
        ],
    }
}

const LIST_POSTBACKS: &str = "SELECT postback_id, received_at, network, source_ip, method, \
     params, outcome, detail, click_id, conversion_id, is_test FROM postback_log \
     WHERE (?1 IS NULL OR postback_id < ?1) AND (?2 IS NULL OR outcome = ?2) \
     AND (?3 IS NULL OR network = ?3) AND (?4 IS NULL OR received_at >= ?4) \
     ORDER BY postback_id DESC LIMIT ?5";

/// Filters for the postback log (SPEC §9).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostbackFilter {
    pub outcome: Option<String>,
    pub network: Option<String>,
    pub since_ms: Option<i64>,
}

/// Newest first, one row more than `limit` (to know whether another page exists).
pub fn list_postbacks(filter: &PostbackFilter, cursor: Option<&str>, limit: u32) -> Statement {
    Statement {
        sql: LIST_POSTBACKS,
        params: vec![
            cursor.into(),
            filter.outcome.clone().into(),
            filter.network.clone().into(),
            filter.since_ms.into(),
            i64::from(limit.saturating_add(1)).into(),
        ],
    }
}

const GET_CONVERSION: &str = concat!(
    "SELECT ",
    conversion_columns!(),
    ", c.is_test FROM conversions c WHERE c.conversion_id = ?1"
);
const GET_HISTORY: &str = "SELECT version, status, raw_status, payout_micros, currency, \
     changed_at, postback_id FROM conversion_history WHERE conversion_id = ?1 ORDER BY version";

macro_rules! delivery_columns {
    () => {
        "d.delivery_id, d.destination, d.conversion_id, d.version, d.type, d.state, \
         d.attempts, d.max_attempts, d.next_attempt_at, d.last_status, d.last_error, \
         d.created_at, d.updated_at, (SELECT json_group_array(json_object('attempt', a.attempt, \
         'attempted_at', a.attempted_at, 'status_code', a.status_code, 'latency_ms', \
         a.latency_ms, 'error', a.error, 'response_excerpt', a.response_excerpt)) \
         FROM (SELECT * FROM delivery_attempts WHERE delivery_id = d.delivery_id \
         ORDER BY attempt) a) AS attempts_json"
    };
}

const GET_CONVERSION_DELIVERIES: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM deliveries d WHERE d.conversion_id = ?1 ORDER BY d.created_at, d.destination"
);

/// One conversion (first statement), its history (second) and its deliveries with
/// attempts (third), in one batch.
pub fn get_conversion(conversion_id: &str) -> Vec<Statement> {
    [GET_CONVERSION, GET_HISTORY, GET_CONVERSION_DELIVERIES]
        .into_iter()
        .map(|sql| Statement {
            sql,
            params: vec![conversion_id.into()],
        })
        .collect()
}

const GET_CLICK: &str = "SELECT click_id, campaign, created_at, sub1, sub2, sub3, sub4, sub5, \
     sub6, sub7, sub8, sub9, sub10, external_id, country, asn, colo, user_agent, ip_hash, \
     is_bot, bot_reason, payout_micros, currency, is_test FROM clicks WHERE click_id = ?1";

pub fn get_click(click_id: &str) -> Statement {
    Statement {
        sql: GET_CLICK,
        params: vec![click_id.to_ascii_lowercase().into()],
    }
}

const LIST_DELIVERIES: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM deliveries d WHERE (?1 IS NULL OR d.delivery_id < ?1) AND (?2 IS NULL OR d.state = ?2) \
     AND (?3 IS NULL OR d.created_at >= ?3) ORDER BY d.delivery_id DESC LIMIT ?4"
);

/// Deliveries with their attempts (as `attempts_json`), newest first.
pub fn list_deliveries(
    state: Option<crate::forward::DeliveryState>,
    since_ms: Option<i64>,
    cursor: Option<&str>,
    limit: u32,
) -> Statement {
    Statement {
        sql: LIST_DELIVERIES,
        params: vec![
            cursor.into(),
            state.map(crate::forward::DeliveryState::as_str).into(),
            since_ms.into(),
            i64::from(limit.saturating_add(1)).into(),
        ],
    }
}

/// A delivery row for the API: `attempts_json` (text from SQLite) becomes an array.
pub fn delivery_api_json(mut row: serde_json::Value) -> serde_json::Value {
    if let Some(object) = row.as_object_mut() {
        let attempts = object
            .remove("attempts_json")
            .and_then(|text| text.as_str().and_then(|t| serde_json::from_str(t).ok()))
            .unwrap_or_else(|| serde_json::json!([]));
        object.insert("attempt_log".into(), attempts);
    }
    row
}

// The report (SPEC §9): three grouped reads over the local-day windows the core computed.
// Grouping keys are switched on and off by parameters (a key that is off is NULL for
// every row), so the statements stay fixed. Test traffic is left out. GROUP BY uses
// positions: SQLite would resolve a name such as `sub1` to the input column first.
macro_rules! report_params {
    () => {
        "WITH p (days, g_day, g_campaign, g_network, g_event, g1, g2, g3, g4, g5, g6, g7, g8, \
         g9, g10) AS (VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)), \
         d AS (SELECT json_extract(value, '$[0]') AS label, json_extract(value, '$[1]') AS start_ms, \
         json_extract(value, '$[2]') AS end_ms FROM p, json_each(p.days)) "
    };
}

// The sub-ID grouping keys of table alias `$t` (absent sub-IDs are NULL in rows and ''
// in the pre-aggregates: both report as null).
macro_rules! report_sub_keys {
    ($t:literal) => {
        concat!(
            "CASE WHEN p.g1 THEN NULLIF(",
            $t,
            ".sub1, '') END AS sub1, ",
            "CASE WHEN p.g2 THEN NULLIF(",
            $t,
            ".sub2, '') END AS sub2, ",
            "CASE WHEN p.g3 THEN NULLIF(",
            $t,
            ".sub3, '') END AS sub3, ",
            "CASE WHEN p.g4 THEN NULLIF(",
            $t,
            ".sub4, '') END AS sub4, ",
            "CASE WHEN p.g5 THEN NULLIF(",
            $t,
            ".sub5, '') END AS sub5, ",
            "CASE WHEN p.g6 THEN NULLIF(",
            $t,
            ".sub6, '') END AS sub6, ",
            "CASE WHEN p.g7 THEN NULLIF(",
            $t,
            ".sub7, '') END AS sub7, ",
            "CASE WHEN p.g8 THEN NULLIF(",
            $t,
            ".sub8, '') END AS sub8, ",
            "CASE WHEN p.g9 THEN NULLIF(",
            $t,
            ".sub9, '') END AS sub9, ",
            "CASE WHEN p.g10 THEN NULLIF(",
            $t,
            ".sub10, '') END AS sub10"
        )
    };
}

// Clicks come from the pre-aggregates (`click_rollup`), never the raw rows: purging
// clicks changes no figure. Day windows fall on the 15-minute buckets.
const REPORT_CLICKS: &str = concat!(
    report_params!(),
    "SELECT CASE WHEN p.g_day THEN d.label END AS day, \
     CASE WHEN p.g_campaign THEN r.campaign END AS campaign, ",
    report_sub_keys!("r"),
    ", SUM(r.clicks) AS clicks, SUM(r.bot_clicks) AS bot_clicks \
     FROM p CROSS JOIN d JOIN click_rollup r ON r.bucket >= d.start_ms AND r.bucket < d.end_ms \
     WHERE true GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12"
);

// Conversions carry their own attribution snapshot: no click is read.
const REPORT_CONVERSIONS: &str = concat!(
    report_params!(),
    "SELECT CASE WHEN p.g_day THEN d.label END AS day, \
     CASE WHEN p.g_campaign THEN c.campaign END AS campaign, \
     CASE WHEN p.g_network THEN c.network END AS network, \
     CASE WHEN p.g_event THEN c.event END AS event, ",
    report_sub_keys!("c"),
    ", c.currency AS currency, COUNT(*) AS conversions, SUM(c.status = 'approved') AS approved, \
     SUM(CASE WHEN c.status = 'approved' THEN c.payout_micros ELSE 0 END) AS revenue_micros, \
     SUM(CASE WHEN c.status = 'pending' THEN c.payout_micros ELSE 0 END) AS pending_micros \
     FROM p CROSS JOIN d JOIN conversions c ON c.created_at >= d.start_ms AND c.created_at < d.end_ms \
     WHERE c.is_test = 0 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15"
);

// Duplicates and refusals from their pre-aggregates: purging the log changes nothing.
const REPORT_POSTBACKS: &str = concat!(
    report_params!(),
    "SELECT CASE WHEN p.g_day THEN d.label END AS day, \
     CASE WHEN p.g_campaign THEN NULLIF(r.campaign, '') END AS campaign, \
     CASE WHEN p.g_network THEN NULLIF(r.network, '') END AS network, \
     CASE WHEN p.g_event THEN NULLIF(r.event, '') END AS event, ",
    report_sub_keys!("r"),
    ", r.outcome AS outcome, SUM(r.postbacks) AS postbacks \
     FROM p CROSS JOIN d JOIN postback_rollup r ON r.bucket >= d.start_ms AND r.bucket < d.end_ms \
     WHERE true GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15"
);

/// The report's three reads (clicks, conversions, postback log) for `query`, one batch.
pub fn report_statements(query: &crate::report::ReportQuery) -> Vec<Statement> {
    use crate::report::GroupKey;
    let windows: Vec<serde_json::Value> = crate::report::day_windows(query)
        .into_iter()
        .map(|(label, start, end)| serde_json::json!([label, start, end]))
        .collect();
    let on = |key: GroupKey| SqlValue::from(query.group_by.contains(&key));
    let mut params = vec![
        SqlValue::Text(serde_json::Value::Array(windows).to_string()),
        on(GroupKey::Day),
        on(GroupKey::Campaign),
        on(GroupKey::Network),
        on(GroupKey::Event),
    ];
    params.extend((1..=10).map(|n| on(GroupKey::Sub(n))));
    [REPORT_CLICKS, REPORT_CONVERSIONS, REPORT_POSTBACKS]
        .into_iter()
        .map(|sql| Statement {
            sql,
            params: params.clone(),
        })
        .collect()
}

const UPSERT_STATE: &str = "INSERT INTO service_state (key, value) VALUES (?1, ?2) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// Records the time of the last cron run.
pub fn mark_cron_run(now_ms: u64) -> Statement {
    Statement {
        sql: UPSERT_STATE,
        params: vec!["last_cron_run_at".into(), now_ms.to_string().into()],
    }
}

const PURGE_CLICKS: &str = "DELETE FROM clicks WHERE click_id IN \
     (SELECT click_id FROM clicks WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)";
const PURGE_SEEN_SIGNATURES: &str = "DELETE FROM seen_signatures WHERE replay_key IN \
     (SELECT replay_key FROM seen_signatures WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2)";
const PURGE_POSTBACK_LOG: &str = "DELETE FROM postback_log WHERE postback_id IN \
     (SELECT postback_id FROM postback_log WHERE received_at < ?1 ORDER BY received_at LIMIT ?2)";

/// Rows deleted per table per cron run: bounded so one run stays short (SPEC §10).
pub const PURGE_CHUNK: u32 = 500;

/// Deletes at most `PURGE_CHUNK` clicks and log rows older than `cutoff_ms`, and replay
/// keys expired at `now_ms`.
pub fn purge_expired(cutoff_ms: u64, now_ms: u64) -> Vec<Statement> {
    [
        (PURGE_CLICKS, cutoff_ms),
        (PURGE_POSTBACK_LOG, cutoff_ms),
        (PURGE_SEEN_SIGNATURES, now_ms),
    ]
    .into_iter()
    .map(|(sql, before)| Statement {
        sql,
        params: vec![before.into(), i64::from(PURGE_CHUNK).into()],
    })
    .collect()
}

// Native only: SQLite (bundled C) does not build for wasm32.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
