//! `GET`/`HEAD /i/{campaign}`: the impression pixel (docs/costs.md, "The impression
//! pixel"). Zero D1 queries before the response: the GIF is answered at once, the
//! impression is added to this isolate's tally, and the tally is written after the
//! response in windows, as click rows are (`click::COALESCE_MS`).

use super::click::{COALESCE_MS, FLUSH_PRESUMED_GONE_MS, RETRY_DELAYS_MS};
use super::App;
use crate::click::ClickRequest;
use crate::impression::{count_impression, ImpressionTally, PIXEL_GIF};
use std::cell::{Cell, RefCell};
use worker::{Context, Env, Method, Request, Response, Result};

thread_local! {
    // Impressions counted and not written yet: plain data, shared by the isolate's
    // requests; only the window's writer (one request's `wait_until`) takes it.
    static TALLY: RefCell<ImpressionTally> = RefCell::new(ImpressionTally::default());
    // When the request that will write the current window scheduled its write.
    static WRITE_SCHEDULED_AT: Cell<Option<u64>> = const { Cell::new(None) };
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
    let country = request.cf().and_then(|cf| cf.country());
    let found = super::campaigns::find(app, env, campaign_id).await?;
    let campaign = found.as_ref().map(|(campaign, _)| campaign.as_ref());
    let impression = ClickRequest {
        is_head: request.method() == Method::Head,
        query: &query,
        user_agent: user_agent.as_deref(),
        purpose: purpose.as_deref(),
        country: country.as_deref(),
        now_ms: super::now_ms(),
        ..Default::default()
    };
    if let Some((key, counts)) = count_impression(campaign, &impression, app.config.currency) {
        TALLY.with(|tally| tally.borrow_mut().add(key, counts));
        write_after_response(ctx, env);
    }
    let mut response = super::respond(200, "image/gif", PIXEL_GIF.to_vec())?;
    response.headers_mut().set("cache-control", "no-store")?;
    Ok(response)
}

/// Makes this request the window's writer unless one is scheduled: it waits
/// [`COALESCE_MS`], takes the tally and writes it. Other requests only add plain data to
/// the tally and await nothing, so no I/O or promise crosses request contexts.
fn write_after_response(ctx: &Context, env: &Env) {
    let now = super::now_ms();
    let scheduled = WRITE_SCHEDULED_AT.with(Cell::get);
    if scheduled.is_some_and(|at| now.saturating_sub(at) < FLUSH_PRESUMED_GONE_MS) {
        return;
    }
    WRITE_SCHEDULED_AT.with(|slot| slot.set(Some(now)));
    let env = env.clone();
    ctx.wait_until(async move {
        worker::Delay::from(std::time::Duration::from_millis(COALESCE_MS)).await;
        let tally = TALLY.with(|tally| std::mem::take(&mut *tally.borrow_mut()));
        WRITE_SCHEDULED_AT.with(|slot| slot.set(None));
        if tally.dropped > 0 {
            worker::console_error!(
                "edgeback: {} impressions dropped: more than {} distinct keys in one window",
                tally.dropped,
                ImpressionTally::MAX_KEYS
            );
        }
        write(&env, &tally).await;
    });
}

/// One batch (a transaction: the counts are added once or not at all), retried with the
/// click rows' backoff; a window that still fails is logged as lost. Impressions are
/// estimates of a source's spend, which a manual entry (`PUT /api/costs`) corrects.
async fn write(env: &Env, tally: &ImpressionTally) {
    if tally.is_empty() {
        return;
    }
    let statements = crate::store::count_impressions(tally);
    let mut last_error = String::new();
    for delay in std::iter::once(0).chain(RETRY_DELAYS_MS) {
        if delay > 0 {
            worker::Delay::from(std::time::Duration::from_millis(delay)).await;
        }
        let written = match super::d1::Db::for_path(env, "impression") {
            Ok(db) => db.batch(&statements).await.map(|_| ()),
            Err(error) => Err(error),
        };
        match written {
            Ok(()) => return,
            Err(error) => last_error = error.to_string(),
        }
    }
    worker::console_error!(
        "edgeback: impressions of {} keys LOST: not stored ({last_error})",
        tally.len()
    );
}
