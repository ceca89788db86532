-- The legacy (userid, collection, modified) index is the first three
-- columns of the paging index of migration 5, so every query that could
-- read it, the legacy server's included, reads that one instead; keeping
-- both made every record written update one index more.
DROP INDEX IF EXISTS bso_usr_col_mod_idx;
