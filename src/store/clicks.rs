//! Writing clicks (docs/clicks.md): one batch stores a window's click rows, counts them
//! into the report's pre-aggregates, and completes every conversion that was recorded
//! before its click row existed. Because the record step and this batch are both D1
//! transactions, one of them always sees the other: a conversion is attributed either
//! when it is recorded (the click row is there) or when its click row lands (here).

use super::{SqlValue, Statement};
use crate::click::ClickRecord;
use serde::Serialize;

/// Bytes of click rows' JSON per statement: one bound value, a quarter of D1's 2 MB limit
/// on a string. A row is at most about 6 KiB (ten 512-byte sub-IDs and a 512-byte
/// User-Agent), so a chunk holds at least 80 rows, and about 1,000 typical ones: a
/// window's rows are one chunk, and every statement of the batch runs once, not once per
/// 25 rows as before (docs/performance.md).
pub const CLICK_JSON_BYTES_PER_STATEMENT: usize = 512 * 1024;

/// Width of a pre-aggregate time bucket: 15 minutes. Every IANA zone's offset in use is
/// a multiple of 15 minutes (:30 and :45 zones included), so every local day is a whole
/// number of buckets and report days stay exact.
pub const ROLLUP_BUCKET_MS: u64 = 900_000;

/// How long the deliveries of an unattributed conversion wait for its click row. Past
/// this a destination without a campaign filter gets what is known; one with a campaign
/// filter keeps waiting (the campaign decides whether it should get the conversion).
pub const DELIVERY_HOLD_MS: u64 = 10 * 60 * 1000;

/// One click row as stored. `payout_micros` and `currency` are the campaign's own
/// defaults at click time (none when the campaign sets none); `is_test` marks the
/// postback tester's clicks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClickRow {
    pub click_id: String,
    pub campaign: String,
    pub created_at: u64,
    #[serde(flatten)]
    pub subs: crate::click::SubIds,
    pub external_id: Option<String>,
    pub country: Option<String>,
    pub asn: Option<u32>,
    pub colo: Option<String>,
    pub user_agent: Option<String>,
    pub ip_hash: Option<String>,
    pub is_bot: u8,
    pub bot_reason: Option<String>,
    pub payout_micros: Option<i64>,
    pub currency: Option<String>,
    pub is_test: u8,
    /// The flow rule and offer the click went to (docs/flows.md); absent in rows spilled
    /// before flows existed (read back as `None`).
    pub rule: Option<String>,
    pub offer: Option<String>,
    /// The landing page shown before the offer (docs/flows.md, "Landing pages"), and,
    /// in a landing click's row (`/go/…`), when its call-to-action was followed.
    pub lander: Option<String>,
    pub landed_at: Option<u64>,
    /// The click's cost and its currency (docs/costs.md: `cpc`, `auto`), none when the
    /// campaign tracks no click cost.
    pub cost_micros: Option<i64>,
    pub cost_currency: Option<String>,
    /// The cost terms of its conversions (`cpa`, `revshare`), none for other models.
    pub cpa_micros: Option<i64>,
    pub revshare_ppm: Option<i64>,
    /// The report's flow dimensions besides rule, lander and offer (docs/report.md): the
    /// visitor's region code, and the device type, OS and browser families of its
    /// User-Agent by name; absent in rows spilled before they existed.
    pub region: Option<String>,
    pub device: Option<String>,
    pub os: Option<String>,
    pub browser: Option<String>,
}

/// Read back from its JSON (a spilled batch, `runtime::click`): the sub-IDs are
/// top-level columns `sub1` … `sub10`, as `Serialize` flattens them.
impl super::FromRow for ClickRow {
    fn from_row(row: &super::Row) -> Result<Self, String> {
        let c = super::Columns::new(row);
        c.finish(Self {
            click_id: c.text("click_id"),
            campaign: c.text("campaign"),
            created_at: c.uint("created_at"),
            subs: crate::click::SubIds::from_array([
                c.opt_text("sub1"),
                c.opt_text("sub2"),
                c.opt_text("sub3"),
                c.opt_text("sub4"),
                c.opt_text("sub5"),
                c.opt_text("sub6"),
                c.opt_text("sub7"),
                c.opt_text("sub8"),
                c.opt_text("sub9"),
                c.opt_text("sub10"),
            ]),
            external_id: c.opt_text("external_id"),
            country: c.opt_text("country"),
            asn: c.opt_uint("asn"),
            colo: c.opt_text("colo"),
            user_agent: c.opt_text("user_agent"),
            ip_hash: c.opt_text("ip_hash"),
            is_bot: c.uint("is_bot"),
            bot_reason: c.opt_text("bot_reason"),
            payout_micros: c.opt_int("payout_micros"),
            currency: c.opt_text("currency"),
            is_test: c.uint("is_test"),
            rule: c.opt_text("rule"),
            offer: c.opt_text("offer"),
            lander: c.opt_text("lander"),
            landed_at: c.opt_uint("landed_at"),
            cost_micros: c.opt_int("cost_micros"),
            cost_currency: c.opt_text("cost_currency"),
            cpa_micros: c.opt_int("cpa_micros"),
            revshare_ppm: c.opt_int("revshare_ppm"),
            region: c.opt_text("region"),
            device: c.opt_text("device"),
            os: c.opt_text("os"),
            browser: c.opt_text("browser"),
        })
    }
}

