//! `/api/…`: the admin API (design §9), behind `Authorization: Bearer <ADMIN_TOKEN>`
//! compared in constant time. Routes come from `crate::admin::ROUTES`; the dispatch below
//! matches every `RouteId`, so the router and `/api/openapi.json` cannot drift apart.

use super::campaigns::{self, Source};
use super::d1::{rows_of, Db};
use super::{client_ip, random, respond_json, App};
use crate::admin::{
    check_params, format, match_route, openapi, page_limit, path_exists, Format, Route, RouteId,
};
use crate::config::{Campaign, Status};
use crate::crypto::constant_time_eq;
use crate::forward::DeliveryState;
use crate::postback::auth::{authenticate, AuthRequest};
use crate::postback::{new_record_id, redacted_params, Outcome};
use crate::store::{
    get_click, get_conversion, list_clicks, list_conversions, list_deliveries, list_postbacks,
    record_conversion, replay_deliveries, replay_delivery, ClickFilter, ClickView,
    ConversionFilter, ConversionRow, DeliveryView, HistoryRow, PostbackFilter, PostbackLogRow,
    ReplayClaim,
};
use crate::tester::{self, planned_deliveries, postback_params, AuthMode, TestRequest};
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

/// An admin API failure: a client error with its status, stable code and detail, or a
/// runtime failure (D1, KV) answered as `500 internal_error` and logged, never shown.
#[derive(Debug)]
pub enum ApiError {
    Client {
        status: u16,
        code: &'static str,
        detail: String,
    },
    Runtime(worker::Error),
}

impl ApiError {
    fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::Client {
            status: 400,
            code: "bad_request",
            detail: detail.into(),
        }
    }

    fn not_found(detail: impl Into<String>) -> Self {
        ApiError::Client {
            status: 404,
            code: "not_found",
            detail: detail.into(),
        }
    }

    fn into_response(self) -> Result<Response> {
        match self {
            ApiError::Client {
                status,
                code,
                detail,
            } => respond_json(
                status,
                &json!({ "ok": false, "error": code, "detail": detail }),
            ),
            ApiError::Runtime(error) => {
                worker::console_error!("edgeback admin API: {error}");
                respond_json(500, &json!({ "ok": false, "error": "internal_error" }))
            }
        }
    }
}

impl From<worker::Error> for ApiError {
    fn from(error: worker::Error) -> Self {
        ApiError::Runtime(error)
    }
}

impl From<worker::kv::KvError> for ApiError {
    fn from(error: worker::kv::KvError) -> Self {
        ApiError::Runtime(worker::Error::RustError(error.to_string()))
    }
}

type ApiResult = std::result::Result<Response, ApiError>;

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

    fn since(&self) -> std::result::Result<Option<i64>, ApiError> {
        match self.get("since").map(|text| text.parse::<i64>()) {
            None => Ok(None),
            Some(Ok(since)) => Ok(Some(since)),
            Some(Err(_)) => Err(ApiError::bad_request("since must be unix milliseconds")),
        }
    }

    /// A `true`/`false` (or `1`/`0`) parameter; absent is `None`.
    fn flag(&self, name: &str) -> std::result::Result<Option<bool>, ApiError> {
        match self.get(name).as_deref() {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(_) => Err(ApiError::bad_request(format!(
                "{name} must be true or false"
            ))),
        }
    }

    /// The ten exact sub-ID filters.
    fn subs(&self) -> crate::click::SubIds {
        crate::click::SubIds::from_array(std::array::from_fn(|index| {
            self.get(&format!("sub{}", index + 1))
        }))
    }

    fn delivery_state(&self) -> std::result::Result<Option<DeliveryState>, ApiError> {
        match self.get("state").map(|s| DeliveryState::parse(&s)) {
            None => Ok(None),
            Some(Some(state)) => Ok(Some(state)),
            Some(None) => Err(ApiError::bad_request(
                "state must be pending, retrying, delivered or failed",
            )),
        }
    }
}

