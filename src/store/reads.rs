//! The admin API's reads (design §9): lists with filters and cursors, one conversion with
//! its history and deliveries, one click; and the typed rows they return.

use super::row::{Columns, FromRow, Row};
use super::Statement;
use serde::Serialize;

/// The smallest record ID made at `since_ms` (IDs sort by time): `since` filters are
/// key ranges, with no time index.
fn since_bound(since_ms: Option<i64>) -> Option<String> {
    since_ms.map(|ms| crate::postback::record_id_lower_bound(u64::try_from(ms).unwrap_or(0)))
}

/// A conversion as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub subs: crate::click::SubIds,
    pub external_id: Option<String>,
    pub country: Option<String>,
    /// When the click's attributes were copied in; `None` while its click row is missing.
    pub attributed_at: Option<i64>,
    /// The payout is the campaign's default (no postback of this version carried one).
    pub payout_from_click: i64,
    /// The click's flow rule, offer and lander (docs/flows.md).
    pub rule: Option<String>,
    pub offer: Option<String>,
    pub lander: Option<String>,
}

impl FromRow for ConversionRow {
    fn from_row(row: &Row) -> Result<Self, String> {
        let c = Columns::new(row);
        c.finish(Self {
            conversion_id: c.text("conversion_id"),
            click_id: c.text("click_id"),
            campaign: c.opt_text("campaign"),
            network: c.text("network"),
            event: c.text("event"),
            status: c.text("status"),
            raw_status: c.opt_text("raw_status"),
            payout_micros: c.int("payout_micros"),
            currency: c.text("currency"),
            transaction_id: c.opt_text("transaction_id"),
            version: c.int("version"),
            clicked_at: c.int("clicked_at"),
            created_at: c.int("created_at"),
            updated_at: c.int("updated_at"),
            subs: c.subs("subs"),
            external_id: c.opt_text("external_id"),
            country: c.opt_text("country"),
            attributed_at: c.opt_int("attributed_at"),
            payout_from_click: c.int("payout_from_click"),
            rule: c.opt_text("rule"),
            offer: c.opt_text("offer"),
            lander: c.opt_text("lander"),
        })
    }
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
            "external_id": self.external_id,
            "country": self.country,
            "rule": self.rule,
            "offer": self.offer,
            "lander": self.lander,
            "sub": self.subs.to_map(),
            "attributed": self.attributed_at.is_some(),
            "attributed_at": self.attributed_at,
            "payout_source": if self.payout_from_click != 0 { "campaign" } else { "postback" },
        })
    }
}

const LIST_CONVERSIONS: &str = concat!(
    "SELECT ",
    conversion_columns!(),
    " FROM conversions c \
     WHERE (?1 IS NULL OR c.conversion_id < ?1) AND (?2 IS NULL OR c.status = ?2) \
     AND (?3 IS NULL OR c.campaign = ?3) AND (?4 IS NULL OR c.conversion_id >= ?4) \
     AND (?6 IS NULL OR c.network = ?6) AND (?7 IS NULL OR c.event = ?7) \
     AND (?8 IS NULL OR c.sub1 = ?8) AND (?9 IS NULL OR c.sub2 = ?9) \
     AND (?10 IS NULL OR c.sub3 = ?10) AND (?11 IS NULL OR c.sub4 = ?11) \
     AND (?12 IS NULL OR c.sub5 = ?12) AND (?13 IS NULL OR c.sub6 = ?13) \
     AND (?14 IS NULL OR c.sub7 = ?14) AND (?15 IS NULL OR c.sub8 = ?15) \
     AND (?16 IS NULL OR c.sub9 = ?16) AND (?17 IS NULL OR c.sub10 = ?17) \
     AND c.is_test = 0 ORDER BY c.conversion_id DESC LIMIT ?5"
);

/// Filters for the conversion list (design §9): exact matches; `sub` holds the sub-ID
/// filters (each `Some` must equal the conversion's attribution snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversionFilter {
    pub status: Option<String>,
    pub campaign: Option<String>,
    pub network: Option<String>,
    pub event: Option<String>,
    pub sub: crate::click::SubIds,
    pub since_ms: Option<i64>,
}

/// The ten sub-ID filters as parameters, `sub1` first.
fn sub_params(sub: &crate::click::SubIds) -> Vec<super::SqlValue> {
    [
        &sub.sub1, &sub.sub2, &sub.sub3, &sub.sub4, &sub.sub5, &sub.sub6, &sub.sub7, &sub.sub8,
        &sub.sub9, &sub.sub10,
    ]
    .into_iter()
    .map(|value| value.clone().into())
    .collect()
}

