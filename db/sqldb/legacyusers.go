package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"syncserver/db"
)

// The legacy syncserver bundle kept its users in one table of its own
// layout: service is the string 'sync-1.5', there
// is no nodeid and no services or nodes table, and node holds whatever
// public URL the row was created under (never read). EnsureNode converts
// it in place into Mozilla's layout, the first time it runs:
//
//   - a complete copy of the database is written first, never overwriting
//     an earlier copy, unless the copy taken when the database was first
//     migrated (recorded in settings) already holds the table as it is;
//   - every row keeps its uid, replaced rows included, so every account
//     keeps its storage and every old client state stays refused;
//   - service becomes the id of its services row; nodeid is the configured
//     node for every row (the old node column would send Firefox to an old
//     host, and a row without a node would get a new, empty uid);
//   - keys_changed_at is copied as is: NULL and 0 both mean "none", and a
//     backfilled value would lock today's Firefox out;
//   - the uid generator is moved past the highest uid of users and of the
//     storage tables, so no uid with orphaned data is handed out again;
//   - it all happens in one transaction, and does nothing the second time.
//     MySQL commits DDL at once: there a conversion cut short leaves the
//     legacy table under legacyUsersAside, and the next EnsureNode starts
//     again from it (the users table made from it is dropped; no user
//     was served from it, as usersReady refused while the table aside
//     existed). The table aside goes last, once everything else is done.

// legacyUsersAside is the name the legacy table has while it is copied.
const legacyUsersAside = "users_legacy_single_node"

// isLegacyUsers reports whether the users columns are the legacy layout.
func isLegacyUsers(cols []string) bool {
	return cols != nil && !slices.Contains(cols, "nodeid")
}

func (s *Store) convertLegacyUsers(q *querier, service, node string, nid int64) error {
	cols, err := s.d.TableColumns(q.ctx, q.tx, "users")
	if err != nil {
		return q.fail(err)
	}
	aside, err := s.d.TableColumns(q.ctx, q.tx, legacyUsersAside)
	if err != nil {
		return q.fail(err)
	}
	src := "users"
	switch {
	case aside != nil && isLegacyUsers(cols):
		return fmt.Errorf("%w: both users and %s have the legacy layout; keep the one to convert under users and drop the other", db.ErrUnavailable, legacyUsersAside)
	case aside != nil:
		// A conversion was cut short (MySQL): start again from the
		// legacy table.
		if cols != nil {
			if _, err := q.exec("DROP TABLE users"); err != nil {
				return err
			}
		}
		s.log.Warn("resuming a conversion of the legacy users table that was cut short", logKeyTable, legacyUsersAside)
		cols, src = aside, legacyUsersAside
	case !isLegacyUsers(cols):
		return nil
	}
	for _, c := range []string{"uid", "service", "email", "generation", "client_state", "created_at"} {
		if !slices.Contains(cols, c) {
			return fmt.Errorf("%w: the users table has neither the legacy nor Mozilla's layout (no %s column); not converting it", db.ErrUnavailable, c)
		}
	}
	copyPath := s.BackupPath()
	if copyPath == "" {
		// The users table changes only here, so a copy taken when the
		// database was first migrated, by any process, still holds it.
		err := q.scan("SELECT value FROM settings WHERE name = ?", []any{legacyCopySetting}, &copyPath)
		if errors.Is(err, sql.ErrNoRows) {
			if err := s.backupLegacy(q, "pre-users-migration"); err != nil {
				return err
			}
			copyPath = s.BackupPath()
		} else if err != nil {
			return err
		}
	}

	var total int64
	if err := q.scan("SELECT COUNT(*) FROM "+src, nil, &total); err != nil {
		return err
	}
	// Each service string gets a services row and, on it, the node.
	rows, err := q.query("SELECT DISTINCT service FROM " + src)
	if err != nil {
		return err
	}
	var services []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return q.fail(err)
		}
		services = append(services, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return q.fail(err)
	}
	for _, name := range services {
		if name == service {
			continue
		}
		other, err := s.ensureService(q, name)
		if err != nil {
			return err
		}
		if _, err := s.ensureNode(q, other, node, 0); err != nil {
			return err
		}
	}

	if src == "users" {
		if _, err := q.exec("ALTER TABLE users RENAME TO " + legacyUsersAside); err != nil {
			return err
		}
	}
	if len(s.d.UsersDDL) == 0 {
		return fmt.Errorf("sqldb: dialect %s has no UsersDDL", s.d.Name)
	}
	if _, err := q.exec(s.d.UsersDDL[0]); err != nil {
		return err
	}
	// Columns added by hand over the years may be missing or elsewhere;
	// everything is named, nothing read by position.
	kca, replaced := "NULL", "NULL"
	if slices.Contains(cols, "keys_changed_at") {
		kca = "l.keys_changed_at"
	}
	if slices.Contains(cols, "replaced_at") {
		replaced = "l.replaced_at"
	}
	res, err := q.exec(`INSERT INTO users (uid, service, email, generation, client_state, created_at, replaced_at, nodeid, keys_changed_at)
		SELECT l.uid, s.id, l.email, l.generation, l.client_state, l.created_at, `+replaced+`, n.id, `+kca+`
		FROM `+legacyUsersAside+` l JOIN services s ON s.service = l.service
		JOIN nodes n ON n.service = s.id AND n.node = ?`, node)
	if err != nil {
		return err
	}
	copied, err := res.RowsAffected()
	if err != nil {
		return q.fail(err)
	}
	if copied != total {
		return fmt.Errorf("%w: converting the legacy users table copied %d of %d rows; nothing was changed", db.ErrUnavailable, copied, total)
	}

	var maxUID sql.NullInt64
	if err := q.scan(`SELECT MAX(m) FROM (
		SELECT MAX(uid) AS m FROM users
		UNION ALL SELECT MAX(userid) AS m FROM user_collections
		UNION ALL SELECT MAX(userid) AS m FROM bso
		UNION ALL SELECT MAX(userid) AS m FROM batch_uploads) x`, nil, &maxUID); err != nil {
		return err
	}
	if s.d.BumpSequence == nil {
		return fmt.Errorf("sqldb: dialect %s has no BumpSequence", s.d.Name)
	}
	if err := s.d.BumpSequence(q.ctx, q.tx, "users", "uid", maxUID.Int64); err != nil {
		return q.fail(err)
	}
	if _, err := q.exec(`UPDATE nodes SET current_load = (SELECT COUNT(DISTINCT email) FROM users
		WHERE users.nodeid = nodes.id AND users.replaced_at IS NULL) WHERE id = ?`, nid); err != nil {
		return err
	}
	// Index names are global in SQLite and PostgreSQL: the legacy
	// table's lookup_idx must go before users gets its own.
	if _, err := q.exec("DROP TABLE " + legacyUsersAside); err != nil {
		return err
	}
	for _, stmt := range s.d.UsersDDL[1:] {
		if _, err := q.exec(stmt); err != nil {
			return err
		}
	}
	s.log.Warn("converted the legacy single-node users table to the tokenserver layout",
		logKeyRows, total, logKeyNode, node, logKeyMaxUID, maxUID.Int64, logKeyCopy, copyPath)
	return nil
}
