//! The deployment's secrets (design §5): which ones the configuration needs, and whether
//! each is set and well-formed. Pure: the adapter passes a lookup (`wrangler secret put`
//! values in production, `.dev.vars` locally); a missing or malformed secret is reported
//! with the key that names it, like a configuration error.

use crate::click_id::ClickSecrets;
use crate::config::{Config, VAR_NAME};
use crate::map::VecMap;

/// The shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// Every secret value the worker uses, resolved and checked.
pub struct Secrets {
    pub click_secrets: ClickSecrets,
    pub admin_token: String,
    /// Values of the secrets that network `auth` tables name.
    pub auth_secrets: VecMap<String, String>,
    /// Every parameter name any network treats as secret (for logs of requests whose
    /// network is not known yet), and the configured `redact` names.
    pub all_secret_params: Vec<String>,
    /// Values of the `whsec_` secrets that webhook destinations name.
    pub destination_secrets: VecMap<String, String>,
}

/// One secret the configuration needs: its name and the key that needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needed {
    pub name: String,
    /// The configuration key that names it (`EDGEBACK.networks.tune.auth`), or what it
    /// is for when the worker itself needs it.
    pub needed_by: String,
}

/// Every secret `config` cannot run without, in the order `resolve` checks them (the
/// optional `CLICK_SECRET_PREVIOUS` is not among them). For checks that cannot see
/// values, such as `edgeback-cli check-config` before a deploy.
pub fn needed(config: &Config) -> Vec<Needed> {
    let mut all = vec![
        Needed {
            name: "CLICK_SECRET".into(),
            needed_by: "signs click IDs; at least 16 bytes".into(),
        },
        Needed {
            name: "ADMIN_TOKEN".into(),
            needed_by: "the admin API token; at least 16 bytes".into(),
        },
    ];
    for (name, network) in &config.networks {
        for secret_name in network.auth.secret_names() {
            all.push(Needed {
                name: secret_name.to_string(),
                needed_by: format!("{VAR_NAME}.networks.{name}.auth"),
            });
        }
    }
    for (index, destination) in config.destinations.iter().enumerate() {
        if let Some(secret_name) = destination.secret_name() {
            all.push(Needed {
                name: secret_name.to_string(),
                needed_by: format!("{VAR_NAME}.destinations[{index}].secret"),
            });
        }
    }
    all
}

