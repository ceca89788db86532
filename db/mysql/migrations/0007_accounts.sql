-- The built-in accounts service: see the sqlite migration of the same
-- number for what each table holds. Indexes are declared inside CREATE
-- TABLE IF NOT EXISTS, so the file is safe to run again after a crash
-- (MySQL commits DDL at once and has no CREATE INDEX IF NOT EXISTS).
-- Hashes are VARBINARY(64) so that they can be keys; other binary columns
-- are BLOB.

CREATE TABLE IF NOT EXISTS accounts_users (
	uid VARCHAR(32) NOT NULL PRIMARY KEY,
	email VARCHAR(255) NOT NULL,
	client_salt VARCHAR(255) NOT NULL,
	auth_salt BLOB NOT NULL,
	verify_hash BLOB NOT NULL,
	wrap_wrap_kb BLOB NOT NULL,
	ka BLOB NOT NULL,
	keys_changed_at BIGINT NOT NULL,
	verifier_set_at BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	disabled SMALLINT NOT NULL DEFAULT 0,
	locale VARCHAR(64) NOT NULL DEFAULT '',
	command_index BIGINT NOT NULL DEFAULT 0,
	UNIQUE KEY accounts_users_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS accounts_tokens (
	id_hash VARBINARY(64) NOT NULL PRIMARY KEY,
	kind VARCHAR(16) NOT NULL,
	uid VARCHAR(32) NOT NULL,
	hmac_key BLOB NOT NULL,
	bundle TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	last_used BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	user_agent TEXT NOT NULL,
	device_id VARCHAR(64) NOT NULL,
	KEY accounts_tokens_uid_idx (uid),
	KEY accounts_tokens_expires_idx (expires)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS accounts_codes (
	hash VARBINARY(64) NOT NULL PRIMARY KEY,
	client_id VARCHAR(64) NOT NULL,
	uid VARCHAR(32) NOT NULL,
	scope TEXT NOT NULL,
	challenge VARCHAR(255) NOT NULL,
	keys_jwe MEDIUMTEXT NOT NULL,
	session_id_hash VARBINARY(64),
	auth_at BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	KEY accounts_codes_uid_idx (uid),
	KEY accounts_codes_expires_idx (expires)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS accounts_refresh (
	hash VARBINARY(64) NOT NULL PRIMARY KEY,
	client_id VARCHAR(64) NOT NULL,
	uid VARCHAR(32) NOT NULL,
	scope TEXT NOT NULL,
	device_id VARCHAR(64) NOT NULL,
	session_id_hash VARBINARY(64),
	created_at BIGINT NOT NULL,
	last_used BIGINT NOT NULL,
	KEY accounts_refresh_uid_idx (uid),
	KEY accounts_refresh_session_idx (session_id_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS accounts_devices (
	uid VARCHAR(32) NOT NULL,
	id VARCHAR(64) NOT NULL,
	credential_hash VARBINARY(64) NOT NULL,
	name TEXT NOT NULL,
	type VARCHAR(32) NOT NULL,
	available_commands MEDIUMTEXT NOT NULL,
	push_callback TEXT NOT NULL,
	push_public_key TEXT NOT NULL,
	push_auth_key TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	last_access BIGINT NOT NULL,
	PRIMARY KEY (uid, id),
	UNIQUE KEY accounts_devices_credential (credential_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS accounts_commands (
	uid VARCHAR(32) NOT NULL,
	idx BIGINT NOT NULL,
	target_device_id VARCHAR(64) NOT NULL,
	command VARCHAR(255) NOT NULL,
	payload MEDIUMTEXT NOT NULL,
	sender VARCHAR(64) NOT NULL,
	expires BIGINT NOT NULL,
	PRIMARY KEY (uid, idx),
	KEY accounts_commands_target_idx (uid, target_device_id, idx),
	KEY accounts_commands_expires_idx (expires)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS accounts_invites (
	hash VARBINARY(64) NOT NULL PRIMARY KEY,
	email VARCHAR(255) NOT NULL,
	created_at BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	used_at BIGINT NOT NULL DEFAULT 0,
	KEY accounts_invites_expires_idx (expires)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS accounts_keys (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	jwk MEDIUMBLOB NOT NULL,
	created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
