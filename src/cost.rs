//! Costs (docs/costs.md): what a campaign's traffic costs, in exact micro-units of one
//! currency. Pure: the storage phase records what these functions answer, and the report
//! adds them up.
//!
//! - **Per click** (`cpc`, `auto`): a fixed amount per non-bot click, or the amount the
//!   traffic source passes on the click (`cost`, or a campaign alias), which overrides the
//!   fixed one for that click ([`CampaignCost::click_cost`]).
//! - **Per impression** (`cpm`): a fixed amount per 1,000 non-bot impressions of the
//!   impression pixel ([`CampaignCost::impression_cost`]).
//! - **Per conversion** (`cpa`, `revshare`): a fixed amount, or a share of the payout, per
//!   approved conversion ([`CampaignCost::conversion_cost`]).
//! - **Manual entries** ([`CostEntry`]): an amount for a period, which *replaces* every
//!   tracked cost of its campaign in that period and is spread over the period's clicks
//!   ([`allocate`]).
//!
//! Every sum saturates and every product is taken in 128 bits: no input panics.

use crate::money::{
    format_micros, normalize_currency, parse_payout, DecimalSeparator, PayoutError,
};
use crate::zone::{check_zone, Date, ZoneOffsets, ZoneRules};
use serde_json::{json, Value};

/// The report's pre-aggregates count per 15-minute bucket; a manual entry's period is a
/// whole number of them.
pub const BUCKET_MS: i64 = 900_000;
/// Parts per million in one whole (a RevShare of 40 % is 400,000 ppm).
pub const PPM: i64 = 1_000_000;
/// Longest click cost text looked at, in bytes (`0.000012500000` is 14).
pub const MAX_CLICK_COST_BYTES: usize = 32;
/// The highest cost one click may carry, whatever `cost.max` says: 1,000 units. No click
/// costs that much, and it keeps every sum of click costs in the pre-aggregates and the
/// report far from SQLite's 64-bit integer limit (9.2 × 10^18 micro-units is 9.2 billion
/// clicks at this cap), where a sum would fail or turn into a float.
pub const MAX_CLICK_COST_MICROS: i64 = 1_000_000_000;
/// Click parameters looked at for a click cost (as for the other click fields).
pub const MAX_PARAMS: usize = crate::click::MAX_PARAMS;
/// The canonical click parameter of the automatic cost.
pub const COST_PARAM: &str = "cost";
/// Longest manual entry, in local days.
pub const MAX_ENTRY_DAYS: i64 = 366;

/// How a campaign's traffic is paid for. Amounts are micro-units of the campaign's cost
/// currency ([`CampaignCost::currency_or`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostModel {
    /// A fixed amount per non-bot click; a click's own cost parameter overrides it.
    Cpc { micros: i64 },
    /// Only the click's own cost parameter: a click without a valid one costs 0.
    Auto,
    /// A fixed amount per 1,000 non-bot impressions. The configuration only accepts
    /// amounts with at most 3 fractional digits, so one impression costs a whole number
    /// of micro-units (`micros / 1000`), and sums of impressions are exact.
    Cpm { micros: i64 },
    /// A fixed amount per approved conversion.
    Cpa { micros: i64 },
    /// A share of each approved conversion's payout, in parts per million, in the
    /// payout's currency.
    RevShare { ppm: i64 },
}

impl CostModel {
    /// The configuration name (`cost.model`).
    pub fn name(self) -> &'static str {
        match self {
            CostModel::Cpc { .. } => "cpc",
            CostModel::Auto => "auto",
            CostModel::Cpm { .. } => "cpm",
            CostModel::Cpa { .. } => "cpa",
            CostModel::RevShare { .. } => "revshare",
        }
    }

    /// Whether clicks carry the cost (and so read the click's cost parameter).
    pub fn charges_clicks(self) -> bool {
        matches!(self, CostModel::Cpc { .. } | CostModel::Auto)
    }
}

/// A campaign's `cost` table, validated (src/config/cost.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignCost {
    pub model: CostModel,
    /// `cost.currency` as configured. Not used by `revshare`, whose cost is in each
    /// payout's currency.
    pub currency: Option<&'static str>,
    /// The campaign's `currency`: the cost currency when `cost.currency` is not set.
    pub campaign_currency: Option<&'static str>,
    /// `cost.max`: a click cost above it is ignored (`cpc`, `auto`).
    pub max_click_micros: Option<i64>,
    /// Click parameters that carry the click's cost besides `cost` (`params = { price =
    /// "cost" }`), in the campaign's `params` order.
    pub aliases: Vec<String>,
}

