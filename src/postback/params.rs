//! Postback parameters as pairs: a flat JSON body read without losing repeated keys, and
//! the refusal of known fields sent more than once (design §6, issue 11 item 8).
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

/// A postback request as the adapter read it: nothing here has touched storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPostback<'a> {
    /// `GET`, `POST`, … as sent.
    pub method: &'a str,
    /// The whole URL's length in bytes (design §6: at most 8 KiB).
    pub url_len: usize,
    /// The raw query string (after `?`), if any.
    pub query: Option<&'a str>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// The body, read up to [`super::MAX_BODY_BYTES`] (the adapter stops reading past it).
    pub body: &'a [u8],
}

/// The parameters of a postback, in order: the query's first, then the body's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostbackParams {
    pub pairs: Vec<(String, String)>,
    /// How many of `pairs` (the first ones) came from the query string.
    pub from_query: usize,
}

/// The request-shape step of design §6: method, URL and body limits, media type, and the
/// parameters of the query string and of a form or flat JSON body.
pub fn parse_request(request: &RawPostback<'_>) -> Result<PostbackParams, Refusal> {
    use super::{MAX_BODY_BYTES, MAX_PARAMS, MAX_URL_BYTES, MAX_VALUE_BYTES};
    let is_post = match request.method {
        "GET" => false,
        "POST" => true,
        _ => return Err(Refusal::new(Outcome::MethodNotAllowed, "use GET or POST")),
    };
    if request.url_len > MAX_URL_BYTES {
        return Err(Refusal::new(Outcome::BodyTooLarge, "URL longer than 8 KiB"));
    }
    let mut pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(request.query.unwrap_or_default().as_bytes())
            .take(MAX_PARAMS.saturating_add(1))
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
    let from_query = pairs.len();
    if is_post && !request.body.is_empty() {
        if request.body.len() > MAX_BODY_BYTES {
            return Err(Refusal::new(
                Outcome::BodyTooLarge,
                "body larger than 16 KiB",
            ));
        }
        let content_type = request
            .content_type
            .unwrap_or_default()
            .to_ascii_lowercase();
        match content_type.split(';').next().unwrap_or_default().trim() {
            "application/x-www-form-urlencoded" => pairs.extend(
                url::form_urlencoded::parse(request.body)
                    .take(MAX_PARAMS.saturating_add(1))
                    .map(|(name, value)| (name.into_owned(), value.into_owned())),
            ),
            "application/json" => pairs.extend(flat_json_pairs(request.body)?),
            _ => {
                return Err(Refusal::new(
                    Outcome::UnsupportedMediaType,
                    "send application/x-www-form-urlencoded or application/json",
                ))
            }
        }
    }
    if pairs.len() > MAX_PARAMS {
        return Err(Refusal::new(
            Outcome::MalformedBody,
            "more than 100 parameters",
        ));
    }
    if let Some((name, _)) = pairs
        .iter()
        .find(|(_, value)| value.len() > MAX_VALUE_BYTES)
    {
        return Err(Refusal::new(
            Outcome::MalformedBody,
            format!("value of {name} is longer than 1 KiB"),
        ));
    }
    Ok(PostbackParams { pairs, from_query })
}

