//! `GET`/`HEAD /c/{campaign}`: the click redirect. Zero D1 queries before the response;
//! the click row is written afterwards through `ctx.wait_until` (SPEC §2, §10).

use super::d1::run_after_response;
use super::{client_ip, random, respond, App};
use crate::click::{meta_refresh_page, plan_click, ClickRequest, ClickResponse};
use crate::store::insert_click;
use worker::{Context, Env, Method, Request, Response, Result};

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
        let statement = insert_click(
            &record,
            campaign.payout_micros,
            campaign.currency.or(Some(app.config.currency)),
        );
        run_after_response(ctx, env, statement, "click row");
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
