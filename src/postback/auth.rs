//! Postback authentication (design §6 authentication rows, §11): IP allowlists, shared
//! tokens, HMAC request signatures with timestamps, and Standard Webhooks signatures for
//! sources that POST signed JSON. Every configured check must pass, cheapest first:
//! allowlist → token → signature. Pure: the caller passes the client IP, the parameters,
//! the headers, the raw body, the clock and the secret values.
//!
//! Replay protection needs storage, so it is not decided here: a signed request yields a
//! replay key (a hash of what was signed) that the record step stores in the same D1
//! batch as the conversion change; a key seen before makes the outcome `replayed`.

use super::{Outcome, Refusal};
use crate::crypto::{constant_time_eq, hex, hmac_sha256};
use crate::template::percent_encode;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr};

/// One allowlist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpRule {
    /// An address block: the first `prefix` bits must match.
    Cidr { network: IpAddr, prefix: u8 },
    /// An IPv4 range in the last octet: `a.b.c.d-e`.
    Range { first: Ipv4Addr, last: Ipv4Addr },
}

/// Parses `203.0.113.0/24`, `2001:db8::/32`, `198.51.100.7`, `::1`, `203.0.113.10-20`.
pub fn parse_ip_rule(text: &str) -> Result<IpRule, String> {
    let text = text.trim();
    if let Some((address, prefix)) = text.split_once('/') {
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{address:?} is not an IP address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("prefix /{prefix} is not 0-{max}"))?;
        // An IPv4-mapped block (`::ffff:192.0.2.0/120`) is the IPv4 block `/24`.
        return Ok(match (canonical(network), network) {
            (IpAddr::V4(v4), IpAddr::V6(_)) if prefix >= 96 => IpRule::Cidr {
                network: IpAddr::V4(v4),
                prefix: prefix - 96,
            },
            (_, original) => IpRule::Cidr {
                network: original,
                prefix,
            },
        });
    }
    if let Some((start, end)) = text.split_once('-') {
        let first: Ipv4Addr = start
            .parse()
            .map_err(|_| format!("{start:?} is not an IPv4 address"))?;
        let last_octet: u8 = end
            .parse()
            .map_err(|_| format!("range end {end:?} is not 0-255"))?;
        let [a, b, c, d] = first.octets();
        if last_octet < d {
            return Err(format!("range {text} ends before it starts"));
        }
        return Ok(IpRule::Range {
            first,
            last: Ipv4Addr::new(a, b, c, last_octet),
        });
    }
    let address: IpAddr = text
        .parse()
        .map_err(|_| format!("{text:?} is not an IP address, CIDR block or a.b.c.d-e range"))?;
    let address = canonical(address);
    let prefix = if address.is_ipv4() { 32 } else { 128 };
    Ok(IpRule::Cidr {
        network: address,
        prefix,
    })
}

/// IPv4-mapped IPv6 addresses (`::ffff:203.0.113.5`) are treated as the IPv4 address.
pub fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_matches(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if a.get(..full) != b.get(..full) {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    match (a.get(full), b.get(full)) {
        (Some(x), Some(y)) => x & mask == y & mask,
        _ => false,
    }
}

impl IpRule {
    pub fn matches(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        match (self, address) {
            (
                IpRule::Cidr {
                    network: IpAddr::V4(n),
                    prefix,
                },
                IpAddr::V4(a),
            ) => prefix_matches(&n.octets(), &a.octets(), *prefix),
            (
                IpRule::Cidr {
                    network: IpAddr::V6(n),
                    prefix,
                },
                IpAddr::V6(a),
            ) => prefix_matches(&n.octets(), &a.octets(), *prefix),
            (IpRule::Range { first, last }, IpAddr::V4(a)) => *first <= a && a <= *last,
            _ => false,
        }
    }
}

/// Where a shared token is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCheck {
    /// The name of the secret holding the token.
    pub secret: String,
    pub param: Option<String>,
    pub header: Option<String>,
}

/// An HMAC request signature (design §11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacCheck {
    pub secret: String,
    pub param: String,
    pub timestamp_param: String,
    pub tolerance_seconds: u64,
}

/// Standard Webhooks signature headers on a POSTed JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardWebhooksCheck {
    pub secret: String,
    pub tolerance_seconds: u64,
}

