//! Campaigns (design §4, §5): where a click goes and how.

use super::{check_name, http_url, Problems};
use crate::flow::{Pool, Rule};
use crate::map::VecMap;
use crate::template::UrlTemplate;

/// Macros an offer URL may use (design §4).
pub const OFFER_MACROS: &[&str] = &[
    "clickid",
    "click_id",
    "campaign",
    "sub1",
    "sub2",
    "sub3",
    "sub4",
    "sub5",
    "sub6",
    "sub7",
    "sub8",
    "sub9",
    "sub10",
    "external_id",
    "country",
    "ts",
];

/// Longest `offer_url` and `fallback_url`, in bytes: longer than any real offer link,
/// short enough that a filled-in URL stays far below what browsers and servers take.
pub const MAX_CAMPAIGN_URL_BYTES: usize = 2048;
/// Most `allowed_hosts` entries.
pub const MAX_ALLOWED_HOSTS: usize = 20;
/// Longest host name (RFC 1035), not counting a leading `*.`.
pub const MAX_HOST_BYTES: usize = 253;
/// Most `params` aliases (each a click parameter name the traffic source uses).
pub const MAX_PARAM_ALIASES: usize = 50;
/// Longest alias name in `params`, in bytes.
pub const MAX_ALIAS_BYTES: usize = 64;

/// How a click is sent on to the offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedirectKind {
    /// `302`.
    #[default]
    Found,
    /// `307`.
    Temporary,
    /// `meta`: a small HTML page with `<meta http-equiv="refresh">`: hides the referrer
    /// chain from some in-app browsers.
    MetaRefresh,
}

/// `redirect`'s values, in the order of [`REDIRECT_KINDS`].
const REDIRECT_NAMES: &[&str] = &["302", "307", "meta"];
const REDIRECT_KINDS: [RedirectKind; 3] = [
    RedirectKind::Found,
    RedirectKind::Temporary,
    RedirectKind::MetaRefresh,
];

/// What happens to a click flagged as a bot or a prefetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BotPolicy {
    /// Record it (flagged) and redirect as usual.
    #[default]
    Redirect,
    /// Record it (flagged) and answer 403 without the offer URL.
    Block,
}

/// A click parameter that a campaign alias can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClickField {
    /// `sub1`…`sub10`, stored as 1…10.
    Sub(u8),
    ExternalId,
}

impl ClickField {
    /// The canonical parameter name.
    pub fn from_name(name: &str) -> Option<Self> {
        if name == "external_id" {
            return Some(ClickField::ExternalId);
        }
        let digits = name.strip_prefix("sub")?;
        if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let number: u8 = digits.parse().ok()?;
        (1..=10)
            .contains(&number)
            .then_some(ClickField::Sub(number))
    }
}

#[derive(Debug)]
pub(super) struct RawCampaign {
    offer_url: Option<String>,
    /// A weighted default pool instead of `offer_url` (docs/flows.md).
    offers: Option<Vec<serde_json::Value>>,
    /// Landing pages in front of the default pool's offers (docs/flows.md).
    lander_url: Option<String>,
    landers: Option<Vec<serde_json::Value>>,
    sticky: bool,
    /// Ordered rules, each checked on its own so every rule's problems are reported.
    rules: Vec<serde_json::Value>,
    allowed_hosts: Option<Vec<String>>,
    redirect: RedirectKind,
    pub(super) network: Option<String>,
    params: VecMap<String, String>,
    payout: Option<serde_json::Number>,
    currency: Option<String>,
    /// The cost table (docs/costs.md), read by `super::cost`.
    cost: Option<serde_json::Value>,
    bots: BotPolicy,
    paused: bool,
    fallback_url: Option<String>,
}

/// A campaign's keys, in the order serde's messages list them.
const CAMPAIGN_FIELDS: &[&str] = &[
    "offer_url",
    "offers",
    "lander_url",
    "landers",
    "sticky",
    "rules",
    "allowed_hosts",
    "redirect",
    "network",
    "params",
    "payout",
    "currency",
    "cost",
    "bots",
    "paused",
    "fallback_url",
];

