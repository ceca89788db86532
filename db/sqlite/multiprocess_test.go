package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/db/dbtest"
	"syncserver/db/sqlite"
)

// openShared opens n stores on one file, as n processes would.
func openShared(t *testing.T, n int, opts sqlite.Options) ([]*sqliteStore, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shared.db")
	var stores []*sqliteStore
	for range n {
		s, err := sqlite.Open(context.Background(), path, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	return stores, path
}

func put(t *testing.T, s db.Store, uid db.UID, coll, id string) db.Timestamp {
	t.Helper()
	var ts db.Timestamp
	err := s.Update(context.Background(), uid, func(tx db.Tx) error {
		ts = tx.Timestamp()
		return tx.PutBSO(coll, dbtest.Rec(id, "x"))
	})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func timestamps(t *testing.T, s db.Store, uid db.UID) (db.Timestamp, map[string]db.Timestamp) {
	t.Helper()
	ts, m, err := s.CollectionTimestamps(context.Background(), uid)
	if err != nil {
		t.Fatal(err)
	}
	return ts, m
}

func TestTwoStoresShareAFile(t *testing.T) {
	stores, _ := openShared(t, 2, sqlite.Options{Synchronous: "NORMAL"})
	a, b := stores[0], stores[1]

	t1 := put(t, a, 1, "bookmarks", "x")
	if ts, m := timestamps(t, b, 1); ts != t1 || m["bookmarks"] != t1 {
		t.Fatalf("B sees %v %v, want A's write %d", ts, m, t1)
	}
	hits, _ := b.CacheStats()
	timestamps(t, b, 1)
	if h, _ := b.CacheStats(); h != hits+1 {
		t.Errorf("B's second read did not come from its cache (hits %d → %d)", hits, h)
	}

	// A writes again: B's cached answer must not be served.
	t2 := put(t, a, 1, "history", "y")
	if ts, m := timestamps(t, b, 1); ts != t2 || m["history"] != t2 {
		t.Fatalf("B sees %v %v after A's second write %d", ts, m, t2)
	}

	// B caches user 1, A writes user 1, then B writes user 2: B's own
	// commit must not make it take A's commit for its own.
	timestamps(t, b, 1)
	t3 := put(t, a, 1, "tabs", "z")
	put(t, b, 2, "tabs", "w")
	if ts, m := timestamps(t, b, 1); ts != t3 || m["tabs"] != t3 {
		t.Fatalf("B sees %v %v, want A's write %d", ts, m, t3)
	}

	// Writes of one user from both stores stay strictly increasing.
	var last db.Timestamp
	for i := range 20 {
		s := stores[i%2]
		ts := put(t, s, 3, "forms", fmt.Sprint(i))
		if ts <= last {
			t.Fatalf("write %d at %d after %d", i, ts, last)
		}
		last = ts
	}

	// A's own writes keep its cache useful for other users. (A's first
	// write here notices B's last one, which drops everything: A cannot
	// know which user B wrote.)
	put(t, a, 2, "tabs", "u")
	timestamps(t, a, 1)
	put(t, a, 2, "tabs", "v")
	h0, _ := a.CacheStats()
	timestamps(t, a, 1)
	if h, _ := a.CacheStats(); h != h0+1 {
		t.Errorf("A's write of user 2 dropped its cache of user 1")
	}
}

// TestStoresAgreeWithTheDatabase writes from random stores and checks
// after every write that every store's cached answer is the database's.
func TestStoresAgreeWithTheDatabase(t *testing.T) {
	stores, _ := openShared(t, 3, sqlite.Options{Synchronous: "OFF"})
	rng := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	for i := range 150 {
		w := stores[rng.IntN(len(stores))]
		uid := db.UID(1 + rng.IntN(3))
		coll := []string{"bookmarks", "history", "tabs"}[rng.IntN(3)]
		err := w.Update(ctx, uid, func(tx db.Tx) error {
			switch rng.IntN(5) {
			case 0:
				return tx.DeleteCollection(coll)
			case 1:
				_, err := tx.CreateBatch(coll)
				return err
			default:
				return tx.PutBSO(coll, dbtest.Rec(fmt.Sprint(i), "x"))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		for u := db.UID(1); u <= 3; u++ {
			var want db.Timestamp
			var wantM map[string]db.Timestamp
			err := stores[0].View(ctx, u, func(tx db.Tx) error {
				var err error
				if want, err = tx.StorageTimestamp(); err != nil {
					return err
				}
				wantM, err = tx.CollectionTimestamps()
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			for j, s := range stores {
				ts, m := timestamps(t, s, u)
				if ts != want || !maps.Equal(m, wantM) {
					t.Fatalf("step %d: store %d answers user %d with %v %v; database has %v %v", i, j, u, ts, m, want, wantM)
				}
			}
		}
	}
	var hits int64
	for _, s := range stores {
		h, _ := s.CacheStats()
		hits += h
	}
	if hits == 0 {
		t.Errorf("the cache never answered")
	}
}

// TestConcurrentStoresOneUser: two stores writing one user at the same
// instant; every write gets its own, increasing timestamp, none is lost.
func TestConcurrentStoresOneUser(t *testing.T) {
	clock := dbtest.NewClock(dbtest.StartTime())
	stores, _ := openShared(t, 2, sqlite.Options{Synchronous: "OFF", Now: clock.Now})
	var mu sync.Mutex
	seen := map[db.Timestamp]bool{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			s := stores[w%2]
			for i := range 25 {
				var ts db.Timestamp
				err := s.Update(context.Background(), 1, func(tx db.Tx) error {
					ts = tx.Timestamp()
					return tx.PutBSO("history", dbtest.Rec(fmt.Sprintf("%d-%d", w, i), "x"))
				})
				mu.Lock()
				if err != nil || seen[ts] {
					t.Errorf("write: %v (timestamp %d seen before: %v)", err, ts, seen[ts])
				}
				seen[ts] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	var n int
	stores[1].View(context.Background(), 1, func(tx db.Tx) error {
		p, err := tx.FindBSOs("history", db.Query{Limit: -1})
		n = len(p.Items)
		return err
	})
	if n != 100 || len(seen) != 100 {
		t.Errorf("%d records, %d timestamps; want 100", n, len(seen))
	}
}

// TestLockedDatabaseIsAConflict: a write lock held past the busy timeout
// (another process stuck in a transaction) gives db.ErrConflict, never a
// raw "database is locked".
func TestLockedDatabaseIsAConflict(t *testing.T) {
	stores, path := openShared(t, 1, sqlite.Options{BusyTimeout: 100 * time.Millisecond})
	s := stores[0]
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	ctx := context.Background()
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, 1, func(tx db.Tx) error { return tx.PutBSO("tabs", dbtest.Rec("a", "b")) })
	if !errors.Is(err, db.ErrConflict) {
		t.Errorf("Update under a foreign write lock = %v, want db.ErrConflict", err)
	}
	// Reads go on meanwhile.
	if _, _, err := s.CollectionTimestamps(ctx, 1); err != nil {
		t.Errorf("read under a foreign write lock: %v", err)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	put(t, s, 1, "tabs", "a")
}

// TestLegacyConvertedOnceByConcurrentStarts: processes starting together
// on a legacy file migrate and convert it once, with one copy.
func TestLegacyConvertedOnceByConcurrentStarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "syncserver.db")
	writeLegacy(t, path, legacyDDL, legacyUsersDDL, legacyData)
	ctx := context.Background()
	var wg sync.WaitGroup
	stores := make([]*sqliteStore, 4)
	errs := make([]error, 4)
	for i := range stores {
		wg.Go(func() {
			stores[i], errs[i] = sqlite.Open(ctx, path, sqlite.Options{})
			if errs[i] == nil {
				errs[i] = stores[i].Users().EnsureNode(ctx, db.Service, newNode, 100)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	if baks := backups(t, path); len(baks) != 1 {
		t.Errorf("copies: %v", baks)
	}
	if got := rawQuery(t, path, "SELECT COUNT(*), COUNT(DISTINCT nodeid) FROM users"); got[0][0] != int64(3) || got[0][1] != int64(1) {
		t.Errorf("users after concurrent starts: %v", got)
	}
	for _, s := range stores {
		if u, err := s.Users().GetUser(ctx, db.Service, emailA); err != nil || u.UID != 2 {
			t.Errorf("GetUser = %+v, %v", u, err)
		}
	}
}

// TestShared runs the tests of several servers on one database, the
// conformance suite's, as MySQL and PostgreSQL do.
func TestShared(t *testing.T) {
	dbtest.RunShared(t, func(t *testing.T, n int, now func() time.Time) []db.Store {
		stores, _ := openShared(t, n, sqlite.Options{Synchronous: "OFF", Now: now})
		var out []db.Store
		for _, s := range stores {
			out = append(out, s)
		}
		return out
	})
}
