package testdb

import (
	"context"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/db/dbtest"
)

// RunServerBackend runs everything a database-server backend (mysql or
// postgres) must pass, each on databases of its own on the server the
// environment names: the conformance suite, several servers on one
// database, compaction and outages. It skips, or fails when required,
// without a server.
func RunServerBackend(t *testing.T, backend string) {
	ServerURI(t, backend)
	t.Run("Conformance", func(t *testing.T) {
		dbtest.Run(t, func(t *testing.T, now func() time.Time) db.Store {
			return Open(t, backend, Options{Now: now})
		})
	})
	t.Run("OtherWriters", func(t *testing.T) {
		dbtest.RunOtherWriters(t, func(t *testing.T, now func() time.Time) (db.Store, dbtest.ExecSQL) {
			uri := NewURI(t, backend)
			raw := Admin(t, uri)
			exec := func(ctx context.Context, query string) error {
				_, err := raw.ExecContext(ctx, query)
				return err
			}
			return OpenURI(t, uri, Options{Now: now}), exec
		})
	})
	t.Run("Shared", func(t *testing.T) {
		dbtest.RunShared(t, func(t *testing.T, n int, now func() time.Time) []db.Store {
			var stores []db.Store
			for _, s := range OpenShared(t, backend, n, Options{Now: now}) {
				stores = append(stores, s)
			}
			return stores
		})
	})
	// purge --vacuum's compaction runs on every table.
	t.Run("Compact", func(t *testing.T) {
		s := Open(t, backend, Options{})
		ctx := context.Background()
		if err := s.Update(ctx, 1, func(tx db.Tx) error { return tx.PutBSO("tabs", dbtest.Rec("a", "b")) }); err != nil {
			t.Fatal(err)
		}
		var steps []string
		if err := s.Compact(ctx, func(step string) { steps = append(steps, step) }); err != nil {
			t.Fatalf("Compact: %v", err)
		}
		if len(steps) < 3 {
			t.Errorf("Compact steps = %q", steps)
		}
	})
	// The server down at start, and connections lost in the middle of a
	// write.
	t.Run("Outages", func(t *testing.T) { RunOutages(t, backend) })
}
