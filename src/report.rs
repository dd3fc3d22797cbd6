//! The report (SPEC §9): clicks, bot clicks, conversions, approved, revenue, pending
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
//! - clicks have no network or event: grouped by either, click figures are `null`.

use crate::money::format_micros;
use chrono::{Days, NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Longest report, in days.
pub const MAX_DAYS: u64 = 366;

/// A grouping key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupKey {
    Day,
    Campaign,
    Network,
    Event,
    Sub(u8),
}

impl GroupKey {
    pub fn name(self) -> String {
        match self {
            GroupKey::Day => "day".into(),
            GroupKey::Campaign => "campaign".into(),
            GroupKey::Network => "network".into(),
            GroupKey::Event => "event".into(),
            GroupKey::Sub(n) => format!("sub{n}"),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "day" => Some(GroupKey::Day),
            "campaign" => Some(GroupKey::Campaign),
            "network" => Some(GroupKey::Network),
            "event" => Some(GroupKey::Event),
            other => match crate::config::ClickField::from_name(other) {
                Some(crate::config::ClickField::Sub(n)) => Some(GroupKey::Sub(n)),
                _ => None,
            },
        }
    }
}

/// A parsed report request.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub tz: Tz,
    pub group_by: Vec<GroupKey>,
}

/// Parses `from`, `to`, `tz`, `group_by`. Defaults: the last 7 local days to today
/// (`today` is the caller's local date in `tz`), the configured zone, grouping by day.
pub fn parse_query(
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
    let tz: Tz = tz_name
        .parse()
        .map_err(|_| format!("tz {tz_name:?} is not an IANA time zone name"))?;
    let today = tz
        .timestamp_millis_opt(now_ms)
        .single()
        .map(|t| t.date_naive())
        .ok_or("clock out of range")?;
    let date = |name: &str, default: NaiveDate| -> Result<NaiveDate, String> {
        match get(name) {
            None => Ok(default),
            Some(text) => NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                .ok()
                .filter(|_| text.len() == 10)
                .ok_or_else(|| format!("{name} must be a date as YYYY-MM-DD")),
        }
    };
    let to = date("to", today)?;
    let from = date("from", to.checked_sub_days(Days::new(6)).unwrap_or(to))?;
    if from > to {
        return Err("from is after to".into());
    }
    if (to - from).num_days() >= MAX_DAYS as i64 {
        return Err(format!("at most {MAX_DAYS} days per report"));
    }
    let mut group_by = Vec::new();
    for name in get("group_by").unwrap_or_else(|| "day".into()).split(',') {
        let name = name.trim();
        let key = GroupKey::parse(name).ok_or_else(|| {
            format!("group_by {name:?} is not one of day, campaign, network, event, sub1 … sub10")
        })?;
        if !group_by.contains(&key) {
            group_by.push(key);
        }
    }
    Ok(ReportQuery {
        from,
        to,
        tz,
        group_by,
    })
}

/// The UTC instant of local midnight starting `date` (the first existing local instant
/// of that day, where a DST change skips midnight).
fn local_midnight_ms(tz: Tz, date: NaiveDate) -> Option<i64> {
    (0..24).find_map(|hour| {
        let local = date.and_hms_opt(hour, 0, 0)?;
        tz.from_local_datetime(&local)
            .earliest()
            .map(|t| t.timestamp_millis())
    })
}

/// `[label, start_ms, end_ms)` for each local day of the query, as the SQL reads them.
pub fn day_windows(query: &ReportQuery) -> Vec<(String, i64, i64)> {
    let mut windows = Vec::new();
    let mut day = query.from;
    while day <= query.to {
        let Some(next) = day.checked_add_days(Days::new(1)) else {
            break;
        };
        // A day its zone skipped (Samoa's 2011-12-30) has no midnight and no window;
        // the day before it runs to the next midnight that exists, so none is lost.
        let end = next
            .iter_days()
            .take(3)
            .find_map(|later| local_midnight_ms(query.tz, later));
        if let (Some(start), Some(end)) = (local_midnight_ms(query.tz, day), end) {
            windows.push((day.format("%Y-%m-%d").to_string(), start, end));
        }
        day = next;
    }
    windows
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
    conversions: i64,
    approved: i64,
    revenue: BTreeMap<String, i64>,
    pending_revenue: BTreeMap<String, i64>,
    duplicates: i64,
    refused: BTreeMap<String, i64>,
}