/// Why a click's cost parameter was ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClickCostError {
    /// Longer than [`MAX_CLICK_COST_BYTES`].
    TooLong,
    /// Not a plain non-negative decimal (an unreplaced `{cost}`, a currency sign, an
    /// exponent, a sign, two separators…).
    Malformed(PayoutError),
    /// Above the campaign's `cost.max`, or above [`MAX_CLICK_COST_MICROS`].
    AboveMax,
}

/// Parses a traffic source's click cost into micro-units.
///
/// Accepted: digits with at most one decimal separator, `.` or `,` (a click cost is never
/// in the thousands, so `0,005` is five thousandths, not an ambiguous `1,000`), surrounding
/// whitespace trimmed. Exact to the micro-unit: digits past the sixth fractional one are
/// rounded half up (`0.0000125` → 13 micro-units), as sources that price per impression
/// send them. Refused: a sign (a negative cost is never a click's), anything else
/// (`{cost}`, `$0.05`, `5e-3`, `NaN`, `1.000,5`), and a value above `max`.
pub fn parse_click_cost(text: &str, max: Option<i64>) -> Result<i64, ClickCostError> {
    let text = text.trim();
    if text.len() > MAX_CLICK_COST_BYTES {
        return Err(ClickCostError::TooLong);
    }
    if text.starts_with(['-', '+']) {
        return Err(ClickCostError::Malformed(PayoutError::Negative));
    }
    let separator = if text.contains(',') {
        DecimalSeparator::Comma
    } else {
        DecimalSeparator::Dot
    };
    let mut kept = text;
    let mut round_up = false;
    if let Some(at) = text.find(['.', ',']) {
        let fraction = text.get(at + 1..).unwrap_or_default();
        if fraction.len() > crate::money::MAX_FRACTION_DIGITS
            && fraction.bytes().all(|b| b.is_ascii_digit())
        {
            let end = at + 1 + crate::money::MAX_FRACTION_DIGITS;
            kept = text.get(..end).unwrap_or(text);
            round_up = fraction
                .as_bytes()
                .get(crate::money::MAX_FRACTION_DIGITS)
                .is_some_and(|digit| *digit >= b'5');
        }
    }
    let micros = parse_payout(kept, false, separator).map_err(ClickCostError::Malformed)?;
    let micros = if round_up {
        micros
            .checked_add(1)
            .ok_or(ClickCostError::Malformed(PayoutError::TooLarge))?
    } else {
        micros
    };
    if micros
        > max
            .unwrap_or(MAX_CLICK_COST_MICROS)
            .min(MAX_CLICK_COST_MICROS)
    {
        return Err(ClickCostError::AboveMax);
    }
    Ok(micros)
}

/// `amount × ppm / 1,000,000`, rounded half away from zero, saturating.
pub fn share(amount_micros: i64, ppm: i64) -> i64 {
    let product = i128::from(amount_micros) * i128::from(ppm);
    let half = i128::from(PPM / 2) * product.signum();
    saturate((product + half) / i128::from(PPM))
}

