//! The adapter: binds the pure core to the Workers runtime. Routing, request facts
//! (headers, `cf`, clock, randomness), D1, and responses live here and nowhere else.

mod admin;
mod brake;
mod campaigns;
mod click;
mod click_databases;
mod cron;
mod d1;
mod dashboard;
mod forward;
mod impression;
mod postback;
mod report;
mod zones;

use crate::click_id::ClickSecrets;
use crate::config::{Config, ConfigErrors, VAR_NAME};
use d1::Db;
use std::rc::Rc;
use worker::{event, Context, Env, Method, Request, Response, ResponseBuilder, Result};

/// Everything a request needs that comes from the deployment: configuration and secrets.
pub struct App {
    pub config: Config,
    pub click_secrets: ClickSecrets,
    pub admin_token: String,
    /// Values of the secrets that network `auth` tables name.
    pub auth_secrets: crate::map::VecMap<String, String>,
    /// Every parameter name any network treats as secret (for logs of requests whose
    /// network is not known yet), and the configured `redact` names.
    pub all_secret_params: Vec<String>,
    /// Values of the `whsec_` secrets that webhook destinations name.
    pub destination_secrets: crate::map::VecMap<String, String>,
}

impl App {
    /// Checks a postback's parameters for `network` at `now` (design §6), with a fresh
    /// conversion ID: the postback path and the tester run the same step.
    pub fn evaluate(
        &self,
        network: &crate::config::Network,
        params: &[(String, String)],
        now: u64,
    ) -> Result<std::result::Result<crate::postback::ConversionDraft, crate::postback::Refusal>>
    {
        Ok(crate::postback::evaluate(
            network,
            &self.click_secrets,
            self.config.currency,
            params,
            now,
            crate::postback::new_record_id(now, random()?),
        ))
    }
}

/// Why the deployment cannot serve: the key or secret at fault.
pub struct Misconfigured(pub String);

thread_local! {
    // Configuration and secrets are fixed for the life of an isolate, so they are parsed
    // and validated once, not per request.
    static APP: std::cell::OnceCell<std::result::Result<Rc<App>, String>> =
        const { std::cell::OnceCell::new() };
}

fn load_app(env: &Env) -> std::result::Result<Rc<App>, String> {
    let value: serde_json::Value = env
        .object_var(VAR_NAME)
        .map_err(|error| format!("{VAR_NAME}: missing or not a table in [vars]: {error}"))?;
    let config = Config::from_json(value).map_err(|errors: ConfigErrors| errors.to_string())?;
    // The core checks the zone name's form; whether the zone exists, the runtime says.
    config
        .check_timezone(&zones::IntlZones::default())
        .map_err(|errors| errors.to_string())?;
    let secrets = crate::secrets::resolve(&config, |name| {
        env.secret(name).ok().map(|value| value.to_string())
    })?;
    Ok(Rc::new(App {
        config,
        click_secrets: secrets.click_secrets,
        admin_token: secrets.admin_token,
        auth_secrets: secrets.auth_secrets,
        all_secret_params: secrets.all_secret_params,
        destination_secrets: secrets.destination_secrets,
    }))
}

/// The validated configuration, or the reason it is not valid.
pub fn app(env: &Env) -> std::result::Result<Rc<App>, Misconfigured> {
    APP.with(|cell| cell.get_or_init(|| load_app(env)).clone())
        .map_err(Misconfigured)
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// Random bytes from the runtime's CSPRNG. A failure is an error value, never a panic.
pub fn random<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes)
        .map_err(|error| worker::Error::RustError(format!("random source failed: {error}")))?;
    Ok(bytes)
}

/// The client IP, from `CF-Connecting-IP` only (design §11).
pub fn client_ip(request: &Request) -> Option<String> {
    request
        .headers()
        .get("cf-connecting-ip")
        .ok()
        .flatten()
        .filter(|ip| !ip.is_empty())
}

