//! The click flow (design §2, §4): from a request on `/c/{campaign}` to a response and the
//! click row to write after it. Pure: the clock, the random bytes and the request facts
//! are passed in, and nothing here touches storage (a click makes 0 D1 queries before
//! its response).

use crate::click_id::{ClickIdError, ClickSecrets, RANDOM_LEN};
use crate::config::{BotPolicy, Campaign, ClickField, RedirectKind};
use crate::crypto::{hex, hmac_sha256};

/// Longest stored value of a click parameter, in bytes (design §4).
pub const MAX_VALUE_BYTES: usize = 512;
/// Longest stored User-Agent, in bytes.
pub const MAX_USER_AGENT_BYTES: usize = 512;
/// Query parameters looked at; the rest are ignored (they cannot change the outcome).
pub const MAX_PARAMS: usize = 100;

/// What the adapter knows about one click request.
#[derive(Clone, Default)]
pub struct ClickRequest<'a> {
    pub is_head: bool,
    /// Decoded query pairs, in order.
    pub query: &'a [(String, String)],
    pub user_agent: Option<&'a str>,
    /// `Sec-Purpose` or `Purpose` header value, if any.
    pub purpose: Option<&'a str>,
    /// From `CF-Connecting-IP` only (design §11).
    pub client_ip: Option<&'a str>,
    pub country: Option<&'a str>,
    /// Region (ISO 3166-2 code and name) and city from the runtime's request metadata:
    /// only flow filters read them (docs/flows.md).
    pub region_code: Option<&'a str>,
    pub region: Option<&'a str>,
    pub city: Option<&'a str>,
    pub asn: Option<u32>,
    pub colo: Option<&'a str>,
    pub accept_language: Option<&'a str>,
    pub now_ms: u64,
    pub random: [u8; RANDOM_LEN],
    /// Zone rules for flow time-of-day filters (none: such a filter never matches).
    pub zones: Option<&'a dyn crate::zone::ZoneRules>,
    /// The worker's own origin (`https://track.example`): a lander's `{go}` link.
    pub origin: Option<&'a str>,
}

/// The response to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClickResponse {
    /// `302` or `307` with this `Location`.
    Redirect { status: u16, location: String },
    /// `200` with a meta-refresh page to this URL.
    MetaRefresh { location: String },
    /// `404`: no such campaign, or paused without a fallback.
    NotFound,
    /// `302` to the campaign's fallback URL (paused campaign).
    Fallback { location: String },
    /// `403`: a bot or prefetch on a campaign with `bots = "block"`.
    BotBlocked,
    /// `400`: the filled offer URL is not on the campaign's allowed hosts.
    TargetNotAllowed,
    /// `503`: the clock is outside the click-ID range; nothing can be minted.
    Unavailable,
    /// `400`: a lander's call-to-action link (`/go/…`) that this tracker did not make,
    /// or whose click is older than the lookback window.
    InvalidLink,
}

/// The ten sub-IDs of a click, as stored beside it and copied into its conversions.
/// Rows that carry them flatten this into their own columns (`sub1` … `sub10`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubIds {
    pub sub1: Option<String>,
    pub sub2: Option<String>,
    pub sub3: Option<String>,
    pub sub4: Option<String>,
    pub sub5: Option<String>,
    pub sub6: Option<String>,
    pub sub7: Option<String>,
    pub sub8: Option<String>,
    pub sub9: Option<String>,
    pub sub10: Option<String>,
}

impl SubIds {
    /// Reads the ten sub-IDs from one column holding `json_array(sub1, …, sub10)` (rows
    /// read from D1 carry them so: one column to read instead of ten).
    pub fn from_json(text: &str) -> Option<Self> {
        // Through a `Value` (whose decoder the worker has anyway) rather than a decoder
        // of its own for the array type: the same answer, 2 KB less wasm.
        let serde_json::Value::Array(items) = serde_json::from_slice(text.as_bytes()).ok()? else {
            return None;
        };
        let mut subs: [Option<String>; 10] = Default::default();
        if items.len() != subs.len() {
            return None;
        }
        for (slot, item) in subs.iter_mut().zip(items) {
            *slot = match item {
                serde_json::Value::String(text) => Some(text),
                serde_json::Value::Null => None,
                _ => return None,
            };
        }
        Some(Self::from_array(subs))
    }

