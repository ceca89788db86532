-- sort=index lists a collection by sortindex, highest first, records
-- without one last, then by id. Without an index in that order the whole
-- collection was sorted for every page: about 100 ms for the first 100 of
-- 200,000 records. MySQL sorts NULL lowest, so a backward scan of this
-- index gives sortindex DESC with the NULLs last, then id DESC. A
-- migration cut short runs again: the index it made is then reported and
-- skipped (Dialect.Redundant).
CREATE INDEX bso_usr_col_sortindex_idx ON bso (userid, collection, sortindex, id);
