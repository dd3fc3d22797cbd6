//! `/api/…`: the admin API (SPEC §9), behind `Authorization: Bearer <ADMIN_TOKEN>`
//! compared in constant time. Routes come from `crate::admin::ROUTES`; the dispatch below
//! matches every `RouteId`, so the router and `/api/openapi.json` cannot drift apart.

use super::campaigns::{self, Source};
use super::d1::Db;
use super::{client_ip, random, respond_json, App};
use crate::admin::{match_route, openapi, page_limit, path_exists, RouteId};
use crate::config::{Campaign, Status};
use crate::crypto::constant_time_eq;
use crate::postback::auth::{authenticate, AuthRequest};
use crate::postback::{new_record_id, redacted_params, Outcome};
use crate::store::{
    click_row, delivery_api_json, get_click, get_conversion, list_conversions, list_deliveries,
    list_postbacks, record_conversion, replay_deliveries, replay_delivery, store_clicks,
    ConversionFilter, ConversionRow, LogEntry, PostbackFilter, RecordedConversion, ReplayClaim,
    DELIVERY_STATES,
};
use crate::tester::{planned_deliveries, postback_params, AuthMode, TestRequest};
use serde_json::{json, Value};
use worker::{Context, Env, Request, Response, Result};

pub(super) fn authorized(request: &Request, app: &App) -> bool {
    let header = request
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .unwrap_or_default();
    let presented = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .unwrap_or_default()
        .trim();
    constant_time_eq(presented.as_bytes(), app.admin_token.as_bytes())
}

fn error(status: u16, code: &str, detail: &str) -> Result<Response> {
    respond_json(
        status,
        &json!({ "ok": false, "error": code, "detail": detail }),
    )
}

/// A query string reader.
struct Query(Vec<(String, String)>);

impl Query {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .filter(|value| !value.is_empty())
    }

    fn since(&self) -> std::result::Result<Option<i64>, &'static str> {
        match self.get("since").map(|text| text.parse::<i64>()) {
            None => Ok(None),
            Some(Ok(since)) => Ok(Some(since)),
            Some(Err(_)) => Err("since must be unix milliseconds"),
        }
    }
}

/// A page of rows fetched with one extra row: the page, and the cursor of the next one.
fn page(mut rows: Vec<Value>, limit: u32, cursor_field: &str) -> Value {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().and_then(|row| row.get(cursor_field)).cloned()
    } else {
        None
    };
    json!({ "items": rows, "next_cursor": next_cursor })
}

