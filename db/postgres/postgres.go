// Package postgres is syncserver's PostgreSQL backend: db.Store through
// github.com/jackc/pgx/v5 and its database/sql driver. It reads the legacy
// sqluri, opens a writer and a reader pool with their session settings and
// hands sqldb its dialect and embedded schema; everything else is sqldb's.
//
// Several syncserver processes, on several machines, may serve one
// database. A write transaction first locks the user's user_meta row
// (SELECT … FOR UPDATE), so the database itself serialises a user's writes
// and every writer reads the previous one's timestamp; different users
// never wait for each other. Writers run READ COMMITTED and give up after
// lock_timeout with db.ErrConflict (503, Retry-After). Readers run
// REPEATABLE READ: a request sees one snapshot. DDL is transactional, so a
// migration is all or nothing; pg_advisory_lock keeps processes starting
// together from racing on it.
package postgres

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
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"syncserver/db/sqldb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Options tune Open. The zero value is a production setting.
type Options struct {
	// Pool sizes the writer and the reader pool ([storage] pool_*).
	Pool sqldb.Pool
	// LockTimeout is lock_timeout: how long a write waits for another
	// server's write of the same user before it fails with
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
}

// Open connects to the database named by a legacy sqluri (postgresql://,
// postgres://, postgresql+psycopg2://…) and migrates it.
func Open(ctx context.Context, uri string, opts Options) (*sqldb.Store, error) {
	connString, notes, err := parseURI(uri)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s", strings.ReplaceAll(err.Error(), connString, "sqluri"))
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, n := range notes {
		log.Warn("postgres: " + n)
	}
	pool := opts.Pool.WithDefaults()
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = pool.Timeout
	}
	lockWait := opts.LockTimeout
	if lockWait <= 0 {
		lockWait = 10 * time.Second
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "syncserver"
	}
	wcfg, rcfg := cfg.Copy(), cfg.Copy()
	wcfg.RuntimeParams["default_transaction_isolation"] = "read committed"
	wcfg.RuntimeParams["lock_timeout"] = fmt.Sprint(lockWait.Milliseconds())
	rcfg.RuntimeParams["default_transaction_isolation"] = "repeatable read"
	w, r := stdlib.OpenDB(*wcfg), stdlib.OpenDB(*rcfg)
	pool.Configure(w)
	pool.Configure(r)
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	s, err := sqldb.New(ctx, sqldb.Config{Dialect: dialect(migrations, severalHosts(cfg)), Writer: w, Reader: r,
		Now: opts.Now, Logger: log, PoolTimeout: pool.Timeout, Lazy: opts.Lazy, Inspect: opts.Inspect})
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	return s, nil
}

// parseURI turns a legacy sqluri into a pgx connection string: the
// SQLAlchemy driver suffix (+psycopg2, +pg8000…) goes, and so do encoding
// parameters, since connections are always UTF-8. Other parameters are
// libpq's (sslmode, sslrootcert, connect_timeout, options…) and pgx reads
// them the same way.
func parseURI(raw string) (string, []string, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	base, _, _ := strings.Cut(strings.ToLower(scheme), "+")
	if !ok || (base != "postgresql" && base != "postgres") {
		return "", nil, errors.New("not a PostgreSQL URL: want postgresql://user:password@host/database")
	}
	// Several hosts (host1:5432,host2:5432) are libpq's and pgx's own
	// syntax, which net/url cannot read: parse the URL with the first,
	// then put the list back.
	hostList := ""
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@") + 1
	if list := rest[at:end]; strings.Contains(list, ",") {
		for i, h := range strings.Split(list, ",") {
			if h == "" {
				return "", nil, fmt.Errorf("the host list %q has an empty entry %d: write host1:port1,host2:port2", list, i+1)
			}
		}
		hostList = list
		first, _, _ := strings.Cut(list, ",")
		rest = rest[:at] + first + rest[end:]
	}
	u, err := url.Parse("postgres://" + rest)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", nil, fmt.Errorf("not a valid PostgreSQL URL: %v", err)
	}
	if strings.Trim(u.Path, "/") == "" {
		return "", nil, errors.New("the PostgreSQL URL names no database: want postgresql://user:password@host/database")
	}
	var notes []string
	q := u.Query()
	for _, name := range []string{"client_encoding", "charset", "encoding"} {
		if q.Has(name) {
			notes = append(notes, fmt.Sprintf("sqluri parameter %s=%s is ignored: connections are always UTF-8", name, q.Get(name)))
			q.Del(name)
		}
	}
	// pgx reads "+" as itself, not as a space (options=-c%20search_path…).
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	out := u.String()
	if hostList != "" {
		// The host follows "postgres://" and the user part, which
		// url.URL.String percent-encodes, so it holds no "@".
		hostAt := len("postgres://")
		if u.User != nil {
			hostAt = strings.Index(out, "@") + 1
		}
		out = out[:hostAt] + hostList + out[hostAt+len(u.Host):]
	}
	return out, notes, nil
}

