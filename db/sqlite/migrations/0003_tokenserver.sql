-- Mozilla's tokenserver tables (its SQL schema), so that its admin
-- tools and existing tokenserver databases work. The users table comes
-- from the dialect's UsersDDL after this file, unless one exists already
-- (a legacy single-node one is converted by EnsureNode).

CREATE TABLE IF NOT EXISTS services (
	id INTEGER PRIMARY KEY,
	service VARCHAR(30) UNIQUE,
	pattern VARCHAR(128)
);

CREATE TABLE IF NOT EXISTS nodes (
	id INTEGER PRIMARY KEY,
	service INTEGER NOT NULL,
	node VARCHAR(64) NOT NULL,
	available INTEGER DEFAULT 0 NOT NULL,
	current_load INTEGER DEFAULT 0 NOT NULL,
	capacity INTEGER DEFAULT 0 NOT NULL,
	downed INTEGER DEFAULT 0 NOT NULL,
	backoff INTEGER DEFAULT 0 NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS unique_idx ON nodes (service, node);
