-- The legacy server wrote ttl = 2100000000 (July 2036) for "never
-- expires". Rewrite it once to 9999-12-31T23:59:59Z (db.NeverExpires), so
-- that those records outlive 2036; bso_ttl_idx finds them.
UPDATE bso SET ttl = 253402300799 WHERE ttl = 2100000000;
