-- Costs (docs/costs.md, phase 2). Every tracked cost rides on a row written anyway.
--
-- A click's cost (`cpc`, `auto`: `cost::CampaignCost::click_cost`, a snapshot of the
-- campaign's terms at click time) and its currency, on the click row; NULL when the
-- campaign tracks no click cost.
ALTER TABLE clicks ADD COLUMN cost_micros INTEGER;
ALTER TABLE clicks ADD COLUMN cost_currency TEXT;

-- The cost terms of the click's conversions (`cpa`: an amount per approved conversion in
-- `cost_currency`; `revshare`: parts per million of its payout, in the payout's
-- currency), the campaign's at click time. Every conversion copies them with the click's
-- other attributes (the record step, or the click batch that completes a conversion
-- recorded before its click row), as `rule` and `offer` (0008); the report prices each
-- approved conversion from them and its current payout.
ALTER TABLE clicks ADD COLUMN cpa_micros INTEGER;
ALTER TABLE clicks ADD COLUMN revshare_ppm INTEGER;
ALTER TABLE conversions ADD COLUMN cpa_micros INTEGER;
ALTER TABLE conversions ADD COLUMN revshare_ppm INTEGER;
ALTER TABLE conversions ADD COLUMN cost_currency TEXT;

-- The pre-aggregates sum the costs of their clicks. The currency is not part of their key
-- (a rebuild of both tables, as 0007 did, for a value that is one per campaign): the
-- latest non-empty one written wins, so a campaign whose cost currency changes reports
-- the bucket (or summed day) of the change in the new currency. '' without a click cost.
ALTER TABLE click_rollup ADD COLUMN cost_micros INTEGER NOT NULL DEFAULT 0;
ALTER TABLE click_rollup ADD COLUMN cost_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE click_day_rollup ADD COLUMN cost_micros INTEGER NOT NULL DEFAULT 0;
ALTER TABLE click_day_rollup ADD COLUMN cost_currency TEXT NOT NULL DEFAULT '';

-- Manual cost entries (`PUT /api/costs`): an amount for whole local days of `tz`,
-- `[from_ms, to_ms)`, that replaces every tracked cost of its campaign in the period.
-- Entries of one campaign never overlap (checked by the route: `cost::place`).
CREATE TABLE cost_entries (
  campaign      TEXT NOT NULL,
  from_ms       INTEGER NOT NULL,
  to_ms         INTEGER NOT NULL,
  from_day      TEXT NOT NULL,
  to_day        TEXT NOT NULL,
  tz            TEXT NOT NULL,
  amount_micros INTEGER NOT NULL,
  currency      TEXT NOT NULL,
  PRIMARY KEY (campaign, from_ms)
) WITHOUT ROWID;
