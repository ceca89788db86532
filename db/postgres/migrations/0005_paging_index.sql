-- Listing a collection orders by modified, then id; with id in the index a
-- page is read straight off it. The legacy index stays for the legacy
-- server.
CREATE INDEX IF NOT EXISTS bso_usr_col_mod_id_idx ON bso (userid, collection, modified, id);