    /// From the click's ten slots, `sub1` first.
    pub fn from_array(subs: [Option<String>; 10]) -> Self {
        let [sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, sub9, sub10] = subs;
        Self {
            sub1,
            sub2,
            sub3,
            sub4,
            sub5,
            sub6,
            sub7,
            sub8,
            sub9,
            sub10,
        }
    }

    /// `("sub1", value)` … `("sub10", value)`, in order.
    pub fn named(&self) -> [(&'static str, &Option<String>); 10] {
        [
            ("sub1", &self.sub1),
            ("sub2", &self.sub2),
            ("sub3", &self.sub3),
            ("sub4", &self.sub4),
            ("sub5", &self.sub5),
            ("sub6", &self.sub6),
            ("sub7", &self.sub7),
            ("sub8", &self.sub8),
            ("sub9", &self.sub9),
            ("sub10", &self.sub10),
        ]
    }

    /// The sub-IDs that are set, by name (the API's and the webhook's `sub` object).
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        self.named()
            .into_iter()
            .filter_map(|(name, value)| {
                value.as_ref().map(|v| (name.to_string(), v.clone().into()))
            })
            .collect()
    }
}

/// The click row written after the response (design §4's fields; never the raw IP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickRecord {
    pub click_id: String,
    pub campaign: String,
    pub created_at_ms: u64,
    pub subs: [Option<String>; 10],
    pub external_id: Option<String>,
    pub country: Option<String>,
    pub asn: Option<u32>,
    pub colo: Option<String>,
    pub user_agent: Option<String>,
    pub ip_hash: Option<String>,
    /// Why the click counts as a bot or prefetch (`None` for a person).
    pub bot_reason: Option<String>,
    /// The flow rule that chose the offer (`None`: the campaign's default pool).
    pub rule: Option<String>,
    /// The chosen offer's name (`None`: the campaign's plain `offer_url`, or no offer).
    pub offer: Option<String>,
    /// The landing page shown before the offer (`None`: none, or an unnamed `lander_url`).
    pub lander: Option<String>,
    /// When the lander's call-to-action was followed (`/go/…`): a landing click's row.
    pub landed_at_ms: Option<u64>,
    /// The visitor's region (the runtime's ISO 3166-2 subdivision code), a report key.
    pub region: Option<String>,
    /// The User-Agent's device type, OS and browser families: classified once per click,
    /// for the flow's filters and the report's keys alike.
    pub agent: crate::user_agent::AgentClass,
}

/// A response, and the row to store (none for unknown or paused campaigns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickPlan {
    pub response: ClickResponse,
    pub record: Option<ClickRecord>,
}

/// User-Agent substrings of well-known crawlers, link-preview fetchers and monitors,
/// matched case-insensitively. Clicks from them are recorded with the bot flag and left
/// out of report counts. The list is documented in `docs/clicks.md`.
pub const BOT_USER_AGENT_MARKERS: &[&str] = &[
    "googlebot",
    "adsbot-google",
    "mediapartners-google",
    "google-inspectiontool",
    "bingbot",
    "bingpreview",
    "msnbot",
    "yandexbot",
    "baiduspider",
    "duckduckbot",
    "slurp",
    "applebot",
    "petalbot",
    "semrushbot",
    "ahrefsbot",
    "mj12bot",
    "dotbot",
    "facebookexternalhit",
    "facebookcatalog",
    "meta-externalagent",
    "twitterbot",
    "linkedinbot",
    "slackbot",
    "slack-imgproxy",
    "discordbot",
    "telegrambot",
    "whatsapp",
    "skypeuripreview",
    "pinterestbot",
    "redditbot",
    "embedly",
    "vkshare",
    "iframely",
    "outbrain",
    "gptbot",
    "chatgpt-user",
    "claudebot",
    "perplexitybot",
    "bytespider",
    "amazonbot",
    "headlesschrome",
    "phantomjs",
    "curl/",
    "wget/",
    "python-requests",
    "go-http-client",
    "okhttp",
    "uptimerobot",
    "pingdom",
    "statuscake",
    "bot/",
    "crawler",
    "spider",
];

