package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"syncserver/db/sqldb"
)

// maintenance is SQLite's part of purge --vacuum and of the statistics.
func maintenance() sqldb.Maintenance {
	return sqldb.Maintenance{Compact: vacuum, Size: size, Synchronous: readSynchronous}
}

// vacuum rebuilds the file without the pages of deleted rows. It holds the
// write lock while it runs (writers wait up to busy_timeout) and needs as
// much free disk as the database's size. The WAL it grows is then
// truncated, so the space really goes back to the file system.
func vacuum(ctx context.Context, w *sql.DB, _ []string, step func(string)) error {
	conn, err := w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	step("VACUUM")
	if _, err := conn.ExecContext(ctx, "VACUUM"); err != nil {
		return err
	}
	step("PRAGMA wal_checkpoint(TRUNCATE)")
	_, err = conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}

// size is the file's pages and the free ones, from SQLite's header: no
// table is read.
func size(ctx context.Context, q sqldb.Querier) (total, free int64, err error) {
	var pages, freePages, pageSize int64
	err = q.QueryRowContext(ctx, "SELECT p.page_count, f.freelist_count, s.page_size "+
		"FROM pragma_page_count() p, pragma_freelist_count() f, pragma_page_size() s").Scan(&pages, &freePages, &pageSize)
	return pages * pageSize, freePages * pageSize, err
}

// readSynchronous reads PRAGMA synchronous back from a connection (every
// connection of the store is opened with the same level), so that the
// level in force can be shown, and tested, rather than the one asked for.
func readSynchronous(ctx context.Context, q sqldb.Querier) (string, error) {
	var level int
	if err := q.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level); err != nil {
		return "", err
	}
	if name, ok := map[int]string{0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[level]; ok {
		return name, nil
	}
	return fmt.Sprint(level), nil
}
