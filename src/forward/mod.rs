//! Forwarding (design §8): what each delivery sends. A delivery is one conversion change
//! (one version) for one destination; this module turns its stored facts into the exact
//! outbound request, and judges the reply (`schedule`). Pure: the clock is passed in.

pub mod schedule;
pub mod time;

use crate::config::{Destination, DestinationKind, PostbackMethod};
use crate::crypto::hmac_sha256;
use crate::money::format_micros;
use serde::{Deserialize, Serialize};

/// The two kinds of conversion change, as webhook `type`s, destination `types` filters
/// and the `deliveries.type` column (design §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChangeType {
    #[serde(rename = "conversion.created")]
    Created,
    #[serde(rename = "conversion.updated")]
    Updated,
}

impl ChangeType {
    pub const ALL: [ChangeType; 2] = [ChangeType::Created, ChangeType::Updated];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Created => "conversion.created",
            ChangeType::Updated => "conversion.updated",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        ChangeType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// Where a delivery stands (the `deliveries.state` column, the API's `state` filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not attempted yet, or replayed.
    Pending,
    /// Attempted, failed, due again.
    Retrying,
    Delivered,
    /// Out of attempts, or refused for good (410); kept and replayable.
    Failed,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 4] = [
        DeliveryState::Pending,
        DeliveryState::Retrying,
        DeliveryState::Delivered,
        DeliveryState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        DeliveryState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// Everything a delivery needs, as the claim query returns it: the delivery, the
/// conversion at the delivered version, the version before it, and the click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub delivery_id: String,
    pub destination: String,
    /// The `type` column.
    pub change_type: ChangeType,
    pub attempts: i64,
    pub attempt_base: i64,
    pub max_attempts: i64,
    pub conversion_id: String,
    pub version: i64,
    pub click_id: String,
    pub campaign: Option<String>,
    pub network: String,
    pub event: String,
    pub status: String,
    pub raw_status: Option<String>,
    pub payout_micros: i64,
    pub currency: String,
    pub transaction_id: Option<String>,
    pub clicked_at: i64,
    pub converted_at: i64,
    pub changed_at: i64,
    pub previous_status: Option<String>,
    pub previous_payout_micros: Option<i64>,
    pub external_id: Option<String>,
    pub country: Option<String>,
    pub subs: crate::click::SubIds,
    /// The click's flow choice (docs/flows.md), copied to its conversion.
    pub rule: Option<String>,
    pub lander: Option<String>,
    pub offer: Option<String>,
}

impl crate::store::FromRow for DeliveryRow {
    fn from_row(row: &crate::store::Row) -> Result<Self, String> {
        let c = crate::store::Columns::new(row);
        c.finish(Self {
            delivery_id: c.text("delivery_id"),
            destination: c.text("destination"),
            change_type: c.parsed("type", ChangeType::parse, ChangeType::Created),
            attempts: c.int("attempts"),
            attempt_base: c.int("attempt_base"),
            max_attempts: c.int("max_attempts"),
            conversion_id: c.text("conversion_id"),
            version: c.int("version"),
            click_id: c.text("click_id"),
            campaign: c.opt_text("campaign"),
            network: c.text("network"),
            event: c.text("event"),
            status: c.text("status"),
            raw_status: c.opt_text("raw_status"),
            payout_micros: c.int("payout_micros"),
            currency: c.text("currency"),
            transaction_id: c.opt_text("transaction_id"),
            clicked_at: c.int("clicked_at"),
            converted_at: c.int("converted_at"),
            changed_at: c.int("changed_at"),
            previous_status: c.opt_text("previous_status"),
            previous_payout_micros: c.opt_int("previous_payout_micros"),
            external_id: c.opt_text("external_id"),
            country: c.opt_text("country"),
            subs: c.subs("subs"),
            rule: c.opt_text("rule"),
            lander: c.opt_text("lander"),
            offer: c.opt_text("offer"),
        })
    }
}

impl DeliveryRow {
    /// The webhook-id: the same for every attempt and replay of this delivery.
    pub fn webhook_id(&self) -> String {
        format!("msg_{}", self.delivery_id)
    }
}

/// An outbound HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

#[derive(Serialize)]
struct Previous<'a> {
    status: &'a str,
    payout: String,
}

#[derive(Serialize)]
struct WebhookData<'a> {
    conversion_id: &'a str,
    version: i64,
    click_id: &'a str,
    campaign: Option<&'a str>,
    network: &'a str,
    event: &'a str,
    status: &'a str,
    raw_status: Option<&'a str>,
    payout: String,
    currency: &'a str,
    transaction_id: Option<&'a str>,
    external_id: Option<&'a str>,
    sub: serde_json::Map<String, serde_json::Value>,
    country: Option<&'a str>,
    rule: Option<&'a str>,
    lander: Option<&'a str>,
    offer: Option<&'a str>,
    clicked_at: String,
    converted_at: String,
    previous: Option<Previous<'a>>,
}

#[derive(Serialize)]
struct WebhookBody<'a> {
    #[serde(rename = "type")]
    change_type: ChangeType,
    timestamp: String,
    data: WebhookData<'a>,
}

