//! Static configuration (design §5): `[vars.EDGEBACK]` from `wrangler.toml`, read by the
//! adapter as JSON, turned here into typed values and validated as a whole. Every error
//! names the exact key path (`EDGEBACK.campaigns.summer.redirect`) and the reason.

mod campaign;
mod cost;
mod destination;
pub mod flow;
mod network;
pub mod presets;
pub(crate) mod table;

pub use campaign::{BotPolicy, Campaign, ClickField, RedirectKind, OFFER_MACROS};
pub use destination::{
    DeliverySettings, Destination, DestinationKind, PostbackMethod, CONVERSION_MACROS, MAX_ATTEMPTS,
};
pub use network::{is_event_slug, DedupMode, FieldAliases, Network, ResponseFormat, Status};

use crate::map::VecMap;

/// The name of the `[vars]` entry that holds the configuration.
pub const VAR_NAME: &str = "EDGEBACK";

/// One configuration problem: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// Every problem found in one configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Collects errors with their key paths while a configuration is checked.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<ConfigError>);

impl Problems {
    pub(crate) fn push(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            reason: reason.into(),
        });
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub default_network: String,
    pub lookback_days: u32,
    pub retention_days: u32,
    pub currency: &'static str,
    pub timezone: String,
    pub campaigns: VecMap<String, Campaign>,
    pub networks: VecMap<String, Network>,
    pub destinations: Vec<Destination>,
    pub delivery: DeliverySettings,
    pub diagnostics: Diagnostics,
    pub storage: Storage,
    /// Parameter names redacted in the postback log besides those that look like
    /// personal data or credentials (`postback::redact`), lower case, matched
    /// case-insensitively.
    pub redact: Vec<String>,
}

/// Most entries in `redact`: a postback has at most this many parameters anyway.
pub const MAX_REDACT_NAMES: usize = 100;
/// Longest name in `redact`, in bytes.
pub const MAX_REDACT_NAME_BYTES: usize = 128;

/// Switches for tests and local runs; all off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    /// Adds `x-edgeback-d1-queries` to the responses of requests that send
    /// `x-edgeback-diagnostics`: the D1 round trips made before the response (design §10
    /// budgets). Harmless, but noise in production.
    pub d1_query_header: bool,
    /// Serves `GET /_diagnostics/zone-days` (admin token required): the local days the
    /// worker computes with the runtime's zone rules, for the end-to-end test that
    /// checks them against chrono-tz. Costly by design (many zones, many years).
    pub zone_days: bool,
}

/// Where clicks are stored (design §10 "Past one database", docs/scale.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Storage {
    /// D1 bindings that hold clicks and their pre-aggregates, each click in the one its
    /// ID picks (`store::click_database_index`). Empty: every table in `DB`. The main
    /// database may be one of them. The list is fixed for the life of the stored clicks:
    /// changing it moves where existing IDs are looked up (docs/scale.md).
    pub click_databases: Vec<String>,
}

/// Most click databases: a report reads each one, in parallel, once.
pub const MAX_CLICK_DATABASES: usize = 16;

/// Whether `name` can be a D1 binding name: a JavaScript identifier of ASCII letters,
/// digits and `_`, not starting with a digit, at most 64 bytes.
pub fn is_binding_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_storage(problems: &mut Problems, path: &str, storage: &Storage) {
    if storage.click_databases.len() > MAX_CLICK_DATABASES {
        problems.push(
            format!("{path}.click_databases"),
            format!("at most {MAX_CLICK_DATABASES} databases"),
        );
    }
    for (index, name) in storage.click_databases.iter().enumerate() {
        if !is_binding_name(name) {
            problems.push(
                format!("{path}.click_databases[{index}]"),
                "not a D1 binding name (letters, digits and _, as in [[d1_databases]] binding)",
            );
        } else if storage
            .click_databases
            .iter()
            .take(index)
            .any(|other| other == name)
        {
            problems.push(
                format!("{path}.click_databases[{index}]"),
                format!("\"{name}\" is listed twice"),
            );
        }
    }
}

