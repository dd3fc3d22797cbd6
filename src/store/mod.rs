//! Every SQL statement edgeback runs, in one place beside `migrations/`. The core builds
//! [`Statement`]s (SQL text and positional parameters); the adapter sends them to D1,
//! one statement or one batch per round trip; the native tests run the very same
//! statements on SQLite with the same migration files.

use crate::click::ClickRecord;
use crate::postback::ConversionDraft;
use serde::Deserialize;

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
pub const MIGRATIONS: &[(&str, &str)] = &[(
    "0001_init.sql",
    include_str!("../../migrations/0001_init.sql"),
)];

const INSERT_CLICK: &str = "INSERT INTO clicks (click_id, campaign, created_at, \
     sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, sub9, sub10, external_id, \
     country, asn, colo, user_agent, ip_hash, is_bot, bot_reason, payout_micros, currency) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
     ?19, ?20, ?21, ?22, ?23) ON CONFLICT (click_id) DO NOTHING";

/// Stores one click. `payout_micros` and `currency` are the campaign's at click time.
pub fn insert_click(
    record: &ClickRecord,
    payout_micros: Option<i64>,
    currency: Option<&str>,
) -> Statement {
    let mut params: Vec<SqlValue> = vec![
        record.click_id.as_str().into(),
        record.campaign.as_str().into(),
        record.created_at_ms.into(),
    ];
    params.extend(record.subs.iter().map(|sub| SqlValue::from(sub.clone())));
    params.extend([
        record.external_id.clone().into(),
        record.country.clone().into(),
        record.asn.map(i64::from).into(),
        record.colo.clone().into(),
        record.user_agent.clone().into(),
        record.ip_hash.clone().into(),
        record.bot_reason.is_some().into(),
        record.bot_reason.clone().into(),
        payout_micros.into(),
        currency.into(),
    ]);
    Statement {
        sql: INSERT_CLICK,
        params,
    }
}

// The record step (SPEC §7), as one batch: insert-if-new, its history row, its log row,
// then read back which conversion holds the key. D1 runs a batch as one transaction, so
// the UNIQUE dedup_key decides exactly one winner among concurrent identical postbacks.
// `WHERE true` keeps SQLite from reading ON CONFLICT as a join constraint.
const INSERT_CONVERSION: &str = "INSERT INTO conversions (conversion_id, dedup_key, click_id, \
     campaign, network, event, status, raw_status, payout_micros, currency, transaction_id, \
     version, clicked_at, created_at, updated_at) \
     SELECT ?1, ?2, ?3, c.campaign, ?4, ?5, ?6, ?7, COALESCE(?8, c.payout_micros, 0), \
     COALESCE(?9, c.currency, ?10), ?11, 1, ?12, ?13, ?13 \
     FROM (SELECT 1) LEFT JOIN clicks c ON c.click_id = ?3 WHERE true \
     ON CONFLICT (dedup_key) DO NOTHING";

const INSERT_FIRST_HISTORY: &str = "INSERT INTO conversion_history (conversion_id, version, \
     status, raw_status, payout_micros, currency, changed_at, postback_id) \
     SELECT conversion_id, 1, status, raw_status, payout_micros, currency, created_at, ?2 \
     FROM conversions WHERE conversion_id = ?1";

const INSERT_RECORD_LOG: &str = "INSERT INTO postback_log (postback_id, received_at, network, \
     source_ip, method, params, outcome, detail, click_id, conversion_id) \
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, \
     CASE WHEN c.conversion_id = ?9 THEN 'accepted' ELSE 'duplicate' END, ?7, ?8, c.conversion_id \
     FROM conversions c WHERE c.dedup_key = ?10";

const SELECT_RECORDED: &str = "SELECT conversion_id, click_id, campaign, network, event, status, \
     raw_status, payout_micros, currency, transaction_id, version, clicked_at, created_at, \
     updated_at, CASE WHEN conversion_id = ?1 THEN 'accepted' ELSE 'duplicate' END AS outcome \
     FROM conversions WHERE dedup_key = ?2";

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

/// The record-step batch for `draft`. Its last statement returns one [`RecordedConversion`].
pub fn record_conversion(draft: &ConversionDraft, log: &LogEntry) -> Vec<Statement> {
    let detail = if draft.notes.is_empty() {
        log.detail.clone()
    } else {
        Some(draft.notes.join("; "))
    };
    vec![
        Statement {
            sql: INSERT_CONVERSION,
            params: vec![
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
            ],
        },
        Statement {
            sql: INSERT_FIRST_HISTORY,
            params: vec![
                draft.conversion_id.as_str().into(),
                log.postback_id.as_str().into(),
            ],
        },
        Statement {
            sql: INSERT_RECORD_LOG,
            params: vec![
                log.postback_id.as_str().into(),
                log.received_at_ms.into(),
                log.network.clone().into(),
                log.source_ip.clone().into(),
                log.method.as_str().into(),
                log.params.as_str().into(),
                detail.into(),
                draft.click_id.as_str().into(),
                draft.conversion_id.as_str().into(),
                draft.dedup_key.as_str().into(),
            ],
        },
        Statement {
            sql: SELECT_RECORDED,
            params: vec![
                draft.conversion_id.as_str().into(),
                draft.dedup_key.as_str().into(),
            ],
        },
    ]
}

const INSERT_REFUSAL_LOG: &str = "INSERT INTO postback_log (postback_id, received_at, network, \
     source_ip, method, params, outcome, detail, click_id, conversion_id) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL)";

/// Logs a postback refused before the record step (written after the response).
pub fn insert_refusal_log(log: &LogEntry, outcome: &str) -> Statement {
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
}

impl ConversionRow {
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
        })
    }
}

/// The row the record step's last statement returns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RecordedConversion {
    #[serde(flatten)]
    pub conversion: ConversionRow,
    /// `accepted` or `duplicate`.
    pub outcome: String,
}

const LIST_CONVERSIONS: &str = "SELECT conversion_id, click_id, campaign, network, event, status, \
     raw_status, payout_micros, currency, transaction_id, version, clicked_at, created_at, \
     updated_at FROM conversions \
     WHERE (?1 IS NULL OR conversion_id < ?1) AND (?2 IS NULL OR status = ?2) \
     AND (?3 IS NULL OR campaign = ?3) AND (?4 IS NULL OR created_at >= ?4) AND is_test = 0 \
     ORDER BY conversion_id DESC LIMIT ?5";

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
const PURGE_POSTBACK_LOG: &str = "DELETE FROM postback_log WHERE postback_id IN \
     (SELECT postback_id FROM postback_log WHERE received_at < ?1 ORDER BY received_at LIMIT ?2)";

/// Rows deleted per table per cron run: bounded so one run stays short (SPEC §10).
pub const PURGE_CHUNK: u32 = 500;

/// Deletes at most `PURGE_CHUNK` clicks and log rows older than `cutoff_ms`.
pub fn purge_expired(cutoff_ms: u64) -> Vec<Statement> {
    [PURGE_CLICKS, PURGE_POSTBACK_LOG]
        .into_iter()
        .map(|sql| Statement {
            sql,
            params: vec![cutoff_ms.into(), i64::from(PURGE_CHUNK).into()],
        })
        .collect()
}

// Native only: SQLite (bundled C) does not build for wasm32.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
