//! Postbacks (design §6, §7): from the parameters a network sent to a conversion draft, or to
//! a refusal with its outcome code. Pure; the record step's SQL lives in [`crate::store`].

pub mod auth;
pub mod outcome;
pub mod params;
pub mod placeholder;
pub mod redact;

pub use outcome::{reply, Outcome, Reply};
pub use redact::redacted_params;

use crate::base32;
use crate::click_id::ClickSecrets;
use crate::config::{days_to_ms, is_event_slug, DedupMode, Network, Status};
use crate::money::{normalize_currency, parse_payout, PayoutError};

/// Longest accepted parameter value, in bytes (design §6).
pub const MAX_VALUE_BYTES: usize = 1024;
/// Most parameters accepted in one postback (design §6).
pub const MAX_PARAMS: usize = 100;
/// Longest accepted URL, in bytes (design §6).
pub const MAX_URL_BYTES: usize = 8 * 1024;
/// Largest accepted body, in bytes (design §6).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A refused postback: the outcome, a human-readable detail and, when known, the click ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub outcome: Outcome,
    pub detail: String,
    pub click_id: Option<String>,
}

impl Refusal {
    pub fn new(outcome: Outcome, detail: impl Into<String>) -> Self {
        Self {
            outcome,
            detail: detail.into(),
            click_id: None,
        }
    }
}

/// A verified conversion, ready for the record step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionDraft {
    /// Fresh ID; used only if this postback creates the conversion.
    pub conversion_id: String,
    pub dedup_key: String,
    pub click_id: String,
    pub clicked_at_ms: u64,
    pub network: String,
    pub event: String,
    pub status: Status,
    pub raw_status: Option<String>,
    /// `None`: the postback carried no payout (the click's campaign payout applies).
    pub payout_micros: Option<i64>,
    /// `None`: the postback carried no currency (campaign, then network, then global).
    pub currency: Option<&'static str>,
    pub fallback_currency: &'static str,
    pub transaction_id: Option<String>,
    pub received_at_ms: u64,
    /// Optional fields that held a placeholder and were treated as absent.
    pub notes: Vec<String>,
    /// Candidate destinations as JSON (see `forward::candidates_json`); `[]` for none.
    pub destinations: String,
    /// Test traffic (the postback tester): recorded, flagged, left out of reports.
    pub is_test: bool,
}

/// A time-ordered identifier for conversions and log rows: 48 bits of unix milliseconds,
/// then 112 random bits, as 32 symbols of base32.
pub fn new_record_id(now_ms: u64, random: [u8; 14]) -> String {
    let mut bytes = [0u8; base32::RAW_LEN];
    bytes[..6].copy_from_slice(&now_ms.to_be_bytes()[2..]);
    bytes[6..].copy_from_slice(&random);
    base32::encode(&bytes)
}

/// The smallest record ID made at `at_ms`: every conversion, postback and delivery made
/// earlier sorts below it (their IDs are keys, so time ranges are key ranges).
pub fn record_id_lower_bound(at_ms: u64) -> String {
    new_record_id(at_ms, [0; 14])
}

/// The first non-empty value among `aliases`, trimmed.
fn field<'a>(params: &'a [(String, String)], aliases: &[String]) -> Option<(&'a str, &'a str)> {
    aliases.iter().find_map(|alias| {
        params
            .iter()
            .find(|(name, value)| name == alias && !value.trim().is_empty())
            .map(|(name, value)| (name.as_str(), value.trim()))
    })
}

/// The status a sender assigned to `word` in this very request (Keitaro's
/// `sale_status=lead,approved`), if the network's preset honours such parameters.
fn request_status_word(
    network: &Network,
    params: &[(String, String)],
    word: &str,
) -> Option<Status> {
    network
        .status_word_params
        .iter()
        .find_map(|(param, status)| {
            params
                .iter()
                .filter(|(name, _)| name == param)
                .flat_map(|(_, list)| list.split(','))
                .any(|listed| listed.trim().eq_ignore_ascii_case(word))
                .then_some(*status)
        })
}

