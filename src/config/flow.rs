//! A campaign's flow configuration (docs/flows.md): `offers`, `sticky` and `rules` with
//! their `filters`, checked with key paths; every problem is reported in one run.

use super::{check_name, Problems};
use crate::flow::{Filter, Matcher, Offer, Pool, Rule, TimeWindow};
use crate::pattern::Pattern;
use crate::template::UrlTemplate;
use crate::user_agent::{BROWSERS, DEVICES, OSES};
use serde_json::Value;

/// Most rules per campaign: each click tests them in order.
pub const MAX_RULES: usize = 50;
/// Most offers per pool.
pub const MAX_OFFERS: usize = 20;
/// Largest weight of one offer (weights are relative: 1-100 or 1-10000 both work).
pub const MAX_WEIGHT: u32 = 1_000_000;
/// Most values in one filter list.
pub const MAX_FILTER_VALUES: usize = 200;
/// Longest filter value, in bytes.
pub const MAX_FILTER_VALUE_BYTES: usize = 128;
/// Most click-parameter filters per rule.
pub const MAX_PARAM_FILTERS: usize = 20;

/// The filter keys a rule takes (for "did you mean").
pub const FILTER_KEYS: &[&str] = &[
    "country", "region", "city", "device", "os", "browser", "language", "asn", "bot", "params",
    "time",
];

/// The object at `path` with only `known` keys (each unknown one reported, with "did you
/// mean"). Read by hand rather than through serde derives: each derived type adds
/// several KB to the worker (design §13), and these are plain objects.
fn object_at(
    problems: &mut Problems,
    path: &str,
    value: Value,
    known: &[&str],
) -> Option<serde_json::Map<String, Value>> {
    let Value::Object(object) = value else {
        problems.push(path, "must be a table (an object)");
        return None;
    };
    let mut valid = true;
    for key in object.keys() {
        if !known.contains(&key.as_str()) {
            valid = false;
            problems.push(
                format!("{path}.{key}"),
                format!(
                    "unknown field `{key}`, expected one of {}{}",
                    known.join(", "),
                    crate::suggest::hint(key, known.iter().copied())
                ),
            );
        }
    }
    valid.then_some(object)
}

/// A required string field.
fn text_field(
    problems: &mut Problems,
    path: &str,
    object: &mut serde_json::Map<String, Value>,
    key: &str,
) -> Option<String> {
    match object.remove(key) {
        Some(Value::String(text)) => Some(text),
        Some(_) => {
            problems.push(format!("{path}.{key}"), "must be a string");
            None
        }
        None => {
            problems.push(format!("{path}.{key}"), "missing");
            None
        }
    }
}

/// An offer URL (or, with `true`, a lander URL) checked as a template: `None` (with the
/// problem pushed) if it is not.
pub(super) type ParseUrl<'a> =
    dyn FnMut(&mut Problems, &str, &str, bool) -> Option<UrlTemplate> + 'a;

/// A pool's destinations as written: `offer_url` or `offers`, and optionally
/// `lander_url` or `landers` (docs/flows.md).
pub(super) struct RawPool {
    pub offer_url: Option<String>,
    pub offers: Option<Vec<Value>>,
    pub lander_url: Option<String>,
    pub landers: Option<Vec<Value>>,
    pub sticky: bool,
}

/// A pool from either `offer_url` (one unnamed offer) or `offers`, at `path`, and its
/// landers from `lander_url` or `landers` (none: straight to the offer).
pub(super) fn resolve_pool(
    problems: &mut Problems,
    path: &str,
    raw: RawPool,
    parse_url: &mut ParseUrl<'_>,
) -> Option<Pool> {
    let before = problems.0.len();
    let offers = weighted(
        problems,
        path,
        "offer",
        raw.offer_url,
        raw.offers,
        parse_url,
    );
    let landers = match (&raw.lander_url, &raw.landers) {
        (None, None) => Some(Vec::new()),
        _ => weighted(
            problems,
            path,
            "lander",
            raw.lander_url,
            raw.landers,
            parse_url,
        ),
    };
    let (Some(offers), Some(landers)) = (offers, landers) else {
        return None;
    };
    (problems.0.len() == before).then_some(Pool {
        offers,
        landers,
        sticky: raw.sticky,
    })
}

