//! Sending deliveries (design §8): claim due deliveries in one round trip, send them
//! concurrently (each bounded by the timeout, redirects not followed), then record every
//! attempt and move each delivery on in one more round trip.

use super::d1::Db;
use super::{random, App};
use crate::crypto::hex;
use crate::forward::schedule::{judge, parse_retry_after, AttemptResult, Verdict};
use crate::forward::{excerpt, plan_request, DeliveryRow, OutboundRequest};
use crate::store::{claim_deliveries, claimed_deliveries, finish_attempt, AttemptRecord};
use futures_util::future::{join_all, select, Either};
use std::time::Duration;
use worker::{AbortController, Delay, Env, Fetch, Headers, Request, Result};

/// What came back from one outbound request.
struct Sent {
    status: Option<u16>,
    retry_after: Option<String>,
    body: String,
    error: Option<String>,
    latency_ms: u64,
}

async fn send(request: &OutboundRequest, timeout: Duration) -> Sent {
    let started = super::now_ms();
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = async {
        let headers = Headers::new();
        for (name, value) in &request.headers {
            headers.set(name, value)?;
        }
        // The fetch options built as the runtime's own `RequestInit`, as worker's
        // `RequestInit` would build them (method, headers when any, manual redirects, the
        // body): worker's type also converts its `cf` image-resizing options, which pulls
        // their serde serializers into the wasm (~4 KB) though they are never set.
        let init = worker::web_sys::RequestInit::new();
        init.set_method(if request.method == "POST" {
            "POST"
        } else {
            "GET"
        });
        if !request.headers.is_empty() {
            init.set_headers(headers.0.as_ref());
        }
        init.set_redirect(worker::web_sys::RequestRedirect::Manual);
        if let Some(body) = &request.body {
            init.set_body(&worker::wasm_bindgen::JsValue::from_str(body));
        }
        let outbound: Request =
            worker::web_sys::Request::new_with_str_and_init(&request.url, &init)
                .map_err(|error| {
                    worker::Error::JsError(
                        error
                            .as_string()
                            .unwrap_or_else(|| "invalid URL or options for Request".to_string()),
                    )
                })?
                .into();
        let mut response = Fetch::Request(outbound).send_with_signal(&signal).await?;
        let status = response.status_code();
        let retry_after = response.headers().get("retry-after").ok().flatten();
        let body = response.text().await.unwrap_or_default();
        Ok::<_, worker::Error>((status, retry_after, body))
    };
    let outcome = select(Box::pin(exchange), Box::pin(Delay::from(timeout))).await;
    let latency_ms = super::now_ms().saturating_sub(started);
    match outcome {
        Either::Left((Ok((status, retry_after, body)), _)) => Sent {
            status: Some(status),
            retry_after,
            body,
            error: None,
            latency_ms,
        },
        Either::Left((Err(error), _)) => Sent {
            status: None,
            retry_after: None,
            body: String::new(),
            error: Some(format!("request failed: {error}")),
            latency_ms,
        },
        Either::Right(_) => {
            controller.abort();
            Sent {
                status: None,
                retry_after: None,
                body: String::new(),
                error: Some(format!("no answer within {} s", timeout.as_secs())),
                latency_ms,
            }
        }
    }
}

