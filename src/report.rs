//! The report (design §9): clicks, bot clicks, conversions, approved, revenue, pending
//! revenue, CR, EPC, approval rate, duplicates and refused postbacks by outcome, grouped
//! by local day (cut at local midnight in an IANA zone) and other keys. Test traffic is
//! left out by the SQL. This module parses the query, computes the day windows, and
//! does the maths on the rows the SQL returns.
//!
//! Definitions (documented in docs/report.md):
//! - a click counts on its local day; bot clicks separately; conversions count on the
//!   day they were created, with their current status;
//! - revenue = approved payouts, pending revenue = pending payouts, per currency;
//! - CR = conversions / clicks; EPC = revenue / clicks (per currency); approval rate =
//!   approved / conversions;
//! - duplicates and refused postbacks count postback-log rows on their local day;
//! - cost per currency (docs/costs.md); profit = revenue − cost, per currency; ROI =
//!   profit / cost when the row has one currency; CPA = cost / approved; CPC = cost /
//!   clicks;
//! - clicks have no network or event: grouped by either, click and cost figures are
//!   `null`;
//! - the flow dimensions (offer, lander, rule, device, OS, browser, region) count clicks
//!   from a pre-aggregate of their own, which has no sub-IDs: a grouping cannot have both;
//! - grouped by day alone, every day of the range is a row (zeros when there was none).

use crate::map::VecMap;
use crate::money::format_micros;
use crate::zone::{check_zone, Date, ZoneOffsets, ZoneRules};
use serde_json::{json, Value};

/// Longest report, in days.
pub const MAX_DAYS: u64 = 366;

/// A grouping key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupKey {
    Day,
    Campaign,
    Network,
    Event,
    Country,
    Sub(u8),
    /// The flow dimensions (docs/report.md): click figures from the flow pre-aggregate.
    Region,
    Rule,
    Lander,
    Offer,
    Device,
    Os,
    Browser,
}

/// Every grouping key by name, in the order of the report rows' key columns
/// ([`RowKeys`]).
const KEYS: [(&str, GroupKey); 22] = [
    ("day", GroupKey::Day),
    ("campaign", GroupKey::Campaign),
    ("network", GroupKey::Network),
    ("event", GroupKey::Event),
    ("country", GroupKey::Country),
    ("sub1", GroupKey::Sub(1)),
    ("sub2", GroupKey::Sub(2)),
    ("sub3", GroupKey::Sub(3)),
    ("sub4", GroupKey::Sub(4)),
    ("sub5", GroupKey::Sub(5)),
    ("sub6", GroupKey::Sub(6)),
    ("sub7", GroupKey::Sub(7)),
    ("sub8", GroupKey::Sub(8)),
    ("sub9", GroupKey::Sub(9)),
    ("sub10", GroupKey::Sub(10)),
    ("region", GroupKey::Region),
    ("rule", GroupKey::Rule),
    ("lander", GroupKey::Lander),
    ("offer", GroupKey::Offer),
    ("device", GroupKey::Device),
    ("os", GroupKey::Os),
    ("browser", GroupKey::Browser),
];

impl GroupKey {
    /// Its place among the rows' key columns.
    fn column(self) -> usize {
        KEYS.iter().position(|(_, key)| *key == self).unwrap_or(0)
    }

    pub fn name(self) -> String {
        KEYS.get(self.column())
            .map_or("", |(name, _)| name)
            .to_string()
    }

    fn parse(text: &str) -> Option<Self> {
        KEYS.iter()
            .find(|(name, _)| *name == text)
            .map(|(_, key)| *key)
    }

    /// A key of the flow pre-aggregate, which has no sub-IDs (docs/report.md).
    pub fn is_flow(self) -> bool {
        self > GroupKey::Sub(10)
    }
}

/// A parsed report request, with its local days worked out (the zone's rules are needed
/// for that, and only here).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportQuery {
    pub from: Date,
    pub to: Date,
    /// The IANA zone name, as given.
    pub tz: String,
    pub group_by: Vec<GroupKey>,
    /// `[label, start_ms, end_ms)` of each local day (see [`day_windows`]).
    windows: Vec<(String, i64, i64)>,
}