/// `{kind}_url` (one unnamed entry) or `{kind}s` (a weighted list of named ones).
fn weighted(
    problems: &mut Problems,
    path: &str,
    kind: &str,
    single: Option<String>,
    list: Option<Vec<Value>>,
    parse_url: &mut ParseUrl<'_>,
) -> Option<Vec<Offer>> {
    let before = problems.0.len();
    let lander = kind == "lander";
    let offers = match (single, list) {
        (Some(_), Some(_)) => {
            problems.push(
                format!("{path}.{kind}s"),
                format!(
                    "set either {kind}_url (one {kind}) or {kind}s (a weighted pool), not both"
                ),
            );
            return None;
        }
        (None, None) => {
            problems.push(
                format!("{path}.{kind}_url"),
                format!("missing: set {kind}_url (one {kind}) or {kind}s (a weighted pool)"),
            );
            return None;
        }
        (Some(url), None) => {
            let url = parse_url(problems, &format!("{path}.{kind}_url"), &url, lander)?;
            vec![Offer {
                name: None,
                url,
                weight: 1,
            }]
        }
        (None, Some(list)) => {
            if list.is_empty() || list.len() > MAX_OFFERS {
                problems.push(
                    format!("{path}.{kind}s"),
                    format!("has {} {kind}s; 1 to {MAX_OFFERS} are accepted", list.len()),
                );
                return None;
            }
            let mut offers = Vec::with_capacity(list.len());
            let mut names: Vec<String> = Vec::with_capacity(list.len());
            for (index, value) in list.into_iter().enumerate() {
                let at = format!("{path}.{kind}s[{index}]");
                let Some(mut object) = object_at(problems, &at, value, &["name", "url", "weight"])
                else {
                    continue;
                };
                let name = text_field(problems, &at, &mut object, "name");
                let url = text_field(problems, &at, &mut object, "url");
                let weight = match object.remove("weight") {
                    None => Some(1),
                    Some(number) => {
                        let weight = number.as_u64().and_then(|n| u32::try_from(n).ok());
                        if weight.is_none_or(|weight| weight > MAX_WEIGHT) {
                            problems.push(
                                format!("{at}.weight"),
                                format!("must be 0 (paused) to {MAX_WEIGHT}"),
                            );
                        }
                        weight
                    }
                };
                let (Some(name), Some(url), Some(weight)) = (name, url, weight) else {
                    continue;
                };
                let raw = (name, url, weight);
                check_name(problems, &format!("{at}.name"), &raw.0);
                if names.contains(&raw.0) {
                    problems.push(
                        format!("{at}.name"),
                        format!("\"{}\" names another {kind} of this pool", raw.0),
                    );
                }
                names.push(raw.0.clone());
                if let Some(url) = parse_url(problems, &format!("{at}.url"), &raw.1, lander) {
                    offers.push(Offer {
                        name: Some(raw.0),
                        url,
                        weight: raw.2,
                    });
                }
            }
            if problems.0.len() == before && offers.iter().all(|offer| offer.weight == 0) {
                problems.push(
                    format!("{path}.{kind}s"),
                    format!("every weight is 0: at least one {kind} must take clicks"),
                );
            }
            offers
        }
    };
    (problems.0.len() == before).then_some(offers)
}