/// The row for `record`, with the campaign's defaults at click time.
pub fn click_row(
    record: &ClickRecord,
    payout_micros: Option<i64>,
    currency: Option<&str>,
    is_test: bool,
) -> ClickRow {
    let [device, os, browser] = record.agent.names().map(|name| Some(name.to_string()));
    ClickRow {
        click_id: record.click_id.clone(),
        campaign: record.campaign.clone(),
        created_at: record.created_at_ms,
        subs: crate::click::SubIds::from_array(record.subs.clone()),
        external_id: record.external_id.clone(),
        country: record.country.clone(),
        asn: record.asn,
        colo: record.colo.clone(),
        user_agent: record.user_agent.clone(),
        ip_hash: record.ip_hash.clone(),
        is_bot: u8::from(record.bot_reason.is_some()),
        bot_reason: record.bot_reason.clone(),
        payout_micros,
        currency: currency.map(str::to_string),
        is_test: u8::from(is_test),
        rule: record.rule.clone(),
        offer: record.offer.clone(),
        lander: record.lander.clone(),
        landed_at: record.landed_at_ms,
        cost_micros: None,
        cost_currency: None,
        cpa_micros: None,
        revshare_ppm: None,
        region: record.region.clone(),
        device,
        os,
        browser,
    }
}

// The key of a click pre-aggregate row (campaign, country and the sub-ID tuple, '' for
// an absent value) from click columns of alias `$t`, as every count statement writes it.
macro_rules! tuple_key {
    ($t:literal) => {
        concat!(
            $t,
            ".campaign, COALESCE(",
            $t,
            ".country, ''), COALESCE(",
            $t,
            ".sub1, ''), ",
            "COALESCE(",
            $t,
            ".sub2, ''), COALESCE(",
            $t,
            ".sub3, ''), COALESCE(",
            $t,
            ".sub4, ''), ",
            "COALESCE(",
            $t,
            ".sub5, ''), COALESCE(",
            $t,
            ".sub6, ''), COALESCE(",
            $t,
            ".sub7, ''), ",
            "COALESCE(",
            $t,
            ".sub8, ''), COALESCE(",
            $t,
            ".sub9, ''), COALESCE(",
            $t,
            ".sub10, '')"
        )
    };
}

// Where each column of a click row is in its positional JSON (an array per row, see
// [`PositionalRow`]): the statements read `value ->> n` rather than `value ->> '$.name'`,
// which made SQLite parse the row's JSON object again for every column (a 350-row
// window: 22 ms by name, 11 ms by position, natively; docs/performance.md).
// `PositionalRow` writes the same order; `click_rows_read_by_position_equal_the_named_row`
// holds the two together.
macro_rules! column_index {
    ("click_id") => {
        "0"
    };
    ("campaign") => {
        "1"
    };
    ("created_at") => {
        "2"
    };
    ("sub1") => {
        "3"
    };
    ("sub2") => {
        "4"
    };
    ("sub3") => {
        "5"
    };
    ("sub4") => {
        "6"
    };
    ("sub5") => {
        "7"
    };
    ("sub6") => {
        "8"
    };
    ("sub7") => {
        "9"
    };
    ("sub8") => {
        "10"
    };
    ("sub9") => {
        "11"
    };
    ("sub10") => {
        "12"
    };
    ("external_id") => {
        "13"
    };
    ("country") => {
        "14"
    };
    ("asn") => {
        "15"
    };
    ("colo") => {
        "16"
    };
    ("user_agent") => {
        "17"
    };
    ("ip_hash") => {
        "18"
    };
    ("is_bot") => {
        "19"
    };
    ("bot_reason") => {
        "20"
    };
    ("payout_micros") => {
        "21"
    };
    ("currency") => {
        "22"
    };
    ("is_test") => {
        "23"
    };
    ("rule") => {
        "24"
    };
    ("offer") => {
        "25"
    };
    ("lander") => {
        "26"
    };
    ("landed_at") => {
        "27"
    };
    ("cost_micros") => {
        "28"
    };
    ("cost_currency") => {
        "29"
    };
    ("cpa_micros") => {
        "30"
    };
    ("revshare_ppm") => {
        "31"
    };
    ("region") => {
        "32"
    };
    ("device") => {
        "33"
    };
    ("os") => {
        "34"
    };
    ("browser") => {
        "35"
    };
}

// Some columns of the rows of one statement (`?1`: a JSON array of positional rows): the
// click ID and `$field`s, named `$alias` (`r` where they are written, `k` where
// conversions are completed from them).
macro_rules! click_row_fields {
    ($alias:tt $(, $field:tt)*) => {
        concat!(
            "(SELECT value ->> 0 AS click_id",
            $(", value ->> ", column_index!($field), " AS ", $field,)*
            " FROM json_each(?1)) ",
            $alias
        )
    };
}