/// A page of rows fetched with one extra row: as JSON (`items`, `next_cursor`), or as
/// CSV (a header row and one row per item, the next page's cursor in `x-next-cursor`).
fn page(call: &Call<'_>, mut rows: Vec<Value>, cursor_field: &str) -> ApiResult {
    let limit = call.limit as usize;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more {
        rows.last().and_then(|row| row.get(cursor_field)).cloned()
    } else {
        None
    };
    match (call.format, call.route.csv) {
        (Format::Csv, Some(columns)) => {
            let name = call.route.path.trim_start_matches("/api/");
            let mut response = csv_response(&crate::csv::table(columns, &rows), name)?;
            if let Some(Value::String(cursor)) = next_cursor {
                response.headers_mut().set("x-next-cursor", &cursor)?;
            }
            Ok(response)
        }
        _ => Ok(respond_json(
            200,
            &json!({ "items": rows, "next_cursor": next_cursor }),
        )?),
    }
}

/// A CSV attachment named `edgeback-<name>.csv`.
fn csv_response(body: &str, name: &str) -> Result<Response> {
    let mut response = super::respond(200, "text/csv; charset=utf-8", body)?;
    response.headers_mut().set(
        "content-disposition",
        &format!("attachment; filename=\"edgeback-{name}.csv\""),
    )?;
    Ok(response)
}

/// One admin call: what every route handler may need.
struct Call<'a> {
    route: &'static Route,
    format: Format,
    app: &'a App,
    ctx: &'a Context,
    env: &'a Env,
    db: &'a Db,
    request: Request,
    /// The route's `{id}` value, if it has one.
    id: String,
    query: Query,
    limit: u32,
    since: Option<i64>,
    cursor: Option<String>,
}

pub async fn handle(
    request: Request,
    app: &App,
    ctx: &Context,
    env: &Env,
    db: &Db,
) -> Result<Response> {
    if !authorized(&request, app) {
        let mut response = ApiError::Client {
            status: 401,
            code: "unauthorized",
            detail: "send Authorization: Bearer <ADMIN_TOKEN>".into(),
        }
        .into_response()?;
        response.headers_mut().set("www-authenticate", "Bearer")?;
        return Ok(response);
    }
    match dispatch(request, app, ctx, env, db).await {
        Ok(response) => Ok(response),
        Err(error) => error.into_response(),
    }
}

async fn dispatch(request: Request, app: &App, ctx: &Context, env: &Env, db: &Db) -> ApiResult {
    let url = request.url()?;
    let path = url.path().to_string();
    let method = request.method().to_string();
    let Some((route, values)) = match_route(&method, &path) else {
        return Err(if path_exists(&path) {
            ApiError::Client {
                status: 405,
                code: "method_not_allowed",
                detail: "this route takes another method".into(),
            }
        } else {
            ApiError::not_found("no such API route; see /api/openapi.json")
        });
    };
    let query = Query(
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    );
    check_params(route, query.0.iter().map(|(name, _)| name.as_str()))
        .map_err(ApiError::bad_request)?;
    let format = format(route, query.get("format").as_deref()).map_err(ApiError::bad_request)?;
    let mut call = Call {
        route,
        format,
        app,
        ctx,
        env,
        db,
        request,
        id: values
            .first()
            .map(|value| value.to_string())
            .unwrap_or_default(),
        limit: page_limit(query.get("limit").as_deref(), format).map_err(ApiError::bad_request)?,
        since: query.since()?,
        cursor: query.get("cursor"),
        query,
    };
    match route.id {
        RouteId::OpenApi => Ok(respond_json(200, &openapi(crate::VERSION))?),
        RouteId::ListPostbacks => list_postbacks_route(&call).await,
        RouteId::ListConversions => list_conversions_route(&call).await,
        RouteId::GetConversion => get_conversion_route(&call).await,
        RouteId::GetClick => get_click_route(&call).await,
        RouteId::ListDeliveries => list_deliveries_route(&call).await,
        RouteId::ReplayDelivery => replay_delivery_route(&call).await,
        RouteId::ReplayDeliveries => replay_deliveries_route(&call).await,
        RouteId::ListClicks => list_clicks_route(&call).await,
        RouteId::Report => report_route(&call).await,
        RouteId::TestPostback => {
            let body = call.request.bytes().await.unwrap_or_default();
            test_postback(&call, &body).await
        }
        RouteId::ListCampaigns => list_campaigns_route(&call).await,
        RouteId::GetCampaign => get_campaign_route(&call).await,
        RouteId::PutCampaign => put_campaign_route(&mut call).await,
        RouteId::DeleteCampaign => delete_campaign_route(&call).await,
        RouteId::ListCosts | RouteId::PutCost | RouteId::DeleteCost => costs_route(&mut call).await,
        RouteId::D1Ledger => {
            if !app.config.diagnostics.d1_query_header {
                return Err(ApiError::not_found(
                    "diagnostics are off ([vars.EDGEBACK.diagnostics] d1_query_header)",
                ));
            }
            let reset = call
                .query
                .get("reset")
                .is_some_and(|v| v == "true" || v == "1");
            Ok(respond_json(
                200,
                &json!({ "ledger": super::d1::ledger(reset) }),
            )?)
        }
    }
}

