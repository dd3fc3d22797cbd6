use super::*;
use proptest::prelude::*;

fn cost(model: CostModel) -> CampaignCost {
    CampaignCost {
        model,
        currency: None,
        campaign_currency: None,
        max_click_micros: None,
        aliases: vec!["price".into(), "bid".into()],
    }
}

fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn click_cost_texts() {
    use ClickCostError::*;
    let cases: &[(&str, Result<i64, ClickCostError>)] = &[
        ("0.05", Ok(50_000)),
        ("0,05", Ok(50_000)),
        ("0,005", Ok(5_000)),
        (" 0.0012 ", Ok(1_200)),
        ("1", Ok(1_000_000)),
        ("0", Ok(0)),
        (".5", Ok(500_000)),
        ("0.000001", Ok(1)),
        // Past the sixth fractional digit: rounded half up.
        ("0.0000125", Ok(13)),
        ("0.0000124999", Ok(12)),
        ("0.0000005", Ok(1)),
        ("0.0000004", Ok(0)),
        ("0.9999995", Ok(1_000_000)),
        ("{cost}", Err(Malformed(PayoutError::NotADecimal))),
        ("[cost]", Err(Malformed(PayoutError::NotADecimal))),
        ("$0.05", Err(Malformed(PayoutError::NotADecimal))),
        ("5e-3", Err(Malformed(PayoutError::NotADecimal))),
        ("NaN", Err(Malformed(PayoutError::NotADecimal))),
        (
            "1.000,5",
            Err(Malformed(PayoutError::WrongSeparator(
                DecimalSeparator::Comma,
            ))),
        ),
        ("0.05.1", Err(Malformed(PayoutError::NotADecimal))),
        ("0.12345678x", Err(Malformed(PayoutError::NotADecimal))),
        ("-0.05", Err(Malformed(PayoutError::Negative))),
        ("-0.0000005", Err(Malformed(PayoutError::Negative))),
        ("+0.05", Err(Malformed(PayoutError::Negative))),
        ("", Err(Malformed(PayoutError::Empty))),
        (
            "99999999999999999999",
            Err(Malformed(PayoutError::TooLarge)),
        ),
        ("0.000000000000000000000000000001", Ok(0)),
        ("0.0000000000000000000000000000001", Err(TooLong)),
    ];
    for (text, expected) in cases {
        assert_eq!(&parse_click_cost(text, None), expected, "{text:?}");
    }
    assert_eq!(parse_click_cost("0.50", Some(500_000)), Ok(500_000));
    assert_eq!(parse_click_cost("0.500001", Some(500_000)), Err(AboveMax));
}

#[test]
fn a_click_cost_overrides_the_fixed_cpc_for_that_click() {
    let cpc = cost(CostModel::Cpc { micros: 50_000 });
    assert_eq!(
        cpc.click_cost(&query(&[("sub1", "x")]), false),
        Some(50_000)
    );
    assert_eq!(
        cpc.click_cost(&query(&[("cost", "0.02")]), false),
        Some(20_000)
    );
    // A bot costs nothing, whatever it carries.
    assert_eq!(cpc.click_cost(&query(&[("cost", "0.02")]), true), Some(0));
    // `cost` wins over an alias, wherever it is; among aliases the first one with a value.
    let both = query(&[("price", "0.03"), ("cost", "0.02")]);
    assert_eq!(cpc.click_cost(&both, false), Some(20_000));
    let aliases = query(&[("bid", ""), ("price", "0.03"), ("bid", "0.04")]);
    assert_eq!(cpc.click_cost(&aliases, false), Some(30_000));
    // The first occurrence of `cost` wins; an empty one counts as absent.
    let twice = query(&[("cost", " "), ("cost", "0.01"), ("cost", "0.09")]);
    assert_eq!(cpc.click_cost(&twice, false), Some(10_000));
    // A malformed or capped value is ignored: the fixed amount applies.
    assert_eq!(
        cpc.click_cost(&query(&[("cost", "{cost}")]), false),
        Some(50_000)
    );
    let capped = CampaignCost {
        max_click_micros: Some(100_000),
        ..cpc.clone()
    };
    assert_eq!(
        capped.click_cost(&query(&[("cost", "5")]), false),
        Some(50_000)
    );
    assert_eq!(
        capped.click_cost(&query(&[("cost", "0.1")]), false),
        Some(100_000)
    );
    // A zero is a real value: a free click.
    assert_eq!(cpc.click_cost(&query(&[("cost", "0")]), false), Some(0));
    // Only the first 100 parameters are looked at.
    let mut late = vec![("x".to_string(), "1".to_string()); MAX_PARAMS];
    late.push(("cost".into(), "0.02".into()));
    assert_eq!(cpc.click_cost(&late, false), Some(50_000));

    let auto = cost(CostModel::Auto);
    assert_eq!(auto.click_cost(&query(&[]), false), Some(0));
    assert_eq!(
        auto.click_cost(&query(&[("price", "0,0125")]), false),
        Some(12_500)
    );
    // The other models have no click cost at all.
    for model in [
        CostModel::Cpm { micros: 1_000_000 },
        CostModel::Cpa { micros: 1 },
        CostModel::RevShare { ppm: 1 },
    ] {
        assert_eq!(
            cost(model).click_cost(&query(&[("cost", "1")]), false),
            None
        );
    }
}

