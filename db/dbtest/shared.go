package dbtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"syncserver/db"
)

// SharedOpener returns n stores on one new, empty database, as n server
// processes (or machines) sharing it would hold; they read the time from
// now and are closed when the test ends.
type SharedOpener func(t *testing.T, n int, now func() time.Time) []db.Store

// RunShared runs the tests of several servers serving one database:
// per-user write serialisation done by the database, timestamps unique
// and increasing across stores, caches that see the other stores' writes,
// and first logins racing on two stores.
func RunShared(t *testing.T, open SharedOpener) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, []db.Store, *Clock)
	}{
		{"WritesOneUser", testSharedWritesOneUser},
		{"CollectionTimestamps", testSharedTimestamps},
		{"AllocateUser", testSharedAllocate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := NewClock(StartTime())
			tc.fn(t, open(t, 2, clock.Now), clock)
		})
	}
}

// testSharedWritesOneUser: writers on both stores write one user at one
// clock instant; each write gets its own timestamp, 10 ms after the
// previous one whichever store made it, and none is lost.
func testSharedWritesOneUser(t *testing.T, stores []db.Store, clock *Clock) {
	const writers, writes = 6, 20
	ctx := context.Background()
	var mu sync.Mutex
	var stamps []db.Timestamp
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			s := stores[w%len(stores)]
			for i := range writes {
				var ts db.Timestamp
				err := s.Update(ctx, 1, func(tx db.Tx) error {
					ts = tx.Timestamp()
					return tx.PostBSOs(fmt.Sprintf("c%d", w%3), []db.BSOUpdate{
						Rec(fmt.Sprintf("w%d-%d", w, i), "x"), Rec(fmt.Sprintf("w%d-%d-b", w, i), "y")})
				})
				if err != nil {
					errs <- fmt.Errorf("store %d: %w", w%len(stores), err)
					return
				}
				mu.Lock()
				stamps = append(stamps, ts)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent write: %v", err)
	}
	slices.Sort(stamps)
	first := db.TimestampOf(clock.Now())
	for i, ts := range stamps {
		if want := first + db.Timestamp(10*i); ts != want {
			t.Fatalf("timestamp #%d = %d, want %d (all: %v)", i, ts, want, stamps)
		}
	}
	for i, s := range stores {
		total := 0
		err := s.View(ctx, 1, func(tx db.Tx) error {
			for c := range 3 {
				p, err := tx.FindBSOs(fmt.Sprintf("c%d", c), db.Query{Limit: -1})
				if err != nil {
					return err
				}
				total += len(p.Items)
			}
			return nil
		})
		if err != nil || total != 2*writers*writes {
			t.Errorf("store %d sees %d records (%v), want %d", i, total, err, 2*writers*writes)
		}
		ts, _, err := s.CollectionTimestamps(ctx, 1)
		if err != nil || ts != stamps[len(stamps)-1] {
			t.Errorf("store %d: storage timestamp %d, %v; want %d", i, ts, err, stamps[len(stamps)-1])
		}
	}
}

// testSharedTimestamps: info/collections read from one store always
// shows the other store's last write, deletions included, even when the
// reading store answered from memory before.
func testSharedTimestamps(t *testing.T, stores []db.Store, clock *Clock) {
	ctx := context.Background()
	a, b := stores[0], stores[1]
	want := map[string]db.Timestamp{}
	check := func(step string, wantStorage db.Timestamp) {
		t.Helper()
		for i, s := range stores {
			for range 2 { // a second read may come from a cache
				ts, m, err := s.CollectionTimestamps(ctx, 1)
				if err != nil || ts != wantStorage || !maps.Equal(m, want) {
					t.Fatalf("%s: store %d: CollectionTimestamps = %d, %v, %v; want %d, %v", step, i, ts, m, err, wantStorage, want)
				}
			}
		}
	}
	check("empty", 0)
	for i, coll := range []string{"bookmarks", "history", "bookmarks", "tabs"} {
		w := stores[i%2]
		var ts db.Timestamp
		if err := w.Update(ctx, 1, func(tx db.Tx) error {
			ts = tx.Timestamp()
			return tx.PutBSO(coll, Rec("x", "y"))
		}); err != nil {
			t.Fatal(err)
		}
		want[coll] = ts
		check(fmt.Sprintf("write %d", i), ts)
		clock.Advance(time.Second)
	}
	var del db.Timestamp
	if err := b.Update(ctx, 1, func(tx db.Tx) error {
		del = tx.Timestamp()
		return tx.DeleteCollection("bookmarks")
	}); err != nil {
		t.Fatal(err)
	}
	delete(want, "bookmarks")
	check("collection deleted", del)
	clock.Advance(time.Second)
	if err := a.Update(ctx, 1, func(tx db.Tx) error {
		del = tx.Timestamp()
		return tx.DeleteStorage()
	}); err != nil {
		t.Fatal(err)
	}
	clear(want)
	check("storage deleted", del)
}

// testSharedAllocate: the first logins of one email on both stores at
// once make one record.
func testSharedAllocate(t *testing.T, stores []db.Store, clock *Clock) {
	ctx := context.Background()
	for _, s := range stores {
		if err := s.Users().EnsureNode(ctx, db.Service, testNode, 100); err != nil {
			t.Fatalf("EnsureNode: %v", err)
		}
	}
	const tries = 8
	got := make([]db.User, tries)
	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range tries {
		wg.Go(func() {
			got[i], errs[i] = stores[i%2].Users().AllocateUser(ctx, db.Service, testEmail, 10, 0, "aaaa", testNode)
		})
	}
	wg.Wait()
	for i := range tries {
		if errs[i] != nil || got[i].UID != got[0].UID {
			t.Fatalf("AllocateUser #%d = %+v, %v; #0 = %+v", i, got[i], errs[i], got[0])
		}
	}
	if n, err := stores[1].Users().CountUsers(ctx, db.Service); err != nil || n != 1 {
		t.Errorf("CountUsers = %d, %v", n, err)
	}
}
