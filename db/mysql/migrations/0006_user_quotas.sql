-- Per-account quota overrides (`syncserver users set-quota`), keyed by the
-- tokenserver email so that an override survives a key change (see the
-- sqlite migration of the same number).
CREATE TABLE IF NOT EXISTS user_quotas (
	email VARCHAR(255) NOT NULL PRIMARY KEY,
	quota_bytes BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