#[derive(Debug)]
struct RawConfig {
    default_network: String,
    lookback_days: u32,
    retention_days: u32,
    currency: String,
    timezone: String,
    // Campaigns, networks and destinations are read one by one (below), so a problem in
    // one is reported beside every other problem.
    campaigns: serde_json::Map<String, serde_json::Value>,
    networks: serde_json::Map<String, serde_json::Value>,
    destinations: Vec<serde_json::Value>,
    delivery: DeliverySettings,
    diagnostics: Diagnostics,
    storage: Storage,
    redact: Vec<String>,
}

/// The configuration's keys, in the order serde's messages list them.
const CONFIG_FIELDS: &[&str] = &[
    "default_network",
    "lookback_days",
    "retention_days",
    "currency",
    "timezone",
    "campaigns",
    "networks",
    "destinations",
    "delivery",
    "diagnostics",
    "storage",
    "redact",
];

impl RawConfig {
    /// The configuration's top table, read by hand (`table`): every problem of it and of
    /// its `delivery`, `diagnostics` and `storage` tables is reported.
    fn read(value: serde_json::Value) -> Result<Self, ConfigErrors> {
        table::read_all(|problems| {
            let mut top =
                table::Table::read(problems, VAR_NAME, value, "struct RawConfig", CONFIG_FIELDS)?;
            let default_network = top.text_or("default_network", "generic");
            let lookback_days = top.u32_or("lookback_days", 30);
            let retention_days = top.u32_or("retention_days", 90);
            let currency = top.text_or("currency", "USD");
            let timezone = top.text_or("timezone", "UTC");
            let campaigns = top.entries("campaigns");
            let networks = top.entries("networks");
            let destinations = top.values("destinations", false).unwrap_or_default();
            let delivery = top
                .table(
                    "delivery",
                    "struct DeliverySettings",
                    destination::DELIVERY_FIELDS,
                    false,
                )
                .and_then(DeliverySettings::read)
                .unwrap_or_default();
            let diagnostics = top
                .table(
                    "diagnostics",
                    "struct Diagnostics",
                    &["d1_query_header", "zone_days"],
                    false,
                )
                .and_then(|mut table| {
                    let diagnostics = Diagnostics {
                        d1_query_header: table.flag("d1_query_header"),
                        zone_days: table.flag("zone_days"),
                    };
                    table.finish().then_some(diagnostics)
                })
                .unwrap_or_default();
            let storage = top
                .table("storage", "struct Storage", &["click_databases"], false)
                .and_then(|mut table| {
                    let storage = Storage {
                        click_databases: table
                            .strings("click_databases", false)
                            .unwrap_or_default(),
                    };
                    table.finish().then_some(storage)
                })
                .unwrap_or_default();
            let redact = top.strings("redact", false).unwrap_or_default();
            let raw = RawConfig {
                default_network,
                lookback_days,
                retention_days,
                currency,
                timezone,
                campaigns,
                networks,
                destinations,
                delivery,
                diagnostics,
                storage,
                redact,
            };
            top.finish().then_some(raw)
        })
    }
}

/// Longest lookback or retention accepted, in days (ten years).
pub const MAX_DAYS: u32 = 3650;
const MS_PER_DAY: u64 = 86_400_000;

/// Milliseconds in `days` days.
pub fn days_to_ms(days: u32) -> u64 {
    u64::from(days) * MS_PER_DAY
}

/// Campaign and network names: what may appear in a URL path segment.
pub(crate) fn check_name(problems: &mut Problems, path: &str, name: &str) {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !valid {
        problems.push(path, "name must be 1-64 characters of a-z, 0-9, '_' or '-'");
    }
}

