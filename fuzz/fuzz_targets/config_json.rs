//! The configuration loader from JSON (`Config::from_json`, `from_json_str`): the
//! `EDGEBACK` variable as the worker reads it. No input may panic; an accepted
//! configuration names a default network it has.
#![no_main]

use edgeback::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        if let Ok(config) = Config::from_json(value) {
            assert!(config.networks.contains_key(&config.default_network));
        }
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = Config::from_json_str(text);
    }
});
