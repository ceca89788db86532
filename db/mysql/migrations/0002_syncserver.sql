-- Tables syncserver adds next to the legacy ones.

-- Each user's last write. last_modified is the storage timestamp, which
-- must not go back when collections are deleted (user_collections loses
-- their rows); last_write also counts batch creations, so that the next
-- write, and so the next batch id, gets a later timestamp. Its row is
-- also what a write transaction locks (SELECT … FOR UPDATE) to serialise
-- the user's writers across every server sharing the database.
CREATE TABLE IF NOT EXISTS user_meta (
	userid BIGINT NOT NULL PRIMARY KEY,
	last_modified BIGINT NOT NULL,
	last_write BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Server-wide settings, such as a generated secret.
CREATE TABLE IF NOT EXISTS settings (
	name VARCHAR(255) NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