/// A network's authentication: every configured check must pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthChecks {
    pub ip_allowlist: Option<Vec<IpRule>>,
    pub token: Option<TokenCheck>,
    pub hmac: Option<HmacCheck>,
    pub standard_webhooks: Option<StandardWebhooksCheck>,
}

impl AuthChecks {
    /// Parameter names whose values are secrets, redacted in the postback log.
    pub fn secret_params(&self) -> Vec<&str> {
        let mut names = Vec::new();
        if let Some(token) = &self.token {
            names.extend(token.param.as_deref());
        }
        if let Some(hmac) = &self.hmac {
            names.push(hmac.param.as_str());
        }
        names
    }

    /// The secret names these checks need.
    pub fn secret_names(&self) -> Vec<&str> {
        let mut names = Vec::new();
        names.extend(self.token.as_ref().map(|t| t.secret.as_str()));
        names.extend(self.hmac.as_ref().map(|h| h.secret.as_str()));
        names.extend(self.standard_webhooks.as_ref().map(|s| s.secret.as_str()));
        names
    }

    pub fn is_empty(&self) -> bool {
        *self == AuthChecks::default()
    }
}

/// What the checks look at.
pub struct AuthRequest<'a> {
    /// From `CF-Connecting-IP` only.
    pub client_ip: Option<IpAddr>,
    pub params: &'a [(String, String)],
    /// Header lookup by lower-case name.
    pub header: &'a dyn Fn(&str) -> Option<String>,
    pub body: &'a [u8],
    pub now_ms: u64,
}

/// A passed authentication. `replay_key` is set for signed requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPass {
    pub replay_key: Option<String>,
    /// Until when the replay key must be remembered (unix ms).
    pub replay_expires_at_ms: u64,
}

