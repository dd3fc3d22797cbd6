//! Flows (docs/flows.md, SPEC §4 "Traffic distribution"): which offer a click goes to.
//! A campaign holds ordered rules, each with filters and a weighted pool of offers; the
//! first rule whose filters all match picks from its pool, else the campaign's default
//! pool does. Pure: the request facts, the zone rules and the keys are passed in, and
//! nothing is read from storage (a click makes 0 D1 queries before its response).

use crate::crypto::hmac_sha256;
use crate::pattern::Pattern;
use crate::template::UrlTemplate;
use crate::user_agent::{AgentClass, Browser, Device, Os};
use crate::zone::ZoneRules;

/// One destination of a pool.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The offer's name (stored on the click, reported by); `None` for a campaign's
    /// plain `offer_url`.
    pub name: Option<String>,
    pub url: UrlTemplate,
    /// Share of the pool's clicks, relative to the other offers' weights (0: paused).
    pub weight: u32,
}

/// Offers split by weight, optionally behind landing pages (docs/flows.md, "Landing
/// pages"): a lander is a weighted, named URL like an offer, so it is one too.
#[derive(Debug, Clone)]
pub struct Pool {
    pub offers: Vec<Offer>,
    /// Landing pages shown before the offer (none: the click goes straight to the offer).
    pub landers: Vec<Offer>,
    /// The same visitor (keyed hash of IP and User-Agent) always gets the same offer.
    pub sticky: bool,
}

/// How a click parameter's value is tested.
#[derive(Debug, Clone)]
pub enum Matcher {
    Equals(String),
    OneOf(Vec<String>),
    Prefix(String),
    Pattern(Pattern),
}

impl Matcher {
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Equals(expected) => value == expected,
            Matcher::OneOf(values) => values.iter().any(|expected| expected == value),
            Matcher::Prefix(prefix) => value.starts_with(prefix.as_str()),
            Matcher::Pattern(pattern) => pattern.is_match(value),
        }
    }
}

/// Local time of day from `from_minute` (inclusive) to `to_minute` (exclusive), in
/// minutes after local midnight in `zone`; a window past midnight has `from > to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindow {
    pub zone: String,
    pub from_minute: u16,
    pub to_minute: u16,
}

impl TimeWindow {
    /// Whether the instant `now_ms` falls in the window (an unknown zone: never).
    pub fn contains(&self, rules: &dyn ZoneRules, now_ms: u64) -> bool {
        let Ok(now) = i64::try_from(now_ms) else {
            return false;
        };
        let Some(offset) = rules.offset_seconds(&self.zone, now) else {
            return false;
        };
        let local_seconds = now.div_euclid(1000).saturating_add(i64::from(offset));
        let minute = local_seconds.rem_euclid(86_400) / 60;
        let (from, to) = (i64::from(self.from_minute), i64::from(self.to_minute));
        if from <= to {
            (from..to).contains(&minute)
        } else {
            minute >= from || minute < to
        }
    }
}

/// One condition of a rule; a rule matches when all of its filters do.
#[derive(Debug, Clone)]
pub enum Filter {
    /// Upper-case ISO 3166 codes, as Cloudflare gives them.
    Country(Vec<String>),
    /// Region codes or names (ISO 3166-2 code such as `TX`, or `Texas`), lower case.
    Region(Vec<String>),
    /// City names, lower case.
    City(Vec<String>),
    Device(Vec<Device>),
    Os(Vec<Os>),
    Browser(Vec<Browser>),
    /// Primary language subtags, lower case.
    Language(Vec<String>),
    Asn(Vec<u32>),
    /// `true`: only bots and prefetches; `false`: only people.
    Bot(bool),
    /// A click parameter: a canonical field (`sub1`…`sub10`, `external_id`, filled from
    /// aliases too) or any other query parameter by its name.
    Param {
        name: String,
        matcher: Matcher,
    },
    Time(TimeWindow),
}

/// A rule: when its filters match, its pool picks the offer.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub filters: Vec<Filter>,
    pub pool: Pool,
}

/// What is known about the visitor of one click.
pub struct Visitor<'a> {
    pub country: Option<&'a str>,
    pub region_code: Option<&'a str>,
    pub region: Option<&'a str>,
    pub city: Option<&'a str>,
    pub asn: Option<u32>,
    pub is_bot: bool,
    pub agent: AgentClass,
    pub language: Option<&'a str>,
    /// A click parameter's value by name (canonical fields after aliases; other names
    /// from the query).
    pub param: &'a dyn Fn(&str) -> Option<&'a str>,
    pub now_ms: u64,
    pub zones: Option<&'a dyn ZoneRules>,
}

fn same_text(wanted: &[String], found: Option<&str>) -> bool {
    found.is_some_and(|value| wanted.iter().any(|w| w.eq_ignore_ascii_case(value.trim())))
}