/// Resolves the secrets `config` needs through `lookup`; the first missing or malformed
/// one is the error, naming the key that needs it and the command that sets it.
pub fn resolve(
    config: &Config,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Secrets, String> {
    let secret = |name: &str| lookup(name).filter(|value| !value.is_empty());
    let current = secret("CLICK_SECRET")
        .ok_or("CLICK_SECRET: secret is not set (wrangler secret put CLICK_SECRET)")?;
    let previous = secret("CLICK_SECRET_PREVIOUS");
    let click_secrets =
        ClickSecrets::new(&current, previous.as_deref()).map_err(|error| error.to_string())?;
    let admin_token = secret("ADMIN_TOKEN")
        .filter(|token| token.len() >= MIN_ADMIN_TOKEN_LEN)
        .ok_or("ADMIN_TOKEN: secret is not set or shorter than 16 bytes")?;
    let mut auth_secrets = VecMap::new();
    let mut all_secret_params = Vec::new();
    for (name, network) in &config.networks {
        for secret_name in network.auth.secret_names() {
            let value = secret(secret_name).ok_or_else(|| {
                format!(
                    "{VAR_NAME}.networks.{name}.auth: secret {secret_name} is not set \
                     (wrangler secret put {secret_name})"
                )
            })?;
            auth_secrets.insert(secret_name.to_string(), value);
        }
        all_secret_params.extend(network.auth.secret_params().into_iter().map(str::to_string));
    }
    // The configured `redact` names are hidden in every log row, like the secrets.
    all_secret_params.extend(config.redact.iter().cloned());
    let mut destination_secrets = VecMap::new();
    for (index, destination) in config.destinations.iter().enumerate() {
        if let Some(secret_name) = destination.secret_name() {
            let value = secret(secret_name)
                .filter(|value| crate::forward::decode_webhook_secret(value).is_some())
                .ok_or_else(|| {
                    format!(
                        "{VAR_NAME}.destinations[{index}].secret: secret {secret_name} is not set \
                         or not a whsec_ value of 24-64 base64-encoded bytes"
                    )
                })?;
            destination_secrets.insert(secret_name.to_string(), value);
        }
    }
    Ok(Secrets {
        click_secrets,
        admin_token,
        auth_secrets,
        all_secret_params,
        destination_secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> Config {
        Config::from_json(json!({
            "networks": {
                "generic": {},
                "tune": { "preset": "tune", "auth": { "token": { "secret": "TUNE_TOKEN", "param": "security_token" } } }
            },
            "redact": ["customer_ref"],
            "destinations": [{ "name": "crm", "kind": "webhook", "url": "https://crm.example/h", "secret": "CRM_SECRET" }]
        }))
        .unwrap()
    }

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        }
    }

    const ALL: &[(&str, &str)] = &[
        ("CLICK_SECRET", "a-click-secret-of-some-length"),
        ("ADMIN_TOKEN", "an-admin-token-0123"),
        ("TUNE_TOKEN", "t0k3n"),
        ("CRM_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    ];

    #[test]
    fn every_named_secret_resolves() {
        let secrets = resolve(&config(), lookup(ALL)).unwrap();
        assert_eq!(secrets.auth_secrets["TUNE_TOKEN"], "t0k3n");
        assert!(secrets.destination_secrets.contains_key("CRM_SECRET"));
        assert!(secrets
            .all_secret_params
            .iter()
            .any(|p| p == "security_token"));
        assert!(secrets
            .all_secret_params
            .iter()
            .any(|p| p == "customer_ref"));
    }

    #[test]
    fn needed_names_every_secret_resolve_requires() {
        let names: Vec<String> = needed(&config()).into_iter().map(|n| n.name).collect();
        assert_eq!(
            names,
            ["CLICK_SECRET", "ADMIN_TOKEN", "TUNE_TOKEN", "CRM_SECRET"]
        );
        // With exactly those set, resolve succeeds; without any one of them, it fails.
        assert!(resolve(&config(), lookup(ALL)).is_ok());
        for missing in &names {
            let without = |name: &str| {
                ALL.iter()
                    .find(|(key, _)| *key == name && key != missing)
                    .map(|(_, value)| value.to_string())
            };
            assert!(resolve(&config(), without).is_err(), "{missing}");
        }
        assert_eq!(
            needed(&config())[2].needed_by,
            "EDGEBACK.networks.tune.auth"
        );
    }

    #[test]
    fn a_missing_or_malformed_secret_names_its_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&ALL[1..], "CLICK_SECRET: secret is not set"),
            (
                &[ALL[0], ("ADMIN_TOKEN", "short"), ALL[2], ALL[3]],
                "ADMIN_TOKEN",
            ),
            (
                &[ALL[0], ALL[1], ALL[3]],
                "EDGEBACK.networks.tune.auth: secret TUNE_TOKEN is not set",
            ),
            (
                &[ALL[0], ALL[1], ALL[2], ("CRM_SECRET", "not-whsec")],
                "EDGEBACK.destinations[0].secret",
            ),
            (
                &[("CLICK_SECRET", "short"), ALL[1], ALL[2], ALL[3]],
                "CLICK_SECRET must be at least 16 bytes",
            ),
        ];
        for (pairs, expected) in cases {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(pairs.to_vec().into_boxed_slice());
            let error = resolve(&config(), lookup(pairs)).err().unwrap_or_default();
            assert!(
                error.contains(expected),
                "{error} should contain {expected}"
            );
        }
    }
}
