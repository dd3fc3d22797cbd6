//! `/api/…`: the admin API (SPEC §9), behind `Authorization: Bearer <ADMIN_TOKEN>`
//! compared in constant time.

use super::d1::Db;
use super::{respond_json, App};
use crate::crypto::constant_time_eq;
use crate::store::{
    list_conversions, replay_deliveries, replay_delivery, ConversionFilter, ConversionRow,
};
use serde_json::json;
use worker::{Context, Env, Method, Request, Response, Result};

/// Largest page.
const MAX_LIMIT: u32 = 500;
const DEFAULT_LIMIT: u32 = 50;

fn authorized(request: &Request, app: &App) -> bool {
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

pub async fn handle(
    request: &Request,
    app: &App,
    ctx: &Context,
    env: &Env,
    db: &Db,
    path: &[&str],
) -> Result<Response> {
    if !authorized(request, app) {
        let mut response = error(
            401,
            "unauthorized",
            "send Authorization: Bearer <ADMIN_TOKEN>",
        )?;
        response.headers_mut().set("www-authenticate", "Bearer")?;
        return Ok(response);
    }
    let url = request.url()?;
    let query = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .filter(|value| !value.is_empty())
    };
    match (request.method(), path) {
        (Method::Get, ["conversions"]) => {
            let limit = match query("limit").map(|text| text.parse::<u32>()) {
                None => DEFAULT_LIMIT,
                Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
                Some(_) => return error(400, "bad_request", "limit must be 1-500"),
            };
            let since_ms = match query("since").map(|text| text.parse::<i64>()) {
                None => None,
                Some(Ok(since)) => Some(since),
                Some(Err(_)) => {
                    return error(400, "bad_request", "since must be unix milliseconds")
                }
            };
            let filter = ConversionFilter {
                status: query("status"),
                campaign: query("campaign"),
                since_ms,
            };
            let cursor = query("cursor");
            let mut rows: Vec<ConversionRow> = db
                .all(&list_conversions(&filter, cursor.as_deref(), limit))
                .await?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let next_cursor = if more {
                rows.last().map(|row| row.conversion_id.clone())
            } else {
                None
            };
            let items: Vec<_> = rows.iter().map(ConversionRow::to_api_json).collect();
            respond_json(200, &json!({ "items": items, "next_cursor": next_cursor }))
        }
        (Method::Post, ["deliveries", "replay"]) => {
            let state = query("state").unwrap_or_else(|| "failed".into());
            if !["pending", "retrying", "delivered", "failed"].contains(&state.as_str()) {
                return error(
                    400,
                    "bad_request",
                    "state must be pending, retrying, delivered or failed",
                );
            }
            let since_ms = match query("since").map(|text| text.parse::<i64>()) {
                None => None,
                Some(Ok(since)) => Some(since),
                Some(Err(_)) => {
                    return error(400, "bad_request", "since must be unix milliseconds")
                }
            };
            let rows: Vec<serde_json::Value> = db
                .all(&replay_deliveries(&state, since_ms, super::now_ms()))
                .await?;
            replayed(ctx, env, rows)
        }
        (Method::Post, ["deliveries", id, "replay"]) => {
            let rows: Vec<serde_json::Value> =
                db.all(&replay_delivery(id, super::now_ms())).await?;
            if rows.is_empty() {
                return error(404, "not_found", "no such delivery");
            }
            replayed(ctx, env, rows)
        }
        _ => error(404, "not_found", "no such API route"),
    }
}

/// Answers a replay and attempts the replayed deliveries right after the response.
fn replayed(ctx: &Context, env: &Env, rows: Vec<serde_json::Value>) -> Result<Response> {
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
