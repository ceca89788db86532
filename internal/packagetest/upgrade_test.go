package packagetest

import (
	"database/sql"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3" // database/sql driver "sqlite3"

	"syncserver/internal/testdb"
)

// The database of the previous release is kept as SQL text (never a
// database file): testdata/previous-release.sql, the .dump of a sqlite
// database that release's server wrote through its API. The repository has
// no release tag yet; the previous release is the tree before the built-in
// accounts (migration 7), at schema version 6. To write the fixture again
// from another release, build that release's syncserver and run
//
//	SYNCSERVER_TEST_OLD_BINARY=/path/to/old/syncserver go test ./internal/packagetest -run TestUpgrade -update
//
// (it needs the sqlite3 command for the dump).
var update = flag.Bool("update", false, "rewrite testdata/previous-release.sql with the server named by "+oldBinaryEnv)

const (
	oldBinaryEnv = "SYNCSERVER_TEST_OLD_BINARY"
	fixture      = "testdata/previous-release.sql"
)

// previousData is what the previous release's server stored, and what
// the upgraded server must read back: uid → collection/id → payload.
var previousData = map[int64]map[string]string{
	42: {"bookmarks/menu": "previous release: bookmarks", "tabs/laptop": "previous release: tabs", "meta/global": `{"syncID":"prev","storageVersion":5}`},
	43: {"passwords/p1": "previous release: another user"},
}

// TestUpgradeFromPreviousRelease starts each release binary on a sqlite
// database the previous release wrote: it copies the file, as it was,
// beside it before migrating it to this tree's schema, then serves the old
// records and takes new ones.
func TestUpgradeFromPreviousRelease(t *testing.T) {
	if *update {
		writeFixture(t)
	}
	root := testdb.ModuleRoot(t)
	sqlText, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	migrations, err := filepath.Glob(filepath.Join(root, "db", "sqlite", "migrations", "[0-9][0-9][0-9][0-9]_*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	latest := len(migrations)
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			t.Parallel()
			bin := releaseBinary(t, arch)
			dir := t.TempDir()
			path := filepath.Join(dir, "syncserver.db")
			raw, err := sql.Open("sqlite3", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec(string(sqlText)); err != nil {
				t.Fatalf("loading %s: %v", fixture, err)
			}
			old := schemaVersion(t, raw)
			raw.Close()
			if old >= latest {
				t.Fatalf("%s is at schema version %d, this tree's newest is %d: it is no older release", fixture, old, latest)
			}

			s := startServer(t, arch, bin, dir, path)
			s.heartbeat(t)
			for uid, recs := range previousData {
				for key, payload := range recs {
					coll, id, _ := strings.Cut(key, "/")
					s.getBSO(t, uid, coll, id, payload)
				}
			}
			s.putBSO(t, 42, "bookmarks", "after-upgrade", "written by the upgraded server")
			s.getBSO(t, 42, "bookmarks", "after-upgrade", "written by the upgraded server")
			s.stop(t)

			baks, _ := filepath.Glob(path + ".pre-migration-*.bak")
			if len(baks) != 1 {
				t.Fatalf("copies of the database beside it: %v, want one pre-migration copy", baks)
			}
			if !strings.Contains(s.out.String(), baks[0]) {
				t.Errorf("the server did not log the copy %s", baks[0])
			}
			if v := schemaVersionOf(t, baks[0]); v != old {
				t.Errorf("the copy is at schema version %d, want %d (taken before migrating)", v, old)
			}
			if v := schemaVersionOf(t, path); v != latest {
				t.Errorf("the database is at schema version %d after the upgrade, want %d", v, latest)
			}
			bak, err := sql.Open("sqlite3", "file:"+baks[0]+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			defer bak.Close()
			var n int
			if err := bak.QueryRow("SELECT COUNT(*) FROM bso").Scan(&n); err != nil || n != countRecords() {
				t.Errorf("the copy holds %d records (%v), want the previous release's %d", n, err, countRecords())
			}
		})
	}
}

func countRecords() int {
	n := 0
	for _, recs := range previousData {
		n += len(recs)
	}
	return n
}

func schemaVersion(tb testing.TB, db *sql.DB) int {
	tb.Helper()
	var v int
	if err := db.QueryRow("SELECT COALESCE(MAX(version), 0) FROM syncserver_schema").Scan(&v); err != nil {
		tb.Fatalf("reading the schema version: %v", err)
	}
	return v
}

func schemaVersionOf(tb testing.TB, path string) int {
	tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	return schemaVersion(tb, db)
}

// writeFixture runs the older release's server named by
// SYNCSERVER_TEST_OLD_BINARY on a new database, stores previousData
// through its API, and dumps the database to the fixture.
func writeFixture(t *testing.T) {
	bin := os.Getenv(oldBinaryEnv)
	if bin == "" {
		t.Fatalf("-update needs %s, the older release's syncserver", oldBinaryEnv)
	}
	sqlite3 := tool(t, "sqlite3", "sqlite3", "sqlite3")
	out, _ := exec.Command(bin, "version").CombinedOutput()
	dir := t.TempDir()
	path := filepath.Join(dir, "syncserver.db")
	s := startServer(t, "native", bin, dir, path)
	s.heartbeat(t)
	for uid, recs := range previousData {
		for key, payload := range recs {
			coll, id, _ := strings.Cut(key, "/")
			s.putBSO(t, uid, coll, id, payload)
		}
	}
	s.stop(t)
	// A fixture carries no key, not even a throwaway one: the upgraded
	// server makes its own.
	if out, err := exec.Command(sqlite3, path, "DELETE FROM settings WHERE name LIKE '%secret%'").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	dump, err := exec.Command(sqlite3, path, ".dump").Output()
	if err != nil {
		t.Fatalf("sqlite3 .dump: %v", err)
	}
	header := fmt.Sprintf("-- A sqlite database written by %s\n-- through its API (internal/packagetest, -update). Do not edit.\n",
		strings.TrimSpace(string(out)))
	if err := os.WriteFile(fixture, append([]byte(header), dump...), 0o644); err != nil {
		t.Fatal(err)
	}
}
