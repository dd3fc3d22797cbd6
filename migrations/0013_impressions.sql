-- The CPM impression pixel (issue 17, item 4; docs/costs.md, "The impression pixel").
--
-- `GET /i/{campaign}` counts each impression here, never as a row of its own: per
-- 15-minute bucket, campaign, country, sub-ID tuple ('' when absent) and cost currency
-- ('' for a campaign without a `cpm` cost), the impressions, those of bots and prefetches
-- (which cost nothing), and their cost in micro-units. The pixel's responses queue their
-- counts in the isolate; one upsert per distinct key per write window adds them up, after
-- the responses (as click rows are written). Kept in the main database, beside the
-- manual cost entries that replace its costs in their periods; like the other
-- pre-aggregates it is never purged.
CREATE TABLE impression_rollup (
  bucket          INTEGER NOT NULL,
  campaign        TEXT NOT NULL,
  country         TEXT NOT NULL,
  sub1 TEXT NOT NULL, sub2 TEXT NOT NULL, sub3 TEXT NOT NULL, sub4 TEXT NOT NULL,
  sub5 TEXT NOT NULL, sub6 TEXT NOT NULL, sub7 TEXT NOT NULL, sub8 TEXT NOT NULL,
  sub9 TEXT NOT NULL, sub10 TEXT NOT NULL,
  cost_currency   TEXT NOT NULL,
  impressions     INTEGER NOT NULL DEFAULT 0,
  bot_impressions INTEGER NOT NULL DEFAULT 0,
  cost_micros     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (bucket, campaign, country, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8,
    sub9, sub10, cost_currency)
) WITHOUT ROWID;

-- Which write windows each isolate has already added (docs/costs.md, "The impression
-- pixel"): a window's batch is retried when D1 reports an error, and an error can come
-- after the batch committed (the reply lost); its counts must not be added twice. One
-- row per isolate (`writer`, random), updated by each window's batch with the window's
-- number; `windows` keeps the isolate's last 32 numbers (a JSON array), more than a
-- window's retries span. Rows of isolates gone for a day are purged by the cron.
CREATE TABLE impression_writers (
  writer  TEXT PRIMARY KEY,
  windows TEXT NOT NULL,
  at      INTEGER NOT NULL
) WITHOUT ROWID;
