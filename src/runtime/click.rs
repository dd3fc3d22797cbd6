//! `GET`/`HEAD /c/{campaign}`: the click redirect. Zero D1 queries before the response;
//! the click row is written afterwards through `ctx.wait_until` (SPEC §2, §10).

use super::d1::Db;
use super::{client_ip, random, respond, App};
use crate::click::{meta_refresh_page, plan_click, ClickRequest, ClickResponse};
use crate::store::{click_row, insert_clicks, CLICKS_PER_STATEMENT};
use worker::{Context, Env, Method, Request, Response, Result};

type Flush = futures_util::future::Shared<futures_util::future::LocalBoxFuture<'static, ()>>;

thread_local! {
    // Click rows waiting to be written, and the flush that will write them. Requests run
    // concurrently in one isolate; the rows of one window are written in one statement.
    static PENDING: std::cell::RefCell<Vec<serde_json::Value>> =
        const { std::cell::RefCell::new(Vec::new()) };
    static NEXT_FLUSH: std::cell::RefCell<Option<Flush>> = const { std::cell::RefCell::new(None) };
}

/// How long the first row of a window waits for others to share its write.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(50);

/// Writes the click row after the response, together with the rows of every request of
/// the same 50 ms window. Each request's `wait_until` holds the window's shared flush,
/// so no row depends on another request's lifetime; the flush takes the rows and closes
/// the window in one synchronous step, so a later row always opens a new window.
fn store_after_response(ctx: &Context, env: &Env, row: serde_json::Value) {
    PENDING.with(|pending| pending.borrow_mut().push(row));
    let flush = NEXT_FLUSH.with(|slot| {
        slot.borrow_mut()
            .get_or_insert_with(|| {
                let env = env.clone();
                let flush: futures_util::future::LocalBoxFuture<'static, ()> =
                    Box::pin(async move {
                        worker::Delay::from(COALESCE).await;
                        let rows =
                            PENDING.with(|pending| std::mem::take(&mut *pending.borrow_mut()));
                        NEXT_FLUSH.with(|slot| slot.borrow_mut().take());
                        write_clicks(&env, rows).await;
                    });
                futures_util::FutureExt::shared(flush)
            })
            .clone()
    });
    ctx.wait_until(flush);
}

async fn write_clicks(env: &Env, rows: Vec<serde_json::Value>) {
    if rows.is_empty() {
        return;
    }
    let statements: Vec<_> = rows
        .chunks(CLICKS_PER_STATEMENT)
        .map(insert_clicks)
        .collect();
    let written = match Db::from_env(env) {
        Ok(db) => db.batch(&statements).await.map(|_| ()),
        Err(error) => Err(error),
    };
    if let Err(error) = written {
        worker::console_error!("edgeback: {} click rows not stored: {error}", rows.len());
    }
}

pub async fn handle(
    request: &Request,
    app: &App,
    ctx: &Context,
    env: &Env,
    campaign_id: &str,
) -> Result<Response> {
    let url = request.url()?;
    let query: Vec<(String, String)> = url
        .query_pairs()
        .take(crate::click::MAX_PARAMS)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let headers = request.headers();
    let user_agent = headers.get("user-agent").ok().flatten();
    let purpose = headers
        .get("sec-purpose")
        .ok()
        .flatten()
        .or_else(|| headers.get("purpose").ok().flatten());
    let ip = client_ip(request);
    let cf = request.cf();
    let country = cf.and_then(|cf| cf.country());
    let colo = cf.map(|cf| cf.colo()).filter(|colo| !colo.is_empty());
    let asn = cf.and_then(|cf| cf.asn());
    // Static campaigns first, then run-time ones from KV (edge-cached): never D1.
    let found = super::campaigns::find(app, env, campaign_id).await?;
    let campaign = found.as_ref().map(|(campaign, _)| campaign.as_ref());

    let click_request = ClickRequest {
        is_head: request.method() == Method::Head,
        query: &query,
        user_agent: user_agent.as_deref(),
        purpose: purpose.as_deref(),
        client_ip: ip.as_deref(),
        country: country.as_deref(),
        asn,
        colo: colo.as_deref(),
        now_ms: super::now_ms(),
        random: random()?,
    };
    let plan = plan_click(&app.click_secrets, campaign, &click_request);

    if let (Some(record), Some(campaign)) = (plan.record, campaign) {
        let row = click_row(
            &record,
            campaign.payout_micros,
            campaign.currency.or(Some(app.config.currency)),
            false,
        );
        store_after_response(ctx, env, row);
    }

    let text = "text/plain; charset=utf-8";
    match plan.response {
        ClickResponse::Redirect { status, location } => {
            let mut response = respond(status, text, "")?;
            response.headers_mut().set("location", &location)?;
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
        ClickResponse::Fallback { location } => {
            let mut response = respond(302, text, "")?;
            response.headers_mut().set("location", &location)?;
            Ok(response)
        }
        ClickResponse::NotFound => respond(404, text, "campaign not found"),
        ClickResponse::BotBlocked => respond(403, text, "blocked"),
        ClickResponse::TargetNotAllowed => respond(400, text, "invalid click parameters"),
        ClickResponse::Unavailable => respond(503, text, "temporarily unavailable"),
    }
}