/// [`parse_query_with`] the zone rules of `chrono-tz`, for native callers (tests and
/// tools); the worker passes the runtime's (`Intl`).
#[cfg(not(target_arch = "wasm32"))]
pub fn parse_query(
    pairs: &[(String, String)],
    default_tz: &str,
    now_ms: i64,
) -> Result<ReportQuery, String> {
    parse_query_with(&crate::zone::tzdb::Tzdb, pairs, default_tz, now_ms)
}

/// Parses `from`, `to`, `tz`, `group_by`. Defaults: the last 7 local days to today
/// (`today` is the caller's local date in `tz`), the configured zone, grouping by day.
/// `rules` says which zones exist and where their days start.
pub fn parse_query_with(
    rules: &dyn ZoneRules,
    pairs: &[(String, String)],
    default_tz: &str,
    now_ms: i64,
) -> Result<ReportQuery, String> {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let tz_name = get("tz").unwrap_or_else(|| default_tz.to_string());
    check_zone(rules, &tz_name).map_err(|reason| format!("tz {reason}"))?;
    let mut offsets = ZoneOffsets::new(rules, &tz_name);
    let today = offsets.local_date(now_ms).ok_or("clock out of range")?;
    let date = |name: &str, default: Date| -> Result<Date, String> {
        match get(name) {
            None => Ok(default),
            Some(text) => {
                Date::parse(&text).ok_or_else(|| format!("{name} must be a date as YYYY-MM-DD"))
            }
        }
    };
    let to = date("to", today)?;
    let from = date("from", to.add_days(-6).unwrap_or(to))?;
    if from > to {
        return Err("from is after to".into());
    }
    if to.days_after(from) >= MAX_DAYS as i64 {
        return Err(format!("at most {MAX_DAYS} days per report"));
    }
    let mut group_by = Vec::new();
    for name in get("group_by").unwrap_or_else(|| "day".into()).split(',') {
        let name = name.trim();
        let key = GroupKey::parse(name).ok_or_else(|| {
            format!(
                "group_by {name:?} is not one of day, campaign, network, event, country, \
                 sub1 … sub10, region, rule, lander, offer, device, os, browser"
            )
        })?;
        if !group_by.contains(&key) {
            group_by.push(key);
        }
    }
    // Click figures by flow dimension and by sub-ID come from two pre-aggregates that do
    // not share a key (docs/report.md): one grouping cannot have both.
    let flow = group_by.iter().find(|key| key.is_flow());
    let sub = group_by.iter().find(|key| matches!(key, GroupKey::Sub(_)));
    if let (Some(flow), Some(sub)) = (flow, sub) {
        return Err(format!(
            "group_by {} and {} cannot be combined: click figures by flow dimension \
             (region, rule, lander, offer, device, os, browser) and by sub-ID come from \
             two pre-aggregates that do not share a key",
            flow.name(),
            sub.name()
        ));
    }
    let windows = offsets.day_windows(from, to);
    Ok(ReportQuery {
        from,
        to,
        tz: tz_name,
        group_by,
        windows,
    })
}

/// `[label, start_ms, end_ms)` for each local day of the query, as the SQL reads them:
/// a day starts at local midnight (the first instant of the day where a DST change skips
/// midnight; the first of two midnights where it repeats), so DST days are 23 or 25
/// hours long.
pub fn day_windows(query: &ReportQuery) -> Vec<(String, i64, i64)> {
    query.windows.clone()
}

/// Whether click figures apply (clicks have no network or event).
pub fn clicks_apply(query: &ReportQuery) -> bool {
    !query
        .group_by
        .iter()
        .any(|k| matches!(k, GroupKey::Network | GroupKey::Event))
}

#[derive(Debug, Default, Clone)]
struct Figures {
    clicks: i64,
    bot_clicks: i64,
    lp_views: i64,
    lp_clicks: i64,
    impressions: i64,
    conversions: i64,
    approved: i64,
    revenue: VecMap<String, i64>,
    pending_revenue: VecMap<String, i64>,
    duplicates: i64,
    refused: VecMap<String, i64>,
    /// Cost per currency (docs/costs.md), in micro-units.
    cost: VecMap<String, i64>,
}

/// The grouping key columns of one report row, in the order of [`KEYS`] (null when not
/// grouped, or not known to the read: the flow dimensions of the sub-ID pre-aggregate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowKeys(pub [Option<String>; 22]);

impl RowKeys {
    fn read(c: &crate::store::Columns<'_>) -> Self {
        RowKeys(KEYS.map(|(name, _)| c.opt_text(name)))
    }

