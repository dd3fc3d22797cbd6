//! Destinations (design §5, §8): where each conversion change is forwarded.

use super::{check_name, check_secret_name, http_url, Problems, Status};
use crate::template::UrlTemplate;

/// Macros a postback destination's URL may use besides the click's
/// ([`super::OFFER_MACROS`], design §4): the conversion's (design §8).
pub const CONVERSION_MACROS: &[&str] = &[
    "conversion_id",
    "event",
    "status",
    "payout",
    "currency",
    "transaction_id",
    "network",
];

/// Most attempts per delivery: the schedule has eight (design §8).
pub const MAX_ATTEMPTS: u32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawKind {
    Webhook,
    Postback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PostbackMethod {
    /// `GET`.
    #[default]
    Get,
    /// `POST`: the URL's query becomes a form body (`application/x-www-form-urlencoded`).
    Post,
}

#[derive(Debug)]
pub(super) struct RawDestination {
    name: String,
    kind: RawKind,
    url: String,
    secret: Option<String>,
    method: Option<PostbackMethod>,
    types: Option<Vec<String>>,
    events: Option<Vec<String>>,
    statuses: Option<Vec<String>>,
    campaigns: Option<Vec<String>>,
    networks: Option<Vec<String>>,
    max_attempts: Option<u32>,
}

/// A destination's keys, in the order serde's messages list them.
const DESTINATION_FIELDS: &[&str] = &[
    "name",
    "kind",
    "url",
    "secret",
    "method",
    "types",
    "events",
    "statuses",
    "campaigns",
    "networks",
    "max_attempts",
];

impl RawDestination {
    /// The destination table at `path`, read by hand (`super::table`); every problem of
    /// the table is reported.
    pub(super) fn read(path: &str, value: serde_json::Value) -> Result<Self, super::ConfigErrors> {
        super::table::read_all(|problems| {
            let mut table = super::table::Table::read(
                problems,
                path,
                value,
                "struct RawDestination",
                DESTINATION_FIELDS,
            )?;
            let name = table.required_text("name");
            let kind = table
                .required_choice("kind", &["webhook", "postback"])
                .map(|index| {
                    if index == 1 {
                        RawKind::Postback
                    } else {
                        RawKind::Webhook
                    }
                });
            let url = table.required_text("url");
            let secret = table.text("secret");
            let method = table.choice("method", &["GET", "POST"], true).map(|index| {
                if index == 1 {
                    PostbackMethod::Post
                } else {
                    PostbackMethod::Get
                }
            });
            let types = table.strings("types", true);
            let events = table.strings("events", true);
            let statuses = table.strings("statuses", true);
            let campaigns = table.strings("campaigns", true);
            let networks = table.strings("networks", true);
            let max_attempts = table.take::<Option<u32>>("max_attempts").flatten();
            if !table.finish() {
                return None;
            }
            Some(RawDestination {
                name: name?,
                kind: kind?,
                url: url?,
                secret,
                method,
                types,
                events,
                statuses,
                campaigns,
                networks,
                max_attempts,
            })
        })
    }
}

/// What a destination receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationKind {
    /// Standard Webhooks JSON POST, signed with the named `whsec_` secret.
    Webhook { url: url::Url, secret: String },
    /// A traffic-source postback: the URL template filled with URL-encoded values.
    Postback {
        template: UrlTemplate,
        method: PostbackMethod,
    },
}

/// A validated destination. `None` filters match everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub name: String,
    pub kind: DestinationKind,
    pub types: Option<Vec<crate::forward::ChangeType>>,
    pub events: Option<Vec<String>>,
    pub statuses: Option<Vec<Status>>,
    pub campaigns: Option<Vec<String>>,
    pub networks: Option<Vec<String>>,
    pub max_attempts: u32,
}

impl Destination {
    /// The filters known before the record step (event, status, network). Type and
    /// campaign are decided in the record step's SQL, where they are known.
    pub fn may_match(&self, event: &str, status: Status, network: &str) -> bool {
        let allows = |filter: &Option<Vec<String>>, value: &str| {
            filter
                .as_ref()
                .is_none_or(|list| list.iter().any(|item| item == value))
        };
        allows(&self.events, event)
            && self
                .statuses
                .as_ref()
                .is_none_or(|list| list.contains(&status))
            && allows(&self.networks, network)
    }

