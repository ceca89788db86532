-- Listing a collection orders by modified, then id (the tie-breaker that
-- makes paging deterministic). With only the legacy (userid, collection,
-- modified) index SQLite sorts each run of equal timestamps; with id in
-- the index it reads a page straight off it, about twice as fast on a
-- 20,000-record history. The legacy index stays for the legacy server.
CREATE INDEX IF NOT EXISTS bso_usr_col_mod_id_idx ON bso (userid, collection, modified, id);