/// One attempt at one claimed delivery, judged.
async fn attempt(app: &App, row: &DeliveryRow) -> AttemptRecord {
    let settings = &app.config.delivery;
    let now = super::now_ms();
    let attempt_number = row.attempts.saturating_add(1);
    let since_replay =
        u32::try_from(attempt_number.saturating_sub(row.attempt_base)).unwrap_or(u32::MAX);
    let max_attempts = u32::try_from(row.max_attempts).unwrap_or(1);
    let destination = app
        .config
        .destinations
        .iter()
        .find(|d| d.name == row.destination);
    let planned = destination.and_then(|destination| {
        let secret = destination
            .secret_name()
            .and_then(|name| app.destination_secrets.get(name).map(String::as_str));
        plan_request(destination, row, secret, now)
    });
    let Some(request) = planned else {
        let reason = match destination {
            None => format!("destination {} is no longer configured", row.destination),
            Some(_) => "the destination's secret is not a valid whsec_ value".to_string(),
        };
        return AttemptRecord {
            delivery_id: row.delivery_id.clone(),
            destination: row.destination.clone(),
            attempt: attempt_number,
            attempted_at_ms: now,
            status_code: None,
            latency_ms: 0,
            error: Some(reason),
            response_excerpt: None,
            state: crate::forward::DeliveryState::Failed,
            next_attempt_at_ms: now,
        };
    };
    let sent = send(
        &request,
        Duration::from_secs(u64::from(settings.timeout_seconds)),
    )
    .await;
    let result = AttemptResult {
        status: sent.status,
        retry_after_seconds: sent
            .retry_after
            .as_deref()
            .and_then(|v| parse_retry_after(v, now)),
    };
    let jitter = random::<4>().map(u32::from_be_bytes).unwrap_or_default();
    let verdict = judge(settings, max_attempts, since_replay, &result, now, jitter);
    let (next_attempt_at_ms, failure) = match &verdict {
        Verdict::Retry { at_ms } => (*at_ms, None),
        Verdict::Failed { reason } => (now, Some(reason.clone())),
        Verdict::Delivered => (now, None),
    };
    let error = match (sent.error, failure, sent.status) {
        (Some(error), _, _) => Some(error),
        (None, Some(reason), Some(status)) => Some(format!("HTTP {status}; {reason}")),
        (None, Some(reason), None) => Some(reason),
        (None, None, Some(status)) if !(200..300).contains(&status) => {
            Some(format!("HTTP {status}"))
        }
        _ => None,
    };
    AttemptRecord {
        delivery_id: row.delivery_id.clone(),
        destination: row.destination.clone(),
        attempt: attempt_number,
        attempted_at_ms: now,
        status_code: sent.status,
        latency_ms: sent.latency_ms,
        error,
        response_excerpt: Some(excerpt(&sent.body)).filter(|text| !text.is_empty()),
        state: verdict.state(),
        next_attempt_at_ms,
    }
}

/// Claims and sends due deliveries (only `only_ids` when given, at most `limit`), then
/// records the attempts. Returns how many were attempted.
pub async fn deliver(
    env: &Env,
    app: &App,
    only_ids: Option<&[String]>,
    limit: u32,
) -> Result<usize> {
    deliver_due_at(env, app, only_ids, limit, super::now_ms()).await
}

/// [`deliver`], claiming what is due at `due_at_ms` (the cron passes its scheduled time
/// when that is later than the clock: a test can run the cron "in the future" to pass
/// retry delays and stale claims without waiting for them, as it can for the purge).
pub async fn deliver_due_at(
    env: &Env,
    app: &App,
    only_ids: Option<&[String]>,
    limit: u32,
    due_at_ms: u64,
) -> Result<usize> {
    let db = Db::for_path(env, "delivery")?;
    let claim_id = hex(&random::<12>()?);
    let results = db
        .batch(&claim_deliveries(
            &claim_id,
            due_at_ms,
            only_ids,
            limit,
            u64::from(app.config.delivery.pause_after_hours).saturating_mul(3_600_000),
        ))
        .await?;
    let rows: Vec<DeliveryRow> = super::d1::rows_of(&results, results.len().saturating_sub(1))?;
    send_claimed(&db, app, &claim_id, rows).await
}

/// Sends the deliveries the record step already claimed under `claim_id` (a postback's
/// own, for their first attempt): no claim round trip, no claim row written.
pub async fn deliver_claimed(env: &Env, app: &App, claim_id: &str) -> Result<usize> {
    let db = Db::for_path(env, "delivery")?;
    let rows: Vec<DeliveryRow> = db.all(&claimed_deliveries(claim_id)).await?;
    send_claimed(&db, app, claim_id, rows).await
}

/// Attempts `rows` (claimed under `claim_id`) concurrently and records every attempt in
/// one batch.
async fn send_claimed(db: &Db, app: &App, claim_id: &str, rows: Vec<DeliveryRow>) -> Result<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    let records = join_all(rows.iter().map(|row| attempt(app, row))).await;
    let statements: Vec<_> = records
        .iter()
        .flat_map(|record| finish_attempt(record, claim_id))
        .collect();
    db.batch(&statements).await?;
    Ok(records.len())
}
