package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"syncserver/db"
	"syncserver/db/dbtest"
	"syncserver/db/sqlite"
)

// TestUpgradeCopiesFirst: a database an older release left (one migration
// behind) is copied, as it was, before the newer schema's migrations
// change it; a second start, with nothing to migrate, copies nothing.
func TestUpgradeCopiesFirst(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "syncserver.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	latest, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, 5, func(tx db.Tx) error { return tx.PutBSO("tabs", dbtest.Rec("kept", "older release")) }); err != nil {
		t.Fatal(err)
	}
	if s.BackupPath() != "" {
		t.Errorf("a new database was copied: %s", s.BackupPath())
	}
	s.Close()
	// As the previous release left it: the newest migration not applied
	// (its changes stay; they are harmless here).
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = raw.Exec("DELETE FROM syncserver_schema WHERE version = ?", latest)
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	s, err = sqlite.Open(ctx, path, sqlite.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	baks := backups(t, path)
	if len(baks) != 1 || s.BackupPath() != baks[0] || !strings.Contains(baks[0], ".pre-migration-") {
		t.Fatalf("backups = %v, BackupPath %q", baks, s.BackupPath())
	}
	if got := rawQuery(t, baks[0], "SELECT MAX(version) FROM syncserver_schema"); got[0][0] != int64(latest-1) {
		t.Errorf("the copy is at schema version %v, want %d (taken before migrating)", got[0][0], latest-1)
	}
	if got := rawQuery(t, baks[0], "SELECT payload FROM bso WHERE id = 'kept'"); len(got) != 1 || string(got[0][0].(string)) != "older release" {
		t.Errorf("the copy holds %v, want the record", got)
	}
	if !strings.Contains(logs.String(), baks[0]) {
		t.Errorf("the copy is not logged: %s", logs.String())
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != latest {
		t.Errorf("SchemaVersion after the upgrade = %d, %v; want %d", v, err, latest)
	}
	err = s.View(ctx, 5, func(tx db.Tx) error {
		b, err := tx.GetBSO("tabs", "kept")
		if err == nil && b.Payload != "older release" {
			t.Errorf("payload after the upgrade = %q", b.Payload)
		}
		return err
	})
	if err != nil {
		t.Errorf("reading the record after the upgrade: %v", err)
	}
	s.Close()

	s, err = sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if baks := backups(t, path); len(baks) != 1 || s.BackupPath() != "" {
		t.Errorf("a start with nothing to migrate copied the database: %v, %q", baks, s.BackupPath())
	}
}
