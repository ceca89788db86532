package mysql_test

import (
	"context"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/db/dbtest"
	"syncserver/internal/testdb"
)

// TestConformance runs the whole suite, each subtest on a database of
// its own on the server of SYNCSERVER_TEST_MYSQL_URI.
func TestConformance(t *testing.T) {
	testdb.ServerURI(t, "mysql")
	dbtest.Run(t, func(t *testing.T, now func() time.Time) db.Store {
		return testdb.Open(t, "mysql", testdb.Options{Now: now})
	})
}

// TestShared runs the tests of several servers on one database.
func TestShared(t *testing.T) {
	testdb.ServerURI(t, "mysql")
	dbtest.RunShared(t, func(t *testing.T, n int, now func() time.Time) []db.Store {
		var stores []db.Store
		for _, s := range testdb.OpenShared(t, "mysql", n, testdb.Options{Now: now}) {
			stores = append(stores, s)
		}
		return stores
	})
}

// TestCompact: purge --vacuum's compaction runs on every table.
func TestCompact(t *testing.T) {
	s := testdb.Open(t, "mysql", testdb.Options{})
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
	testdb.ServerURI(t, "mysql")
	testdb.RunOutages(t, "mysql")
}