async fn list_postbacks_route(call: &Call<'_>) -> ApiResult {
    let filter = PostbackFilter {
        outcome: call.query.get("outcome"),
        network: call.query.get("network"),
        since_ms: call.since,
        include_test: call.query.flag("include_test")?.unwrap_or(false),
    };
    let rows: Vec<PostbackLogRow> = call
        .db
        .all(&list_postbacks(&filter, call.cursor.as_deref(), call.limit))
        .await?;
    let rows = rows.iter().map(PostbackLogRow::to_api_json).collect();
    page(call, rows, "postback_id")
}

/// How far back the click list reads when no `since` is given: a day of clicks is a
/// bounded scan of the clicks table's key (it has no other index).
const CLICK_LIST_DEFAULT_MS: i64 = 86_400_000;

async fn list_clicks_route(call: &Call<'_>) -> ApiResult {
    let now = i64::try_from(super::now_ms()).unwrap_or(i64::MAX);
    let filter = ClickFilter {
        since_ms: call.since.unwrap_or(now - CLICK_LIST_DEFAULT_MS),
        campaign: call.query.get("campaign"),
        country: call.query.get("country").map(|c| c.to_ascii_uppercase()),
        bot: call.query.flag("bot")?,
        sub: call.query.subs(),
    };
    // Every database that holds clicks lists its newest; merged newest first, the first
    // `limit + 1` are the page (click IDs sort by time in every database alike).
    let statement = list_clicks(&filter, call.cursor.as_deref(), call.limit);
    let mut databases = vec![(call.db.clone(), vec![statement.clone()])];
    for other in super::click_databases::others(call.env, call.app, "request")? {
        databases.push((other, vec![statement.clone()]));
    }
    let mut rows: Vec<ClickView> = Vec::new();
    for results in super::click_databases::each(databases).await? {
        rows.extend(rows_of::<ClickView>(&results, 0)?);
    }
    rows.sort_by(|a, b| b.click_id.cmp(&a.click_id));
    rows.truncate(
        usize::try_from(call.limit)
            .unwrap_or(usize::MAX)
            .saturating_add(1),
    );
    let rows = rows.iter().map(ClickView::to_api_json).collect();
    page(call, rows, "click_id")
}

async fn report_route(call: &Call<'_>) -> ApiResult {
    let now = i64::try_from(super::now_ms()).unwrap_or(i64::MAX);
    let report = super::report::build(call.env, call.app, call.db, &call.query.0, now)
        .await?
        .map_err(ApiError::bad_request)?;
    match call.format {
        Format::Csv => {
            let name = format!(
                "report-{}-{}",
                report["from"].as_str().unwrap_or_default(),
                report["to"].as_str().unwrap_or_default()
            );
            Ok(csv_response(&crate::csv::report(&report), &name)?)
        }
        Format::Json => Ok(respond_json(200, &report)?),
    }
}

async fn list_conversions_route(call: &Call<'_>) -> ApiResult {
    let status = call.query.get("status");
    if status
        .as_deref()
        .is_some_and(|s| Status::from_name(s).is_none())
    {
        return Err(ApiError::bad_request(
            "status must be pending, approved, rejected or reversed",
        ));
    }
    let filter = ConversionFilter {
        status,
        campaign: call.query.get("campaign"),
        network: call.query.get("network"),
        event: call.query.get("event"),
        sub: call.query.subs(),
        since_ms: call.since,
    };
    let rows: Vec<ConversionRow> = call
        .db
        .all(&list_conversions(
            &filter,
            call.cursor.as_deref(),
            call.limit,
        ))
        .await?;
    let rows = rows.iter().map(ConversionRow::to_api_json).collect();
    page(call, rows, "conversion_id")
}