/// Newest first; `cursor` is the last conversion ID of the previous page. Fetches one row
/// more than `limit` so the caller knows whether another page exists.
pub fn list_conversions(filter: &ConversionFilter, cursor: Option<&str>, limit: u32) -> Statement {
    Statement {
        sql: LIST_CONVERSIONS,
        params: [
            cursor.into(),
            filter.status.clone().into(),
            filter.campaign.clone().into(),
            since_bound(filter.since_ms).into(),
            i64::from(limit.saturating_add(1)).into(),
            filter.network.clone().into(),
            filter.event.clone().into(),
        ]
        .into_iter()
        .chain(sub_params(&filter.sub))
        .collect(),
    }
}

const LIST_POSTBACKS: &str = "SELECT postback_id, received_at, network, source_ip, method, \
     params, outcome, detail, click_id, conversion_id, is_test FROM postback_log \
     WHERE (?1 IS NULL OR postback_id < ?1) AND (?2 IS NULL OR outcome = ?2) \
     AND (?3 IS NULL OR network = ?3) AND (?4 IS NULL OR postback_id >= ?4) \
     AND (?6 OR is_test = 0) ORDER BY postback_id DESC LIMIT ?5";

/// Filters for the postback log (design §9).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostbackFilter {
    pub outcome: Option<String>,
    pub network: Option<String>,
    pub since_ms: Option<i64>,
    /// The tester's runs too (test traffic is left out of lists by default).
    pub include_test: bool,
}

/// Newest first, one row more than `limit` (to know whether another page exists).
pub fn list_postbacks(filter: &PostbackFilter, cursor: Option<&str>, limit: u32) -> Statement {
    Statement {
        sql: LIST_POSTBACKS,
        params: vec![
            cursor.into(),
            filter.outcome.clone().into(),
            filter.network.clone().into(),
            since_bound(filter.since_ms).into(),
            i64::from(limit.saturating_add(1)).into(),
            filter.include_test.into(),
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
    // A conversion's deliveries are those of the postbacks in its history (a delivery's
    // id is `<postback_id>.<destination>`: a key range per postback).
    " FROM conversion_history h JOIN deliveries d ON d.delivery_id > h.postback_id || '.' \
     AND d.delivery_id < h.postback_id || '/' WHERE h.conversion_id = ?1 \
     ORDER BY d.created_at, d.destination"
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

const GET_CLICK: &str = "SELECT click_id, campaign, created_at, json_array(sub1, sub2, sub3, \
     sub4, sub5, sub6, sub7, sub8, sub9, sub10) AS subs, external_id, country, asn, colo, \
     user_agent, ip_hash, is_bot, bot_reason, payout_micros, currency, is_test, rule, offer, \
     lander, landed_at \
     FROM clicks \
     WHERE click_id = ?1";

pub fn get_click(click_id: &str) -> Statement {
    Statement {
        sql: GET_CLICK,
        params: vec![click_id.to_ascii_lowercase().into()],
    }
}

// The clicks table has no index but its key, and click IDs sort by issue time: the list
// is a key range [since, cursor) read newest first, filtered row by row, stopped by LIMIT.
const LIST_CLICKS: &str = "SELECT click_id, campaign, created_at, json_array(sub1, sub2, sub3, \
     sub4, sub5, sub6, sub7, sub8, sub9, sub10) AS subs, external_id, country, asn, colo, \
     user_agent, ip_hash, is_bot, bot_reason, payout_micros, currency, is_test, rule, offer, \
     lander, landed_at \
     FROM clicks \
     WHERE click_id >= ?1 AND (?2 IS NULL OR click_id < ?2) AND (?3 IS NULL OR campaign = ?3) \
     AND (?4 IS NULL OR country = ?4) AND (?5 IS NULL OR is_bot = ?5) \
     AND (?6 IS NULL OR sub1 = ?6) AND (?7 IS NULL OR sub2 = ?7) AND (?8 IS NULL OR sub3 = ?8) \
     AND (?9 IS NULL OR sub4 = ?9) AND (?10 IS NULL OR sub5 = ?10) \
     AND (?11 IS NULL OR sub6 = ?11) AND (?12 IS NULL OR sub7 = ?12) \
     AND (?13 IS NULL OR sub8 = ?13) AND (?14 IS NULL OR sub9 = ?14) \
     AND (?15 IS NULL OR sub10 = ?15) AND is_test = 0 ORDER BY click_id DESC LIMIT ?16";

/// Filters for the click list (design §9). `since_ms` is required: it bounds the scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClickFilter {
    pub since_ms: i64,
    pub campaign: Option<String>,
    pub country: Option<String>,
    pub bot: Option<bool>,
    pub sub: crate::click::SubIds,
}

/// Clicks newest first, one row more than `limit` (to know whether another page exists).
pub fn list_clicks(filter: &ClickFilter, cursor: Option<&str>, limit: u32) -> Statement {
    let lower = crate::click_id::time_lower_bound(u64::try_from(filter.since_ms).unwrap_or(0));
    let mut params: Vec<super::SqlValue> = vec![
        lower.into(),
        cursor.map(str::to_ascii_lowercase).into(),
        filter.campaign.clone().into(),
        filter.country.clone().into(),
        filter.bot.map(i64::from).into(),
    ];
    params.extend(sub_params(&filter.sub));
    params.push(i64::from(limit.saturating_add(1)).into());
    Statement {
        sql: LIST_CLICKS,
        params,
    }
}

const LIST_DELIVERIES: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM deliveries d WHERE (?1 IS NULL OR d.delivery_id < ?1) AND (?2 IS NULL OR d.state = ?2) \
     AND (?3 IS NULL OR d.delivery_id >= ?3) ORDER BY d.delivery_id DESC LIMIT ?4"
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
            since_bound(since_ms).into(),
            i64::from(limit.saturating_add(1)).into(),
        ],
    }
}