// Every column of the rows of one statement, named `$alias`.
macro_rules! click_rows {
    ($alias:literal) => {
        click_row_fields!(
            $alias,
            "campaign",
            "created_at",
            "sub1",
            "sub2",
            "sub3",
            "sub4",
            "sub5",
            "sub6",
            "sub7",
            "sub8",
            "sub9",
            "sub10",
            "external_id",
            "country",
            "asn",
            "colo",
            "user_agent",
            "ip_hash",
            "is_bot",
            "bot_reason",
            "payout_micros",
            "currency",
            "is_test",
            "rule",
            "offer",
            "lander",
            "landed_at",
            "cost_micros",
            "cost_currency",
            "cpa_micros",
            "revshare_ppm",
            "region",
            "device",
            "os",
            "browser"
        )
    };
}

/// Every column of a positional row, as the statements read them (for the test that holds
/// [`column_index`] and [`PositionalRow`] together).
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(super) const SELECT_POSITIONAL_ROWS: &str = concat!("SELECT * FROM ", click_rows!("r"));

/// A click row as the click statements read it: a JSON array in [`column_index`]'s order
/// (half the bytes of the named object, and read by position).
pub struct PositionalRow<'a>(pub &'a ClickRow);

impl Serialize for PositionalRow<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(36))?;
        seq.serialize_element(&self.0.click_id)?;
        seq.serialize_element(&self.0.campaign)?;
        seq.serialize_element(&self.0.created_at)?;
        seq.serialize_element(&self.0.subs.sub1)?;
        seq.serialize_element(&self.0.subs.sub2)?;
        seq.serialize_element(&self.0.subs.sub3)?;
        seq.serialize_element(&self.0.subs.sub4)?;
        seq.serialize_element(&self.0.subs.sub5)?;
        seq.serialize_element(&self.0.subs.sub6)?;
        seq.serialize_element(&self.0.subs.sub7)?;
        seq.serialize_element(&self.0.subs.sub8)?;
        seq.serialize_element(&self.0.subs.sub9)?;
        seq.serialize_element(&self.0.subs.sub10)?;
        seq.serialize_element(&self.0.external_id)?;
        seq.serialize_element(&self.0.country)?;
        seq.serialize_element(&self.0.asn)?;
        seq.serialize_element(&self.0.colo)?;
        seq.serialize_element(&self.0.user_agent)?;
        seq.serialize_element(&self.0.ip_hash)?;
        seq.serialize_element(&self.0.is_bot)?;
        seq.serialize_element(&self.0.bot_reason)?;
        seq.serialize_element(&self.0.payout_micros)?;
        seq.serialize_element(&self.0.currency)?;
        seq.serialize_element(&self.0.is_test)?;
        seq.serialize_element(&self.0.rule)?;
        seq.serialize_element(&self.0.offer)?;
        seq.serialize_element(&self.0.lander)?;
        seq.serialize_element(&self.0.landed_at)?;
        seq.serialize_element(&self.0.cost_micros)?;
        seq.serialize_element(&self.0.cost_currency)?;
        seq.serialize_element(&self.0.cpa_micros)?;
        seq.serialize_element(&self.0.revshare_ppm)?;
        seq.serialize_element(&self.0.region)?;
        seq.serialize_element(&self.0.device)?;
        seq.serialize_element(&self.0.os)?;
        seq.serialize_element(&self.0.browser)?;
        seq.end()
    }
}

// The columns a pre-aggregate count reads from the rows, besides its key's.
macro_rules! counted_rows {
    ($($key:tt),*) => {
        click_row_fields!(
            "r", "created_at", "campaign", "country", $($key,)* "is_bot", "is_test", "lander",
            "landed_at", "cost_micros", "cost_currency"
        )
    };
}

// The cost columns of a pre-aggregate count (docs/costs.md): the clicks' costs summed, and
// their currency (not in the key: one per campaign; the latest non-empty one wins).
macro_rules! rollup_cost {
    () => {
        "COALESCE(SUM(r.cost_micros), 0), \
         COALESCE(MAX(CASE WHEN r.cost_micros IS NOT NULL THEN r.cost_currency END), '')"
    };
}
macro_rules! rollup_cost_update {
    () => {
        "cost_micros = cost_micros + excluded.cost_micros, cost_currency = \
         CASE WHEN excluded.cost_currency = '' THEN cost_currency ELSE excluded.cost_currency END"
    };
}

// The counters of a pre-aggregate count from click rows `r`, and their update on conflict.
macro_rules! rollup_counts {
    () => {
        concat!(
            "SUM(r.is_bot = 0), SUM(r.is_bot <> 0), SUM(r.is_bot = 0 AND r.lander IS NOT NULL), \
             SUM(r.is_bot = 0 AND r.landed_at IS NOT NULL), ",
            rollup_cost!()
        )
    };
}
macro_rules! rollup_counts_update {
    () => {
        concat!(
            "DO UPDATE SET clicks = clicks + excluded.clicks, \
             bot_clicks = bot_clicks + excluded.bot_clicks, lp_views = lp_views + excluded.lp_views, \
             lp_clicks = lp_clicks + excluded.lp_clicks, ",
            rollup_cost_update!()
        )
    };
}

