//! The impression pixel, `GET /i/{campaign}` (docs/costs.md, "The impression pixel"):
//! what one impression adds to the impression pre-aggregate, and the counts an isolate
//! keeps until its next write. Pure: no storage and no runtime types, so the pixel can
//! answer before any D1 query, as the click does.

use crate::click::{bot_reason, click_fields, ClickRequest};
use crate::config::Campaign;
use crate::map::VecMap;

/// The pixel's answer: a transparent 1×1 GIF (43 bytes), whatever the campaign, so that
/// a page never shows a broken image.
pub const PIXEL_GIF: [u8; 43] = [
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Width of a pre-aggregate bucket, as the click pre-aggregates' (15 minutes).
const BUCKET_MS: u64 = 900_000;

/// The key of one impression pre-aggregate row: its 15-minute bucket, campaign, country,
/// sub-IDs (`""` when absent, as in the click pre-aggregates) and cost currency (`""`
/// for a campaign without a `cpm` cost).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImpressionKey {
    pub bucket: u64,
    pub campaign: String,
    pub country: String,
    pub subs: [String; 10],
    pub cost_currency: String,
}

/// What impressions of one key add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImpressionCounts {
    /// Impressions by people: every one but a bot's or a prefetch's.
    pub impressions: i64,
    pub bot_impressions: i64,
    /// Their cost in micro-units of the key's cost currency (`cpm`: amount / 1,000 each).
    pub cost_micros: i64,
}

impl ImpressionCounts {
    fn add(&mut self, other: ImpressionCounts) {
        self.impressions = self.impressions.saturating_add(other.impressions);
        self.bot_impressions = self.bot_impressions.saturating_add(other.bot_impressions);
        self.cost_micros = self.cost_micros.saturating_add(other.cost_micros);
    }
}

/// What one request of the pixel counts: nothing for an unknown or paused campaign (the
/// GIF is answered all the same), else one impression (a bot's, by the click's rule of
/// SPEC §4: `HEAD`, a prefetch, an empty or crawler User-Agent) under the campaign's
/// sub-IDs, read from the query as a click's are, priced by its `cpm` cost if it has one.
pub fn count_impression(
    campaign: Option<&Campaign>,
    request: &ClickRequest<'_>,
    default_currency: &'static str,
) -> Option<(ImpressionKey, ImpressionCounts)> {
    let campaign = campaign.filter(|campaign| !campaign.paused)?;
    let is_bot = bot_reason(request.is_head, request.user_agent, request.purpose).is_some();
    let (subs, _) = click_fields(campaign, request.query);
    let priced = campaign.cost.as_ref().and_then(|cost| {
        let micros = cost.impression_cost(is_bot)?;
        Some((micros, cost.currency_or(default_currency)))
    });
    let key = ImpressionKey {
        bucket: request.now_ms.saturating_sub(request.now_ms % BUCKET_MS),
        campaign: campaign.id.clone(),
        country: request
            .country
            .map(|country| crate::click::clip(country, 8))
            .unwrap_or_default(),
        subs: subs.map(Option::unwrap_or_default),
        cost_currency: priced.map_or("", |(_, currency)| currency).to_string(),
    };
    let counts = ImpressionCounts {
        impressions: i64::from(!is_bot),
        bot_impressions: i64::from(is_bot),
        cost_micros: priced.map_or(0, |(micros, _)| micros),
    };
    Some((key, counts))
}

/// The impressions an isolate has counted and not written yet, per key. Bounded: past
/// [`ImpressionTally::MAX_KEYS`] distinct keys (sub-IDs come from the URL, which anyone
/// can vary) a new key is dropped and counted as such, never kept without end; known
/// keys still add up.
#[derive(Debug, Default)]
pub struct ImpressionTally {
    counts: VecMap<ImpressionKey, ImpressionCounts>,
    /// Impressions dropped since the tally was last taken.
    pub dropped: u64,
}

impl ImpressionTally {
    /// At most this many keys wait for one write (about 200 KB of JSON with typical sub-IDs; tens of MB with ten 512-byte sub-IDs of escaped control characters per key, which a window's traffic would have to send).
    pub const MAX_KEYS: usize = 2_000;

    /// Adds one impression's counts; `false` when it was dropped.
    pub fn add(&mut self, key: ImpressionKey, counts: ImpressionCounts) -> bool {
        if let Some(known) = self.counts.get_mut(&key) {
            known.add(counts);
            return true;
        }
        if self.counts.len() >= Self::MAX_KEYS {
            self.dropped = self.dropped.saturating_add(1);
            return false;
        }
        self.counts.insert(key, counts);
        true
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ImpressionKey, &ImpressionCounts)> {
        self.counts.iter()
    }
}

#[cfg(test)]
mod tests;
