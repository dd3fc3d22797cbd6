//! A campaign's `cost` table (docs/costs.md), read by hand and checked with key paths:
//!
//! ```toml
//! cost = { model = "cpc", amount = "0.05", currency = "USD", max = "0.50" }
//! cost = { model = "auto", max = "0.50" }       # the click's `cost` parameter only
//! cost = { model = "cpm", amount = "1.20" }     # per 1,000 impressions
//! cost = { model = "cpa", amount = "2" }
//! cost = { model = "revshare", percent = "40" } # of each payout, in its currency
//! ```

use super::table::Table;
use super::Problems;
use crate::cost::{amount, CampaignCost, CostModel, PPM};
use serde_json::Value;

/// The keys of a `cost` table.
const COST_FIELDS: &[&str] = &["model", "amount", "percent", "currency", "max"];
/// `model`'s values.
const MODELS: &[&str] = &["cpc", "auto", "cpm", "cpa", "revshare"];

/// The `cost` table at `{path}.cost`, with the campaign's cost aliases (its `params` that
/// map to `cost`) and its `currency`; every problem is pushed with its key path.
pub(super) fn resolve(
    problems: &mut Problems,
    path: &str,
    value: Value,
    aliases: Vec<String>,
    campaign_currency: Option<&'static str>,
) -> Option<CampaignCost> {
    let before = problems.0.len();
    let at = format!("{path}.cost");
    let mut table = Table::read(
        problems,
        &at,
        value,
        "a cost table such as { model = \"cpc\", amount = \"0.05\" }",
        COST_FIELDS,
    )?;
    let model = table.required_choice("model", MODELS);
    let raw_amount = table.raw("amount");
    let raw_percent = table.raw("percent");
    let currency_text = table.text("currency");
    let raw_max = table.raw("max");
    table.finish();
    let model_name = model.and_then(|index| MODELS.get(index)).copied();

    // Each key is checked against the model: a key the model does not use is refused
    // rather than ignored (a `percent` on a `cpc` is a mistake, not a no-op).
    let unused = |problems: &mut Problems, key: &str, present: bool, why: &str| {
        if present {
            problems.push(
                format!("{at}.{key}"),
                format!("is not used by model \"{}\"{why}", model_name.unwrap_or("")),
            );
        }
    };
    let amount_of = |problems: &mut Problems, key: &str, value: Option<Value>| -> Option<i64> {
        match value.map(|value| amount(&value)) {
            Some(Ok(micros)) => Some(micros),
            Some(Err(reason)) => {
                problems.push(format!("{at}.{key}"), reason);
                None
            }
            None => None,
        }
    };
    // Amounts are bounded so that no sum in the pre-aggregates or the report can reach
    // SQLite's integer limit: a click or 1,000 impressions at most 1,000, a conversion
    // at most 1,000,000 (`crate::cost::MAX_CLICK_COST_MICROS`).
    let needs_amount = |problems: &mut Problems, micros: Option<i64>, given: bool| {
        let limit = if model_name == Some("cpa") {
            crate::cost::MAX_CLICK_COST_MICROS.saturating_mul(1000)
        } else {
            crate::cost::MAX_CLICK_COST_MICROS
        };
        if micros.is_some_and(|micros| micros > limit) {
            problems.push(
                format!("{at}.amount"),
                format!("must be at most {}", limit / 1_000_000),
            );
            return None;
        }
        if micros.is_none() && !given {
            problems.push(
                format!("{at}.amount"),
                format!(
                    "missing: model \"{}\" needs an amount such as \"0.05\"",
                    model_name.unwrap_or("")
                ),
            );
        }
        micros
    };
    let amount_given = raw_amount.is_some();
    let model = match model_name {
        Some("cpc") => {
            unused(problems, "percent", raw_percent.is_some(), "");
            let micros = amount_of(problems, "amount", raw_amount);
            needs_amount(problems, micros, amount_given).map(|micros| CostModel::Cpc { micros })
        }
        Some("auto") => {
            unused(
                problems,
                "amount",
                amount_given,
                ": it takes the click's own cost; for a fixed amount when a click has none, use model = \"cpc\"",
            );
            unused(problems, "percent", raw_percent.is_some(), "");
            Some(CostModel::Auto)
        }
        Some("cpm") => {
            unused(problems, "percent", raw_percent.is_some(), "");
            let micros = amount_of(problems, "amount", raw_amount);
            if micros.is_some_and(|micros| micros % 1000 != 0) {
                problems.push(
                    format!("{at}.amount"),
                    "has more than 3 fractional digits: a CPM amount is per 1,000 impressions, \
                     and one impression must cost a whole micro-unit",
                );
                return None;
            }
            needs_amount(problems, micros, amount_given).map(|micros| CostModel::Cpm { micros })
        }
        Some("cpa") => {
            unused(problems, "percent", raw_percent.is_some(), "");
            let micros = amount_of(problems, "amount", raw_amount);
            needs_amount(problems, micros, amount_given).map(|micros| CostModel::Cpa { micros })
        }
        Some("revshare") => {
            unused(problems, "amount", amount_given, ": use percent");
            let share = ": a share is paid in each payout's own currency";
            unused(problems, "currency", currency_text.is_some(), share);
            match raw_percent {
                None => {
                    problems.push(
                        format!("{at}.percent"),
                        "missing: model \"revshare\" needs a percent of the payout such as \"40\"",
                    );
                    None
                }
                // Percent in micro-units is 100 × ppm: at most four fractional digits.
                Some(value) => match amount(&value) {
                    Ok(micros) if micros % 100 == 0 && micros / 100 <= PPM => {
                        Some(CostModel::RevShare { ppm: micros / 100 })
                    }
                    Ok(_) => {
                        problems.push(
                            format!("{at}.percent"),
                            "must be 0 to 100 with at most 4 fractional digits",
                        );
                        None
                    }
                    Err(reason) => {
                        problems.push(format!("{at}.percent"), reason);
                        None
                    }
                },
            }
        }
        _ => None,
    };
    // From the name, so that `max` is checked even when the amount is wrong.
    let click_model = matches!(model_name, Some("cpc" | "auto"));
    if model_name.is_some() && !click_model {
        unused(
            problems,
            "max",
            raw_max.is_some(),
            ": it caps a click's own cost (models \"cpc\" and \"auto\")",
        );
    }
    let max_click_micros = if click_model {
        amount_of(problems, "max", raw_max)
    } else {
        None
    };
    let currency = currency_text.and_then(|code| {
        let found = crate::money::normalize_currency(&code);
        if found.is_none() {
            problems.push(format!("{at}.currency"), "not an ISO 4217 currency code");
        }
        found
    });
    if !click_model && model_name.is_some() {
        for alias in &aliases {
            problems.push(
                format!("{path}.params.{alias}"),
                "maps to cost, but only models \"cpc\" and \"auto\" take a click's cost",
            );
        }
    }
    if problems.0.len() > before {
        return None;
    }
    Some(CampaignCost {
        model: model?,
        currency,
        campaign_currency,
        max_click_micros,
        aliases,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Campaign, Config};
    use crate::cost::{CampaignCost, CostModel};
    use serde_json::json;

    fn campaign(fields: serde_json::Value) -> Result<Campaign, Vec<String>> {
        let mut fields = fields;
        fields["offer_url"] = "https://offer.example/?c={clickid}".into();
        let value = json!({ "networks": { "generic": {} }, "campaigns": { "c": fields } });
        Config::from_json(value)
            .map(|config| config.campaigns["c"].clone())
            .map_err(|errors| errors.0.iter().map(ToString::to_string).collect())
    }

    fn cost_of(fields: serde_json::Value) -> CampaignCost {
        campaign(fields).unwrap().cost.unwrap()
    }

    #[test]
    fn every_model() {
        let cpc = cost_of(json!({
            "cost": { "model": "cpc", "amount": "0.05", "currency": "eur", "max": 0.5 },
            "params": { "price": "cost", "zone": "sub1" }
        }));
        assert_eq!(cpc.model, CostModel::Cpc { micros: 50_000 });
        assert_eq!(cpc.currency, Some("EUR"));
        assert_eq!(cpc.max_click_micros, Some(500_000));
        assert_eq!(cpc.aliases, ["price"]);
        assert_eq!(cpc.currency_or("USD"), "EUR");
        // A TOML number reads as exactly as a string.
        let number = cost_of(json!({ "cost": { "model": "cpc", "amount": 0.05 } }));
        assert_eq!(number.model, CostModel::Cpc { micros: 50_000 });
        // The cost currency defaults to the campaign's, then the global one.
        let inherited = cost_of(json!({ "currency": "GBP", "cost": { "model": "auto" } }));
        assert_eq!(
            (inherited.model, inherited.currency_or("USD")),
            (CostModel::Auto, "GBP")
        );
        assert_eq!(
            cost_of(json!({ "cost": { "model": "auto" } })).currency_or("USD"),
            "USD"
        );
        assert_eq!(
            cost_of(json!({ "cost": { "model": "cpm", "amount": "1.25" } })).model,
            CostModel::Cpm { micros: 1_250_000 }
        );
        assert_eq!(
            cost_of(json!({ "cost": { "model": "cpa", "amount": "2" } })).model,
            CostModel::Cpa { micros: 2_000_000 }
        );
        assert_eq!(
            cost_of(json!({ "cost": { "model": "revshare", "percent": "40.5" } })).model,
            CostModel::RevShare { ppm: 405_000 }
        );
        assert_eq!(
            cost_of(json!({ "cost": { "model": "revshare", "percent": 100 } })).model,
            CostModel::RevShare { ppm: 1_000_000 }
        );
        assert!(campaign(json!({})).unwrap().cost.is_none());
    }

    #[test]
    fn bad_cost_tables_name_their_keys() {
        let cases: &[(serde_json::Value, &str)] = &[
            (json!({ "cost": "cpc" }), "EDGEBACK.campaigns.c.cost: invalid type: string \"cpc\", expected a cost table"),
            (json!({ "cost": {} }), "EDGEBACK.campaigns.c.cost: missing field `model`"),
            (json!({ "cost": { "model": "cpv" } }), "EDGEBACK.campaigns.c.cost.model: unknown variant `cpv`"),
            (json!({ "cost": { "model": "cpc", "amonut": "1" } }), "EDGEBACK.campaigns.c.cost.amonut: unknown field `amonut`"),
            (json!({ "cost": { "model": "cpc" } }), "EDGEBACK.campaigns.c.cost.amount: missing: model \"cpc\" needs an amount"),
            (json!({ "cost": { "model": "cpc", "amount": "-1" } }), "EDGEBACK.campaigns.c.cost.amount: must not be negative"),
            (json!({ "cost": { "model": "cpc", "amount": "0,05" } }), "EDGEBACK.campaigns.c.cost.amount: must be a decimal amount"),
            (json!({ "cost": { "model": "cpc", "amount": "0.0000001" } }), "EDGEBACK.campaigns.c.cost.amount: has more than 6 fractional digits"),
            (json!({ "cost": { "model": "cpc", "amount": [1] } }), "EDGEBACK.campaigns.c.cost.amount: must be a decimal amount"),
            (json!({ "cost": { "model": "cpc", "amount": "1", "percent": "3" } }), "EDGEBACK.campaigns.c.cost.percent: is not used by model \"cpc\""),
            (json!({ "cost": { "model": "cpc", "amount": "1", "currency": "ZZZ" } }), "EDGEBACK.campaigns.c.cost.currency: not an ISO 4217"),
            (json!({ "cost": { "model": "cpc", "amount": "1", "max": "x" } }), "EDGEBACK.campaigns.c.cost.max: must be a decimal amount"),
            (json!({ "cost": { "model": "cpc", "amount": "5000" } }), "EDGEBACK.campaigns.c.cost.amount: must be at most 1000"),
            (json!({ "cost": { "model": "cpa", "amount": "2000000" } }), "EDGEBACK.campaigns.c.cost.amount: must be at most 1000000"),
            (json!({ "cost": { "model": "auto", "amount": "1" } }), "EDGEBACK.campaigns.c.cost.amount: is not used by model \"auto\": it takes the click's own cost"),
            (json!({ "cost": { "model": "cpm", "amount": "1.2345" } }), "EDGEBACK.campaigns.c.cost.amount: has more than 3 fractional digits"),
            (json!({ "cost": { "model": "cpm", "amount": "1", "max": "1" } }), "EDGEBACK.campaigns.c.cost.max: is not used by model \"cpm\""),
            (json!({ "cost": { "model": "cpa", "amount": "1", "max": "1" } }), "EDGEBACK.campaigns.c.cost.max: is not used by model \"cpa\""),
            (json!({ "cost": { "model": "revshare" } }), "EDGEBACK.campaigns.c.cost.percent: missing"),
            (json!({ "cost": { "model": "revshare", "percent": "100.5" } }), "EDGEBACK.campaigns.c.cost.percent: must be 0 to 100"),
            (json!({ "cost": { "model": "revshare", "percent": "40.00001" } }), "EDGEBACK.campaigns.c.cost.percent: must be 0 to 100 with at most 4"),
            (json!({ "cost": { "model": "revshare", "percent": "40", "amount": "1" } }), "EDGEBACK.campaigns.c.cost.amount: is not used by model \"revshare\""),
            (json!({ "cost": { "model": "revshare", "percent": "40", "currency": "USD" } }), "EDGEBACK.campaigns.c.cost.currency: is not used by model \"revshare\""),
            (json!({ "params": { "price": "cost" } }), "EDGEBACK.campaigns.c.params.price: maps to cost, but the campaign has no cost table"),
            (json!({ "params": { "price": "cost" }, "cost": { "model": "cpa", "amount": "1" } }), "EDGEBACK.campaigns.c.params.price: maps to cost, but only models"),
            (json!({ "params": { "price": "costs" } }), "EDGEBACK.campaigns.c.params.price: \"costs\" is not sub1…sub10, external_id or cost"),
        ];
        for (fields, prefix) in cases {
            let errors = campaign(fields.clone()).unwrap_err();
            assert!(
                errors.iter().any(|e| e.starts_with(prefix)),
                "{fields}: {prefix} in {errors:?}"
            );
        }
        // Every problem of the table in one run.
        let errors = campaign(
            json!({ "cost": { "model": "cpc", "amount": "-1", "currency": "ZZZ", "max": "y" } }),
        )
        .unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
    }

    #[test]
    fn runtime_campaigns_take_costs_and_round_trip() {
        for cost in [
            json!({ "model": "cpc", "amount": "0.05", "currency": "EUR", "max": "0.5" }),
            json!({ "model": "auto" }),
            json!({ "model": "cpm", "amount": 1.2 }),
            json!({ "model": "cpa", "amount": "2" }),
            json!({ "model": "revshare", "percent": "40.0125" }),
        ] {
            let value = json!({
                "offer_url": "https://offer.example/?c={clickid}",
                "params": { "price": "cost", "zone": "sub1" },
                "cost": cost,
            });
            let value = if cost["model"] == "cpc" || cost["model"] == "auto" {
                value
            } else {
                let mut value = value;
                value["params"] = json!({ "zone": "sub1" });
                value
            };
            let first = Campaign::from_runtime_json("spring", value).unwrap();
            let described = first.describe();
            let again = Campaign::from_runtime_json("spring", described.clone()).unwrap();
            assert_eq!(again.describe(), described, "{cost}");
            assert_eq!(again.cost, first.cost);
        }
        let without =
            Campaign::from_runtime_json("spring", json!({ "offer_url": "https://offer.example/" }))
                .unwrap();
        assert_eq!(without.describe()["cost"], serde_json::Value::Null);
        assert!(Campaign::from_runtime_json("spring", without.describe())
            .unwrap()
            .cost
            .is_none());
        let error = Campaign::from_runtime_json(
            "spring",
            json!({ "offer_url": "https://offer.example/", "cost": { "model": "cpc" } }),
        )
        .unwrap_err();
        assert!(
            error.0[0]
                .to_string()
                .starts_with("campaigns.spring.cost.amount: missing"),
            "{error:?}"
        );
    }
}