// Counts the rows not stored yet (so a retried batch never counts a click twice) into
// their 15-minute bucket, campaign, country and sub-ID tuple. Runs before the insert.
// A landing click's row (`landed_at`) that arrives before its click's own stands for
// both: it counts the click, its lander view and its landing click.
pub(super) const COUNT_CLICKS_SQL: &str = concat!(
    "INSERT INTO click_rollup (bucket, campaign, country, sub1, sub2, sub3, sub4, sub5, sub6, \
     sub7, sub8, sub9, sub10, clicks, bot_clicks, lp_views, lp_clicks, cost_micros, \
     cost_currency) \
     SELECT r.created_at - r.created_at % 900000, ",
    tuple_key!("r"),
    ", ",
    rollup_counts!(),
    " FROM ",
    counted_rows!("sub1", "sub2", "sub3", "sub4", "sub5", "sub6", "sub7", "sub8", "sub9", "sub10"),
    " WHERE r.is_test = 0 AND NOT EXISTS (SELECT 1 FROM clicks k WHERE k.click_id = r.click_id) \
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 \
     ON CONFLICT (bucket, campaign, country, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, \
     sub9, sub10) ",
    rollup_counts_update!()
);

// The columns of the flow pre-aggregate's key (migration 0012), and the key from click
// columns of alias `$t` ('' for an absent value), as [`tuple_key`] is for `click_rollup`.
macro_rules! flow_columns {
    () => {
        "bucket, campaign, country, region, rule, lander, offer, device, os, browser"
    };
}
macro_rules! flow_key {
    ($t:literal) => {
        concat!(
            $t,
            ".created_at - ",
            $t,
            ".created_at % 900000, ",
            $t,
            ".campaign, COALESCE(",
            $t,
            ".country, ''), COALESCE(",
            $t,
            ".region, ''), COALESCE(",
            $t,
            ".rule, ''), COALESCE(",
            $t,
            ".lander, ''), COALESCE(",
            $t,
            ".offer, ''), COALESCE(",
            $t,
            ".device, ''), COALESCE(",
            $t,
            ".os, ''), COALESCE(",
            $t,
            ".browser, '')"
        )
    };
}

// The same rows counted into the flow pre-aggregate (docs/report.md, "Flow dimensions"):
// 15-minute bucket, campaign, country, region, rule, lander, offer, device, OS, browser.
const COUNT_FLOW_CLICKS: &str = concat!(
    "INSERT INTO click_flow_rollup (",
    flow_columns!(),
    ", clicks, bot_clicks, lp_views, lp_clicks, cost_micros, cost_currency) SELECT ",
    flow_key!("r"),
    ", ",
    rollup_counts!(),
    " FROM ",
    counted_rows!("region", "rule", "offer", "device", "os", "browser"),
    " WHERE r.is_test = 0 AND NOT EXISTS (SELECT 1 FROM clicks k WHERE k.click_id = r.click_id) \
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 ON CONFLICT (",
    flow_columns!(),
    ") ",
    rollup_counts_update!()
);

// Landing clicks of stored clicks not landed yet (a click lands once, however often its
// call-to-action is followed): counted into their click's own pre-aggregate row, before
// the insert below sets `landed_at`.
const COUNT_LANDINGS: &str = concat!(
    "INSERT INTO click_rollup (bucket, campaign, country, sub1, sub2, sub3, sub4, sub5, sub6, \
     sub7, sub8, sub9, sub10, clicks, bot_clicks, lp_views, lp_clicks) \
     SELECT k.created_at - k.created_at % 900000, ",
    tuple_key!("k"),
    ", 0, 0, 0, COUNT(*) FROM ",
    click_row_fields!("r", "landed_at"),
    " JOIN clicks k ON k.click_id = r.click_id WHERE r.landed_at IS NOT NULL \
     AND k.landed_at IS NULL AND k.is_test = 0 AND k.is_bot = 0 \
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 \
     ON CONFLICT (bucket, campaign, country, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, \
     sub9, sub10) DO UPDATE SET lp_clicks = lp_clicks + excluded.lp_clicks"
);

// The landing clicks [`COUNT_LANDINGS`] counts, into the flow pre-aggregate.
const COUNT_FLOW_LANDINGS: &str = concat!(
    "INSERT INTO click_flow_rollup (",
    flow_columns!(),
    ", clicks, bot_clicks, lp_views, lp_clicks) SELECT ",
    flow_key!("k"),
    ", 0, 0, 0, COUNT(*) FROM ",
    click_row_fields!("r", "landed_at"),
    " JOIN clicks k ON k.click_id = r.click_id WHERE r.landed_at IS NOT NULL \
     AND k.landed_at IS NULL AND k.is_test = 0 AND k.is_bot = 0 \
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 ON CONFLICT (",
    flow_columns!(),
    ") DO UPDATE SET lp_clicks = lp_clicks + excluded.lp_clicks"
);

