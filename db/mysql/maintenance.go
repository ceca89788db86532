package mysql

import (
	"context"
	"database/sql"
	"fmt"

	"syncserver/db/sqldb"
)

// maintenance is MySQL's part of purge --vacuum and of the statistics.
func maintenance() sqldb.Maintenance {
	return sqldb.Maintenance{Compact: optimize, Size: size}
}

// optimize rebuilds each table without the space of deleted rows (InnoDB
// does it online: reads and writes go on).
func optimize(ctx context.Context, w *sql.DB, tables []string, step func(string)) error {
	for _, table := range tables {
		stmt := "OPTIMIZE TABLE `" + table + "`"
		step(stmt)
		rows, err := w.QueryContext(ctx, stmt)
		if err != nil {
			return err
		}
		for rows.Next() {
			var name, op, kind, text string
			if err := rows.Scan(&name, &op, &kind, &text); err != nil {
				rows.Close()
				return err
			}
			if kind == "error" {
				rows.Close()
				return fmt.Errorf("%s: %s", stmt, text)
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	return nil
}

// size sums the tables' data and indexes, and the space an OPTIMIZE
// would give back, from the server's statistics.
func size(ctx context.Context, q sqldb.Querier) (total, free int64, err error) {
	err = q.QueryRowContext(ctx, `SELECT COALESCE(SUM(data_length + index_length), 0), COALESCE(SUM(data_free), 0)
		FROM information_schema.tables WHERE table_schema = DATABASE()`).Scan(&total, &free)
	return total, free, err
}