pub async fn handle(
    mut request: Request,
    app: &App,
    ctx: &Context,
    env: &Env,
    db: &Db,
) -> Result<Response> {
    if !authorized(&request, app) {
        let mut response = error(
            401,
            "unauthorized",
            "send Authorization: Bearer <ADMIN_TOKEN>",
        )?;
        response.headers_mut().set("www-authenticate", "Bearer")?;
        return Ok(response);
    }
    let url = request.url()?;
    let path = url.path().to_string();
    let method = request.method().to_string();
    let Some((route, values)) = match_route(&method, &path) else {
        return if path_exists(&path) {
            error(405, "method_not_allowed", "this route takes another method")
        } else {
            error(404, "not_found", "no such API route; see /api/openapi.json")
        };
    };
    let id = values
        .first()
        .map(|value| value.to_string())
        .unwrap_or_default();
    let query = Query(
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    );
    let limit = match page_limit(query.get("limit").as_deref()) {
        Ok(limit) => limit,
        Err(detail) => return error(400, "bad_request", detail),
    };
    let since = match query.since() {
        Ok(since) => since,
        Err(detail) => return error(400, "bad_request", detail),
    };
    let cursor = query.get("cursor");

    match route.id {
        RouteId::OpenApi => respond_json(200, &openapi(crate::VERSION)),
        RouteId::ListPostbacks => {
            let filter = PostbackFilter {
                outcome: query.get("outcome"),
                network: query.get("network"),
                since_ms: since,
            };
            let rows: Vec<Value> = db
                .all(&list_postbacks(&filter, cursor.as_deref(), limit))
                .await?;
            let rows = rows
                .into_iter()
                .map(|mut row| {
                    // The stored parameters are JSON text; hand them out as JSON.
                    let params = row
                        .get("params")
                        .and_then(|p| p.as_str())
                        .and_then(|t| serde_json::from_str::<Value>(t).ok());
                    if let (Some(params), Some(object)) = (params, row.as_object_mut()) {
                        object.insert("params".into(), params);
                    }
                    row
                })
                .collect();
            respond_json(200, &page(rows, limit, "postback_id"))
        }
        RouteId::ListConversions => {
            if let Some(status) = query.get("status") {
                if Status::from_name(&status).is_none() {
                    return error(
                        400,
                        "bad_request",
                        "status must be pending, approved, rejected or reversed",
                    );
                }
            }
            let filter = ConversionFilter {
                status: query.get("status"),
                campaign: query.get("campaign"),
                since_ms: since,
            };
            let rows: Vec<ConversionRow> = db
                .all(&list_conversions(&filter, cursor.as_deref(), limit))
                .await?;
            let rows = rows.iter().map(ConversionRow::to_api_json).collect();
            respond_json(200, &page(rows, limit, "conversion_id"))
        }
        RouteId::GetConversion => {
            let results = db.batch(&get_conversion(&id)).await?;
            let read = |index: usize| -> Result<Vec<Value>> {
                results
                    .get(index)
                    .map_or(Ok(Vec::new()), |result| result.results())
            };
            let Some(conversion) = read(0)?.into_iter().next() else {
                return error(404, "not_found", "no such conversion");
            };
            let conversion = serde_json::from_value::<ConversionRow>(conversion.clone())
                .map(|row| row.to_api_json())
                .unwrap_or(conversion);
            let deliveries: Vec<Value> = read(2)?.into_iter().map(delivery_api_json).collect();
            respond_json(
                200,
                &json!({ "conversion": conversion, "history": read(1)?, "deliveries": deliveries }),
            )
        }
        RouteId::GetClick => {
            let rows: Vec<Value> = db.all(&get_click(&id)).await?;
            match rows.into_iter().next() {
                Some(click) => respond_json(200, &json!({ "click": click })),
                None => error(404, "not_found", "no such click"),
            }
        }
        RouteId::ListDeliveries => {
            let state = query.get("state");
            if state
                .as_deref()
                .is_some_and(|s| !DELIVERY_STATES.contains(&s))
            {
                return error(
                    400,
                    "bad_request",
                    "state must be pending, retrying, delivered or failed",
                );
            }
            let rows: Vec<Value> = db
                .all(&list_deliveries(
                    state.as_deref(),
                    since,
                    cursor.as_deref(),
                    limit,
                ))
                .await?;
            let rows = rows.into_iter().map(delivery_api_json).collect();
            respond_json(200, &page(rows, limit, "delivery_id"))
        }
        RouteId::ReplayDelivery => {
            let rows: Vec<Value> = db.all(&replay_delivery(&id, super::now_ms())).await?;
            if rows.is_empty() {
                return error(404, "not_found", "no such delivery");
            }
            replayed(ctx, env, rows)
        }
        RouteId::ReplayDeliveries => {
            let state = query.get("state").unwrap_or_else(|| "failed".into());
            if !DELIVERY_STATES.contains(&state.as_str()) {
                return error(
                    400,
                    "bad_request",
                    "state must be pending, retrying, delivered or failed",
                );
            }
            let rows: Vec<Value> = db
                .all(&replay_deliveries(&state, since, super::now_ms()))
                .await?;
            replayed(ctx, env, rows)
        }
        RouteId::Report => super::report::handle(app, db, &query.0).await,
        RouteId::TestPostback => {
            let body = request.bytes().await.unwrap_or_default();
            test_postback(app, env, db, &request, &body).await
        }
        RouteId::ListCampaigns => {
            let mut items: Vec<Value> = app
                .config
                .campaigns
                .values()
                .map(|c| json!({ "id": c.id, "source": "static", "campaign": c.describe() }))
                .collect();
            let kv = env.kv(campaigns::BINDING)?;
            let listed = kv
                .list()
                .prefix("campaign:".into())
                .execute()
                .await
                .map_err(|e| worker::Error::RustError(e.to_string()))?;
            for key in listed.keys {
                let id = key.name.trim_start_matches("campaign:").to_string();
                let shadowed = app.config.campaigns.contains_key(&id);
                items.push(json!({ "id": id, "source": "kv", "shadowed_by_static": shadowed }));
            }
            respond_json(200, &json!({ "items": items }))
        }
        RouteId::GetCampaign => match campaigns::find(app, env, &id).await? {
            Some((campaign, source)) => respond_json(
                200,
                &json!({ "id": id, "source": source.as_str(), "campaign": campaign.describe() }),
            ),
            None => error(404, "not_found", "no such campaign"),
        },
        RouteId::PutCampaign => {
            if app.config.campaigns.contains_key(&id) {
                return error(
                    409,
                    "static_campaign_wins",
                    "a campaign with this id is in wrangler.toml; the static one always wins",
                );
            }
            let body = request.bytes().await.unwrap_or_default();
            let Ok(value) = serde_json::from_slice::<Value>(&body) else {
                return error(
                    400,
                    "bad_request",
                    "the body must be a JSON campaign object",
                );
            };
            match Campaign::from_runtime_json(&id, value) {
                Ok(campaign) => {
                    let description = campaign.describe();
                    env.kv(campaigns::BINDING)?
                        .put(&campaigns::key(&id), description.to_string())
                        .map_err(|e| worker::Error::RustError(e.to_string()))?
                        .execute()
                        .await
                        .map_err(|e| worker::Error::RustError(e.to_string()))?;
                    respond_json(
                        200,
                        &json!({ "ok": true, "id": id, "source": Source::Runtime.as_str(), "campaign": description,
                                 "note": "edge locations may serve the previous version for up to 60 s" }),
                    )
                }
                Err(errors) => respond_json(
                    400,
                    &json!({ "ok": false, "error": "invalid_campaign", "detail": errors.to_string(),
                             "errors": errors.0.iter().map(|e| json!({ "path": e.path, "reason": e.reason })).collect::<Vec<_>>() }),
                ),
            }
        }
        RouteId::DeleteCampaign => {
            if app.config.campaigns.contains_key(&id) {
                return error(
                    409,
                    "static_campaign_wins",
                    "static campaigns are changed in wrangler.toml",
                );
            }
            env.kv(campaigns::BINDING)?
                .delete(&campaigns::key(&id))
                .await
                .map_err(|e| worker::Error::RustError(e.to_string()))?;
            respond_json(200, &json!({ "ok": true, "id": id, "deleted": true }))
        }
    }
}

