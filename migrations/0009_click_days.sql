-- Daily click figures (issue 13: a report's cost must not grow with click volume). The
-- 15-minute pre-aggregate (`click_rollup`) serves any zone, but a 30-day report over it
-- reads up to 2,880 buckets per campaign, country and sub-ID tuple. Once a local day of
-- the configured `timezone` has ended, the cron sums its buckets into one row per tuple
-- here and records the day in `click_days`; a report asking for that exact day (same
-- start and end, so the same zone's day) reads the daily rows instead (docs/performance.md).
--
-- Days never overlap. A click stored after its day was summed (a spilled row replayed, a
-- retried batch) is counted here too, by the click batch itself.
CREATE TABLE click_days (
  start_ms INTEGER PRIMARY KEY,
  end_ms   INTEGER NOT NULL
);

CREATE TABLE click_day_rollup (
  day        INTEGER NOT NULL,
  campaign   TEXT NOT NULL,
  country    TEXT NOT NULL,
  sub1 TEXT NOT NULL, sub2 TEXT NOT NULL, sub3 TEXT NOT NULL, sub4 TEXT NOT NULL,
  sub5 TEXT NOT NULL, sub6 TEXT NOT NULL, sub7 TEXT NOT NULL, sub8 TEXT NOT NULL,
  sub9 TEXT NOT NULL, sub10 TEXT NOT NULL,
  clicks     INTEGER NOT NULL DEFAULT 0,
  bot_clicks INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day, campaign, country, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8,
    sub9, sub10)
) WITHOUT ROWID;