/// One postback-log row as read (`list_postbacks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostbackLogRow {
    pub postback_id: String,
    pub received_at: i64,
    pub network: Option<String>,
    pub source_ip: Option<String>,
    pub method: String,
    /// The redacted parameters, as JSON text (`[[name, value], …]`).
    pub params: String,
    pub outcome: String,
    pub detail: Option<String>,
    pub click_id: Option<String>,
    pub conversion_id: Option<String>,
    pub is_test: i64,
}

impl FromRow for PostbackLogRow {
    fn from_row(row: &Row) -> Result<Self, String> {
        let c = Columns::new(row);
        c.finish(Self {
            postback_id: c.text("postback_id"),
            received_at: c.int("received_at"),
            network: c.opt_text("network"),
            source_ip: c.opt_text("source_ip"),
            method: c.text("method"),
            params: c.text("params"),
            outcome: c.text("outcome"),
            detail: c.opt_text("detail"),
            click_id: c.opt_text("click_id"),
            conversion_id: c.opt_text("conversion_id"),
            is_test: c.int("is_test"),
        })
    }
}

impl PostbackLogRow {
    /// The API form: the parameters as JSON, not text.
    pub fn to_api_json(&self) -> serde_json::Value {
        let params: serde_json::Value = serde_json::from_slice(self.params.as_bytes())
            .unwrap_or_else(|_| serde_json::json!([]));
        serde_json::json!({
            "postback_id": self.postback_id,
            "received_at": self.received_at,
            "network": self.network,
            "source_ip": self.source_ip,
            "method": self.method,
            "params": params,
            "outcome": self.outcome,
            "detail": self.detail,
            "click_id": self.click_id,
            "conversion_id": self.conversion_id,
            "is_test": self.is_test,
        })
    }
}

/// One version of a conversion (`get_conversion`'s second statement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryRow {
    pub version: i64,
    pub status: String,
    pub raw_status: Option<String>,
    pub payout_micros: i64,
    pub currency: String,
    pub changed_at: i64,
    pub postback_id: String,
}

impl FromRow for HistoryRow {
    fn from_row(row: &Row) -> Result<Self, String> {
        let c = Columns::new(row);
        c.finish(Self {
            version: c.int("version"),
            status: c.text("status"),
            raw_status: c.opt_text("raw_status"),
            payout_micros: c.int("payout_micros"),
            currency: c.text("currency"),
            changed_at: c.int("changed_at"),
            postback_id: c.text("postback_id"),
        })
    }
}

/// One delivery with its attempts, as read for the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryView {
    pub delivery_id: String,
    pub destination: String,
    pub conversion_id: String,
    pub version: i64,
    /// The `type` column.
    pub change_type: crate::forward::ChangeType,
    pub state: crate::forward::DeliveryState,
    pub attempts: i64,
    pub max_attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Every attempt as JSON text from SQLite (`json_group_array`).
    pub attempts_json: Option<String>,
}

