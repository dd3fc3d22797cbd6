//! `GET`/`POST /postback[/{network}]`: the postback receiver (design §6). Refusals make no
//! D1 query before the response (their log row is written afterwards); an accepted
//! postback makes exactly one round trip, the record-step batch.

use super::d1::Db;
use super::{client_ip, random, respond, App};
use crate::config::{Network, ResponseFormat};
use crate::postback::auth::{authenticate, AuthRequest};
use crate::postback::params::{
    parse_request, unsigned_query_parameter, PostbackParams, RawPostback,
};
use crate::postback::{
    new_record_id, redacted_params, reply, Outcome, Refusal, Reply, MAX_BODY_BYTES,
};
use crate::store::{log_refusal, record_conversion, LogEntry, ReplayClaim};
use worker::{Context, Env, Method, Request, Response, Result};

type Params = Vec<(String, String)>;

/// What a sender is told when its transaction ID belongs to another click's conversion.
const CLICK_MISMATCH_REPLY: &str =
    "this transaction ID belongs to a conversion of another click; nothing was changed";

/// The rate-limit binding that brakes repeated authentication failures (design §6).
const AUTH_FAILURE_LIMITER: &str = "AUTH_FAILURES";

/// Reads the request body as it streams in, stopping as soon as it passes the limit
/// (design §11): a large or endless chunked body is never buffered whole.
async fn read_body_limited(request: &mut Request) -> std::result::Result<Vec<u8>, Refusal> {
    use futures_util::StreamExt;
    let too_large = || Refusal::new(Outcome::BodyTooLarge, "body larger than 16 KiB");
    let declared = request
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|length| length.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let mut stream = match request.stream() {
        Ok(stream) => stream,
        // No body at all.
        Err(_) => return Ok(Vec::new()),
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Refusal::new(Outcome::MalformedBody, "unreadable body"))?;
        if body.len().saturating_add(chunk.len()) > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The request-shape step: the adapter reads the request (the body streamed up to the
/// limit), the core decides (`postback::params::parse_request`).
async fn read_params(
    request: &mut Request,
) -> std::result::Result<(PostbackParams, Vec<u8>), Refusal> {
    let method = request.method();
    let url = request
        .url()
        .map_err(|_| Refusal::new(Outcome::MalformedBody, "unreadable URL"))?;
    let body = if method == Method::Post {
        read_body_limited(request).await?
    } else {
        Vec::new()
    };
    let content_type = request.headers().get("content-type").ok().flatten();
    let parsed = parse_request(&RawPostback {
        method: method.as_ref(),
        url_len: url.as_str().len(),
        query: url.query(),
        content_type: content_type.as_deref(),
        body: &body,
    })?;
    Ok((parsed, body))
}

fn resolve_network<'a>(
    app: &'a App,
    from_path: Option<&str>,
    params: &Params,
) -> std::result::Result<&'a Network, Refusal> {
    let name = from_path
        .map(str::to_string)
        .or_else(|| {
            params
                .iter()
                .find(|(name, _)| name == "network")
                .map(|(_, value)| value.trim().to_string())
        })
        .unwrap_or_else(|| app.config.default_network.clone());
    app.config.networks.get(&name).ok_or_else(|| {
        Refusal::new(
            Outcome::UnknownNetwork,
            format!(
                "no network profile named {:?}",
                crate::click::clip(&name, 64)
            ),
        )
    })
}