    /// The secret names this destination needs.
    pub fn secret_name(&self) -> Option<&str> {
        match &self.kind {
            DestinationKind::Webhook { secret, .. } => Some(secret),
            DestinationKind::Postback { .. } => None,
        }
    }
}

pub(super) fn resolve(
    problems: &mut Problems,
    path: &str,
    raw: RawDestination,
    known_networks: &[&str],
    known_campaigns: &[&str],
) -> Option<Destination> {
    let before = problems.0.len();
    check_name(problems, &format!("{path}.name"), &raw.name);
    let kind = match raw.kind {
        RawKind::Webhook => {
            if raw.method.is_some() {
                problems.push(
                    format!("{path}.method"),
                    "webhooks are always POST; remove method",
                );
            }
            let secret = raw.secret.clone().unwrap_or_else(|| {
                problems.push(
                    format!("{path}.secret"),
                    "a webhook needs a secret (the name of a whsec_… secret)",
                );
                String::new()
            });
            if !secret.is_empty() {
                check_secret_name(problems, &format!("{path}.secret"), &secret);
            }
            match http_url(&raw.url) {
                Ok(url) => Some(DestinationKind::Webhook { url, secret }),
                Err(reason) => {
                    problems.push(format!("{path}.url"), reason);
                    None
                }
            }
        }
        RawKind::Postback => {
            if raw.secret.is_some() {
                problems.push(
                    format!("{path}.secret"),
                    "postback destinations are not signed; remove secret",
                );
            }
            let checked =
                UrlTemplate::parse_in(&raw.url, &[super::OFFER_MACROS, CONVERSION_MACROS])
                    .map_err(|error| error.to_string())
                    .and_then(|template| match template.macro_in_origin() {
                        // A click's or conversion's value must never choose where the
                        // request goes (issue 11 item 6).
                        Some(name) => Err(format!(
                            "macro {{{name}}} is in the scheme, host or port: a click's or a \
                         conversion's values would choose where the request goes; use \
                         macros in the path or query only"
                        )),
                        None => http_url(&template.render(|_| Some("x"))).map(|_| template),
                    });
            match checked {
                Ok(template) => Some(DestinationKind::Postback {
                    template,
                    method: raw.method.unwrap_or_default(),
                }),
                Err(reason) => {
                    problems.push(format!("{path}.url"), reason);
                    None
                }
            }
        }
    };
    // `near`: the names a typo is probably of, for "did you mean".
    let mut check_list = |key: &str,
                          list: &Option<Vec<String>>,
                          known: &dyn Fn(&str) -> bool,
                          what: &str,
                          near: &[&str]| {
        if let Some(list) = list {
            if list.is_empty() {
                problems.push(
                    format!("{path}.{key}"),
                    "must not be empty (leave it out to match all)",
                );
            }
            for (index, item) in list.iter().enumerate() {
                if !known(item) {
                    problems.push(
                        format!("{path}.{key}[{index}]"),
                        format!(
                            "\"{item}\" is not {what}{}",
                            crate::suggest::hint(item, near.iter().copied())
                        ),
                    );
                }
            }
        }
    };
    check_list(
        "types",
        &raw.types,
        &|t| crate::forward::ChangeType::parse(t).is_some(),
        "conversion.created or conversion.updated",
        &["conversion.created", "conversion.updated"],
    );
    check_list(
        "events",
        &raw.events,
        &super::is_event_slug,
        "an event name ([a-z0-9_]{1,32})",
        &[],
    );
    check_list(
        "statuses",
        &raw.statuses,
        &|s| Status::from_name(s).is_some(),
        "pending, approved, rejected or reversed",
        &["pending", "approved", "rejected", "reversed"],
    );
    check_list(
        "campaigns",
        &raw.campaigns,
        &|c| known_campaigns.contains(&c),
        "a configured campaign",
        known_campaigns,
    );
    check_list(
        "networks",
        &raw.networks,
        &|n| known_networks.contains(&n),
        "a configured network",
        known_networks,
    );
    let max_attempts = raw.max_attempts.unwrap_or(MAX_ATTEMPTS);
    if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
        problems.push(
            format!("{path}.max_attempts"),
            format!("must be between 1 and {MAX_ATTEMPTS}"),
        );
    }
    if problems.0.len() > before {
        return None;
    }
    Some(Destination {
        name: raw.name,
        kind: kind?,
        types: raw.types.map(|types| {
            types
                .iter()
                .filter_map(|t| crate::forward::ChangeType::parse(t))
                .collect()
        }),
        events: raw.events,
        statuses: raw
            .statuses
            .map(|list| list.iter().filter_map(|s| Status::from_name(s)).collect()),
        campaigns: raw.campaigns,
        networks: raw.networks,
        max_attempts,
    })
}