fn saturate(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

impl CampaignCost {
    /// The cost currency: `cost.currency`, else the campaign's, else `default` (the
    /// global `currency`). A `revshare` cost takes each payout's currency instead
    /// ([`CampaignCost::conversion_cost`]).
    pub fn currency_or(&self, default: &'static str) -> &'static str {
        self.currency.or(self.campaign_currency).unwrap_or(default)
    }

    /// The cost of one click (`cpc`, `auto`; `None` for the other models, whose clicks
    /// carry no cost). A bot or prefetch costs 0: it is left out of the click counts,
    /// and a link preview fetched before the visitor's own click would count twice.
    /// Otherwise the click's own cost, read from `cost` (which wins) or else the first
    /// alias that carries a value, when it parses ([`parse_click_cost`], at most
    /// `cost.max`), else the fixed amount (`cpc`) or 0 (`auto`). As for the other click
    /// fields, an empty value counts as absent, the first occurrence of a name wins, and
    /// only the first [`MAX_PARAMS`] parameters are looked at.
    pub fn click_cost(&self, query: &[(String, String)], is_bot: bool) -> Option<i64> {
        let fixed = match self.model {
            CostModel::Cpc { micros } => micros,
            CostModel::Auto => 0,
            _ => return None,
        };
        if is_bot {
            return Some(0);
        }
        Some(
            self.cost_text(query)
                .and_then(|text| parse_click_cost(text, self.max_click_micros).ok())
                .unwrap_or(fixed),
        )
    }

    /// The click's cost parameter, if it carries one.
    fn cost_text<'q>(&self, query: &'q [(String, String)]) -> Option<&'q str> {
        let mut from_alias: Option<&str> = None;
        for (name, value) in query.iter().take(MAX_PARAMS) {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            if name == COST_PARAM {
                return Some(value);
            }
            if from_alias.is_none() && self.aliases.iter().any(|alias| alias == name) {
                from_alias = Some(value);
            }
        }
        from_alias
    }

    /// The cost of one impression (`cpm`; `None` for the other models). A bot's costs 0.
    pub fn impression_cost(&self, is_bot: bool) -> Option<i64> {
        match self.model {
            CostModel::Cpm { .. } if is_bot => Some(0),
            CostModel::Cpm { micros } => Some(micros / 1000),
            _ => None,
        }
    }

    /// The cost of a conversion *if it is approved* (`cpa`, `revshare`; `None` for the
    /// other models), and its currency: `cpa` in the cost currency, `revshare` as the
    /// share of `payout_micros` in the payout's currency. The report counts it while the
    /// conversion's current status is `approved`, as it counts revenue.
    pub fn conversion_cost<'a>(
        &self,
        payout_micros: i64,
        payout_currency: &'a str,
        default_currency: &'static str,
    ) -> Option<(i64, &'a str)> {
        match self.model {
            CostModel::Cpa { micros } => Some((micros, self.currency_or(default_currency))),
            CostModel::RevShare { ppm } => Some((share(payout_micros, ppm), payout_currency)),
            _ => None,
        }
    }

    /// The table as configuration JSON (a run-time campaign's `cost`; it round-trips).
    pub fn describe(&self) -> Value {
        let mut table = serde_json::Map::new();
        table.insert("model".into(), self.model.name().into());
        match self.model {
            CostModel::Cpc { micros } | CostModel::Cpm { micros } | CostModel::Cpa { micros } => {
                table.insert("amount".into(), format_micros(micros).into());
            }
            CostModel::RevShare { ppm } => {
                // ppm to percent: 400,000 ppm is 40 %, written with four decimals.
                let percent = format_micros(ppm.saturating_mul(100));
                table.insert("percent".into(), percent.into());
            }
            CostModel::Auto => {}
        }
        if let Some(currency) = self.currency {
            table.insert("currency".into(), currency.into());
        }
        if let Some(max) = self.max_click_micros {
            table.insert("max".into(), format_micros(max).into());
        }
        Value::Object(table)
    }
}

/// A manual cost entry (`PUT /api/costs`): what a campaign's traffic cost over a period
/// of whole local days. It *replaces* every tracked cost of the campaign whose time falls
/// in `[from_ms, to_ms)` (see [`covering`]) and is spread over the period's clicks
/// ([`allocate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostEntry {
    pub campaign: String,
    /// First and last local day, inclusive, in `tz`.
    pub from: Date,
    pub to: Date,
    pub tz: String,
    /// `[from_ms, to_ms)`: local midnight of `from` to local midnight after `to`, UTC
    /// unix milliseconds, whole 15-minute buckets.
    pub from_ms: i64,
    pub to_ms: i64,
    pub amount_micros: i64,
    pub currency: &'static str,
}

/// The keys of a `PUT /api/costs` body.
pub const ENTRY_FIELDS: &[&str] = &["campaign", "from", "to", "tz", "amount", "currency"];

