-- Flows (docs/flows.md): the rule and offer a click went to, part of its attribution
-- (SPEC §4). The click keeps them, and every conversion copies them with the click's other
-- attributes (the record step, or the click batch that completes a conversion recorded
-- before its click row), so purging clicks never changes them. Both are names from the
-- campaign's configuration; NULL is the default pool (`rule`) or a plain `offer_url`
-- (`offer`). Plain text columns, like `country`, so that a later report can group by them
-- (`COALESCE(offer, '')` as a pre-aggregate key) without another migration of the rows.

ALTER TABLE clicks ADD COLUMN rule TEXT;
ALTER TABLE clicks ADD COLUMN offer TEXT;
ALTER TABLE conversions ADD COLUMN rule TEXT;
ALTER TABLE conversions ADD COLUMN offer TEXT;
