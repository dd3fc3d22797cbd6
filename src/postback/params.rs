//! Postback parameters as pairs: a flat JSON body read without losing repeated keys, and
//! the refusal of known fields sent more than once (SPEC §6, issue 11 item 8).
//!
//! A repeated field is ambiguous: the query parser kept the first value, serde_json an
//! object's last, and an HMAC canonical string is the same for `payout=1&payout=500` in
//! either order. So no layer chooses: a field's name given twice is refused.

use super::{Outcome, Refusal};
use crate::config::Network;
use serde::de::{Deserializer, MapAccess, Visitor};

/// A flat JSON object's members as parameters, in body order and **every** occurrence of
/// a repeated key kept (serde_json's `Value` keeps only the last). Strings, numbers and
/// booleans become values; `null` is absent; nested objects or arrays are refused.
pub fn flat_json_pairs(body: &[u8]) -> Result<Vec<(String, String)>, Refusal> {
    let malformed = |detail: &str| Refusal::new(Outcome::MalformedBody, detail);
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let members = deserializer
        .deserialize_any(Members)
        .and_then(|members| deserializer.end().map(|()| members))
        .map_err(|error| match error.classify() {
            serde_json::error::Category::Data => malformed("JSON body must be an object"),
            _ => malformed("body is not valid JSON"),
        })?;
    let mut params = Vec::with_capacity(members.len());
    for (name, value) in members {
        let text = match value {
            serde_json::Value::String(text) => text,
            serde_json::Value::Number(number) => number.to_string(),
            serde_json::Value::Bool(flag) => flag.to_string(),
            serde_json::Value::Null => continue,
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                return Err(malformed(
                    "JSON body must be flat: no nested objects or arrays",
                ))
            }
        };
        params.push((name, text));
    }
    Ok(params)
}

/// Visits one JSON object as a list of members, duplicates included.
struct Members;

impl<'de> Visitor<'de> for Members {
    type Value = Vec<(String, serde_json::Value)>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry::<String, serde_json::Value>()? {
            members.push(member);
        }
        Ok(members)
    }
}

/// The first of the network's known fields (click ID, payout, transaction ID, status,
/// event, currency) that the parameters carry more than once under one of its names, as
/// a `malformed_body` refusal naming the field and the name.
///
/// Two *different* names of one field (`payout=1&amount=500`) are not refused: the
/// profile's preference order picks one, the same in every encoding and whatever the
/// order of the parameters, and presets document such pairs as distinct values a sender
/// may send together (Tune's `goal_id` and `goal_name`, Everflow's `transaction_id` and
/// `sub1`). One name twice has no such rule: the query parser kept the first, a JSON
/// object the last, and a signature covers both orders.
pub fn repeated_field(network: &Network, params: &[(String, String)]) -> Option<Refusal> {
    let aliases = &network.aliases;
    let fields: [(&str, &[String]); 6] = [
        ("click ID", &aliases.click_id),
        ("payout", &aliases.payout),
        ("transaction ID", &aliases.transaction_id),
        ("status", &aliases.status),
        ("event", &aliases.event),
        ("currency", &aliases.currency),
    ];
    fields.iter().find_map(|(label, names)| {
        names.iter().find_map(|alias| {
            let times = params.iter().filter(|(name, _)| name == alias).count();
            (times > 1).then(|| {
                Refusal::new(
                    Outcome::MalformedBody,
                    format!(
                        "the {label} parameter {alias} is given {times} times: send each field once"
                    ),
                )
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::json;

    fn strings(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn json_bodies_keep_every_member_in_order() {
        let pairs = flat_json_pairs(
            br#"{"payout": "1", "clickid": "c", "payout": 500, "ok": true, "n": null}"#,
        )
        .unwrap();
        assert_eq!(
            pairs,
            strings(&[
                ("payout", "1"),
                ("clickid", "c"),
                ("payout", "500"),
                ("ok", "true")
            ])
        );
    }

    #[test]
    fn json_bodies_that_are_not_flat_objects_are_malformed() {
        for (body, detail) in [
            (&br#"[1, 2]"#[..], "JSON body must be an object"),
            (br#""text""#, "JSON body must be an object"),
            (
                br#"{"a": {"b": 1}}"#,
                "JSON body must be flat: no nested objects or arrays",
            ),
            (
                br#"{"a": [1]}"#,
                "JSON body must be flat: no nested objects or arrays",
            ),
            (br#"{"a": 1"#, "body is not valid JSON"),
            (br#"{"a": 1} {"b": 2}"#, "body is not valid JSON"),
            (b"\xff", "body is not valid JSON"),
            (b"", "body is not valid JSON"),
        ] {
            let refusal = flat_json_pairs(body).unwrap_err();
            assert_eq!(refusal.outcome, Outcome::MalformedBody, "{body:?}");
            assert_eq!(refusal.detail, detail, "{body:?}");
        }
        // Deep nesting is refused, never a stack overflow.
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(flat_json_pairs(deep.as_bytes()).is_err());
    }

    fn generic() -> Network {
        Config::from_json(json!({ "networks": { "generic": {} } }))
            .unwrap()
            .networks["generic"]
            .clone()
    }

    #[test]
    fn a_known_field_given_twice_is_refused_naming_it() {
        let network = generic();
        for (pairs, start) in [
            (
                &[("payout", "1"), ("payout", "500")][..],
                "the payout parameter payout is given 2 times",
            ),
            (
                &[("amount", "1"), ("payout", "2"), ("amount", "500")],
                "the payout parameter amount is given 2 times",
            ),
            (
                &[("clickid", "a"), ("clickid", "a")],
                "the click ID parameter clickid",
            ),
            (
                &[("subid", "a"), ("subid", "b"), ("subid", "c")],
                "the click ID parameter subid is given 3 times",
            ),
            (
                &[("txid", "1"), ("txid", "2")],
                "the transaction ID parameter txid",
            ),
            (
                &[("status", "approved"), ("status", "rejected")],
                "the status parameter status",
            ),
            (
                &[("event", "sale"), ("event", "lead")],
                "the event parameter event",
            ),
            (
                &[("currency", "USD"), ("currency", "EUR")],
                "the currency parameter currency",
            ),
        ] {
            let refusal = repeated_field(&network, &strings(pairs)).unwrap();
            assert_eq!(refusal.outcome, Outcome::MalformedBody, "{pairs:?}");
            assert!(
                refusal.detail.starts_with(start),
                "{pairs:?}: {}",
                refusal.detail
            );
        }
        // Different names of one field, other parameters repeated, another letter case.
        assert!(repeated_field(
            &network,
            &strings(&[
                ("clickid", "a"),
                ("subid", "b"),
                ("payout", "1"),
                ("amount", "500"),
                ("txid", "t"),
                ("status", "approved"),
                ("sub1", "x"),
                ("sub1", "y"),
                ("Payout", "2"),
            ])
        )
        .is_none());
    }
}