impl FromRow for DeliveryView {
    fn from_row(row: &Row) -> Result<Self, String> {
        let c = Columns::new(row);
        c.finish(Self {
            delivery_id: c.text("delivery_id"),
            destination: c.text("destination"),
            conversion_id: c.text("conversion_id"),
            version: c.int("version"),
            change_type: c.parsed(
                "type",
                crate::forward::ChangeType::parse,
                crate::forward::ChangeType::Created,
            ),
            state: c.parsed(
                "state",
                crate::forward::DeliveryState::parse,
                crate::forward::DeliveryState::Pending,
            ),
            attempts: c.int("attempts"),
            max_attempts: c.int("max_attempts"),
            next_attempt_at: c.int("next_attempt_at"),
            last_status: c.opt_int("last_status"),
            last_error: c.opt_text("last_error"),
            created_at: c.int("created_at"),
            updated_at: c.int("updated_at"),
            attempts_json: c.opt_text("attempts_json"),
        })
    }
}

impl DeliveryView {
    /// The API form: the attempts as an array (`attempt_log`).
    pub fn to_api_json(&self) -> serde_json::Value {
        let attempt_log: serde_json::Value = self
            .attempts_json
            .as_deref()
            .and_then(|text| serde_json::from_slice(text.as_bytes()).ok())
            .unwrap_or_else(|| serde_json::json!([]));
        serde_json::json!({
            "delivery_id": self.delivery_id,
            "destination": self.destination,
            "conversion_id": self.conversion_id,
            "version": self.version,
            "type": self.change_type,
            "state": self.state,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "next_attempt_at": self.next_attempt_at,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "attempt_log": attempt_log,
        })
    }
}

/// One click as stored (`get_click`): never the raw IP, only its keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickView {
    pub click_id: String,
    pub campaign: String,
    pub created_at: i64,
    pub subs: crate::click::SubIds,
    pub external_id: Option<String>,
    pub country: Option<String>,
    pub asn: Option<i64>,
    pub colo: Option<String>,
    pub user_agent: Option<String>,
    pub ip_hash: Option<String>,
    pub is_bot: i64,
    pub bot_reason: Option<String>,
    pub payout_micros: Option<i64>,
    pub currency: Option<String>,
    pub is_test: i64,
    pub rule: Option<String>,
    pub offer: Option<String>,
    pub lander: Option<String>,
    /// When the lander's call-to-action was followed (docs/flows.md).
    pub landed_at: Option<i64>,
}

impl FromRow for ClickView {
    fn from_row(row: &Row) -> Result<Self, String> {
        let c = Columns::new(row);
        c.finish(Self {
            click_id: c.text("click_id"),
            campaign: c.text("campaign"),
            created_at: c.int("created_at"),
            subs: c.subs("subs"),
            external_id: c.opt_text("external_id"),
            country: c.opt_text("country"),
            asn: c.opt_int("asn"),
            colo: c.opt_text("colo"),
            user_agent: c.opt_text("user_agent"),
            ip_hash: c.opt_text("ip_hash"),
            is_bot: c.int("is_bot"),
            bot_reason: c.opt_text("bot_reason"),
            payout_micros: c.opt_int("payout_micros"),
            currency: c.opt_text("currency"),
            is_test: c.int("is_test"),
            rule: c.opt_text("rule"),
            offer: c.opt_text("offer"),
            lander: c.opt_text("lander"),
            landed_at: c.opt_int("landed_at"),
        })
    }
}

impl ClickView {
    /// The API form: the stored columns, sub-IDs as `sub1` … `sub10`.
    pub fn to_api_json(&self) -> serde_json::Value {
        let mut object = serde_json::json!({
            "click_id": self.click_id,
            "campaign": self.campaign,
            "created_at": self.created_at,
            "external_id": self.external_id,
            "country": self.country,
            "asn": self.asn,
            "colo": self.colo,
            "user_agent": self.user_agent,
            "ip_hash": self.ip_hash,
            "is_bot": self.is_bot,
            "bot_reason": self.bot_reason,
            "payout_micros": self.payout_micros,
            "currency": self.currency,
            "is_test": self.is_test,
            "rule": self.rule,
            "offer": self.offer,
            "lander": self.lander,
            "landed_at": self.landed_at,
        });
        if let Some(fields) = object.as_object_mut() {
            for (name, value) in self.subs.named() {
                fields.insert(name.to_string(), value.clone().into());
            }
        }
        object
    }
}