impl Filter {
    pub fn matches(&self, visitor: &Visitor<'_>) -> bool {
        match self {
            Filter::Country(codes) => same_text(codes, visitor.country),
            Filter::Region(names) => {
                same_text(names, visitor.region_code) || same_text(names, visitor.region)
            }
            Filter::City(names) => same_text(names, visitor.city),
            Filter::Device(devices) => devices.contains(&visitor.agent.device),
            Filter::Os(families) => families.contains(&visitor.agent.os),
            Filter::Browser(families) => families.contains(&visitor.agent.browser),
            Filter::Language(tags) => same_text(tags, visitor.language),
            Filter::Asn(numbers) => visitor.asn.is_some_and(|asn| numbers.contains(&asn)),
            Filter::Bot(wanted) => visitor.is_bot == *wanted,
            Filter::Param { name, matcher } => {
                (visitor.param)(name).is_some_and(|value| matcher.matches(value))
            }
            Filter::Time(window) => visitor
                .zones
                .is_some_and(|zones| window.contains(zones, visitor.now_ms)),
        }
    }
}

/// The offer a click goes to, the lander it is shown first (if its pool has landers),
/// and the rule that chose them (`None`: the default pool).
#[derive(Debug, Clone, Copy)]
pub struct Choice<'a> {
    pub rule: Option<&'a Rule>,
    pub offer: &'a Offer,
    pub lander: Option<&'a Offer>,
}

/// A pool's pick for a position `draw` (any `u64`): offers take consecutive shares of
/// `0..total weight`, in order. `None` only for a pool whose weights are all 0, which
/// configuration refuses.
pub fn pick(pool: &Pool, draw: u64) -> Option<&Offer> {
    pick_from(&pool.offers, draw)
}

/// The weighted pick of `draw` among `offers` (or landers).
pub fn pick_from(offers: &[Offer], draw: u64) -> Option<&Offer> {
    let total: u64 = offers.iter().map(|offer| u64::from(offer.weight)).sum();
    let mut position = draw.checked_rem(total)?;
    for offer in offers {
        let weight = u64::from(offer.weight);
        if position < weight {
            return Some(offer);
        }
        position -= weight;
    }
    None
}

/// The draw of a sticky pool: a keyed hash (HMAC with a key derived from the click
/// secret) of the visitor's IP and User-Agent, and of the campaign and rule so that one
/// visitor's offers in different pools are independent. Never stored.
pub fn sticky_draw(
    secret: &[u8],
    campaign: &str,
    rule: Option<&str>,
    ip: &str,
    user_agent: &str,
) -> u64 {
    let tag = hmac_sha256(
        secret,
        &[
            b"edgeback/sticky-visitor/v1\0",
            campaign.as_bytes(),
            b"\0",
            rule.unwrap_or_default().as_bytes(),
            b"\0",
            ip.as_bytes(),
            b"\0",
            user_agent.as_bytes(),
        ],
    );
    let mut first = [0u8; 8];
    first.copy_from_slice(tag.get(..8).unwrap_or(&[0; 8]));
    u64::from_le_bytes(first)
}

/// The draw of a non-sticky pool from the click's random bytes (SplitMix64's finalizer
/// spreads them over all 64 bits, so the split does not follow the ID's visible bits).
pub fn random_draw(random: &[u8]) -> u64 {
    let mut seed = [0u8; 8];
    for (slot, byte) in seed.iter_mut().zip(random) {
        *slot = *byte;
    }
    mix(u64::from_le_bytes(seed))
}

/// The lander's draw from the offer's: mixed again, so that which lander a click sees
/// and which offer it reaches are independent (each split by its own weights), and the
/// same for a sticky visitor on every click.
pub fn lander_draw(offer_draw: u64) -> u64 {
    mix(offer_draw ^ 0x6c61_6e64_6572_0001)
}

fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The first matching rule's pool, else the default; `None` when the chosen pool cannot
/// pick (all weights 0, refused by configuration).
pub fn choose<'a>(
    rules: &'a [Rule],
    default_pool: &'a Pool,
    visitor: &Visitor<'_>,
    draw: impl Fn(Option<&str>, &Pool) -> u64,
) -> Option<Choice<'a>> {
    let rule = rules
        .iter()
        .find(|rule| rule.filters.iter().all(|filter| filter.matches(visitor)));
    let pool = rule.map_or(default_pool, |rule| &rule.pool);
    let offer_draw = draw(rule.map(|rule| rule.name.as_str()), pool);
    let offer = pick(pool, offer_draw)?;
    let lander = match pool.landers.is_empty() {
        true => None,
        false => Some(pick_from(&pool.landers, lander_draw(offer_draw))?),
    };
    Some(Choice {
        rule,
        offer,
        lander,
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
