//! `GET`/`HEAD /c/{campaign}`: the click redirect. Zero D1 queries before the response;
//! the click row is written afterwards through `ctx.wait_until` (design §2, §10).

use super::{click_databases, client_ip, random, redirect, respond, App, Misconfigured};
use crate::click::{meta_refresh_page, plan_click, ClickRequest, ClickResponse};
use crate::cost::CostModel;
use crate::store::{click_row, count_click_losses, ClickLosses, ClickRow};
use std::cell::{Cell, RefCell};
use worker::{Context, Env, Method, Request, Response, Result};

thread_local! {
    // Click rows waiting to be written. Requests run concurrently in one isolate; the
    // rows of one window are written together, in one batch.
    static PENDING: RefCell<Vec<ClickRow>> = const { RefCell::new(Vec::new()) };
    // When the request that will write the current window scheduled its flush.
    static FLUSH_SCHEDULED_AT: Cell<Option<u64>> = const { Cell::new(None) };
    // Rows this isolate spilled to KV or lost, not yet counted in D1.
    static UNCOUNTED: Cell<ClickLosses> = const { Cell::new(ClickLosses { spilled: 0, lost: 0 }) };
}

/// How long the first row of a window waits for others to share its write. Each write is
/// one D1 round trip whatever its rows (a window's rows are one statement per step), so a
/// longer window means fewer round trips: locally, where D1 runs in the worker's own
/// process, 500 ms made a click's CPU that of the empty route (`/nope`), where 50 ms made
/// the click 0.66× the hello-world against 0.84× with 200 ms, and took the one-connection
/// p99 from 1.7× to 0.9× the hello-world's (fewer requests meet a write); in production
/// it is fewer D1 queries per second (docs/performance.md). A click row lands at most
/// this much later; a postback that beats it waits for it (docs/clicks.md).
const COALESCE_MS: u64 = 500;
/// A scheduled flush that has not taken its rows after this long is presumed gone (its
/// request context ended early); the next click schedules another.
const FLUSH_PRESUMED_GONE_MS: u64 = 5_000;
/// Waits before each retry of a failed click write: within the after-response budget.
const RETRY_DELAYS_MS: [u64; 4] = [250, 1_000, 3_000, 8_000];
/// The KV prefix of click rows whose write failed every retry; the cron replays them.
pub const SPILL_PREFIX: &str = "click-spill/";
/// How long spilled rows are kept in KV if never replayed.
const SPILL_TTL_SECONDS: u64 = 30 * 24 * 60 * 60;

/// Queues the click row for writing after the response, in the current window
/// ([`write_in_window`]).
fn store_after_response(ctx: &Context, env: &Env, row: ClickRow) {
    PENDING.with(|pending| {
        let mut pending = pending.borrow_mut();
        // A landing click of a click still queued here lands on its row: one row per
        // click ID in a window, so the batch counts the click once. Only a landing click
        // (`/go`) can meet its click ID again; a new click's ID was just minted, so it is
        // not looked for (a window holds hundreds of rows when busy).
        let queued = row.landed_at.and_then(|_| {
            pending
                .iter_mut()
                .find(|queued| queued.click_id == row.click_id)
        });
        match queued {
            Some(queued) => queued.landed_at = queued.landed_at.or(row.landed_at),
            None => pending.push(row),
        }
    });
    let env = env.clone();
    write_in_window(
        ctx,
        &FLUSH_SCHEDULED_AT,
        Box::new(move || {
            let rows = PENDING.with(|pending| std::mem::take(&mut *pending.borrow_mut()));
            Box::pin(async move { write_clicks(&env, rows).await })
        }),
    );
}