// Counts the rows not stored yet whose local day was already summed into the daily
// figures (`click_days`: a spilled row replayed, a batch retried past midnight), so the
// daily figures stay equal to the 15-minute ones. Days never overlap: the latest day
// starting at or before the click is the only candidate. Writes nothing otherwise.
pub(super) const COUNT_LATE_CLICKS_SQL: &str = concat!(
    "INSERT INTO click_day_rollup (day, campaign, country, sub1, sub2, sub3, sub4, sub5, sub6, \
     sub7, sub8, sub9, sub10, clicks, bot_clicks, lp_views, lp_clicks, cost_micros, \
     cost_currency) \
     SELECT x.start_ms, ",
    tuple_key!("r"),
    ", ",
    rollup_counts!(),
    " FROM ",
    counted_rows!("sub1", "sub2", "sub3", "sub4", "sub5", "sub6", "sub7", "sub8", "sub9", "sub10"),
    " JOIN click_days x ON x.start_ms = \
     (SELECT MAX(start_ms) FROM click_days WHERE start_ms <= r.created_at) \
     WHERE (SELECT MAX(end_ms) FROM click_days) > ?2 \
     AND x.end_ms > r.created_at AND r.is_test = 0 \
     AND NOT EXISTS (SELECT 1 FROM clicks k WHERE k.click_id = r.click_id) \
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 \
     ON CONFLICT (day, campaign, country, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, \
     sub9, sub10) \
     ",
    rollup_counts_update!()
);

// The landing clicks [`COUNT_LANDINGS`] counts, for a click whose day was already summed
// (a landing past midnight, its day summed in between): into the daily figures as well.
const COUNT_LATE_LANDINGS: &str =
    concat!(
    "INSERT INTO click_day_rollup (day, campaign, country, sub1, sub2, sub3, sub4, sub5, sub6, \
     sub7, sub8, sub9, sub10, clicks, bot_clicks, lp_views, lp_clicks) \
     SELECT x.start_ms, ", tuple_key!("k"), ", 0, 0, 0, COUNT(*) FROM ",
    click_row_fields!("r", "landed_at"),
    " JOIN clicks k ON k.click_id = r.click_id JOIN click_days x ON x.start_ms = \
     (SELECT MAX(start_ms) FROM click_days WHERE start_ms <= k.created_at) \
     WHERE (SELECT MAX(end_ms) FROM click_days) > ?2 \
     AND x.end_ms > k.created_at AND r.landed_at IS NOT NULL \
     AND k.landed_at IS NULL AND k.is_test = 0 AND k.is_bot = 0 \
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 \
     ON CONFLICT (day, campaign, country, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, \
     sub9, sub10) DO UPDATE SET lp_clicks = lp_clicks + excluded.lp_clicks"
);

const INSERT_CLICKS: &str = concat!(
    "INSERT INTO clicks (click_id, campaign, created_at, \
     sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, sub9, sub10, external_id, \
     country, asn, colo, user_agent, ip_hash, is_bot, bot_reason, payout_micros, currency, \
     is_test, rule, offer, lander, landed_at, cost_micros, cost_currency, cpa_micros, \
     revshare_ppm, region, device, os, browser) SELECT r.click_id, \
     r.campaign, r.created_at, \
     r.sub1, r.sub2, r.sub3, r.sub4, r.sub5, r.sub6, r.sub7, r.sub8, r.sub9, r.sub10, \
     r.external_id, r.country, r.asn, r.colo, r.user_agent, r.ip_hash, r.is_bot, r.bot_reason, \
     r.payout_micros, r.currency, r.is_test, r.rule, r.offer, r.lander, r.landed_at, \
     r.cost_micros, r.cost_currency, r.cpa_micros, r.revshare_ppm, r.region, r.device, r.os, \
     r.browser FROM ",
    click_rows!("r"),
    " WHERE true ON CONFLICT (click_id) DO UPDATE SET landed_at = excluded.landed_at \
     WHERE excluded.landed_at IS NOT NULL AND clicks.landed_at IS NULL"
);

// The conversions of these clicks (`k`, the rows of `?1`) still waiting for their click
// row. The click's attributes come from the rows themselves, not the `clicks` table: the
// same statements complete conversions whether the clicks are stored in this database
// or in a click database of their own (docs/scale.md), and they run only when
// [`ANY_WAITING`] says a conversion waits (docs/clicks.md).
macro_rules! waiting {
    () => {
        "c.attributed_at IS NULL AND c.click_id = k.click_id"
    };
}

// A row when a conversion recorded since `?1` waits for its click row (a range of the
// partial index `conversions_awaiting_click`), none otherwise. A window's click batch ends
// with it, in the same transaction as its rows, and completes conversions in a second
// batch only when it answers: the completion statements would otherwise carry the rows'
// JSON to D1 four more times in every window, for nothing nearly always
// (docs/performance.md, "Session 8"). Bounded in time so that a conversion whose click
// never came (it waits for good) does not make every window pay the second batch.
// Its row has the shape of a released delivery's (a `delivery_id` column), so the one
// reader of a batch's answers ([`answer_indexes`]) reads both: a smaller worker.
const ANY_WAITING: &str = "SELECT 'waiting' AS delivery_id WHERE EXISTS \
     (SELECT 1 FROM conversions WHERE attributed_at IS NULL AND created_at >= ?1)";

// Every version that took its payout or currency from the click gets the click's.
const COMPLETE_HISTORY: &str = concat!(
    "UPDATE conversion_history AS h SET \
     payout_micros = CASE WHEN h.payout_from_click THEN COALESCE(k.payout_micros, 0) \
     ELSE h.payout_micros END, \
     currency = CASE WHEN h.currency_from_click THEN COALESCE(k.currency, h.currency) \
     ELSE h.currency END \
     FROM conversions c JOIN ",
    click_row_fields!("k", "payout_micros", "currency"),
    " ON k.click_id = c.click_id \
     WHERE h.conversion_id = c.conversion_id AND (h.payout_from_click OR h.currency_from_click) \
     AND ",
    waiting!()
);