pub async fn handle(
    mut request: Request,
    app: &App,
    ctx: &Context,
    env: &Env,
    db: &Db,
    network_in_path: Option<String>,
) -> Result<Response> {
    let now = super::now_ms();
    let method = request.method().to_string();
    let source_ip = client_ip(&request);
    let mut log = LogEntry {
        postback_id: new_record_id(now, random()?),
        received_at_ms: now,
        network: None,
        source_ip,
        method,
        params: "[]".into(),
        detail: None,
        click_id: None,
    };

    let (parsed, body) = match read_params(&mut request).await {
        Ok(read) => read,
        Err(refusal) => return refuse(ctx, env, log, ResponseFormat::Json, refusal),
    };
    let every_secret: Vec<&str> = app.all_secret_params.iter().map(String::as_str).collect();
    log.params = crate::json::text(&redacted_params(&parsed.pairs, &every_secret));
    let network = match resolve_network(app, network_in_path.as_deref(), &parsed.pairs) {
        Ok(network) => network,
        Err(refusal) => return refuse(ctx, env, log, ResponseFormat::Json, refusal),
    };
    log.network = Some(network.name.clone());
    if let Some(refusal) = unsigned_query_parameter(network, &parsed, network_in_path.is_some()) {
        return refuse(ctx, env, log, network.response, refusal);
    }
    let params = parsed.pairs;

    // A braked address is refused whatever its credentials: a right guess looks the same
    // as a wrong one until the window passes.
    let host = request
        .url()
        .ok()
        .and_then(|url| url.host_str().map(str::to_string))
        .unwrap_or_default();
    let braked_ip = log.source_ip.clone().unwrap_or_else(|| "unknown".into());
    if !network.auth.is_empty() && super::brake::is_braked(&host, &braked_ip, now).await {
        return refuse(ctx, env, log, network.response, braked_refusal());
    }

    // Authentication: allowlist → token → signature, before anything touches storage.
    let headers = request.headers();
    let header = |name: &str| headers.get(name).ok().flatten();
    let client_ip = log
        .source_ip
        .as_deref()
        .and_then(|ip| ip.trim().parse::<std::net::IpAddr>().ok());
    let secret = |name: &str| app.auth_secrets.get(name).cloned();
    let auth_request = AuthRequest {
        client_ip,
        params: &params,
        header: &header,
        body: &body,
        now_ms: now,
    };
    let replay = match authenticate(&network.auth, &secret, &auth_request) {
        Ok(pass) => ReplayClaim {
            key: pass.replay_key,
            expires_at_ms: pass.replay_expires_at_ms,
        },
        Err(refusal) => {
            let refusal = brake(env, &host, &braked_ip, refusal, now).await;
            return refuse(ctx, env, log, network.response, refusal);
        }
    };

    let mut draft = match app.evaluate(network, &params, now)? {
        Ok(draft) => draft,
        Err(refusal) => return refuse(ctx, env, log, network.response, refusal),
    };
    draft.destinations = crate::forward::candidates_json(
        &app.config.destinations,
        &draft.event,
        draft.status,
        &draft.network,
    );

    let recorded = match super::d1::record(db, &record_conversion(&draft, &log, &replay)).await {
        Ok(recorded) => recorded,
        Err(error) => {
            return storage_failure(ctx, env, log, network.response, error.to_string());
        }
    };
    let outcome = Outcome::from_code(&recorded.outcome).unwrap_or(Outcome::InternalError);
    let (detail, conversion_id) = match outcome {
        // The log (admin only) names both clicks; the sender learns nothing of the other.
        Outcome::ClickMismatch => (Some(CLICK_MISMATCH_REPLY), None),
        _ if outcome.is_recorded() => (None, recorded.conversion.as_ref()),
        _ => (recorded.detail.as_deref(), recorded.conversion.as_ref()),
    };
    let conversion_id = conversion_id.map(|conversion| conversion.conversion_id.as_str());
    let answer = reply(
        network.response,
        outcome,
        detail,
        conversion_id,
        Some(draft.click_id.as_str()),
    );
    let awaiting_click = recorded
        .conversion
        .as_ref()
        .filter(|conversion| conversion.attributed_at.is_none())
        .map(|conversion| conversion.click_id.clone());
    if let Some(click_id) = awaiting_click.filter(|_| super::click_databases::spread(app)) {
        // The click lives in a click database the record step could not read: complete
        // the conversion from its row now (if the row is not written yet, the click batch
        // that writes it completes the conversion instead).
        let env = env.clone();
        ctx.wait_until(async move {
            let Ok(app) = super::app(&env) else { return };
            let ids = [click_id];
            match super::click_databases::complete_from_clicks(&env, &app, &ids, "completion").await
            {
                Ok(released) => super::click_databases::release(&env, released).await,
                Err(error) => worker::console_error!(
                    "edgeback: conversion not completed from its click database: {error}"
                ),
            }
        });
    } else if !recorded.delivery_ids.is_empty() {
        // The first attempt right after the response, on the deliveries the record step
        // claimed for it; the cron retries what fails.
        let env = env.clone();
        let claim_id = log.postback_id.clone();
        ctx.wait_until(async move {
            let Ok(app) = super::app(&env) else { return };
            if let Err(error) = super::forward::deliver_claimed(&env, &app, &claim_id).await {
                worker::console_error!("edgeback: first delivery attempt failed: {error}");
            }
        });
    }
    send_reply(answer)
}

/// Attempts `delivery_ids` once, after the response (`ctx.wait_until`).
pub fn deliver_after_response(ctx: &Context, env: &Env, delivery_ids: Vec<String>) {
    let env = env.clone();
    ctx.wait_until(async move {
        let Ok(app) = super::app(&env) else { return };
        let limit = u32::try_from(delivery_ids.len()).unwrap_or(u32::MAX);
        if let Err(error) = super::forward::deliver(&env, &app, Some(&delivery_ids), limit).await {
            worker::console_error!("edgeback: first delivery attempt failed: {error}");
        }
    });
}

