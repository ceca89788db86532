// Package testdb gives the tests of every package a fresh, empty database
// of any backend: a sqlite file in the test's temp dir, or a database
// (MySQL) or schema (PostgreSQL) of its own on the server named by
// SYNCSERVER_TEST_MYSQL_URI or SYNCSERVER_TEST_POSTGRES_URI, dropped when
// the test ends. Without that variable a test that needs the server skips,
// unless SYNCSERVER_TEST_REQUIRE (a comma-separated list) names the
// backend: then it fails, so that CI cannot pass by skipping.
//
// SYNCSERVER_TEST_BACKEND picks the backend of tests that run on one
// (the handler tests): sqlite (the default), mysql or postgres.
//
// LookProgram finds the programs tests start (web servers, database
// servers, systemd and dpkg tools) for every package that needs one.
//
// It is test support: the only package besides cmd/syncserver allowed to
// import every backend (internal/layout).
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"syncserver/db/mysql"
	"syncserver/db/postgres"
	"syncserver/db/sqldb"
	"syncserver/db/sqlite"
)

// Environment variables.
const (
	BackendEnv  = "SYNCSERVER_TEST_BACKEND"
	MySQLEnv    = "SYNCSERVER_TEST_MYSQL_URI"
	PostgresEnv = "SYNCSERVER_TEST_POSTGRES_URI"
	RequireEnv  = "SYNCSERVER_TEST_REQUIRE"
	// SQLiteSyncEnv is the PRAGMA synchronous of test sqlite databases:
	// OFF unless it says FULL or NORMAL (benchmarks).
	SQLiteSyncEnv = "SYNCSERVER_TEST_SQLITE_SYNCHRONOUS"
)

// Backends are the backend names.
var Backends = []string{"sqlite", "mysql", "postgres"}

// Backend is the backend named by SYNCSERVER_TEST_BACKEND, "sqlite" when
// it is unset. An unknown name fails the test.
func Backend(tb testing.TB) string {
	tb.Helper()
	b := strings.ToLower(strings.TrimSpace(os.Getenv(BackendEnv)))
	switch b {
	case "":
		return "sqlite"
	case "sqlite", "mysql", "postgres":
		return b
	case "mariadb":
		return "mysql"
	case "postgresql":
		return "postgres"
	}
	tb.Fatalf("%s=%q: want sqlite, mysql or postgres", BackendEnv, b)
	return ""
}

// Required reports whether SYNCSERVER_TEST_REQUIRE lists name.
func Required(name string) bool {
	for _, s := range strings.Split(os.Getenv(RequireEnv), ",") {
		if strings.EqualFold(strings.TrimSpace(s), name) {
			return true
		}
	}
	return false
}

// SkipShort skips a slow test in -short mode, unless
// SYNCSERVER_TEST_REQUIRE is set: a run that forbids skipping what is
// missing does not skip for want of time either.
func SkipShort(tb testing.TB, why string) {
	tb.Helper()
	if testing.Short() && strings.TrimSpace(os.Getenv(RequireEnv)) == "" {
		tb.Skip("skipped in -short mode: " + why)
	}
}

// ServerURI is the sqluri of the test server of backend (mysql or
// postgres). Without one the test is skipped, or failed when
// SYNCSERVER_TEST_REQUIRE lists the backend.
func ServerURI(tb testing.TB, backend string) string {
	tb.Helper()
	env := map[string]string{"mysql": MySQLEnv, "postgres": PostgresEnv}[backend]
	if env == "" {
		tb.Fatalf("testdb: %q has no server", backend)
	}
	uri := os.Getenv(env)
	if uri == "" {
		msg := fmt.Sprintf("%s is not set: no %s server to test against (.ci/databases starts one)", env, backend)
		if Required(backend) {
			tb.Fatalf("%s, and %s lists %q, so this is a failure, not a skip", msg, RequireEnv, backend)
		}
		tb.Skip(msg)
	}
	return uri
}

// NewURI makes a fresh, empty database of backend and returns its sqluri;
// the database is dropped when the test ends.
func NewURI(tb testing.TB, backend string) string {
	tb.Helper()
	switch backend {
	case "sqlite":
		return "sqlite:///" + filepath.Join(tb.TempDir(), "syncserver.db")
	case "mysql":
		return newMySQL(tb, ServerURI(tb, backend))
	case "postgres":
		return newPostgres(tb, ServerURI(tb, backend))
	}
	tb.Fatalf("testdb: unknown backend %q", backend)
	return ""
}

// Options tune Open.
type Options struct {
	Now    func() time.Time
	Logger *slog.Logger
	Pool   sqldb.Pool
	// Lazy: see sqldb.Config.Lazy.
	Lazy bool
}

// Open opens a store on a fresh database of backend, closed when the test
// ends.
func Open(tb testing.TB, backend string, opts Options) *sqldb.Store {
	tb.Helper()
	return OpenURI(tb, NewURI(tb, backend), opts)
}