// The deliveries of the waiting conversions of these clicks, through their history (a
// delivery's id is `<postback_id>.<destination>`, a key range per postback).
macro_rules! waiting_deliveries {
    () => {
        concat!(
            "SELECT d.delivery_id FROM conversions c JOIN ",
            click_row_fields!("k", "campaign"),
            " ON k.click_id = c.click_id \
             JOIN conversion_history h ON h.conversion_id = c.conversion_id \
             JOIN deliveries d ON d.delivery_id > h.postback_id || '.' \
             AND d.delivery_id < h.postback_id || '/' WHERE d.attempts = 0 AND ",
            waiting!()
        )
    };
}

// Deliveries made (and held) before the campaign was known, for destinations whose
// campaign filter the click's campaign does not pass: they should never have existed.
const DROP_FILTERED_DELIVERIES: &str = concat!(
    "DELETE FROM deliveries WHERE delivery_id IN (",
    waiting_deliveries!(),
    " AND d.campaign_filter IS NOT NULL \
     AND k.campaign NOT IN (SELECT value FROM json_each(d.campaign_filter)))"
);

// The held deliveries this batch releases, for the first attempt right after it. Read
// before the conversions are completed (while the partial index still finds them).
const RELEASED_DELIVERIES: &str = concat!(waiting_deliveries!(), " AND d.state = 'pending'");

const COMPLETE_CONVERSIONS: &str = concat!(
    "UPDATE conversions AS c SET campaign = k.campaign, sub1 = k.sub1, sub2 = k.sub2, \
     sub3 = k.sub3, sub4 = k.sub4, sub5 = k.sub5, sub6 = k.sub6, sub7 = k.sub7, sub8 = k.sub8, \
     sub9 = k.sub9, sub10 = k.sub10, external_id = k.external_id, country = k.country, \
     rule = k.rule, offer = k.offer, lander = k.lander, cpa_micros = k.cpa_micros, \
     revshare_ppm = k.revshare_ppm, cost_currency = k.cost_currency, region = k.region, \
     device = k.device, os = k.os, browser = k.browser, \
     payout_micros = CASE WHEN c.payout_from_click THEN COALESCE(k.payout_micros, 0) \
     ELSE c.payout_micros END, \
     currency = CASE WHEN c.currency_from_click THEN COALESCE(k.currency, c.currency) \
     ELSE c.currency END, attributed_at = ?2 \
     FROM ",
    click_rows!("k"),
    " WHERE ",
    waiting!()
);

// Click rows read back from the click's own database as one JSON array of `ClickRow`s
// (column `rows`): decoded by serde_json, which the worker has anyway, rather than one
// more row type through the JavaScript boundary (design §13, the wasm's size).
const SELECT_CLICK_ROWS: &str = "SELECT json_group_array(json_object('click_id', click_id, \
     'campaign', campaign, 'created_at', created_at, 'sub1', sub1, 'sub2', sub2, 'sub3', sub3, \
     'sub4', sub4, 'sub5', sub5, 'sub6', sub6, 'sub7', sub7, 'sub8', sub8, 'sub9', sub9, \
     'sub10', sub10, 'external_id', external_id, 'country', country, 'asn', asn, 'colo', colo, \
     'user_agent', user_agent, 'ip_hash', ip_hash, 'is_bot', is_bot, 'bot_reason', bot_reason, \
     'payout_micros', payout_micros, 'currency', currency, 'is_test', is_test, 'rule', rule, \
     'offer', offer, 'lander', lander, 'landed_at', landed_at, 'cost_micros', cost_micros, \
     'cost_currency', cost_currency, 'cpa_micros', cpa_micros, \
     'revshare_ppm', revshare_ppm, 'region', region, 'device', device, 'os', os, \
     'browser', browser)) AS rows \
     FROM clicks WHERE click_id IN (SELECT value FROM json_each(?1))";

// Click IDs of conversions still waiting for their click row (the partial index
// `conversions_awaiting_click` holds exactly these), a random sample: clicks that never
// arrive must not starve the others.
const WAITING_CLICK_IDS: &str = "SELECT click_id FROM (SELECT DISTINCT click_id FROM \
     conversions WHERE attributed_at IS NULL) ORDER BY random() LIMIT ?1";

/// Which of `count` click databases holds `click_id`: from the ID's random bits (FNV-1a of
/// its canonical text, so every part of the ID counts and any two isolates agree).
pub fn click_database_index(click_id: &str, count: usize) -> usize {
    let hash = click_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte.to_ascii_lowercase())).wrapping_mul(0x0000_0100_0000_01b3)
        });
    let count = u64::try_from(count.max(1)).unwrap_or(1);
    usize::try_from(hash % count).unwrap_or(0)
}

