-- The legacy (userid, collection, modified) index is the first three
-- columns of the covering paging index of migration 8, so every query that
-- could read it, the legacy server's included, reads that one instead;
-- keeping both made every record written update one index more. Safe to
-- repeat (Dialect.Redundant): an index already dropped is skipped.
DROP INDEX bso_usr_col_mod_idx ON bso;