/// Counts an authentication failure against the source address; past the limit the
/// address is braked (see `brake`) and the answer becomes `rate_limited` (429). Neither
/// the limiter nor the brake is D1.
async fn brake(env: &Env, host: &str, ip: &str, refusal: Refusal, now: u64) -> Refusal {
    let key = format!("auth-failure:{ip}");
    let limited = match env.rate_limiter(AUTH_FAILURE_LIMITER) {
        Ok(limiter) => limiter.limit(key).await.map(|outcome| !outcome.success),
        Err(error) => Err(error),
    };
    match limited {
        Ok(true) => {
            super::brake::hold(host, ip, now).await;
            braked_refusal()
        }
        Ok(false) => refusal,
        Err(error) => {
            // Without the binding the brake is off; the refusal itself still stands.
            worker::console_error!("edgeback: rate limiter unavailable: {error}");
            refusal
        }
    }
}

fn braked_refusal() -> Refusal {
    Refusal::new(
        Outcome::RateLimited,
        format!(
            "too many authentication failures from this address: every authenticated \
             request from it is refused for {} s",
            super::brake::BRAKE_SECONDS
        ),
    )
}

/// Answers a refusal at once and logs it afterwards: no D1 query before the response.
fn refuse(
    ctx: &Context,
    env: &Env,
    mut log: LogEntry,
    format: ResponseFormat,
    refusal: Refusal,
) -> Result<Response> {
    let answer = reply(
        format,
        refusal.outcome,
        Some(&refusal.detail),
        None,
        refusal.click_id.as_deref(),
    );
    log.detail = Some(refusal.detail);
    log.click_id = refusal.click_id;
    log_after_response(ctx, env, log, refusal.outcome);
    let mut response = send_reply(answer)?;
    if refusal.outcome == Outcome::BodyTooLarge {
        // The rest of the body is never read: the connection cannot carry another request.
        response.headers_mut().set("connection", "close")?;
    }
    Ok(response)
}

/// The batch failed as a whole (D1 batches are transactions): nothing was written, and
/// the sender is told to retry (503).
fn storage_failure(
    ctx: &Context,
    env: &Env,
    mut log: LogEntry,
    format: ResponseFormat,
    error: String,
) -> Result<Response> {
    worker::console_error!("edgeback: record step failed: {error}");
    let detail = "storage unavailable; retry later";
    let answer = reply(format, Outcome::InternalError, Some(detail), None, None);
    log.detail = Some(detail.into());
    log_after_response(ctx, env, log, Outcome::InternalError);
    send_reply(answer)
}

/// The response of a postback reply, with the `Retry-After` header the core asked for
/// (a storage failure: the sender's retry will be accepted once D1 is back).
fn send_reply(answer: Reply) -> Result<Response> {
    let mut response = respond(answer.status, answer.content_type, answer.body)?;
    if let Some(seconds) = answer.retry_after_seconds {
        response
            .headers_mut()
            .set("retry-after", &seconds.to_string())?;
    }
    Ok(response)
}

fn log_after_response(ctx: &Context, env: &Env, log: LogEntry, outcome: Outcome) {
    let elsewhere = log.click_id.clone().filter(|click_id| {
        super::app(env).is_ok_and(|app| {
            super::click_databases::binding_for(&app, click_id) != super::d1::BINDING
        })
    });
    let Some(click_id) = elsewhere else {
        let statements = log_refusal(&log, outcome.code(), None);
        super::d1::run_after_response(ctx, env, statements, "refusal_log");
        return;
    };
    // The named click lives in a click database: read it there, so the refusal counts
    // under its campaign and sub-IDs as it would with one database (docs/scale.md).
    let env = env.clone();
    ctx.wait_until(async move {
        let logged = async {
            let app = super::app(&env)
                .map_err(|super::Misconfigured(reason)| worker::Error::RustError(reason))?;
            let binding = super::click_databases::binding_for(&app, &click_id);
            let rows = super::click_databases::read_rows(
                &env,
                binding,
                &[click_id.as_str()],
                "refusal_log",
            )
            .await?;
            let statements = log_refusal(&log, outcome.code(), rows.first());
            super::d1::Db::for_path(&env, "refusal_log")?
                .batch(&statements)
                .await
        };
        if let Err(error) = logged.await {
            worker::console_error!("edgeback: refusal_log not stored: {error}");
        }
    });
}