/// Delivery timing (`[vars.EDGEBACK.delivery]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Delays after the 1st, 2nd, … failed attempt (design §8: 5 s, 5 min, 30 min, 2 h,
    /// 5 h, 10 h, 10 h): with the immediate first attempt, 8 attempts over about 28 h.
    pub retry_schedule_seconds: Vec<u64>,
    /// Each delay is spread by ± this percentage, so retries do not arrive in lockstep.
    pub jitter_percent: u8,
    /// Deliveries attempted per cron run: one outbound request each, within the free
    /// plan's 50 subrequests per invocation; the rest wait for the next minute.
    pub cron_batch: u32,
    /// How long one attempt may take.
    pub timeout_seconds: u32,
    /// A destination whose every attempt has failed for this long is paused (its
    /// deliveries wait, unclaimed, until a replay resumes it): 5 days, as Svix does.
    pub pause_after_hours: u32,
}

fn default_schedule() -> Vec<u64> {
    vec![5, 300, 1800, 7200, 18_000, 36_000, 36_000]
}
fn default_jitter() -> u8 {
    20
}
fn default_batch() -> u32 {
    40
}
fn default_timeout() -> u32 {
    10
}
fn default_pause_after() -> u32 {
    120
}

/// The delivery table's keys, in the order serde's messages list them.
pub(super) const DELIVERY_FIELDS: &[&str] = &[
    "retry_schedule_seconds",
    "jitter_percent",
    "cron_batch",
    "timeout_seconds",
    "pause_after_hours",
];

impl DeliverySettings {
    /// The `delivery` table, read by hand (`super::table`).
    pub(super) fn read(mut table: super::table::Table<'_>) -> Option<Self> {
        let settings = DeliverySettings {
            retry_schedule_seconds: table
                .list::<u64>("retry_schedule_seconds", false)
                .unwrap_or_else(default_schedule),
            jitter_percent: table
                .take::<u8>("jitter_percent")
                .unwrap_or_else(default_jitter),
            cron_batch: table.u32_or("cron_batch", default_batch()),
            timeout_seconds: table.u32_or("timeout_seconds", default_timeout()),
            pause_after_hours: table.u32_or("pause_after_hours", default_pause_after()),
        };
        table.finish().then_some(settings)
    }
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            retry_schedule_seconds: default_schedule(),
            jitter_percent: default_jitter(),
            cron_batch: default_batch(),
            timeout_seconds: default_timeout(),
            pause_after_hours: default_pause_after(),
        }
    }
}

pub(super) fn check_delivery(problems: &mut Problems, path: &str, settings: &DeliverySettings) {
    let schedule = &settings.retry_schedule_seconds;
    if schedule.is_empty()
        || schedule.len() > 16
        || schedule.iter().any(|s| *s == 0 || *s > 7 * 86_400)
    {
        problems.push(
            format!("{path}.retry_schedule_seconds"),
            "1-16 delays, each 1 s to 7 days",
        );
    }
    if settings.jitter_percent > 50 {
        problems.push(format!("{path}.jitter_percent"), "must be 0-50");
    }
    if !(1..=45).contains(&settings.cron_batch) {
        problems.push(
            format!("{path}.cron_batch"),
            "must be 1-45 (the free plan allows 50 subrequests per run)",
        );
    }
    if !(1..=30).contains(&settings.timeout_seconds) {
        problems.push(format!("{path}.timeout_seconds"), "must be 1-30");
    }
    if !(1..=24 * 90).contains(&settings.pause_after_hours) {
        problems.push(
            format!("{path}.pause_after_hours"),
            "must be 1-2160 (90 days)",
        );
    }
}