/// Why a request counts as a bot or prefetch, if it does.
pub fn bot_reason(
    is_head: bool,
    user_agent: Option<&str>,
    purpose: Option<&str>,
) -> Option<String> {
    if is_head {
        return Some("head".into());
    }
    if purpose.is_some_and(|value| value.to_ascii_lowercase().contains("prefetch")) {
        return Some("prefetch".into());
    }
    let agent = user_agent.map(str::trim).unwrap_or_default();
    if agent.is_empty() {
        return Some("empty_user_agent".into());
    }
    let lower = agent.to_ascii_lowercase();
    BOT_USER_AGENT_MARKERS
        .iter()
        .find(|marker| lower.contains(*marker))
        .map(|marker| format!("crawler:{}", marker.trim_end_matches('/')))
}

/// Trims and cuts a value to `max` bytes at a character boundary.
pub fn clip(value: &str, max: usize) -> String {
    let trimmed = value.trim();
    if trimmed.len() <= max {
        return trimmed.to_string();
    }
    let mut end = max;
    while end > 0 && !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    trimmed.get(..end).unwrap_or_default().to_string()
}

/// A keyed hash of the client IP: lets reports count distinct visitors and lets an
/// operator match a complaint to a click, without ever storing the address.
pub fn ip_hash(secrets: &ClickSecrets, ip: &str) -> String {
    let tag = hmac_sha256(
        secrets.current_secret(),
        &[b"edgeback/ip-hash/v1", ip.as_bytes()],
    );
    hex(&tag[..16])
}

/// The click fields a request carries: canonical names win over campaign aliases, and the
/// first occurrence of a name wins over later ones.
pub(crate) fn click_fields(
    campaign: &Campaign,
    query: &[(String, String)],
) -> ([Option<String>; 10], Option<String>) {
    let mut subs: [Option<String>; 10] = Default::default();
    let mut external_id = None;
    let mut from_alias: [bool; 11] = [false; 11];
    for (name, value) in query.iter().take(MAX_PARAMS) {
        let (field, is_alias) = match ClickField::from_name(name) {
            Some(field) => (field, false),
            None => match campaign.params.get(name) {
                Some(field) => (*field, true),
                None => continue,
            },
        };
        let value = clip(value, MAX_VALUE_BYTES);
        if value.is_empty() {
            continue;
        }
        let (slot, flag) = match field {
            ClickField::Sub(number) => {
                let index = usize::from(number.saturating_sub(1)).min(9);
                (&mut subs[index], &mut from_alias[index])
            }
            ClickField::ExternalId => (&mut external_id, &mut from_alias[10]),
        };
        let replace = slot.is_none() || (*flag && !is_alias);
        if replace {
            *slot = Some(value);
            *flag = is_alias;
        }
    }
    (subs, external_id)
}