/// Answers a replay and attempts the replayed deliveries right after the response.
fn replayed(ctx: &Context, env: &Env, rows: Vec<Value>) -> Result<Response> {
    let ids: Vec<String> = rows
        .iter()
        .filter_map(|row| {
            row.get("delivery_id")
                .and_then(|id| id.as_str())
                .map(str::to_string)
        })
        .collect();
    let body = json!({ "ok": true, "replayed": ids.len(), "delivery_ids": ids });
    if !ids.is_empty() {
        super::postback::deliver_after_response(ctx, env, ids);
    }
    respond_json(202, &body)
}

/// The postback tester: a test click and a simulated postback through the whole
/// pipeline (click ID verification, parsing, the record step), all flagged `test`.
/// Test conversions make no deliveries; the answer lists the ones a real one would make.
async fn test_postback(
    app: &App,
    env: &Env,
    db: &Db,
    request: &Request,
    body: &[u8],
) -> Result<Response> {
    let test: TestRequest = match serde_json::from_slice(body) {
        Ok(test) => test,
        Err(problem) => {
            return error(
                400,
                "bad_request",
                &format!("invalid tester request: {problem}"),
            )
        }
    };
    let Some((campaign, _)) = campaigns::find(app, env, &test.campaign).await? else {
        return error(404, "not_found", "no such campaign");
    };
    let network_name = test
        .network
        .clone()
        .or_else(|| campaign.network.clone())
        .unwrap_or_else(|| app.config.default_network.clone());
    let Some(network) = app.config.networks.get(&network_name) else {
        return error(404, "not_found", "no such network");
    };
    let now = super::now_ms();
    let click_id = match app
        .click_secrets
        .mint_for(now, random()?, campaign.network.as_deref())
    {
        Ok(id) => id,
        Err(_) => return error(503, "internal_error", "cannot mint a click ID now"),
    };
    let click = crate::click::ClickRecord {
        click_id: click_id.clone(),
        campaign: campaign.id.clone(),
        created_at_ms: now,
        subs: Default::default(),
        external_id: None,
        country: None,
        asn: None,
        colo: None,
        user_agent: Some("edgeback postback tester".into()),
        ip_hash: None,
        bot_reason: None,
    };
    let row = click_row(&click, campaign.payout_micros, campaign.currency, true);
    db.batch(&store_clicks(&[row], now)).await?;

    let params = postback_params(network, &click_id, &test.params);
    let auth = match test.auth {
        AuthMode::Bypass => json!({ "mode": "bypassed", "configured": !network.auth.is_empty() }),
        AuthMode::Check => {
            let headers = &test.headers;
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            };
            let secret = |name: &str| app.auth_secrets.get(name).cloned();
            let source = test.source_ip.clone().or_else(|| client_ip(request));
            let auth_request = AuthRequest {
                client_ip: source.as_deref().and_then(|ip| ip.parse().ok()),
                params: &params,
                header: &header,
                body: b"",
                now_ms: now,
            };
            match authenticate(&network.auth, &secret, &auth_request) {
                Ok(_) => json!({ "mode": "checked", "passed": true }),
                Err(refusal) => {
                    return respond_json(
                        200,
                        &json!({ "test": true, "auth": { "mode": "checked", "passed": false },
                                 "outcome": refusal.outcome.code(), "detail": refusal.detail, "click_id": click_id }),
                    )
                }
            }
        }
    };
    let log = LogEntry {
        postback_id: new_record_id(now, random()?),
        received_at_ms: now,
        network: Some(network.name.clone()),
        source_ip: Some("tester".into()),
        method: "TEST".into(),
        params: redacted_params(&params, &network.auth.secret_params()).to_string(),
        detail: Some("postback tester".into()),
        click_id: Some(click_id.clone()),
    };
    let mut draft = match app.evaluate(network, &params, now)? {
        Ok(draft) => draft,
        Err(refusal) => {
            return respond_json(
                200,
                &json!({ "test": true, "auth": auth, "outcome": refusal.outcome.code(), "detail": refusal.detail,
                         "click_id": click_id, "conversion": null, "planned_deliveries": [] }),
            )
        }
    };
    draft.is_test = true;
    let results = db
        .batch(&record_conversion(&draft, &log, &ReplayClaim::default()))
        .await?;
    let row: Vec<Value> = match results.last() {
        Some(result) => result.results()?,
        None => Vec::new(),
    };
    let recorded = row.first().and_then(RecordedConversion::from_row);
    let outcome = recorded
        .as_ref()
        .map_or("internal_error", |r| r.outcome.as_str())
        .to_string();
    let conversion = recorded
        .as_ref()
        .and_then(|r| r.conversion.as_ref())
        .map(ConversionRow::to_api_json);
    let change_type = if outcome == Outcome::Updated.code() {
        "conversion.updated"
    } else {
        "conversion.created"
    };
    let planned = if matches!(outcome.as_str(), "accepted" | "updated") {
        planned_deliveries(
            &app.config.destinations,
            &campaign,
            &draft.event,
            draft.status,
            &network.name,
            change_type,
        )
    } else {
        Vec::new()
    };
    respond_json(
        200,
        &json!({ "test": true, "auth": auth, "outcome": outcome,
                 "detail": recorded.as_ref().and_then(|r| r.detail.clone()),
                 "click_id": click_id, "network": network.name, "campaign": campaign.id,
                 "conversion": conversion, "planned_deliveries": planned }),
    )
}
