package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/db/dbtest"
	"syncserver/db/sqlite"
)

// openFile opens a store on a new file in the test's temp dir.
func openFile(t testing.TB, now func() time.Time, opts sqlite.Options) (*sqliteStore, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "syncserver.db")
	opts.Now = now
	s, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, path
}

func TestConformanceFile(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, now func() time.Time) db.Store {
		// NORMAL keeps the suite fast; durability is not under test.
		s, _ := openFile(t, now, sqlite.Options{Synchronous: "NORMAL"})
		return s
	})
}

// TestOtherWriters runs the cases that write rows from outside the store,
// through a connection of their own to the file.
func TestOtherWriters(t *testing.T) {
	dbtest.RunOtherWriters(t, func(t *testing.T, now func() time.Time) (db.Store, dbtest.ExecSQL) {
		s, path := openFile(t, now, sqlite.Options{Synchronous: "NORMAL"})
		raw, err := sql.Open("sqlite3", path+"?_busy_timeout=10000")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		return s, func(ctx context.Context, query string) error {
			_, err := raw.ExecContext(ctx, query)
			return err
		}
	})
}

func TestConformanceMemory(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, now func() time.Time) db.Store {
		s, err := sqlite.Open(context.Background(), sqlite.Memory, sqlite.Options{Now: now})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