fn int(row: &Value, name: &str) -> i64 {
    row.get(name).and_then(Value::as_i64).unwrap_or(0)
}

fn rate(numerator: i64, denominator: i64) -> Value {
    if denominator <= 0 {
        return Value::Null;
    }
    // Six decimals, rounded half up, computed in integers.
    let scaled = (i128::from(numerator) * 2_000_000 + i128::from(denominator))
        / (2 * i128::from(denominator));
    json!(format_micros(i64::try_from(scaled).unwrap_or(i64::MAX)))
}

fn money(map: &BTreeMap<String, i64>) -> Value {
    map.iter()
        .map(|(currency, micros)| (currency.clone(), json!(format_micros(*micros))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

impl Figures {
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
            "approval_rate": rate(self.approved, self.conversions),
            "duplicates": self.duplicates,
            "refused_postbacks": self.refused,
        })
    }

    fn add(&mut self, other: &Figures) {
        self.clicks += other.clicks;
        self.bot_clicks += other.bot_clicks;
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
    }
}

/// Builds the report from the three row sets of `store::report_statements`.
pub fn assemble(
    query: &ReportQuery,
    clicks: &[Value],
    conversions: &[Value],
    log: &[Value],
) -> Value {
    let with_clicks = clicks_apply(query);
    let key_of = |row: &Value| -> Vec<Value> {
        query
            .group_by
            .iter()
            .map(|key| row.get(key.name()).cloned().unwrap_or(Value::Null))
            .collect()
    };
    type Groups = BTreeMap<String, (Vec<Value>, Figures)>;
    fn group(groups: &mut Groups, key: Vec<Value>) -> &mut Figures {
        let text = serde_json::to_string(&key).unwrap_or_default();
        &mut groups
            .entry(text)
            .or_insert_with(|| (key, Figures::default()))
            .1
    }
    let mut groups = Groups::new();
    if with_clicks {
        for row in clicks {
            let figures = group(&mut groups, key_of(row));
            figures.clicks += int(row, "clicks");
            figures.bot_clicks += int(row, "bot_clicks");
        }
    }
    for row in conversions {
        let currency = row
            .get("currency")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let figures = group(&mut groups, key_of(row));
        figures.conversions += int(row, "conversions");
        figures.approved += int(row, "approved");
        let revenue = int(row, "revenue_micros");
        let pending = int(row, "pending_micros");
        if revenue != 0 || int(row, "approved") > 0 {
            *figures.revenue.entry(currency.clone()).or_default() += revenue;
        }
        if pending != 0 {
            *figures.pending_revenue.entry(currency).or_default() += pending;
        }
    }
    for row in log {
        let outcome = row
            .get("outcome")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let figures = group(&mut groups, key_of(row));
        let count = int(row, "postbacks");
        if outcome == "duplicate" {
            figures.duplicates += count;
        } else {
            *figures.refused.entry(outcome).or_default() += count;
        }
    }
    let mut total = Figures::default();
    let rows: Vec<Value> = groups
        .values()
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
        "from": query.from.format("%Y-%m-%d").to_string(),
        "to": query.to.format("%Y-%m-%d").to_string(),
        "tz": query.tz.name(),
        "group_by": query.group_by.iter().map(|k| k.name()).collect::<Vec<_>>(),
        "rows": rows,
        "total": total.to_json(with_clicks),
    })
}

#[cfg(test)]
mod tests;