/// design §11: a Standard Webhooks sender signs its body, so the body is the only source of
/// fields. A query parameter is refused (`unsigned_parameter`), never merged; only the
/// routing parameter `network` is allowed, and only when the path names no network.
pub fn unsigned_query_parameter(
    network: &Network,
    params: &PostbackParams,
    network_in_path: bool,
) -> Option<Refusal> {
    // Only Standard Webhooks networks sign a body that must be the only source.
    network.auth.standard_webhooks.as_ref()?;
    params
        .pairs
        .iter()
        .take(params.from_query)
        .find(|(name, _)| network_in_path || name != "network")
        .map(|(name, _)| {
            Refusal::new(
                Outcome::UnsignedParameter,
                format!(
                    "query parameter {:?} is not covered by the Standard Webhooks signature: \
                     send every field in the signed JSON body",
                    crate::click::clip(name, 64)
                ),
            )
        })
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

    fn raw<'a>(
        method: &'a str,
        query: Option<&'a str>,
        content_type: Option<&'a str>,
        body: &'a [u8],
    ) -> RawPostback<'a> {
        RawPostback {
            method,
            url_len: 40,
            query,
            content_type,
            body,
        }
    }

    #[test]
    fn requests_are_parsed_query_first_then_body() {
        let parsed = parse_request(&raw(
            "POST",
            Some("clickid=a&network=x"),
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            b"payout=1.5&txid=t",
        ))
        .unwrap();
        assert_eq!(parsed.from_query, 2);
        assert_eq!(
            parsed.pairs,
            strings(&[
                ("clickid", "a"),
                ("network", "x"),
                ("payout", "1.5"),
                ("txid", "t")
            ])
        );
        let json = parse_request(&raw(
            "POST",
            None,
            Some("application/json"),
            br#"{"a":"1","b":2}"#,
        ))
        .unwrap();
        assert_eq!(json.pairs, strings(&[("a", "1"), ("b", "2")]));
        // A GET's body is not read; an empty POST body is no body.
        assert_eq!(
            parse_request(&raw("GET", Some("a=1"), None, b"x=y"))
                .unwrap()
                .pairs
                .len(),
            1
        );
        assert!(parse_request(&raw("POST", Some("a=1"), None, b"")).is_ok());
    }

    #[test]
    fn request_shape_refusals() {
        let code = |request: RawPostback<'_>| parse_request(&request).unwrap_err().outcome;
        assert_eq!(code(raw("PUT", None, None, b"")), Outcome::MethodNotAllowed);
        let mut long = raw("GET", None, None, b"");
        long.url_len = crate::postback::MAX_URL_BYTES + 1;
        assert_eq!(code(long), Outcome::BodyTooLarge);
        let big = vec![b'a'; crate::postback::MAX_BODY_BYTES + 1];
        assert_eq!(
            code(raw("POST", None, Some("application/json"), &big)),
            Outcome::BodyTooLarge
        );
        assert_eq!(
            code(raw("POST", None, Some("text/plain"), b"a=1")),
            Outcome::UnsupportedMediaType
        );
        assert_eq!(
            code(raw("POST", None, Some("application/json"), b"[1]")),
            Outcome::MalformedBody
        );
        let many: String = (0..101).map(|n| format!("p{n}=1&")).collect();
        assert_eq!(
            code(raw("GET", Some(&many), None, b"")),
            Outcome::MalformedBody
        );
        let long_value = format!("a={}", "x".repeat(1025));
        assert_eq!(
            code(raw("GET", Some(&long_value), None, b"")),
            Outcome::MalformedBody
        );
    }

    #[test]
    fn standard_webhooks_networks_refuse_query_fields() {
        let config = Config::from_json(json!({
            "networks": {
                "generic": {},
                "sw": { "auth": { "standard_webhooks": { "secret": "SW" } } }
            }
        }))
        .unwrap();
        let sw = &config.networks["sw"];
        let parsed = |query: &str| {
            parse_request(&raw(
                "POST",
                Some(query),
                Some("application/json"),
                br#"{"clickid":"a"}"#,
            ))
            .unwrap()
        };
        let refused =
            unsigned_query_parameter(sw, &parsed("txid=INJECTED&payout=999"), true).unwrap();
        assert_eq!(refused.outcome, Outcome::UnsignedParameter);
        assert!(refused.detail.contains("txid"), "{}", refused.detail);
        // Routing only where the path names no network.
        assert!(unsigned_query_parameter(sw, &parsed("network=sw"), false).is_none());
        assert!(unsigned_query_parameter(sw, &parsed("network=sw"), true).is_some());
        assert!(unsigned_query_parameter(sw, &parsed(""), true).is_none());
        // Other networks merge query and body as before.
        assert!(
            unsigned_query_parameter(&config.networks["generic"], &parsed("payout=1"), true)
                .is_none()
        );
    }
}
