//! Network profiles (design §5): how one affiliate network names its postback fields, which
//! status words it sends, and how its conversions are deduplicated.
//!
//! A profile starts from its preset (`super::presets`) and the keys in `wrangler.toml`
//! override it: a `params` list replaces the preset's list for that field; `status_map`
//! and `event_map` entries are added to (and win over) the preset's words.
//!
//! `auth` names secrets (set with `wrangler secret put`), never holds them.

use super::table::Table;
use super::{check_days, check_secret_name, Problems};
use crate::map::VecMap;
use crate::money::DecimalSeparator;
use crate::postback::auth::{
    parse_ip_rule, AuthChecks, HmacCheck, StandardWebhooksCheck, TokenCheck,
};
use serde::Deserialize;

/// `payout_max` when a network sets none, in units of its currency: above any real
/// commission, low enough that a payout sent in cents, a value with its thousands
/// separators read wrongly or a tampered amount is refused (`payout_out_of_range`)
/// rather than recorded. A network that pays more sets its own `payout_max`.
pub const DEFAULT_PAYOUT_MAX_UNITS: i64 = 100_000;

/// Canonical conversion statuses (design §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Approved,
    Rejected,
    Reversed,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Pending,
        Status::Approved,
        Status::Rejected,
        Status::Reversed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Reversed => "reversed",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
    }
}

/// How repeated postbacks are recognised (design §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DedupMode {
    #[default]
    Transaction,
    ClickEvent,
    None,
}

/// The reply format a network receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseFormat {
    #[default]
    Json,
    Text,
}

/// Accepted parameter names for each canonical field, most preferred first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldAliases {
    pub click_id: Vec<String>,
    pub payout: Vec<String>,
    pub transaction_id: Vec<String>,
    pub status: Vec<String>,
    pub event: Vec<String>,
    pub currency: Vec<String>,
}

const CANONICAL_FIELDS: &[&str] = &[
    "click_id",
    "payout",
    "transaction_id",
    "status",
    "event",
    "currency",
];

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| (*name).to_string()).collect()
}

impl FieldAliases {
    fn from_preset(preset: &super::presets::Preset) -> Self {
        FieldAliases {
            click_id: names(preset.click_id),
            payout: names(preset.payout),
            transaction_id: names(preset.transaction_id),
            status: names(preset.status),
            event: names(preset.event),
            currency: names(preset.currency),
        }
    }
}

#[derive(Debug)]
pub(super) struct RawNetwork {
    preset: Option<String>,
    default_status: Option<String>,
    default_event: Option<String>,
    dedup: DedupMode,
    lookback_days: Option<u32>,
    payout_max: Option<serde_json::Number>,
    allow_negative_payout: bool,
    decimal_separator: Option<String>,
    response: ResponseFormat,
    currency: Option<String>,
    params: VecMap<String, Vec<String>>,
    status_map: VecMap<String, Vec<String>>,
    event_map: VecMap<String, Vec<String>>,
    auth: Option<RawAuth>,
}

/// A network's keys, in the order serde's messages list them.
const NETWORK_FIELDS: &[&str] = &[
    "preset",
    "default_status",
    "default_event",
    "dedup",
    "lookback_days",
    "payout_max",
    "allow_negative_payout",
    "decimal_separator",
    "response",
    "currency",
    "params",
    "status_map",
    "event_map",
    "auth",
];

