//! Fixtures shared by the fuzz targets: one configuration, click secrets, and the
//! helpers that build inputs the way the worker's adapter does.

use edgeback::click_id::ClickSecrets;
use edgeback::config::{Config, Network};
use std::sync::OnceLock;

/// The click secret every target verifies against.
pub const CLICK_SECRET: &str = "fuzz-click-secret-0123456789";
/// The value of the HMAC secret named `FUZZ_HMAC` in [`config`].
pub const HMAC_SECRET: &str = "fuzz-hmac-secret";
/// The value of the Standard Webhooks secret named `FUZZ_SW` in [`config`].
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Around 2026-09-21: the clock the targets add their offsets to.
pub const NOW_MS: u64 = 1_790_000_000_000;

/// A configuration with the networks the targets use: `keitaro` (status and event
/// maps, per-request status words, payout limits), `strict` (comma decimals, negative
/// payouts, a fixed currency), `signed` (HMAC) and `webhooks` (Standard Webhooks).
pub fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        Config::from_json(serde_json::json!({
            "default_network": "keitaro",
            "currency": "USD",
            "networks": {
                "keitaro": {
                    "preset": "keitaro",
                    "status_map": { "approved": ["1", "ok"], "rejected": ["0"] },
                    "event_map": { "ftd": ["first_deposit", "x"], "reg": ["signup"] },
                    "payout_max": 1000
                },
                "strict": {
                    "decimal_separator": ",",
                    "allow_negative_payout": true,
                    "currency": "EUR",
                    "dedup": "transaction",
                    "params": { "click_id": ["cid", "clickid"], "payout": ["sum"] }
                },
                "signed": { "auth": { "hmac": { "secret": "FUZZ_HMAC" } } },
                "webhooks": { "auth": { "standard_webhooks": { "secret": "FUZZ_SW" } } }
            },
            "campaigns": {
                "only-strict": { "offer_url": "https://o.example/?c={clickid}", "network": "strict" }
            }
        }))
        .expect("the fuzz configuration is valid")
    })
}

/// A network of [`config`] by name.
pub fn network(name: &str) -> &'static Network {
    &config().networks[name]
}

/// The click secrets (current and previous) every target uses.
pub fn secrets() -> &'static ClickSecrets {
    static SECRETS: OnceLock<ClickSecrets> = OnceLock::new();
    SECRETS.get_or_init(|| {
        ClickSecrets::new(CLICK_SECRET, Some("fuzz-previous-secret-0123456789"))
            .expect("long enough")
    })
}

/// Resolves the secret names of [`config`] as `wrangler secret put` would.
pub fn secret(name: &str) -> Option<String> {
    match name {
        "FUZZ_HMAC" => Some(HMAC_SECRET.into()),
        "FUZZ_SW" => Some(WEBHOOK_SECRET.into()),
        _ => None,
    }
}

/// Decodes `%XX` escapes (the targets check that encoded values decode back to
/// themselves); the input is what the core encoded, so malformed escapes panic.
pub fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ASCII");
            out.push(u8::from_str_radix(hex, 16).expect("two hex digits"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}
