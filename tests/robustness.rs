//! Property tests: no input makes the pure core panic (design §11, §14). A panic in wasm
//! resets the instance and kills other requests in flight.
#![cfg(not(target_arch = "wasm32"))]

use edgeback::click_id::ClickSecrets;
use edgeback::config::Config;
use edgeback::money::parse_payout_micros;
use edgeback::postback::auth::{
    authenticate, canonical_string, parse_ip_rule, AuthChecks, AuthRequest, HmacCheck,
    StandardWebhooksCheck,
};
use edgeback::postback::{evaluate, placeholder::is_placeholder};
use edgeback::report::parse_query;
use proptest::prelude::*;

fn network() -> edgeback::config::Network {
    Config::from_json(serde_json::json!({ "networks": { "n": {
        "preset": "keitaro", "status_map": { "approved": ["1"] }, "event_map": { "ftd": ["x"] }
    }}, "default_network": "n" }))
    .unwrap()
    .networks["n"]
        .clone()
}

fn flow_config() -> Config {
    Config::from_json(serde_json::json!({ "networks": { "generic": {} }, "campaigns": { "flow": {
        "offers": [
            { "name": "a", "url": "https://a.example/?c={clickid}&s={sub1}", "weight": 3 },
            { "name": "off", "url": "https://off.example/", "weight": 0 },
            { "name": "b", "url": "https://b.example/?c={clickid}", "weight": 1 }
        ],
        "sticky": true,
        "bots": "block",
        "rules": [
            { "name": "us", "filters": { "country": ["US", "CA"], "device": "mobile" }, "offer_url": "https://us.example/" },
            { "name": "lang", "filters": { "language": ["de", "fr"], "browser": ["chrome", "firefox"] },
              "offers": [{ "name": "x", "url": "https://x.example/", "weight": 1 }, { "name": "y", "url": "https://y.example/", "weight": 5 }] },
            { "name": "param", "filters": { "params": { "sub1": { "regex": "^[a-c]+[0-9]?$|zz" }, "site": { "prefix": "q" } } },
              "offer_url": "https://p.example/" },
            { "name": "night", "filters": { "time": { "zone": "Asia/Kolkata", "from": "23:30", "to": "04:15" }, "asn": [1, 2, 3] },
              "sticky": true, "offers": [{ "name": "n", "url": "https://n.example/" }, { "name": "m", "url": "https://m.example/" }] }
        ]
    }}}))
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn payouts_never_panic(text in "\\PC{0,40}", negative in any::<bool>()) {
        let _ = parse_payout_micros(&text, negative);
    }

    #[test]
    fn payouts_of_plain_decimals_round_trip(whole in 0u64..1_000_000_000, fraction in 0u32..1_000_000) {
        let text = format!("{whole}.{fraction:06}");
        let micros = parse_payout_micros(&text, false).unwrap();
        prop_assert_eq!(edgeback::money::format_micros(micros), text);
    }

    #[test]
    fn placeholders_never_panic(text in "\\PC{0,80}") {
        let _ = is_placeholder(&text);
    }

    #[test]
    fn ip_rules_never_panic(text in "[0-9a-fA-F:./\\- ]{0,60}") {
        let _ = parse_ip_rule(&text);
    }

    #[test]
    fn postback_evaluation_never_panics(
        pairs in proptest::collection::vec(("[a-z_]{1,12}", "\\PC{0,40}"), 0..12),
        click in "[0-9a-zA-Z{}#%]{0,40}",
        now in any::<u64>(),
    ) {
        let secrets = ClickSecrets::new("robustness-click-secret-123", None).unwrap();
        let mut params: Vec<(String, String)> = pairs;
        params.push(("subid".into(), click));
        let _ = evaluate(&network(), &secrets, "USD", &params, now, "cv".into());
        let _ = canonical_string(&params, "sig");
    }

    #[test]
    fn authentication_never_panics(
        pairs in proptest::collection::vec(("[a-z]{1,4}", "\\PC{0,20}"), 0..8),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        header in "\\PC{0,60}",
        now in any::<u64>(),
    ) {
        let checks = AuthChecks {
            ip_allowlist: Some(vec![parse_ip_rule("203.0.113.0/24").unwrap()]),
            hmac: Some(HmacCheck { secret: "H".into(), param: "sig".into(), timestamp_param: "ts".into(), tolerance_seconds: 300 }),
            ..Default::default()
        };
        let headers = |_: &str| Some(header.clone());
        let secret = |_: &str| Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string());
        let request = AuthRequest { client_ip: "203.0.113.1".parse().ok(), params: &pairs, header: &headers, body: &body, now_ms: now };
        let _ = authenticate(&checks, &secret, &request);
        let webhooks = AuthChecks {
            standard_webhooks: Some(StandardWebhooksCheck { secret: "S".into(), tolerance_seconds: 300 }),
            ..Default::default()
        };
        let _ = authenticate(&webhooks, &secret, &request);
    }

    #[test]
    fn json_bodies_and_redaction_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200), name in "\\PC{0,40}") {
        let _ = edgeback::postback::params::flat_json_pairs(&body);
        let _ = edgeback::postback::redact::looks_sensitive(&name);
    }

    #[test]
    fn postback_requests_never_panic(
        method in "[A-Z]{0,6}",
        query in "\\PC{0,120}",
        content_type in "\\PC{0,40}",
        body in proptest::collection::vec(any::<u8>(), 0..300),
        url_len in 0usize..20_000,
    ) {
        let request = edgeback::postback::params::RawPostback {
            method: &method,
            url_len,
            query: Some(&query),
            content_type: Some(&content_type),
            body: &body,
        };
        let _ = edgeback::postback::params::parse_request(&request);
    }

    #[test]
    fn configurations_never_panic(json in "\\PC{0,200}") {
        let _ = Config::from_json_str(&json);
    }

    #[test]
    fn report_queries_never_panic(from in "\\PC{0,12}", to in "\\PC{0,12}", tz in "\\PC{0,20}", group in "\\PC{0,30}", now in any::<i64>()) {
        let pairs = vec![("from".to_string(), from), ("to".to_string(), to), ("tz".to_string(), tz), ("group_by".to_string(), group)];
        let _ = parse_query(&pairs, "UTC", now);
    }

    /// Flows (docs/flows.md): whatever the request holds, the click goes to an offer of
    /// the first matching rule's pool (else the default pool) with a weight above 0, on an
    /// allowed host; a sticky pool gives one visitor one offer; a pattern never panics.
    #[test]
    fn flows_pick_the_first_matching_rule_and_a_live_offer(
        country in proptest::option::of("[A-Za-z]{0,3}"),
        region in proptest::option::of("\\PC{0,8}"),
        agent in proptest::option::of("\\PC{0,80}|Mozilla/5.0 \\((iPhone|iPad|Linux; Android 14|Windows NT 10.0)\\) (Chrome|Firefox|Safari)/1"),
        language in proptest::option::of("\\PC{0,20}"),
        asn in proptest::option::of(any::<u32>()),
        query in proptest::collection::vec(("sub[0-9]{1,2}|external_id|site|[a-z]{1,5}", "\\PC{0,20}"), 0..8),
        ip in proptest::option::of("[0-9.:a-f]{0,20}"),
        // Instants a click ID can carry (outside them the click is `503`, tested elsewhere).
        now in 1_790_000_000_000u64..3_000_000_000_000,
        random in any::<[u8; 7]>(),
        pattern in "\\PC{0,40}",
    ) {
        if let Ok(compiled) = edgeback::pattern::Pattern::parse(&pattern) {
            let _ = compiled.is_match(&pattern);
        }
        let config = flow_config();
        let campaign = &config.campaigns["flow"];
        let secrets = ClickSecrets::new("robustness-click-secret-123", None).unwrap();
        let request = edgeback::click::ClickRequest {
            query: &query,
            user_agent: agent.as_deref(),
            client_ip: ip.as_deref(),
            country: country.as_deref(),
            region: region.as_deref(),
            asn,
            accept_language: language.as_deref(),
            now_ms: now,
            random,
            zones: Some(&edgeback::zone::tzdb::Tzdb),
            ..Default::default()
        };
        let plan = edgeback::click::plan_click(&secrets, Some(campaign), &request);
        let record = plan.record.clone().unwrap();
        let pool = match &record.rule {
            Some(name) => &campaign.rules.iter().find(|rule| &rule.name == name).unwrap().pool,
            None => &campaign.default_pool,
        };
        if record.bot_reason.is_none() {
            let offer = pool.offers.iter().find(|offer| offer.name == record.offer).unwrap();
            prop_assert!(offer.weight > 0);
            match &plan.response {
                edgeback::click::ClickResponse::Redirect { location, .. } => {
                    let host = url::Url::parse(location).unwrap().host_str().unwrap().to_string();
                    prop_assert!(campaign.allows_host(&host), "{}", location);
                }
                other => prop_assert!(false, "{:?}", other),
            }
            // Sticky: the same visitor again, with other random bytes, gets the same.
            if pool.sticky && ip.as_deref().is_some_and(|ip| !ip.trim().is_empty()) {
                let again = edgeback::click::ClickRequest { random: [random[0].wrapping_add(1); 7], ..request.clone() };
                let again = edgeback::click::plan_click(&secrets, Some(campaign), &again).record.unwrap();
                prop_assert_eq!(again.offer, record.offer);
            }
        }
    }

    /// Costs (docs/costs.md): whatever a cost table holds, the configuration is read or
    /// refused without a panic; a valid one prices any click, impression and payout
    /// without one, never below 0 for a click, within `max` when the click's own cost
    /// is taken.
    #[test]
    fn costs_never_panic(
        model in "cpc|auto|cpm|cpa|revshare|\\PC{0,6}",
        amount in "[0-9.,-]{0,12}|\\PC{0,12}",
        percent in "[0-9.]{0,8}",
        max in proptest::option::of("[0-9.]{0,8}"),
        click in proptest::collection::vec(("cost|price|sub1|\\PC{0,5}", "\\PC{0,20}|[0-9.,]{0,12}"), 0..6),
        is_bot in any::<bool>(),
        payout in any::<i64>(),
    ) {
        let mut cost = serde_json::json!({ "model": model, "amount": amount, "percent": percent });
        if let Some(max) = max {
            cost["max"] = max.into();
        }
        let config = Config::from_json(serde_json::json!({ "networks": { "generic": {} }, "campaigns": { "c": {
            "offer_url": "https://o.example/", "params": { "price": "cost" }, "cost": cost
        }}}));
        if let Some(cost) = config.ok().and_then(|config| config.campaigns["c"].cost.clone()) {
            let query: Vec<(String, String)> = click;
            if let Some(micros) = cost.click_cost(&query, is_bot) {
                prop_assert!(micros >= 0);
                if let (Some(max), edgeback::cost::CostModel::Auto) = (cost.max_click_micros, cost.model) {
                    prop_assert!(micros <= max);
                }
            }
            let _ = cost.impression_cost(is_bot);
            let _ = cost.conversion_cost(payout, "EUR", "USD");
            let _ = cost.describe();
        }
    }

    #[test]
    fn admin_routes_never_panic(method in "[A-Z]{0,7}", path in "\\PC{0,60}") {
        let _ = edgeback::admin::match_route(&method, &path);
    }
}

#[test]
fn structured_configuration_fuzz_never_panics() {
    // Values of the wrong types in every position a user could reach.
    let odd = [
        serde_json::json!(null),
        serde_json::json!(-1),
        serde_json::json!(1e300),
        serde_json::json!("x"),
        serde_json::json!([]),
        serde_json::json!({}),
    ];
    for value in &odd {
        for key in [
            "campaigns",
            "networks",
            "destinations",
            "delivery",
            "lookback_days",
            "currency",
            "default_network",
        ] {
            let _ = Config::from_json(serde_json::json!({ key: value }));
            let _ = Config::from_json(serde_json::json!({ key: { "x": value } }));
            let _ = Config::from_json(serde_json::json!({ "networks": { "n": { key: value } } }));
            let _ = Config::from_json(
                serde_json::json!({ "campaigns": { "c": { "offer_url": "https://o.example/", key: value } } }),
            );
        }
    }
}