// OpenShared opens n stores on one fresh database of backend, all at
// once, as n servers starting together would (they race to migrate it).
func OpenShared(tb testing.TB, backend string, n int, opts Options) []*sqldb.Store {
	tb.Helper()
	uri := NewURI(tb, backend)
	stores := make([]*sqldb.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = OpenURIErr(context.Background(), uri, opts) })
	}
	wg.Wait()
	for i, s := range stores {
		if s != nil {
			tb.Cleanup(func() { s.Close() })
		}
		if errs[i] != nil {
			tb.Fatalf("opening store %d on %s: %v", i, Redact(uri), errs[i])
		}
	}
	return stores
}

// OpenURI opens a store on the database of a sqluri (one NewURI made, to
// share it between stores), closed when the test ends.
func OpenURI(tb testing.TB, uri string, opts Options) *sqldb.Store {
	tb.Helper()
	s, err := OpenURIErr(context.Background(), uri, opts)
	if err != nil {
		tb.Fatalf("opening %s: %v", Redact(uri), err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// OpenURIErr opens a store on the database of a sqluri and returns the
// error; the caller closes the store.
func OpenURIErr(ctx context.Context, uri string, opts Options) (*sqldb.Store, error) {
	scheme, rest, _ := strings.Cut(uri, "://")
	switch {
	case scheme == "sqlite":
		// The suite's databases need not survive a crash; benchmarks
		// may ask for FULL, the production default.
		sync := os.Getenv(SQLiteSyncEnv)
		if sync == "" {
			sync = "OFF"
		}
		return sqlite.Open(ctx, strings.TrimPrefix(rest, "/"), sqlite.Options{Synchronous: sync, Now: opts.Now, Logger: opts.Logger})
	case strings.HasPrefix(scheme, "mysql"):
		return mysql.Open(ctx, uri, mysql.Options{Pool: opts.Pool, Now: opts.Now, Logger: opts.Logger, Lazy: opts.Lazy})
	case strings.HasPrefix(scheme, "postgres"):
		return postgres.Open(ctx, uri, postgres.Options{Pool: opts.Pool, Now: opts.Now, Logger: opts.Logger, Lazy: opts.Lazy})
	}
	return nil, fmt.Errorf("testdb: unknown sqluri %q", uri)
}

// Redact hides the password of a sqluri.
func Redact(uri string) string {
	if u, err := url.Parse(uri); err == nil {
		return u.Redacted()
	}
	return "(sqluri)"
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// newMySQL creates database <base>_<random> next to the server URI's
// database, which the test user may create databases beside.
func newMySQL(tb testing.TB, server string) string {
	tb.Helper()
	u, err := url.Parse(server)
	if err != nil {
		tb.Fatalf("%s: %v", MySQLEnv, err)
	}
	base := strings.Trim(u.Path, "/")
	name := randomName(base + "_")
	admin := Admin(tb, server)
	if _, err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		tb.Fatalf("creating MySQL database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE `" + name + "`"); err != nil {
			tb.Errorf("dropping MySQL database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// newPostgres creates schema t_<random> in the server URI's database and
// returns a URI whose connections use it.
func newPostgres(tb testing.TB, server string) string {
	tb.Helper()
	name := randomName("t_")
	admin := Admin(tb, server)
	if _, err := admin.Exec("CREATE SCHEMA " + name); err != nil {
		tb.Fatalf("creating PostgreSQL schema %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + name + " CASCADE"); err != nil {
			tb.Errorf("dropping PostgreSQL schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		tb.Fatalf("%s: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("options", "-c search_path="+name)
	// Names the test's connections, for KillConnections.
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// Admin opens a plain database/sql pool on the database of a server
// sqluri (mysql:// or postgres://), for setting up and inspecting test
// databases; it is closed when the test ends.
func Admin(tb testing.TB, uri string) *sql.DB {
	tb.Helper()
	var pool *sql.DB
	var err error
	switch scheme, _, _ := strings.Cut(uri, "://"); {
	case strings.HasPrefix(scheme, "mysql"):
		u, perr := url.Parse(uri)
		if perr != nil {
			tb.Fatal(perr)
		}
		cfg := gomysql.NewConfig()
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
		cfg.Net, cfg.Addr, cfg.DBName = "tcp", u.Host, strings.Trim(u.Path, "/")
		cfg.MultiStatements = true
		connector, cerr := gomysql.NewConnector(cfg)
		if cerr != nil {
			tb.Fatal(cerr)
		}
		pool = sql.OpenDB(connector)
	case strings.HasPrefix(scheme, "postgres"):
		u, perr := url.Parse(uri)
		if perr != nil {
			tb.Fatal(perr)
		}
		u.Scheme = "postgres"
		// pgx reads "+" as itself, not as a space.
		u.RawQuery = strings.ReplaceAll(u.Query().Encode(), "+", "%20")
		pool, err = sql.Open("pgx", u.String())
	default:
		tb.Fatalf("testdb: no admin connection for %q", uri)
	}
	if err != nil {
		tb.Fatal(err)
	}
	pool.SetMaxOpenConns(2)
	tb.Cleanup(func() { pool.Close() })
	return pool
}
