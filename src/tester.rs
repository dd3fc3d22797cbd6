//! The postback tester (design §9): what a simulated postback sends and which deliveries a
//! conversion change would make. The adapter runs the real pipeline around it.

use crate::config::{Campaign, Destination, DestinationKind, Network, PostbackMethod};
use crate::map::VecMap;

/// Whether the tester runs the network's authentication checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Skip them, and say so in the answer.
    #[default]
    Bypass,
    /// Run them on the given parameters, headers and source address.
    Check,
}

/// `POST /api/test-postback` body.
#[derive(Debug, Clone)]
pub struct TestRequest {
    pub campaign: String,
    pub network: Option<String>,
    /// Postback parameters besides the click ID (payout, status, txid …).
    pub params: VecMap<String, String>,
    pub auth: AuthMode,
    pub source_ip: Option<String>,
    pub headers: VecMap<String, String>,
}

const TEST_REQUEST_FIELDS: &[&str] = &[
    "campaign",
    "network",
    "params",
    "auth",
    "source_ip",
    "headers",
];

impl TestRequest {
    /// The request body as JSON, read by hand (`config::table`, as the configuration
    /// is: a serde derive would add its own decoder to the worker); every problem is
    /// named with its key (`body.auth: unknown variant …`).
    pub fn from_json(body: &[u8]) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|error| error.to_string())?;
        crate::config::table::read_all(|problems| {
            let mut table = crate::config::table::Table::read(
                problems,
                "body",
                value,
                "struct TestRequest",
                TEST_REQUEST_FIELDS,
            )?;
            let campaign = table.required_text("campaign");
            let request = TestRequest {
                campaign: String::new(),
                network: table.text("network"),
                params: table.string_map("params").unwrap_or_default(),
                auth: match table.choice("auth", &["bypass", "check"], false) {
                    Some(1) => AuthMode::Check,
                    _ => AuthMode::Bypass,
                },
                source_ip: table.text("source_ip"),
                headers: table.string_map("headers").unwrap_or_default(),
            };
            if !table.finish() {
                return None;
            }
            Some(TestRequest {
                campaign: campaign?,
                ..request
            })
        })
        .map_err(|errors| errors.to_string())
    }
}

/// The postback parameters: the click ID under the network's first click-ID name, then
/// the given ones (a given click ID wins: testing a wrong one is allowed).
pub fn postback_params(
    network: &Network,
    click_id: &str,
    given: &VecMap<String, String>,
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> =
        given.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let click_param = network
        .aliases
        .click_id
        .first()
        .cloned()
        .unwrap_or_else(|| "clickid".into());
    if !params
        .iter()
        .any(|(name, _)| network.aliases.click_id.contains(name))
    {
        params.insert(0, (click_param, click_id.to_string()));
    }
    params
}

/// The network a test runs as: the one asked for, else the campaign's, else the default.
pub fn network_for<'a>(
    config: &'a crate::config::Config,
    test: &TestRequest,
    campaign: &Campaign,
) -> Option<&'a Network> {
    let name = test
        .network
        .clone()
        .or_else(|| campaign.network.clone())
        .unwrap_or_else(|| config.default_network.clone());
    config.networks.get(&name)
}

/// The tester's click row: flagged `test` (left out of reports and lists), with the
/// campaign's defaults, and no visitor data.
pub fn test_click(campaign: &Campaign, click_id: &str, now_ms: u64) -> crate::store::ClickRow {
    let record = crate::click::ClickRecord {
        click_id: click_id.to_string(),
        campaign: campaign.id.clone(),
        created_at_ms: now_ms,
        subs: Default::default(),
        external_id: None,
        country: None,
        asn: None,
        colo: None,
        user_agent: Some("edgeback postback tester".into()),
        ip_hash: None,
        bot_reason: None,
        rule: None,
        offer: None,
        lander: None,
        landed_at_ms: None,
        region: None,
        agent: crate::user_agent::classify(None),
    };
    crate::store::click_row(&record, campaign.payout_micros, campaign.currency, true)
}