/// Decides the response to a click and the row to store.
pub fn plan_click(
    secrets: &ClickSecrets,
    campaign: Option<&Campaign>,
    request: &ClickRequest<'_>,
) -> ClickPlan {
    let no_record = |response| ClickPlan {
        response,
        record: None,
    };
    let Some(campaign) = campaign else {
        return no_record(ClickResponse::NotFound);
    };
    if campaign.paused {
        return no_record(match &campaign.fallback_url {
            Some(url) => ClickResponse::Fallback {
                location: url.to_string(),
            },
            None => ClickResponse::NotFound,
        });
    }
    // The campaign's network restriction is bound into the ID, so the record step can
    // enforce it before the click row exists (see `click_id`).
    let click_id =
        match secrets.mint_for(request.now_ms, request.random, campaign.network.as_deref()) {
            Ok(id) => id,
            Err(ClickIdError::ClockOutOfRange) | Err(_) => {
                return no_record(ClickResponse::Unavailable)
            }
        };
    let record = visitor_record(secrets, campaign, request, click_id, request.now_ms);

    if record.bot_reason.is_some() && campaign.bots == BotPolicy::Block {
        return ClickPlan {
            response: ClickResponse::BotBlocked,
            record: Some(record),
        };
    }

    let mut record = record;
    let Some(choice) = choose_offer(secrets, campaign, request, &record) else {
        // Only a pool whose weights are all 0, which configuration refuses.
        return ClickPlan {
            response: ClickResponse::Unavailable,
            record: Some(record),
        };
    };
    record.rule = choice.rule.map(|rule| rule.name.clone());
    record.offer = choice.offer.name.clone();
    // An unnamed lander (`lander_url`) is recorded as the empty name: the row must say a
    // lander was shown (its landing view counts on that), and "" is no lander's name.
    record.lander = choice
        .lander
        .map(|lander| lander.name.clone().unwrap_or_default());
    let location = match choice.lander {
        None => render(campaign, &choice.offer.url, &record, request.now_ms, None),
        Some(lander) => {
            let go = go_link(secrets, request.origin, &record);
            render(campaign, &lander.url, &record, request.now_ms, Some(&go))
        }
    };
    ClickPlan {
        response: respond_with(campaign, location),
        record: Some(record),
    }
}

/// The row of a click (or landing click) `click_id` made at `created_at_ms` from this
/// request: its parameters and the visitor's facts, no flow choice yet.
fn visitor_record(
    secrets: &ClickSecrets,
    campaign: &Campaign,
    request: &ClickRequest<'_>,
    click_id: String,
    created_at_ms: u64,
) -> ClickRecord {
    let (subs, external_id) = click_fields(campaign, request.query);
    ClickRecord {
        click_id,
        campaign: campaign.id.clone(),
        created_at_ms,
        subs,
        external_id,
        country: request.country.map(|c| clip(c, 8)),
        asn: request.asn,
        colo: request.colo.map(|c| clip(c, 8)),
        user_agent: request
            .user_agent
            .map(|agent| clip(agent, MAX_USER_AGENT_BYTES))
            .filter(|agent| !agent.is_empty()),
        ip_hash: request.client_ip.map(|ip| ip_hash(secrets, ip.trim())),
        bot_reason: bot_reason(request.is_head, request.user_agent, request.purpose),
        rule: None,
        offer: None,
        lander: None,
        landed_at_ms: None,
        region: request
            .region_code
            .map(|region| clip(region, 8))
            .filter(|region| !region.is_empty()),
        agent: crate::user_agent::classify(request.user_agent),
    }
}

/// The parameters of a lander link besides the click's own (campaign, flow, tag).
pub const GO_LINK_PARAMS: [&str; 3] = ["c", "f", "t"];

/// The flow's choice as a lander link carries it: `rule.lander.offer` (names are
/// `a-z 0-9 _ -`, so `.` cannot occur in one; an empty part is none).
fn flow_part(record: &ClickRecord) -> String {
    let part = |name: &Option<String>| name.clone().unwrap_or_default();
    format!(
        "{}.{}.{}",
        part(&record.rule),
        part(&record.lander),
        part(&record.offer)
    )
}

/// A lander's call-to-action link (`{go}`, docs/flows.md): `/go/{clickid}` on this
/// worker with the campaign, the flow's choice, their tag, and the click's parameters
/// (for the offer URL's macros).
fn go_link(secrets: &ClickSecrets, origin: Option<&str>, record: &ClickRecord) -> String {
    use crate::template::percent_encode;
    let flow = flow_part(record);
    let fields = link_fields(record);
    let tag = secrets.link_tag(&[&record.click_id, &record.campaign, &flow, &fields]);
    format!(
        "{}/go/{}?c={}&f={flow}&t={tag}{fields}",
        origin.unwrap_or_default(),
        record.click_id,
        percent_encode(&record.campaign)
    )
}

