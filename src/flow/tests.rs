//! Flows through `plan_click`: configuration, every filter, the weighted split over
//! 10,000 clicks and sticky visitors (docs/flows.md).

use crate::click::{plan_click, ClickPlan, ClickRequest, ClickResponse};
use crate::click_id::ClickSecrets;
use crate::config::Config;
use crate::zone::tzdb::Tzdb;
use serde_json::json;
use std::collections::BTreeMap;

/// 2026-09-21 12:00:00 UTC (a Monday; 08:00 in New York, 14:00 in Berlin).
const NOON_UTC: u64 = 1_789_992_000_000;

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const WINDOWS_CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

fn secrets() -> ClickSecrets {
    ClickSecrets::new("test-click-secret-0123456789", None).unwrap()
}

fn config() -> Config {
    Config::from_json(json!({
        "networks": { "generic": {} },
        "campaigns": {
            "geo": {
                "offers": [
                    { "name": "a", "url": "https://a.example/?c={clickid}", "weight": 70 },
                    { "name": "b", "url": "https://b.example/?c={clickid}", "weight": 30 },
                    { "name": "paused", "url": "https://b.example/paused", "weight": 0 }
                ],
                "rules": [
                    { "name": "bots", "filters": { "bot": true }, "offer_url": "https://safe.example/" },
                    { "name": "us-mobile", "filters": { "country": ["us", "CA"], "device": "mobile" },
                      "offer_url": "https://us.example/m?c={clickid}" },
                    { "name": "texas", "filters": { "region": ["TX"] }, "offer_url": "https://us.example/tx" },
                    { "name": "berlin", "filters": { "city": "Berlin" }, "offer_url": "https://de.example/berlin" },
                    { "name": "german", "filters": { "language": "de", "os": ["windows", "macos"], "browser": ["chrome"] },
                      "offer_url": "https://de.example/desktop" },
                    { "name": "asn", "filters": { "asn": [13335, 64500] }, "offer_url": "https://asn.example/" },
                    { "name": "zone", "filters": { "params": { "sub1": { "prefix": "fb_" }, "site": ["x", "y"] } },
                      "offer_url": "https://fb.example/" },
                    { "name": "regex", "filters": { "params": { "external_id": { "regex": "^[0-9]+$" } } },
                      "offer_url": "https://num.example/" },
                    { "name": "tag", "filters": { "params": { "sub2": "exact" } }, "offer_url": "https://tag.example/" },
                    { "name": "night-ny", "filters": { "time": { "zone": "America/New_York", "from": "22:00", "to": "09:00" } },
                      "offer_url": "https://night.example/" },
                    { "name": "sticky", "filters": { "params": { "sub3": "sticky" } }, "sticky": true,
                      "offers": [
                        { "name": "x", "url": "https://x.example/", "weight": 1 },
                        { "name": "y", "url": "https://y.example/", "weight": 1 },
                        { "name": "z", "url": "https://z.example/", "weight": 2 }
                      ] }
                ]
            },
            "plain": { "offer_url": "https://offer.example/?c={clickid}" }
        }
    }))
    .unwrap()
}

fn request<'a>(query: &'a [(String, String)]) -> ClickRequest<'a> {
    ClickRequest {
        query,
        user_agent: Some(WINDOWS_CHROME),
        client_ip: Some("198.51.100.7"),
        country: Some("FR"),
        // 10:00 in New York: outside the night rule's window.
        now_ms: NOON_UTC + 2 * 3_600_000,
        random: [1; 7],
        zones: Some(&Tzdb),
        origin: Some("https://track.example"),
        ..Default::default()
    }
}

fn host(plan: &ClickPlan) -> String {
    match &plan.response {
        ClickResponse::Redirect { location, .. } => url::Url::parse(location)
            .unwrap()
            .host_str()
            .unwrap()
            .to_string(),
        other => panic!("{other:?}"),
    }
}

