//! Campaign lookup: static campaigns (wrangler.toml) first, then run-time ones in KV
//! (design §5, §9), read at the edge with a cache TTL. Neither touches D1.

use super::App;
use crate::config::Campaign;
use std::borrow::Cow;
use worker::{Env, Result};

/// The KV binding that holds run-time campaigns.
pub const BINDING: &str = "CAMPAIGNS";
/// How long an edge location may serve a cached KV read (KV's minimum is 60 s).
pub const CACHE_TTL_SECONDS: u64 = 60;

pub fn key(id: &str) -> String {
    format!("campaign:{id}")
}

/// Where a campaign came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Static,
    Runtime,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Static => "static",
            Source::Runtime => "kv",
        }
    }
}

/// The campaign `id`: the static one if it exists (it wins), else the KV one. A KV entry
/// that no longer validates is treated as absent, and logged.
pub async fn find<'a>(
    app: &'a App,
    env: &Env,
    id: &str,
) -> Result<Option<(Cow<'a, Campaign>, Source)>> {
    if let Some(campaign) = app.config.campaigns.get(id) {
        return Ok(Some((Cow::Borrowed(campaign), Source::Static)));
    }
    if crate::config::check_campaign_id(id).is_err() {
        return Ok(None);
    }
    let stored: Option<serde_json::Value> = env
        .kv(BINDING)?
        .get(&key(id))
        .cache_ttl(CACHE_TTL_SECONDS)
        .json()
        .await
        .map_err(|error| worker::Error::RustError(error.to_string()))?;
    let Some(value) = stored else { return Ok(None) };
    match Campaign::from_runtime_json(id, value) {
        Ok(campaign) => Ok(Some((Cow::Owned(campaign), Source::Runtime))),
        Err(errors) => {
            worker::console_error!("edgeback: run-time campaign {id} is invalid: {errors}");
            Ok(None)
        }
    }
}
