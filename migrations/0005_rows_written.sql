-- Cost is rows written (design §10): D1 bills every row a statement writes, and counts
-- each index entry as one more. Click IDs, conversion IDs and postback IDs sort by the
-- time they were made, so the tables keyed by them need no time index: ranges of their
-- keys are ranges of time (retention purge, report windows, `since` filters). Each table
-- becomes WITHOUT ROWID (its primary key is the table: no second b-tree) and keeps only
-- the indexes a hot path needs. Measured by tests/e2e/capacity.rs: a click 4 -> 1 row,
-- an accepted postback with one delivery 21 -> 9, a duplicate 5 -> 2.

CREATE TABLE clicks_v5 (
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
) WITHOUT ROWID;
INSERT INTO clicks_v5 SELECT click_id, campaign, created_at, sub1, sub2, sub3, sub4, sub5, sub6,
  sub7, sub8, sub9, sub10, external_id, country, asn, colo, user_agent, ip_hash, is_bot, bot_reason,
  payout_micros, currency, is_test FROM clicks;
DROP TABLE clicks;
ALTER TABLE clicks_v5 RENAME TO clicks;

CREATE TABLE conversions_v5 (
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
  last_postback_id TEXT NOT NULL,
  clicked_at     INTEGER NOT NULL,
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL,
  is_test        INTEGER NOT NULL DEFAULT 0,
  sub1 TEXT, sub2 TEXT, sub3 TEXT, sub4 TEXT, sub5 TEXT,
  sub6 TEXT, sub7 TEXT, sub8 TEXT, sub9 TEXT, sub10 TEXT,
  external_id    TEXT,
  country        TEXT,
  attributed_at  INTEGER,
  payout_from_click INTEGER NOT NULL DEFAULT 0,
  currency_from_click INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO conversions_v5 SELECT conversion_id, dedup_key, click_id, campaign, network, event,
  status, raw_status, payout_micros, currency, transaction_id, version, last_postback_id,
  clicked_at, created_at, updated_at, is_test, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8,
  sub9, sub10, external_id, country, attributed_at, payout_from_click, currency_from_click
  FROM conversions;
DROP TABLE conversions;
ALTER TABLE conversions_v5 RENAME TO conversions;
-- Only conversions still waiting for their click row are indexed by click (briefly, and
-- normally none): the click batch completes them through it.
CREATE INDEX conversions_awaiting_click ON conversions (click_id) WHERE attributed_at IS NULL;

CREATE TABLE conversion_history_v5 (
  conversion_id TEXT NOT NULL,
  version       INTEGER NOT NULL,
  status        TEXT NOT NULL,
  raw_status    TEXT,
  payout_micros INTEGER NOT NULL,
  currency      TEXT NOT NULL,
  changed_at    INTEGER NOT NULL,
  postback_id   TEXT NOT NULL,
  payout_from_click INTEGER NOT NULL DEFAULT 0,
  currency_from_click INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (conversion_id, version)
) WITHOUT ROWID;
INSERT INTO conversion_history_v5 SELECT conversion_id, version, status, raw_status,
  payout_micros, currency, changed_at, postback_id, payout_from_click, currency_from_click
  FROM conversion_history;
DROP TABLE conversion_history;
ALTER TABLE conversion_history_v5 RENAME TO conversion_history;

CREATE TABLE postback_log_v5 (
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
) WITHOUT ROWID;
INSERT INTO postback_log_v5 SELECT postback_id, received_at, network, source_ip, method, params,
  outcome, detail, click_id, conversion_id, is_test FROM postback_log;
DROP TABLE postback_log;
ALTER TABLE postback_log_v5 RENAME TO postback_log;

-- A delivery's id is `<postback_id>.<destination>`: the deliveries of one postback are a
-- key range, and a conversion's are those of the postbacks in its history.
CREATE TABLE deliveries_v5 (
  delivery_id     TEXT PRIMARY KEY,
  postback_id     TEXT NOT NULL,
  destination     TEXT NOT NULL,
  conversion_id   TEXT NOT NULL,
  version         INTEGER NOT NULL,
  type            TEXT NOT NULL CHECK (type IN ('conversion.created', 'conversion.updated')),
  state           TEXT NOT NULL CHECK (state IN ('pending', 'retrying', 'delivered', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  attempt_base    INTEGER NOT NULL DEFAULT 0,
  max_attempts    INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  lease_until     INTEGER,
  claim_id        TEXT,
  last_status     INTEGER,
  last_error      TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  is_test         INTEGER NOT NULL DEFAULT 0,
  campaign_filter TEXT
) WITHOUT ROWID;
INSERT INTO deliveries_v5 SELECT delivery_id, postback_id, destination, conversion_id, version,
  type, state, attempts, attempt_base, max_attempts, next_attempt_at, lease_until, claim_id,
  last_status, last_error, created_at, updated_at, is_test, campaign_filter FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_v5 RENAME TO deliveries;
-- Only deliveries still to send are in the due index: a delivered or failed one leaves it.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state IN ('pending', 'retrying');

CREATE TABLE delivery_attempts_v5 (
  delivery_id      TEXT NOT NULL,
  attempt          INTEGER NOT NULL,
  attempted_at     INTEGER NOT NULL,
  status_code      INTEGER,
  latency_ms       INTEGER NOT NULL,
  error            TEXT,
  response_excerpt TEXT,
  PRIMARY KEY (delivery_id, attempt)
) WITHOUT ROWID;
INSERT INTO delivery_attempts_v5 SELECT delivery_id, attempt, attempted_at, status_code,
  latency_ms, error, response_excerpt FROM delivery_attempts;
DROP TABLE delivery_attempts;
ALTER TABLE delivery_attempts_v5 RENAME TO delivery_attempts;