#[test]
fn impressions_and_conversions() {
    let cpm = cost(CostModel::Cpm { micros: 1_250_000 });
    assert_eq!(cpm.impression_cost(false), Some(1_250));
    assert_eq!(cpm.impression_cost(true), Some(0));
    assert_eq!(cost(CostModel::Auto).impression_cost(false), None);

    let mut cpa = cost(CostModel::Cpa { micros: 2_000_000 });
    assert_eq!(
        cpa.conversion_cost(9, "EUR", "USD"),
        Some((2_000_000, "USD"))
    );
    cpa.campaign_currency = Some("GBP");
    assert_eq!(
        cpa.conversion_cost(9, "EUR", "USD"),
        Some((2_000_000, "GBP"))
    );
    cpa.currency = Some("CHF");
    assert_eq!(
        cpa.conversion_cost(9, "EUR", "USD"),
        Some((2_000_000, "CHF"))
    );
    // RevShare: a share of the payout, in the payout's currency, rounded half away from 0.
    let revshare = CampaignCost {
        currency: Some("CHF"),
        ..cost(CostModel::RevShare { ppm: 400_000 })
    };
    assert_eq!(
        revshare.conversion_cost(4_000_000, "EUR", "USD"),
        Some((1_600_000, "EUR"))
    );
    assert_eq!(revshare.conversion_cost(3, "EUR", "USD"), Some((1, "EUR"))); // 1.2
    assert_eq!(
        revshare.conversion_cost(-3, "EUR", "USD"),
        Some((-1, "EUR"))
    );
    assert_eq!(share(5, 100_000), 1); // 0.5 rounds up
    assert_eq!(share(-5, 100_000), -1);
    assert_eq!(share(i64::MAX, PPM), i64::MAX);
    assert_eq!(share(i64::MIN, PPM), i64::MIN);
    assert_eq!(share(i64::MAX, i64::MAX), i64::MAX);
    assert_eq!(
        cost(CostModel::Cpc { micros: 1 }).conversion_cost(1, "EUR", "USD"),
        None
    );
}

