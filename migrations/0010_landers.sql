-- Landing pages (docs/flows.md, "Landing pages"): the lander a click was shown before its
-- offer is part of its attribution (SPEC §4), like `rule` and `offer` (0008): the click
-- keeps it and every conversion copies it with the click's other attributes (the record
-- step, or the click batch that completes a conversion recorded before its click row).
-- `landed_at` is when the lander's call-to-action (`/go/…`) was first followed: set on
-- the click row by the landing click's own row (an upsert: one row written, no index).
-- The report's landing views and landing clicks are two counters of the pre-aggregate
-- (its key is unchanged, so it has no more rows than before), in the 15-minute and the
-- daily figures (0009) alike.

ALTER TABLE clicks ADD COLUMN lander TEXT;
ALTER TABLE clicks ADD COLUMN landed_at INTEGER;
ALTER TABLE conversions ADD COLUMN lander TEXT;
ALTER TABLE click_rollup ADD COLUMN lp_views INTEGER NOT NULL DEFAULT 0;
ALTER TABLE click_rollup ADD COLUMN lp_clicks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE click_day_rollup ADD COLUMN lp_views INTEGER NOT NULL DEFAULT 0;
ALTER TABLE click_day_rollup ADD COLUMN lp_clicks INTEGER NOT NULL DEFAULT 0;