/// Makes this request the writer of a write window (click rows, impressions) unless one
/// is scheduled (`scheduled`: when it was): its `wait_until` waits [`COALESCE_MS`], then
/// calls `write`, which takes the window's data before its first `await`. Other requests
/// only queue plain data and await nothing, so no I/O or promise crosses request
/// contexts (workerd cancels those). Boxed, not generic: one copy in the wasm.
pub(super) fn write_in_window(
    ctx: &Context,
    scheduled: &'static std::thread::LocalKey<Cell<Option<u64>>>,
    write: Box<dyn FnOnce() -> LocalFuture<'static, ()>>,
) {
    let now = super::now_ms();
    if scheduled
        .with(Cell::get)
        .is_some_and(|at| now.saturating_sub(at) < FLUSH_PRESUMED_GONE_MS)
    {
        return;
    }
    scheduled.with(|slot| slot.set(Some(now)));
    ctx.wait_until(async move {
        worker::Delay::from(std::time::Duration::from_millis(COALESCE_MS)).await;
        // Closing the window and taking its data is one synchronous step: data queued
        // after it opens a new window with a writer of its own.
        scheduled.with(|slot| slot.set(None));
        write().await;
    });
}

/// A future of this isolate (nothing here is `Send`).
pub(super) type LocalFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>>;

/// Runs `attempt` until it succeeds, waiting [`RETRY_DELAYS_MS`] before each retry;
/// the last error when every attempt failed.
pub(super) async fn with_retries<'a>(
    attempt: &mut dyn FnMut() -> LocalFuture<'a, Result<()>>,
) -> std::result::Result<(), String> {
    let mut last_error = String::new();
    for delay in std::iter::once(0).chain(RETRY_DELAYS_MS) {
        if delay > 0 {
            worker::Delay::from(std::time::Duration::from_millis(delay)).await;
        }
        match attempt().await {
            Ok(()) => return Ok(()),
            Err(error) => last_error = error.to_string(),
        }
    }
    Err(last_error)
}

/// Writes `rows` with retries and backoff; rows that still fail are spilled to KV for
/// the cron to replay, and rows that cannot even be spilled are counted as lost. Both
/// counts reach D1 (`/healthz`, the dashboard) with the next write that succeeds.
async fn write_clicks(env: &Env, rows: Vec<ClickRow>) {
    if rows.is_empty() {
        return;
    }
    let Err(last_error) = with_retries(&mut || Box::pin(write_once(env, &rows))).await else {
        return;
    };
    let count = u64::try_from(rows.len()).unwrap_or(u64::MAX);
    match spill(env, &rows).await {
        Ok(()) => {
            worker::console_error!(
                "edgeback: {count} click rows not stored after retries ({last_error}); \
                 spilled to KV for the cron to replay"
            );
            add_uncounted(ClickLosses {
                spilled: count,
                lost: 0,
            });
        }
        Err(error) => {
            worker::console_error!(
                "edgeback: {count} click rows LOST: not stored ({last_error}) and not spilled ({error})"
            );
            add_uncounted(ClickLosses {
                spilled: 0,
                lost: count,
            });
        }
    }
}

fn add_uncounted(more: ClickLosses) {
    UNCOUNTED.with(|cell| {
        let now = cell.get();
        cell.set(ClickLosses {
            spilled: now.spilled.saturating_add(more.spilled),
            lost: now.lost.saturating_add(more.lost),
        });
    });
}

/// One attempt: the click rows (with this isolate's loss counts), then the first
/// delivery attempt of every delivery their batch released.
async fn write_once(env: &Env, rows: &[ClickRow]) -> Result<()> {
    let app = super::app(env).map_err(|Misconfigured(reason)| worker::Error::RustError(reason))?;
    let uncounted = UNCOUNTED.with(Cell::get);
    let counting = uncounted != ClickLosses::default();
    let counters = if counting {
        count_click_losses(uncounted)
    } else {
        Vec::new()
    };
    let released = click_databases::store(env, &app, rows, counters, "click").await?;
    if counting {
        UNCOUNTED.with(|cell| {
            let now = cell.get();
            cell.set(ClickLosses {
                spilled: now.spilled.saturating_sub(uncounted.spilled),
                lost: now.lost.saturating_sub(uncounted.lost),
            });
        });
    }
    click_databases::release(env, released).await;
    Ok(())
}

/// Puts rows whose write failed into KV, under a key of their own.
async fn spill(env: &Env, rows: &[ClickRow]) -> Result<()> {
    let body = serde_json::to_string(rows).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let key = format!(
        "{SPILL_PREFIX}{:013}-{}",
        super::now_ms(),
        crate::crypto::hex(&random::<8>()?)
    );
    env.kv(super::campaigns::BINDING)?
        .put(&key, body)
        .map_err(|e| worker::Error::RustError(e.to_string()))?
        .expiration_ttl(SPILL_TTL_SECONDS)
        .execute()
        .await
        .map_err(|e| worker::Error::RustError(e.to_string()))
}