impl RawCampaign {
    /// The campaign table at `path`, read by hand (`super::table`); every problem of
    /// the table is reported.
    pub(super) fn read(path: &str, value: serde_json::Value) -> Result<Self, super::ConfigErrors> {
        super::table::read_all(|problems| {
            let mut table = super::table::Table::read(
                problems,
                path,
                value,
                "struct RawCampaign",
                CAMPAIGN_FIELDS,
            )?;
            let raw = RawCampaign {
                offer_url: table.text("offer_url"),
                offers: table.values("offers", true),
                lander_url: table.text("lander_url"),
                landers: table.values("landers", true),
                sticky: table.flag("sticky"),
                rules: table.values("rules", false).unwrap_or_default(),
                allowed_hosts: table.strings("allowed_hosts", true),
                redirect: table
                    .choice("redirect", REDIRECT_NAMES, false)
                    .and_then(|index| REDIRECT_KINDS.get(index).copied())
                    .unwrap_or_default(),
                network: table.text("network"),
                params: table.string_map("params").unwrap_or_default(),
                payout: table.number("payout"),
                currency: table.text("currency"),
                cost: table.raw("cost"),
                bots: match table.choice("bots", &["redirect", "block"], false) {
                    Some(1) => BotPolicy::Block,
                    _ => BotPolicy::Redirect,
                },
                paused: table.flag("paused"),
                fallback_url: table.text("fallback_url"),
            };
            table.finish().then_some(raw)
        })
    }
}

/// A validated campaign.
#[derive(Debug, Clone)]
pub struct Campaign {
    pub id: String,
    /// Where a click goes when no rule matches: `offer_url` as a pool of one unnamed
    /// offer, or the weighted `offers` (docs/flows.md).
    pub default_pool: Pool,
    /// Ordered rules; the first whose filters all match picks from its own pool.
    pub rules: Vec<Rule>,
    /// `offer_url`, `offers`, `sticky` and `rules` as configured (what `describe` gives
    /// back, so a run-time campaign round-trips exactly).
    pub flow_source: serde_json::Map<String, serde_json::Value>,
    /// Lower-case host names the redirect may reach; `*.example.com` matches sub-domains.
    pub allowed_hosts: Vec<String>,
    pub redirect: RedirectKind,
    pub network: Option<String>,
    /// Alias parameter name → the click field it fills.
    pub params: VecMap<String, ClickField>,
    pub payout_micros: Option<i64>,
    pub currency: Option<&'static str>,
    /// What the campaign's traffic costs (`cost`; docs/costs.md), none when not tracked.
    pub cost: Option<crate::cost::CampaignCost>,
    pub bots: BotPolicy,
    pub paused: bool,
    pub fallback_url: Option<url::Url>,
}

impl Campaign {
    /// The campaign as configuration JSON (what `PUT /api/campaigns/{id}` takes).
    pub fn describe(&self) -> serde_json::Value {
        let redirect = match self.redirect {
            RedirectKind::Found => "302",
            RedirectKind::Temporary => "307",
            RedirectKind::MetaRefresh => "meta",
        };
        let mut params: serde_json::Map<String, serde_json::Value> = self
            .params
            .iter()
            .map(|(alias, field)| {
                let target = match field {
                    ClickField::Sub(n) => format!("sub{n}"),
                    ClickField::ExternalId => "external_id".into(),
                };
                (alias.clone(), target.into())
            })
            .collect();
        for alias in self.cost.iter().flat_map(|cost| &cost.aliases) {
            params.insert(alias.clone(), crate::cost::COST_PARAM.into());
        }
        let mut described = serde_json::json!({
            "allowed_hosts": self.allowed_hosts,
            "redirect": redirect,
            "network": self.network,
            "params": params,
            "payout": self.payout_micros.map(crate::money::format_micros),
            "currency": self.currency,
            "cost": self.cost.as_ref().map(crate::cost::CampaignCost::describe),
            "bots": match self.bots { BotPolicy::Redirect => "redirect", BotPolicy::Block => "block" },
            "paused": self.paused,
            "fallback_url": self.fallback_url.as_ref().map(url::Url::as_str),
        });
        if let Some(object) = described.as_object_mut() {
            object.extend(self.flow_source.clone());
        }
        described
    }

