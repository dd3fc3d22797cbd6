//! The pre-deploy configuration check, run as a user runs it.
#![cfg(not(target_arch = "wasm32"))]

use std::process::Command;

/// `check-config --config-only` (the `[vars.EDGEBACK]` tables alone) on `toml`.
fn check(toml: &str) -> (i32, String, String) {
    check_with(toml, None, &["--config-only"])
}

/// `check-config` on `toml`, with `dev_vars` beside it when given, and `args`.
fn check_with(toml: &str, dev_vars: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let dir = std::env::temp_dir().join(format!(
        "edgeback-check-{}-{}-{}",
        std::process::id(),
        toml.len(),
        args.join("").len() + dev_vars.map_or(0, str::len)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("wrangler.toml");
    std::fs::write(&path, toml).unwrap();
    let _ = std::fs::remove_file(dir.join(".dev.vars"));
    if let Some(text) = dev_vars {
        std::fs::write(dir.join(".dev.vars"), text).unwrap();
    }
    let output = Command::new(env!("CARGO_BIN_EXE_edgeback-cli"))
        .arg("check-config")
        .arg(&path)
        .args(args)
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

/// What a deploy needs besides a valid configuration (issue 16): the shipped file's
/// placeholder ids and every secret its configuration names are reported, all in one run.
#[test]
fn the_shipped_wrangler_toml_is_not_deployable_until_its_ids_and_secrets_are_set() {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/wrangler.toml")).unwrap();
    let (code, stdout, stderr) = check_with(&shipped, None, &[]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    for expected in [
        "[top level]: d1_databases[0].database_id: \"00000000-0000-0000-0000-000000000000\" is the placeholder; put the database_id printed by `npx wrangler d1 create edgeback` here",
        "[top level]: kv_namespaces[0].id: \"00000000000000000000000000000000\" is the placeholder",
        "[top level]: secret CLICK_SECRET (signs click IDs; at least 16 bytes) is in neither",
        "`npx wrangler secret put CLICK_SECRET`",
        "[top level]: secret ADMIN_TOKEN",
    ] {
        assert!(stderr.contains(expected), "{expected}\n{stderr}");
    }
    assert!(stdout.contains("wrangler secret list"), "{stdout}");

    // With real ids and the secrets known (from .dev.vars or --secrets), it passes.
    let real = shipped
        .replace(
            "00000000-0000-0000-0000-000000000000",
            "6f1c3a52-8d7e-4b1a-9c0d-2e3f4a5b6c7d",
        )
        .replace(
            "00000000000000000000000000000000",
            "0f9e8d7c6b5a49382716a5b4c3d2e1f0",
        );
    let (code, stdout, stderr) = check_with(
        &real,
        Some("CLICK_SECRET=\"x\"\n# comment\n"),
        &["--secrets", "ADMIN_TOKEN"],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, _, stderr) = check_with(
        &real,
        Some("CLICK_SECRET=\"x\"\n"),
        &["--no-dev-vars", "--secrets", "ADMIN_TOKEN"],
    );
    assert_eq!(code, 1, "--no-dev-vars ignores .dev.vars");
    assert!(stderr.contains("secret CLICK_SECRET"), "{stderr}");
}

#[test]
fn secrets_named_by_networks_and_destinations_are_required_per_environment() {
    let toml = r#"
[[d1_databases]]
binding = "DB"
database_name = "edgeback"
database_id = "6f1c3a52-8d7e-4b1a-9c0d-2e3f4a5b6c7d"
[[kv_namespaces]]
binding = "CAMPAIGNS"
id = "0f9e8d7c6b5a49382716a5b4c3d2e1f0"
[vars.EDGEBACK.networks.generic]
[vars.EDGEBACK.networks.tune]
preset = "tune"
auth = { token = { secret = "TUNE_TOKEN", param = "security_token" } }
[[vars.EDGEBACK.destinations]]
name = "crm"
kind = "webhook"
url = "https://crm.example/h"
secret = "CRM_SECRET"

[env.production.vars.EDGEBACK.networks.generic]
"#;
    let (code, stdout, stderr) = check_with(toml, None, &["--secrets", "CLICK_SECRET,ADMIN_TOKEN"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("[top level]: secret TUNE_TOKEN (EDGEBACK.networks.tune.auth)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[top level]: secret CRM_SECRET (EDGEBACK.destinations[0].secret)"),
        "{stderr}"
    );
    // Bindings are not inherited by environments: production has none.
    assert!(
        stderr.contains("[env.production]: d1_databases: no database bound as \"DB\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("[env.production]: kv_namespaces: no namespace bound"),
        "{stderr}"
    );
    assert!(!stdout.contains("]: ok"), "{stdout}");
    // --env checks one environment; a misspelt one is named.
    let (code, _, stderr) = check_with(toml, None, &["--env", "prodution"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no [env.prodution] in the file (did you mean \"production\"?)"),
        "{stderr}"
    );
    let (code, stdout, stderr) = check_with(
        toml,
        None,
        &[
            "--secrets",
            "CLICK_SECRET ADMIN_TOKEN TUNE_TOKEN CRM_SECRET",
        ],
    );
    assert_eq!(code, 1, "production still lacks its bindings");
    assert!(stdout.contains("[top level]: ok"), "{stdout}{stderr}");
}

#[test]
fn help_exits_zero_and_unknown_options_are_refused() {
    for flag in ["--help", "-h", "help"] {
        let output = Command::new(env!("CARGO_BIN_EXE_edgeback-cli"))
            .arg(flag)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{flag}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("check-config"));
    }
    let output = Command::new(env!("CARGO_BIN_EXE_edgeback-cli"))
        .args(["check-config", "--frobnicate"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = Command::new(env!("CARGO_BIN_EXE_edgeback-cli"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "no command is a usage error");
}

#[test]
fn every_error_of_a_configuration_is_reported_in_one_run_with_near_misses() {
    let (code, _, stderr) = check(
        r#"
[vars.EDGEBACK]
default_network = "generc"
[vars.EDGEBACK.networks.generic]
[vars.EDGEBACK.networks.tune]
preset = "tune"
payout_max = "lots"
[vars.EDGEBACK.campaigns.a]
ofer_url = "https://offer.example/"
[vars.EDGEBACK.campaigns.b]
offer_url = "https://offer.example/?c={clikcid}&s={sub11}&x={zzz}"
network = "tnue"
"#,
    );
    assert_eq!(code, 1);
    for expected in [
        "EDGEBACK.networks.tune.payout_max: invalid type",
        "EDGEBACK.default_network: names network \"generc\", which is not configured under EDGEBACK.networks (did you mean \"generic\"?)",
        "(did you mean \"offer_url\"?)",
        "EDGEBACK.campaigns.b.offer_url: unknown macro {clikcid} (did you mean {clickid}?), unknown macro {sub11} (did you mean {sub1}?), unknown macro {zzz}",
        "EDGEBACK.campaigns.b.network: names network \"tnue\", which is not configured under EDGEBACK.networks (did you mean \"tune\"?)",
    ] {
        assert!(stderr.contains(expected), "{expected}\n{stderr}");
    }
}

#[test]
fn d1_bindings_are_listed_for_make_deploy() {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/wrangler.toml")).unwrap();
    let dir = std::env::temp_dir().join(format!("edgeback-d1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("wrangler.toml"), shipped).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_edgeback-cli"))
        .arg("d1-bindings")
        .arg(dir.join("wrangler.toml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "DB\n");
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
    // (design §11: names and values percent-encoded, sorted, joined with '&').
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

/// Clicks over several databases (docs/scale.md): every listed binding must be a
/// `[[d1_databases]]` entry of the same environment, named in one run with a near miss.
#[test]
fn click_databases_must_be_bound() {
    let toml = r#"
name = "edgeback"
main = "build/worker/shim.mjs"
[[d1_databases]]
binding = "DB"
database_name = "edgeback"
database_id = "6f1c3a52-8d7e-4b1a-9c0d-2e3f4a5b6c7d"
[[d1_databases]]
binding = "CLICKS_1"
database_name = "edgeback-clicks-1"
database_id = "7f1c3a52-8d7e-4b1a-9c0d-2e3f4a5b6c7d"
[[kv_namespaces]]
binding = "CAMPAIGNS"
id = "0f9e8d7c6b5a49382716a5b4c3d2e1f0"
[vars.EDGEBACK.storage]
click_databases = ["CLICKS_1", "CLICKS_2", "CLICKS-3", "CLICKS_1"]
[vars.EDGEBACK.networks.generic]
"#;
    let (code, stdout, stderr) = check_with(toml, None, &["--secrets", "CLICK_SECRET,ADMIN_TOKEN"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    for expected in [
        "EDGEBACK.storage.click_databases[2]: not a D1 binding name",
        "EDGEBACK.storage.click_databases[3]: \"CLICKS_1\" is listed twice",
    ] {
        assert!(stderr.contains(expected), "{expected}\n{stderr}");
    }
    let fixed = toml.replace(r#", "CLICKS-3", "CLICKS_1""#, "");
    let (code, stdout, stderr) =
        check_with(&fixed, None, &["--secrets", "CLICK_SECRET,ADMIN_TOKEN"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "EDGEBACK.storage.click_databases[1]: no [[d1_databases]] bound as \"CLICKS_2\" \
             in [top level] (did you mean \"CLICKS_1\"?)"
        ),
        "{stderr}"
    );
    let bound = fixed.replace(
        "[[kv_namespaces]]",
        "[[d1_databases]]\nbinding = \"CLICKS_2\"\ndatabase_name = \"c2\"\n\
         database_id = \"8f1c3a52-8d7e-4b1a-9c0d-2e3f4a5b6c7d\"\n[[kv_namespaces]]",
    );
    let (code, stdout, stderr) =
        check_with(&bound, None, &["--secrets", "CLICK_SECRET,ADMIN_TOKEN"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}
