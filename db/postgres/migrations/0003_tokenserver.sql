-- Mozilla's tokenserver tables (its SQL schema), so that its admin
-- tools and existing tokenserver databases work. The users table comes
-- from the dialect's UsersDDL after this file, unless one exists already
-- (a legacy single-node one is converted by EnsureNode). node is longer
-- than Mozilla's 64 characters: it holds this server's public URL.

CREATE TABLE IF NOT EXISTS services (
	id SERIAL PRIMARY KEY,
	service VARCHAR(30) UNIQUE,
	pattern VARCHAR(128)
);

CREATE TABLE IF NOT EXISTS nodes (
	id BIGSERIAL PRIMARY KEY,
	service INTEGER NOT NULL,
	node VARCHAR(255) NOT NULL,
	available INTEGER NOT NULL DEFAULT 0,
	current_load INTEGER NOT NULL DEFAULT 0,
	capacity INTEGER NOT NULL DEFAULT 0,
	downed INTEGER NOT NULL DEFAULT 0,
	backoff INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS unique_idx ON nodes (service, node);