async fn get_conversion_route(call: &Call<'_>) -> ApiResult {
    let results = call.db.batch(&get_conversion(&call.id)).await?;
    let conversion: Vec<ConversionRow> = rows_of(&results, 0)?;
    let Some(conversion) = conversion.first() else {
        return Err(ApiError::not_found("no such conversion"));
    };
    let history: Vec<HistoryRow> = rows_of(&results, 1)?;
    let deliveries: Vec<DeliveryView> = rows_of(&results, 2)?;
    let deliveries: Vec<Value> = deliveries.iter().map(DeliveryView::to_api_json).collect();
    Ok(respond_json(
        200,
        &json!({ "conversion": conversion.to_api_json(), "history": history, "deliveries": deliveries }),
    )?)
}

async fn get_click_route(call: &Call<'_>) -> ApiResult {
    let binding = super::click_databases::binding_for(call.app, &call.id.to_ascii_lowercase());
    let rows: Vec<ClickView> = Db::for_binding(call.env, binding, "request")?
        .all(&get_click(&call.id))
        .await?;
    match rows.first() {
        Some(click) => Ok(respond_json(200, &json!({ "click": click.to_api_json() }))?),
        None => Err(ApiError::not_found("no such click")),
    }
}

async fn list_deliveries_route(call: &Call<'_>) -> ApiResult {
    let state = call.query.delivery_state()?;
    let rows: Vec<DeliveryView> = call
        .db
        .all(&list_deliveries(
            state,
            call.since,
            call.cursor.as_deref(),
            call.limit,
        ))
        .await?;
    let rows = rows.iter().map(DeliveryView::to_api_json).collect();
    page(call, rows, "delivery_id")
}

async fn replay_delivery_route(call: &Call<'_>) -> ApiResult {
    let rows: Vec<crate::store::DeliveryId> = call
        .db
        .all(&replay_delivery(&call.id, super::now_ms()))
        .await?;
    if rows.is_empty() {
        return Err(ApiError::not_found("no such delivery"));
    }
    replayed(call, rows)
}

async fn replay_deliveries_route(call: &Call<'_>) -> ApiResult {
    let state = call
        .query
        .delivery_state()?
        .unwrap_or(DeliveryState::Failed);
    let rows: Vec<crate::store::DeliveryId> = call
        .db
        .all(&replay_deliveries(state, call.since, super::now_ms()))
        .await?;
    replayed(call, rows)
}

/// Answers a replay and attempts the replayed deliveries right after the response.
fn replayed(call: &Call<'_>, rows: Vec<crate::store::DeliveryId>) -> ApiResult {
    let ids: Vec<String> = rows.into_iter().map(|row| row.0).collect();
    let body = json!({ "ok": true, "replayed": ids.len(), "delivery_ids": ids });
    if !ids.is_empty() {
        super::postback::deliver_after_response(call.ctx, call.env, ids);
    }
    Ok(respond_json(202, &body)?)
}

async fn list_campaigns_route(call: &Call<'_>) -> ApiResult {
    let mut items: Vec<Value> = call
        .app
        .config
        .campaigns
        .values()
        .map(|c| json!({ "id": c.id, "source": "static", "campaign": c.describe() }))
        .collect();
    let listed = call
        .env
        .kv(campaigns::BINDING)?
        .list()
        .prefix("campaign:".into())
        .execute()
        .await?;
    for key in listed.keys {
        let id = key.name.trim_start_matches("campaign:").to_string();
        let shadowed = call.app.config.campaigns.contains_key(&id);
        items.push(json!({ "id": id, "source": "kv", "shadowed_by_static": shadowed }));
    }
    Ok(respond_json(200, &json!({ "items": items }))?)
}

async fn get_campaign_route(call: &Call<'_>) -> ApiResult {
    match campaigns::find(call.app, call.env, &call.id).await? {
        Some((campaign, source)) => Ok(respond_json(
            200,
            &json!({ "id": call.id, "source": source.as_str(), "campaign": campaign.describe() }),
        )?),
        None => Err(ApiError::not_found("no such campaign")),
    }
}

fn static_campaign_wins(detail: &str) -> ApiError {
    ApiError::Client {
        status: 409,
        code: "static_campaign_wins",
        detail: detail.into(),
    }
}