/// Reads and checks a `PUT /api/costs` body:
/// `{"campaign": "summer", "from": "2025-03-10", "to": "2025-03-16", "amount": "120.50",
/// "currency": "USD", "tz": "Europe/Berlin"}`. `from` and `to` are local days, inclusive
/// (at most [`MAX_ENTRY_DAYS`]); `tz` defaults to `default_tz` (the configured
/// `timezone`); `amount` is a non-negative decimal (a string, or a JSON number) with `.`
/// as the separator and at most six fractional digits; `currency` is required. Whether
/// the campaign exists is the route's question. The error names the field:
/// `amount: must be …`.
pub fn parse_entry(
    rules: &dyn ZoneRules,
    body: &Value,
    default_tz: &str,
) -> Result<CostEntry, String> {
    let Value::Object(object) = body else {
        return Err("the body must be a JSON object".into());
    };
    if let Some(unknown) = object
        .keys()
        .find(|key| !ENTRY_FIELDS.contains(&key.as_str()))
    {
        return Err(format!(
            "{unknown}: unknown field, expected one of {}{}",
            ENTRY_FIELDS.join(", "),
            crate::suggest::hint(unknown, ENTRY_FIELDS.iter().copied())
        ));
    }
    let text = |key: &str| -> Result<Option<&str>, String> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.trim())),
            Some(_) => Err(format!("{key}: must be a string")),
        }
    };
    let required = |key: &str| -> Result<&str, String> {
        text(key)?
            .filter(|text| !text.is_empty())
            .ok_or_else(|| format!("{key}: missing"))
    };
    let campaign = required("campaign")?;
    crate::config::check_campaign_id(campaign)
        .map_err(|_| "campaign: must be 1-64 characters of a-z, 0-9, '_' or '-'".to_string())?;
    let date = |key: &str| -> Result<Date, String> {
        Date::parse(required(key)?).ok_or_else(|| format!("{key}: must be a date as YYYY-MM-DD"))
    };
    let (from, to) = (date("from")?, date("to")?);
    if from > to {
        return Err("to: is before from".into());
    }
    if to.days_after(from) >= MAX_ENTRY_DAYS {
        return Err(format!("to: at most {MAX_ENTRY_DAYS} days per entry"));
    }
    let tz = text("tz")?
        .filter(|tz| !tz.is_empty())
        .unwrap_or(default_tz)
        .to_string();
    check_zone(rules, &tz).map_err(|reason| format!("tz: {reason}"))?;
    let amount_micros = match object.get("amount") {
        None | Some(Value::Null) => return Err("amount: missing".into()),
        Some(value) => amount(value).map_err(|reason| format!("amount: {reason}"))?,
    };
    let currency = normalize_currency(required("currency")?)
        .ok_or("currency: not an ISO 4217 currency code")?;
    let mut offsets = ZoneOffsets::new(rules, &tz);
    let windows = offsets.day_windows(from, to);
    let (Some(first), Some(last)) = (windows.first(), windows.last()) else {
        return Err("from: the zone has no such days".into());
    };
    let (from_ms, to_ms) = (first.1, last.2);
    if from_ms % BUCKET_MS != 0 || to_ms % BUCKET_MS != 0 {
        return Err("tz: its midnights on these days are not on a 15-minute boundary".into());
    }
    Ok(CostEntry {
        campaign: campaign.to_string(),
        from,
        to,
        tz,
        from_ms,
        to_ms,
        amount_micros,
        currency,
    })
}

/// A configured or entered amount: a non-negative decimal string or JSON number, `.` as
/// the separator, at most six fractional digits.
pub fn amount(value: &Value) -> Result<i64, &'static str> {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => return Err("must be a decimal amount such as \"0.05\""),
    };
    parse_payout(&text, false, DecimalSeparator::Dot).map_err(|error| match error {
        PayoutError::Negative => "must not be negative",
        PayoutError::TooManyFractionDigits => "has more than 6 fractional digits",
        PayoutError::TooLarge => "is too large",
        _ => "must be a decimal amount such as \"0.05\" ('.' as the decimal separator)",
    })
}

impl CostEntry {
    /// The entry as the API answers it.
    pub fn describe(&self) -> Value {
        json!({
            "campaign": self.campaign,
            "from": self.from.to_string(),
            "to": self.to.to_string(),
            "tz": self.tz,
            "from_ms": self.from_ms,
            "to_ms": self.to_ms,
            "amount": format_micros(self.amount_micros),
            "currency": self.currency,
        })
    }

    /// Whether instant `at_ms` lies in the entry's period.
    pub fn covers(&self, at_ms: i64) -> bool {
        self.from_ms <= at_ms && at_ms < self.to_ms
    }

    /// How many 15-minute buckets the period holds.
    pub fn buckets(&self) -> i64 {
        self.to_ms.saturating_sub(self.from_ms).max(0) / BUCKET_MS
    }
}

