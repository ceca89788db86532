package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"syncserver/db/sqlite"
	"syncserver/internal/testdb"
)

// The command-line traps a newcomer meets between the README and a
// running server (the permission traps are in newcomer_root_test.go).

// runCommand parses args as main does and runs them; it returns the exit
// status and everything printed.
func runCommand(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	out := &syncBuffer{}
	m := NewMain()
	m.Stdout, m.Stderr = out, out
	m.Getenv = func(k string) string { return env[k] }
	if err := m.ParseFlags(context.Background(), args); err != nil {
		return exitUsage, fmt.Sprintf("ParseFlags: %v\n%s", err, out)
	}
	defer m.Close()
	return m.Main(t.Context()), out.String()
}

// TestFlagsAfterTheCommand: the program's flags work after a command's
// name as well as before it, for every command.
func TestFlagsAfterTheCommand(t *testing.T) {
	cfg := writeConfig(t, minimalConfig)
	dir := filepath.Dir(cfg)
	for _, args := range [][]string{
		{"check", "-config", cfg},
		{"check", "--json", "--config=" + cfg},
		{"-config", cfg, "check"},
		{"users", "list", "-config", cfg},
		{"users", "-config", cfg, "list"},
		{"nodes", "list", "-config", cfg},
		{"purge", "--dry-run", "-config", cfg},
		{"migrate-db", "--to", "sqlite:///" + filepath.Join(t.TempDir(), "copy.db"), "-config", cfg},
		{"version", "-config", cfg},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out := runCommand(t, nil, args...)
			if code != exitOK {
				t.Fatalf("exit %d\n%s", code, out)
			}
			if args[0] == "check" && !strings.Contains(out, cfg) {
				t.Errorf("check did not read %s:\n%s", cfg, out)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "syncserver.db")); err != nil {
		t.Errorf("the commands did not use the database of -config: %v", err)
	}

	// -h still shows the command's own usage.
	for _, args := range [][]string{{"users", "-h"}, {"users", "-config", cfg, "--help"}, {"nodes", "-h"}} {
		if code, out := runCommand(t, nil, args...); code != exitOK || !strings.Contains(out, "set-") {
			t.Errorf("%q: exit %d\n%s", args, code, out)
		}
	}

	// serve takes the program's flags after its name too.
	m := NewMain()
	m.Getenv = func(string) string { return "" }
	if err := m.ParseFlags(context.Background(), []string{"serve", "-config", cfg, "-http", "127.0.0.1:0"}); err != nil ||
		m.ConfigPath != cfg || m.HTTPAddr != "127.0.0.1:0" {
		t.Errorf("serve -config X -http Y: %v; config %q, http %q", err, m.ConfigPath, m.HTTPAddr)
	}
	for _, args := range [][]string{
		{"check", "-http", "127.0.0.1:1", "-fcgi", "127.0.0.1:2"},
		{"-http", "127.0.0.1:1", "check", "-fcgi", "127.0.0.1:2"},
		{"serve", "extra"},
	} {
		if code, out := runCommand(t, nil, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d\n%s", args, code, exitUsage, out)
		}
	}
}

// TestPortInUseNamesTheSetting: an address in use is reported with the
// setting that chose it.
func TestPortInUseNamesTheSetting(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	cfg := writeConfig(t, minimalConfig+"[\"server:main\"]\nhost = \"127.0.0.1\"\nport = "+port+"\n")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-config", cfg}, []string{"[server:main] host and port of " + cfg, "already in use", "[server:main] port"}},
		{[]string{"-config", cfg, "-http", addr}, []string{"-http " + addr, "already in use", "another port with -http"}},
		{[]string{"-config", cfg, "-fcgi", addr}, []string{"-fcgi " + addr, "already in use", "another port with -fcgi"}},
	} {
		m, logs := newTestMain(t, tc.args...)
		err := m.Run(context.Background())
		m.Close()
		if err == nil {
			t.Fatalf("%q: Run succeeded on a port in use\n%s", tc.args, logs)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: %v\nwant %q in it", tc.args, err, w)
			}
		}
	}
}

// TestMissingSocketDirectorySaysCreateIt: the FastCGI socket's directory
// is missing (as /run/syncserver is after a reboot).
func TestMissingSocketDirectorySaysCreateIt(t *testing.T) {
	cfg := writeConfig(t, minimalConfig)
	dir := filepath.Join(t.TempDir(), "run", "syncserver")
	m, logs := newTestMain(t, "-config", cfg, "-fcgi", "unix:"+dir+"/fcgi.sock")
	err := m.Run(context.Background())
	m.Close()
	if err == nil {
		t.Fatalf("Run succeeded without the socket's directory\n%s", logs)
	}
	for _, w := range []string{"-fcgi unix:" + dir, "does not exist", "mkdir -p " + dir + " && chown", "RuntimeDirectory="} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%v\nwant %q in it", err, w)
		}
	}
}