/// The click's parameters as a lander link carries them (`&sub1=…&external_id=…`, in
/// that order, percent-encoded). The link's tag covers them: they are the click's
/// attribution when the landing click's row is stored before the click's own, so a
/// visitor or a lander page that changes one gets the link refused, never a forged
/// sub-ID or external_id stored and sent on.
fn link_fields(record: &ClickRecord) -> String {
    use crate::template::percent_encode;
    let subs = SubIds::from_array(record.subs.clone());
    let fields = subs
        .named()
        .into_iter()
        .chain([("external_id", &record.external_id)]);
    let mut text = String::new();
    for (name, value) in fields {
        if let Some(value) = value {
            text.push_str(&format!("&{name}={}", percent_encode(value)));
        }
    }
    text
}

/// `url` filled in with the click's macros (and `{go}`, for a lander).
fn render(
    campaign: &Campaign,
    url: &crate::template::UrlTemplate,
    record: &ClickRecord,
    now_ms: u64,
    go: Option<&str>,
) -> String {
    let ts = (now_ms / 1000).to_string();
    url.render(|name| match name {
        "clickid" | "click_id" => Some(record.click_id.as_str()),
        "campaign" => Some(campaign.id.as_str()),
        "external_id" => record.external_id.as_deref(),
        "country" => record.country.as_deref(),
        "ts" => Some(ts.as_str()),
        "go" => go,
        other => ClickField::from_name(other).and_then(|field| match field {
            ClickField::Sub(number) => record
                .subs
                .get(usize::from(number.saturating_sub(1)))
                .and_then(|value| value.as_deref()),
            ClickField::ExternalId => record.external_id.as_deref(),
        }),
    })
}

/// The campaign's kind of redirect to `location`, if it may go there.
fn respond_with(campaign: &Campaign, location: String) -> ClickResponse {
    match checked_target(campaign, &location) {
        Some(location) => match campaign.redirect {
            RedirectKind::Found => ClickResponse::Redirect {
                status: 302,
                location,
            },
            RedirectKind::Temporary => ClickResponse::Redirect {
                status: 307,
                location,
            },
            RedirectKind::MetaRefresh => ClickResponse::MetaRefresh { location },
        },
        None => ClickResponse::TargetNotAllowed,
    }
}

/// `GET /go/{click_id}`, a lander's call-to-action (docs/flows.md, "Landing pages"): the
/// offer the click was dealt at `/c`, and the landing click's row. Pure, no storage: the
/// click ID is verified by its tag, the flow's choice by the link's tag, and the offer is
/// the one the link names in the rule's pool (if configuration has dropped it since, a
/// draw from the click ID's random bits in that pool; if the rule is gone, the default
/// pool's). Bots and prefetches are sent on without a row.
pub fn plan_go(
    secrets: &ClickSecrets,
    campaign: Option<&Campaign>,
    click_id: &str,
    lookback_ms: u64,
    request: &ClickRequest<'_>,
) -> ClickPlan {
    let no_record = |response| ClickPlan {
        response,
        record: None,
    };
    let query = |name: &str| {
        request
            .query
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    };
    let Some(campaign) = campaign else {
        return no_record(ClickResponse::InvalidLink);
    };
    let networks: Vec<&str> = campaign.network.as_deref().into_iter().collect();
    let Ok(verified) = secrets.verify_for(click_id, request.now_ms, lookback_ms, &networks) else {
        return no_record(ClickResponse::InvalidLink);
    };
    let flow = query("f");
    // The row as this link describes it; its parameters are part of what the tag covers.
    let mut record = visitor_record(
        secrets,
        campaign,
        request,
        verified.id,
        verified.issued_at_ms,
    );
    let fields = link_fields(&record);
    if !secrets.link_tag_valid(&[&record.click_id, &campaign.id, flow, &fields], query("t")) {
        return no_record(ClickResponse::InvalidLink);
    }
    if campaign.paused {
        return no_record(match &campaign.fallback_url {
            Some(url) => ClickResponse::Fallback {
                location: url.to_string(),
            },
            None => ClickResponse::NotFound,
        });
    }
    let mut parts = flow.splitn(3, '.').map(|part| {
        let part = part.trim();
        (!part.is_empty()).then(|| part.to_string())
    });
    let (rule, lander, offer) = (
        parts.next().flatten(),
        parts.next().flatten(),
        parts.next().flatten(),
    );
    let (rule, pool) = match campaign
        .rules
        .iter()
        .find(|r| Some(&r.name) == rule.as_ref())
    {
        Some(found) => (rule, &found.pool),
        None => (None, &campaign.default_pool),
    };
    let named = pool.offers.iter().find(|o| o.name == offer);
    let Some(chosen) =
        named.or_else(|| crate::flow::pick(pool, crate::flow::random_draw(&verified.random)))
    else {
        return no_record(ClickResponse::Unavailable);
    };
    let is_bot = record.bot_reason.take().is_some();
    if is_bot && campaign.bots == BotPolicy::Block {
        return no_record(ClickResponse::BotBlocked);
    }
    record.rule = rule;
    record.offer = chosen.name.clone();
    // A landing click followed a lander: an unnamed one is the empty name, as at the click.
    record.lander = Some(lander.unwrap_or_default());
    record.landed_at_ms = Some(request.now_ms);
    let location = render(campaign, &chosen.url, &record, request.now_ms, None);
    ClickPlan {
        response: respond_with(campaign, location),
        record: (!is_bot).then_some(record),
    }
}