fn chosen(plan: &ClickPlan) -> (Option<&str>, Option<&str>) {
    let record = plan.record.as_ref().unwrap();
    (record.rule.as_deref(), record.offer.as_deref())
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_filter_picks_its_rule() {
    let config = config();
    let geo = config.campaigns.get("geo");
    let secrets = secrets();
    let none = pairs(&[]);
    let cases: Vec<(ClickRequest, &str, &str)> = vec![
        (
            ClickRequest {
                user_agent: Some("curl/8.5"),
                ..request(&none)
            },
            "bots",
            "safe.example",
        ),
        (
            ClickRequest {
                country: Some("US"),
                user_agent: Some(IPHONE),
                ..request(&none)
            },
            "us-mobile",
            "us.example",
        ),
        (
            ClickRequest {
                country: Some("ca"),
                user_agent: Some(IPHONE),
                ..request(&none)
            },
            "us-mobile",
            "us.example",
        ),
        (
            ClickRequest {
                region_code: Some("TX"),
                region: Some("Texas"),
                ..request(&none)
            },
            "texas",
            "us.example",
        ),
        (
            ClickRequest {
                city: Some("berlin"),
                ..request(&none)
            },
            "berlin",
            "de.example",
        ),
        (
            ClickRequest {
                accept_language: Some("de-DE,de;q=0.9,en;q=0.5"),
                ..request(&none)
            },
            "german",
            "de.example",
        ),
        (
            ClickRequest {
                asn: Some(64500),
                ..request(&none)
            },
            "asn",
            "asn.example",
        ),
        (
            ClickRequest {
                now_ms: NOON_UTC + 14 * 3_600_000,
                ..request(&none)
            },
            "night-ny",
            "night.example",
        ),
    ];
    for (request, rule, expected_host) in cases {
        let plan = plan_click(&secrets, geo, &request);
        assert_eq!(chosen(&plan), (Some(rule), None), "{rule}");
        assert_eq!(host(&plan), expected_host, "{rule}");
    }
    // Parameter filters: every one of a rule's filters must match.
    type Query<'a> = &'a [(&'a str, &'a str)];
    let param_cases: [(Query, Option<&str>); 7] = [
        (&[("sub1", "fb_123"), ("site", "y")], Some("zone")),
        (&[("sub1", "fb_123")], None),
        (&[("sub1", "tt_123"), ("site", "y")], None),
        (&[("external_id", "12345")], Some("regex")),
        (&[("external_id", "12a45")], None),
        (&[("sub2", "exact")], Some("tag")),
        (&[("sub2", "exactly")], None),
    ];
    for (query, rule) in param_cases {
        let query = pairs(query);
        let plan = plan_click(&secrets, geo, &request(&query));
        assert_eq!(chosen(&plan).0, rule, "{query:?}");
    }
    // Near misses fall through to the default pool.
    for request in [
        ClickRequest {
            country: Some("US"),
            ..request(&none)
        },
        ClickRequest {
            accept_language: Some("de"),
            user_agent: Some(IPHONE),
            ..request(&none)
        },
        ClickRequest {
            asn: Some(1),
            ..request(&none)
        },
        ClickRequest {
            now_ms: NOON_UTC + 4 * 3_600_000,
            ..request(&none)
        },
        ClickRequest {
            now_ms: NOON_UTC + 14 * 3_600_000,
            zones: None,
            ..request(&none)
        },
    ] {
        let plan = plan_click(&secrets, geo, &request);
        let (rule, offer) = chosen(&plan);
        assert_eq!(rule, None);
        assert!(matches!(offer, Some("a" | "b")), "{offer:?}");
    }
}

#[test]
fn plain_campaigns_behave_as_before() {
    let config = config();
    let none = pairs(&[]);
    let plan = plan_click(&secrets(), config.campaigns.get("plain"), &request(&none));
    assert_eq!(chosen(&plan), (None, None));
    assert_eq!(host(&plan), "offer.example");
    assert_eq!(
        config.campaigns["plain"].describe()["offer_url"],
        "https://offer.example/?c={clickid}"
    );
}

/// A deterministic stream of random bytes (SplitMix64) for simulated clicks.
fn random_bytes(n: u64) -> [u8; 7] {
    let mut bytes = [0u8; 7];
    let z = crate::flow::random_draw(&n.to_le_bytes());
    bytes.copy_from_slice(&z.to_le_bytes()[..7]);
    bytes
}

/// Within five standard deviations of a binomial count: a correct split fails this
/// about once in 1.7 million runs; a split off by 2 points of share fails it always.
fn assert_share(count: u64, total: u64, share: f64) {
    let expected = total as f64 * share;
    let sd = (total as f64 * share * (1.0 - share)).sqrt();
    assert!(
        (count as f64 - expected).abs() <= 5.0 * sd,
        "{count} of {total}, expected {expected:.0} ± {:.0}",
        5.0 * sd
    );
}

#[test]
fn weights_split_ten_thousand_clicks() {
    let config = config();
    let geo = config.campaigns.get("geo");
    let secrets = secrets();
    let none = pairs(&[]);
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for n in 0..10_000u64 {
        let request = ClickRequest {
            random: random_bytes(n),
            ..request(&none)
        };
        let plan = plan_click(&secrets, geo, &request);
        *counts
            .entry(chosen(&plan).1.unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(counts.get("paused"), None, "{counts:?}");
    assert_eq!(counts.values().sum::<u64>(), 10_000);
    assert_share(counts["a"], 10_000, 0.7);
    assert_share(counts["b"], 10_000, 0.3);
}

#[test]
fn sticky_visitors_keep_their_offer_and_visitors_split_by_weight() {
    let config = config();
    let geo = config.campaigns.get("geo");
    let secrets = secrets();
    let query = pairs(&[("sub3", "sticky")]);
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for visitor in 0..10_000u32 {
        let ip = format!(
            "10.{}.{}.{}",
            visitor >> 16,
            (visitor >> 8) & 255,
            visitor & 255
        );
        let mut offers = Vec::new();
        // The same visitor on five clicks with different random bytes and times.
        for click in 0..5u64 {
            if visitor >= 200 && click > 0 {
                break;
            }
            let request = ClickRequest {
                client_ip: Some(&ip),
                random: random_bytes(u64::from(visitor) * 5 + click),
                now_ms: NOON_UTC + 2 * 3_600_000 + click * 60_000,
                ..request(&query)
            };
            let plan = plan_click(&secrets, geo, &request);
            assert_eq!(chosen(&plan).0, Some("sticky"));
            offers.push(chosen(&plan).1.unwrap().to_string());
        }
        assert!(offers.windows(2).all(|w| w[0] == w[1]), "{ip}: {offers:?}");
        *counts.entry(offers[0].clone()).or_default() += 1;
    }
    assert_share(counts["x"], 10_000, 0.25);
    assert_share(counts["y"], 10_000, 0.25);
    assert_share(counts["z"], 10_000, 0.5);
    // Another User-Agent is another visitor; the raw IP is never on the record.
    let other_agents: std::collections::BTreeSet<String> = (0..40)
        .map(|n| {
            let agent = format!("{WINDOWS_CHROME} build/{n}");
            let request = ClickRequest {
                user_agent: Some(&agent),
                ..request(&query)
            };
            chosen(&plan_click(&secrets, geo, &request))
                .1
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(other_agents.len() > 1, "{other_agents:?}");
}

fn errors(campaign: serde_json::Value) -> Vec<String> {
    Config::from_json(json!({ "networks": { "generic": {} }, "campaigns": { "c": campaign } }))
        .map(|_| Vec::new())
        .unwrap_or_else(|errors| errors.0.iter().map(ToString::to_string).collect())
}

#[test]
fn every_flow_problem_is_reported_with_its_key_path() {
    let found = errors(json!({
        "offers": [
            { "name": "a", "url": "https://a.example/?c={clikid}" },
            { "name": "a", "url": "https://b.example/", "weight": 2000000 },
            { "name": "c", "url": "https://c.example/", "wieght": 1 }
        ],
        "rules": [
            { "name": "r1", "filters": { "contry": "US", "device": ["mobil", "tablet"], "os": "iOS",
              "browser": "netscape", "country": ["USA"], "asn": "x", "bot": "yes",
              "time": { "zone": "Mars/", "from": "25:00", "to": "9" } },
              "offer_url": "https://a.example/" },
            { "name": "r1", "filters": { "params": { "sub1": { "regexp": "x" }, "sub2": { "regex": "(a|b)" }, "sub3": 5 } },
              "offers": [ { "name": "z", "url": "https://z.example/", "weight": 0 } ] },
            { "name": "Bad Name", "offer_url": "https://a.example/", "offers": [] },
            { "name": "r4" }
        ]
    }));
    let expect = [
        "EDGEBACK.campaigns.c.offers[0].url: unknown macro",
        "EDGEBACK.campaigns.c.offers[1].name: \"a\" names another offer",
        "EDGEBACK.campaigns.c.offers[1].weight: ",
        "EDGEBACK.campaigns.c.offers[2].wieght: unknown field `wieght`, expected one of name, url, weight (did you mean \"weight\"?)",
        "EDGEBACK.campaigns.c.rules[0].filters.contry: unknown filter (did you mean \"country\"?)",
        "EDGEBACK.campaigns.c.rules[0].filters.device[0]: \"mobil\" is not one of mobile, tablet, desktop (did you mean \"mobile\"?)",
        "EDGEBACK.campaigns.c.rules[0].filters.browser: \"netscape\"",
        "EDGEBACK.campaigns.c.rules[0].filters.country[0]: \"USA\"",
        "EDGEBACK.campaigns.c.rules[0].filters.asn: ",
        "EDGEBACK.campaigns.c.rules[0].filters.bot: ",
        "EDGEBACK.campaigns.c.rules[0].filters.time.zone: not an IANA",
        "EDGEBACK.campaigns.c.rules[0].filters.time.from: \"25:00\"",
        "EDGEBACK.campaigns.c.rules[0].filters.time.to: \"9\"",
        "EDGEBACK.campaigns.c.rules[1].name: \"r1\" names another rule",
        "EDGEBACK.campaigns.c.rules[1].filters.params.sub1.regexp: \"regexp\" is not equals, one_of, prefix or regex (did you mean \"regex\"?)",
        "EDGEBACK.campaigns.c.rules[1].filters.params.sub2.regex: groups are not supported",
        "EDGEBACK.campaigns.c.rules[1].filters.params.sub3: ",
        "EDGEBACK.campaigns.c.rules[1].offers: every weight is 0",
        "EDGEBACK.campaigns.c.rules[2].name: ",
        "EDGEBACK.campaigns.c.rules[2].offers: set either offer_url",
        "EDGEBACK.campaigns.c.rules[3].offer_url: missing",
    ];
    for prefix in expect {
        assert!(
            found.iter().any(|e| e.starts_with(prefix)),
            "{prefix}\nin {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
    // `iOS` is a known family in any case.
    assert!(!found.iter().any(|e| e.contains(".os")), "{found:#?}");
}

#[test]
fn offer_hosts_are_allowed_and_zones_are_checked() {
    let config = config();
    let geo = &config.campaigns["geo"];
    for host in [
        "a.example",
        "b.example",
        "us.example",
        "x.example",
        "safe.example",
    ] {
        assert!(geo.allows_host(host), "{host}");
    }
    assert!(!geo.allows_host("evil.example"));
    assert!(config.check_timezone(&Tzdb).is_ok());
    let venus = Config::from_json(json!({ "networks": { "generic": {} }, "campaigns": { "c": {
        "offer_url": "https://a.example/",
        "rules": [{ "name": "r", "filters": { "time": { "zone": "Venus/Base", "from": "00:00", "to": "24:00" } },
                    "offer_url": "https://a.example/" }]
    }}}))
    .unwrap();
    let refused = venus.check_timezone(&Tzdb).unwrap_err();
    assert_eq!(
        refused.0[0].path,
        "EDGEBACK.campaigns.c.rules[0].filters.time.zone"
    );
}

#[test]
fn runtime_campaigns_with_flows_round_trip() {
    let value = json!({
        "offers": [{ "name": "a", "url": "https://a.example/", "weight": 3 }, { "name": "b", "url": "https://b.example/" }],
        "sticky": true,
        "rules": [{ "name": "de", "filters": { "country": "DE" }, "offer_url": "https://de.example/" }]
    });
    let campaign = crate::config::Campaign::from_runtime_json("spring", value).unwrap();
    assert_eq!(campaign.rules.len(), 1);
    assert!(campaign.default_pool.sticky);
    let again = crate::config::Campaign::from_runtime_json("spring", campaign.describe()).unwrap();
    assert_eq!(again.describe(), campaign.describe());
    assert_eq!(again.describe()["rules"][0]["filters"]["country"], "DE");
}

#[test]
fn time_windows_follow_the_zone_and_wrap_midnight() {
    use crate::flow::TimeWindow;
    let window = |from: u16, to: u16| TimeWindow {
        zone: "Europe/Berlin".into(),
        from_minute: from,
        to_minute: to,
    };
    // 14:00 in Berlin (summer time, UTC+2).
    assert!(window(13 * 60, 15 * 60).contains(&Tzdb, NOON_UTC));
    assert!(!window(12 * 60, 14 * 60).contains(&Tzdb, NOON_UTC));
    assert!(window(14 * 60, 14 * 60 + 1).contains(&Tzdb, NOON_UTC));
    assert!(window(22 * 60, 15 * 60).contains(&Tzdb, NOON_UTC));
    assert!(!window(22 * 60, 14 * 60).contains(&Tzdb, NOON_UTC));
    assert!(window(0, 24 * 60).contains(&Tzdb, NOON_UTC));
    let unknown = TimeWindow {
        zone: "Nowhere/Else".into(),
        from_minute: 0,
        to_minute: 1440,
    };
    assert!(!unknown.contains(&Tzdb, NOON_UTC));
}

// Landing pages (docs/flows.md, "Landing pages").

fn lander_config() -> Config {
    Config::from_json(json!({
        "networks": { "generic": {} },
        "campaigns": {
            "lp": {
                "offers": [
                    { "name": "a", "url": "https://a.example/?c={clickid}&s={sub1}", "weight": 70 },
                    { "name": "b", "url": "https://b.example/?c={clickid}", "weight": 30 }
                ],
                "rules": [
                    { "name": "mobile", "filters": { "device": "mobile" }, "sticky": true,
                      "landers": [
                        { "name": "quiz", "url": "https://lp.example/quiz?c={clickid}&next={go}", "weight": 1 },
                        { "name": "story", "url": "https://lp.example/story?next={go}&geo={country}", "weight": 3 }
                      ],
                      "offers": [
                        { "name": "x", "url": "https://x.example/?c={clickid}&s={sub1}", "weight": 1 },
                        { "name": "y", "url": "https://y.example/?c={clickid}", "weight": 1 }
                      ] },
                    { "name": "plain-lp", "filters": { "params": { "sub2": "lp" } },
                      "lander_url": "https://lp.example/one?next={go}", "offer_url": "https://a.example/one" }
                ]
            }
        }
    }))
    .unwrap()
}

fn location(plan: &ClickPlan) -> url::Url {
    match &plan.response {
        ClickResponse::Redirect { location, .. } => url::Url::parse(location).unwrap(),
        other => panic!("{other:?}"),
    }
}

/// The lander's `{go}` link of a click's redirect, as the lander page gets it.
fn go_link(plan: &ClickPlan) -> url::Url {
    let lander = location(plan);
    let next = lander
        .query_pairs()
        .find(|(name, _)| name == "next")
        .unwrap()
        .1;
    url::Url::parse(&next).unwrap()
}

/// `plan_go` for a `{go}` link, with the request facts of `request`.
fn follow(config: &Config, link: &url::Url, request: &ClickRequest<'_>) -> ClickPlan {
    let click_id = link.path().strip_prefix("/go/").unwrap();
    let query: Vec<(String, String)> = link.query_pairs().into_owned().collect();
    let campaign = query.iter().find(|(k, _)| k == "c").map(|(_, v)| v.clone());
    let request = ClickRequest {
        query: &query,
        ..request.clone()
    };
    crate::click::plan_go(
        &secrets(),
        campaign.and_then(|id| config.campaigns.get(&id)),
        click_id,
        30 * 86_400_000,
        &request,
    )
}

#[test]
fn landers_split_by_weight_and_their_link_reaches_the_dealt_offer() {
    let config = lander_config();
    let lp = config.campaigns.get("lp");
    let secrets = secrets();
    let query = pairs(&[("sub1", "fb 1")]);
    let mut landers: BTreeMap<String, u64> = BTreeMap::new();
    let mut offers: BTreeMap<String, u64> = BTreeMap::new();
    for visitor in 0..4_000u32 {
        let ip = format!("10.0.{}.{}", visitor >> 8, visitor & 255);
        let request = ClickRequest {
            user_agent: Some(IPHONE),
            client_ip: Some(&ip),
            random: random_bytes(u64::from(visitor)),
            origin: Some("https://track.example"),
            ..request(&query)
        };
        let plan = plan_click(&secrets, lp, &request);
        let record = plan.record.clone().unwrap();
        assert_eq!(record.rule.as_deref(), Some("mobile"));
        assert_eq!(record.landed_at_ms, None);
        let lander = location(&plan);
        assert_eq!(lander.host_str(), Some("lp.example"));
        assert_eq!(
            Some(lander.path()),
            record
                .lander
                .as_deref()
                .map(|name| format!("/{name}"))
                .as_deref()
        );
        let link = go_link(&plan);
        assert_eq!(link.origin().ascii_serialization(), "https://track.example");
        assert_eq!(link.path(), format!("/go/{}", record.click_id));
        // Another IP at the call-to-action (a phone changing networks): the same offer.
        let later = ClickRequest {
            client_ip: Some("203.0.113.9"),
            now_ms: request.now_ms + 60_000,
            ..request.clone()
        };
        let went = follow(&config, &link, &later);
        let landed = went.record.clone().unwrap();
        let offer = location(&went);
        assert_eq!(
            offer.host_str().map(|h| h.trim_end_matches(".example")),
            record.offer.as_deref()
        );
        assert!(offer.as_str().contains(&record.click_id));
        if record.offer.as_deref() == Some("x") {
            assert!(offer.as_str().ends_with("&s=fb%201"), "{offer}");
        }
        assert_eq!(
            (
                &landed.click_id,
                &landed.rule,
                &landed.lander,
                &landed.offer
            ),
            (
                &record.click_id,
                &record.rule,
                &record.lander,
                &record.offer
            )
        );
        assert_eq!(landed.landed_at_ms, Some(later.now_ms));
        assert_eq!(landed.created_at_ms, record.created_at_ms / 10 * 10);
        assert_eq!(landed.subs, record.subs);
        *landers.entry(record.lander.unwrap()).or_default() += 1;
        *offers.entry(record.offer.unwrap()).or_default() += 1;
    }
    assert_share(landers["quiz"], 4_000, 0.25);
    assert_share(offers["x"], 4_000, 0.5);
    // The pool is sticky: the same visitor sees the same lander and offer on every click.
    let again = |n: u64| {
        let request = ClickRequest {
            user_agent: Some(IPHONE),
            random: random_bytes(n),
            ..request(&query)
        };
        let record = plan_click(&secrets, lp, &request).record.unwrap();
        (record.lander, record.offer)
    };
    assert!((1..20).all(|n| again(n) == again(0)));
}

#[test]
fn an_unnamed_lander_and_the_default_pool_without_landers() {
    let config = lander_config();
    let lp = config.campaigns.get("lp");
    let query = pairs(&[("sub2", "lp")]);
    let plan = plan_click(&secrets(), lp, &request(&query));
    let record = plan.record.clone().unwrap();
    assert_eq!(
        (record.rule.as_deref(), record.lander.as_deref()),
        (Some("plain-lp"), None)
    );
    assert_eq!(location(&plan).path(), "/one");
    let went = follow(&config, &go_link(&plan), &request(&[]));
    assert_eq!(location(&went).as_str(), "https://a.example/one");
    assert_eq!(went.record.unwrap().rule.as_deref(), Some("plain-lp"));
    // Desktop, no sub2: the default pool, straight to its offer.
    let plan = plan_click(&secrets(), lp, &request(&[]));
    assert_eq!(plan.record.as_ref().unwrap().lander, None);
    assert!(["a.example", "b.example"].contains(&location(&plan).host_str().unwrap()));
}

#[test]
fn go_links_are_deterministic_and_forgeries_are_refused() {
    let config = lander_config();
    let lp = config.campaigns.get("lp");
    let mobile = ClickRequest {
        user_agent: Some(IPHONE),
        origin: Some("https://track.example"),
        ..request(&[])
    };
    let plan = plan_click(&secrets(), lp, &mobile);
    let link = go_link(&plan);
    let first = follow(&config, &link, &mobile);
    assert_eq!(follow(&config, &link, &mobile), first);
    let refused = |link: &url::Url| follow(&config, link, &mobile).response;
    let with = |name: &str, value: &str| {
        let mut changed = link.clone();
        let pairs: Vec<(String, String)> = link
            .query_pairs()
            .into_owned()
            .map(|(k, v)| {
                if k == name {
                    (k, value.to_string())
                } else {
                    (k, v)
                }
            })
            .collect();
        changed.query_pairs_mut().clear().extend_pairs(pairs);
        changed
    };
    // Another offer or rule, another campaign, a changed tag: not a link this tracker made.
    for forged in [
        with("f", "mobile.quiz.y"),
        with("f", "mobile.quiz.x"),
        with("f", "..a"),
        with("c", "nope"),
        with("t", "0000000000000000"),
        with("t", ""),
    ] {
        let changed = forged.query() != link.query();
        let answer = refused(&forged);
        assert!(
            !changed || answer == ClickResponse::InvalidLink,
            "{forged}: {answer:?}"
        );
    }
    // A forged, truncated or other click ID.
    let other = secrets().mint(mobile.now_ms, [9; 7]).unwrap();
    for id in ["0".repeat(32), other, "abc".into()] {
        let mut forged = link.clone();
        forged.set_path(&format!("/go/{id}"));
        assert_eq!(refused(&forged), ClickResponse::InvalidLink, "{id}");
    }
    // Older than the lookback window.
    let late = ClickRequest {
        now_ms: mobile.now_ms + 31 * 86_400_000,
        ..mobile.clone()
    };
    assert_eq!(
        follow(&config, &link, &late).response,
        ClickResponse::InvalidLink
    );
    // A bot or prefetch is sent on, without a landing click.
    let prefetch = ClickRequest {
        purpose: Some("prefetch"),
        ..mobile.clone()
    };
    let went = follow(&config, &link, &prefetch);
    assert_eq!(went.response, first.response);
    assert_eq!(went.record, None);
}

#[test]
fn lander_problems_are_reported_with_their_key_paths() {
    let found = errors(json!({
        "offer_url": "https://a.example/?next={go}",
        "lander_url": "https://lp.example/",
        "landers": [],
        "rules": [
            { "name": "r", "offer_url": "https://a.example/",
              "landers": [
                { "name": "l", "url": "https://lp.example/?c={clikid}" },
                { "name": "l", "url": "https://lp.example/2", "wieght": 2 },
                { "name": "m", "url": "ftp://lp.example/", "weight": 0 }
              ] },
            { "name": "s", "offer_url": "https://a.example/", "lander_url": 5 },
            { "name": "t", "offer_url": "https://a.example/",
              "landers": [{ "name": "z", "url": "https://lp.example/", "weight": 0 }] }
        ]
    }));
    let expect = [
        "EDGEBACK.campaigns.c.offer_url: unknown macro",
        "EDGEBACK.campaigns.c.landers: set either lander_url (one lander) or landers (a weighted pool), not both",
        "EDGEBACK.campaigns.c.rules[0].landers[0].url: unknown macro",
        "EDGEBACK.campaigns.c.rules[0].landers[1].wieght: unknown field `wieght`, expected one of name, url, weight (did you mean \"weight\"?)",
        "EDGEBACK.campaigns.c.rules[0].landers[2].url: ",
        "EDGEBACK.campaigns.c.rules[1].lander_url: must be a string",
        "EDGEBACK.campaigns.c.rules[2].landers: every weight is 0: at least one lander must take clicks",
    ];
    for prefix in expect {
        assert!(
            found.iter().any(|e| e.starts_with(prefix)),
            "{prefix}\nin {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
}

#[test]
fn lander_hosts_are_allowed_by_default_and_checked_when_listed() {
    let config = lander_config();
    assert!(config.campaigns["lp"].allows_host("lp.example"));
    let listed = Config::from_json(json!({ "networks": { "generic": {} }, "campaigns": { "c": {
        "offer_url": "https://a.example/",
        "lander_url": "https://{sub1}.lp.example/?next={go}",
        "allowed_hosts": ["a.example"]
    }}}))
    .unwrap();
    let query = pairs(&[("sub1", "evil.example/x?")]);
    let plan = plan_click(&secrets(), listed.campaigns.get("c"), &request(&query));
    assert_eq!(plan.response, ClickResponse::TargetNotAllowed);
}

#[test]
fn runtime_campaigns_with_landers_round_trip() {
    let value = json!({
        "offer_url": "https://a.example/",
        "landers": [{ "name": "quiz", "url": "https://lp.example/?next={go}", "weight": 2 }],
        "rules": [{ "name": "m", "filters": { "device": "mobile" }, "offer_url": "https://a.example/m",
                    "lander_url": "https://lp.example/m?next={go}" }]
    });
    let campaign = crate::config::Campaign::from_runtime_json("spring", value).unwrap();
    assert_eq!(campaign.default_pool.landers.len(), 1);
    assert_eq!(campaign.rules[0].pool.landers.len(), 1);
    let again = crate::config::Campaign::from_runtime_json("spring", campaign.describe()).unwrap();
    assert_eq!(again.describe(), campaign.describe());
    assert_eq!(again.describe()["landers"][0]["name"], "quiz");
}
