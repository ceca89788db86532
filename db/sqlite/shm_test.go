package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// versionEnv opens a database file with a table, a dataVersion watching
// it, and a second pool on the file standing for another writer.
func versionEnv(t *testing.T) (*dataVersion, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v.db")
	f := dbFile{uri: "file:" + escapePath(path), sync: "NORMAL", busy: 1e9, cacheKiB: 64}
	other := sql.OpenDB(f.connector(writer))
	t.Cleanup(func() { other.Close() })
	if _, err := other.ExecContext(ctx, "CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	d := &dataVersion{db: sql.OpenDB(f.connector(reader)), path: path}
	t.Cleanup(func() { d.Close() })
	return d, other
}

// TestVersionSeesEveryCommit: the change detector's value stays while
// nothing commits and moves at every commit of another connection, also
// once it reads the WAL-index header itself rather than the PRAGMA.
func TestVersionSeesEveryCommit(t *testing.T) {
	ctx := context.Background()
	d, other := versionEnv(t)
	v, err := d.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && d.shm == nil {
		t.Fatal("the -shm file of a WAL database was not mapped")
	}
	for i := range 50 {
		again, err := d.Version(ctx)
		if err != nil || again != v {
			t.Fatalf("round %d: Version moved to %d (%v) without a commit, from %d", i, again, err, v)
		}
		if _, err := other.ExecContext(ctx, "INSERT INTO t VALUES (?)", i); err != nil {
			t.Fatal(err)
		}
		next, err := d.Version(ctx)
		if err != nil || next == v {
			t.Fatalf("round %d: Version %d (%v) did not move after a commit", i, next, err)
		}
		v = next
	}
	// A checkpoint that restarts the WAL rewrites the header with new
	// salts; the commit after it must still show.
	if _, err := other.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	v, _ = d.Version(ctx)
	if _, err := other.ExecContext(ctx, "INSERT INTO t VALUES (0)"); err != nil {
		t.Fatal(err)
	}
	if next, _ := d.Version(ctx); next == v {
		t.Error("a commit after a WAL restart did not move Version")
	}
}

// TestVersionWithoutWAL: a database not in WAL mode has no -shm file to
// map; the PRAGMA still sees commits.
func TestVersionWithoutWAL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rollback.db")
	plain, err := sql.Open("sqlite3", "file:"+escapePath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.SetMaxOpenConns(1)
	if _, err := plain.ExecContext(ctx, "CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	d := &dataVersion{db: sql.OpenDB(dbFile{uri: "file:" + escapePath(path), busy: 1e9, sync: "FULL", readOnly: true}.connector(reader)), path: path}
	defer d.Close()
	v, err := d.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.shm != nil {
		t.Fatal("mapped a -shm file of a database in rollback mode")
	}
	if _, err := plain.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if next, err := d.Version(ctx); err != nil || next == v {
		t.Errorf("Version %d (%v) did not move after a commit", next, err)
	}
}

// TestSHMReadSurvivesTruncation: a mapped file cut short under the
// mapping makes the read fail, not the process crash.
func TestSHMReadSurvivesTruncation(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mmap")
	}
	path := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(path+"-shm", make([]byte, 32768), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := mapSHM(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	var h [walHeaderWords]uint64
	if !m.read(&h) {
		t.Fatal("read of a mapped file failed")
	}
	if err := os.Truncate(path+"-shm", 0); err != nil {
		t.Fatal(err)
	}
	if m.read(&h) {
		t.Error("read of a truncated mapping succeeded")
	}
}