/// The campaign's rules, at `{path}.rules`.
pub(super) fn resolve_rules(
    problems: &mut Problems,
    path: &str,
    rules: Vec<Value>,
    parse_url: &mut ParseUrl<'_>,
) -> Vec<Rule> {
    if rules.len() > MAX_RULES {
        problems.push(
            format!("{path}.rules"),
            format!("has {} rules; at most {MAX_RULES}", rules.len()),
        );
        return Vec::new();
    }
    let mut resolved: Vec<Rule> = Vec::with_capacity(rules.len());
    for (index, value) in rules.into_iter().enumerate() {
        let at = format!("{path}.rules[{index}]");
        let known = [
            "name",
            "filters",
            "offer_url",
            "offers",
            "lander_url",
            "landers",
            "sticky",
        ];
        let Some(mut object) = object_at(problems, &at, value, &known) else {
            continue;
        };
        let name = text_field(problems, &at, &mut object, "name").unwrap_or_default();
        check_name(problems, &format!("{at}.name"), &name);
        if resolved.iter().any(|rule| rule.name == name) {
            problems.push(
                format!("{at}.name"),
                format!("\"{name}\" names another rule of this campaign"),
            );
        }
        let filters = match object.remove("filters") {
            None => Vec::new(),
            Some(Value::Object(raw)) => resolve_filters(problems, &format!("{at}.filters"), raw),
            Some(_) => {
                problems.push(format!("{at}.filters"), "must be a table of filters");
                Vec::new()
            }
        };
        let mut text = |key: &str| match object.remove(key) {
            None => Ok(None),
            Some(Value::String(url)) => Ok(Some(url)),
            Some(_) => Err(format!("{at}.{key}")),
        };
        let (offer_url, lander_url) = match (text("offer_url"), text("lander_url")) {
            (Ok(offer_url), Ok(lander_url)) => (offer_url, lander_url),
            (Err(at), _) | (_, Err(at)) => {
                problems.push(at, "must be a string");
                continue;
            }
        };
        let mut list = |key: &str| match object.remove(key) {
            None => Ok(None),
            Some(Value::Array(list)) => Ok(Some(list)),
            Some(_) => Err(format!("{at}.{key}")),
        };
        let (offers, landers) = match (list("offers"), list("landers")) {
            (Ok(offers), Ok(landers)) => (offers, landers),
            (Err(at), _) | (_, Err(at)) => {
                problems.push(at, "must be a list of {name, url, weight}");
                continue;
            }
        };
        let sticky = match object.remove("sticky") {
            None => false,
            Some(Value::Bool(sticky)) => sticky,
            Some(_) => {
                problems.push(format!("{at}.sticky"), "must be true or false");
                false
            }
        };
        let raw = RawPool {
            offer_url,
            offers,
            lander_url,
            landers,
            sticky,
        };
        let pool = resolve_pool(problems, &at, raw, parse_url);
        if let Some(pool) = pool {
            resolved.push(Rule {
                name,
                filters,
                pool,
            });
        }
    }
    resolved
}

/// A string or a list of strings, each 1 to [`MAX_FILTER_VALUE_BYTES`] bytes.
fn strings(problems: &mut Problems, path: &str, value: Value) -> Vec<String> {
    let list = match value {
        Value::String(text) => vec![Value::String(text)],
        Value::Array(items) => items,
        _ => {
            problems.push(path, "must be a string or a list of strings");
            return Vec::new();
        }
    };
    if list.is_empty() || list.len() > MAX_FILTER_VALUES {
        problems.push(
            path,
            format!("has {} values; 1 to {MAX_FILTER_VALUES}", list.len()),
        );
        return Vec::new();
    }
    let mut found = Vec::with_capacity(list.len());
    for (index, item) in list.into_iter().enumerate() {
        match item {
            Value::String(text) if !text.is_empty() && text.len() <= MAX_FILTER_VALUE_BYTES => {
                found.push(text)
            }
            _ => problems.push(
                format!("{path}[{index}]"),
                format!("must be a string of 1 to {MAX_FILTER_VALUE_BYTES} bytes"),
            ),
        }
    }
    found
}

/// Names from a fixed list (device, os, browser), with "did you mean".
fn named<T: Copy>(
    problems: &mut Problems,
    path: &str,
    value: Value,
    known: &[(&'static str, T)],
) -> Vec<T> {
    let names = strings(problems, path, value);
    let single = names.len() == 1;
    let mut found = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        let lower = name.to_ascii_lowercase();
        match known.iter().find(|(known_name, _)| *known_name == lower) {
            Some((_, value)) => found.push(*value),
            None => {
                let at = if single {
                    path.to_string()
                } else {
                    format!("{path}[{index}]")
                };
                let choices: Vec<&str> = known.iter().map(|(name, _)| *name).collect();
                problems.push(
                    at,
                    format!(
                        "\"{name}\" is not one of {}{}",
                        choices.join(", "),
                        crate::suggest::hint(&lower, choices.iter().copied())
                    ),
                );
            }
        }
    }
    found
}

/// `HH:MM`, 00:00 to 24:00, as minutes after midnight.
fn minute_of_day(text: &str) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    let total = hours.checked_mul(60)?.checked_add(minutes)?;
    (minutes < 60 && total <= 24 * 60).then_some(total)
}

