//! Click tracking end to end (issue 3, design §4): macros and aliases, redirect kinds,
//! paused campaigns, bots and prefetches, hostile parameters, and the stored row.

use crate::harness::{misconfigured_worker, worker, Reply};
use serde_json::Value;

const BROWSER: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36";

fn get(path: &str, headers: &[(&str, &str)]) -> Reply {
    worker().get(path, headers)
}

fn browser(path: &str) -> Reply {
    get(
        path,
        &[("user-agent", BROWSER), ("cf-connecting-ip", "192.0.2.10")],
    )
}

fn location(reply: &Reply) -> url::Url {
    let text = reply
        .header("location")
        .unwrap_or_else(|| panic!("no Location ({}): {}", reply.status, reply.body));
    url::Url::parse(text).expect("absolute Location")
}

fn query_value(url: &url::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| panic!("{name} missing in {url}"))
}

fn stored_click(click_id: &str) -> Value {
    let rows = worker().wait_for_rows("SELECT * FROM clicks WHERE click_id = ?1", &[&click_id]);
    assert_eq!(rows.len(), 1, "click {click_id} was not stored");
    rows[0].clone()
}

#[test]
fn every_macro_and_alias_is_filled_encoded_and_stored() {
    let reply = browser(
        "/c/clicks-macros?zoneid=zone%20A&sub2=two%26x%3Dy&sub3=3&sub4=4&sub5=5&sub6=6&sub7=7\
         &sub8=8&sub9=%C3%A9t%C3%A9&visitor_id=v%2F1&site=s10&sub5=second-ignored&unknown=z",
    );
    assert_eq!(reply.status, 302, "{}", reply.body);
    assert_eq!(reply.d1_queries(), 0);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let url = location(&reply);
    assert_eq!(url.host_str(), Some("offer.example"));
    let click_id = query_value(&url, "id");
    assert_eq!(query_value(&url, "id2"), click_id);
    assert_eq!(query_value(&url, "c"), "clicks-macros");
    assert_eq!(query_value(&url, "s1"), "zone A");
    assert_eq!(query_value(&url, "s2"), "two&x=y");
    assert_eq!(query_value(&url, "s5"), "5");
    assert_eq!(query_value(&url, "s9"), "été");
    assert_eq!(query_value(&url, "s10"), "s10");
    assert_eq!(query_value(&url, "ext"), "v/1");
    // Encoded in the raw Location: the values cannot add parameters.
    let raw = reply.header("location").unwrap();
    assert!(raw.contains("&s2=two%26x%3Dy&"), "{raw}");
    assert!(raw.contains("&ext=v%2F1&"), "{raw}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ts: u64 = query_value(&url, "ts").parse().unwrap();
    assert!(ts.abs_diff(now) < 120, "ts {ts} vs now {now}");

    let row = stored_click(&click_id);
    assert_eq!(row["campaign"], "clicks-macros");
    assert_eq!(row["sub1"], "zone A");
    assert_eq!(row["sub2"], "two&x=y");
    assert_eq!(row["sub9"], "été");
    assert_eq!(row["sub10"], "s10");
    assert_eq!(row["external_id"], "v/1");
    assert_eq!(
        row["country"].as_str().unwrap_or(""),
        query_value(&url, "geo")
    );
    assert_eq!(row["is_bot"], 0);
    assert_eq!(row["bot_reason"], Value::Null);
}

#[test]
fn values_are_trimmed_and_clipped_to_512_bytes() {
    let long = "a".repeat(3000);
    let reply = browser(&format!(
        "/c/clicks-macros?sub1=%20%20padded%20%20&sub2={long}"
    ));
    assert_eq!(reply.status, 302);
    let click_id = query_value(&location(&reply), "id");
    let row = stored_click(&click_id);
    assert_eq!(row["sub1"], "padded");
    assert_eq!(row["sub2"].as_str().unwrap().len(), 512);
}

#[test]
fn redirect_kinds_307_and_meta_refresh() {
    let reply = browser("/c/clicks-307");
    assert_eq!(reply.status, 307);
    assert!(reply
        .header("location")
        .unwrap()
        .starts_with("https://offer.example/t?c="));

    let reply = browser("/c/clicks-meta?sub1=%22%3E%3Cscript%3E");
    assert_eq!(reply.status, 200);
    assert!(reply.header("location").is_none());
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(
        reply
            .body
            .contains("<meta http-equiv=\"refresh\" content=\"0;url=https://offer.example/m?c="),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("&amp;s=%22%3E%3Cscript%3E"),
        "{}",
        reply.body
    );
    assert!(!reply.body.contains("<script>"), "{}", reply.body);
}

#[test]
fn a_paused_campaign_with_a_fallback_redirects_there_without_a_row() {
    let reply = browser("/c/clicks-fallback?sub1=fallback-probe");
    assert_eq!(reply.status, 302);
    assert_eq!(
        reply.header("location"),
        Some("https://home.example/paused")
    );
    assert_eq!(reply.d1_queries(), 0);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(worker()
        .query(
            "SELECT 1 FROM clicks WHERE campaign = 'clicks-fallback'",
            &[]
        )
        .is_empty());
}

#[test]
fn non_get_methods_are_refused() {
    let reply = worker().send(
        "POST",
        "/c/clicks-bots",
        &[("user-agent", BROWSER)],
        Some(b""),
    );
    assert_eq!(reply.status, 405);
}

/// One bot probe: request headers, method, and the expected `bot_reason`.
type BotCase = (
    Vec<(&'static str, &'static str)>,
    &'static str,
    &'static str,
);

fn bot_cases() -> Vec<BotCase> {
    vec![
        (vec![("user-agent", BROWSER)], "HEAD", "head"),
        (vec![("user-agent", "")], "GET", "empty_user_agent"),
        (vec![("user-agent", "   ")], "GET", "empty_user_agent"),
        (
            vec![(
                "user-agent",
                "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            )],
            "GET",
            "crawler:facebookexternalhit",
        ),
        (
            vec![(
                "user-agent",
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            )],
            "GET",
            "crawler:googlebot",
        ),
        (
            vec![(
                "user-agent",
                "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            )],
            "GET",
            "crawler:slackbot",
        ),
        (
            vec![("user-agent", "TelegramBot (like TwitterBot)")],
            "GET",
            "crawler:twitterbot",
        ),
        (
            vec![
                ("user-agent", BROWSER),
                ("sec-purpose", "prefetch;prerender"),
            ],
            "GET",
            "prefetch",
        ),
        (
            vec![("user-agent", BROWSER), ("purpose", "prefetch")],
            "GET",
            "prefetch",
        ),
    ]
}

fn bot_click(campaign: &str, headers: &[(&str, &str)], method: &str, tag: &str) -> Reply {
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    all.push(("cf-connecting-ip", "192.0.2.11"));
    worker().send(method, &format!("/c/{campaign}?sub9={tag}"), &all, None)
}

#[test]
fn bots_and_prefetches_are_flagged_and_still_redirected() {
    for (index, (headers, method, reason)) in bot_cases().into_iter().enumerate() {
        let tag = format!("bot-redirect-{index}");
        let reply = bot_click("clicks-bots", &headers, method, &tag);
        assert_eq!(reply.status, 302, "{reason}");
        let rows = worker().wait_for_rows(
            "SELECT is_bot, bot_reason FROM clicks WHERE sub9 = ?1",
            &[&tag],
        );
        assert_eq!(
            rows,
            [serde_json::json!({"is_bot": 1, "bot_reason": reason})],
            "{reason}"
        );
    }
    // A person is not flagged.
    let reply = bot_click(
        "clicks-bots",
        &[("user-agent", BROWSER)],
        "GET",
        "bot-redirect-person",
    );
    assert_eq!(reply.status, 302);
    let rows = worker().wait_for_rows(
        "SELECT is_bot FROM clicks WHERE sub9 = 'bot-redirect-person'",
        &[],
    );
    assert_eq!(rows, [serde_json::json!({"is_bot": 0})]);
}

#[test]
fn bots_block_answers_403_without_the_offer_and_records_the_click() {
    for (index, (headers, method, reason)) in bot_cases().into_iter().enumerate() {
        let tag = format!("bot-block-{index}");
        let reply = bot_click("clicks-block", &headers, method, &tag);
        assert_eq!(reply.status, 403, "{reason}");
        assert!(reply.header("location").is_none());
        assert!(!reply.body.contains("offer.example"));
        let rows = worker().wait_for_rows(
            "SELECT is_bot, bot_reason FROM clicks WHERE sub9 = ?1",
            &[&tag],
        );
        assert_eq!(
            rows,
            [serde_json::json!({"is_bot": 1, "bot_reason": reason})],
            "{reason}"
        );
    }
    let reply = bot_click(
        "clicks-block",
        &[("user-agent", BROWSER)],
        "GET",
        "bot-block-person",
    );
    assert_eq!(
        reply.status, 302,
        "a person must pass a bots = \"block\" campaign"
    );
}

/// Hostile values, already percent-encoded for the query string.
const HOSTILE: &[&str] = &[
    "%2F%2Fevil.example",
    "//evil.example",
    "@evil.example",
    "%40evil.example",
    "%5C%5Cevil.example",
    "\\\\evil.example",
    "evil.example%2F",
    "evil.example%23",
    "evil.example%3F",
    "x%0D%0ALocation:%20https://evil.example/",
    "x%0D%0ASet-Cookie:%20a=b",
    "%250D%250Aevil",
    "%252F%252Fevil.example",
    "%FF%FE%00evil.example",
    "evil.example:443",
    "..%2F..%2Fevil.example",
    "https://evil.example",
    "https%3A%2F%2Fevil.example",
];

fn assert_safe(reply: &Reply, probe: &str) {
    for (name, value) in &reply.headers {
        assert!(
            !name.eq_ignore_ascii_case("set-cookie"),
            "{probe}: header injected: {name}: {value}"
        );
        assert!(!value.contains(['\r', '\n']), "{probe}: CR/LF in {name}");
    }
    match reply.status {
        302 | 307 => {
            let url = location(reply);
            let host = url.host_str().unwrap_or_default();
            assert!(
                host == "offer.example" || host.ends_with(".offer.example"),
                "{probe} -> {url}"
            );
            assert!(
                url.username().is_empty() && url.password().is_none(),
                "{probe} -> {url}"
            );
            assert_eq!(url.scheme(), "https");
        }
        400 => assert!(reply.header("location").is_none()),
        other => panic!("{probe}: unexpected status {other}"),
    }
}

#[test]
fn hostile_parameters_never_leave_the_allowed_hosts() {
    let mut redirects = 0;
    for probe in HOSTILE {
        for campaign in ["clicks-hosted", "clicks-macros", "clicks-307"] {
            let path = format!(
                "/c/{campaign}?sub1={probe}&sub2={probe}&external_id={probe}&zoneid={probe}"
            );
            let reply = browser(&path);
            assert_safe(&reply, &format!("{campaign} {probe}"));
            redirects += usize::from(matches!(reply.status, 302 | 307));
        }
    }
    // Most probes are encoded into harmless query values and redirect normally; only the
    // host-macro campaign refuses the ones that would make an invalid host.
    assert!(redirects >= HOSTILE.len() * 2, "{redirects}");
}

#[test]
fn very_long_hostile_values_are_clipped_and_stay_on_the_allowed_hosts() {
    let long = format!("%2F%2Fevil.example%0D%0A{}", "b".repeat(6000));
    for campaign in ["clicks-hosted", "clicks-macros"] {
        let reply = browser(&format!(
            "/c/{campaign}?sub1={long}&sub2={long}&sub9=long-{campaign}"
        ));
        assert_safe(&reply, &format!("{campaign} long"));
        let rows = worker().wait_for_rows(
            "SELECT sub1 FROM clicks WHERE sub9 = ?1",
            &[&format!("long-{campaign}")],
        );
        assert_eq!(rows[0]["sub1"].as_str().unwrap().len(), 512, "{campaign}");
    }
}

#[test]
fn raw_non_utf8_and_control_bytes_never_redirect_elsewhere() {
    let probes: &[&[u8]] = &[
        b"\xff\xfe.evil.example",
        b"evil.example\xc0\xaf",
        b"a\x01b",
        b"%0d%0aSet-Cookie:x=y",
    ];
    for probe in probes {
        let mut request = b"GET /c/clicks-hosted?sub1=x&sub2=".to_vec();
        request.extend_from_slice(probe);
        request.extend_from_slice(
            b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Mozilla/5.0\r\nConnection: close\r\n\r\n",
        );
        let (status, head) = worker().raw(&request);
        let lower = head.to_ascii_lowercase();
        assert!(!lower.contains("set-cookie"), "{head}");
        assert!(!lower.contains("evil.example"), "{head}");
        assert!([302, 400].contains(&status), "{status}: {head}");
        if status == 302 {
            let location = head
                .lines()
                .find_map(|line| {
                    line.strip_prefix("Location: ")
                        .or_else(|| line.strip_prefix("location: "))
                })
                .expect("Location");
            let url = url::Url::parse(location).unwrap();
            assert!(
                url.host_str().unwrap().ends_with(".offer.example"),
                "{location}"
            );
        }
    }
}

#[test]
fn a_click_without_any_user_agent_header_is_flagged() {
    // HTTP clients add their own User-Agent; a raw request can leave it out entirely.
    let (status, _) = worker().raw(
        b"GET /c/clicks-block?sub9=no-ua-header HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 403);
    let rows = worker().wait_for_rows(
        "SELECT bot_reason FROM clicks WHERE sub9 = 'no-ua-header'",
        &[],
    );
    assert_eq!(
        rows,
        [serde_json::json!({"bot_reason": "empty_user_agent"})]
    );
}

#[test]
fn a_wrong_configuration_is_reported_by_healthz_naming_the_key() {
    let broken = misconfigured_worker();
    let reply = broken.get("/healthz", &[]);
    assert_eq!(reply.status, 500);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let error = reply.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.starts_with("EDGEBACK.campaigns.broken.redirect: "),
        "{error}"
    );
    // Other routes refuse to run half-configured, and show no detail of the secrets.
    let click = broken.get("/c/broken", &[("user-agent", BROWSER)]);
    assert_eq!(click.status, 500);
    assert_eq!(click.json()["error"], "misconfigured");
    assert!(click.header("location").is_none());
}

#[test]
fn concurrent_clicks_are_all_stored_by_the_coalesced_writer() {
    let gate = std::sync::Arc::new(std::sync::Barrier::new(60));
    let threads: Vec<_> = (0..60)
        .map(|n| {
            let gate = std::sync::Arc::clone(&gate);
            std::thread::spawn(move || {
                gate.wait();
                let reply = worker().get(
                    &format!("/c/clicks-bots?sub9=burst-click&sub8={n}"),
                    &[("user-agent", BROWSER), ("cf-connecting-ip", "192.0.2.60")],
                );
                assert_eq!(reply.status, 302);
                assert_eq!(reply.d1_queries(), 0);
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let rows = worker().query(
            "SELECT COUNT(DISTINCT sub8) AS n FROM clicks WHERE sub9 = 'burst-click'",
            &[],
        );
        if rows[0]["n"] == 60 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of 60 click rows arrived",
            rows[0]["n"]
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
