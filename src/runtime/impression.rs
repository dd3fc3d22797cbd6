//! `GET`/`HEAD /i/{campaign}`: the impression pixel (docs/costs.md, "The impression
//! pixel"). Zero D1 queries before the response: the GIF is answered at once, the
//! impression is added to this isolate's tally, and the tally is written after the
//! response in windows, as click rows are (`click::COALESCE_MS`).

use super::click::{purpose, query_pairs, with_retries, write_in_window};
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
    // This isolate's name as a writer of impression windows (random, made once) and the
    // number of its last window: a window's batch marks its number written, so a retry
    // of a batch that committed adds nothing (store::count_impressions).
    static WRITER: std::cell::OnceCell<String> = const { std::cell::OnceCell::new() };
    static LAST_WINDOW: Cell<u64> = const { Cell::new(0) };
}

pub async fn handle(
    request: &Request,
    app: &App,
    ctx: &Context,
    env: &Env,
    campaign_id: &str,
) -> Result<Response> {
    // Whatever goes wrong, the page gets its image: an error counts nothing.
    let query = request
        .url()
        .map_or_else(|_| Vec::new(), |url| query_pairs(&url));
    let headers = request.headers();
    let user_agent = headers.get("user-agent").ok().flatten();
    let purpose = purpose(headers);
    let country = request.cf().and_then(|cf| cf.country());
    let found = match super::campaigns::find(app, env, campaign_id).await {
        Ok(found) => found,
        Err(error) => {
            worker::console_error!("edgeback: impression of {campaign_id} not counted: {error}");
            None
        }
    };
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
    // `finish` adds `Cache-Control: no-store`: a cached image would count once.
    super::respond(200, "image/gif", PIXEL_GIF.to_vec())
}

/// Writes the tally in the current window (`click::write_in_window`), as click rows are.
fn write_after_response(ctx: &Context, env: &Env) {
    let env = env.clone();
    write_in_window(
        ctx,
        &WRITE_SCHEDULED_AT,
        Box::new(move || {
            let tally = TALLY.with(|tally| std::mem::take(&mut *tally.borrow_mut()));
            let window = LAST_WINDOW.with(|last| {
                last.set(last.get().saturating_add(1));
                last.get()
            });
            Box::pin(async move {
                if tally.dropped > 0 {
                    worker::console_error!(
                        "edgeback: {} impressions dropped: more than {} distinct keys in one window",
                        tally.dropped,
                        ImpressionTally::MAX_KEYS
                    );
                }
                write(&env, &tally, window).await;
            })
        }),
    );
}

/// One batch (a transaction that also marks the window written, so a retry never adds
/// it twice), retried with the click rows' backoff; a window that still fails is logged
/// as lost. Impressions are estimates of a source's spend, which a manual entry
/// (`PUT /api/costs`) corrects.
async fn write(env: &Env, tally: &ImpressionTally, window: u64) {
    if tally.is_empty() {
        return;
    }
    let writer = WRITER.with(|writer| {
        writer
            .get_or_init(|| {
                super::random::<8>()
                    .map(|bytes| crate::crypto::hex(&bytes))
                    .unwrap_or_else(|_| format!("t{}", super::now_ms()))
            })
            .clone()
    });
    let statements = crate::store::count_impressions(tally, &writer, window, super::now_ms());
    let written = with_retries(&mut || {
        Box::pin(async {
            let db = super::d1::Db::for_path(env, "impression")?;
            db.batch(&statements).await.map(|_| ())
        })
    })
    .await;
    let Err(last_error) = written else {
        return;
    };
    worker::console_error!(
        "edgeback: impressions of {} keys LOST: not stored ({last_error})",
        tally.len()
    );
}
