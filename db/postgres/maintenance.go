package postgres

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5"

	"syncserver/db/sqldb"
)

// maintenance is PostgreSQL's part of purge --vacuum and of the
// statistics.
func maintenance() sqldb.Maintenance {
	return sqldb.Maintenance{Compact: vacuum, Size: size}
}

// vacuum makes the space of deleted rows reusable and refreshes the
// planner's statistics, table by table. It runs outside a transaction, as
// VACUUM must, and never locks writers out (VACUUM FULL would).
func vacuum(ctx context.Context, w *sql.DB, tables []string, step func(string)) error {
	for _, table := range tables {
		stmt := "VACUUM (ANALYZE) " + pgx.Identifier{table}.Sanitize()
		step(stmt)
		// The simple protocol: VACUUM cannot be prepared.
		if _, err := w.ExecContext(ctx, stmt, pgx.QueryExecModeSimpleProtocol); err != nil {
			return err
		}
	}
	return nil
}

// size is the database's size on disk; PostgreSQL cannot tell cheaply
// how much a VACUUM would give back.
func size(ctx context.Context, q sqldb.Querier) (total, free int64, err error) {
	err = q.QueryRowContext(ctx, "SELECT pg_database_size(current_database())").Scan(&total)
	return total, -1, err
}