// TestCheckWarnsOfReadableSecrets: a file holding a secret that every
// user may read is a warning; the same file without secret, or private,
// is not.
func TestCheckWarnsOfReadableSecrets(t *testing.T) {
	const warning = "every user of this machine may read it"
	withSecret := minimalConfig + "secret = \"" + testSecret + "\"\n"
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(testSecret), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, config string
		mode         os.FileMode
		env          map[string]string
		warn         bool
	}{
		{"config with secret, world-readable", withSecret, 0o644, nil, true},
		{"config with secret, private", withSecret, 0o640, nil, false},
		{"config without secret, world-readable", minimalConfig, 0o644, nil, false},
		{"secret from the environment", minimalConfig, 0o644, map[string]string{"SYNCSERVER_SECRET": testSecret}, false},
		{"world-readable secret file", minimalConfig, 0o600, map[string]string{"SYNCSERVER_SECRET_FILE": secretFile}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeConfig(t, tc.config)
			if err := os.Chmod(cfg, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, out := runCommand(t, tc.env, "check", "-config", cfg)
			if got := strings.Contains(out, warning); got != tc.warn {
				t.Errorf("warning given: %v, want %v\n%s", got, tc.warn, out)
			}
		})
	}
}

// fileState is what must not change: the bytes and the modification
// time of a file.
func fileState(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x %d %v", sha256.Sum256(b), fi.Size(), fi.ModTime().UnixNano())
}

// TestCheckLeavesTheDatabaseAlone: check reports the migrations the
// server would apply and applies none: a legacy file keeps its bytes,
// its modification time and its legacy users table, and no copy is made.
func TestCheckLeavesTheDatabaseAlone(t *testing.T) {
	t.Run("legacy database", func(t *testing.T) {
		cfg := writeConfig(t, minimalConfig)
		dir := filepath.Dir(cfg)
		db := filepath.Join(dir, "syncserver.db")
		legacySQLite(t, db)
		before := fileState(t, db)
		code, out := runCommand(t, nil, "check", "-config", cfg)
		if code != exitOK || !strings.Contains(out, "needs migration 0 → ") || !strings.Contains(out, "legacy single-node layout") {
			t.Errorf("check: exit %d\n%s", code, out)
		}
		if after := fileState(t, db); after != before {
			t.Errorf("check changed the legacy database: %s, was %s", after, before)
		}
		if copies, _ := filepath.Glob(db + ".*.bak"); len(copies) > 0 {
			t.Errorf("check copied the database: %v", copies)
		}
		raw, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		var tables []string
		rows, err := raw.Query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			rows.Scan(&name)
			tables = append(tables, name)
		}
		rows.Close()
		if want := []string{"collections", "users"}; !slices.Equal(tables, want) {
			t.Errorf("tables after check: %v, want the legacy %v", tables, want)
		}
	})

	t.Run("one migration behind", func(t *testing.T) {
		cfg := writeConfig(t, minimalConfig)
		db := filepath.Join(filepath.Dir(cfg), "syncserver.db")
		s, err := sqlite.Open(context.Background(), db, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		latest, _ := s.SchemaVersion(context.Background())
		s.Close()
		raw, err := sql.Open("sqlite3", db)
		if err != nil {
			t.Fatal(err)
		}
		// As an older syncserver left it (the last migration's changes stay:
		// they are harmless to this test).
		_, err = raw.Exec("DELETE FROM syncserver_schema WHERE version = ?", latest)
		raw.Close()
		if err != nil {
			t.Fatal(err)
		}
		before := fileState(t, db)
		code, out := runCommand(t, nil, "check", "-config", cfg)
		if want := fmt.Sprintf("needs migration %d → %d", latest-1, latest); code != exitOK || !strings.Contains(out, want) {
			t.Errorf("check: exit %d\n%s\nwant %q", code, out, want)
		}
		if after := fileState(t, db); after != before {
			t.Errorf("check changed the database: %s, was %s", after, before)
		}
	})
}