impl RawNetwork {
    /// The network table at `path`, read by hand (`super::table`); every problem of the
    /// table and its `auth` sub-tables is reported.
    pub(super) fn read(path: &str, value: serde_json::Value) -> Result<Self, super::ConfigErrors> {
        super::table::read_all(|problems| {
            let mut table =
                Table::read(problems, path, value, "struct RawNetwork", NETWORK_FIELDS)?;
            let preset = table.text("preset");
            let default_status = table.text("default_status");
            let default_event = table.text("default_event");
            let dedup = match table.choice("dedup", &["transaction", "click_event", "none"], false)
            {
                Some(1) => DedupMode::ClickEvent,
                Some(2) => DedupMode::None,
                _ => DedupMode::Transaction,
            };
            let lookback_days = table.take::<Option<u32>>("lookback_days").flatten();
            let payout_max = table.number("payout_max");
            let allow_negative_payout = table.flag("allow_negative_payout");
            let decimal_separator = table.text("decimal_separator");
            let response = match table.choice("response", &["json", "text"], false) {
                Some(1) => ResponseFormat::Text,
                _ => ResponseFormat::Json,
            };
            let currency = table.text("currency");
            let params = table.string_lists("params");
            let status_map = table.string_lists("status_map");
            let event_map = table.string_lists("event_map");
            let auth = table
                .table("auth", "struct RawAuth", AUTH_FIELDS, true)
                .and_then(RawAuth::read);
            let raw = RawNetwork {
                preset,
                default_status,
                default_event,
                dedup,
                lookback_days,
                payout_max,
                allow_negative_payout,
                decimal_separator,
                response,
                currency,
                params,
                status_map,
                event_map,
                auth,
            };
            table.finish().then_some(raw)
        })
    }
}

#[derive(Debug)]
struct RawAuth {
    ip_allowlist: Option<Vec<String>>,
    token: Option<RawToken>,
    hmac: Option<RawHmac>,
    standard_webhooks: Option<RawStandardWebhooks>,
}

const AUTH_FIELDS: &[&str] = &["ip_allowlist", "token", "hmac", "standard_webhooks"];
const TOKEN_FIELDS: &[&str] = &["secret", "param", "header"];
const HMAC_FIELDS: &[&str] = &["secret", "param", "timestamp_param", "tolerance_seconds"];
const STANDARD_WEBHOOKS_FIELDS: &[&str] = &["secret", "tolerance_seconds"];

impl RawAuth {
    fn read(mut table: Table<'_>) -> Option<Self> {
        let ip_allowlist = table.strings("ip_allowlist", true);
        let token = table
            .table("token", "struct RawToken", TOKEN_FIELDS, true)
            .and_then(|mut table| {
                let token = RawToken {
                    secret: table.required_text("secret").unwrap_or_default(),
                    param: table.text("param"),
                    header: table.text("header"),
                };
                table.finish().then_some(token)
            });
        let hmac = table
            .table("hmac", "struct RawHmac", HMAC_FIELDS, true)
            .and_then(|mut table| {
                let hmac = RawHmac {
                    secret: table.required_text("secret").unwrap_or_default(),
                    param: table.text_or("param", "sig"),
                    timestamp_param: table.text_or("timestamp_param", "ts"),
                    tolerance_seconds: table.u64_or("tolerance_seconds", DEFAULT_TOLERANCE),
                };
                table.finish().then_some(hmac)
            });
        let standard_webhooks = table
            .table(
                "standard_webhooks",
                "struct RawStandardWebhooks",
                STANDARD_WEBHOOKS_FIELDS,
                true,
            )
            .and_then(|mut table| {
                let sw = RawStandardWebhooks {
                    secret: table.required_text("secret").unwrap_or_default(),
                    tolerance_seconds: table.u64_or("tolerance_seconds", DEFAULT_TOLERANCE),
                };
                table.finish().then_some(sw)
            });
        let auth = RawAuth {
            ip_allowlist,
            token,
            hmac,
            standard_webhooks,
        };
        table.finish().then_some(auth)
    }
}

#[derive(Debug)]
struct RawToken {
    secret: String,
    param: Option<String>,
    header: Option<String>,
}

const DEFAULT_TOLERANCE: u64 = 300;

#[derive(Debug)]
struct RawHmac {
    secret: String,
    param: String,
    timestamp_param: String,
    tolerance_seconds: u64,
}

