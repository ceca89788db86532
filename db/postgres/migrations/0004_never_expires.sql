-- The legacy ttl column is a 32-bit INTEGER: it cannot hold an expiry
-- after January 2038, and the legacy "never expires", 2100000000, is July
-- 2036. Widen it (and the staged ttl_offset, which is added to a time in
-- seconds), then rewrite the sentinel once to 9999-12-31T23:59:59Z
-- (db.NeverExpires); bso_ttl_idx finds those records.
ALTER TABLE bso ALTER COLUMN ttl TYPE BIGINT;
ALTER TABLE bso ALTER COLUMN ttl SET DEFAULT 253402300799;
ALTER TABLE batch_upload_items ALTER COLUMN ttl_offset TYPE BIGINT;
UPDATE bso SET ttl = 253402300799 WHERE ttl = 2100000000;