async fn put_campaign_route(call: &mut Call<'_>) -> ApiResult {
    let id = call.id.clone();
    if call.app.config.campaigns.contains_key(&id) {
        return Err(static_campaign_wins(
            "a campaign with this id is in wrangler.toml; the static one always wins",
        ));
    }
    let body = call.request.bytes().await.unwrap_or_default();
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return Err(ApiError::bad_request(
            "the body must be a JSON campaign object",
        ));
    };
    // Time-filter zones are checked by the runtime's own rules (`Intl`), as the static
    // configuration's are at load.
    let checked = Campaign::from_runtime_json(&id, value).and_then(|campaign| {
        let rules = super::zones::IntlZones::default();
        campaign
            .check_zones(&rules, &format!("campaigns.{id}"))
            .map(|()| campaign)
    });
    match checked {
        Ok(campaign) => {
            let description = campaign.describe();
            call.env
                .kv(campaigns::BINDING)?
                .put(&campaigns::key(&id), crate::json::text(&description))?
                .execute()
                .await?;
            Ok(respond_json(
                200,
                &json!({ "ok": true, "id": id, "source": Source::Runtime.as_str(), "campaign": description,
                         "note": "edge locations may serve the previous version for up to 60 s" }),
            )?)
        }
        Err(errors) => Ok(respond_json(
            400,
            &json!({ "ok": false, "error": "invalid_campaign", "detail": errors.to_string(),
                     "errors": errors.0.iter().map(|e| json!({ "path": e.path, "reason": e.reason })).collect::<Vec<_>>() }),
        )?),
    }
}

async fn delete_campaign_route(call: &Call<'_>) -> ApiResult {
    if call.app.config.campaigns.contains_key(&call.id) {
        return Err(static_campaign_wins(
            "static campaigns are changed in wrangler.toml",
        ));
    }
    call.env
        .kv(campaigns::BINDING)?
        .delete(&campaigns::key(&call.id))
        .await?;
    Ok(respond_json(
        200,
        &json!({ "ok": true, "id": call.id, "deleted": true }),
    )?)
}

/// The largest integer a JavaScript number holds exactly (D1 binds numbers).
const MAX_SAFE: i64 = 9_007_199_254_740_991;

/// `GET`, `PUT` and `DELETE /api/costs` (docs/costs.md), one batch each: the list; the
/// entry stored unless another period overlaps, then what is there; the deletion.
async fn costs_route(call: &mut Call<'_>) -> ApiResult {
    use crate::cost::CostEntry;
    let id = call.route.id;
    let mut body = serde_json::Map::new();
    if id == RouteId::PutCost {
        let bytes = call.request.bytes().await.unwrap_or_default();
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(object)) => body = object,
            _ => return Err(ApiError::bad_request("the body must be a JSON object")),
        }
    } else {
        // A deletion names its entry in the query; its amount is not asked for.
        for name in ["campaign", "from", "to", "tz"] {
            if let Some(value) = call.query.get(name) {
                body.insert(name.into(), value.into());
            }
        }
        body.insert("amount".into(), "0".into());
        body.insert("currency".into(), "USD".into());
    }
    let entry = if id == RouteId::ListCosts {
        None
    } else {
        let zones = super::zones::IntlZones::default();
        let body = Value::Object(body);
        let entry = crate::cost::parse_entry(&zones, &body, &call.app.config.timezone)
            .map_err(ApiError::bad_request)?;
        Some(entry)
    };
    let statements = match &entry {
        None => vec![crate::store::list_cost_entries(
            call.query.get("campaign").as_deref(),
            -MAX_SAFE,
            MAX_SAFE,
        )],
        Some(entry) if id == RouteId::PutCost => {
            if campaigns::find(call.app, call.env, &entry.campaign)
                .await?
                .is_none()
            {
                return Err(ApiError::not_found("campaign: no such campaign"));
            }
            crate::store::put_cost_entry(entry)
        }
        Some(entry) => vec![crate::store::delete_cost_entry(
            &entry.campaign,
            entry.from_ms,
            entry.to_ms,
        )],
    };
    let results = call.db.batch(&statements).await?;
    let there: Vec<CostEntry> = rows_of(&results, statements.len().saturating_sub(1))?;
    let answer = match &entry {
        None => json!({ "entries": there.iter().map(CostEntry::describe).collect::<Vec<_>>() }),
        Some(_) if id == RouteId::DeleteCost => json!({ "ok": true, "deleted": true }),
        Some(entry) => {
            // Stored unless another entry of the campaign overlaps: name it.
            let same =
                |other: &&CostEntry| other.from_ms == entry.from_ms && other.to_ms == entry.to_ms;
            if let Some(other) = there.iter().find(|other| !same(other)) {
                return Err(ApiError::Client {
                    status: 409,
                    code: "overlapping_cost_entry",
                    detail: format!(
                        "the entry of {} from {} to {} ({}) overlaps this period: delete it \
                         first, or enter exactly its period",
                        other.campaign, other.from, other.to, other.tz
                    ),
                });
            }
            json!({ "ok": true, "entry": entry.describe() })
        }
    };
    Ok(respond_json(200, &answer)?)
}

