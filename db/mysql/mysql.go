// Package mysql is syncserver's MySQL and MariaDB backend: db.Store through
// github.com/go-sql-driver/mysql. It reads the legacy sqluri, opens a
// writer and a reader pool, sets each connection's session and hands sqldb
// its dialect and embedded schema; everything else is sqldb's.
//
// Several syncserver processes, on several machines, may serve one
// database. A write transaction first locks the user's user_meta row
// (SELECT … FOR UPDATE), so the database itself serialises a user's writes
// and every writer reads the previous one's timestamp; different users
// never wait for each other. Writers run READ COMMITTED, with fewer gap
// locks than InnoDB's default, and give up after innodb_lock_wait_timeout
// with db.ErrConflict (503, Retry-After). Readers run REPEATABLE READ: a
// request sees one snapshot. Schema changes are serialised with GET_LOCK,
// since MySQL commits DDL at once. Nothing here is MySQL 8 only: MariaDB
// 10.11 runs the same SQL (LOCK … FOR UPDATE, VALUES() in upserts).
package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"syncserver/db/sqldb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Options tune Open. The zero value is a production setting.
type Options struct {
	// Pool sizes the writer and the reader pool ([storage] pool_*).
	Pool sqldb.Pool
	// LockTimeout is innodb_lock_wait_timeout: how long a write waits for
	// another server's write of the same user before it fails with
	// db.ErrConflict; default 10 s, as SQLite's busy timeout.
	LockTimeout time.Duration
	// Lazy lets Open succeed while the server is down (sqldb.Config.Lazy).
	Lazy bool
	// Inspect opens the database without changing it (sqldb.Config.Inspect).
	Inspect bool
	// Now is the clock; default time.Now. Tests inject one.
	Now func() time.Time
	// Logger receives migration notices; default discards.
	Logger *slog.Logger

	// wrap, when set, wraps the driver's connector of each server (tests
	// inject faults with it).
	wrap func(driver.Connector) driver.Connector
}

// Open connects to the database named by a legacy sqluri (mysql://,
// pymysql://, mysql+pymysql://…) and migrates it.
func Open(ctx context.Context, uri string, opts Options) (*sqldb.Store, error) {
	cfg, addrs, notes, err := parseURI(uri)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, n := range notes {
		log.Warn("mysql: " + n)
	}
	pool := opts.Pool.WithDefaults()
	if cfg.Timeout == 0 {
		cfg.Timeout = pool.Timeout
		if len(addrs) > 1 {
			// A member that does not answer must leave time to try
			// the others within pool_timeout.
			cfg.Timeout = max(time.Second, pool.Timeout/time.Duration(len(addrs)+1))
		}
	}
	lockWait := opts.LockTimeout
	if lockWait <= 0 {
		lockWait = 10 * time.Second
	}
	cfg.Logger = driverLogger{log}
	// One round trip per statement instead of prepare, execute and
	// close: the driver quotes the arguments itself (safe with utf8mb4).
	cfg.InterpolateParams = true
	cfg.Params = map[string]string{
		// Refuse what does not fit rather than truncate it, whatever the
		// server's default; and no mode that changes how SQL parses.
		"sql_mode":                 "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'",
		"innodb_lock_wait_timeout": strconv.Itoa(max(1, int(lockWait.Seconds()))),
	}
	const (
		writerSetup = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
		readerSetup = "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"
	)
	var w, r *sql.DB
	if len(addrs) > 1 {
		m, err := newMembers(cfg, addrs, opts.wrap)
		if err != nil {
			return nil, fmt.Errorf("mysql: %w", err)
		}
		w = sql.OpenDB(memberConnector{m, writerSetup})
		r = sql.OpenDB(memberConnector{m, readerSetup})
	} else {
		var conn driver.Connector
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, fmt.Errorf("mysql: %w", err)
		}
		if opts.wrap != nil {
			conn = opts.wrap(conn)
		}
		w = sql.OpenDB(session{conn, writerSetup})
		r = sql.OpenDB(session{conn, readerSetup})
	}
	pool.Configure(w)
	pool.Configure(r)
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	s, err := sqldb.New(ctx, sqldb.Config{Dialect: dialect(migrations, cfg.DBName, len(addrs) > 1), Writer: w, Reader: r,
		Now: opts.Now, Logger: log, PoolTimeout: pool.Timeout, Lazy: opts.Lazy, Inspect: opts.Inspect})
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	return s, nil
}

// session sets the isolation level of each new connection of a pool.
type session struct {
	driver.Connector
	setup string
}

