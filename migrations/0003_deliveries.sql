-- Forwarding (SPEC §8): a transactional outbox. One delivery per conversion change (one
-- version) per matching destination, written in the same D1 batch as the change; every
-- attempt is recorded. The delivery id (msg_<id> as webhook-id) is stable across
-- retries and replays.
CREATE TABLE deliveries (
  delivery_id     TEXT PRIMARY KEY,
  postback_id     TEXT NOT NULL,
  destination     TEXT NOT NULL,
  conversion_id   TEXT NOT NULL,
  version         INTEGER NOT NULL,
  type            TEXT NOT NULL CHECK (type IN ('conversion.created', 'conversion.updated')),
  state           TEXT NOT NULL CHECK (state IN ('pending', 'retrying', 'delivered', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  -- Attempts made before the latest replay: a replay grants max_attempts more.
  attempt_base    INTEGER NOT NULL DEFAULT 0,
  max_attempts    INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  -- A sender claims a delivery until lease_until; an expired lease is claimable again
  -- (at-least-once: a sender that died mid-attempt is retried).
  lease_until     INTEGER,
  claim_id        TEXT,
  last_status     INTEGER,
  last_error      TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  is_test         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_by_conversion ON deliveries (conversion_id);
CREATE INDEX deliveries_by_postback ON deliveries (postback_id);

CREATE TABLE delivery_attempts (
  delivery_id      TEXT NOT NULL,
  attempt          INTEGER NOT NULL,
  attempted_at     INTEGER NOT NULL,
  status_code      INTEGER,
  latency_ms       INTEGER NOT NULL,
  error            TEXT,
  response_excerpt TEXT,
  PRIMARY KEY (delivery_id, attempt)
);