/// Reads the rows of `click_ids` from the database that holds them: one row whose `rows`
/// column is a JSON array of [`ClickRow`]s ([`click_rows_from_json`]).
pub fn select_click_rows(click_ids: &[&str]) -> Statement {
    Statement {
        sql: SELECT_CLICK_ROWS,
        params: vec![serde_json::to_string(click_ids)
            .unwrap_or_else(|_| "[]".into())
            .into()],
    }
}

/// The [`ClickRow`]s of a [`select_click_rows`] answer's `rows` column (none if unreadable).
/// Read as JSON values, then column by column ([`super::FromRow`]): no serde decoder of
/// its own for `ClickRow` in the wasm (design §13).
pub fn click_rows_from_json(rows: &str) -> Vec<ClickRow> {
    serde_json::from_slice::<Vec<serde_json::Value>>(rows.as_bytes())
        .ok()
        .and_then(|rows| rows.iter().map(|row| super::from_value(row).ok()).collect())
        .unwrap_or_default()
}

/// The click IDs of at most `limit` conversions still waiting for their click row.
pub fn waiting_click_ids(limit: u32) -> Statement {
    Statement {
        sql: WAITING_CLICK_IDS,
        params: vec![i64::from(limit).into()],
    }
}

/// `rows` as JSON arrays of at most [`CLICK_JSON_BYTES_PER_STATEMENT`] bytes (a row is
/// never split; one larger than that would have a chunk of its own), each with its rows.
pub fn json_chunks(rows: &[ClickRow]) -> Vec<(SqlValue, &[ClickRow])> {
    // A plain struct of strings and numbers: serde_json cannot fail on it.
    let texts = rows
        .iter()
        .map(|row| serde_json::to_string(&PositionalRow(row)).unwrap_or_default())
        .collect();
    json_array_chunks(texts)
        .into_iter()
        .map(|(json, range)| (json, rows.get(range).unwrap_or_default()))
        .collect()
}

/// JSON arrays of the JSON `texts` (an empty one is left out), at most
/// [`CLICK_JSON_BYTES_PER_STATEMENT`] bytes each but for a text larger than that, each
/// with the range of the texts it holds: one bound value per statement (click rows,
/// impression counts).
pub fn json_array_chunks(texts: Vec<String>) -> Vec<(SqlValue, std::ops::Range<usize>)> {
    let mut chunks = Vec::new();
    let (mut json, mut start) = (String::from("["), 0);
    let count = texts.len();
    for (index, text) in texts.into_iter().enumerate() {
        if text.is_empty() {
            continue;
        }
        if json.len() > 1
            && json.len().saturating_add(text.len()).saturating_add(2)
                > CLICK_JSON_BYTES_PER_STATEMENT
        {
            json.push(']');
            let full = std::mem::replace(&mut json, String::from("["));
            chunks.push((full.into(), start..index));
            start = index;
        }
        if json.len() > 1 {
            json.push(',');
        }
        json.push_str(&text);
    }
    if json.len() > 1 {
        json.push(']');
        chunks.push((json.into(), start..count));
    }
    chunks
}

/// Stores `rows` where they belong, one database: per chunk of [`json_chunks`], the
/// pre-aggregate counts (15-minute by sub-IDs and by flow dimensions, and daily for a day
/// already summed) and the insert. Idempotent.
pub fn store_click_rows(rows: &[ClickRow]) -> Vec<Statement> {
    let mut statements = Vec::new();
    for (json, chunk) in json_chunks(rows) {
        // The oldest click of the chunk (`?2` of the late counts): while no summed day
        // ends after it, which is always but for a row written after its day's end, the
        // late counts stop at that one constant test, before reading the rows' JSON.
        let oldest = chunk.iter().map(|row| row.created_at).min().unwrap_or(0);
        let landed = chunk.iter().any(|row| row.landed_at.is_some());
        for sql in [
            COUNT_CLICKS_SQL,
            COUNT_FLOW_CLICKS,
            COUNT_LATE_CLICKS_SQL,
            COUNT_LANDINGS,
            COUNT_FLOW_LANDINGS,
            COUNT_LATE_LANDINGS,
            INSERT_CLICKS,
        ] {
            // Landing counts only for a chunk that holds landing clicks.
            let landing = [COUNT_LANDINGS, COUNT_FLOW_LANDINGS, COUNT_LATE_LANDINGS];
            if !landed && landing.contains(&sql) {
                continue;
            }
            let mut params = vec![json.clone()];
            if sql == COUNT_LATE_CLICKS_SQL || sql == COUNT_LATE_LANDINGS {
                params.push(oldest.into());
            }
            statements.push(Statement { sql, params });
        }
    }
    statements
}

/// Completes, in the main database at `now_ms`, every conversion that was waiting for one
/// of `rows` (stored): its attribution, payout and currency, its held deliveries (those a
/// campaign filter rejects are deleted). The statements at [`answer_indexes`] return
/// the `delivery_id`s released. Idempotent: a completed conversion is not waiting.
pub fn complete_waiting(rows: &[ClickRow], now_ms: u64) -> Vec<Statement> {
    let mut statements = Vec::new();
    for (json, _) in json_chunks(rows) {
        for sql in [
            COMPLETE_HISTORY,
            DROP_FILTERED_DELIVERIES,
            RELEASED_DELIVERIES,
        ] {
            statements.push(Statement {
                sql,
                params: vec![json.clone()],
            });
        }
        statements.push(Statement {
            sql: COMPLETE_CONVERSIONS,
            params: vec![json, now_ms.into()],
        });
    }
    statements
}

