-- Backlog isolation (design §8, §14): per destination, since when every attempt has
-- failed (NULL while it succeeds). A destination failing for `pause_after_hours` is
-- paused: the cron claims none of its deliveries until a replay resumes it. Written only
-- when the state changes (first failure, first success after failures), so a healthy
-- destination costs no row.
CREATE TABLE destination_health (
  destination   TEXT PRIMARY KEY,
  failing_since INTEGER,
  last_error    TEXT
) WITHOUT ROWID;
