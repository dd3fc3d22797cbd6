-- Reports by offer, lander, rule, device, OS, browser and region (issue 17, item 5;
-- docs/report.md, "Flow dimensions").
--
-- The click keeps its region (the runtime's ISO 3166-2 subdivision code, `cf.regionCode`)
-- and the device type, OS family and browser family of its User-Agent
-- (`user_agent::classify`, the names flow filters use), all decided at click time; every
-- conversion copies them with the click's other attributes (the record step, or the click
-- batch that completes a conversion recorded before its click row), as `rule`, `offer`
-- and `lander` (0008, 0010). NULL: unknown (clicks stored before this migration).
ALTER TABLE clicks ADD COLUMN region TEXT;
ALTER TABLE clicks ADD COLUMN device TEXT;
ALTER TABLE clicks ADD COLUMN os TEXT;
ALTER TABLE clicks ADD COLUMN browser TEXT;
ALTER TABLE conversions ADD COLUMN region TEXT;
ALTER TABLE conversions ADD COLUMN device TEXT;
ALTER TABLE conversions ADD COLUMN os TEXT;
ALTER TABLE conversions ADD COLUMN browser TEXT;

-- A second 15-minute pre-aggregate of click figures, keyed by the flow's dimensions
-- instead of the sub-IDs ('' for an absent value): widening `click_rollup`'s key instead
-- would multiply its rows (every sub-ID tuple times every offer, device, …). The same
-- click batch writes both. No daily rows: reports by these keys read the 15-minute
-- buckets in any zone.
CREATE TABLE click_flow_rollup (
  bucket     INTEGER NOT NULL,
  campaign   TEXT NOT NULL,
  country    TEXT NOT NULL,
  region     TEXT NOT NULL,
  rule       TEXT NOT NULL,
  lander     TEXT NOT NULL,
  offer      TEXT NOT NULL,
  device     TEXT NOT NULL,
  os         TEXT NOT NULL,
  browser    TEXT NOT NULL,
  clicks     INTEGER NOT NULL DEFAULT 0,
  bot_clicks INTEGER NOT NULL DEFAULT 0,
  lp_views   INTEGER NOT NULL DEFAULT 0,
  lp_clicks  INTEGER NOT NULL DEFAULT 0,
  cost_micros   INTEGER NOT NULL DEFAULT 0,
  cost_currency TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (bucket, campaign, country, region, rule, lander, offer, device, os, browser)
) WITHOUT ROWID;

-- History, as 0007 did for countries: every bucket whose clicks are all still stored
-- (later than the oldest stored click's bucket) is counted from the click rows, with
-- their rule, lander and offer (region, device, OS and browser were not kept: ''). Older
-- buckets, purged in part or in whole, are copied from `click_rollup` with every flow
-- key unknown, so that both pre-aggregates hold the same totals.
INSERT INTO click_flow_rollup (bucket, campaign, country, region, rule, lander, offer,
  device, os, browser, clicks, bot_clicks, lp_views, lp_clicks, cost_micros, cost_currency)
SELECT bucket, campaign, country, '', '', '', '', '', '', '', SUM(clicks), SUM(bot_clicks),
  SUM(lp_views), SUM(lp_clicks), SUM(cost_micros), MAX(cost_currency)
FROM click_rollup
WHERE bucket <= COALESCE((SELECT MIN(created_at - created_at % 900000) FROM clicks),
  9007199254740991)
GROUP BY 1, 2, 3;

INSERT INTO click_flow_rollup (bucket, campaign, country, region, rule, lander, offer,
  device, os, browser, clicks, bot_clicks, lp_views, lp_clicks, cost_micros, cost_currency)
SELECT created_at - created_at % 900000, campaign, COALESCE(country, ''), '',
  COALESCE(rule, ''), COALESCE(lander, ''), COALESCE(offer, ''), '', '', '',
  SUM(is_bot = 0), SUM(is_bot <> 0), SUM(is_bot = 0 AND lander IS NOT NULL),
  SUM(is_bot = 0 AND landed_at IS NOT NULL), COALESCE(SUM(cost_micros), 0),
  COALESCE(MAX(CASE WHEN cost_micros IS NOT NULL THEN cost_currency END), '')
FROM clicks
WHERE is_test = 0
  AND created_at - created_at % 900000 > (SELECT MIN(created_at - created_at % 900000) FROM clicks)
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;
