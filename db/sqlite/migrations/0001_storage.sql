-- The storage tables of the legacy Python server (server-syncstorage),
-- column for column as SQLAlchemy created them in SQLite. A legacy
-- syncserver.db already has them: IF NOT EXISTS leaves them, and their rows,
-- exactly as they are.

-- Collection names are global; ids were handed out in first-write order.
CREATE TABLE IF NOT EXISTS collections (
	collectionid INTEGER NOT NULL,
	name VARCHAR(32) NOT NULL,
	PRIMARY KEY (collectionid),
	UNIQUE (name)
);

-- info/collections: each user's collections and their last-modified ms.
CREATE TABLE IF NOT EXISTS user_collections (
	userid INTEGER NOT NULL,
	collection INTEGER NOT NULL,
	last_modified BIGINT NOT NULL,
	PRIMARY KEY (userid, collection)
);

-- Records. modified is in ms; ttl is the absolute expiry in epoch seconds;
-- payload_size is the payload's length in characters.
CREATE TABLE IF NOT EXISTS bso (
	userid INTEGER NOT NULL,
	collection INTEGER NOT NULL,
	id VARCHAR(64) NOT NULL,
	sortindex INTEGER,
	modified BIGINT NOT NULL,
	payload TEXT NOT NULL,
	payload_size INTEGER DEFAULT 0 NOT NULL,
	ttl INTEGER DEFAULT 2100000000 NOT NULL,
	PRIMARY KEY (userid, collection, id)
);
CREATE INDEX IF NOT EXISTS bso_ttl_idx ON bso (ttl);
CREATE INDEX IF NOT EXISTS bso_usr_col_mod_idx ON bso (userid, collection, modified);

-- Open batch uploads; batch is the creation ms + uid % 10.
CREATE TABLE IF NOT EXISTS batch_uploads (
	batch BIGINT NOT NULL,
	userid INTEGER NOT NULL,
	collection INTEGER NOT NULL,
	PRIMARY KEY (batch, userid)
);

-- Staged records; NULL means "not provided"; ttl_offset is relative.
CREATE TABLE IF NOT EXISTS batch_upload_items (
	batch BIGINT NOT NULL,
	userid INTEGER NOT NULL,
	id VARCHAR(64) NOT NULL,
	sortindex INTEGER,
	payload TEXT,
	payload_size INTEGER,
	ttl_offset INTEGER,
	PRIMARY KEY (batch, userid, id)
);