/// The tester's postback-log entry (`params` already redacted).
pub fn test_log_entry(
    postback_id: String,
    network: &Network,
    params: String,
    click_id: &str,
    now_ms: u64,
) -> crate::store::LogEntry {
    crate::store::LogEntry {
        postback_id,
        received_at_ms: now_ms,
        network: Some(network.name.clone()),
        source_ip: Some("tester".into()),
        method: "TEST".into(),
        params,
        detail: Some("postback tester".into()),
        click_id: Some(click_id.to_string()),
    }
}

/// The change a recorded outcome made, if any (what the planned deliveries are for).
pub fn change_made(outcome: crate::postback::Outcome) -> Option<crate::forward::ChangeType> {
    use crate::postback::Outcome;
    match outcome {
        Outcome::Accepted => Some(crate::forward::ChangeType::Created),
        Outcome::Updated => Some(crate::forward::ChangeType::Updated),
        _ => None,
    }
}

/// One delivery the change would make.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedDelivery {
    pub destination: String,
    pub kind: &'static str,
    pub method: &'static str,
    pub url: String,
}

/// The deliveries a change of `change_type` on `campaign` would make (every filter).
pub fn planned_deliveries(
    destinations: &[Destination],
    campaign: &Campaign,
    event: &str,
    status: crate::config::Status,
    network: &str,
    change_type: crate::forward::ChangeType,
) -> Vec<PlannedDelivery> {
    destinations
        .iter()
        .filter(|d| d.may_match(event, status, network))
        .filter(|d| {
            d.types
                .as_ref()
                .is_none_or(|types| types.contains(&change_type))
        })
        .filter(|d| {
            d.campaigns
                .as_ref()
                .is_none_or(|list| list.contains(&campaign.id))
        })
        .map(|d| match &d.kind {
            DestinationKind::Webhook { url, .. } => PlannedDelivery {
                destination: d.name.clone(),
                kind: "webhook",
                method: "POST",
                url: url.to_string(),
            },
            DestinationKind::Postback { template, method } => PlannedDelivery {
                destination: d.name.clone(),
                kind: "postback",
                method: match method {
                    PostbackMethod::Get => "GET",
                    PostbackMethod::Post => "POST",
                },
                // The template as configured; values are filled when it is sent.
                url: template.as_text(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Status};
    use serde_json::json;

    #[test]
    fn params_and_plans() {
        let config = Config::from_json(json!({
            "networks": { "generic": {}, "tune": { "preset": "tune" } },
            "campaigns": { "summer": { "offer_url": "https://o.example/" }, "winter": { "offer_url": "https://o.example/" } },
            "destinations": [
                { "name": "all", "kind": "postback", "url": "https://t.example/?v={external_id}" },
                { "name": "updates", "kind": "postback", "url": "https://t.example/", "types": ["conversion.updated"] },
                { "name": "winter", "kind": "postback", "url": "https://t.example/", "campaigns": ["winter"] }
            ]
        }))
        .unwrap();
        let tune = &config.networks["tune"];
        let params = postback_params(
            tune,
            "ck",
            &VecMap::from([("payout".to_string(), "5".to_string())]),
        );
        assert_eq!(params[0], ("aff_sub".to_string(), "ck".to_string()));
        let given = VecMap::from([("aff_sub".to_string(), "other".to_string())]);
        assert_eq!(
            postback_params(tune, "ck", &given),
            [("aff_sub".to_string(), "other".to_string())]
        );
        let plans = planned_deliveries(
            &config.destinations,
            &config.campaigns["summer"],
            "conversion",
            Status::Approved,
            "tune",
            crate::forward::ChangeType::Created,
        );
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].url, "https://t.example/?v={external_id}");
    }

    #[test]
    fn requests_are_strict() {
        let read = |value: serde_json::Value| TestRequest::from_json(value.to_string().as_bytes());
        assert_eq!(
            read(json!({ "campaign": "x", "auth": "check" })).map(|test| test.auth),
            Ok(AuthMode::Check)
        );
        assert!(read(json!({ "campaign": "x", "auth": "skip" })).is_err());
        assert!(read(json!({ "campaign": "x", "extra": 1 })).is_err());
    }
}
