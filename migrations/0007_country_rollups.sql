-- Reports by country (issue 16): the pre-aggregates gain the country of the click ('' when
-- unknown) in their key. SQLite cannot change a primary key in place, so each table is
-- rebuilt.
--
-- Click counts: every bucket whose clicks are all still stored (later than the oldest
-- stored click's bucket; clicks are purged by age only) is recounted from the click rows,
-- with their countries. Older buckets, whose clicks were purged in part or in whole, keep
-- their counts under an unknown country.
CREATE TABLE click_rollup_by_country (
  bucket     INTEGER NOT NULL,
  campaign   TEXT NOT NULL,
  country    TEXT NOT NULL,
  sub1 TEXT NOT NULL, sub2 TEXT NOT NULL, sub3 TEXT NOT NULL, sub4 TEXT NOT NULL,
  sub5 TEXT NOT NULL, sub6 TEXT NOT NULL, sub7 TEXT NOT NULL, sub8 TEXT NOT NULL,
  sub9 TEXT NOT NULL, sub10 TEXT NOT NULL,
  clicks     INTEGER NOT NULL DEFAULT 0,
  bot_clicks INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (bucket, campaign, country, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8,
    sub9, sub10)
) WITHOUT ROWID;

INSERT INTO click_rollup_by_country (bucket, campaign, country, sub1, sub2, sub3, sub4, sub5,
  sub6, sub7, sub8, sub9, sub10, clicks, bot_clicks)
SELECT bucket, campaign, '', sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, sub9, sub10,
  clicks, bot_clicks
FROM click_rollup
WHERE bucket <= COALESCE((SELECT MIN(created_at - created_at % 900000) FROM clicks),
  9007199254740991);

INSERT INTO click_rollup_by_country (bucket, campaign, country, sub1, sub2, sub3, sub4, sub5,
  sub6, sub7, sub8, sub9, sub10, clicks, bot_clicks)
SELECT created_at - created_at % 900000, campaign, COALESCE(country, ''), COALESCE(sub1, ''),
  COALESCE(sub2, ''), COALESCE(sub3, ''), COALESCE(sub4, ''), COALESCE(sub5, ''),
  COALESCE(sub6, ''), COALESCE(sub7, ''), COALESCE(sub8, ''), COALESCE(sub9, ''),
  COALESCE(sub10, ''), SUM(is_bot = 0), SUM(is_bot <> 0)
FROM clicks
WHERE is_test = 0
  AND created_at - created_at % 900000 > (SELECT MIN(created_at - created_at % 900000) FROM clicks)
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13;

DROP TABLE click_rollup;
ALTER TABLE click_rollup_by_country RENAME TO click_rollup;

-- Duplicates and refusals: the country of the conversion or click concerned. Counts made
-- before this migration stay under an unknown country.
CREATE TABLE postback_rollup_by_country (
  bucket    INTEGER NOT NULL,
  network   TEXT NOT NULL,
  outcome   TEXT NOT NULL,
  campaign  TEXT NOT NULL,
  event     TEXT NOT NULL,
  country   TEXT NOT NULL,
  sub1 TEXT NOT NULL, sub2 TEXT NOT NULL, sub3 TEXT NOT NULL, sub4 TEXT NOT NULL,
  sub5 TEXT NOT NULL, sub6 TEXT NOT NULL, sub7 TEXT NOT NULL, sub8 TEXT NOT NULL,
  sub9 TEXT NOT NULL, sub10 TEXT NOT NULL,
  postbacks INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (bucket, network, outcome, campaign, event, country, sub1, sub2, sub3, sub4,
    sub5, sub6, sub7, sub8, sub9, sub10)
) WITHOUT ROWID;

INSERT INTO postback_rollup_by_country (bucket, network, outcome, campaign, event, country,
  sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, sub9, sub10, postbacks)
SELECT bucket, network, outcome, campaign, event, '', sub1, sub2, sub3, sub4, sub5, sub6,
  sub7, sub8, sub9, sub10, postbacks
FROM postback_rollup;

DROP TABLE postback_rollup;
ALTER TABLE postback_rollup_by_country RENAME TO postback_rollup;