fn matcher(problems: &mut Problems, path: &str, value: Value) -> Option<Matcher> {
    let text_ok = |text: &str| !text.is_empty() && text.len() <= MAX_FILTER_VALUE_BYTES;
    match value {
        Value::String(text) if text_ok(&text) => Some(Matcher::Equals(text)),
        Value::Array(_) => {
            let values = strings(problems, path, value);
            (!values.is_empty()).then_some(Matcher::OneOf(values))
        }
        Value::Object(object) if object.len() == 1 => {
            let (kind, inner) = object.into_iter().next()?;
            let at = format!("{path}.{kind}");
            match (kind.as_str(), inner) {
                ("equals", Value::String(text)) if text_ok(&text) => Some(Matcher::Equals(text)),
                ("prefix", Value::String(text)) if text_ok(&text) => Some(Matcher::Prefix(text)),
                ("one_of", list @ Value::Array(_)) => {
                    let values = strings(problems, &at, list);
                    (!values.is_empty()).then_some(Matcher::OneOf(values))
                }
                ("regex", Value::String(text)) => match Pattern::parse(&text) {
                    Ok(pattern) => Some(Matcher::Pattern(pattern)),
                    Err(reason) => {
                        problems.push(at, reason);
                        None
                    }
                },
                ("equals" | "prefix" | "regex", _) => {
                    problems.push(
                        at,
                        format!("must be a string of 1 to {MAX_FILTER_VALUE_BYTES} bytes"),
                    );
                    None
                }
                ("one_of", _) => {
                    problems.push(at, "must be a list of strings");
                    None
                }
                (other, _) => {
                    let kinds = ["equals", "one_of", "prefix", "regex"];
                    problems.push(
                        at,
                        format!(
                            "\"{other}\" is not equals, one_of, prefix or regex{}",
                            crate::suggest::hint(other, kinds)
                        ),
                    );
                    None
                }
            }
        }
        _ => {
            problems.push(
                path,
                "must be a value (equals), a list (one of), or { equals | one_of | prefix | regex = … }",
            );
            None
        }
    }
}

/// A time filter's fields as written.
struct RawTime {
    zone: String,
    from: String,
    to: String,
}

