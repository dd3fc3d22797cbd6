//! Deliveries (design §8): claiming due ones, recording attempts, replays.

use super::{Statement, DELIVERY_HOLD_MS};

// Claims due deliveries (or the given ones) for one sender and returns what sending
// needs. Two statements, one batch: the claim, then the claimed rows.
// A delivery of a conversion still waiting for its click row is held (docs/clicks.md):
// for `DELIVERY_HOLD_MS` (`?6` is now minus that), and for good when its destination
// filters by campaign.
// Every destination gets its turn: due deliveries are numbered per destination, oldest
// first, and claimed by that number, so one dead destination's backlog never delays
// another's retries. A paused destination (failing since before `?7`) is skipped unless
// its deliveries are asked for by id (a replay).
const CLAIM_DELIVERIES: &str = "UPDATE deliveries SET lease_until = ?1, claim_id = ?2 \
     WHERE delivery_id IN (SELECT delivery_id FROM (SELECT d.delivery_id, d.next_attempt_at, \
     ROW_NUMBER() OVER (PARTITION BY d.destination ORDER BY d.next_attempt_at) AS turn \
     FROM deliveries d INDEXED BY deliveries_due \
     JOIN conversions c ON c.conversion_id = d.conversion_id \
     LEFT JOIN destination_health g ON g.destination = d.destination \
     WHERE d.state IN ('pending', 'retrying') AND d.next_attempt_at <= ?3 \
     AND (d.lease_until IS NULL OR d.lease_until <= ?3) \
     AND (?4 IS NULL OR d.delivery_id IN (SELECT value FROM json_each(?4))) \
     AND (c.attributed_at IS NOT NULL OR (d.campaign_filter IS NULL AND d.created_at <= ?6)) \
     AND (?4 IS NOT NULL OR g.failing_since IS NULL OR g.failing_since > ?7)) \
     ORDER BY turn, next_attempt_at LIMIT ?5)";

const SELECT_CLAIMED: &str = "SELECT d.delivery_id, d.destination, d.type, d.attempts, \
     d.attempt_base, d.max_attempts, c.conversion_id, d.version, c.click_id, c.campaign, \
     c.network, c.event, h.status, h.raw_status, h.payout_micros, h.currency, \
     c.transaction_id, c.clicked_at, c.created_at AS converted_at, h.changed_at, \
     prev.status AS previous_status, prev.payout_micros AS previous_payout_micros, \
     c.external_id, c.country, json_array(c.sub1, c.sub2, c.sub3, c.sub4, c.sub5, c.sub6, \
     c.sub7, c.sub8, c.sub9, c.sub10) AS subs, c.rule, c.lander, c.offer \
     FROM deliveries d INDEXED BY deliveries_due \
     JOIN conversions c ON c.conversion_id = d.conversion_id \
     JOIN conversion_history h ON h.conversion_id = d.conversion_id AND h.version = d.version \
     LEFT JOIN conversion_history prev ON prev.conversion_id = d.conversion_id \
     AND prev.version = d.version - 1 \
     WHERE d.state IN ('pending', 'retrying') AND d.claim_id = ?1 ORDER BY d.next_attempt_at";

/// How long a claim holds: longer than any attempt (at most 30 s) plus margin. The record
/// step writes this literal too: it claims the deliveries it makes for the postback's own
/// first attempt (no claim round trip, no claim row written).
pub const CLAIM_LEASE_MS: u64 = 60_000;

/// The deliveries already claimed by `claim_id` (the record step claims a postback's own
/// deliveries under its postback ID), as [`crate::forward::DeliveryRow`]s.
pub fn claimed_deliveries(claim_id: &str) -> Statement {
    Statement {
        sql: SELECT_CLAIMED,
        params: vec![claim_id.into()],
    }
}

/// Claims up to `limit` due deliveries (only `only_ids` when given) for `claim_id`. The
/// batch's last statement returns [`crate::forward::DeliveryRow`]s.
pub fn claim_deliveries(
    claim_id: &str,
    now_ms: u64,
    only_ids: Option<&[String]>,
    limit: u32,
    pause_after_ms: u64,
) -> Vec<Statement> {
    let ids = only_ids.map(|ids| crate::json::text(&serde_json::Value::from(ids.to_vec())));
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
                now_ms.saturating_sub(pause_after_ms).into(),
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

// A destination's health changes only on its first failure and its first success after
// failures: a healthy destination's attempts write no row here.
const DESTINATION_FAILING: &str = "INSERT INTO destination_health (destination, failing_since, \
     last_error) VALUES (?1, ?2, ?3) ON CONFLICT (destination) DO UPDATE SET \
     failing_since = excluded.failing_since, last_error = excluded.last_error \
     WHERE destination_health.failing_since IS NULL";
const DESTINATION_HEALTHY: &str = "UPDATE destination_health SET failing_since = NULL, \
     last_error = NULL WHERE destination = ?1 AND failing_since IS NOT NULL";

/// One finished attempt, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub delivery_id: String,
    pub destination: String,
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
        match destination_signal(record) {
            DestinationSignal::Healthy => Statement {
                sql: DESTINATION_HEALTHY,
                params: vec![record.destination.as_str().into()],
            },
            DestinationSignal::Failing => Statement {
                sql: DESTINATION_FAILING,
                params: vec![
                    record.destination.as_str().into(),
                    record.attempted_at_ms.into(),
                    record.error.clone().into(),
                ],
            },
        },
    ]
}

/// What an attempt says about its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationSignal {
    Healthy,
    Failing,
}

/// A 2xx says the destination works; no answer, or an answer other than a 2xx or a 410
/// (which refuses one delivery, not the service), says it fails.
pub fn destination_signal(record: &AttemptRecord) -> DestinationSignal {
    match record.status_code {
        Some(status) if (200..300).contains(&status) || status == 410 => DestinationSignal::Healthy,
        _ => DestinationSignal::Failing,
    }
}

const DESTINATIONS_FAILING: &str = "SELECT destination, failing_since, last_error \
     FROM destination_health WHERE failing_since IS NOT NULL ORDER BY destination";

/// Destinations whose attempts are failing, with since when (`/healthz`).
pub fn failing_destinations() -> Statement {
    Statement {
        sql: DESTINATIONS_FAILING,
        params: vec![],
    }
}

/// A failing destination as `/healthz` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FailingDestination {
    pub destination: String,
    pub failing_since: i64,
    pub last_error: Option<String>,
}

impl super::FromRow for FailingDestination {
    fn from_row(row: &super::Row) -> Result<Self, String> {
        let c = super::Columns::new(row);
        c.finish(Self {
            destination: c.text("destination"),
            failing_since: c.int("failing_since"),
            last_error: c.opt_text("last_error"),
        })
    }
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
