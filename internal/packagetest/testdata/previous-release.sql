-- A sqlite database written by syncserver at commit feca348 (schema version 6, before the built-in accounts)
-- through its API (internal/packagetest, -update). Do not edit.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE syncserver_schema (version INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at BIGINT NOT NULL);
INSERT INTO syncserver_schema VALUES(1,'storage',1796544462893);
INSERT INTO syncserver_schema VALUES(2,'syncserver',1796544462894);
INSERT INTO syncserver_schema VALUES(3,'tokenserver',1796544462895);
INSERT INTO syncserver_schema VALUES(4,'never_expires',1796544462895);
INSERT INTO syncserver_schema VALUES(5,'paging_index',1796544462895);
INSERT INTO syncserver_schema VALUES(6,'user_quotas',1796544462895);
CREATE TABLE collections (
	collectionid INTEGER NOT NULL,
	name VARCHAR(32) NOT NULL,
	PRIMARY KEY (collectionid),
	UNIQUE (name)
);
INSERT INTO collections VALUES(1,'tabs');
INSERT INTO collections VALUES(2,'meta');
INSERT INTO collections VALUES(3,'bookmarks');
INSERT INTO collections VALUES(4,'passwords');
CREATE TABLE user_collections (
	userid INTEGER NOT NULL,
	collection INTEGER NOT NULL,
	last_modified BIGINT NOT NULL,
	PRIMARY KEY (userid, collection)
);
INSERT INTO user_collections VALUES(42,1,1796544463000);
INSERT INTO user_collections VALUES(42,2,1796544463010);
INSERT INTO user_collections VALUES(42,3,1796544463020);
INSERT INTO user_collections VALUES(43,4,1796544463000);
CREATE TABLE bso (
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
INSERT INTO bso VALUES(42,1,'laptop',7,1796544463000,'previous release: tabs',22,253402300799);
INSERT INTO bso VALUES(42,2,'global',7,1796544463010,'{"syncID":"prev","storageVersion":5}',36,253402300799);
INSERT INTO bso VALUES(42,3,'menu',7,1796544463020,'previous release: bookmarks',27,253402300799);
INSERT INTO bso VALUES(43,4,'p1',7,1796544463000,'previous release: another user',30,253402300799);
CREATE TABLE batch_uploads (
	batch BIGINT NOT NULL,
	userid INTEGER NOT NULL,
	collection INTEGER NOT NULL,
	PRIMARY KEY (batch, userid)
);
CREATE TABLE batch_upload_items (
	batch BIGINT NOT NULL,
	userid INTEGER NOT NULL,
	id VARCHAR(64) NOT NULL,
	sortindex INTEGER,
	payload TEXT,
	payload_size INTEGER,
	ttl_offset INTEGER,
	PRIMARY KEY (batch, userid, id)
);
CREATE TABLE user_meta (
	userid INTEGER NOT NULL PRIMARY KEY,
	last_modified BIGINT NOT NULL,
	last_write BIGINT NOT NULL
);
INSERT INTO user_meta VALUES(42,1796544463020,1796544463020);
INSERT INTO user_meta VALUES(43,1796544463000,1796544463000);
CREATE TABLE settings (
	name VARCHAR(255) NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE services (
	id INTEGER PRIMARY KEY,
	service VARCHAR(30) UNIQUE,
	pattern VARCHAR(128)
);
INSERT INTO services VALUES(1,'sync-1.5','{node}/storage/1.5/{uid}');
CREATE TABLE nodes (
	id INTEGER PRIMARY KEY,
	service INTEGER NOT NULL,
	node VARCHAR(64) NOT NULL,
	available INTEGER DEFAULT 0 NOT NULL,
	current_load INTEGER DEFAULT 0 NOT NULL,
	capacity INTEGER DEFAULT 0 NOT NULL,
	downed INTEGER DEFAULT 0 NOT NULL,
	backoff INTEGER DEFAULT 0 NOT NULL
);
INSERT INTO nodes VALUES(1,1,'http://127.0.0.1:45129',2147483647,0,2147483647,0,0);
CREATE TABLE users (
				uid INTEGER PRIMARY KEY AUTOINCREMENT,
				service INTEGER NOT NULL,
				email VARCHAR(255) NOT NULL,
				generation BIGINT NOT NULL,
				client_state VARCHAR(32) NOT NULL,
				created_at BIGINT NOT NULL,
				replaced_at BIGINT,
				nodeid BIGINT NOT NULL,
				keys_changed_at BIGINT
			);
CREATE TABLE user_quotas (
	email VARCHAR(255) NOT NULL PRIMARY KEY,
	quota_bytes BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
DELETE FROM sqlite_sequence;
CREATE INDEX bso_ttl_idx ON bso (ttl);
CREATE INDEX bso_usr_col_mod_idx ON bso (userid, collection, modified);
CREATE UNIQUE INDEX unique_idx ON nodes (service, node);
CREATE INDEX lookup_idx ON users (email, service, created_at);
CREATE INDEX replaced_at_idx ON users (service, replaced_at);
CREATE INDEX node_idx ON users (nodeid);
CREATE INDEX bso_usr_col_mod_id_idx ON bso (userid, collection, modified, id);
COMMIT;
