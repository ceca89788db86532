package postgres_test

import (
	"context"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/db/dbtest"
	"syncserver/internal/testdb"
)

// TestConformance runs the whole suite, each subtest in a schema of
// its own on the server of SYNCSERVER_TEST_POSTGRES_URI.
func TestConformance(t *testing.T) {
	testdb.ServerURI(t, "postgres")
	dbtest.Run(t, func(t *testing.T, now func() time.Time) db.Store {
		return testdb.Open(t, "postgres", testdb.Options{Now: now})
	})
}

// TestShared runs the tests of several servers on one database.
func TestShared(t *testing.T) {
	testdb.ServerURI(t, "postgres")
	dbtest.RunShared(t, func(t *testing.T, n int, now func() time.Time) []db.Store {
		var stores []db.Store
		for _, s := range testdb.OpenShared(t, "postgres", n, testdb.Options{Now: now}) {
			stores = append(stores, s)
		}
		return stores
	})
}

// TestCompact: purge --vacuum's compaction runs on every table.
func TestCompact(t *testing.T) {
	s := testdb.Open(t, "postgres", testdb.Options{})
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
}

// TestOutages: the server down at start, and connections lost in the
// middle of a write.
func TestOutages(t *testing.T) {
	testdb.ServerURI(t, "postgres")
	testdb.RunOutages(t, "postgres")
}
