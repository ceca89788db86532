-- The storage tables of the legacy Python server (server-syncstorage's SQL backend).
-- A legacy database already has them, latin1 with a case-insensitive
-- collation: IF NOT EXISTS leaves them, and their rows, as they are, and
-- ids keep comparing as they always did there. New tables are utf8mb4 and
-- compare exactly: names with utf8mb4_bin, record ids as VARBINARY, which
-- unlike a _bin collation does not ignore trailing spaces either.

-- Collection names are global; ids are handed out in first-write order.
CREATE TABLE IF NOT EXISTS collections (
	collectionid INT NOT NULL AUTO_INCREMENT,
	name VARCHAR(32) NOT NULL,
	PRIMARY KEY (collectionid),
	UNIQUE KEY name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- info/collections: each user's collections and their last-modified ms.
CREATE TABLE IF NOT EXISTS user_collections (
	userid BIGINT NOT NULL,
	collection INT NOT NULL,
	last_modified BIGINT NOT NULL,
	PRIMARY KEY (userid, collection)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Records. modified is in ms; ttl is the absolute expiry in epoch seconds
-- (BIGINT: the legacy INT ends in 2038); payload_size is the payload's
-- length in characters.
CREATE TABLE IF NOT EXISTS bso (
	userid BIGINT NOT NULL,
	collection INT NOT NULL,
	id VARBINARY(64) NOT NULL,
	sortindex INT,
	modified BIGINT NOT NULL,
	payload MEDIUMTEXT NOT NULL,
	payload_size INT NOT NULL DEFAULT 0,
	ttl BIGINT NOT NULL DEFAULT 253402300799,
	PRIMARY KEY (userid, collection, id),
	KEY bso_ttl_idx (ttl),
	KEY bso_usr_col_mod_idx (userid, collection, modified)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Open batch uploads; batch is the creation ms + uid % 10.
CREATE TABLE IF NOT EXISTS batch_uploads (
	batch BIGINT NOT NULL,
	userid BIGINT NOT NULL,
	collection INT NOT NULL,
	PRIMARY KEY (batch, userid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Staged records; NULL means "not provided"; ttl_offset is relative.
CREATE TABLE IF NOT EXISTS batch_upload_items (
	batch BIGINT NOT NULL,
	userid BIGINT NOT NULL,
	id VARBINARY(64) NOT NULL,
	sortindex INT,
	payload MEDIUMTEXT,
	payload_size INT,
	ttl_offset INT,
	PRIMARY KEY (batch, userid, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