    /// Validates a run-time campaign (stored in KV) with the rules of a static one. Its
    /// key paths start with `campaigns.{id}`. A network restriction is refused: the record
    /// step enforces it from the static configuration only.
    /// Checks the zones of the flow's time filters against zone rules the core lacks (the
    /// runtime's `Intl` in the worker, chrono-tz natively): a name of the right shape that
    /// no zone has is refused where the campaign is configured, static or run-time, with
    /// its key path under `path`.
    pub fn check_zones(
        &self,
        rules: &dyn crate::zone::ZoneRules,
        path: &str,
    ) -> Result<(), super::ConfigErrors> {
        let problems: Vec<super::ConfigError> = super::flow::time_zones(&self.rules)
            .filter_map(|(index, zone)| {
                crate::zone::check_zone(rules, zone)
                    .err()
                    .map(|reason| super::ConfigError {
                        path: format!("{path}.rules[{index}].filters.time.zone"),
                        reason,
                    })
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(super::ConfigErrors(problems))
        }
    }

    pub fn from_runtime_json(
        id: &str,
        value: serde_json::Value,
    ) -> Result<Campaign, super::ConfigErrors> {
        let path = format!("campaigns.{id}");
        let mut value = value;
        // The description's payout is a decimal string; configuration takes a number too.
        if let Some(payout) = value
            .get("payout")
            .and_then(|p| p.as_str())
            .map(str::to_string)
        {
            if let (Ok(number), Some(object)) =
                (payout.parse::<serde_json::Number>(), value.as_object_mut())
            {
                object.insert("payout".into(), serde_json::Value::Number(number));
            }
        }
        if let Some(object) = value.as_object_mut() {
            for key in [
                "network",
                "payout",
                "currency",
                "cost",
                "fallback_url",
                "allowed_hosts",
            ] {
                if object.get(key).is_some_and(serde_json::Value::is_null) {
                    object.remove(key);
                }
            }
        }
        let raw = RawCampaign::read(&path, value)?;
        let mut problems = Problems::default();
        if raw.network.is_some() {
            problems.push(
                format!("{path}.network"),
                "a network restriction needs a static campaign (wrangler.toml)",
            );
        }
        let campaign = resolve(&mut problems, &path, id, raw);
        match (campaign, problems.0.is_empty()) {
            (Some(campaign), true) => Ok(campaign),
            _ => Err(super::ConfigErrors(problems.0)),
        }
    }

    /// Whether `host` may be redirected to (exact match, or a `*.` wildcard's sub-domain).
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.allowed_hosts
            .iter()
            .any(|allowed| match allowed.strip_prefix("*.") {
                Some(parent) => host
                    .strip_suffix(parent)
                    .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
                None => *allowed == host,
            })
    }
}