// TestCheckAdvisesVacuumOnlyWhenWorthIt: purge --vacuum is advised when
// it gives back a good share of the file, not for the few megabytes
// every fresh database has free.
func TestCheckAdvisesVacuumOnlyWhenWorthIt(t *testing.T) {
	const advice = "purge --vacuum"
	t.Run("sqlite", func(t *testing.T) {
		cfg := writeConfig(t, minimalConfig)
		db := filepath.Join(filepath.Dir(cfg), "syncserver.db")
		s, err := sqlite.Open(context.Background(), db, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if _, out := runCommand(t, nil, "check", "-config", cfg); strings.Contains(out, advice) {
			t.Errorf("a fresh database gets the advice:\n%s", out)
		}
		// 8 MiB written and deleted: their pages are free.
		raw, err := sql.Open("sqlite3", db)
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range []string{
			"CREATE TABLE junk (b BLOB)",
			"INSERT INTO junk SELECT randomblob(1 << 20) FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 " +
				"UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8)",
			"DROP TABLE junk",
			"PRAGMA wal_checkpoint(TRUNCATE)",
		} {
			if _, err := raw.Exec(stmt); err != nil {
				t.Fatal(err)
			}
		}
		raw.Close()
		if _, out := runCommand(t, nil, "check", "-config", cfg); !strings.Contains(out, advice) {
			t.Errorf("8 MiB free of 8 MiB, and no advice:\n%s", out)
		}
	})
	t.Run("mysql", func(t *testing.T) {
		uri := testdb.NewURI(t, "mysql")
		testdb.OpenURI(t, uri, testdb.Options{}) // migrated, as the server leaves it
		// A few megabytes of data, as migrate-db leaves: InnoDB then
		// reports 4 MiB free in its tablespace that no OPTIMIZE gives back.
		raw := testdb.Admin(t, uri)
		if _, err := raw.Exec(`CREATE TABLE filler (id INT AUTO_INCREMENT PRIMARY KEY, b MEDIUMTEXT) ENGINE=InnoDB;
			INSERT INTO filler (b) SELECT REPEAT('x', 1000) FROM information_schema.columns a, information_schema.columns b LIMIT 6000`); err != nil {
			t.Fatal(err)
		}
		cfg := writeConfig(t, fmt.Sprintf("[syncserver]\npublic_url = \"http://localhost:5000/\"\nsqluri = %q\n", uri))
		code, out := runCommand(t, nil, "check", "-config", cfg)
		if code != exitOK || strings.Contains(out, advice) {
			t.Errorf("a freshly migrated MariaDB: exit %d\n%s", code, out)
		}
	})
	for _, tc := range []struct {
		driver      string
		total, free int64
		want        bool
	}{
		{"sqlite", 8 << 20, 6 << 20, true},
		{"sqlite", 100 << 20, 4 << 20, false},
		{"sqlite", 512 << 10, 400 << 10, false},
		{"mysql", 5 << 20, 4 << 20, false},
		{"mysql", 2 << 30, 1 << 30, true},
		{"postgres", 1 << 30, -1, false},
	} {
		if got := vacuumWorthIt(tc.driver, tc.total, tc.free); got != tc.want {
			t.Errorf("vacuumWorthIt(%s, %d, %d) = %v", tc.driver, tc.total, tc.free, got)
		}
	}
}

// TestCheckLeavesServerDatabasesAlone: on MySQL and PostgreSQL too, check
// reports the migrations of a legacy database and applies none.
func TestCheckLeavesServerDatabasesAlone(t *testing.T) {
	for _, tc := range []struct{ backend, schema string }{
		{"mysql", "DATABASE()"},
		{"postgres", "current_schema()"},
	} {
		t.Run(tc.backend, func(t *testing.T) {
			uri := testdb.NewURI(t, tc.backend)
			raw := testdb.Admin(t, uri)
			if _, err := raw.Exec("CREATE TABLE collections (collectionid INTEGER PRIMARY KEY, name VARCHAR(32) NOT NULL)"); err != nil {
				t.Fatal(err)
			}
			cfg := writeConfig(t, fmt.Sprintf("[syncserver]\npublic_url = \"http://localhost:5000/\"\nsqluri = %q\n", uri))
			code, out := runCommand(t, nil, "check", "-config", cfg)
			if code != exitOK || !strings.Contains(out, "legacy syncserver's database: needs migration 0 → ") ||
				!strings.Contains(out, "back it up first") {
				t.Errorf("check: exit %d\n%s", code, out)
			}
			var tables int
			if err := raw.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = " + tc.schema).Scan(&tables); err != nil {
				t.Fatal(err)
			}
			if tables != 1 {
				t.Errorf("%d tables after check, want the legacy one alone", tables)
			}
		})
	}
}