/// The canonical string of design §11: every parameter except the signature, each name and
/// value percent-encoded (RFC 3986 unreserved characters kept, every other byte `%XX`
/// upper case, as OAuth 1.0's parameter normalisation, RFC 5849 §3.4.1.3.2), sorted by
/// encoded name then encoded value, joined as `name=value` with `&`.
///
/// Encoding first is what makes the form unambiguous: an encoded name or value never
/// holds `=` or `&`, so the string splits back into exactly the pairs it came from, and
/// two different parameter lists (as multisets of pairs) never share a canonical string.
/// Joining the decoded values as they are let `payout=5`, `status=x` be re-sent as one
/// parameter named `payout=5&status` under the same signature.
pub fn canonical_string(params: &[(String, String)], signature_param: &str) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(name, _)| name != signature_param)
        .map(|(name, value)| (percent_encode(name), percent_encode(value)))
        .collect();
    pairs.sort_unstable();
    let mut out = String::new();
    for (index, (name, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// The hex HMAC-SHA256 signature of `params` (what a sender computes).
pub fn sign_params(secret: &str, params: &[(String, String)], signature_param: &str) -> String {
    hex(&hmac_sha256(
        secret.as_bytes(),
        &[canonical_string(params, signature_param).as_bytes()],
    ))
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn refuse(outcome: Outcome, detail: &str) -> Refusal {
    Refusal::new(outcome, detail)
}

fn replay_key(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex(&hasher.finalize())
}

/// Checks a timestamp in unix seconds against the tolerance, both ways.
fn check_timestamp(
    text: Option<&str>,
    now_ms: u64,
    tolerance_seconds: u64,
) -> Result<u64, Refusal> {
    let seconds: u64 = text.and_then(|t| t.trim().parse().ok()).ok_or_else(|| {
        refuse(
            Outcome::StaleTimestamp,
            "timestamp missing or not unix seconds",
        )
    })?;
    let now = now_ms / 1000;
    if seconds.abs_diff(now) > tolerance_seconds {
        return Err(refuse(
            Outcome::StaleTimestamp,
            "timestamp outside the tolerance window; check the sender's clock",
        ));
    }
    Ok(seconds)
}

/// Verifies a Standard Webhooks request: `webhook-signature` holds one or more
/// space-separated `v1,<base64>` signatures of `{id}.{timestamp}.{body}`, keyed with the
/// base64-decoded part of the `whsec_` secret.
pub fn verify_standard_webhook(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signatures: &str,
) -> bool {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let Some(key) = crate::base64::decode(encoded) else {
        return false;
    };
    let expected = hmac_sha256(
        &key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    signatures.split(' ').any(|candidate| {
        candidate
            .strip_prefix("v1,")
            .and_then(crate::base64::decode)
            .is_some_and(|given| constant_time_eq(&given, &expected))
    })
}

/// Runs the configured checks in the order of design §6. `secret` resolves a secret name to its value.
pub fn authenticate(
    checks: &AuthChecks,
    secret: &dyn Fn(&str) -> Option<String>,
    request: &AuthRequest<'_>,
) -> Result<AuthPass, Refusal> {
    let mut pass = AuthPass {
        replay_key: None,
        replay_expires_at_ms: 0,
    };
    if let Some(rules) = &checks.ip_allowlist {
        let allowed = request
            .client_ip
            .is_some_and(|ip| rules.iter().any(|rule| rule.matches(ip)));
        if !allowed {
            return Err(refuse(
                Outcome::IpNotAllowed,
                "the source address is not on this network's allowlist",
            ));
        }
    }
    if let Some(token) = &checks.token {
        let presented = token
            .header
            .as_deref()
            .and_then(|name| (request.header)(&name.to_ascii_lowercase()))
            .or_else(|| {
                token
                    .param
                    .as_deref()
                    .and_then(|name| param(request.params, name))
                    .map(str::to_string)
            })
            .filter(|value| !value.is_empty());
        let Some(presented) = presented else {
            return Err(refuse(
                Outcome::MissingToken,
                "no token in the configured parameter or header",
            ));
        };
        let expected = secret(&token.secret).unwrap_or_default();
        if expected.is_empty() || !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return Err(refuse(Outcome::BadToken, "the token does not match"));
        }
    }
    if let Some(hmac) = &checks.hmac {
        let Some(given) = param(request.params, &hmac.param).filter(|s| !s.is_empty()) else {
            return Err(refuse(Outcome::MissingSignature, "no signature parameter"));
        };
        let key = secret(&hmac.secret).unwrap_or_default();
        let expected = sign_params(&key, request.params, &hmac.param);
        let given_lower = given.trim().to_ascii_lowercase();
        if key.is_empty() || !constant_time_eq(given_lower.as_bytes(), expected.as_bytes()) {
            return Err(refuse(
                Outcome::BadSignature,
                "the signature does not match the parameters",
            ));
        }
        // Only a correctly signed timestamp is worth judging (an attacker cannot move it).
        check_timestamp(
            param(request.params, &hmac.timestamp_param),
            request.now_ms,
            hmac.tolerance_seconds,
        )?;
        pass.replay_key = Some(replay_key(&[b"hmac", expected.as_bytes()]));
        pass.replay_expires_at_ms = request
            .now_ms
            .saturating_add(hmac.tolerance_seconds.saturating_mul(2000));
    }
    if let Some(webhooks) = &checks.standard_webhooks {
        let id = (request.header)("webhook-id").unwrap_or_default();
        let timestamp = (request.header)("webhook-timestamp").unwrap_or_default();
        let signatures = (request.header)("webhook-signature").unwrap_or_default();
        if id.is_empty() || timestamp.is_empty() || signatures.is_empty() {
            return Err(refuse(
                Outcome::MissingSignature,
                "webhook-id, webhook-timestamp and webhook-signature headers are required",
            ));
        }
        let key = secret(&webhooks.secret).unwrap_or_default();
        if !verify_standard_webhook(&key, &id, &timestamp, request.body, &signatures) {
            return Err(refuse(
                Outcome::BadSignature,
                "no webhook-signature matches the body",
            ));
        }
        check_timestamp(Some(&timestamp), request.now_ms, webhooks.tolerance_seconds)?;
        pass.replay_key = Some(replay_key(&[b"standard-webhooks", id.as_bytes()]));
        pass.replay_expires_at_ms = request
            .now_ms
            .saturating_add(webhooks.tolerance_seconds.saturating_mul(2000));
    }
    Ok(pass)
}

#[cfg(test)]
mod tests;
