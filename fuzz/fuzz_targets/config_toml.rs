//! The configuration loader from `wrangler.toml`, as `edgeback-cli check-config` reads
//! it: the TOML document, each environment's `[vars.EDGEBACK]` table converted to JSON,
//! then `Config::from_json`. (The CLI's `environments` is private to its binary, so its
//! few lines are repeated here.) No input may panic.
#![no_main]

use edgeback::config::{Config, VAR_NAME};
use libfuzzer_sys::fuzz_target;

fn environments(document: &toml::Table) -> Vec<Option<toml::Value>> {
    let edgeback = |table: &toml::Table| table.get("vars").and_then(|v| v.get(VAR_NAME)).cloned();
    let mut found = vec![edgeback(document)];
    if let Some(envs) = document.get("env").and_then(toml::Value::as_table) {
        found.extend(
            envs.values()
                .map(|value| value.as_table().and_then(edgeback)),
        );
    }
    found
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(document) = toml::from_str::<toml::Table>(text) else {
        return;
    };
    for table in environments(&document).into_iter().flatten() {
        if let Ok(json) = serde_json::to_value(&table) {
            let _ = Config::from_json(json);
        }
    }
});