/// Replays spilled click rows (a bounded number of KV entries per run): each entry is
/// written with the same click batch, then deleted. Returns the rows recovered.
pub async fn replay_spills(env: &Env, max_entries: u64) -> Result<u64> {
    let app = super::app(env).map_err(|Misconfigured(reason)| worker::Error::RustError(reason))?;
    let kv = env.kv(super::campaigns::BINDING)?;
    let kv_error = |e: worker::kv::KvError| worker::Error::RustError(e.to_string());
    let listed = kv
        .list()
        .prefix(SPILL_PREFIX.into())
        .limit(max_entries)
        .execute()
        .await
        .map_err(kv_error)?;
    let mut recovered = 0u64;
    for key in listed.keys {
        let Some(text) = kv.get(&key.name).text().await.map_err(kv_error)? else {
            continue;
        };
        // JSON values read column by column (`store::FromRow`): no serde decoder of its
        // own for `ClickRow` in the wasm (design §13).
        let rows = serde_json::from_slice::<Vec<serde_json::Value>>(text.as_bytes())
            .map_err(|error| error.to_string())
            .and_then(|rows| {
                rows.iter()
                    .map(crate::store::from_value)
                    .collect::<std::result::Result<Vec<ClickRow>, String>>()
            });
        let rows = match rows {
            Ok(rows) => rows,
            Err(error) => {
                worker::console_error!("edgeback: spilled clicks {} unreadable: {error}", key.name);
                continue;
            }
        };
        let count = u64::try_from(rows.len()).unwrap_or(u64::MAX);
        let counter = vec![crate::store::count_clicks_recovered(count)];
        // One entry that fails (D1 still failing, or a batch it refuses) is left for the
        // next run, and the others are still tried: an entry that can never be written
        // must not hold back the ones after it.
        let released =
            match click_databases::store(env, &app, &rows, counter, "click_spill_replay").await {
                Ok(released) => released,
                Err(error) => {
                    worker::console_error!(
                        "edgeback: spilled clicks {} not written: {error}",
                        key.name
                    );
                    continue;
                }
            };
        kv.delete(&key.name).await.map_err(kv_error)?;
        click_databases::release(env, released).await;
        recovered = recovered.saturating_add(count);
    }
    Ok(recovered)
}