fn valid_host_pattern(host: &str) -> bool {
    let bare = host.strip_prefix("*.").unwrap_or(host);
    !bare.is_empty()
        && bare.len() <= MAX_HOST_BYTES
        && bare.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

pub(super) fn resolve(
    problems: &mut Problems,
    path: &str,
    id: &str,
    raw: RawCampaign,
) -> Option<Campaign> {
    let before = problems.0.len();
    check_name(problems, path, id);

    // Length limits first (issue 11 item 6): run-time campaigns come from the admin API,
    // and an oversized field is refused before any work is done on it.
    let too_long =
        |text: &str, max: usize| format!("is {} bytes; at most {max} are accepted", text.len());
    // The configured flow, kept as given for `describe`.
    let mut flow_source = serde_json::Map::new();
    if let Some(url) = &raw.offer_url {
        flow_source.insert("offer_url".into(), url.clone().into());
    }
    if let Some(offers) = &raw.offers {
        flow_source.insert("offers".into(), offers.clone().into());
    }
    if let Some(url) = &raw.lander_url {
        flow_source.insert("lander_url".into(), url.clone().into());
    }
    if let Some(landers) = &raw.landers {
        flow_source.insert("landers".into(), landers.clone().into());
    }
    if raw.sticky {
        flow_source.insert("sticky".into(), true.into());
    }
    if !raw.rules.is_empty() {
        flow_source.insert("rules".into(), raw.rules.clone().into());
    }
    // Every offer and lander URL, of every pool: a template whose filled-in form is an
    // http(s) URL. Their hosts are the default allowed hosts. Lander URLs take `{go}` too.
    let mut default_hosts: Vec<String> = Vec::new();
    let mut macro_in_host = false;
    let mut parse_url = |problems: &mut Problems, at: &str, text: &str, lander: bool| {
        if text.len() > MAX_CAMPAIGN_URL_BYTES {
            problems.push(at, too_long(text, MAX_CAMPAIGN_URL_BYTES));
            return None;
        }
        let macros: &[&[&str]] = if lander {
            &[OFFER_MACROS, &["go"]]
        } else {
            &[OFFER_MACROS]
        };
        let template = match UrlTemplate::parse_in(text, macros) {
            Ok(template) => template,
            Err(error) => {
                problems.push(at, error.to_string());
                return None;
            }
        };
        match http_url(&template.render(|_| Some("x"))) {
            Ok(url) => {
                if let Some(host) = url.host_str().map(str::to_ascii_lowercase) {
                    if !default_hosts.contains(&host) {
                        default_hosts.push(host);
                    }
                }
            }
            Err(reason) => {
                problems.push(at, reason);
                return None;
            }
        }
        macro_in_host |= text
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', '?', '#']).next())
            .is_some_and(|authority| authority.contains('{'));
        Some(template)
    };
    let pool = super::flow::RawPool {
        offer_url: raw.offer_url,
        offers: raw.offers,
        lander_url: raw.lander_url,
        landers: raw.landers,
        sticky: raw.sticky,
    };
    let default_pool = super::flow::resolve_pool(problems, path, pool, &mut parse_url);
    let rules = super::flow::resolve_rules(problems, path, raw.rules, &mut parse_url);

    let allowed_hosts = match raw.allowed_hosts {
        Some(hosts) if hosts.len() > MAX_ALLOWED_HOSTS => {
            problems.push(
                format!("{path}.allowed_hosts"),
                format!(
                    "has {} entries; at most {MAX_ALLOWED_HOSTS} (use a *.example.com wildcard for sub-domains)",
                    hosts.len()
                ),
            );
            Vec::new()
        }
        Some(hosts) => {
            let mut normalized = Vec::with_capacity(hosts.len());
            for (index, host) in hosts.iter().enumerate() {
                let lower = host.trim().to_ascii_lowercase();
                if valid_host_pattern(&lower) {
                    normalized.push(lower);
                } else {
                    problems.push(
                        format!("{path}.allowed_hosts[{index}]"),
                        format!(
                            "must be a host name of at most {MAX_HOST_BYTES} bytes such as \
                             offer.example or *.offer.example"
                        ),
                    );
                }
            }
            if hosts.is_empty() {
                problems.push(format!("{path}.allowed_hosts"), "must not be empty");
            }
            normalized
        }
        None if macro_in_host => {
            problems.push(
                format!("{path}.allowed_hosts"),
                "is required when offer_url has a macro in its host",
            );
            Vec::new()
        }
        None => default_hosts,
    };

    let mut params = VecMap::new();
    // Aliases of the click's cost (`params = { price = "cost" }`), for `super::cost`.
    let mut cost_aliases: Vec<String> = Vec::new();
    if raw.params.len() > MAX_PARAM_ALIASES {
        problems.push(
            format!("{path}.params"),
            format!(
                "has {} aliases; at most {MAX_PARAM_ALIASES}",
                raw.params.len()
            ),
        );
    }
    for (alias, target) in raw.params.into_iter().take(MAX_PARAM_ALIASES) {
        if alias.is_empty() || alias.len() > MAX_ALIAS_BYTES {
            problems.push(
                format!("{path}.params"),
                format!(
                    "alias {:?} must be 1-{MAX_ALIAS_BYTES} bytes",
                    crate::click::clip(&alias, MAX_ALIAS_BYTES)
                ),
            );
            continue;
        }
        // A lander link's own parameters (`/go/{clickid}?c=…&f=…&t=…`) cannot be aliases:
        // read as a sub-ID there, they would change the click's parameters.
        if crate::click::GO_LINK_PARAMS.contains(&alias.as_str()) {
            problems.push(
                format!("{path}.params.{alias}"),
                "is a parameter of lander links (c, f, t); choose another alias",
            );
            continue;
        }
        if target == crate::cost::COST_PARAM {
            cost_aliases.push(alias);
            continue;
        }
        match ClickField::from_name(&target) {
            Some(field) => {
                params.insert(alias, field);
            }
            None => problems.push(
                format!("{path}.params.{alias}"),
                format!("\"{target}\" is not sub1…sub10, external_id or cost"),
            ),
        }
    }

    let payout_micros = raw.payout.and_then(|number| {
        match crate::money::parse_payout_micros(&number.to_string(), false) {
            Ok(micros) => Some(micros),
            Err(error) => {
                problems.push(format!("{path}.payout"), error.detail());
                None
            }
        }
    });
    let currency = raw.currency.and_then(|code| {
        let found = crate::money::normalize_currency(&code);
        if found.is_none() {
            problems.push(format!("{path}.currency"), "not an ISO 4217 currency code");
        }
        found
    });
    let cost = match raw.cost {
        Some(value) => super::cost::resolve(problems, path, value, cost_aliases, currency),
        None => {
            for alias in &cost_aliases {
                problems.push(
                    format!("{path}.params.{alias}"),
                    "maps to cost, but the campaign has no cost table: set cost = { model = \"auto\" } (or \"cpc\")",
                );
            }
            None
        }
    };
    let fallback_url = raw.fallback_url.and_then(|text| {
        if text.len() > MAX_CAMPAIGN_URL_BYTES {
            problems.push(
                format!("{path}.fallback_url"),
                too_long(&text, MAX_CAMPAIGN_URL_BYTES),
            );
            return None;
        }
        match http_url(&text) {
            Ok(url) => Some(url),
            Err(reason) => {
                problems.push(format!("{path}.fallback_url"), reason);
                None
            }
        }
    });
    if let Some(network) = &raw.network {
        check_name(problems, &format!("{path}.network"), network);
    }

    if problems.0.len() > before {
        return None;
    }
    Some(Campaign {
        id: id.to_string(),
        default_pool: default_pool?,
        rules,
        flow_source,
        allowed_hosts,
        redirect: raw.redirect,
        network: raw.network,
        params,
        payout_micros,
        currency,
        cost,
        bots: raw.bots,
        paused: raw.paused,
        fallback_url,
    })
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;
    use serde_json::json;

    fn campaign(fields: serde_json::Value) -> Result<Campaign, Vec<String>> {
        let value = json!({ "networks": { "generic": {} }, "campaigns": { "c": fields } });
        Config::from_json(value)
            .map(|config| config.campaigns["c"].clone())
            .map_err(|errors| errors.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn click_fields_by_name() {
        assert_eq!(ClickField::from_name("sub1"), Some(ClickField::Sub(1)));
        assert_eq!(ClickField::from_name("sub10"), Some(ClickField::Sub(10)));
        assert_eq!(
            ClickField::from_name("external_id"),
            Some(ClickField::ExternalId)
        );
        for bad in ["sub0", "sub11", "sub01", "sub", "sub+1", "subid"] {
            assert_eq!(ClickField::from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn full_campaign() {
        let found = campaign(json!({
            "offer_url": "https://offer.example/lp?aff_sub={clickid}&s2={sub1}",
            "allowed_hosts": ["offer.example", "*.Offer.example"],
            "redirect": "meta",
            "network": "generic",
            "params": { "zoneid": "sub1", "visitor_id": "external_id" },
            "payout": 2.5,
            "bots": "block",
            "paused": true,
            "fallback_url": "https://home.example/"
        }))
        .unwrap();
        assert_eq!(found.redirect, RedirectKind::MetaRefresh);
        assert_eq!(found.params["zoneid"], ClickField::Sub(1));
        assert_eq!(found.params["visitor_id"], ClickField::ExternalId);
        assert_eq!(found.payout_micros, Some(2_500_000));
        assert_eq!(found.bots, BotPolicy::Block);
        assert!(found.paused);
        assert!(found.allows_host("offer.example"));
        assert!(found.allows_host("www.OFFER.example"));
        assert!(!found.allows_host("evil.example"));
        assert!(!found.allows_host("offer.example.evil"));
        assert!(!found.allows_host("xoffer.example"));
    }

    #[test]
    fn runtime_campaigns_validate_like_static_ones_and_round_trip() {
        let campaign = Campaign::from_runtime_json(
            "spring",
            json!({ "offer_url": "https://offer.example/?c={clickid}&s={sub1}", "payout": "1.5", "redirect": "307" }),
        )
        .unwrap();
        assert_eq!(campaign.payout_micros, Some(1_500_000));
        let again = Campaign::from_runtime_json("spring", campaign.describe()).unwrap();
        assert_eq!(again.describe(), campaign.describe());
        let errors = Campaign::from_runtime_json(
            "spring",
            json!({ "offer_url": "https://o.example/?c={nope}", "network": "tune" }),
        )
        .unwrap_err()
        .0;
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|e| e.starts_with("campaigns.spring.network: ")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|e| e.starts_with("campaigns.spring.offer_url: unknown macro")),
            "{text:?}"
        );
        let typo = Campaign::from_runtime_json(
            "spring",
            json!({ "offer_url": "https://o.example/", "redirect": 302 }),
        )
        .unwrap_err();
        assert!(
            typo.0[0].path.starts_with("campaigns.spring.redirect"),
            "{typo:?}"
        );
        assert!(Campaign::from_runtime_json(
            "Bad Id",
            json!({ "offer_url": "https://o.example/" })
        )
        .is_err());
    }

    /// Issue 11 item 6: every field of a run-time campaign has a length limit; a 5 MB
    /// `offer_url` is refused (the admin route answers 400 `invalid_campaign`).
    #[test]
    fn runtime_campaign_fields_have_length_limits() {
        let paths = |value: serde_json::Value| -> Vec<String> {
            Campaign::from_runtime_json("spring", value)
                .unwrap_err()
                .0
                .into_iter()
                .map(|e| e.to_string())
                .collect()
        };
        let huge = format!(
            "https://offer.example/?c={{clickid}}&p={}",
            "x".repeat(5 << 20)
        );
        let found = paths(json!({ "offer_url": huge }));
        assert_eq!(
            found.len(),
            1,
            "{:?}",
            found.iter().map(|e| e.len()).collect::<Vec<_>>()
        );
        assert!(
            found[0].starts_with("campaigns.spring.offer_url: is 5242")
                && found[0].ends_with("at most 2048 are accepted"),
            "{found:?}"
        );
        let at_limit = format!("https://offer.example/?p={}", "x".repeat(2048 - 25));
        assert_eq!(at_limit.len(), 2048);
        assert!(Campaign::from_runtime_json("spring", json!({ "offer_url": at_limit })).is_ok());

        let ok = "https://offer.example/";
        let hosts: Vec<String> = (0..21).map(|n| format!("h{n}.example")).collect();
        let aliases: serde_json::Map<String, serde_json::Value> =
            (0..51).map(|n| (format!("a{n}"), json!("sub1"))).collect();
        for (value, prefix) in [
            (
                json!({ "offer_url": ok, "allowed_hosts": hosts }),
                "campaigns.spring.allowed_hosts: has 21 entries",
            ),
            (
                json!({ "offer_url": ok, "allowed_hosts": ["a".repeat(254)] }),
                "campaigns.spring.allowed_hosts[0]: ",
            ),
            (
                json!({ "offer_url": ok, "params": aliases }),
                "campaigns.spring.params: has 51 aliases",
            ),
            (
                json!({ "offer_url": ok, "params": { "a".repeat(65): "sub1" } }),
                "campaigns.spring.params: alias",
            ),
            (
                json!({ "offer_url": ok, "fallback_url": format!("https://f.example/{}", "x".repeat(2048)) }),
                "campaigns.spring.fallback_url: is ",
            ),
            (
                json!({ "offer_url": ok, "currency": "x".repeat(10_000) }),
                "campaigns.spring.currency: ",
            ),
        ] {
            let found = paths(value);
            assert!(
                found.iter().any(|e| e.starts_with(prefix)),
                "{prefix} in {found:?}"
            );
        }
        assert!(Campaign::from_runtime_json(&"a".repeat(65), json!({ "offer_url": ok })).is_err());
        let twenty: Vec<String> = (0..20).map(|n| format!("h{n}.example")).collect();
        assert!(Campaign::from_runtime_json(
            "spring",
            json!({ "offer_url": "https://h0.example/", "allowed_hosts": twenty, "params": { "a".repeat(64): "sub1" } })
        )
        .is_ok());
    }

    #[test]
    fn macro_in_host_needs_allowed_hosts() {
        let errors = campaign(json!({ "offer_url": "https://{sub1}.offer.example/" })).unwrap_err();
        assert_eq!(
            errors,
            ["EDGEBACK.campaigns.c.allowed_hosts: is required when offer_url has a macro in its host"]
        );
        assert!(campaign(json!({
            "offer_url": "https://{sub1}.offer.example/",
            "allowed_hosts": ["*.offer.example"]
        }))
        .is_ok());
    }

    #[test]
    fn bad_values_name_their_keys() {
        let errors = campaign(json!({
            "offer_url": "https://offer.example/",
            "allowed_hosts": ["ok.example", "bad host/"],
            "params": { "zoneid": "sub11" },
            "payout": -1,
            "currency": "ZZZ",
            "fallback_url": "javascript:alert(1)"
        }))
        .unwrap_err();
        let expect = [
            "EDGEBACK.campaigns.c.allowed_hosts[1]: ",
            "EDGEBACK.campaigns.c.params.zoneid: ",
            "EDGEBACK.campaigns.c.payout: ",
            "EDGEBACK.campaigns.c.currency: ",
            "EDGEBACK.campaigns.c.fallback_url: ",
        ];
        for prefix in expect {
            assert!(
                errors.iter().any(|e| e.starts_with(prefix)),
                "{prefix} in {errors:?}"
            );
        }
        assert_eq!(errors.len(), expect.len(), "{errors:?}");
    }
}
