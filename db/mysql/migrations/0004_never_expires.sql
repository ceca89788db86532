-- The legacy ttl column is a 32-bit INT: it cannot hold an expiry after
-- January 2038, and the legacy "never expires", 2100000000, is July 2036.
-- Widen it, then rewrite the sentinel once to 9999-12-31T23:59:59Z
-- (db.NeverExpires); bso_ttl_idx finds those records. In the same pass,
-- payloads become MEDIUMTEXT where a legacy table has TEXT (tables made
-- between 2017-09-06 and 2017-10-23), which holds 64 KiB, less than a
-- record may be; the table's character set stays. Both statements are
-- safe to repeat, as they must be here (see 0005).
ALTER TABLE bso MODIFY ttl BIGINT NOT NULL DEFAULT 253402300799, MODIFY payload MEDIUMTEXT NOT NULL;
ALTER TABLE batch_upload_items MODIFY payload MEDIUMTEXT;
UPDATE bso SET ttl = 253402300799 WHERE ttl = 2100000000;
