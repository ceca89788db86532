package sqldb

import (
	"context"
	"database/sql/driver"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"syncserver/db"
)

// Migrations.
//
// Each backend embeds its schema as numbered files NNNN_name.sql, numbered
// 1, 2, 3… without gaps; statements are separated by a ";" at the end of a
// line, and lines starting with "--" are comments. The same number means the
// same change in every dialect. syncserver_schema records what was applied;
// a database whose version is above the newest file is refused with
// db.ErrSchemaTooNew rather than being served by code that does not know
// its layout.
//
// The legacy server's tables are created only when absent, never altered
// destructively: an existing legacy database opens in place. Before the
// first migration changes a database that already holds legacy tables,
// Dialect.Backup writes a complete copy of it; so it does before the
// migrations of an upgrade change a database an older release wrote.
//
// A few steps cannot be said in a file and run as Go around the file of
// the same number (see preStep and postStep). A legacy single-node users
// table is converted later, by EnsureNode, which knows the node URL; a
// future migration touching users must therefore accept that layout too.

const schemaTable = "syncserver_schema"

// settingsVersion is the migration that creates the settings table.
const settingsVersion = 2

// legacyCopySetting names the setting that records where the copy of a
// legacy database taken before its first migration went.
const legacyCopySetting = "syncserver.legacy_copy"

// migrationFileRE matches migration file names.
var migrationFileRE = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// legacyTables are the tables whose presence in an unversioned database
// means a legacy server wrote it.
func legacyTables() []string {
	return []string{"bso", "collections", "user_collections", "batch_uploads", "users"}
}

type migration struct {
	version int
	name    string
	stmts   []string
}

// preStep runs before the migration file of its version.
func (s *Store) preStep(version int, q *querier) error {
	switch version {
	case 1:
		return s.setAsideOldBatchItems(q)
	}
	return nil
}

// postStep runs after the migration file of its version.
func (s *Store) postStep(version int, q *querier) error {
	switch version {
	case 3:
		return s.createUsersTable(q)
	}
	return nil
}

func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("sqldb: reading migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		m := migrationFileRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		v, _ := strconv.Atoi(m[1])
		text, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("sqldb: reading migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: m[2], stmts: splitStatements(string(text))})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("sqldb: migration %04d_%s: expected number %d", m.version, m.name, i+1)
		}
	}
	return ms, nil
}

// splitStatements cuts a migration file into statements.
func splitStatements(text string) []string {
	var stmts []string
	var cur strings.Builder
	for line := range strings.Lines(text) {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		if strings.HasSuffix(trimmed, ";") {
			if stmt := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"); stmt != "" {
				stmts = append(stmts, stmt)
			}
			cur.Reset()
		}
	}
	if stmt := strings.TrimSpace(cur.String()); stmt != "" {
		stmts = append(stmts, stmt)
	}
	return stmts
}

// SchemaVersion is the newest migration applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	if err := s.ready(ctx); err != nil {
		return 0, err
	}
	return s.schemaVersionNow(ctx)
}

func (s *Store) schemaVersionNow(ctx context.Context) (int, error) {
	var v int
	err := s.readNow(ctx, func(q *querier) error {
		var err error
		v, err = s.schemaVersion(q)
		return err
	})
	return v, err
}

func (s *Store) schemaVersion(q *querier) (int, error) {
	cols, err := s.d.TableColumns(q.ctx, q.tx, schemaTable)
	if err != nil || cols == nil {
		return 0, q.fail(err)
	}
	var v int
	err = q.scan("SELECT COALESCE(MAX(version), 0) FROM "+schemaTable, nil, &v)
	return v, err
}