/// Whether a conversion that may belong to one of `rows` waits for its click row: a row
/// when one does ([`ANY_WAITING`]). Such a conversion was recorded after its click was
/// made, less the clock skew a click ID's time may show
/// ([`crate::click_id::MAX_FUTURE_SKEW_MS`], twice for safety): older waiting conversions
/// belong to other clicks.
pub fn any_waiting(rows: &[ClickRow]) -> Statement {
    let oldest = rows.iter().map(|row| row.created_at).min().unwrap_or(0);
    let since = oldest.saturating_sub(2 * crate::click_id::MAX_FUTURE_SKEW_MS);
    Statement {
        sql: ANY_WAITING,
        params: vec![since.into()],
    }
}

/// The rows and the completion of the conversions waiting for them, as one batch: what
/// the worker's click write amounts to when a conversion waits (it runs the completion
/// as a second batch then, `runtime::click_databases::store`). Idempotent: running it
/// again changes nothing.
pub fn store_clicks(rows: &[ClickRow], now_ms: u64) -> Vec<Statement> {
    let mut statements = store_click_rows(rows);
    statements.extend(complete_waiting(rows, now_ms));
    statements
}

/// Where a batch's answers are read (statements may be added around them): the
/// deliveries its completion released, and [`any_waiting`]'s answer, each a row with a
/// `delivery_id` column.
pub fn answer_indexes(statements: &[Statement]) -> Vec<usize> {
    statements
        .iter()
        .enumerate()
        .filter(|(_, statement)| [RELEASED_DELIVERIES, ANY_WAITING].contains(&statement.sql))
        .map(|(index, _)| index)
        .collect()
}

/// Click rows an isolate could not write: spilled to KV for the cron to replay, or lost
/// (not even spilled). Counted in D1 with the isolate's next successful write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClickLosses {
    pub spilled: u64,
    pub lost: u64,
}

const ADD_TO_COUNTER: &str = "INSERT INTO service_state (key, value) VALUES (?1, ?2) \
     ON CONFLICT (key) DO UPDATE SET \
     value = CAST(CAST(value AS INTEGER) + CAST(excluded.value AS INTEGER) AS TEXT)";

fn add_to_counter(key: &'static str, amount: u64) -> Statement {
    Statement {
        sql: ADD_TO_COUNTER,
        params: vec![key.into(), amount.to_string().into()],
    }
}

/// Adds an isolate's uncounted spilled and lost click rows to the service counters.
pub fn count_click_losses(losses: ClickLosses) -> Vec<Statement> {
    vec![
        add_to_counter("clicks_spilled", losses.spilled),
        add_to_counter("clicks_lost", losses.lost),
    ]
}

/// Adds replayed (recovered) spilled click rows to the service counters.
pub fn count_clicks_recovered(rows: u64) -> Statement {
    add_to_counter("clicks_recovered", rows)
}

const CLICK_HEALTH: &str = "SELECT \
     COALESCE((SELECT CAST(value AS INTEGER) FROM service_state WHERE key = 'clicks_spilled'), 0) \
     AS clicks_spilled, \
     COALESCE((SELECT CAST(value AS INTEGER) FROM service_state WHERE key = 'clicks_recovered'), 0) \
     AS clicks_recovered, \
     COALESCE((SELECT CAST(value AS INTEGER) FROM service_state WHERE key = 'clicks_lost'), 0) \
     AS clicks_lost, \
     (SELECT COUNT(*) FROM conversions WHERE attributed_at IS NULL) AS conversions_awaiting_click, \
     (SELECT COUNT(*) FROM conversions WHERE attributed_at IS NULL AND created_at <= ?1) \
     AS conversions_past_hold";

/// What `/healthz` reports about click storage: every click row that could not be
/// written when it was made is in one of these figures, never silent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClickHealth {
    /// Rows whose write failed every retry and went to KV.
    pub clicks_spilled: i64,
    /// Spilled rows the cron has written since.
    pub clicks_recovered: i64,
    /// Rows neither written nor spilled: gone.
    pub clicks_lost: i64,
    /// Conversions recorded before their click row, still waiting for it.
    pub conversions_awaiting_click: i64,
    /// Of those, the ones waiting longer than [`DELIVERY_HOLD_MS`].
    pub conversions_past_hold: i64,
}

impl super::FromRow for ClickHealth {
    fn from_row(row: &super::Row) -> Result<Self, String> {
        let c = super::Columns::new(row);
        c.finish(Self {
            clicks_spilled: c.int("clicks_spilled"),
            clicks_recovered: c.int("clicks_recovered"),
            clicks_lost: c.int("clicks_lost"),
            conversions_awaiting_click: c.int("conversions_awaiting_click"),
            conversions_past_hold: c.int("conversions_past_hold"),
        })
    }
}

pub fn click_health(now_ms: u64) -> Statement {
    Statement {
        sql: CLICK_HEALTH,
        params: vec![now_ms.saturating_sub(DELIVERY_HOLD_MS).into()],
    }
}
