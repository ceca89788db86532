-- Mozilla's tokenserver tables (its SQL schema), so that its admin
-- tools and existing tokenserver databases work. The users table comes
-- from the dialect's UsersDDL after this file, unless one exists already
-- (a legacy single-node one is converted by EnsureNode). node is longer
-- than Mozilla's 64 characters: it holds this server's public URL.

CREATE TABLE IF NOT EXISTS services (
	id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	service VARCHAR(30),
	pattern VARCHAR(128),
	UNIQUE KEY service (service)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS nodes (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	service INT NOT NULL,
	node VARCHAR(255) NOT NULL,
	available INT NOT NULL DEFAULT 0,
	current_load INT NOT NULL DEFAULT 0,
	capacity INT NOT NULL DEFAULT 0,
	downed INT NOT NULL DEFAULT 0,
	backoff INT NOT NULL DEFAULT 0,
	UNIQUE KEY unique_idx (service, node)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