// severalHosts reports whether the configuration names more than one
// server (pgx also lists a host again as a fallback without TLS).
func severalHosts(cfg *pgx.ConnConfig) bool {
	for _, f := range cfg.Fallbacks {
		if f.Host != cfg.Host || f.Port != cfg.Port {
			return true
		}
	}
	return false
}

// dialect is PostgreSQL's part of sqldb. failover is set when the sqluri
// lists several hosts (a primary and its replicas, with
// target_session_attrs=read-write): a transaction that lost its server
// before the commit then runs again, on whichever host pgx finds
// writable.
func dialect(migrations fs.FS, failover bool) sqldb.Dialect {
	return sqldb.Dialect{
		Retry:      func(err error) bool { return failover && isConnection(err) },
		Name:       "postgres",
		Migrations: migrations,
		UsersDDL: []string{
			// BIGSERIAL: a uid is never handed out twice.
			`CREATE TABLE users (
				uid BIGSERIAL PRIMARY KEY,
				service INTEGER NOT NULL,
				email VARCHAR(255) NOT NULL,
				generation BIGINT NOT NULL,
				client_state VARCHAR(32) NOT NULL,
				created_at BIGINT NOT NULL,
				replaced_at BIGINT,
				nodeid BIGINT NOT NULL,
				keys_changed_at BIGINT
			)`,
			"CREATE INDEX lookup_idx ON users (email, service, created_at)",
			"CREATE INDEX replaced_at_idx ON users (service, replaced_at)",
			"CREATE INDEX node_idx ON users (nodeid)",
		},
		DollarPlaceholders: true,
		LockUser:           " FOR UPDATE",
		Returning:          true,
		IsConflict:         isConflict,
		IsFull:             isFull,
		IsConnection:       isConnection,
		TableColumns:       tableColumns,
		BumpSequence: func(ctx context.Context, q sqldb.Querier, table, col string, min int64) error {
			_, err := q.ExecContext(ctx, `SELECT setval(s, GREATEST($1, nextval(s)))
				FROM (SELECT CAST(pg_get_serial_sequence($2, $3) AS regclass) AS s) x`, min, table, col)
			return err
		},
		SchemaLock:  schemaLock,
		Maintenance: maintenance(),
	}
}

// sqlState returns the SQLSTATE of a server error, or "".
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// isConflict: serialization failure, deadlock, lock timeout.
func isConflict(err error) bool {
	switch sqlState(err) {
	case "40001", "40P01", "55P03":
		return true
	}
	return false
}

// isFull: disk_full (53100), what PostgreSQL answers when a table, index
// or temporary file cannot grow.
func isFull(err error) bool { return sqlState(err) == "53100" }

// isConnection reports a connection refused, lost or ended by the server,
// and a server starting or stopping, but not a refused login.
func isConnection(err error) bool {
	if code := sqlState(err); code != "" {
		// Connection exceptions; admin shutdown, crash shutdown, cannot
		// connect now; too many connections.
		return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03" || code == "53300"
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func tableColumns(ctx context.Context, q sqldb.Querier, table string) ([]string, error) {
	return sqldb.QueryStrings(ctx, q, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
}

// schemaLock takes an advisory lock keyed by the schema, held by the
// session (so released should the process die).
func schemaLock(ctx context.Context, conn *sql.Conn) (func() error, error) {
	const key = "hashtext('syncserver_schema'), hashtext(current_schema())"
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock("+key+")"); err != nil {
		return nil, err
	}
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock("+key+")")
		return err
	}, nil
}