/// The campaign's flow decision for this click (docs/flows.md): the first rule whose
/// filters match, else the default pool; within the pool by weight, from the visitor's
/// keyed hash when the pool is sticky and the click's random bytes otherwise.
fn choose_offer<'c>(
    secrets: &ClickSecrets,
    campaign: &'c Campaign,
    request: &ClickRequest<'_>,
    record: &ClickRecord,
) -> Option<crate::flow::Choice<'c>> {
    // A plain `offer_url` campaign: nothing to decide.
    let plain = campaign.default_pool.landers.is_empty();
    if plain && campaign.rules.is_empty() && campaign.default_pool.offers.len() == 1 {
        let offer = campaign.default_pool.offers.first()?;
        return Some(crate::flow::Choice {
            rule: None,
            offer,
            lander: None,
        });
    }
    let language = crate::user_agent::primary_language(request.accept_language);
    let param = |name: &str| -> Option<&str> {
        match ClickField::from_name(name) {
            Some(ClickField::Sub(number)) => record
                .subs
                .get(usize::from(number.saturating_sub(1)))
                .and_then(|value| value.as_deref()),
            Some(ClickField::ExternalId) => record.external_id.as_deref(),
            None => request
                .query
                .iter()
                .take(MAX_PARAMS)
                .find(|(key, value)| key == name && !value.trim().is_empty())
                .map(|(_, value)| value.trim()),
        }
    };
    let visitor = crate::flow::Visitor {
        country: request.country,
        region_code: request.region_code,
        region: request.region,
        city: request.city,
        asn: request.asn,
        is_bot: record.bot_reason.is_some(),
        agent: record.agent,
        language: language.as_deref(),
        param: &param,
        now_ms: request.now_ms,
        zones: request.zones,
    };
    let ip = request.client_ip.map(str::trim).filter(|ip| !ip.is_empty());
    let agent = request.user_agent.map(str::trim).unwrap_or_default();
    crate::flow::choose(
        &campaign.rules,
        &campaign.default_pool,
        &visitor,
        |rule, pool| match ip {
            // Sticky needs a visitor to recognise; without an IP each click draws anew.
            Some(ip) if pool.sticky => {
                crate::flow::sticky_draw(secrets.current_secret(), &campaign.id, rule, ip, agent)
            }
            _ => crate::flow::random_draw(&request.random),
        },
    )
}

/// The serialized URL if it is http(s) on an allowed host; `None` otherwise. Serializing
/// through the URL parser also guarantees no control characters reach a header.
fn checked_target(campaign: &Campaign, location: &str) -> Option<String> {
    let url = url::Url::parse(location).ok()?;
    let scheme_ok = matches!(url.scheme(), "http" | "https");
    let host_ok = url
        .host_str()
        .is_some_and(|host| campaign.allows_host(host));
    let no_userinfo = url.username().is_empty() && url.password().is_none();
    (scheme_ok && host_ok && no_userinfo).then(|| url.to_string())
}