    /// The value of grouping key `key` in this row (null when not grouped).
    fn value(&self, key: GroupKey) -> Value {
        self.0
            .get(key.column())
            .cloned()
            .flatten()
            .map_or(Value::Null, Value::String)
    }
}

// The rows of the report's reads (`store::report_statements`), typed: a renamed
// or missing column is an error (unknown fields are refused, figures are required), never
// a silent 0.
macro_rules! report_row {
    ($(#[$doc:meta])* $name:ident { $($field:ident : $type:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            pub keys: RowKeys,
            $(pub $field: $type,)*
        }

        impl crate::store::FromRow for $name {
            fn from_row(row: &crate::store::Row) -> Result<Self, String> {
                let c = crate::store::Columns::new(row);
                let mut known: Vec<&str> = KEYS.iter().map(|(name, _)| *name).collect();
                known.extend([$(stringify!($field)),*]);
                c.only(&known);
                c.finish(Self {
                    keys: RowKeys::read(&c),
                    $($field: <$type as crate::store::Column>::read(&c, stringify!($field)),)*
                })
            }
        }
    };
}

report_row!(
    /// Clicks, bot clicks, landing views and landing clicks of one group (from the
    /// pre-aggregates; the pixel's impressions from their own read, docs/costs.md), and
    /// their tracked cost outside manual entries in its currency
    /// (docs/costs.md; none without one).
    ClickFigureRow {
        clicks: i64,
        bot_clicks: i64,
        lp_views: i64,
        lp_clicks: i64,
        impressions: Option<i64>,
        cost_currency: Option<String>,
        cost_micros: Option<i64>,
    }
);
report_row!(
    /// Conversions of one group in one currency.
    ConversionFigureRow {
        currency: String,
        conversions: i64,
        approved: i64,
        revenue_micros: i64,
        pending_micros: i64,
    }
);
report_row!(
    /// Duplicates or refusals of one outcome in one group.
    PostbackFigureRow { outcome: String, postbacks: i64 }
);
report_row!(
    /// Cost of one group in one currency (docs/costs.md): tracked click, impression and
    /// conversion costs outside manual entries, and the entries' spread parts.
    CostFigureRow { currency: String, cost_micros: i64 }
);

fn rate(numerator: i64, denominator: i64) -> Value {
    if denominator <= 0 {
        return Value::Null;
    }
    // Six decimals, rounded half up, computed in integers.
    let scaled = (i128::from(numerator) * 2_000_000 + i128::from(denominator))
        / (2 * i128::from(denominator));
    json!(format_micros(i64::try_from(scaled).unwrap_or(i64::MAX)))
}

/// `numerator / denominator` with six decimals, rounded half away from zero (signed:
/// ROI is negative at a loss); `null` for a denominator ≤ 0.
fn signed_rate(numerator: i64, denominator: i64) -> Value {
    if denominator <= 0 {
        return Value::Null;
    }
    let scaled = i128::from(numerator) * 2_000_000;
    let denominator = i128::from(denominator);
    let quotient = (scaled + scaled.signum() * denominator) / (2 * denominator);
    let clamped = i64::try_from(quotient).unwrap_or(if quotient < 0 { i64::MIN } else { i64::MAX });
    json!(format_micros(clamped))
}

