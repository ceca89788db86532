-- Per-account quota overrides (`syncserver users set-quota`). Keyed by the
-- tokenserver email (<fxa uid>@<issuer>), not the uid, so that an override
-- survives a key change, which gives the account a new uid. quota_bytes 0
-- means no limit; without a row the server-wide [storage] quota_size
-- applies. updated_at is epoch milliseconds.
CREATE TABLE IF NOT EXISTS user_quotas (
	email VARCHAR(255) NOT NULL PRIMARY KEY,
	quota_bytes BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