/// Whether `id` can name a campaign (a URL path segment of a-z, 0-9, '_', '-').
pub fn check_campaign_id(id: &str) -> Result<(), ConfigErrors> {
    let mut problems = Problems::default();
    check_name(&mut problems, "campaign", id);
    if problems.0.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(problems.0))
    }
}

/// An absolute http(s) URL with a host (offer, fallback and destination URLs).
pub(crate) fn http_url(text: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(text).map_err(|error| match error {
        // `url` runs without Unicode tables in this build (Cargo.toml, idna_adapter).
        url::ParseError::IdnaError => "not a URL: the host must be ASCII; write an \
            international domain name in its xn-- form"
            .to_string(),
        error => format!("not a URL: {error}"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".into());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("must have a host".into());
    }
    Ok(parsed)
}

/// A secret's name (never its value): what `wrangler secret put NAME` sets.
pub(crate) fn check_secret_name(problems: &mut Problems, path: &str, name: &str) {
    let valid = name.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        problems.push(
            path,
            "must name a secret (A-Z, 0-9, '_'), set with `wrangler secret put`; never the value",
        );
    }
}

pub(crate) fn check_days(problems: &mut Problems, path: &str, days: u32) {
    if days == 0 || days > MAX_DAYS {
        problems.push(path, format!("must be between 1 and {MAX_DAYS} days"));
    }
}

impl Config {
    /// Parses and validates the configuration from its JSON form.
    pub fn from_json(value: serde_json::Value) -> Result<Self, ConfigErrors> {
        let raw = RawConfig::read(value)?;
        let mut problems = Problems::default();
        let root = VAR_NAME;

        check_days(
            &mut problems,
            &format!("{root}.lookback_days"),
            raw.lookback_days,
        );
        check_days(
            &mut problems,
            &format!("{root}.retention_days"),
            raw.retention_days,
        );
        let currency = crate::money::normalize_currency(&raw.currency).unwrap_or_else(|| {
            problems.push(format!("{root}.currency"), "not an ISO 4217 currency code");
            "USD"
        });
        if !crate::zone::is_zone_name(&raw.timezone) {
            // Only the form: whether the zone exists is for the zone rules of where the
            // configuration runs to say (`Config::check_timezone`).
            problems.push(
                format!("{root}.timezone"),
                "not an IANA time zone name such as \"Europe/Berlin\"",
            );
        }

        if raw.redact.len() > MAX_REDACT_NAMES {
            problems.push(
                format!("{root}.redact"),
                format!("at most {MAX_REDACT_NAMES} names"),
            );
        }
        let mut redact = Vec::with_capacity(raw.redact.len());
        for (index, name) in raw.redact.iter().enumerate() {
            let trimmed = name.trim();
            if trimmed.is_empty() || trimmed.len() > MAX_REDACT_NAME_BYTES || trimmed != name {
                problems.push(
                    format!("{root}.redact[{index}]"),
                    format!(
                        "must be a parameter name of 1-{MAX_REDACT_NAME_BYTES} bytes without surrounding spaces"
                    ),
                );
            } else {
                redact.push(trimmed.to_lowercase());
            }
        }

        // Names are checked against every configured key, even one whose table has
        // errors of its own, so one mistake is not reported twice.
        let network_keys: Vec<String> = raw.networks.keys().cloned().collect();
        let campaign_keys: Vec<String> = raw.campaigns.keys().cloned().collect();
        let network_names: Vec<&str> = network_keys.iter().map(String::as_str).collect();
        let campaign_names: Vec<&str> = campaign_keys.iter().map(String::as_str).collect();
        let unknown_network = |name: &str| {
            format!(
                "names network \"{name}\", which is not configured under {root}.networks{}",
                crate::suggest::hint(name, network_names.iter().copied())
            )
        };

        let mut networks = VecMap::new();
        for (name, value) in raw.networks {
            let path = format!("{root}.networks.{name}");
            let raw_network = match network::RawNetwork::read(&path, value) {
                Ok(raw_network) => raw_network,
                Err(errors) => {
                    problems.0.extend(errors.0);
                    continue;
                }
            };
            if let Some(network) =
                network::resolve(&mut problems, &path, &name, raw_network, raw.lookback_days)
            {
                networks.insert(name, network);
            }
        }
        if !network_names.contains(&raw.default_network.as_str()) {
            problems.push(
                format!("{root}.default_network"),
                unknown_network(&raw.default_network),
            );
        }

        let mut campaigns = VecMap::new();
        for (id, value) in raw.campaigns {
            let path = format!("{root}.campaigns.{id}");
            let raw_campaign = match campaign::RawCampaign::read(&path, value) {
                Ok(raw_campaign) => raw_campaign,
                Err(errors) => {
                    problems.0.extend(errors.0);
                    continue;
                }
            };
            // Checked on the raw table: a campaign with other errors still names its network.
            if let Some(network) = &raw_campaign.network {
                if !network_names.contains(&network.as_str()) {
                    problems.push(format!("{path}.network"), unknown_network(network));
                }
            }
            if let Some(campaign) = campaign::resolve(&mut problems, &path, &id, raw_campaign) {
                campaigns.insert(id, campaign);
            }
        }

        destination::check_delivery(&mut problems, &format!("{root}.delivery"), &raw.delivery);
        check_storage(&mut problems, &format!("{root}.storage"), &raw.storage);
        let mut destinations: Vec<Destination> = Vec::new();
        for (index, value) in raw.destinations.into_iter().enumerate() {
            let path = format!("{root}.destinations[{index}]");
            let raw_destination = match destination::RawDestination::read(&path, value) {
                Ok(raw_destination) => raw_destination,
                Err(errors) => {
                    problems.0.extend(errors.0);
                    continue;
                }
            };
            if let Some(found) = destination::resolve(
                &mut problems,
                &path,
                raw_destination,
                &network_names,
                &campaign_names,
            ) {
                if destinations.iter().any(|other| other.name == found.name) {
                    problems.push(
                        format!("{path}.name"),
                        format!("\"{}\" is used twice", found.name),
                    );
                }
                destinations.push(found);
            }
        }

        // A click's network restriction is bound into its ID's tag (see `click_id`): each
        // network verifies click IDs as unrestricted, then as restricted to itself, then
        // to the others (only to say which network the click belongs to).
        let names: Vec<String> = networks.keys().cloned().collect();
        for (name, network) in networks.iter_mut() {
            network.click_networks = std::iter::once(name.clone())
                .chain(names.iter().filter(|other| *other != name).cloned())
                .collect();
        }

        // Clicks must outlive every window in which they can still convert.
        let longest_lookback = networks
            .iter()
            .map(|(name, network)| {
                (
                    format!("{root}.networks.{name}.lookback_days"),
                    network.lookback_days,
                )
            })
            .chain(std::iter::once((
                format!("{root}.lookback_days"),
                raw.lookback_days,
            )))
            .max_by_key(|(_, days)| *days);
        if let Some((key, days)) = longest_lookback {
            if days > raw.retention_days {
                problems.push(
                    format!("{root}.retention_days"),
                    format!(
                        "{} is shorter than {key} = {days}: clicks would be purged while \
                         they can still convert; raise retention_days to at least {days}",
                        raw.retention_days
                    ),
                );
            }
        }

        if !problems.0.is_empty() {
            return Err(ConfigErrors(problems.0));
        }
        Ok(Config {
            default_network: raw.default_network,
            lookback_days: raw.lookback_days,
            retention_days: raw.retention_days,
            currency,
            timezone: raw.timezone,
            campaigns,
            networks,
            destinations,
            delivery: raw.delivery,
            diagnostics: raw.diagnostics,
            storage: raw.storage,
            redact,
        })
    }

    /// Checks that `timezone` names a zone `rules` knows. The core has no zone database
    /// (design §13), so this is a second step: the worker runs it at load with the runtime's
    /// `Intl`, `check-config` with `chrono-tz`.
    pub fn check_timezone(&self, rules: &dyn crate::zone::ZoneRules) -> Result<(), ConfigErrors> {
        let mut problems = Problems::default();
        if let Err(reason) = crate::zone::check_zone(rules, &self.timezone) {
            problems.push(format!("{VAR_NAME}.timezone"), reason);
        }
        // The zones of flow time filters, by the same rules (docs/flows.md).
        for (id, campaign) in &self.campaigns {
            if let Err(errors) = campaign.check_zones(rules, &format!("{VAR_NAME}.campaigns.{id}"))
            {
                problems.0.extend(errors.0);
            }
        }
        if problems.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(problems.0))
        }
    }

    /// Parses and validates the configuration from JSON text.
    pub fn from_json_str(text: &str) -> Result<Self, ConfigErrors> {
        let value = serde_json::from_slice(text.as_bytes()).map_err(|error| {
            ConfigErrors(vec![ConfigError {
                path: VAR_NAME.into(),
                reason: format!("not valid JSON: {error}"),
            }])
        })?;
        Self::from_json(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> serde_json::Value {
        json!({
            "networks": { "generic": {} },
            "campaigns": { "summer": { "offer_url": "https://offer.example/lp?c={clickid}" } }
        })
    }

    fn errors(value: serde_json::Value) -> Vec<String> {
        Config::from_json(value)
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn hosts_are_ascii_and_international_names_come_punycoded() {
        let with_offer = |offer: &str| {
            json!({
                "networks": { "generic": {} },
                "campaigns": { "intl": { "offer_url": offer } }
            })
        };
        assert!(
            Config::from_json(with_offer("https://xn--bcher-kva.example/?c={clickid}")).is_ok()
        );
        let refused = errors(with_offer("https://bücher.example/?c={clickid}"));
        assert!(refused[0].contains("xn--"), "{refused:?}");
    }

    #[test]
    #[cfg(not(target_arch = "wasm32"))] // chrono-tz is native only
    fn the_timezone_is_checked_for_form_here_and_for_existence_by_zone_rules() {
        let with_zone = |zone: &str| json!({ "networks": { "generic": {} }, "timezone": zone });
        let berlin = Config::from_json(with_zone("Europe/Berlin")).unwrap();
        assert!(berlin.check_timezone(&crate::zone::tzdb::Tzdb).is_ok());
        let mars = Config::from_json(with_zone("Mars/Olympus")).unwrap();
        let refused = mars.check_timezone(&crate::zone::tzdb::Tzdb).unwrap_err();
        assert_eq!(refused.0[0].path, "EDGEBACK.timezone");
        assert_eq!(
            errors(with_zone("+01:00")),
            ["EDGEBACK.timezone: not an IANA time zone name such as \"Europe/Berlin\""]
        );
    }

    #[test]
    fn minimal_configuration_gets_defaults() {
        let config = Config::from_json(minimal()).unwrap();
        assert_eq!(config.default_network, "generic");
        assert_eq!(config.lookback_days, 30);
        assert_eq!(config.retention_days, 90);
        assert_eq!(config.currency, "USD");
        let summer = &config.campaigns["summer"];
        assert_eq!(summer.allowed_hosts, ["offer.example"]);
        assert_eq!(summer.redirect, RedirectKind::Found);
    }

    #[test]
    fn type_errors_name_the_key_path() {
        let mut value = minimal();
        value["campaigns"]["summer"]["redirect"] = json!("301");
        let found = errors(value);
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("EDGEBACK.campaigns.summer.redirect: "),
            "{found:?}"
        );
    }

    #[test]
    fn errors_are_located_in_arrays_and_past_fine_required_keys() {
        let mut value = minimal();
        value["campaigns"]["summer"]["payout"] = json!("lots");
        value["destinations"] = json!([
            { "name": "a", "kind": "postback", "url": "https://h.example/" },
            { "name": "b", "kind": "postback", "url": "https://h.example/", "max_attempts": "x" }
        ]);
        let found = errors(value.clone());
        // The campaigns come before the destinations; offer_url is required and fine.
        assert!(
            found[0].starts_with("EDGEBACK.campaigns.summer.payout: "),
            "{found:?}"
        );
        value["campaigns"]["summer"]["payout"] = json!(1);
        let found = errors(value);
        assert!(
            found[0].starts_with("EDGEBACK.destinations[1].max_attempts: "),
            "{found:?}"
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_path() {
        let mut value = minimal();
        value["campaigns"]["summer"]["offer_ur1"] = json!("x");
        let found = errors(value);
        assert!(
            found[0].starts_with("EDGEBACK.campaigns.summer"),
            "{found:?}"
        );
        assert!(found[0].contains("offer_ur1"), "{found:?}");
    }

    #[test]
    fn retention_must_outlive_every_lookback_window() {
        let errors = Config::from_json(json!({
            "retention_days": 1,
            "networks": { "generic": {}, "tune": { "preset": "tune", "lookback_days": 365 } }
        }))
        .unwrap_err()
        .to_string();
        assert!(
            errors.contains("EDGEBACK.retention_days: 1 is shorter than EDGEBACK.networks.tune.lookback_days = 365"),
            "{errors}"
        );
        let errors = Config::from_json(json!({
            "retention_days": 20, "networks": { "generic": {} }
        }))
        .unwrap_err()
        .to_string();
        assert!(errors.contains("lookback_days = 30"), "{errors}");
        assert!(Config::from_json(json!({
            "retention_days": 365,
            "networks": { "generic": {}, "tune": { "preset": "tune", "lookback_days": 365 } }
        }))
        .is_ok());
    }

    #[test]
    fn all_semantic_errors_are_reported_together() {
        let value = json!({
            "lookback_days": 0,
            "currency": "DOLLARS",
            "default_network": "nope",
            "networks": { "generic": {} },
            "campaigns": {
                "a": { "offer_url": "ftp://offer.example/" },
                "b": { "offer_url": "https://offer.example/?x={subid}" },
                "c": { "offer_url": "https://offer.example/", "network": "missing" },
                "Bad Name": { "offer_url": "https://offer.example/" }
            }
        });
        let found = errors(value);
        let expect = [
            "EDGEBACK.lookback_days: ",
            "EDGEBACK.currency: ",
            "EDGEBACK.default_network: ",
            "EDGEBACK.campaigns.a.offer_url: ",
            "EDGEBACK.campaigns.b.offer_url: unknown macro {subid}",
            "EDGEBACK.campaigns.c.network: ",
            "EDGEBACK.campaigns.Bad Name: ",
        ];
        for prefix in expect {
            assert!(
                found.iter().any(|e| e.starts_with(prefix)),
                "missing {prefix} in {found:?}"
            );
        }
        assert_eq!(found.len(), expect.len(), "{found:?}");
    }

    #[test]
    fn the_redact_list_is_validated_with_key_paths() {
        let mut value = minimal();
        value["redact"] = json!(["Player_Ref", "order_note"]);
        let config = Config::from_json(value).unwrap();
        assert_eq!(config.redact, ["player_ref", "order_note"]);
        assert!(Config::from_json(minimal()).unwrap().redact.is_empty());
        let mut value = minimal();
        value["redact"] = json!(["ok", "", " padded", "x".repeat(129)]);
        let found = errors(value);
        for prefix in [
            "EDGEBACK.redact[1]: ",
            "EDGEBACK.redact[2]: ",
            "EDGEBACK.redact[3]: ",
        ] {
            assert!(
                found.iter().any(|e| e.starts_with(prefix)),
                "{prefix} in {found:?}"
            );
        }
        assert_eq!(found.len(), 3, "{found:?}");
        let mut value = minimal();
        value["redact"] = json!("email");
        assert!(errors(value)[0].starts_with("EDGEBACK.redact"));
    }

    #[test]
    fn destinations_as_the_spec_shows_them() {
        let mut value = minimal();
        value["destinations"] = json!([
            {
                "name": "crm", "kind": "webhook", "url": "https://crm.example/hooks/edgeback",
                "secret": "CRM_WEBHOOK_SECRET", "types": ["conversion.created", "conversion.updated"],
                "statuses": ["approved", "reversed"]
            },
            {
                "name": "propeller", "kind": "postback", "method": "GET",
                "url": "https://ads.example/conv?visitor_id={external_id}&payout={payout}&status={status}",
                "statuses": ["approved"], "campaigns": ["summer"], "max_attempts": 3
            }
        ]);
        let config = Config::from_json(value).unwrap();
        assert_eq!(config.destinations.len(), 2);
        assert_eq!(config.destinations[1].max_attempts, 3);
        assert_eq!(
            config.destinations[0].secret_name(),
            Some("CRM_WEBHOOK_SECRET")
        );
        assert!(config.destinations[0].may_match("sale", Status::Approved, "generic"));
        assert!(!config.destinations[0].may_match("sale", Status::Pending, "generic"));
        assert_eq!(
            config.delivery.retry_schedule_seconds,
            [5, 300, 1800, 7200, 18_000, 36_000, 36_000]
        );
    }

    #[test]
    fn structural_errors_are_listed_beside_semantic_ones_with_near_misses_named() {
        let found = errors(json!({
            "default_network": "generc",
            "networks": { "generic": {}, "tune": { "preset": "tune", "payout_max": "lots" } },
            "campaigns": {
                "a": { "ofer_url": "https://offer.example/" },
                "b": { "offer_url": "https://offer.example/?c={clikcid}&s={sub11}", "network": "tnue" },
                "c": { "offer_url": "https://offer.example/", "payout": [1] }
            },
            "destinations": [{ "name": "d", "kind": "postback", "url": "https://t.example/", "campaigns": ["bb"], "networks": ["tune"] }]
        }));
        for expected in [
            "EDGEBACK.networks.tune.payout_max: invalid type",
            "EDGEBACK.default_network: names network \"generc\", which is not configured under EDGEBACK.networks (did you mean \"generic\"?)",
            "EDGEBACK.campaigns.a.ofer_url: unknown field `ofer_url`",
            "EDGEBACK.campaigns.b.offer_url: unknown macro {clikcid} (did you mean {clickid}?), unknown macro {sub11} (did you mean {sub1}?)",
            "EDGEBACK.campaigns.b.network: names network \"tnue\", which is not configured under EDGEBACK.networks (did you mean \"tune\"?)",
            "EDGEBACK.campaigns.c.payout: invalid type",
            "EDGEBACK.destinations[0].campaigns[0]: \"bb\" is not a configured campaign (did you mean \"b\"?)",
        ] {
            assert!(found.iter().any(|e| e.starts_with(expected)), "{expected}\n{found:#?}");
        }
        assert!(
            found.iter().any(|e| e
                .starts_with("EDGEBACK.campaigns.a.ofer_url: unknown field `ofer_url`")
                && e.ends_with("(did you mean \"offer_url\"?)")),
            "{found:#?}"
        );
        // A network with a type error is still a configured name: no second error.
        assert!(
            !found.iter().any(|e| e.contains("destinations[0].networks")),
            "{found:#?}"
        );
        assert_eq!(found.len(), 7, "{found:#?}");
    }

    #[test]
    fn destination_errors_name_their_keys() {
        let mut value = minimal();
        value["destinations"] = json!([
            { "name": "a", "kind": "webhook", "url": "ftp://x" },
            { "name": "a", "kind": "postback", "url": "https://t.example/?c={clikid}", "secret": "S" },
            { "name": "b", "kind": "postback", "url": "https://t.example/", "types": ["conversion.deleted"],
              "statuses": ["ok"], "campaigns": ["nope"], "networks": ["nope"], "events": ["Bad Event"], "max_attempts": 9 },
            { "name": "c", "kind": "carrier-pigeon", "url": "https://t.example/" }
        ]);
        value["delivery"] = json!({ "cron_batch": 60 });
        let found = errors(value);
        // The unknown kind is a type error of one destination: reported with its path,
        // beside every problem of the others (and the delivery settings).
        assert_eq!(found.len(), 12, "{found:?}");
        assert!(
            found
                .last()
                .unwrap()
                .starts_with("EDGEBACK.destinations[3].kind: unknown variant `carrier-pigeon`"),
            "{found:?}"
        );
        assert!(found
            .iter()
            .any(|e| e.starts_with("EDGEBACK.delivery.cron_batch")));

        let mut value = minimal();
        value["destinations"] = json!([
            { "name": "a", "kind": "webhook", "url": "ftp://x" },
            { "name": "a", "kind": "postback", "url": "https://t.example/?c={clikid}", "secret": "S" },
            { "name": "b", "kind": "postback", "url": "https://t.example/", "types": ["conversion.deleted"],
              "statuses": ["ok"], "campaigns": ["nope"], "networks": ["nope"], "events": ["Bad Event"], "max_attempts": 9 },
            { "name": "d", "kind": "postback", "url": "https://t.example/" },
            { "name": "d", "kind": "postback", "url": "https://t.example/" }
        ]);
        value["delivery"] = json!({ "cron_batch": 60 });
        let found = errors(value);
        for prefix in [
            "EDGEBACK.destinations[0].secret: ",
            "EDGEBACK.destinations[0].url: ",
            "EDGEBACK.destinations[1].secret: ",
            "EDGEBACK.destinations[1].url: unknown macro {clikid}",
            "EDGEBACK.destinations[2].types[0]: ",
            "EDGEBACK.destinations[2].statuses[0]: ",
            "EDGEBACK.destinations[2].campaigns[0]: ",
            "EDGEBACK.destinations[2].networks[0]: ",
            "EDGEBACK.destinations[2].events[0]: ",
            "EDGEBACK.destinations[2].max_attempts: ",
            "EDGEBACK.destinations[4].name: ",
            "EDGEBACK.delivery.cron_batch: ",
        ] {
            assert!(
                found.iter().any(|e| e.starts_with(prefix)),
                "{prefix} in {found:?}"
            );
        }
    }

    /// Issue 11 item 6: a macro may never choose where a delivery goes.
    #[test]
    fn destination_macros_never_in_scheme_host_or_port() {
        let mut value = minimal();
        value["destinations"] = json!([
            { "name": "ok", "kind": "postback", "url": "https://t.example:8443/c?v={sub3}&p={payout}" },
            { "name": "host", "kind": "postback", "url": "http://{sub3}:8899/x?c={clickid}" },
            { "name": "port", "kind": "postback", "url": "https://t.example:{sub3}/" },
            { "name": "sub", "kind": "postback", "url": "https://{network}.t.example/" },
            { "name": "scheme", "kind": "postback", "url": "{sub1}://t.example/" }
        ]);
        let found = errors(value);
        for index in 1..=4 {
            let prefix = format!("EDGEBACK.destinations[{index}].url: macro {{");
            assert!(
                found
                    .iter()
                    .any(|e| e.starts_with(&prefix) && e.contains("scheme, host or port")),
                "{prefix} in {found:?}"
            );
        }
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(
            found[0].starts_with(
                "EDGEBACK.destinations[1].url: macro {sub3} is in the scheme, host or port"
            ),
            "{found:?}"
        );
    }
}
