//! Native tools for edgeback operators.
//!
//! `edgeback-cli check-config [wrangler.toml]`: validates `[vars.EDGEBACK]` of the
//! top level and of every `[env.NAME]` in the file, printing each error with its key
//! path; exits 1 when any environment is invalid, so it can gate `wrangler deploy`.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    std::process::exit(native::main(std::env::args().skip(1).collect()));
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use edgeback::config::{Config, VAR_NAME};

    const USAGE: &str = "usage: edgeback-cli check-config [path/to/wrangler.toml]";

    pub fn main(args: Vec<String>) -> i32 {
        match args.first().map(String::as_str) {
            Some("check-config") => {
                let path = args.get(1).map_or("wrangler.toml", String::as_str);
                check_config(path)
            }
            _ => {
                eprintln!("{USAGE}");
                2
            }
        }
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
            match Config::from_json(json) {
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