/// Where a new entry goes among a campaign's existing ones. Entries of one campaign never
/// overlap, so "the entry covering this instant" is always one or none.
#[derive(Debug, PartialEq, Eq)]
pub enum Placement<'a> {
    /// No entry of the campaign overlaps: a new entry.
    New,
    /// An entry with exactly the same period: the new one replaces it (`PUT` is
    /// idempotent).
    Replaces(&'a CostEntry),
    /// An entry whose period overlaps without being the same: refused (409), naming it;
    /// delete it first, or enter the same period.
    Overlaps(&'a CostEntry),
}

/// Where `entry` goes among `existing` (any campaigns').
pub fn place<'a>(existing: &'a [CostEntry], entry: &CostEntry) -> Placement<'a> {
    let mut same = None;
    for other in existing
        .iter()
        .filter(|other| other.campaign == entry.campaign)
    {
        if other.from_ms == entry.from_ms && other.to_ms == entry.to_ms {
            same = Some(other);
        } else if other.from_ms < entry.to_ms && entry.from_ms < other.to_ms {
            return Placement::Overlaps(other);
        }
    }
    same.map_or(Placement::New, Placement::Replaces)
}

/// The entry of `campaign` whose period covers `at_ms`, if any: a tracked cost at that
/// instant (a click's, an impression's at its time, a conversion's at its creation) is
/// replaced by the entry, and the report leaves it out.
pub fn covering<'a>(entries: &'a [CostEntry], campaign: &str, at_ms: i64) -> Option<&'a CostEntry> {
    entries
        .iter()
        .find(|entry| entry.campaign == campaign && entry.covers(at_ms))
}

/// Splits `amount` in proportion to `weights`, exactly: every part is the floor of its
/// exact share, and the units left over (fewer than the number of parts) go one each to
/// the parts with the largest remainders, ties to the earlier part (largest remainder
/// method). The parts sum to `amount`; a part of weight 0 gets 0; a negative amount is
/// split as its magnitude, negated. `None` when the weights sum to 0. Deterministic for
/// a given order of `weights`: callers pass rows in a fixed order (time bucket, then key).
pub fn spread(amount: i64, weights: &[u64]) -> Option<Vec<i64>> {
    let total: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    if total == 0 {
        return None;
    }
    let magnitude = u128::from(amount.unsigned_abs());
    let mut parts: Vec<u128> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
    let mut given: u128 = 0;
    for (index, weight) in weights.iter().enumerate() {
        // magnitude ≤ 2^63 and weight < 2^64: the product fits in 128 bits.
        let product = magnitude * u128::from(*weight);
        let part = product / total;
        given += part;
        parts.push(part);
        remainders.push((product % total, index));
    }
    let mut left = magnitude.saturating_sub(given);
    remainders.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (remainder, index) in remainders {
        if left == 0 || remainder == 0 {
            break;
        }
        if let Some(part) = parts.get_mut(index) {
            *part += 1;
            left -= 1;
        }
    }
    let negative = amount < 0;
    Some(
        parts
            .into_iter()
            .map(|part| {
                let signed = i128::try_from(part).unwrap_or(i128::MAX);
                saturate(if negative { -signed } else { signed })
            })
            .collect(),
    )
}

/// How a manual entry's amount lands in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allocation {
    /// Over the period's click rows, in proportion to their (non-bot) clicks: the cost of
    /// each row, in the order given.
    ByClicks(Vec<i64>),
    /// The period had no click: evenly over its 15-minute buckets, as
    /// `(bucket_start_ms, cost)`, the left-over micro-units to the earliest buckets.
    ByTime(Vec<(i64, i64)>),
}

/// Spreads `entry` over the rows of its period: `clicks` holds the non-bot clicks of
/// each row (entry day, campaign, country, sub-ID tuple) of the campaign in the period,
/// added up across click databases, in a fixed order (day, then key). The parts sum
/// exactly to the entry's amount. A report in another zone splits each part over its
/// row's 15-minute buckets with [`spread`] again (docs/costs.md, "two stages").
pub fn allocate(entry: &CostEntry, clicks: &[u64]) -> Allocation {
    if let Some(parts) = spread(entry.amount_micros, clicks) {
        return Allocation::ByClicks(parts);
    }
    // At most a year and a day of buckets, whatever a stored row says.
    let most = (MAX_ENTRY_DAYS + 1) * 100;
    let buckets = usize::try_from(entry.buckets().min(most)).unwrap_or(0);
    let parts = spread(entry.amount_micros, &vec![1; buckets]).unwrap_or_default();
    Allocation::ByTime(
        parts
            .into_iter()
            .enumerate()
            .map(|(index, part)| {
                let offset = i64::try_from(index)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(BUCKET_MS);
                (entry.from_ms.saturating_add(offset), part)
            })
            .collect(),
    )
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
