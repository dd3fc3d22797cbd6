use super::*;
use crate::config::Config;
use serde_json::json;

// 2026-09-21 12:10 UTC: 10 minutes into the bucket that starts at 12:00.
const NOW: u64 = 1_790_000_000_000 + 600_000 - 1_790_000_000_000 % 900_000;

fn config() -> Config {
    Config::from_json(json!({
        "networks": { "generic": {} },
        "currency": "EUR",
        "campaigns": {
            "banner": {
                "offer_url": "https://offer.example/",
                "params": { "zone": "sub1" },
                "cost": { "model": "cpm", "amount": "2.5", "currency": "USD" }
            },
            "cpc": {
                "offer_url": "https://offer.example/",
                "cost": { "model": "cpc", "amount": "0.05" }
            },
            "plain": { "offer_url": "https://offer.example/" },
            "stopped": { "offer_url": "https://offer.example/", "paused": true }
        }
    }))
    .unwrap()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn count(
    campaign: &str,
    query: &[(String, String)],
    agent: Option<&str>,
    is_head: bool,
) -> Option<(ImpressionKey, ImpressionCounts)> {
    let config = config();
    let request = ClickRequest {
        is_head,
        query,
        user_agent: agent,
        country: Some("DE"),
        now_ms: NOW,
        ..Default::default()
    };
    count_impression(config.campaigns.get(campaign), &request, "EUR")
}

const BROWSER: Option<&str> = Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/140.0");

#[test]
fn an_impression_of_a_cpm_campaign_costs_its_amount_per_thousand() {
    let query = pairs(&[("zone", "z7"), ("sub3", "x"), ("sub1", "direct")]);
    let (key, counts) = count("banner", &query, BROWSER, false).unwrap();
    assert_eq!(key.bucket, NOW - 600_000);
    assert_eq!(key.bucket % 900_000, 0);
    assert_eq!(key.campaign, "banner");
    assert_eq!(key.country, "DE");
    // The canonical `sub1` wins over the alias, as on a click.
    assert_eq!(key.subs[0], "direct");
    assert_eq!(key.subs[2], "x");
    assert_eq!(key.subs[1], "");
    assert_eq!(key.cost_currency, "USD");
    // 2.5 USD per thousand: 2,500 micro-units each.
    assert_eq!(
        counts,
        ImpressionCounts {
            impressions: 1,
            bot_impressions: 0,
            cost_micros: 2_500
        }
    );
}

#[test]
fn a_bot_or_prefetch_impression_is_counted_apart_and_costs_nothing() {
    let crawler = count("banner", &[], Some("Googlebot/2.1"), false)
        .unwrap()
        .1;
    let head = count("banner", &[], BROWSER, true).unwrap().1;
    let empty = count("banner", &[], None, false).unwrap().1;
    for counts in [crawler, head, empty] {
        assert_eq!(
            counts,
            ImpressionCounts {
                impressions: 0,
                bot_impressions: 1,
                cost_micros: 0
            }
        );
    }
}

#[test]
fn other_campaigns_count_impressions_without_cost_and_unknown_ones_nothing() {
    for id in ["cpc", "plain"] {
        let (key, counts) = count(id, &[], BROWSER, false).unwrap();
        assert_eq!(key.cost_currency, "");
        assert_eq!((counts.impressions, counts.cost_micros), (1, 0));
    }
    assert!(count("stopped", &[], BROWSER, false).is_none());
    assert!(count("nope", &[], BROWSER, false).is_none());
}

#[test]
fn the_tally_adds_up_per_key_and_drops_new_keys_past_its_bound() {
    let mut tally = ImpressionTally::default();
    let (key, counts) = count("banner", &[], BROWSER, false).unwrap();
    for _ in 0..3 {
        assert!(tally.add(key.clone(), counts));
    }
    assert_eq!(tally.len(), 1);
    assert_eq!(
        tally.iter().next().map(|(_, counts)| *counts),
        Some(ImpressionCounts {
            impressions: 3,
            bot_impressions: 0,
            cost_micros: 7_500
        })
    );
    for n in 1..ImpressionTally::MAX_KEYS {
        let mut other = key.clone();
        other.subs[0] = n.to_string();
        assert!(tally.add(other, counts));
    }
    let mut one_more = key.clone();
    one_more.subs[0] = "new".into();
    assert!(!tally.add(one_more, counts));
    assert_eq!(tally.dropped, 1);
    // A known key still adds up.
    assert!(tally.add(key, counts));
    assert_eq!(tally.len(), ImpressionTally::MAX_KEYS);
}