#[derive(Debug)]
struct RawStandardWebhooks {
    secret: String,
    tolerance_seconds: u64,
}

/// Longest accepted signature tolerance: one day.
const MAX_TOLERANCE_SECONDS: u64 = 86_400;

fn check_tolerance(problems: &mut Problems, path: &str, seconds: u64) {
    if seconds == 0 || seconds > MAX_TOLERANCE_SECONDS {
        problems.push(
            path,
            format!("must be between 1 and {MAX_TOLERANCE_SECONDS} seconds"),
        );
    }
}

fn resolve_auth(problems: &mut Problems, path: &str, raw: RawAuth) -> AuthChecks {
    let ip_allowlist = raw.ip_allowlist.map(|entries| {
        if entries.is_empty() {
            problems.push(format!("{path}.ip_allowlist"), "must not be empty");
        }
        entries
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| match parse_ip_rule(entry) {
                Ok(rule) => Some(rule),
                Err(reason) => {
                    problems.push(format!("{path}.ip_allowlist[{index}]"), reason);
                    None
                }
            })
            .collect()
    });
    let token = raw.token.map(|token| {
        check_secret_name(problems, &format!("{path}.token.secret"), &token.secret);
        let param = match (&token.param, &token.header) {
            (None, None) => Some("token".to_string()),
            _ => token.param,
        };
        TokenCheck {
            secret: token.secret,
            param,
            header: token.header,
        }
    });
    let hmac = raw.hmac.map(|hmac| {
        check_secret_name(problems, &format!("{path}.hmac.secret"), &hmac.secret);
        check_tolerance(
            problems,
            &format!("{path}.hmac.tolerance_seconds"),
            hmac.tolerance_seconds,
        );
        if hmac.param == hmac.timestamp_param || hmac.param.is_empty() {
            problems.push(
                format!("{path}.hmac.param"),
                "must be a parameter name other than timestamp_param",
            );
        }
        HmacCheck {
            secret: hmac.secret,
            param: hmac.param,
            timestamp_param: hmac.timestamp_param,
            tolerance_seconds: hmac.tolerance_seconds,
        }
    });
    let standard_webhooks = raw.standard_webhooks.map(|sw| {
        check_secret_name(
            problems,
            &format!("{path}.standard_webhooks.secret"),
            &sw.secret,
        );
        check_tolerance(
            problems,
            &format!("{path}.standard_webhooks.tolerance_seconds"),
            sw.tolerance_seconds,
        );
        StandardWebhooksCheck {
            secret: sw.secret,
            tolerance_seconds: sw.tolerance_seconds,
        }
    });
    if hmac.is_some() && standard_webhooks.is_some() {
        problems.push(
            path,
            "choose hmac (signed parameters) or standard_webhooks (signed JSON body), not both",
        );
    }
    AuthChecks {
        ip_allowlist,
        token,
        hmac,
        standard_webhooks,
    }
}

/// A validated network profile.
#[derive(Debug, Clone)]
pub struct Network {
    pub name: String,
    pub preset: String,
    pub default_status: Status,
    pub default_event: String,
    pub dedup: DedupMode,
    pub lookback_days: u32,
    pub payout_max_micros: i64,
    pub allow_negative_payout: bool,
    /// The declared decimal separator; `Either` refuses the ambiguous `1,000`.
    pub decimal_separator: DecimalSeparator,
    pub response: ResponseFormat,
    pub currency: Option<&'static str>,
    pub aliases: FieldAliases,
    /// Lower-case network value → canonical status.
    pub status_map: VecMap<String, Status>,
    /// Lower-case network value → canonical event.
    pub event_map: VecMap<String, String>,
    /// Per-request status words (Keitaro's `sale_status=…`): `(parameter, status)`.
    pub status_word_params: Vec<(String, Status)>,
    /// Network names to verify click IDs against, this one first (see `click_id`: a
    /// restricted click's tag binds its network).
    pub click_networks: Vec<String>,
    /// Authentication checks; empty means anyone who knows a click ID may convert it.
    pub auth: AuthChecks,
}