/// Money per unit (EPC, CPC, CPA): each currency's micro-units divided by `count`,
/// truncated to the micro-unit as EPC always was; `null` when `count` ≤ 0.
fn per(map: &VecMap<String, i64>, count: i64) -> Value {
    if count <= 0 {
        return Value::Null;
    }
    map.iter()
        .map(|(currency, micros)| (currency.clone(), json!(format_micros(micros / count))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn money(map: &VecMap<String, i64>) -> Value {
    map.iter()
        .map(|(currency, micros)| (currency.clone(), json!(format_micros(*micros))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

impl Figures {
    /// Revenue − cost in every currency of either (no conversion between currencies).
    fn profit(&self) -> VecMap<String, i64> {
        let mut profit = self.revenue.clone();
        for (currency, cost) in &self.cost {
            let entry = profit.entry(currency.clone()).or_default();
            *entry = entry.saturating_sub(*cost);
        }
        profit
    }

    /// Profit / cost, when revenue and cost are in one and the same currency and the
    /// cost is above 0; `null` otherwise (a ratio across currencies would need an
    /// exchange rate the tracker does not have).
    fn roi(&self) -> Value {
        let mut currencies = self.revenue.keys().chain(self.cost.keys());
        let Some(first) = currencies.next() else {
            return Value::Null;
        };
        if currencies.any(|other| other != first) {
            return Value::Null;
        }
        let cost = self.cost.get(first).copied().unwrap_or_default();
        let revenue = self.revenue.get(first).copied().unwrap_or_default();
        signed_rate(revenue.saturating_sub(cost), cost)
    }

    fn to_json(&self, with_clicks: bool) -> Value {
        let epc: serde_json::Map<String, Value> = self
            .revenue
            .iter()
            .map(|(currency, micros)| {
                let per_click = if self.clicks > 0 {
                    Some(micros / self.clicks)
                } else {
                    None
                };
                (
                    currency.clone(),
                    per_click.map_or(Value::Null, |m| json!(format_micros(m))),
                )
            })
            .collect();
        json!({
            "clicks": if with_clicks { json!(self.clicks) } else { Value::Null },
            "bot_clicks": if with_clicks { json!(self.bot_clicks) } else { Value::Null },
            "conversions": self.conversions,
            "approved": self.approved,
            "revenue": money(&self.revenue),
            "pending_revenue": money(&self.pending_revenue),
            "cr": if with_clicks { rate(self.conversions, self.clicks) } else { Value::Null },
            "epc": if with_clicks { Value::Object(epc) } else { Value::Null },
            "lp_views": if with_clicks { json!(self.lp_views) } else { Value::Null },
            "lp_clicks": if with_clicks { json!(self.lp_clicks) } else { Value::Null },
            "lp_ctr": if with_clicks { rate(self.lp_clicks, self.lp_views) } else { Value::Null },
            "impressions": if with_clicks { json!(self.impressions) } else { Value::Null },
            "ctr": if with_clicks { rate(self.clicks, self.impressions) } else { Value::Null },
            "approval_rate": rate(self.approved, self.conversions),
            "duplicates": self.duplicates,
            "refused_postbacks": self.refused,
            "cost": if with_clicks { money(&self.cost) } else { Value::Null },
            "profit": if with_clicks { money(&self.profit()) } else { Value::Null },
            "roi": if with_clicks { self.roi() } else { Value::Null },
            "cpa": if with_clicks { per(&self.cost, self.approved) } else { Value::Null },
            "cpc": if with_clicks { per(&self.cost, self.clicks) } else { Value::Null },
        })
    }

    fn add(&mut self, other: &Figures) {
        self.clicks += other.clicks;
        self.bot_clicks += other.bot_clicks;
        self.lp_views += other.lp_views;
        self.lp_clicks += other.lp_clicks;
        self.impressions = self.impressions.saturating_add(other.impressions);
        self.conversions += other.conversions;
        self.approved += other.approved;
        for (c, m) in &other.revenue {
            *self.revenue.entry(c.clone()).or_default() += m;
        }
        for (c, m) in &other.pending_revenue {
            *self.pending_revenue.entry(c.clone()).or_default() += m;
        }
        self.duplicates += other.duplicates;
        for (o, n) in &other.refused {
            *self.refused.entry(o.clone()).or_default() += n;
        }
        for (c, m) in &other.cost {
            let entry = self.cost.entry(c.clone()).or_default();
            *entry = entry.saturating_add(*m);
        }
    }
}

/// Builds the report from the click, conversion and log rows of
/// `store::report_statements`, without
/// costs ([`assemble_with_costs`]).
pub fn assemble(
    query: &ReportQuery,
    clicks: &[ClickFigureRow],
    conversions: &[ConversionFigureRow],
    log: &[PostbackFigureRow],
) -> Value {
    assemble_with_costs(query, clicks, conversions, log, &[])
}

/// Builds the report from the click, conversion and log rows of
/// `store::report_statements` and the cost
/// rows (docs/costs.md: tracked costs outside manual entries, plus the entries' parts from
/// `cost::allocate`, each grouped by the query's keys). Costs are a campaign's spend, not
/// a network's or an event's: grouped by either, they are left out like clicks.
pub fn assemble_with_costs(
    query: &ReportQuery,
    clicks: &[ClickFigureRow],
    conversions: &[ConversionFigureRow],
    log: &[PostbackFigureRow],
    costs: &[CostFigureRow],
) -> Value {
    let with_clicks = clicks_apply(query);
    macro_rules! key_of {
        ($row:expr) => {
            query
                .group_by
                .iter()
                .map(|key| $row.keys.value(*key))
                .collect::<Vec<Value>>()
        };
    }
    // The rows by key: each key's figures in `rows`, found by the key's JSON text in
    // `index`, whose order (the text's) is the rows' order. The index is serde_json's own
    // map, linked anyway: a map of another value type would be 6 KB more wasm.
    #[derive(Default)]
    struct Groups {
        index: serde_json::Map<String, Value>,
        rows: Vec<(Vec<Value>, Figures)>,
    }
    fn group(groups: &mut Groups, key: Vec<Value>) -> &mut Figures {
        let text = serde_json::to_string(&key).unwrap_or_default();
        let found = groups.index.get(&text).and_then(Value::as_u64);
        let at = match found.and_then(|at| usize::try_from(at).ok()) {
            Some(at) => at,
            None => {
                let at = groups.rows.len();
                groups.index.insert(text, Value::from(at));
                groups.rows.push((key, Figures::default()));
                at
            }
        };
        // In bounds: every index entry names a row pushed with it.
        &mut groups.rows[at].1
    }
    let mut groups = Groups::default();
    if with_clicks {
        for row in clicks {
            let figures = group(&mut groups, key_of!(row));
            figures.clicks += row.clicks;
            figures.bot_clicks += row.bot_clicks;
            figures.lp_views += row.lp_views;
            figures.lp_clicks += row.lp_clicks;
            figures.impressions = figures
                .impressions
                .saturating_add(row.impressions.unwrap_or_default());
            if let Some(currency) = &row.cost_currency {
                let entry = figures.cost.entry(currency.clone()).or_default();
                *entry = entry.saturating_add(row.cost_micros.unwrap_or_default());
            }
        }
    }
    for row in conversions {
        let currency = row.currency.clone();
        let figures = group(&mut groups, key_of!(row));
        figures.conversions += row.conversions;
        figures.approved += row.approved;
        let revenue = row.revenue_micros;
        let pending = row.pending_micros;
        if revenue != 0 || row.approved > 0 {
            *figures.revenue.entry(currency.clone()).or_default() += revenue;
        }
        if pending != 0 {
            *figures.pending_revenue.entry(currency).or_default() += pending;
        }
    }
    if with_clicks {
        for row in costs {
            let figures = group(&mut groups, key_of!(row));
            let entry = figures.cost.entry(row.currency.clone()).or_default();
            *entry = entry.saturating_add(row.cost_micros);
        }
    }
    for row in log {
        let outcome = row.outcome.clone();
        let figures = group(&mut groups, key_of!(row));
        let count = row.postbacks;
        if outcome == "duplicate" {
            figures.duplicates += count;
        } else {
            *figures.refused.entry(outcome).or_default() += count;
        }
    }
    // By day alone, every day of the range is a row: a day without traffic is a row of
    // zeros, not a gap a reader (or a chart) has to notice.
    if query.group_by == [GroupKey::Day] {
        for (label, _, _) in day_windows(query) {
            group(&mut groups, vec![Value::String(label)]);
        }
    }
    let mut total = Figures::default();
    let rows: Vec<Value> = groups
        .index
        .values()
        .filter_map(|at| groups.rows.get(usize::try_from(at.as_u64()?).ok()?))
        .map(|(key, figures)| {
            total.add(figures);
            let mut row = serde_json::Map::new();
            for (name, value) in query.group_by.iter().zip(key) {
                row.insert(name.name(), value.clone());
            }
            if let Value::Object(metrics) = figures.to_json(with_clicks) {
                row.extend(metrics);
            }
            Value::Object(row)
        })
        .collect();
    json!({
        "from": query.from.to_string(),
        "to": query.to.to_string(),
        "tz": query.tz,
        "group_by": query.group_by.iter().map(|k| k.name()).collect::<Vec<_>>(),
        "rows": rows,
        "total": total.to_json(with_clicks),
    })
}

/// Each entry's local days, `(entry index, campaign, start_ms, end_ms)`: the windows of
/// the spread's reads (`store::entry_clicks`).
pub fn entry_windows(
    rules: &dyn ZoneRules,
    entries: &[crate::cost::CostEntry],
) -> Vec<(usize, String, i64, i64)> {
    let mut windows = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let mut offsets = ZoneOffsets::new(rules, &entry.tz);
        for (_, start, end) in offsets.day_windows(entry.from, entry.to) {
            windows.push((index, entry.campaign.clone(), start, end));
        }
    }
    windows
}

/// The manual entries' parts that fall in the report (docs/costs.md, "the spread"): each
/// entry's amount over its days' click rows (`days`, from every click database), and,
/// for a report in another zone than the entry's, each part over its row's 15-minute
/// buckets (`buckets`); a period without clicks evenly over its buckets. Rows of the same
/// key from several databases add up first, and go in order of day and key.
pub fn entry_costs(
    query: &ReportQuery,
    entries: &[crate::cost::CostEntry],
    windows: &[(usize, String, i64, i64)],
    days: &[crate::store::EntryClicks],
    buckets: &[crate::store::EntryClicks],
) -> Vec<CostFigureRow> {
    use crate::cost::{allocate, spread, Allocation};
    type Key = [String; 11];
    // Rows of the same entry, day (or bucket) and key added up, in that order: sorted and
    // merged in a `Vec` rather than a `BTreeMap` of their own (6 KB of wasm).
    let add_up = |rows: &[crate::store::EntryClicks]| {
        let mut sums: Vec<((usize, i64, Key), u64)> = rows
            .iter()
            .map(|row| ((row.entry, row.at, row.key.clone()), row.clicks))
            .collect();
        sums.sort_by(|a, b| a.0.cmp(&b.0));
        sums.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = kept.1.saturating_add(later.1);
            }
            same
        });
        sums
    };
    let (by_day, by_bucket) = (add_up(days), add_up(buckets));
    let mut out = Vec::new();
    let mut push = |entry: &crate::cost::CostEntry, at: i64, key: Option<&Key>, cost: i64| {
        let Some((label, _, _)) = query.windows.iter().find(|(_, s, e)| *s <= at && at < *e) else {
            return;
        };
        let text = |n: usize| {
            key.and_then(|key| key.get(n))
                .filter(|value| !value.is_empty())
                .cloned()
        };
        // Day, campaign, then country and sub-IDs from column 4 of the keys: network,
        // event and the flow dimensions are null (docs/report.md).
        let keys = std::array::from_fn(|column| match column {
            0 => Some(label.clone()),
            1 => Some(entry.campaign.clone()),
            4..=14 => text(column.saturating_sub(4)),
            _ => None,
        });
        out.push(CostFigureRow {
            keys: RowKeys(keys),
            currency: entry.currency.to_string(),
            cost_micros: cost,
        });
    };
    for (index, entry) in entries.iter().enumerate() {
        let rows: Vec<(&(usize, i64, Key), u64)> = by_day
            .iter()
            .filter(|(k, _)| k.0 == index)
            .map(|(k, clicks)| (k, *clicks))
            .collect();
        let weights: Vec<u64> = rows.iter().map(|(_, clicks)| *clicks).collect();
        match allocate(entry, &weights) {
            Allocation::ByClicks(parts) => {
                for ((&(_, day, ref key), _), part) in rows.iter().zip(parts) {
                    if entry.tz == query.tz {
                        push(entry, day, Some(key), part);
                        continue;
                    }
                    // The second stage: the day's part over its buckets by their clicks.
                    let end = windows
                        .iter()
                        .find(|w| w.0 == index && w.2 == day)
                        .map_or(day, |w| w.3);
                    let inside: Vec<(i64, u64)> = by_bucket
                        .iter()
                        .filter(|(k, _)| k.0 == index && day <= k.1 && k.1 < end && k.2 == *key)
                        .map(|(k, clicks)| (k.1, *clicks))
                        .collect();
                    let weights: Vec<u64> = inside.iter().map(|(_, clicks)| *clicks).collect();
                    match spread(part, &weights) {
                        Some(parts) => {
                            for ((bucket, _), part) in inside.iter().zip(parts) {
                                push(entry, *bucket, Some(key), part);
                            }
                        }
                        None => push(entry, day, Some(key), part),
                    }
                }
            }
            Allocation::ByTime(parts) => {
                for (bucket, part) in parts {
                    push(entry, bucket, None, part);
                }
            }
        }
    }
    out
}

// The tests take zone rules from chrono-tz, which only native builds have.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
