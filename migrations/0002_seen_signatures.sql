-- Replay protection (SPEC §6, §11): each signed postback is accepted once. The key is a
-- SHA-256 of what was signed (never the signature or the secret), claimed in the same D1
-- batch as the conversion change; the cron purges keys past their expiry (twice the
-- signature tolerance, after which the timestamp check refuses the request anyway).
CREATE TABLE seen_signatures (
  replay_key  TEXT PRIMARY KEY,
  network     TEXT NOT NULL,
  postback_id TEXT NOT NULL,
  expires_at  INTEGER NOT NULL
);
CREATE INDEX seen_signatures_by_expiry ON seen_signatures (expires_at);
