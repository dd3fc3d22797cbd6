//! The HMAC canonicaliser and the signature and timestamp checks (`postback::auth`).
//! Invariants: the canonical string splits back into exactly the pairs it came from (so
//! two different pair lists never share one) and ignores their order; a request the
//! input signs correctly with the network's secret passes exactly when its timestamp
//! parses and lies within the tolerance, for HMAC parameters and Standard Webhooks alike.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine;
use edgeback::crypto::hmac_sha256;
use edgeback::postback::auth::{authenticate, canonical_string, parse_ip_rule, sign_params};
use edgeback::postback::auth::{AuthChecks, AuthRequest, HmacCheck, StandardWebhooksCheck};
use edgeback::postback::Outcome;
use edgeback_fuzz::{network, percent_decode, secret, HMAC_SECRET, NOW_MS, WEBHOOK_SECRET};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Timestamp {
    None,
    /// Seconds from the clock, written as the sender would.
    Offset(i32),
    Text(String),
}

#[derive(Debug, Arbitrary)]
struct Input {
    pairs: Vec<(String, String)>,
    other: Vec<(String, String)>,
    signature_param: String,
    sign: bool,
    upper_case_signature: bool,
    timestamp: Timestamp,
    now_offset_ms: i64,
    tolerance_seconds: u16,
    webhook_id: String,
    webhook_signature: Option<String>,
    body: Vec<u8>,
    ip_rule: String,
    ip: [u8; 16],
}

/// The pairs a canonical string was made from, as sorted bytes.
fn split_canonical(text: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    if text.is_empty() {
        return Vec::new();
    }
    text.split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').expect("name=value");
            assert!(!value.contains('='));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

fn sorted_without(pairs: &[(String, String)], skip: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = pairs
        .iter()
        .filter(|(name, _)| name != skip)
        .map(|(n, v)| (n.clone().into_bytes(), v.clone().into_bytes()))
        .collect();
    out.sort();
    out
}

fn within(text: Option<&str>, now_ms: u64, tolerance: u64) -> bool {
    text.and_then(|t| t.trim().parse::<u64>().ok())
        .is_some_and(|seconds| seconds.abs_diff(now_ms / 1000) <= tolerance)
}

fuzz_target!(|input: Input| {
    // The canonical form.
    let sig = input.signature_param.as_str();
    let canonical = canonical_string(&input.pairs, sig);
    let mut decoded = split_canonical(&canonical);
    decoded.sort();
    assert_eq!(decoded, sorted_without(&input.pairs, sig));
    let reversed: Vec<_> = input.pairs.iter().rev().cloned().collect();
    assert_eq!(canonical_string(&reversed, sig), canonical);
    if canonical_string(&input.other, sig) == canonical {
        assert_eq!(
            sorted_without(&input.other, sig),
            sorted_without(&input.pairs, sig)
        );
    }

    // HMAC-signed parameters, as the `signed` network checks them.
    let now_ms = NOW_MS.saturating_add_signed(input.now_offset_ms);
    let tolerance = u64::from(input.tolerance_seconds.max(1));
    let checks = AuthChecks {
        hmac: Some(HmacCheck {
            secret: "FUZZ_HMAC".into(),
            param: "sig".into(),
            timestamp_param: "ts".into(),
            tolerance_seconds: tolerance,
        }),
        ..Default::default()
    };
    let mut params: Vec<(String, String)> = input.pairs.clone();
    match &input.timestamp {
        Timestamp::None => {}
        Timestamp::Offset(seconds) => {
            let ts = (now_ms / 1000).saturating_add_signed(i64::from(*seconds));
            params.push(("ts".into(), ts.to_string()));
        }
        Timestamp::Text(text) => params.push(("ts".into(), text.clone())),
    }
    if input.sign {
        params.retain(|(name, _)| name != "sig");
        let mut signature = sign_params(HMAC_SECRET, &params, "sig");
        if input.upper_case_signature {
            signature = signature.to_ascii_uppercase();
        }
        params.push(("sig".into(), signature));
    }
    let no_headers = |_: &str| None;
    let request = AuthRequest {
        client_ip: None,
        params: &params,
        header: &no_headers,
        body: &input.body,
        now_ms,
    };
    let result = authenticate(&checks, &secret, &request);
    if input.sign {
        let ts = params
            .iter()
            .find(|(n, _)| n == "ts")
            .map(|(_, v)| v.as_str());
        match &result {
            Ok(pass) => assert!(pass.replay_key.is_some()),
            Err(refusal) => assert_eq!(refusal.outcome, Outcome::StaleTimestamp),
        }
        assert_eq!(result.is_ok(), within(ts, now_ms, tolerance));
    }
    // The configured network's own checks, as the worker runs them.
    let _ = authenticate(&network("signed").auth, &secret, &request);

    // Standard Webhooks: the signature covers id, timestamp and body.
    let timestamp = match &input.timestamp {
        Timestamp::None => String::new(),
        Timestamp::Offset(seconds) => {
            ((now_ms / 1000).saturating_add_signed(i64::from(*seconds))).to_string()
        }
        Timestamp::Text(text) => text.clone(),
    };
    let signature = match &input.webhook_signature {
        Some(text) if !input.sign => text.clone(),
        _ => {
            let key = base64::engine::general_purpose::STANDARD
                .decode(WEBHOOK_SECRET.trim_start_matches("whsec_"))
                .expect("base64 secret");
            let mac = hmac_sha256(
                &key,
                &[
                    input.webhook_id.as_bytes(),
                    b".",
                    timestamp.as_bytes(),
                    b".",
                    &input.body,
                ],
            );
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(mac)
            )
        }
    };
    let headers = |name: &str| match name {
        "webhook-id" => Some(input.webhook_id.clone()),
        "webhook-timestamp" => Some(timestamp.clone()),
        "webhook-signature" => Some(signature.clone()),
        _ => None,
    };
    let ip = std::net::IpAddr::from(input.ip);
    let webhooks = AuthChecks {
        standard_webhooks: Some(StandardWebhooksCheck {
            secret: "FUZZ_SW".into(),
            tolerance_seconds: tolerance,
        }),
        ip_allowlist: parse_ip_rule(&input.ip_rule).ok().map(|rule| vec![rule]),
        ..Default::default()
    };
    let request = AuthRequest {
        client_ip: Some(ip),
        params: &params,
        header: &headers,
        body: &input.body,
        now_ms,
    };
    let result = authenticate(&webhooks, &secret, &request);
    let genuine = input.sign || input.webhook_signature.is_none();
    let allowed = webhooks
        .ip_allowlist
        .as_ref()
        .is_none_or(|rules| rules[0].matches(ip));
    if genuine && allowed && !input.webhook_id.is_empty() && !timestamp.is_empty() {
        match &result {
            Ok(pass) => assert!(pass.replay_key.is_some()),
            Err(refusal) => assert_eq!(refusal.outcome, Outcome::StaleTimestamp),
        }
        assert_eq!(result.is_ok(), within(Some(&timestamp), now_ms, tolerance));
    }
    let _ = authenticate(&network("webhooks").auth, &secret, &request);
});
