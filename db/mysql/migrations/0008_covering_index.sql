-- A listing filters on ttl and sorts by modified and id, or by sortindex:
-- with ttl and sortindex in the paging index too, MySQL finds and skips a
-- page's records, and sorts a newer= range, in that index alone, then
-- reads only the records of the page (Dialect.FindIndex). Through the
-- index of migration 5 every record looked at was read whole, one descent
-- of the primary key each, which InnoDB keeps in id order. This index
-- replaces that one, so uploads keep the same number of indexes to
-- update. Building it on a large existing bso takes a while at the first
-- start (online: the table stays readable and writable). Safe to repeat
-- (Dialect.Redundant): an index already made or already dropped is
-- skipped.
CREATE INDEX bso_usr_col_mod_id_cover_idx ON bso (userid, collection, modified, id, ttl, sortindex);
DROP INDEX bso_usr_col_mod_id_idx ON bso;