fn resolve_filters(
    problems: &mut Problems,
    path: &str,
    raw: serde_json::Map<String, Value>,
) -> Vec<Filter> {
    let mut filters = Vec::with_capacity(raw.len());
    for (key, value) in raw {
        let at = format!("{path}.{key}");
        let filter = match key.as_str() {
            "country" => {
                let codes = strings(problems, &at, value);
                for (index, code) in codes.iter().enumerate() {
                    let valid = code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphanumeric());
                    if !valid {
                        problems.push(
                            format!("{at}[{index}]"),
                            format!("\"{code}\" is not a two-letter country code such as US"),
                        );
                    }
                }
                Filter::Country(codes.iter().map(|c| c.to_ascii_uppercase()).collect())
            }
            "region" => Filter::Region(strings(problems, &at, value)),
            "city" => Filter::City(strings(problems, &at, value)),
            "language" => {
                let tags = strings(problems, &at, value);
                for (index, tag) in tags.iter().enumerate() {
                    if !(tag.len() <= 8 && tag.bytes().all(|b| b.is_ascii_alphabetic())) {
                        problems.push(
                            format!("{at}[{index}]"),
                            format!("\"{tag}\" is not a primary language tag such as en or de"),
                        );
                    }
                }
                Filter::Language(tags.iter().map(|t| t.to_ascii_lowercase()).collect())
            }
            "device" => Filter::Device(named(problems, &at, value, DEVICES)),
            "os" => Filter::Os(named(problems, &at, value, OSES)),
            "browser" => Filter::Browser(named(problems, &at, value, BROWSERS)),
            "asn" => {
                let list = match value {
                    Value::Array(items) => items,
                    single => vec![single],
                };
                let mut numbers = Vec::with_capacity(list.len());
                if list.is_empty() || list.len() > MAX_FILTER_VALUES {
                    problems.push(&at, format!("1 to {MAX_FILTER_VALUES} AS numbers"));
                }
                for item in list.iter().take(MAX_FILTER_VALUES) {
                    match item.as_u64().and_then(|n| u32::try_from(n).ok()) {
                        Some(number) => numbers.push(number),
                        None => {
                            problems.push(&at, "must be an AS number or a list of them");
                            break;
                        }
                    }
                }
                Filter::Asn(numbers)
            }
            "bot" => match value {
                Value::Bool(wanted) => Filter::Bot(wanted),
                _ => {
                    problems.push(at, "must be true (only bots) or false (only people)");
                    continue;
                }
            },
            "params" => {
                let Value::Object(params) = value else {
                    problems.push(at, "must be a table of parameter name = condition");
                    continue;
                };
                if params.len() > MAX_PARAM_FILTERS {
                    problems.push(&at, format!("at most {MAX_PARAM_FILTERS} parameters"));
                }
                for (name, condition) in params.into_iter().take(MAX_PARAM_FILTERS) {
                    let param_path = format!("{at}.{name}");
                    if name.is_empty() || name.len() > super::campaign::MAX_ALIAS_BYTES {
                        problems.push(&param_path, "parameter name must be 1-64 bytes");
                        continue;
                    }
                    if let Some(matcher) = matcher(problems, &param_path, condition) {
                        filters.push(Filter::Param { name, matcher });
                    }
                }
                continue;
            }
            "time" => {
                let Some(mut object) = object_at(problems, &at, value, &["zone", "from", "to"])
                else {
                    continue;
                };
                let zone = text_field(problems, &at, &mut object, "zone");
                let from = text_field(problems, &at, &mut object, "from");
                let to = text_field(problems, &at, &mut object, "to");
                let (Some(zone), Some(from), Some(to)) = (zone, from, to) else {
                    continue;
                };
                let raw = RawTime { zone, from, to };
                if !crate::zone::is_zone_name(&raw.zone) {
                    problems.push(
                        format!("{at}.zone"),
                        "not an IANA time zone name such as \"Europe/Berlin\"",
                    );
                }
                let from = minute_of_day(&raw.from);
                let to = minute_of_day(&raw.to);
                for (field, text, minute) in [("from", &raw.from, from), ("to", &raw.to, to)] {
                    if minute.is_none() {
                        problems.push(
                            format!("{at}.{field}"),
                            format!("\"{text}\" is not a time of day HH:MM (00:00 to 24:00)"),
                        );
                    }
                }
                let (Some(from_minute), Some(to_minute)) = (from, to) else {
                    continue;
                };
                let all_day = from_minute == 0 && to_minute == 24 * 60;
                if from_minute % (24 * 60) == to_minute % (24 * 60) && !all_day {
                    problems.push(
                        format!("{at}.to"),
                        "equals from: the window would be empty (leave time out for all day)",
                    );
                }
                Filter::Time(TimeWindow {
                    zone: raw.zone,
                    from_minute: from_minute % (24 * 60),
                    to_minute,
                })
            }
            other => {
                problems.push(
                    at,
                    format!(
                        "unknown filter{}",
                        crate::suggest::hint(other, FILTER_KEYS.iter().copied())
                    ),
                );
                continue;
            }
        };
        filters.push(filter);
    }
    filters
}

/// The zone names of a campaign's time filters (checked against real zone rules where
/// the configuration runs: `Config::check_timezone`).
pub fn time_zones(rules: &[Rule]) -> impl Iterator<Item = (usize, &str)> {
    rules.iter().enumerate().flat_map(|(index, rule)| {
        rule.filters.iter().filter_map(move |filter| match filter {
            Filter::Time(window) => Some((index, window.zone.as_str())),
            _ => None,
        })
    })
}