/// The rule of docs/costs.md, by hand: 10.00 USD over rows of 3, 1 and 2 clicks. Exact
/// shares 5, 1.666666…, 3.333333…; floors 5,000,000 + 1,666,666 + 3,333,333 = 9,999,999;
/// the one micro-unit left goes to the largest remainder (10,000,000 × 1 mod 6 = 4,
/// against 0 and 2): the second row.
#[test]
fn spread_by_hand() {
    assert_eq!(
        spread(10_000_000, &[3, 1, 2]),
        Some(vec![5_000_000, 1_666_667, 3_333_333])
    );
    // Equal remainders: the earlier rows first. 10 micro-units over 4 rows of 1 click.
    assert_eq!(spread(10, &[1, 1, 1, 1]), Some(vec![3, 3, 2, 2]));
    // A row without clicks gets nothing, even when units are left over.
    assert_eq!(spread(5, &[0, 1, 0, 1]), Some(vec![0, 3, 0, 2]));
    assert_eq!(spread(0, &[1, 2]), Some(vec![0, 0]));
    assert_eq!(spread(-10, &[1, 1, 1, 1]), Some(vec![-3, -3, -2, -2]));
    assert_eq!(spread(7, &[0, 0]), None);
    assert_eq!(spread(7, &[]), None);
    assert_eq!(spread(i64::MIN, &[1]), Some(vec![i64::MIN]));
    assert_eq!(
        spread(i64::MAX, &[u64::MAX, u64::MAX])
            .map(|p| p.iter().map(|x| i128::from(*x)).sum::<i128>()),
        Some(i128::from(i64::MAX))
    );
}

fn entry(from_ms: i64, to_ms: i64, amount_micros: i64) -> CostEntry {
    CostEntry {
        campaign: "summer".into(),
        from: Date::parse("2025-03-10").unwrap(),
        to: Date::parse("2025-03-10").unwrap(),
        tz: "UTC".into(),
        from_ms,
        to_ms,
        amount_micros,
        currency: "USD",
    }
}

#[test]
fn allocation_by_clicks_else_evenly_over_time() {
    let day = entry(0, 86_400_000, 9_600_001);
    assert_eq!(
        allocate(&day, &[1, 3]),
        Allocation::ByClicks(vec![2_400_000, 7_200_001])
    );
    // No clicks: 96 buckets of 100,000 micro-units, the one left over to the first.
    let Allocation::ByTime(parts) = allocate(&day, &[0, 0]) else {
        panic!("by time");
    };
    assert_eq!(parts.len(), 96);
    assert_eq!(parts[0], (0, 100_001));
    assert_eq!(parts[1], (900_000, 100_000));
    assert_eq!(parts[95], (85_500_000, 100_000));
    assert_eq!(parts.iter().map(|(_, c)| c).sum::<i64>(), 9_600_001);
    // A stored period that makes no sense spreads nothing and does not panic.
    assert_eq!(allocate(&entry(10, 0, 5), &[]), Allocation::ByTime(vec![]));
    let huge = allocate(&entry(i64::MIN, i64::MAX, 5), &[]);
    assert!(matches!(huge, Allocation::ByTime(parts) if parts.len() == 36_700));
}

#[test]
fn entries_never_overlap_and_the_same_period_replaces() {
    let week = entry(0, 7 * 86_400_000, 1);
    let next = entry(7 * 86_400_000, 14 * 86_400_000, 1);
    let other = CostEntry {
        campaign: "winter".into(),
        ..entry(0, 86_400_000, 1)
    };
    let existing = [week.clone(), next.clone(), other];
    assert_eq!(place(&existing, &week), Placement::Replaces(&existing[0]));
    assert_eq!(
        place(&existing, &entry(86_400_000, 2 * 86_400_000, 1)),
        Placement::Overlaps(&existing[0])
    );
    assert_eq!(
        place(&existing, &entry(6 * 86_400_000, 8 * 86_400_000, 1)),
        Placement::Overlaps(&existing[0])
    );
    assert_eq!(
        place(&existing, &entry(14 * 86_400_000, 15 * 86_400_000, 1)),
        Placement::New
    );
    assert_eq!(covering(&existing, "summer", 0), Some(&existing[0]));
    assert_eq!(
        covering(&existing, "summer", 7 * 86_400_000),
        Some(&existing[1])
    );
    assert_eq!(covering(&existing, "summer", 14 * 86_400_000), None);
    assert_eq!(covering(&existing, "summer", -1), None);
    assert_eq!(covering(&existing, "spring", 0), None);
}

fn parse(body: serde_json::Value) -> Result<CostEntry, String> {
    parse_entry(&crate::zone::tzdb::Tzdb, &body, "UTC")
}