/// The postback tester: a test click and a simulated postback through the whole
/// pipeline (click ID verification, parsing, the record step), all flagged `test`.
/// Test conversions make no deliveries; the answer lists the ones a real one would make.
/// What to send and store is decided in the core (`crate::tester`); this runs it.
async fn test_postback(call: &Call<'_>, body: &[u8]) -> ApiResult {
    let (app, db) = (call.app, call.db);
    let test = TestRequest::from_json(body)
        .map_err(|problem| ApiError::bad_request(format!("invalid tester request: {problem}")))?;
    let Some((campaign, _)) = campaigns::find(app, call.env, &test.campaign).await? else {
        return Err(ApiError::not_found("no such campaign"));
    };
    let Some(network) = tester::network_for(&app.config, &test, &campaign) else {
        return Err(ApiError::not_found("no such network"));
    };
    let now = super::now_ms();
    let click_id = app
        .click_secrets
        .mint_for(now, random()?, campaign.network.as_deref())
        .map_err(|_| ApiError::Client {
            status: 503,
            code: "internal_error",
            detail: "cannot mint a click ID now".into(),
        })?;
    let click = tester::test_click(&campaign, &click_id, now);
    super::click_databases::store(call.env, app, &[click], Vec::new(), "tester").await?;

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
            let source = test.source_ip.clone().or_else(|| client_ip(&call.request));
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
                    return Ok(respond_json(
                        200,
                        &json!({ "test": true, "auth": { "mode": "checked", "passed": false },
                                 "outcome": refusal.outcome.code(), "detail": refusal.detail, "click_id": click_id }),
                    )?)
                }
            }
        }
    };
    let secret_params: Vec<&str> = app.all_secret_params.iter().map(String::as_str).collect();
    let log = tester::test_log_entry(
        new_record_id(now, random()?),
        network,
        crate::json::text(&redacted_params(&params, &secret_params)),
        &click_id,
        now,
    );
    let mut draft = match app.evaluate(network, &params, now)? {
        Ok(draft) => draft,
        Err(refusal) => {
            return Ok(respond_json(
                200,
                &json!({ "test": true, "auth": auth, "outcome": refusal.outcome.code(), "detail": refusal.detail,
                         "click_id": click_id, "conversion": null, "planned_deliveries": [] }),
            )?)
        }
    };
    draft.is_test = true;
    let recorded = super::d1::record(
        db,
        &record_conversion(&draft, &log, &ReplayClaim::default()),
    )
    .await?;
    let mut conversion = recorded.conversion.clone();
    if let Some(waiting) = conversion
        .as_ref()
        .filter(|row| row.attributed_at.is_none() && super::click_databases::spread(app))
    {
        // The click is in a click database: complete the conversion from it, as the
        // postback path does after its response, and show the completed row.
        let ids = [waiting.click_id.clone()];
        super::click_databases::complete_from_clicks(call.env, app, &ids, "tester").await?;
        let results = db.batch(&get_conversion(&waiting.conversion_id)).await?;
        let rows: Vec<ConversionRow> = rows_of(&results, 0)?;
        conversion = rows.into_iter().next().or(conversion);
    }
    let outcome = Outcome::from_code(&recorded.outcome).unwrap_or(Outcome::InternalError);
    let planned = match tester::change_made(outcome) {
        Some(change_type) => planned_deliveries(
            &app.config.destinations,
            &campaign,
            &draft.event,
            draft.status,
            &network.name,
            change_type,
        ),
        None => Vec::new(),
    };
    Ok(respond_json(
        200,
        &json!({ "test": true, "auth": auth, "outcome": outcome.code(),
                 "detail": recorded.detail,
                 "click_id": click_id, "network": network.name, "campaign": campaign.id,
                 "conversion": conversion.as_ref().map(ConversionRow::to_api_json),
                 "planned_deliveries": planned }),
    )?)
}
