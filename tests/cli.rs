//! The pre-deploy configuration check, run as a user runs it.
#![cfg(not(target_arch = "wasm32"))]

use std::process::Command;

fn check(toml: &str) -> (i32, String, String) {
    let dir = std::env::temp_dir().join(format!(
        "edgeback-check-{}-{}",
        std::process::id(),
        toml.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("wrangler.toml");
    std::fs::write(&path, toml).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_edgeback-cli"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_shipped_wrangler_toml_is_valid() {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/wrangler.toml")).unwrap();
    let (code, stdout, stderr) = check(&shipped);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("[top level]: ok"), "{stdout}");
}

#[test]
fn every_environment_is_checked_and_errors_name_the_key_path() {
    let (code, stdout, stderr) = check(
        r#"
name = "x"
[vars.EDGEBACK.networks.generic]
[vars.EDGEBACK.campaigns.good]
offer_url = "https://offer.example/?c={clickid}"

[env.staging.vars.EDGEBACK.networks.generic]
[env.staging.vars.EDGEBACK.campaigns.bad]
offer_url = "https://offer.example/?c={clikcid}"
redirect = "301"

[env.production]
name = "y"
"#,
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("[top level]: ok (1 campaigns, 1 networks)"),
        "{stdout}"
    );
    assert!(
        stderr.contains("[env.staging]: EDGEBACK.campaigns.bad.redirect: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("[env.production]: EDGEBACK: missing [vars.EDGEBACK] table"),
        "{stderr}"
    );
}

#[test]
fn semantic_errors_in_one_environment_are_all_listed() {
    let (code, _, stderr) = check(
        r#"
[vars.EDGEBACK]
currency = "DOLLARS"
[vars.EDGEBACK.networks.generic]
[vars.EDGEBACK.campaigns.bad]
offer_url = "https://offer.example/?c={clikcid}"
"#,
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("EDGEBACK.currency: not an ISO 4217 currency code"),
        "{stderr}"
    );
    assert!(
        stderr.contains("EDGEBACK.campaigns.bad.offer_url: unknown macro {clikcid}"),
        "{stderr}"
    );
}

/// Issue 11 item 6: a destination URL with a macro in its host (the visitor would
/// choose where the worker sends a request) stops the deploy, naming the key.
#[test]
fn a_destination_with_a_macro_in_its_host_is_refused() {
    let (code, _, stderr) = check(
        r#"
[vars.EDGEBACK.networks.generic]
[vars.EDGEBACK.campaigns.good]
offer_url = "https://offer.example/?c={clickid}"
[[vars.EDGEBACK.destinations]]
name = "fine"
kind = "postback"
url = "https://ads.example/conv?v={sub3}"
[[vars.EDGEBACK.destinations]]
name = "steered"
kind = "postback"
url = "http://{sub3}:8899/conv?c={clickid}"
"#,
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "[top level]: EDGEBACK.destinations[1].url: macro {sub3} is in the scheme, host or port"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("destinations[0]"), "{stderr}");
}

#[test]
fn sign_postback_prints_a_url_signed_over_the_sorted_parameters() {
    let output = Command::new(env!("CARGO_BIN_EXE_edgeback-cli"))
        .args([
            "sign-postback",
            "https://t.example/postback/tune",
            "clickid=abc",
            "payout=12.50",
            "ts=1700000000",
            "note=a b&c",
        ])
        .env("EDGEBACK_HMAC_SECRET", "s3cret")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    let url = url::Url::parse(printed.trim()).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let sig = pairs
        .iter()
        .find(|(k, _)| k == "sig")
        .map(|(_, v)| v.clone())
        .unwrap();
    // Independent of the code under test: HMAC-SHA256 of the canonical string by hand
    // (SPEC §11: names and values percent-encoded, sorted, joined with '&').
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(b"clickid=abc&note=a%20b%26c&payout=12.50&ts=1700000000");
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(sig, expected);
    assert!(pairs.contains(&("note".to_string(), "a b&c".to_string())));
}

#[test]
fn sign_postback_refuses_to_run_without_the_secret_in_the_environment() {
    let output = Command::new(env!("CARGO_BIN_EXE_edgeback-cli"))
        .args(["sign-postback", "https://t.example/postback", "clickid=abc"])
        .env_remove("EDGEBACK_HMAC_SECRET")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}