/// `/c/{campaign}` (`go`: `None`), or a lander's call-to-action `/go/{click_id}?c=…`
/// (docs/flows.md, "Landing pages"): the same request facts, the same zero D1 queries.
pub async fn handle(
    request: &Request,
    app: &App,
    ctx: &Context,
    env: &Env,
    campaign_id: &str,
    go: Option<&str>,
) -> Result<Response> {
    let url = request.url()?;
    let query = query_pairs(&url);
    let campaign_id = match go {
        Some(_) => query
            .iter()
            .find(|(name, _)| name == "c")
            .map_or("", |(_, value)| value.as_str()),
        None => campaign_id,
    };
    let origin = url.origin().ascii_serialization();
    let headers = request.headers();
    let user_agent = headers.get("user-agent").ok().flatten();
    let purpose = purpose(headers);
    let ip = client_ip(request);
    let cf = request.cf();
    let country = cf.and_then(|cf| cf.country());
    let colo = cf.map(|cf| cf.colo()).filter(|colo| !colo.is_empty());
    let asn = cf.and_then(|cf| cf.asn());

    // Static campaigns first, then run-time ones from KV (edge-cached): never D1.
    let found = super::campaigns::find(app, env, campaign_id).await?;
    let campaign = found.as_ref().map(|(campaign, _)| campaign.as_ref());
    // Read only for campaigns with flow rules: each is a call into JavaScript.
    let has_rules = campaign.is_some_and(|campaign| !campaign.rules.is_empty());
    let flow_cf = cf.as_ref().filter(|_| has_rules);
    // The region code is a report key of every click (docs/report.md); its name and the
    // city only feed flow filters.
    let region_code = cf.as_ref().and_then(|cf| cf.region_code());
    let region = flow_cf.and_then(|cf| cf.region());
    let city = flow_cf.and_then(|cf| cf.city());
    let accept_language = headers
        .get("accept-language")
        .ok()
        .flatten()
        .filter(|_| has_rules);
    let zones = super::zones::IntlZones::default();

    let click_request = ClickRequest {
        is_head: request.method() == Method::Head,
        query: &query,
        user_agent: user_agent.as_deref(),
        purpose: purpose.as_deref(),
        client_ip: ip.as_deref(),
        country: country.as_deref(),
        region_code: region_code.as_deref(),
        region: region.as_deref(),
        city: city.as_deref(),
        asn,
        colo: colo.as_deref(),
        accept_language: accept_language.as_deref(),
        now_ms: super::now_ms(),
        random: random()?,
        zones: Some(&zones),
        origin: Some(&origin),
    };
    let plan = match go {
        None => plan_click(&app.click_secrets, campaign, &click_request),
        Some(click_id) => {
            let lookback_ms = u64::from(app.config.lookback_days).saturating_mul(86_400_000);
            crate::click::plan_go(
                &app.click_secrets,
                campaign,
                click_id,
                lookback_ms,
                &click_request,
            )
        }
    };

    if let (Some(record), Some(campaign)) = (plan.record, campaign) {
        // The campaign's own defaults at click time; the network's and the global
        // currency apply when the campaign has none (resolved by the record step).
        let mut row = click_row(&record, campaign.payout_micros, campaign.currency, false);
        // Its cost (docs/costs.md): a snapshot of the campaign's terms, 0 for a bot.
        if let Some(cost) = &campaign.cost {
            // A landing click (`/go`) is never priced from its own query: the visitor
            // could add a `cost` to it. Its row is the click's only when it is stored
            // before the click's own (a retried write): then the fixed CPC applies, and
            // an automatic cost is not known (docs/costs.md).
            let priced_by: &[(String, String)] = if go.is_some() { &[] } else { &query };
            row.cost_micros = cost.click_cost(priced_by, record.bot_reason.is_some());
            let currency = cost.currency_or(app.config.currency).to_string();
            match cost.model {
                CostModel::Cpa { micros } => row.cpa_micros = Some(micros),
                CostModel::RevShare { ppm } => row.revshare_ppm = Some(ppm),
                _ => {}
            }
            // The currency of a click's cost or of its conversions' fixed `cpa` cost (a
            // `revshare` cost is in each payout's currency).
            row.cost_currency =
                (row.cost_micros.is_some() || row.cpa_micros.is_some()).then_some(currency);
        }
        store_after_response(ctx, env, row);
    }

    let text = "text/plain; charset=utf-8";
    match plan.response {
        ClickResponse::Redirect { status, location } => {
            let mut response = redirect(status, &location)?;
            response
                .headers_mut()
                .set("referrer-policy", "no-referrer")?;
            Ok(response)
        }
        ClickResponse::MetaRefresh { location } => {
            let mut response = respond(
                200,
                "text/html; charset=utf-8",
                meta_refresh_page(&location),
            )?;
            response
                .headers_mut()
                .set("referrer-policy", "no-referrer")?;
            Ok(response)
        }
        ClickResponse::Fallback { location } => redirect(302, &location),
        ClickResponse::NotFound => respond(404, text, "campaign not found"),
        ClickResponse::BotBlocked => respond(403, text, "blocked"),
        ClickResponse::TargetNotAllowed => respond(400, text, "invalid click parameters"),
        ClickResponse::Unavailable => respond(503, text, "temporarily unavailable"),
        ClickResponse::InvalidLink => respond(400, text, "invalid link"),
    }
}

/// The query's parameters, at most [`crate::click::MAX_PARAMS`] (a click's, an
/// impression's).
pub(super) fn query_pairs(url: &url::Url) -> Vec<(String, String)> {
    url.query_pairs()
        .take(crate::click::MAX_PARAMS)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

/// The prefetch header of a request, `Sec-Purpose` or else `Purpose` (SPEC §4's bot
/// rule).
pub(super) fn purpose(headers: &worker::Headers) -> Option<String> {
    headers
        .get("sec-purpose")
        .ok()
        .flatten()
        .or_else(|| headers.get("purpose").ok().flatten())
}