#[test]
fn manual_entries_are_read_and_checked() {
    let parsed = parse(serde_json::json!({
        "campaign": "summer", "from": "2025-03-29", "to": "2025-03-30",
        "tz": "Europe/Berlin", "amount": "120.50", "currency": "usd"
    }))
    .unwrap();
    // 2025-03-29 00:00 CET = 2025-03-28T23:00Z; the 30th is 23 hours long (DST).
    assert_eq!(parsed.from_ms, 1_743_202_800_000);
    assert_eq!(parsed.to_ms - parsed.from_ms, 47 * 3_600_000);
    assert_eq!(parsed.buckets(), 47 * 4);
    assert_eq!(
        (parsed.amount_micros, parsed.currency),
        (120_500_000, "USD")
    );
    assert_eq!(parsed.describe()["amount"], "120.500000");
    let utc = parse(serde_json::json!({
        "campaign": "summer", "from": "2025-03-10", "to": "2025-03-10", "amount": 7, "currency": "EUR"
    }))
    .unwrap();
    assert_eq!(
        (utc.from_ms, utc.to_ms),
        (1_741_564_800_000, 1_741_651_200_000)
    );
    assert_eq!(utc.amount_micros, 7_000_000);
    let base = serde_json::json!({
        "campaign": "summer", "from": "2025-03-10", "to": "2025-03-11", "amount": "1", "currency": "USD"
    });
    let with = |key: &str, value: serde_json::Value| {
        let mut body = base.clone();
        body[key] = value;
        parse(body).unwrap_err()
    };
    for (key, value, prefix) in [
        (
            "amount",
            serde_json::json!("-1"),
            "amount: must not be negative",
        ),
        (
            "amount",
            serde_json::json!("1,5"),
            "amount: must be a decimal",
        ),
        (
            "amount",
            serde_json::json!("0.0000001"),
            "amount: has more than 6",
        ),
        (
            "amount",
            serde_json::json!(true),
            "amount: must be a decimal",
        ),
        ("amount", serde_json::Value::Null, "amount: missing"),
        (
            "currency",
            serde_json::json!("DOLLARS"),
            "currency: not an ISO 4217",
        ),
        ("currency", serde_json::Value::Null, "currency: missing"),
        ("campaign", serde_json::json!("Bad Id"), "campaign: must be"),
        (
            "campaign",
            serde_json::json!(5),
            "campaign: must be a string",
        ),
        (
            "from",
            serde_json::json!("2025-3-1"),
            "from: must be a date",
        ),
        (
            "from",
            serde_json::json!("2025-03-12"),
            "to: is before from",
        ),
        (
            "from",
            serde_json::json!("2024-03-10"),
            "to: at most 366 days",
        ),
        ("tz", serde_json::json!("Mars/Olympus"), "tz: "),
        ("ammount", serde_json::json!("1"), "ammount: unknown field"),
    ] {
        let error = with(key, value.clone());
        assert!(error.starts_with(prefix), "{key}={value}: {error}");
    }
    assert!(
        with("ammount", serde_json::json!(1)).contains("amount"),
        "did you mean"
    );
    assert!(parse(serde_json::json!([1])).is_err());
    // 366 local days are accepted.
    let mut year = base.clone();
    year["from"] = "2024-03-11".into();
    assert_eq!(parse(year).unwrap().buckets(), 366 * 96);
}

