-- Attribution that never depends on timing (docs/clicks.md). A click row is written
-- after its redirect, so a postback may be recorded before it exists. Such a conversion
-- is stored unattributed (attributed_at NULL) and completed, in the same D1 batch that
-- writes the click row, with the click's campaign, sub-IDs, external_id, country and
-- the campaign's payout and currency defaults. Each conversion keeps that snapshot for
-- life, so purging clicks never changes a conversion, an API answer or a report.

ALTER TABLE conversions ADD COLUMN sub1 TEXT;
ALTER TABLE conversions ADD COLUMN sub2 TEXT;
ALTER TABLE conversions ADD COLUMN sub3 TEXT;
ALTER TABLE conversions ADD COLUMN sub4 TEXT;
ALTER TABLE conversions ADD COLUMN sub5 TEXT;
ALTER TABLE conversions ADD COLUMN sub6 TEXT;
ALTER TABLE conversions ADD COLUMN sub7 TEXT;
ALTER TABLE conversions ADD COLUMN sub8 TEXT;
ALTER TABLE conversions ADD COLUMN sub9 TEXT;
ALTER TABLE conversions ADD COLUMN sub10 TEXT;
ALTER TABLE conversions ADD COLUMN external_id TEXT;
ALTER TABLE conversions ADD COLUMN country TEXT;
-- When the click's attributes were copied in; NULL while the click row is not stored.
ALTER TABLE conversions ADD COLUMN attributed_at INTEGER;
-- 1 when the payout (currency) was not in any postback of this version and comes from
-- the click's campaign default: filled in when the click row lands.
ALTER TABLE conversions ADD COLUMN payout_from_click INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversions ADD COLUMN currency_from_click INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversion_history ADD COLUMN payout_from_click INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversion_history ADD COLUMN currency_from_click INTEGER NOT NULL DEFAULT 0;

-- Conversions recorded before this migration: their snapshot from the click row, when
-- it is still there.
UPDATE conversions SET
  sub1 = (SELECT k.sub1 FROM clicks k WHERE k.click_id = conversions.click_id),
  sub2 = (SELECT k.sub2 FROM clicks k WHERE k.click_id = conversions.click_id),
  sub3 = (SELECT k.sub3 FROM clicks k WHERE k.click_id = conversions.click_id),
  sub4 = (SELECT k.sub4 FROM clicks k WHERE k.click_id = conversions.click_id),
  sub5 = (SELECT k.sub5 FROM clicks k WHERE k.click_id = conversions.click_id),
  sub6 = (SELECT k.sub6 FROM clicks k WHERE k.click_id = conversions.click_id),
  sub7 = (SELECT k.sub7 FROM clicks k WHERE k.click_id = conversions.click_id),
  sub8 = (SELECT k.sub8 FROM clicks k WHERE k.click_id = conversions.click_id),
  sub9 = (SELECT k.sub9 FROM clicks k WHERE k.click_id = conversions.click_id),
  sub10 = (SELECT k.sub10 FROM clicks k WHERE k.click_id = conversions.click_id),
  external_id = (SELECT k.external_id FROM clicks k WHERE k.click_id = conversions.click_id),
  country = (SELECT k.country FROM clicks k WHERE k.click_id = conversions.click_id),
  attributed_at = CASE WHEN campaign IS NOT NULL THEN created_at END;

-- The campaign filter of the destination a delivery was made for (JSON array, NULL for
-- none): a delivery of an unattributed conversion is held until its campaign is known,
-- then kept or dropped by this filter.
ALTER TABLE deliveries ADD COLUMN campaign_filter TEXT;