/// Escapes text for an HTML attribute or body.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The meta-refresh page for `location`.
pub fn meta_refresh_page(location: &str) -> String {
    let escaped = html_escape(location);
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <meta http-equiv=\"refresh\" content=\"0;url={escaped}\">\
         <title>Redirecting</title></head>\
         <body><a href=\"{escaped}\">Continue</a></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::json;

    const NOW: u64 = 1_790_000_000_000;

    fn secrets() -> ClickSecrets {
        ClickSecrets::new("test-click-secret-0123456789", None).unwrap()
    }

    fn config() -> Config {
        Config::from_json(json!({
            "networks": { "generic": {} },
            "campaigns": {
                "summer": {
                    "offer_url": "https://offer.example/lp?aff_sub={clickid}&s2={sub1}&ext={external_id}&c={campaign}&t={ts}&geo={country}",
                    "params": { "zoneid": "sub1", "visitor_id": "external_id" }
                },
                "hosted": {
                    "offer_url": "https://{sub2}.offer.example/x",
                    "allowed_hosts": ["*.offer.example"]
                },
                "blocky": { "offer_url": "https://offer.example/", "bots": "block", "redirect": "307" },
                "paused": { "offer_url": "https://offer.example/", "paused": true },
                "paused_fb": { "offer_url": "https://offer.example/", "paused": true, "fallback_url": "https://home.example/" },
                "meta": { "offer_url": "https://offer.example/?a=1&b={sub1}", "redirect": "meta" }
            }
        }))
        .unwrap()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn click(campaign: &str, query: &[(String, String)]) -> ClickPlan {
        let config = config();
        let request = ClickRequest {
            query,
            user_agent: Some("Mozilla/5.0 (iPhone)"),
            client_ip: Some("198.51.100.7"),
            country: Some("DE"),
            now_ms: NOW,
            random: [1; 7],
            ..Default::default()
        };
        plan_click(&secrets(), config.campaigns.get(campaign), &request)
    }

    #[test]
    fn redirect_fills_macros_with_encoded_values() {
        let query = pairs(&[
            ("zoneid", "z 1&x=y"),
            ("external_id", "ext#1"),
            ("sub3", " kept "),
        ]);
        let plan = click("summer", &query);
        let record = plan.record.unwrap();
        let ClickResponse::Redirect { status, location } = plan.response else {
            panic!("{:?}", plan.response)
        };
        assert_eq!(status, 302);
        assert_eq!(
            location,
            format!(
                "https://offer.example/lp?aff_sub={}&s2=z%201%26x%3Dy&ext=ext%231&c=summer&t={}&geo=DE",
                record.click_id,
                NOW / 1000
            )
        );
        assert_eq!(record.subs[0].as_deref(), Some("z 1&x=y"));
        assert_eq!(record.subs[2].as_deref(), Some("kept"));
        assert_eq!(record.external_id.as_deref(), Some("ext#1"));
        assert_eq!(record.ip_hash.as_ref().map(String::len), Some(32));
        assert_eq!(record.bot_reason, None);
        assert!(secrets().verify(&record.click_id, NOW, 1).is_ok());
    }

    #[test]
    fn canonical_names_win_over_aliases_and_first_wins() {
        let query = pairs(&[
            ("zoneid", "alias"),
            ("sub1", "canonical"),
            ("sub1", "second"),
        ]);
        let record = click("summer", &query).record.unwrap();
        assert_eq!(record.subs[0].as_deref(), Some("canonical"));
    }

    #[test]
    fn values_are_clipped_to_512_bytes_on_a_char_boundary() {
        let long = "é".repeat(400);
        let record = click("summer", &pairs(&[("sub1", &long)])).record.unwrap();
        let stored = record.subs[0].clone().unwrap();
        assert_eq!(stored.len(), 512);
        assert!(stored.chars().all(|c| c == 'é'));
    }

    #[test]
    fn unknown_paused_and_fallback() {
        assert_eq!(click("nope", &[]).response, ClickResponse::NotFound);
        assert_eq!(click("paused", &[]).response, ClickResponse::NotFound);
        assert_eq!(click("paused", &[]).record, None);
        assert_eq!(
            click("paused_fb", &[]).response,
            ClickResponse::Fallback {
                location: "https://home.example/".into()
            }
        );
    }

    #[test]
    fn hostile_values_never_leave_the_allowed_hosts() {
        let hostile = [
            "//evil.example",
            "@evil.example",
            "\\\\evil.example",
            "evil.example/",
            "x.evil.example#",
            "a\r\nLocation: https://evil.example/",
            "%2F%2Fevil.example",
            "evil.example%2F",
            "..",
            "",
            &"a".repeat(5000),
        ];
        for value in hostile {
            let query = pairs(&[("sub1", value), ("sub2", value), ("external_id", value)]);
            for campaign in ["summer", "hosted", "meta"] {
                let plan = click(campaign, &query);
                let location = match plan.response {
                    ClickResponse::Redirect { location, .. }
                    | ClickResponse::MetaRefresh { location } => location,
                    ClickResponse::TargetNotAllowed => continue,
                    other => panic!("{other:?}"),
                };
                let url = url::Url::parse(&location).unwrap();
                let host = url.host_str().unwrap();
                assert!(
                    host == "offer.example" || host.ends_with(".offer.example"),
                    "{value:?} -> {location}"
                );
                assert!(!location.contains(['\r', '\n', '\\']), "{location}");
                assert!(url.username().is_empty());
            }
        }
    }

    #[test]
    fn bots_are_flagged_and_blocked_when_asked() {
        let config = config();
        let base = ClickRequest {
            user_agent: Some("Mozilla/5.0"),
            now_ms: NOW,
            ..Default::default()
        };
        let cases: &[(ClickRequest, Option<&str>)] = &[
            (
                ClickRequest {
                    is_head: true,
                    ..base.clone()
                },
                Some("head"),
            ),
            (
                ClickRequest {
                    user_agent: None,
                    ..base.clone()
                },
                Some("empty_user_agent"),
            ),
            (
                ClickRequest {
                    user_agent: Some("  "),
                    ..base.clone()
                },
                Some("empty_user_agent"),
            ),
            (
                ClickRequest {
                    purpose: Some("prefetch;prerender"),
                    ..base.clone()
                },
                Some("prefetch"),
            ),
            (
                ClickRequest {
                    user_agent: Some("facebookexternalhit/1.1"),
                    ..base.clone()
                },
                Some("crawler:facebookexternalhit"),
            ),
            (
                ClickRequest {
                    user_agent: Some("Slackbot-LinkExpanding 1.0"),
                    ..base.clone()
                },
                Some("crawler:slackbot"),
            ),
            (base.clone(), None),
        ];
        for (request, reason) in cases {
            let plan = plan_click(&secrets(), config.campaigns.get("summer"), request);
            assert_eq!(plan.record.as_ref().unwrap().bot_reason.as_deref(), *reason);
            assert!(matches!(
                plan.response,
                ClickResponse::Redirect { status: 302, .. }
            ));
            let blocked = plan_click(&secrets(), config.campaigns.get("blocky"), request);
            let expected_blocked = reason.is_some();
            assert_eq!(
                blocked.response == ClickResponse::BotBlocked,
                expected_blocked,
                "{reason:?}"
            );
            assert!(blocked.record.is_some());
        }
    }

    #[test]
    fn meta_refresh_page_escapes_the_location() {
        let page = meta_refresh_page("https://offer.example/?a=1&b=\"<x>");
        assert!(page.contains("url=https://offer.example/?a=1&amp;b=&quot;&lt;x&gt;"));
    }
}

#[cfg(test)]
mod documentation {
    #[test]
    fn docs_list_every_bot_marker() {
        let doc = include_str!("../docs/clicks.md");
        for marker in super::BOT_USER_AGENT_MARKERS {
            assert!(
                doc.contains(&format!("| `{marker}` |")),
                "docs/clicks.md misses {marker}"
            );
        }
        let rows = doc.lines().filter(|line| line.starts_with("| `")).count();
        assert_eq!(rows, super::BOT_USER_AGENT_MARKERS.len());
    }
}