/// A canonical event name: `[a-z0-9_]{1,32}`.
pub fn is_event_slug(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 32
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

pub(super) fn resolve(
    problems: &mut Problems,
    path: &str,
    name: &str,
    raw: RawNetwork,
    global_lookback_days: u32,
) -> Option<Network> {
    let before = problems.0.len();
    super::check_name(problems, path, name);

    let preset_name = raw.preset.unwrap_or_else(|| "generic".into());
    let preset = super::presets::find(&preset_name).unwrap_or_else(|| {
        problems.push(
            format!("{path}.preset"),
            format!(
                "unknown preset \"{preset_name}\"; known: {}",
                super::presets::names().join(", ")
            ),
        );
        &super::presets::PRESETS[0]
    });
    let auth = raw
        .auth
        .map(|auth| resolve_auth(problems, &format!("{path}.auth"), auth))
        .unwrap_or_default();

    let mut status_from_config = |key: &str, text: &str| {
        Status::from_name(text).or_else(|| {
            problems.push(
                format!("{path}.{key}"),
                "must be one of pending, approved, rejected, reversed",
            );
            None
        })
    };
    let default_status = match raw.default_status {
        Some(text) => status_from_config("default_status", &text),
        None => Some(preset.default_status),
    };
    let mut status_map: VecMap<String, Status> = super::presets::COMMON_STATUS_WORDS
        .iter()
        .chain(preset.statuses)
        .map(|(word, status)| ((*word).to_string(), *status))
        .collect();
    for (canonical, values) in &raw.status_map {
        let Some(status) = status_from_config(&format!("status_map.{canonical}"), canonical) else {
            continue;
        };
        for value in values {
            status_map.insert(value.trim().to_lowercase(), status);
        }
    }

    let default_event = raw.default_event.unwrap_or_else(|| "conversion".into());
    if !is_event_slug(&default_event) {
        problems.push(
            format!("{path}.default_event"),
            "must be 1-32 characters of a-z, 0-9 or '_'",
        );
    }
    let mut event_map: VecMap<String, String> = preset
        .events
        .iter()
        .map(|(word, event)| ((*word).to_string(), (*event).to_string()))
        .collect();
    for (canonical, values) in &raw.event_map {
        if !is_event_slug(canonical) {
            problems.push(
                format!("{path}.event_map.{canonical}"),
                "event names must be 1-32 characters of a-z, 0-9 or '_'",
            );
        }
        for value in values {
            event_map.insert(value.trim().to_lowercase(), canonical.clone());
        }
    }

    let mut aliases = FieldAliases::from_preset(preset);
    for (field, list) in raw.params {
        let slot = match field.as_str() {
            "click_id" => &mut aliases.click_id,
            "payout" => &mut aliases.payout,
            "transaction_id" => &mut aliases.transaction_id,
            "status" => &mut aliases.status,
            "event" => &mut aliases.event,
            "currency" => &mut aliases.currency,
            _ => {
                problems.push(
                    format!("{path}.params.{field}"),
                    format!("unknown field; known: {}", CANONICAL_FIELDS.join(", ")),
                );
                continue;
            }
        };
        if list.is_empty() {
            problems.push(
                format!("{path}.params.{field}"),
                "must name at least one parameter",
            );
        }
        *slot = list;
    }

    // Only an explicit value is checked here; the inherited global one is checked once.
    if let Some(days) = raw.lookback_days {
        check_days(problems, &format!("{path}.lookback_days"), days);
    }
    let lookback_days = raw.lookback_days.unwrap_or(global_lookback_days);

    let payout_max_micros = match raw.payout_max {
        Some(number) => match crate::money::parse_payout_micros(&number.to_string(), false) {
            Ok(micros) => micros,
            Err(error) => {
                problems.push(format!("{path}.payout_max"), error.detail());
                0
            }
        },
        None => DEFAULT_PAYOUT_MAX_UNITS * crate::money::MICROS_PER_UNIT,
    };
    let decimal_separator = match raw.decimal_separator.as_deref() {
        None => DecimalSeparator::Either,
        Some(text) => DecimalSeparator::from_config(text).unwrap_or_else(|| {
            problems.push(
                format!("{path}.decimal_separator"),
                "must be \".\" or \",\" (leave it out to accept both, refusing the ambiguous 1,000)",
            );
            DecimalSeparator::Either
        }),
    };
    let currency = raw.currency.and_then(|code| {
        let found = crate::money::normalize_currency(&code);
        if found.is_none() {
            problems.push(format!("{path}.currency"), "not an ISO 4217 currency code");
        }
        found
    });

    if problems.0.len() > before {
        return None;
    }
    Some(Network {
        name: name.to_string(),
        preset: preset.name.to_string(),
        default_status: default_status?,
        default_event,
        dedup: raw.dedup,
        lookback_days,
        payout_max_micros,
        allow_negative_payout: raw.allow_negative_payout,
        decimal_separator,
        response: raw.response,
        currency,
        aliases,
        status_map,
        event_map,
        status_word_params: preset
            .status_word_params
            .iter()
            .map(|(param, status)| ((*param).to_string(), *status))
            .collect(),
        click_networks: Vec::new(),
        auth,
    })
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;
    use serde_json::json;

    fn network(fields: serde_json::Value) -> Result<Network, Vec<String>> {
        let value = json!({ "default_network": "n", "networks": { "n": fields } });
        Config::from_json(value)
            .map(|config| config.networks["n"].clone())
            .map_err(|errors| errors.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn defaults_and_overrides() {
        let found = network(json!({
            "default_status": "pending",
            "default_event": "lead",
            "dedup": "click_event",
            "lookback_days": 7,
            "payout_max": 500,
            "response": "text",
            "params": { "click_id": ["aff_sub"] },
            "status_map": { "approved": ["1", "Confirmed"], "rejected": ["3"] },
            "event_map": { "ftd": ["First_Deposit"] }
        }))
        .unwrap();
        assert_eq!(found.default_status, Status::Pending);
        assert_eq!(found.default_event, "lead");
        assert_eq!(found.dedup, DedupMode::ClickEvent);
        assert_eq!(found.lookback_days, 7);
        assert_eq!(found.payout_max_micros, 500_000_000);
        assert_eq!(found.response, ResponseFormat::Text);
        assert_eq!(found.aliases.click_id, ["aff_sub"]);
        assert_eq!(found.aliases.payout, ["payout", "amount", "sum", "revenue"]);
        assert_eq!(found.status_map["confirmed"], Status::Approved);
        // Common words come with every preset.
        assert_eq!(found.status_map["chargeback"], Status::Reversed);
        assert_eq!(found.event_map["first_deposit"], "ftd");
    }

    #[test]
    fn payout_defaults_and_the_decimal_separator() {
        let plain = network(json!({})).unwrap();
        assert_eq!(plain.payout_max_micros, 100_000_000_000);
        assert_eq!(plain.decimal_separator, DecimalSeparator::Either);
        let comma = network(json!({ "decimal_separator": "," })).unwrap();
        assert_eq!(comma.decimal_separator, DecimalSeparator::Comma);
        let dot = network(json!({ "decimal_separator": "." })).unwrap();
        assert_eq!(dot.decimal_separator, DecimalSeparator::Dot);
        let errors = network(json!({ "decimal_separator": ";" })).unwrap_err();
        assert!(
            errors[0].starts_with("EDGEBACK.networks.n.decimal_separator: must be"),
            "{errors:?}"
        );
    }

    #[test]
    fn unknown_presets_are_errors() {
        let errors = network(json!({ "preset": "nope" })).unwrap_err();
        assert!(
            errors[0].starts_with("EDGEBACK.networks.n.preset: unknown preset"),
            "{errors:?}"
        );
    }

    #[test]
    fn auth_is_typed_with_defaults() {
        let found = network(json!({ "auth": {
            "ip_allowlist": ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7", "192.0.2.10-20"],
            "token": { "secret": "TUNE_TOKEN", "param": "security_token", "header": "x-postback-token" },
            "hmac": { "secret": "TUNE_HMAC" }
        }}))
        .unwrap();
        assert_eq!(found.auth.ip_allowlist.as_ref().map(Vec::len), Some(4));
        let hmac = found.auth.hmac.clone().unwrap();
        assert_eq!(
            (
                hmac.param.as_str(),
                hmac.timestamp_param.as_str(),
                hmac.tolerance_seconds
            ),
            ("sig", "ts", 300)
        );
        assert_eq!(found.auth.secret_names(), ["TUNE_TOKEN", "TUNE_HMAC"]);
        let token_only = network(json!({ "auth": { "token": { "secret": "T" } } })).unwrap();
        assert_eq!(
            token_only.auth.token.unwrap().param.as_deref(),
            Some("token")
        );
    }

    #[test]
    fn auth_errors_name_their_keys() {
        let errors = network(json!({ "auth": {
            "ip_allowlist": ["203.0.113.0/24", "not-an-ip", "1.2.3.4/40"],
            "token": { "secret": "lower-case-value" },
            "hmac": { "secret": "H", "tolerance_seconds": 0, "param": "ts" },
            "standard_webhooks": { "secret": "SW" }
        }}))
        .unwrap_err();
        for prefix in [
            "EDGEBACK.networks.n.auth.ip_allowlist[1]: ",
            "EDGEBACK.networks.n.auth.ip_allowlist[2]: ",
            "EDGEBACK.networks.n.auth.token.secret: ",
            "EDGEBACK.networks.n.auth.hmac.tolerance_seconds: ",
            "EDGEBACK.networks.n.auth.hmac.param: ",
            "EDGEBACK.networks.n.auth: choose hmac",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(prefix)),
                "{prefix} in {errors:?}"
            );
        }
        let unknown = network(json!({ "auth": { "tokens": {} } })).unwrap_err();
        assert!(
            unknown[0].starts_with("EDGEBACK.networks.n.auth"),
            "{unknown:?}"
        );
    }

    #[test]
    fn presets_supply_defaults_that_keys_override() {
        let keitaro = network(json!({ "preset": "keitaro" })).unwrap();
        assert_eq!(keitaro.aliases.click_id, ["subid", "sub_id"]);
        assert_eq!(keitaro.status_map["lead"], Status::Pending);
        assert_eq!(keitaro.status_word_params.len(), 3);
        let affise = network(json!({
            "preset": "affise",
            "params": { "payout": ["revenue"] },
            "status_map": { "rejected": ["5"] }
        }))
        .unwrap();
        assert_eq!(affise.aliases.payout, ["revenue"]);
        assert_eq!(affise.aliases.click_id, ["clickid", "click_id"]);
        assert_eq!(affise.status_map["1"], Status::Approved);
        assert_eq!(
            affise.status_map["5"],
            Status::Rejected,
            "the configuration wins"
        );
    }

    #[test]
    fn bad_maps_name_their_keys() {
        let errors = network(json!({
            "default_status": "ok",
            "status_map": { "done": ["1"] },
            "event_map": { "First Deposit": ["x"] },
            "params": { "clickid": ["x"] }
        }))
        .unwrap_err();
        for prefix in [
            "EDGEBACK.networks.n.default_status: ",
            "EDGEBACK.networks.n.status_map.done: ",
            "EDGEBACK.networks.n.event_map.First Deposit: ",
            "EDGEBACK.networks.n.params.clickid: ",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(prefix)),
                "{prefix} in {errors:?}"
            );
        }
    }
}
