-- Listing a collection orders by modified, then id; with id in the index a
-- page is read straight off it. The legacy index stays for the legacy
-- server. MySQL commits DDL at once, so a migration cut short runs again:
-- the index it made the first time is then reported and skipped
-- (Dialect.Redundant), as MySQL 8 has no CREATE INDEX IF NOT EXISTS.
CREATE INDEX bso_usr_col_mod_id_idx ON bso (userid, collection, modified, id);