// migrate applies the pending migrations in one write transaction: a
// database is either migrated completely or not at all, and processes
// opening it together queue on the write lock (and Dialect.SchemaLock),
// the first migrating it and the others finding it done. MySQL commits
// DDL at once, so there a migration cut short is run again from its start
// (see Dialect.Redundant): its statements must be safe to repeat.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations(s.d.Migrations)
	if err != nil {
		return err
	}
	latest := len(ms)
	v, err := s.schemaVersionNow(ctx)
	if err != nil {
		return err
	}
	if v == latest {
		return nil
	}
	return s.withSchemaLock(ctx, func() error {
		return s.writeNow(ctx, func(q *querier) error {
			v, err := s.schemaVersion(q)
			switch {
			case err != nil:
				return err
			case v > latest:
				return errSchemaTooNew(v, latest)
			case v > 0 && v < latest:
				// An upgrade: the data written by the older release is
				// copied as a legacy database is, so that going back to
				// that release stays possible.
				if err := s.backupUpgrade(q, v, latest); err != nil {
					return err
				}
			case v == 0:
				if err := s.backupLegacy(q, "pre-migration"); err != nil {
					return err
				}
				if _, err := q.exec("CREATE TABLE IF NOT EXISTS " + schemaTable +
					" (version INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at BIGINT NOT NULL)"); err != nil {
					return err
				}
			}
			for _, m := range ms[v:] {
				if err := s.apply(q, m); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

func errSchemaTooNew(v, latest int) error {
	return fmt.Errorf("%w: the database is at schema version %d and this syncserver knows versions up to %d; "+
		"run the newer syncserver again, or restore the copy of the database taken before it upgraded",
		db.ErrSchemaTooNew, v, latest)
}

// readSchemaVersions reads, for an Inspect store, the database's schema
// version and the newest this build knows, without changing anything.
func (s *Store) readSchemaVersions(ctx context.Context) error {
	ms, err := loadMigrations(s.d.Migrations)
	if err != nil {
		return err
	}
	v, err := s.schemaVersionNow(ctx)
	if err != nil {
		return err
	}
	if v > len(ms) {
		return errSchemaTooNew(v, len(ms))
	}
	var legacy bool
	if v == 0 {
		err = s.readNow(ctx, func(q *querier) error {
			for _, table := range legacyTables() {
				cols, err := s.d.TableColumns(q.ctx, q.tx, table)
				if err != nil {
					return q.fail(err)
				}
				legacy = legacy || cols != nil
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	s.schemaAt, s.schemaLatest, s.schemaLegacy = v, len(ms), legacy
	return nil
}

// Pending reports, for a Store opened with Config.Inspect, the schema
// version of the database and the one the server brings it to at start
// (equal when nothing is pending); copyFirst is set when the database
// holds a legacy server's tables, which the server copies before it
// migrates them. Other stores migrated at open: they report zeros.
func (s *Store) Pending() (at, latest int, copyFirst bool) {
	return s.schemaAt, s.schemaLatest, s.schemaLegacy
}

// withSchemaLock runs fn holding the dialect's schema lock, when it has
// one, on a connection of its own.
func (s *Store) withSchemaLock(ctx context.Context, fn func() error) error {
	if s.d.SchemaLock == nil {
		return fn()
	}
	conn, err := s.conn(ctx, s.writer)
	if err != nil {
		return err
	}
	defer conn.Close()
	unlock, err := s.d.SchemaLock(ctx, conn)
	if err != nil {
		return fmt.Errorf("taking the schema lock: %w", s.dbErr(err))
	}
	defer func() {
		if err := unlock(); err != nil {
			// The session may still hold the lock: never let the
			// connection serve again (closing it releases the lock).
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			s.log.Warn("releasing the schema lock", logKeyError, err.Error())
		}
	}()
	return fn()
}

// apply runs one migration and records it.
func (s *Store) apply(q *querier, m migration) error {
	start := time.Now()
	if err := s.preStep(m.version, q); err != nil {
		return err
	}
	for _, stmt := range m.stmts {
		if q.failed != nil {
			return q.failed
		}
		if _, err := q.tx.ExecContext(q.ctx, s.d.rebind(stmt)); err != nil {
			if s.d.redundant(err) {
				s.log.Info("migration statement had taken effect already", logKeyVersion, m.version, logKeyError, err.Error())
				continue
			}
			return fmt.Errorf("migration %04d_%s: %w", m.version, m.name, q.fail(err))
		}
	}
	if err := s.postStep(m.version, q); err != nil {
		return err
	}
	if _, err := q.exec("INSERT INTO "+schemaTable+" (version, name, applied_at) VALUES (?, ?, ?)",
		m.version, m.name, s.now().UnixMilli()); err != nil {
		return err
	}
	if path := s.BackupPath(); path != "" && m.version >= settingsVersion {
		// Record the copy, so that the users conversion, maybe run by
		// another process, knows the database was copied already.
		if _, err := q.exec("INSERT INTO settings (name, value) VALUES (?, ?)"+s.d.upsert([]string{"name"}, nil),
			legacyCopySetting, path); err != nil {
			return err
		}
	}
	s.log.Info("applying database migration", logKeyVersion, m.version, logKeyName, m.name, logKeyDuration, time.Since(start).Round(time.Millisecond))
	return nil
}

// backupLegacy copies the database before the first change to legacy
// data: only when it holds legacy tables, and at most once per Store. It
// runs inside the write transaction that is about to change the data, so
// nothing changes between the copy and the migration.
func (s *Store) backupLegacy(q *querier, reason string) error {
	if s.BackupPath() != "" {
		return nil
	}
	var found []string
	for _, table := range legacyTables() {
		cols, err := s.d.TableColumns(q.ctx, q.tx, table)
		if err != nil {
			return q.fail(err)
		}
		if cols != nil {
			found = append(found, table)
		}
	}
	if len(found) == 0 {
		return nil
	}
	if s.d.Backup == nil {
		s.log.Warn("migrating a legacy database without a copy: this database cannot be copied", logKeyTables, found)
		return nil
	}
	path, err := s.d.Backup(q.ctx, reason)
	if err != nil {
		return fmt.Errorf("%w: copying the database before migrating it: %w", db.ErrUnavailable, err)
	}
	s.mu.Lock()
	s.backup = path
	s.mu.Unlock()
	s.log.Warn("legacy database found: wrote a complete copy before migrating it", logKeyCopy, path, logKeyTables, found)
	return nil
}

// backupUpgrade copies a database at schema version from before the
// migrations to version to change it, as backupLegacy copies a legacy one.
func (s *Store) backupUpgrade(q *querier, from, to int) error {
	if s.BackupPath() != "" {
		return nil
	}
	if s.d.Backup == nil {
		s.log.Warn("migrating the database without a copy: this database cannot be copied (take a dump before upgrading)",
			logKeyVersion, from, logKeyLatest, to)
		return nil
	}
	path, err := s.d.Backup(q.ctx, "pre-migration")
	if err != nil {
		return fmt.Errorf("%w: copying the database before migrating it: %w", db.ErrUnavailable, err)
	}
	s.mu.Lock()
	s.backup = path
	s.mu.Unlock()
	s.log.Warn("database of an older release: wrote a complete copy before migrating it", logKeyCopy, path,
		logKeyVersion, from, logKeyLatest, to)
	return nil
}

// setAsideOldBatchItems renames a batch_upload_items table from before
// April 2017 (no userid, ttl instead of ttl_offset) out of the way so that
// migration 1 creates the current layout. Its rows are pending batches,
// worthless after two hours; they are kept, not dropped.
func (s *Store) setAsideOldBatchItems(q *querier) error {
	cols, err := s.d.TableColumns(q.ctx, q.tx, "batch_upload_items")
	if err != nil || cols == nil {
		return q.fail(err)
	}
	if slices.Contains(cols, "userid") && slices.Contains(cols, "ttl_offset") {
		return nil
	}
	const aside = "batch_upload_items_pre2017"
	if _, err := q.exec("ALTER TABLE batch_upload_items RENAME TO " + aside); err != nil {
		return err
	}
	s.log.Warn("set aside a batch_upload_items table of the pre-2017 layout; its pending batches are abandoned", logKeyTable, aside)
	return nil
}

// createUsersTable creates Mozilla's users table when there is none. A
// legacy single-node users table is left for EnsureNode to convert.
func (s *Store) createUsersTable(q *querier) error {
	cols, err := s.d.TableColumns(q.ctx, q.tx, "users")
	if err != nil || cols != nil {
		return q.fail(err)
	}
	for _, stmt := range s.d.UsersDDL {
		if _, err := q.exec(stmt); err != nil {
			return err
		}
	}
	return nil
}
