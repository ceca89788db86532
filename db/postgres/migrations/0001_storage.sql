-- The storage tables of the legacy Python server (server-syncstorage's SQL backend).
-- A legacy database already has them: IF NOT EXISTS leaves them, and their
-- rows, as they are. Record ids and collection names use the "C"
-- collation: byte order, as SQLite's, whatever the database's locale.

-- Collection names are global; ids are handed out in first-write order.
CREATE TABLE IF NOT EXISTS collections (
	collectionid SERIAL PRIMARY KEY,
	name VARCHAR(32) COLLATE "C" NOT NULL UNIQUE
);

-- info/collections: each user's collections and their last-modified ms.
CREATE TABLE IF NOT EXISTS user_collections (
	userid BIGINT NOT NULL,
	collection INTEGER NOT NULL,
	last_modified BIGINT NOT NULL,
	PRIMARY KEY (userid, collection)
);

-- Records. modified is in ms; ttl is the absolute expiry in epoch seconds;
-- payload_size is the payload's length in characters.
CREATE TABLE IF NOT EXISTS bso (
	userid BIGINT NOT NULL,
	collection INTEGER NOT NULL,
	id VARCHAR(64) COLLATE "C" NOT NULL,
	sortindex INTEGER,
	modified BIGINT NOT NULL,
	payload TEXT NOT NULL,
	payload_size INTEGER NOT NULL DEFAULT 0,
	ttl BIGINT NOT NULL DEFAULT 253402300799,
	PRIMARY KEY (userid, collection, id)
);
CREATE INDEX IF NOT EXISTS bso_ttl_idx ON bso (ttl);
CREATE INDEX IF NOT EXISTS bso_usr_col_mod_idx ON bso (userid, collection, modified);

-- Open batch uploads; batch is the creation ms + uid % 10.
CREATE TABLE IF NOT EXISTS batch_uploads (
	batch BIGINT NOT NULL,
	userid BIGINT NOT NULL,
	collection INTEGER NOT NULL,
	PRIMARY KEY (batch, userid)
);

-- Staged records; NULL means "not provided"; ttl_offset is relative.
CREATE TABLE IF NOT EXISTS batch_upload_items (
	batch BIGINT NOT NULL,
	userid BIGINT NOT NULL,
	id VARCHAR(64) COLLATE "C" NOT NULL,
	sortindex INTEGER,
	payload TEXT,
	payload_size INTEGER,
	ttl_offset BIGINT,
	PRIMARY KEY (batch, userid, id)
);