#[test]
fn described_costs_round_trip_as_configuration() {
    let revshare = cost(CostModel::RevShare { ppm: 400_125 });
    assert_eq!(
        revshare.describe(),
        serde_json::json!({ "model": "revshare", "percent": "40.012500" })
    );
    let cpc = CampaignCost {
        currency: Some("EUR"),
        max_click_micros: Some(500_000),
        ..cost(CostModel::Cpc { micros: 50_000 })
    };
    assert_eq!(
        cpc.describe(),
        serde_json::json!({ "model": "cpc", "amount": "0.050000", "currency": "EUR", "max": "0.500000" })
    );
    assert_eq!(
        cost(CostModel::Auto).describe(),
        serde_json::json!({ "model": "auto" })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The parts sum exactly to the amount, each is within one micro-unit of its exact
    /// share (floor or floor + 1), and a row without clicks gets nothing.
    #[test]
    fn spreads_are_exact(amount in any::<i64>(), weights in proptest::collection::vec(0u64..u64::MAX, 1..40)) {
        match spread(amount, &weights) {
            None => prop_assert!(weights.iter().all(|w| *w == 0)),
            Some(parts) => {
                prop_assert_eq!(parts.len(), weights.len());
                prop_assert_eq!(parts.iter().map(|p| i128::from(*p)).sum::<i128>(), i128::from(amount));
                let total: u128 = weights.iter().map(|w| u128::from(*w)).sum();
                let magnitude = u128::from(amount.unsigned_abs());
                for (part, weight) in parts.iter().zip(&weights) {
                    let floor = magnitude * u128::from(*weight) / total;
                    let got = u128::from(part.unsigned_abs());
                    prop_assert!(got == floor || got == floor + 1, "{} vs {}", got, floor);
                    if *weight == 0 {
                        prop_assert_eq!(*part, 0);
                    }
                }
            }
        }
    }

    /// Small weights (click counts), and the same answer for the same order.
    #[test]
    fn spreads_of_click_counts(amount in 0i64..1_000_000_000_000, weights in proptest::collection::vec(0u64..1000, 0..200)) {
        let once = spread(amount, &weights);
        prop_assert_eq!(&once, &spread(amount, &weights));
        if let Some(parts) = once {
            prop_assert_eq!(parts.iter().sum::<i64>(), amount);
            prop_assert!(parts.iter().all(|p| *p >= 0));
        }
    }

    #[test]
    fn click_costs_never_panic(text in "\\PC{0,40}", max in proptest::option::of(any::<i64>())) {
        let _ = parse_click_cost(&text, max);
    }

    /// Plain decimals of up to six fractional digits are read exactly, up to the cap of
    /// 1,000 whatever `max` says.
    #[test]
    fn click_costs_are_exact(whole in 0u64..1_000_000, fraction in 0u32..1_000_000, comma in any::<bool>()) {
        let separator = if comma { ',' } else { '.' };
        let text = format!("{whole}{separator}{fraction:06}");
        let expected = i64::try_from(whole).unwrap() * 1_000_000 + i64::from(fraction);
        let answer = if expected <= crate::cost::MAX_CLICK_COST_MICROS {
            Ok(expected)
        } else {
            Err(ClickCostError::AboveMax)
        };
        prop_assert_eq!(parse_click_cost(&text, None), answer.clone());
        prop_assert_eq!(parse_click_cost(&text, Some(i64::MAX)), answer);
    }

    #[test]
    fn manual_entries_never_panic(from in "\\PC{0,12}", to in "\\PC{0,12}", tz in "\\PC{0,20}", amount in "\\PC{0,20}", currency in "\\PC{0,5}") {
        let body = serde_json::json!({ "campaign": "c", "from": from, "to": to, "tz": tz, "amount": amount, "currency": currency });
        if let Ok(entry) = parse(body) {
            prop_assert!(entry.from_ms < entry.to_ms);
            prop_assert_eq!(entry.from_ms % BUCKET_MS, 0);
        }
    }
}

/// The second stage of docs/costs.md's spread: a day's part split over its buckets keeps
/// the day's total, so a report in another zone adds up to the same.
#[test]
fn two_stages_keep_every_total() {
    let day = entry(0, 2 * 86_400_000, 10_000_000);
    let Allocation::ByClicks(days) = allocate(&day, &[3, 1, 2]) else {
        panic!("by clicks");
    };
    let buckets: [&[u64]; 3] = [&[1, 1, 1], &[1], &[0, 2]];
    let mut total = 0;
    for (part, clicks) in days.iter().zip(buckets) {
        let split = spread(*part, clicks).unwrap();
        assert_eq!(split.iter().sum::<i64>(), *part);
        total += split.iter().sum::<i64>();
    }
    assert_eq!(total, 10_000_000);
    assert_eq!(
        spread(1_666_667, &[1, 1, 1]),
        Some(vec![555_556, 555_556, 555_555])
    );
}
