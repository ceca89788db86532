package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Maintenance are the dialect hooks of purge --vacuum and of the
// statistics behind metrics and `syncserver check`.
//
// What each backend should set:
//   - SQLite: Compact runs VACUUM then PRAGMA wal_checkpoint(TRUNCATE);
//     Size is page_count × page_size, free freelist_count × page_size;
//     Synchronous reads PRAGMA synchronous back.
//   - MySQL/MariaDB: Compact runs OPTIMIZE TABLE on each table (InnoDB
//     rebuilds it online); Size sums data_length + index_length of
//     information_schema.TABLES for DATABASE(), free sums data_free.
//   - PostgreSQL: Compact runs VACUUM (ANALYZE) on each table (it cannot
//     run in a transaction; VACUUM FULL would lock the tables out);
//     Size is pg_database_size(current_database()), free -1.
type Maintenance struct {
	// Compact gives the space of deleted rows back to the file system.
	// It runs outside any transaction, on w (the writer pool), over
	// tables; step, when set, is told each step as it starts.
	Compact func(ctx context.Context, w *sql.DB, tables []string, step func(string)) error
	// Size returns the size of the database in bytes and the part of it
	// a Compact would give back (-1 when unknown).
	Size func(ctx context.Context, q Querier) (total, free int64, err error)
	// Synchronous returns the durability level the connections run with
	// (SQLite's PRAGMA synchronous); nil for a backend without one.
	Synchronous func(ctx context.Context, q Querier) (string, error)
}

// compactTables are the tables whose deleted rows a compaction reclaims.
func compactTables() []string {
	return []string{"bso", "batch_upload_items", "batch_uploads", "user_collections", "user_meta", "users"}
}

// Compact gives the space of deleted rows back to the file system (SQLite
// VACUUM, MySQL OPTIMIZE TABLE). It may block writers while it runs, so it
// is an operator's explicit choice (`syncserver purge --vacuum`), never
// part of the periodic purge. errors.ErrUnsupported when the backend
// cannot.
func (s *Store) Compact(ctx context.Context, step func(string)) error {
	if s.d.Maintenance.Compact == nil {
		return fmt.Errorf("sqldb: %s: compacting the database: %w", s.d.Name, errors.ErrUnsupported)
	}
	if err := s.Ping(ctx); err != nil {
		return err
	}
	if step == nil {
		step = func(string) {}
	}
	return s.dbErr(s.d.Maintenance.Compact(ctx, s.writer, compactTables(), step))
}

// databaseSize asks the dialect for the database's size; -1, -1 when it
// cannot tell.
func (s *Store) databaseSize(q *querier) (total, free int64, err error) {
	if s.d.Maintenance.Size == nil {
		return -1, -1, nil
	}
	total, free, err = s.d.Maintenance.Size(q.ctx, q.tx)
	if err != nil {
		return -1, -1, q.fail(err)
	}
	return total, free, nil
}