// Connect opens a connection and runs the pool's setup on it.
func (c session) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.(driver.ExecerContext).ExecContext(ctx, c.setup, nil); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// dialect is MySQL's part of sqldb. failover is set when the sqluri
// lists several servers: a transaction that lost its server before the
// commit then runs again on the next.
func dialect(migrations fs.FS, database string, failover bool) sqldb.Dialect {
	return sqldb.Dialect{
		Name:       "mysql",
		Migrations: migrations,
		// One statement: MySQL's index names are per table, and a
		// conversion cut short must not leave a table without them.
		UsersDDL: []string{`CREATE TABLE users (
			uid BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			service INT NOT NULL,
			email VARCHAR(255) NOT NULL,
			generation BIGINT NOT NULL,
			client_state VARCHAR(32) NOT NULL,
			created_at BIGINT NOT NULL,
			replaced_at BIGINT,
			nodeid BIGINT NOT NULL,
			keys_changed_at BIGINT,
			KEY lookup_idx (email, service, created_at),
			KEY replaced_at_idx (service, replaced_at),
			KEY node_idx (nodeid)
		) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`},
		LockUser: " FOR UPDATE",
		// Migration 8: a page's filter and sort read off one index.
		FindIndex: "bso_usr_col_mod_id_cover_idx",
		Upsert: func(keys, sets []string) string {
			if len(sets) == 0 {
				// INSERT IGNORE would ignore more than duplicates.
				return " ON DUPLICATE KEY UPDATE " + keys[0] + " = " + keys[0]
			}
			return " ON DUPLICATE KEY UPDATE " + strings.Join(sets, ", ")
		},
		// VALUES(): MySQL 8 deprecates it for an alias MariaDB lacks.
		Excluded:     func(col string) string { return "VALUES(" + col + ")" },
		IsConflict:   isConflict,
		IsFull:       isFull,
		IsConnection: isConnection,
		Retry: func(err error) bool {
			return isRetryable(err) || (failover && isConnection(err))
		},
		TableColumns: tableColumns,
		BumpSequence: func(ctx context.Context, q sqldb.Querier, table, _ string, min int64) error {
			// InnoDB never sets it below the highest id + 1.
			_, err := q.ExecContext(ctx, fmt.Sprintf("ALTER TABLE `%s` AUTO_INCREMENT = %d", table, min+1))
			return err
		},
		SchemaLock:  schemaLock("syncserver_schema." + database),
		Maintenance: maintenance(),
		Redundant: func(err error) bool {
			// Table, column or index exists; column or index gone.
			return errNumber(err, 1050, 1060, 1061, 1091)
		},
	}
}

// errNumber reports whether err is a server error with one of numbers.
func errNumber(err error, numbers ...uint16) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	for _, n := range numbers {
		if me.Number == n {
			return true
		}
	}
	return false
}

// isConflict: lock wait timeout and deadlock; the transaction is rolled
// back and may be tried again.
func isConflict(err error) bool { return errNumber(err, 1205, 1213) }

// isRetryable: the server rolled the whole transaction back, and the same
// transaction run again at once may pass. 1213 is a deadlock, and what a
// Galera member answers when another member's transaction won the
// certification of the same rows (at any statement or at the commit);
// 1047 is a Galera member that is not ready for application use, which
// the connection then leaves (hosts.go). A lock wait timeout (1205) is
// not retried: it already waited innodb_lock_wait_timeout.
func isRetryable(err error) bool { return errNumber(err, 1213, 1047) }

// isFull: the table is full (1114, what InnoDB answers when its
// tablespace cannot grow), the disk is full (1021), or a write failed with
// ENOSPC, which MariaDB reports as errno 28 in errors such as 1030 ("Got
// error 28 "No space left on device" from storage engine").
func isFull(err error) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	return me.Number == 1114 || me.Number == 1021 ||
		strings.Contains(me.Message, "No space left on device") || strings.Contains(me.Message, "error 28 ")
}

// isConnection reports a connection refused, lost or killed, and a server
// starting or stopping.
func isConnection(err error) bool {
	var ne net.Error
	switch {
	case errNumber(err, 1040, 1047, 1053, 1077, 1152, 1927, 2002, 2003, 2006, 2013, 3169, 4031):
		// Too many connections, Galera member not ready, shutdown, not
		// ready, aborted, killed, gone away, lost, session killed, idle
		// disconnect.
		return true
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &ne):
		return true
	}
	return false
}

func tableColumns(ctx context.Context, q sqldb.Querier, table string) ([]string, error) {
	cols, err := sqldb.QueryStrings(ctx, q, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position`, table)
	for i, c := range cols {
		cols[i] = strings.ToLower(c)
	}
	return cols, err
}

// schemaLockWait bounds the wait for another process's migration.
const schemaLockWait = 10 * time.Minute

// schemaLock takes a named lock of the server, held by the session (so
// released should the process die) and so by the connection given.
func schemaLock(name string) func(context.Context, *sql.Conn) (func() error, error) {
	if len(name) > 64 {
		name = name[:64]
	}
	return func(ctx context.Context, conn *sql.Conn) (func() error, error) {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, int(schemaLockWait.Seconds())).Scan(&got); err != nil {
			return nil, err
		}
		if got.Int64 != 1 {
			return nil, fmt.Errorf("GET_LOCK(%q): another process held it for %v", name, schemaLockWait)
		}
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var released sql.NullInt64
			return conn.QueryRowContext(ctx, "SELECT RELEASE_LOCK(?)", name).Scan(&released)
		}, nil
	}
}

// driverLogger sends the driver's own messages (a connection found dead
// before reuse, for one) to the debug log: what matters reaches the
// caller as an error.
type driverLogger struct{ log *slog.Logger }

func (l driverLogger) Print(v ...any) { l.log.Debug("mysql driver: " + fmt.Sprint(v...)) }
