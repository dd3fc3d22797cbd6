-- edgeback schema, version 1 (SPEC §10). Times are UTC unix milliseconds; money is
-- integer micro-units. Every statement that reads or writes these tables is in
-- src/store/mod.rs.

-- One row per click (SPEC §4). Never the raw IP: ip_hash is keyed with CLICK_SECRET.
-- payout_micros and currency are the campaign's values when the click happened: they
-- apply to a postback that carries none.
CREATE TABLE clicks (
  click_id      TEXT PRIMARY KEY,
  campaign      TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  sub1 TEXT, sub2 TEXT, sub3 TEXT, sub4 TEXT, sub5 TEXT,
  sub6 TEXT, sub7 TEXT, sub8 TEXT, sub9 TEXT, sub10 TEXT,
  external_id   TEXT,
  country       TEXT,
  asn           INTEGER,
  colo          TEXT,
  user_agent    TEXT,
  ip_hash       TEXT,
  is_bot        INTEGER NOT NULL DEFAULT 0,
  bot_reason    TEXT,
  payout_micros INTEGER,
  currency      TEXT,
  is_test       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX clicks_by_time ON clicks (created_at);
CREATE INDEX clicks_by_campaign ON clicks (campaign, created_at);

-- One row per conversion (SPEC §7); dedup_key makes "exactly once" a constraint.
CREATE TABLE conversions (
  conversion_id  TEXT PRIMARY KEY,
  dedup_key      TEXT NOT NULL UNIQUE,
  click_id       TEXT NOT NULL,
  campaign       TEXT,
  network        TEXT NOT NULL,
  event          TEXT NOT NULL,
  status         TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'reversed')),
  raw_status     TEXT,
  payout_micros  INTEGER NOT NULL,
  currency       TEXT NOT NULL,
  transaction_id TEXT,
  version        INTEGER NOT NULL DEFAULT 1,
  -- The postback that made the latest version: how the record step tells "this
  -- postback changed it" (updated) from "it was already so" (duplicate).
  last_postback_id TEXT NOT NULL,
  clicked_at     INTEGER NOT NULL,
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL,
  is_test        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conversions_by_click ON conversions (click_id);
CREATE INDEX conversions_by_time ON conversions (created_at);

-- Every version of every conversion: version 1 is the creation.
CREATE TABLE conversion_history (
  conversion_id TEXT NOT NULL,
  version       INTEGER NOT NULL,
  status        TEXT NOT NULL,
  raw_status    TEXT,
  payout_micros INTEGER NOT NULL,
  currency      TEXT NOT NULL,
  changed_at    INTEGER NOT NULL,
  postback_id   TEXT NOT NULL,
  PRIMARY KEY (conversion_id, version)
);

-- Every postback request, accepted or not (SPEC §6), with secrets redacted.
CREATE TABLE postback_log (
  postback_id   TEXT PRIMARY KEY,
  received_at   INTEGER NOT NULL,
  network       TEXT,
  source_ip     TEXT,
  method        TEXT NOT NULL,
  params        TEXT NOT NULL,
  outcome       TEXT NOT NULL,
  detail        TEXT,
  click_id      TEXT,
  conversion_id TEXT,
  is_test       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX postback_log_by_time ON postback_log (received_at);
CREATE INDEX postback_log_by_outcome ON postback_log (outcome, received_at);

-- Facts about the running service, e.g. the last cron run.
CREATE TABLE service_state (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
