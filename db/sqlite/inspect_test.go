package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"syncserver/db"
	"syncserver/db/dbtest"
	"syncserver/db/sqlite"
)

// TestReadOnlyInspectsALegacyFileWithoutChangingIt: opened ReadOnly, a
// legacy file reports the migrations the server would apply, refuses
// every write (the users conversion too), and keeps every byte.
func TestReadOnlyInspectsALegacyFileWithoutChangingIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "legacy.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(legacyDDL + legacyUsersDDL); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	s, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	at, latest, copyFirst := s.Pending()
	if at != 0 || latest == 0 || !copyFirst || !s.LegacyUsers() {
		t.Errorf("Pending = %d, %d, %v; LegacyUsers = %v; want 0, the latest, true, true", at, latest, copyFirst, s.LegacyUsers())
	}
	if err := s.Update(ctx, 1, func(tx db.Tx) error { return tx.PutBSO("tabs", dbtest.Rec("a", "b")) }); !errors.Is(err, db.ErrReadOnly) {
		t.Errorf("Update on a store opened ReadOnly: %v, want db.ErrReadOnly", err)
	}
	if err := s.Users().EnsureNode(ctx, db.Service, "https://sync.example.com", 100); err == nil {
		t.Errorf("EnsureNode converted the legacy users table of a store opened ReadOnly")
	}
	s.Close()
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("opening ReadOnly changed the file")
	}
	if copies, _ := filepath.Glob(path + ".*.bak"); len(copies) > 0 {
		t.Errorf("opening ReadOnly copied the file: %v", copies)
	}

	if _, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "missing.db"), sqlite.Options{ReadOnly: true}); err == nil {
		t.Errorf("ReadOnly opened a missing file")
	}
}