-- Click counts per 15-minute bucket (every time zone's local midnight falls on one),
-- campaign and sub-ID tuple, written in the same statement batch as the click rows
-- themselves. Reports read these, never the raw rows, so purging clicks changes no
-- report figure. Absent sub-IDs are '' (a NULL would never match the key). Test clicks
-- are not counted.
CREATE TABLE click_rollup (
  bucket     INTEGER NOT NULL,
  campaign   TEXT NOT NULL,
  sub1 TEXT NOT NULL, sub2 TEXT NOT NULL, sub3 TEXT NOT NULL, sub4 TEXT NOT NULL,
  sub5 TEXT NOT NULL, sub6 TEXT NOT NULL, sub7 TEXT NOT NULL, sub8 TEXT NOT NULL,
  sub9 TEXT NOT NULL, sub10 TEXT NOT NULL,
  clicks     INTEGER NOT NULL DEFAULT 0,
  bot_clicks INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (bucket, campaign, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, sub9, sub10)
) WITHOUT ROWID;

INSERT INTO click_rollup (bucket, campaign, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8,
  sub9, sub10, clicks, bot_clicks)
SELECT created_at - created_at % 900000, campaign, COALESCE(sub1, ''), COALESCE(sub2, ''),
  COALESCE(sub3, ''), COALESCE(sub4, ''), COALESCE(sub5, ''), COALESCE(sub6, ''),
  COALESCE(sub7, ''), COALESCE(sub8, ''), COALESCE(sub9, ''), COALESCE(sub10, ''),
  SUM(is_bot = 0), SUM(is_bot <> 0)
FROM clicks WHERE is_test = 0
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12;

-- Conversions still waiting for their click row (normally none, briefly): /healthz
-- and the dashboard count them without scanning every conversion.
CREATE INDEX conversions_awaiting_click ON conversions (created_at) WHERE attributed_at IS NULL;

-- Duplicates and refused postbacks per 15-minute bucket, network, outcome, and the
-- campaign, event and sub-IDs of the conversion concerned ('' when none), written with
-- the log row. Reports read these, so purging the postback log changes no figure.
CREATE TABLE postback_rollup (
  bucket    INTEGER NOT NULL,
  network   TEXT NOT NULL,
  outcome   TEXT NOT NULL,
  campaign  TEXT NOT NULL,
  event     TEXT NOT NULL,
  sub1 TEXT NOT NULL, sub2 TEXT NOT NULL, sub3 TEXT NOT NULL, sub4 TEXT NOT NULL,
  sub5 TEXT NOT NULL, sub6 TEXT NOT NULL, sub7 TEXT NOT NULL, sub8 TEXT NOT NULL,
  sub9 TEXT NOT NULL, sub10 TEXT NOT NULL,
  postbacks INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (bucket, network, outcome, campaign, event, sub1, sub2, sub3, sub4, sub5, sub6,
    sub7, sub8, sub9, sub10)
) WITHOUT ROWID;

INSERT INTO postback_rollup (bucket, network, outcome, campaign, event, sub1, sub2, sub3, sub4,
  sub5, sub6, sub7, sub8, sub9, sub10, postbacks)
SELECT l.received_at - l.received_at % 900000, COALESCE(l.network, ''), l.outcome,
  COALESCE(c.campaign, k.campaign, ''), COALESCE(c.event, ''),
  COALESCE(CASE WHEN c.conversion_id IS NULL THEN k.sub1 ELSE c.sub1 END, ''),
  COALESCE(CASE WHEN c.conversion_id IS NULL THEN k.sub2 ELSE c.sub2 END, ''),
  COALESCE(CASE WHEN c.conversion_id IS NULL THEN k.sub3 ELSE c.sub3 END, ''),
  COALESCE(CASE WHEN c.conversion_id IS NULL THEN k.sub4 ELSE c.sub4 END, ''),
  COALESCE(CASE WHEN c.conversion_id IS NULL THEN k.sub5 ELSE c.sub5 END, ''),
  COALESCE(CASE WHEN c.conversion_id IS NULL THEN k.sub6 ELSE c.sub6 END, ''),
  COALESCE(CASE WHEN c.conversion_id IS NULL THEN k.sub7 ELSE c.sub7 END, ''),
  COALESCE(CASE WHEN c.conversion_id IS NULL THEN k.sub8 ELSE c.sub8 END, ''),
  COALESCE(CASE WHEN c.conversion_id IS NULL THEN k.sub9 ELSE c.sub9 END, ''),
  COALESCE(CASE WHEN c.conversion_id IS NULL THEN k.sub10 ELSE c.sub10 END, ''),
  COUNT(*)
FROM postback_log l LEFT JOIN conversions c ON c.conversion_id = l.conversion_id
LEFT JOIN clicks k ON k.click_id = l.click_id
WHERE l.is_test = 0 AND l.outcome NOT IN ('accepted', 'updated')
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15;
