//! Native tools for edgeback operators.
//!
//! `edgeback-cli check-config [wrangler.toml]`: validates `[vars.EDGEBACK]` of the
//! top level and of every `[env.NAME]` in the file, printing each error with its key
//! path; exits 1 when any environment is invalid, so it can gate `wrangler deploy`.
//!
//! `edgeback-cli sign-postback URL [name=value …]`: prints the URL with `ts` (now, unless
//! given) and `sig` added, signed as `auth.hmac` expects (docs/signing.md). The secret is
//! read from the environment variable `EDGEBACK_HMAC_SECRET`, never from the command line
//! (which shell history and process lists keep). `--param NAME` and `--timestamp-param
//! NAME` match a network's non-default names.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    std::process::exit(native::main(std::env::args().skip(1).collect()));
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use edgeback::config::{Config, VAR_NAME};

    const USAGE: &str = "usage: edgeback-cli check-config [path/to/wrangler.toml]\n       \
        EDGEBACK_HMAC_SECRET=... edgeback-cli sign-postback [--param sig] [--timestamp-param ts] URL [name=value ...]";

    pub fn main(args: Vec<String>) -> i32 {
        match args.first().map(String::as_str) {
            Some("check-config") => {
                let path = args.get(1).map_or("wrangler.toml", String::as_str);
                check_config(path)
            }
            Some("sign-postback") => match std::env::var("EDGEBACK_HMAC_SECRET") {
                Ok(secret) if !secret.is_empty() => {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|elapsed| elapsed.as_secs())
                        .unwrap_or_default();
                    match sign_postback(&secret, args.get(1..).unwrap_or_default(), now) {
                        Ok(url) => {
                            println!("{url}");
                            0
                        }
                        Err(message) => {
                            eprintln!("{message}\n{USAGE}");
                            2
                        }
                    }
                }
                _ => {
                    eprintln!("set EDGEBACK_HMAC_SECRET to the network's HMAC secret\n{USAGE}");
                    2
                }
            },
            _ => {
                eprintln!("{USAGE}");
                2
            }
        }
    }

    /// The signed URL for `args` (`[--param P] [--timestamp-param T] URL name=value…`).
    pub fn sign_postback(
        secret: &str,
        args: &[String],
        now_seconds: u64,
    ) -> Result<String, String> {
        let mut signature_param = "sig".to_string();
        let mut timestamp_param = "ts".to_string();
        let mut rest = args.iter();
        let mut base = None;
        let mut params: Vec<(String, String)> = Vec::new();
        while let Some(arg) = rest.next() {
            match arg.as_str() {
                "--param" => signature_param = rest.next().ok_or("--param needs a name")?.clone(),
                "--timestamp-param" => {
                    timestamp_param = rest.next().ok_or("--timestamp-param needs a name")?.clone()
                }
                _ if base.is_none() => base = Some(arg.clone()),
                pair => {
                    let (name, value) = pair
                        .split_once('=')
                        .ok_or_else(|| format!("{pair:?} is not name=value"))?;
                    params.push((name.to_string(), value.to_string()));
                }
            }
        }
        let base = base.ok_or("missing URL")?;
        if !params.iter().any(|(name, _)| *name == timestamp_param) {
            params.push((timestamp_param, now_seconds.to_string()));
        }
        let signature = edgeback::postback::auth::sign_params(secret, &params, &signature_param);
        params.push((signature_param, signature));
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        let separator = if base.contains('?') { '&' } else { '?' };
        Ok(format!("{base}{separator}{query}"))
    }

    /// The `[vars.EDGEBACK]` table of each environment: `(label, table or None)`.
    /// Wrangler does not inherit `vars` into environments, so each is checked alone.
    pub fn environments(document: &toml::Table) -> Vec<(String, Option<toml::Value>)> {
        let edgeback = |table: &toml::Table| {
            table
                .get("vars")
                .and_then(|vars| vars.get(VAR_NAME))
                .cloned()
        };
        let mut found = vec![("top level".to_string(), edgeback(document))];
        if let Some(envs) = document.get("env").and_then(toml::Value::as_table) {
            for (name, value) in envs {
                let table = value.as_table().and_then(edgeback);
                found.push((format!("env.{name}"), table));
            }
        }
        found
    }

    fn check_config(path: &str) -> i32 {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) => {
                eprintln!("{path}: {error}");
                return 2;
            }
        };
        let document: toml::Table = match toml::from_str(&text) {
            Ok(document) => document,
            Err(error) => {
                eprintln!("{path}: not valid TOML: {error}");
                return 1;
            }
        };
        let mut failed = false;
        for (label, table) in environments(&document) {
            let Some(table) = table else {
                eprintln!("{path} [{label}]: {VAR_NAME}: missing [vars.{VAR_NAME}] table");
                failed = true;
                continue;
            };
            let json = match serde_json::to_value(&table) {
                Ok(json) => json,
                Err(error) => {
                    eprintln!("{path} [{label}]: {VAR_NAME}: {error}");
                    failed = true;
                    continue;
                }
            };
            let checked = Config::from_json(json).and_then(|config| {
                config.check_timezone(&edgeback::zone::tzdb::Tzdb)?;
                Ok(config)
            });
            match checked {
                Ok(config) => println!(
                    "{path} [{label}]: ok ({} campaigns, {} networks)",
                    config.campaigns.len(),
                    config.networks.len()
                ),
                Err(errors) => {
                    failed = true;
                    for error in errors.0 {
                        eprintln!("{path} [{label}]: {error}");
                    }
                }
            }
        }
        i32::from(failed)
    }
}