/// A response with a body, a status and a content type (`finish` adds the headers every
/// response carries, `Cache-Control: no-store` among them).
pub fn respond(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Result<Response> {
    // One headers object and one `set`: `Response::from_bytes` would set a content type
    // of its own first.
    Ok(ResponseBuilder::new()
        .with_status(status)
        .with_header("content-type", content_type)?
        .fixed(body.into()))
}

/// A redirect with no body (no content type to declare, no body stream to send).
pub fn redirect(status: u16, location: &str) -> Result<Response> {
    Ok(ResponseBuilder::new()
        .with_status(status)
        .with_header("location", location)?
        .empty())
}

/// A JSON response.
pub fn respond_json(status: u16, value: &serde_json::Value) -> Result<Response> {
    respond(status, "application/json", crate::json::text(value))
}

/// The request header that asks for the D1 figures of the response (with
/// `diagnostics.d1_query_header` on).
pub const DIAGNOSTICS_HEADER: &str = "x-edgeback-diagnostics";

/// Adds the headers every response carries, and the D1 figures of the work done before
/// the response when diagnostics ask for them (design §10 budgets).
fn finish(mut response: Response, db: &LazyDb, expose_d1: bool) -> Result<Response> {
    let headers = response.headers_mut();
    headers.set("cache-control", "no-store")?;
    headers.set("x-content-type-options", "nosniff")?;
    if expose_d1 {
        let (written, read) = db.rows();
        headers.set("x-edgeback-d1-queries", &db.round_trips().to_string())?;
        headers.set("x-edgeback-d1-rows-written", &written.to_string())?;
        headers.set("x-edgeback-d1-rows-read", &read.to_string())?;
    }
    Ok(response)
}

/// `200` with the version when the configuration is valid (`500` naming the bad key when
/// not), and what became of click rows that could not be written when they were made.
async fn healthz(env: &Env) -> Result<Response> {
    match app(env) {
        Ok(_) => {
            let clicks = match Db::for_path(env, "healthz") {
                Ok(db) => db
                    .all::<crate::store::ClickHealth>(&crate::store::click_health(now_ms()))
                    .await
                    .map(|rows| rows.into_iter().next().unwrap_or_default()),
                Err(error) => Err(error),
            };
            let destinations = match Db::for_path(env, "healthz") {
                Ok(db) => db
                    .all::<crate::store::FailingDestination>(&crate::store::failing_destinations())
                    .await
                    .unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            let pause_ms = app(env).map_or(0, |app| {
                u64::from(app.config.delivery.pause_after_hours).saturating_mul(3_600_000)
            });
            let now = i64::try_from(now_ms()).unwrap_or(i64::MAX);
            let failing: Vec<serde_json::Value> = destinations
                .iter()
                .map(|d| {
                    let paused = now.saturating_sub(d.failing_since)
                        >= i64::try_from(pause_ms).unwrap_or(i64::MAX);
                    serde_json::json!({ "destination": d.destination, "failing_since": d.failing_since,
                                        "paused": paused, "last_error": d.last_error })
                })
                .collect();
            let body = match clicks {
                Ok(clicks) => serde_json::json!({
                    "ok": true,
                    "version": crate::VERSION,
                    "clicks": clicks,
                    "failing_destinations": failing,
                }),
                Err(error) => {
                    worker::console_error!("edgeback: /healthz storage read failed: {error}");
                    serde_json::json!({
                        "ok": true,
                        "version": crate::VERSION,
                        "storage": "unavailable",
                    })
                }
            };
            respond_json(200, &body)
        }
        Err(Misconfigured(reason)) => respond_json(
            500,
            &serde_json::json!({ "ok": false, "version": crate::VERSION, "error": reason }),
        ),
    }
}

fn misconfigured(reason: &str) -> Result<Response> {
    worker::console_error!("edgeback configuration error: {reason}");
    respond_json(
        500,
        &serde_json::json!({ "ok": false, "error": "misconfigured", "detail": "the configuration is not valid; see /healthz" }),
    )
}

async fn route(request: Request, env: &Env, ctx: &Context, db: &LazyDb) -> Result<Response> {
    let path = request.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let ["healthz"] = segments.as_slice() {
        return healthz(env).await;
    }
    let app = match app(env) {
        Ok(app) => app,
        Err(Misconfigured(reason)) => return misconfigured(&reason),
    };
    match segments.as_slice() {
        ["c", campaign] if !campaign.is_empty() => {
            if matches!(request.method(), Method::Get | Method::Head) {
                click::handle(&request, &app, ctx, env, campaign, None).await
            } else {
                respond(405, "text/plain; charset=utf-8", "method not allowed")
            }
        }
        ["i", campaign] if !campaign.is_empty() => {
            if matches!(request.method(), Method::Get | Method::Head) {
                impression::handle(&request, &app, ctx, env, campaign).await
            } else {
                respond(405, "text/plain; charset=utf-8", "method not allowed")
            }
        }
        ["go", click_id] if !click_id.is_empty() => {
            if matches!(request.method(), Method::Get | Method::Head) {
                click::handle(&request, &app, ctx, env, "", Some(click_id)).await
            } else {
                respond(405, "text/plain; charset=utf-8", "method not allowed")
            }
        }
        ["postback"] => postback::handle(request, &app, ctx, env, db.get()?, None).await,
        ["postback", network] => {
            let network = network.to_string();
            postback::handle(request, &app, ctx, env, db.get()?, Some(network)).await
        }
        ["api", ..] => admin::handle(request, &app, ctx, env, db.get()?).await,
        ["admin", ..] => dashboard::serve(&path),
        ["_diagnostics", "zone-days"]
            if zones::diagnostics_enabled(&app) && admin::authorized(&request, &app) =>
        {
            let pairs: Vec<(String, String)> = request
                .url()?
                .query_pairs()
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect();
            zones::diagnostics(&pairs)
        }
        _ => respond(404, "text/plain; charset=utf-8", "not found"),
    }
}

/// The request's D1 handle, made only by the routes that use D1 (the click path never
/// does before its response).
struct LazyDb {
    env: Env,
    db: std::cell::OnceCell<Db>,
}

impl LazyDb {
    fn get(&self) -> Result<&Db> {
        if let Some(db) = self.db.get() {
            return Ok(db);
        }
        let db = Db::from_env(&self.env)?;
        Ok(self.db.get_or_init(|| db))
    }

    fn round_trips(&self) -> u32 {
        self.db.get().map_or(0, Db::round_trips)
    }

    fn rows(&self) -> (u64, u64) {
        self.db.get().map_or((0, 0), Db::rows)
    }
}

#[event(fetch)]
async fn fetch(request: Request, env: Env, ctx: Context) -> Result<Response> {
    let db = LazyDb {
        env: env.clone(),
        db: std::cell::OnceCell::new(),
    };
    // Only a request that asks for them gets the D1 figures: three more headers on every
    // click cost CPU in the worker and in whatever proxies it (docs/performance.md).
    let expose_d1 = app(&env).is_ok_and(|app| app.config.diagnostics.d1_query_header)
        && request
            .headers()
            .get(DIAGNOSTICS_HEADER)
            .is_ok_and(|value| value.is_some());
    let response = match route(request, &env, &ctx, &db).await {
        Ok(response) => response,
        Err(error) => {
            // Errors are logged, never shown: no stack trace reaches a client.
            worker::console_error!("edgeback internal error: {error}");
            respond_json(
                500,
                &serde_json::json!({ "ok": false, "error": "internal_error" }),
            )?
        }
    };
    finish(response, &db, expose_d1)
}

#[event(scheduled)]
async fn scheduled(event: worker::ScheduledEvent, env: Env, _ctx: worker::ScheduleContext) {
    // A float of unix milliseconds; `as` saturates (never panics) on odd values.
    let scheduled_ms = event.schedule() as u64;
    let cron_text = event.cron();
    let (cron, scheduled_ms) = cron::scheduled_at(&cron_text, scheduled_ms);
    if let Err(error) = cron::run(&env, cron, scheduled_ms).await {
        worker::console_error!("edgeback cron run failed: {error}");
    }
}