/// The JSON body of design §8. It depends only on the delivery's stored facts, so every
/// attempt and replay of a delivery sends the same bytes.
pub fn webhook_body(row: &DeliveryRow) -> String {
    let sub = row.subs.to_map();
    let previous = match (&row.previous_status, row.previous_payout_micros) {
        (Some(status), Some(payout)) if row.change_type == ChangeType::Updated => Some(Previous {
            status,
            payout: format_micros(payout),
        }),
        _ => None,
    };
    let body = WebhookBody {
        change_type: row.change_type,
        timestamp: time::rfc3339(row.changed_at),
        data: WebhookData {
            conversion_id: &row.conversion_id,
            version: row.version,
            click_id: &row.click_id,
            campaign: row.campaign.as_deref(),
            network: &row.network,
            event: &row.event,
            status: &row.status,
            raw_status: row.raw_status.as_deref(),
            payout: format_micros(row.payout_micros),
            currency: &row.currency,
            transaction_id: row.transaction_id.as_deref(),
            external_id: row.external_id.as_deref(),
            sub,
            country: row.country.as_deref(),
            rule: row.rule.as_deref(),
            lander: row.lander.as_deref(),
            offer: row.offer.as_deref(),
            clicked_at: time::rfc3339(row.clicked_at),
            converted_at: time::rfc3339(row.converted_at),
            previous,
        },
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// The Standard Webhooks signature header value for `body`: `v1,<base64>` of
/// HMAC-SHA256(key, "{id}.{timestamp}.{body}"), the key being the base64-decoded part of
/// the `whsec_` secret. `None` if the secret is not a valid `whsec_` value.
pub fn webhook_signature(secret: &str, id: &str, timestamp: u64, body: &str) -> Option<String> {
    let key = decode_webhook_secret(secret)?;
    let mac = hmac_sha256(
        &key,
        &[
            id.as_bytes(),
            b".",
            timestamp.to_string().as_bytes(),
            b".",
            body.as_bytes(),
        ],
    );
    Some(format!("v1,{}", crate::base64::encode(&mac)))
}

/// The HMAC key of a `whsec_` secret (24 to 64 bytes).
pub fn decode_webhook_secret(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix("whsec_")?;
    crate::base64::decode(encoded).filter(|key| (24..=64).contains(&key.len()))
}

/// A payout for a URL: the shortest exact decimal (`12.5`, `3`, `0.000001`).
pub fn plain_decimal(micros: i64) -> String {
    let full = format_micros(micros);
    full.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The request for `row` to `destination` at `now_ms`. `secret` is the value of the
/// webhook's named secret.
pub fn plan_request(
    destination: &Destination,
    row: &DeliveryRow,
    secret: Option<&str>,
    now_ms: u64,
) -> Option<OutboundRequest> {
    match &destination.kind {
        DestinationKind::Webhook { url, .. } => {
            let body = webhook_body(row);
            let id = row.webhook_id();
            let timestamp = now_ms / 1000;
            let signature = webhook_signature(secret?, &id, timestamp, &body)?;
            Some(OutboundRequest {
                method: "POST",
                url: url.to_string(),
                headers: vec![
                    ("content-type", "application/json".into()),
                    ("webhook-id", id),
                    ("webhook-timestamp", timestamp.to_string()),
                    ("webhook-signature", signature),
                    ("user-agent", format!("edgeback/{}", crate::VERSION)),
                ],
                body: Some(body),
            })
        }
        DestinationKind::Postback { template, method } => {
            let payout = plain_decimal(row.payout_micros);
            let ts = (row.changed_at / 1000).to_string();
            let filled = template.render(|name| match name {
                "clickid" | "click_id" => Some(row.click_id.as_str()),
                "campaign" => row.campaign.as_deref(),
                "external_id" => row.external_id.as_deref(),
                "country" => row.country.as_deref(),
                "ts" => Some(ts.as_str()),
                "conversion_id" => Some(row.conversion_id.as_str()),
                "event" => Some(row.event.as_str()),
                "status" => Some(row.status.as_str()),
                "payout" => Some(payout.as_str()),
                "currency" => Some(row.currency.as_str()),
                "transaction_id" => row.transaction_id.as_deref(),
                "network" => Some(row.network.as_str()),
                other => row
                    .subs
                    .named()
                    .into_iter()
                    .find(|(sub, _)| *sub == other)
                    .and_then(|(_, value)| value.as_deref()),
            });
            let user_agent = ("user-agent", format!("edgeback/{}", crate::VERSION));
            match method {
                PostbackMethod::Get => Some(OutboundRequest {
                    method: "GET",
                    url: filled,
                    headers: vec![user_agent],
                    body: None,
                }),
                PostbackMethod::Post => {
                    let (url, query) = filled.split_once('?').unwrap_or((filled.as_str(), ""));
                    Some(OutboundRequest {
                        method: "POST",
                        url: url.to_string(),
                        headers: vec![
                            ("content-type", "application/x-www-form-urlencoded".into()),
                            user_agent,
                        ],
                        body: Some(query.to_string()),
                    })
                }
            }
        }
    }
}

/// The first KiB of a reply, cut at a character boundary, for the attempt record.
pub fn excerpt(reply: &str) -> String {
    crate::click::clip(reply, 1024)
}

/// The candidate destinations for a conversion change, with the filters only the record
/// step can apply (type, campaign), as the JSON the record batch reads.
pub fn candidates_json(
    destinations: &[Destination],
    event: &str,
    status: crate::config::Status,
    network: &str,
) -> String {
    let list: Vec<serde_json::Value> = destinations
        .iter()
        .filter(|destination| destination.may_match(event, status, network))
        .map(|destination| {
            serde_json::json!({
                "name": destination.name,
                "types": destination.types,
                "campaigns": destination.campaigns,
                "max_attempts": destination.max_attempts,
            })
        })
        .collect();
    crate::json::text(&serde_json::Value::Array(list))
}

#[cfg(test)]
mod tests;