/// Checks the parameters of one postback for `network`, in design §6's order (after the
/// request shape and authentication, which the caller has done).
pub fn evaluate(
    network: &Network,
    secrets: &ClickSecrets,
    global_currency: &'static str,
    params: &[(String, String)],
    now_ms: u64,
    conversion_id: String,
) -> Result<ConversionDraft, Refusal> {
    // A field given twice has no one meaning (which value? signed in which order?).
    if let Some(refusal) = params::repeated_field(network, params) {
        return Err(refusal);
    }
    let mut notes = Vec::new();

    // An optional field holding a placeholder counts as absent, and is noted in the log.
    let mut optional = |aliases: &[String], label: &str| -> Option<String> {
        let (name, value) = field(params, aliases)?;
        if placeholder::is_placeholder(value) {
            notes.push(format!(
                "{label} parameter {name}={value} is an unreplaced macro; ignored"
            ));
            return None;
        }
        Some(value.to_string())
    };
    let payout_text = optional(&network.aliases.payout, "payout");
    let transaction_id = optional(&network.aliases.transaction_id, "transaction_id");
    let status_text = optional(&network.aliases.status, "status");
    let event_text = optional(&network.aliases.event, "event");
    let currency_text = optional(&network.aliases.currency, "currency");

    let Some((click_param, click_text)) = field(params, &network.aliases.click_id) else {
        return Err(Refusal::new(
            Outcome::MissingClickId,
            format!(
                "no click ID in any of: {}",
                network.aliases.click_id.join(", ")
            ),
        ));
    };
    if placeholder::is_placeholder(click_text) {
        return Err(Refusal::new(
            Outcome::UnreplacedMacro,
            format!("{click_param}={click_text} is an unreplaced macro: the sender did not fill in the click ID"),
        ));
    }
    let lookback_ms = days_to_ms(network.lookback_days);
    let networks: Vec<&str> = network.click_networks.iter().map(String::as_str).collect();
    let click = secrets
        .verify_for(click_text, now_ms, lookback_ms, &networks)
        .map_err(|error| Refusal {
            outcome: match error.outcome_code() {
                "click_expired" => Outcome::ClickExpired,
                _ => Outcome::InvalidClickId,
            },
            detail: error.detail(),
            click_id: None,
        })?;
    let with_click = |outcome, detail: String| Refusal {
        outcome,
        detail,
        click_id: Some(click.id.clone()),
    };
    // Decided from the ID alone, so it holds whether or not the click row is stored yet.
    if let Some(only) = click
        .restricted_to
        .as_ref()
        .filter(|only| **only != network.name)
    {
        return Err(with_click(
            Outcome::InvalidClickId,
            format!("the click belongs to a campaign that only network {only} may convert"),
        ));
    }

    let payout_micros = match payout_text {
        None => None,
        Some(text) => match parse_payout(
            &text,
            network.allow_negative_payout,
            network.decimal_separator,
        ) {
            Ok(micros) if micros > network.payout_max_micros => {
                return Err(with_click(
                    Outcome::PayoutOutOfRange,
                    format!("payout {text} is above this network's payout_max"),
                ))
            }
            Ok(micros) => Some(micros),
            Err(PayoutError::Negative) => {
                return Err(with_click(
                    Outcome::PayoutOutOfRange,
                    format!("payout {text} is negative and this network does not allow it"),
                ))
            }
            Err(error) => {
                return Err(with_click(
                    Outcome::InvalidPayout,
                    format!("payout {text:?}: {}", error.detail()),
                ))
            }
        },
    };

    let currency = match currency_text {
        None => None,
        Some(text) => Some(normalize_currency(&text).ok_or_else(|| {
            with_click(
                Outcome::InvalidCurrency,
                format!("currency {text:?} is not an ISO 4217 code"),
            )
        })?),
    };

    let status = match &status_text {
        None => network.default_status,
        Some(text) => {
            let lower = text.to_lowercase();
            request_status_word(network, params, &lower)
                .or_else(|| network.status_map.get(&lower).copied())
                .or_else(|| Status::from_name(&lower))
                .ok_or_else(|| {
                    with_click(
                        Outcome::UnknownStatus,
                        format!("status {text:?} is not in this network's status_map"),
                    )
                })?
        }
    };

    let event = match &event_text {
        None => network.default_event.clone(),
        Some(text) => {
            let lower = text.to_lowercase();
            match network.event_map.get(&lower) {
                Some(mapped) => mapped.clone(),
                None if is_event_slug(&lower) => lower,
                None => {
                    return Err(with_click(
                        Outcome::UnknownEvent,
                        format!("event {text:?} is not in event_map nor a slug of a-z, 0-9, '_'"),
                    ))
                }
            }
        }
    };

    let dedup_key = match (network.dedup, &transaction_id) {
        (DedupMode::Transaction, Some(txid)) => {
            format!("t\u{1f}{}\u{1f}{event}\u{1f}{txid}", network.name)
        }
        (DedupMode::Transaction, None) | (DedupMode::ClickEvent, _) => {
            format!("c\u{1f}{}\u{1f}{event}", click.id)
        }
        (DedupMode::None, _) => format!("n\u{1f}{conversion_id}"),
    };

    Ok(ConversionDraft {
        conversion_id,
        dedup_key,
        click_id: click.id,
        clicked_at_ms: click.issued_at_ms,
        network: network.name.clone(),
        event,
        status,
        raw_status: status_text,
        payout_micros,
        currency,
        fallback_currency: network.currency.unwrap_or(global_currency),
        transaction_id,
        received_at_ms: now_ms,
        notes,
        destinations: "[]".into(),
        is_test: false,
    })
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

    fn network() -> Network {
        Config::from_json(json!({
            "networks": { "generic": {
                "status_map": { "approved": ["1", "confirmed"], "rejected": ["3"] },
                "event_map": { "ftd": ["first_deposit"] },
                "payout_max": 1000
            }}
        }))
        .unwrap()
        .networks["generic"]
            .clone()
    }

    fn run(pairs: &[(&str, &str)]) -> Result<ConversionDraft, Refusal> {
        let params: Vec<_> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        evaluate(&network(), &secrets(), "USD", &params, NOW, "cv1".into())
    }

    fn click_id() -> String {
        secrets().mint(NOW - 1000, [5; 7]).unwrap()
    }

    #[test]
    fn a_full_postback() {
        let id = click_id().to_uppercase();
        let draft = run(&[
            ("clickid", &id),
            ("payout", "12,50"),
            ("status", "Confirmed"),
            ("txid", "T1"),
            ("goal", "First_Deposit"),
            ("currency", "eur"),
        ])
        .unwrap();
        assert_eq!(draft.click_id, click_id());
        assert_eq!(draft.payout_micros, Some(12_500_000));
        assert_eq!(draft.status, Status::Approved);
        assert_eq!(draft.raw_status.as_deref(), Some("Confirmed"));
        assert_eq!(draft.event, "ftd");
        assert_eq!(draft.currency, Some("EUR"));
        assert_eq!(draft.dedup_key, "t\u{1f}generic\u{1f}ftd\u{1f}T1");
    }

    #[test]
    fn defaults_when_fields_are_absent() {
        let draft = run(&[("subid", &click_id())]).unwrap();
        assert_eq!(draft.payout_micros, None);
        assert_eq!(draft.status, Status::Approved);
        assert_eq!(draft.event, "conversion");
        assert_eq!(draft.currency, None);
        assert_eq!(draft.fallback_currency, "USD");
        assert_eq!(
            draft.dedup_key,
            format!("c\u{1f}{}\u{1f}conversion", click_id())
        );
    }

    #[test]
    fn refusals_in_order() {
        let id = click_id();
        let cases: &[(&[(&str, &str)], Outcome)] = &[
            (&[("payout", "1")], Outcome::MissingClickId),
            (&[("clickid", "  ")], Outcome::MissingClickId),
            (&[("clickid", "{subid}")], Outcome::UnreplacedMacro),
            (&[("cid", "REPLACE")], Outcome::UnreplacedMacro),
            (&[("clickid", "abc")], Outcome::InvalidClickId),
            (
                &[("clickid", &id), ("payout", "$5")],
                Outcome::InvalidPayout,
            ),
            (
                &[("clickid", &id), ("payout", "1001")],
                Outcome::PayoutOutOfRange,
            ),
            (
                &[("clickid", &id), ("payout", "-1")],
                Outcome::PayoutOutOfRange,
            ),
            (
                &[("clickid", &id), ("currency", "dollars")],
                Outcome::InvalidCurrency,
            ),
            (
                &[("clickid", &id), ("status", "maybe")],
                Outcome::UnknownStatus,
            ),
            (
                &[("clickid", &id), ("event", "First Deposit!")],
                Outcome::UnknownEvent,
            ),
        ];
        for (pairs, expected) in cases {
            assert_eq!(run(pairs).unwrap_err().outcome, *expected, "{pairs:?}");
        }
    }

    #[test]
    fn expired_click() {
        let old = secrets().mint(NOW - days_to_ms(31), [5; 7]).unwrap();
        assert_eq!(
            run(&[("clickid", &old)]).unwrap_err().outcome,
            Outcome::ClickExpired
        );
    }

    #[test]
    fn placeholders_in_optional_fields_are_absent_and_noted() {
        let draft = run(&[
            ("clickid", &click_id()),
            ("payout", "OPTIONAL"),
            ("txid", "{trans_id}"),
        ])
        .unwrap();
        assert_eq!(draft.payout_micros, None);
        assert_eq!(draft.transaction_id, None);
        assert_eq!(draft.notes.len(), 2);
    }

    /// Issue 11 item 8: a repeated known field is refused in evaluate, whatever else;
    /// two names of one field are resolved by the profile's order.
    #[test]
    fn repeated_known_fields_are_malformed() {
        let id = click_id();
        for pairs in [
            &[("clickid", id.as_str()), ("payout", "1"), ("payout", "500")][..],
            &[("clickid", id.as_str()), ("amount", "1"), ("amount", "500")],
            &[("clickid", id.as_str()), ("clickid", id.as_str())],
            &[("clickid", id.as_str()), ("txid", "a"), ("txid", "b")],
        ] {
            let refusal = run(pairs).unwrap_err();
            assert_eq!(refusal.outcome, Outcome::MalformedBody, "{pairs:?}");
            assert!(refusal.detail.contains("is given 2 times"), "{pairs:?}");
        }
        let draft = run(&[("clickid", &id), ("amount", "500"), ("payout", "1")]).unwrap();
        assert_eq!(draft.payout_micros, Some(1_000_000), "payout comes first");
    }

    /// Issue 11 item 8: `1,000` is ambiguous unless the network declares its separator.
    #[test]
    fn ambiguous_payouts_and_the_decimal_separator() {
        let id = click_id();
        let refusal = run(&[("clickid", &id), ("payout", "1,000")]).unwrap_err();
        assert_eq!(refusal.outcome, Outcome::InvalidPayout);
        assert!(refusal.detail.contains("ambiguous"), "{}", refusal.detail);
        let mut comma = network();
        comma.decimal_separator = crate::money::DecimalSeparator::Comma;
        let params = vec![
            ("clickid".to_string(), id.clone()),
            ("payout".to_string(), "1,000".to_string()),
        ];
        let draft = evaluate(&comma, &secrets(), "USD", &params, NOW, "cv1".into()).unwrap();
        assert_eq!(draft.payout_micros, Some(1_000_000));
        let dotted = vec![
            ("clickid".to_string(), id),
            ("payout".to_string(), "1.000".to_string()),
        ];
        let refusal = evaluate(&comma, &secrets(), "USD", &dotted, NOW, "cv1".into()).unwrap_err();
        assert_eq!(refusal.outcome, Outcome::InvalidPayout);
    }

    #[test]
    fn the_default_payout_max_applies() {
        let network = Config::from_json(json!({ "networks": { "generic": {} } }))
            .unwrap()
            .networks["generic"]
            .clone();
        let run_with = |payout: &str| {
            let params = vec![
                ("clickid".to_string(), click_id()),
                ("payout".to_string(), payout.to_string()),
            ];
            evaluate(&network, &secrets(), "USD", &params, NOW, "cv1".into())
        };
        assert_eq!(
            run_with("100000").unwrap().payout_micros,
            Some(100_000_000_000)
        );
        assert_eq!(
            run_with("100000.01").unwrap_err().outcome,
            Outcome::PayoutOutOfRange
        );
    }

    #[test]
    fn record_ids_are_time_ordered() {
        let a = new_record_id(NOW, [0xff; 14]);
        let b = new_record_id(NOW + 1, [0; 14]);
        assert!(a < b);
    }
}
