-- The built-in accounts service: see the sqlite migration of the same
-- number for what each table holds.

-- Accounts, keyed by uid (32 hex); emails are stored normalised
-- (trimmed, lower-case). command_index is the last index handed to a
-- device command of the account: it never goes back, even when purged
-- commands leave the commands table empty.
CREATE TABLE IF NOT EXISTS accounts_users (
	uid VARCHAR(32) NOT NULL PRIMARY KEY,
	email VARCHAR(255) NOT NULL UNIQUE,
	client_salt VARCHAR(255) NOT NULL,
	auth_salt BYTEA NOT NULL,
	verify_hash BYTEA NOT NULL,
	wrap_wrap_kb BYTEA NOT NULL,
	ka BYTEA NOT NULL,
	keys_changed_at BIGINT NOT NULL,
	verifier_set_at BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	disabled SMALLINT NOT NULL DEFAULT 0,
	locale VARCHAR(64) NOT NULL DEFAULT '',
	command_index BIGINT NOT NULL DEFAULT 0
);

-- Session and keyFetch tokens by the hash of their token id. expires 0
-- means never (sessions).
CREATE TABLE IF NOT EXISTS accounts_tokens (
	id_hash BYTEA NOT NULL PRIMARY KEY,
	kind VARCHAR(16) NOT NULL,
	uid VARCHAR(32) NOT NULL,
	hmac_key BYTEA NOT NULL,
	bundle TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	last_used BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	user_agent TEXT NOT NULL,
	device_id VARCHAR(64) NOT NULL
);
CREATE INDEX IF NOT EXISTS accounts_tokens_uid_idx ON accounts_tokens (uid);
CREATE INDEX IF NOT EXISTS accounts_tokens_expires_idx ON accounts_tokens (expires);

-- OAuth authorization codes awaiting their single redemption; keys_jwe
-- is opaque to the server.
CREATE TABLE IF NOT EXISTS accounts_codes (
	hash BYTEA NOT NULL PRIMARY KEY,
	client_id VARCHAR(64) NOT NULL,
	uid VARCHAR(32) NOT NULL,
	scope TEXT NOT NULL,
	challenge VARCHAR(255) NOT NULL,
	keys_jwe TEXT NOT NULL,
	session_id_hash BYTEA,
	auth_at BIGINT NOT NULL,
	expires BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS accounts_codes_uid_idx ON accounts_codes (uid);
CREATE INDEX IF NOT EXISTS accounts_codes_expires_idx ON accounts_codes (expires);

-- OAuth refresh tokens.
CREATE TABLE IF NOT EXISTS accounts_refresh (
	hash BYTEA NOT NULL PRIMARY KEY,
	client_id VARCHAR(64) NOT NULL,
	uid VARCHAR(32) NOT NULL,
	scope TEXT NOT NULL,
	device_id VARCHAR(64) NOT NULL,
	session_id_hash BYTEA,
	created_at BIGINT NOT NULL,
	last_used BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS accounts_refresh_uid_idx ON accounts_refresh (uid);
CREATE INDEX IF NOT EXISTS accounts_refresh_session_idx ON accounts_refresh (session_id_hash);

-- Devices. A credential (session token or refresh token hash) has at most
-- one device: the unique index turns racing registrations into one row.
-- available_commands is a JSON object.
CREATE TABLE IF NOT EXISTS accounts_devices (
	uid VARCHAR(32) NOT NULL,
	id VARCHAR(64) NOT NULL,
	credential_hash BYTEA NOT NULL UNIQUE,
	name TEXT NOT NULL,
	type VARCHAR(32) NOT NULL,
	available_commands TEXT NOT NULL,
	push_callback TEXT NOT NULL,
	push_public_key TEXT NOT NULL,
	push_auth_key TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	last_access BIGINT NOT NULL,
	PRIMARY KEY (uid, id)
);

-- Commands sent to devices, numbered per account (idx).
CREATE TABLE IF NOT EXISTS accounts_commands (
	uid VARCHAR(32) NOT NULL,
	idx BIGINT NOT NULL,
	target_device_id VARCHAR(64) NOT NULL,
	command VARCHAR(255) NOT NULL,
	payload TEXT NOT NULL,
	sender VARCHAR(64) NOT NULL,
	expires BIGINT NOT NULL,
	PRIMARY KEY (uid, idx)
);
CREATE INDEX IF NOT EXISTS accounts_commands_target_idx ON accounts_commands (uid, target_device_id, idx);
CREATE INDEX IF NOT EXISTS accounts_commands_expires_idx ON accounts_commands (expires);

-- Single-use sign-up invites; used_at 0 until taken.
CREATE TABLE IF NOT EXISTS accounts_invites (
	hash BYTEA NOT NULL PRIMARY KEY,
	email VARCHAR(255) NOT NULL,
	created_at BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	used_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS accounts_invites_expires_idx ON accounts_invites (expires);

-- The access tokens' signing keys (JWK JSON); the newest (highest id) is
-- the current one.
CREATE TABLE IF NOT EXISTS accounts_keys (
	id BIGSERIAL PRIMARY KEY,
	jwk BYTEA NOT NULL,
	created_at BIGINT NOT NULL
);
