//! The dashboard in a real browser (issues 7 and 16): Debian's Chromium driven by
//! playwright-core (tests/browser/dashboard.mjs) against the shared worker: overview,
//! report drill-down, an error state, lists with filters, a CSV download checked against
//! the API, the tester, a replay, and the phone layout.

use crate::harness::{repo_root, worker, ADMIN_TOKEN};
use crate::listener::{listener, Behaviour};

fn click(campaign: &str) -> String {
    crate::harness::click_through(campaign, "", "192.0.2.140")
}

#[test]
fn the_dashboard_works_in_a_real_browser() {
    let chromium = std::env::var("CHROMIUM_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists()
            && repo_root().join("node_modules/playwright-core").exists(),
        "the browser test needs Debian's chromium and playwright-core: run `make tools`"
    );
    // A failed delivery to replay from the dashboard.
    listener().behave("/hooks/fw-dash", Behaviour::Status(410));
    let failing = click("fw-dash");
    let reply = worker().get(&format!("/postback?clickid={failing}&txid=dash-1"), &[]);
    let conversion_id = reply.json()["conversion_id"].as_str().unwrap().to_string();
    let rows = worker().wait_for_rows(
        "SELECT delivery_id FROM deliveries WHERE conversion_id = ?1 AND state = 'failed'",
        &[&conversion_id],
    );
    let delivery_id = rows[0]["delivery_id"].as_str().unwrap().to_string();
    listener().behave("/hooks/fw-dash", Behaviour::Status(200));

    // Two clicks of one sub1 value (drill-down, filters, CSV); the first converts in the
    // browser test, the second here.
    let zone = format!(
        "dash{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let clicked = crate::harness::click_through("fw", &format!("sub1={zone}"), "192.0.2.140");
    let second = crate::harness::click_through(
        "fw",
        &format!("sub1={zone}&sub2=second&external_id=ext-{zone}"),
        "192.0.2.140",
    );
    let converted = worker().get(
        &format!("/postback?clickid={second}&txid={zone}&status=approved&payout=4"),
        &[],
    );
    assert_eq!(converted.outcome(), "accepted", "{}", converted.body);

    // A click bought at a CPC today: the overview shows today's cost, profit and ROI.
    crate::harness::click_through("dash-cost", "", "192.0.2.141");

    let out_dir = repo_root().join("test-output/dashboard");
    let output = std::process::Command::new("node")
        .arg(repo_root().join("tests/browser/dashboard.mjs"))
        .args([&worker().base_url, ADMIN_TOKEN, &clicked, &delivery_id])
        .arg(&out_dir)
        .arg(&zone)
        .current_dir(repo_root())
        .output()
        .expect("node");
    assert!(
        output.status.success(),
        "the dashboard test failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for name in [
        "01-sign-in",
        "02-overview",
        "03-report-drill-down",
        "04-report-error",
        "05-postback-log",
        "06-conversions",
        "07-clicks",
        "08-tester",
        "09-deliveries-replayed",
        "10-phone-overview",
        "11-phone-conversions",
    ] {
        assert!(
            out_dir.join(format!("{name}.png")).exists(),
            "no screenshot {name}"
        );
    }
    // The replay happened for real.
    let row = &worker().query(
        "SELECT state, attempts FROM deliveries WHERE delivery_id = ?1",
        &[&delivery_id],
    )[0];
    assert_eq!(
        (row["state"].as_str(), row["attempts"].as_i64()),
        (Some("delivered"), Some(2))
    );
}

/// The dashboard's files carry their security headers, and nothing else is served.
#[test]
fn the_dashboard_assets_carry_their_security_headers() {
    let w = worker();
    for path in ["/admin", "/admin/", "/admin/app.js", "/admin/app.css"] {
        let reply = w.get(path, &[]);
        assert_eq!(reply.status, 200, "{path}");
        let csp = reply.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{path}");
    }
    assert_eq!(w.get("/admin/no-such-file.js", &[]).status, 404);
}
