package dbtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"syncserver/db"
)

func testRollback(t *testing.T, e *env) {
	t1 := e.put(1, "bookmarks", Rec("a", "x"))
	var batch int64
	err := e.s.Update(e.ctx, 1, func(tx db.Tx) error {
		if err := tx.PutBSO("bookmarks", Rec("b", "y")); err != nil {
			return err
		}
		if err := tx.DeleteBSO("bookmarks", "a"); err != nil {
			return err
		}
		if err := tx.PostBSOs("history", []db.BSOUpdate{Rec("h", "z")}); err != nil {
			return err
		}
		var err error
		if batch, err = tx.CreateBatch("tabs"); err != nil {
			return err
		}
		return errBoom
	})
	if err != errBoom {
		t.Fatalf("Update returned %v, want the callback's error as is", err)
	}
	checkUnchanged := func(what string) {
		t.Helper()
		e.mustGet(1, "bookmarks", "a")
		if _, ok := e.get(1, "bookmarks", "b"); ok {
			t.Errorf("%s: rolled-back record b exists", what)
		}
		if got, want := e.collTimestamps(1), map[string]db.Timestamp{"bookmarks": t1}; !maps.Equal(got, want) {
			t.Errorf("%s: CollectionTimestamps = %v, want %v", what, got, want)
		}
		wantTS(t, what+": storage timestamp", e.storageTimestamp(1), t1)
		_, err := e.getBatch(1, "tabs", batch)
		wantErr(t, what+": rolled-back batch", err, db.ErrBatchNotFound)
	}
	checkUnchanged("callback error")

	// A write that fails after others in the same transaction.
	err = e.s.Update(e.ctx, 1, func(tx db.Tx) error {
		if err := tx.PostBSOs("bookmarks", []db.BSOUpdate{Rec("b", "y")}); err != nil {
			return err
		}
		return tx.CommitBatch("bookmarks", 12345)
	})
	wantErr(t, "commit of a missing batch", err, db.ErrBatchNotFound)
	checkUnchanged("failed write")
	ts, m, err := e.s.CollectionTimestamps(e.ctx, 1)
	if err != nil || ts != t1 || len(m) != 1 {
		t.Errorf("Store.CollectionTimestamps = %v, %v, %v", ts, m, err)
	}
}

func testRollbackMidway(t *testing.T, e *env) {
	e.put(1, "bookmarks", Rec("a", "x"))
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	err := e.s.Update(ctx, 1, func(tx db.Tx) error {
		if err := tx.PutBSO("bookmarks", Rec("b", "y")); err != nil {
			return err
		}
		cancel() // the client went away in the middle of the request
		return tx.PostBSOs("bookmarks", []db.BSOUpdate{Rec("c", "z"), Rec("d", "w")})
	})
	if err == nil {
		t.Fatalf("Update succeeded after its context was cancelled")
	}
	if got := e.ids(1, "bookmarks", db.Query{}); !equalStrings(got, []string{"a"}) {
		t.Errorf("after a failed transaction: ids %v, want [a]", got)
	}
	// The store still works.
	e.put(1, "bookmarks", Rec("e", "v"))
}

// testConcurrentOneUser: many writers of one user at one clock instant are
// serialised, each gets its own timestamp 10 ms after the previous one,
// and none is lost or fails with a conflict.
func testConcurrentOneUser(t *testing.T, e *env) {
	const writers, writes = 8, 20
	var mu sync.Mutex
	var stamps []db.Timestamp
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				var ts db.Timestamp
				err := e.s.Update(e.ctx, 1, func(tx db.Tx) error {
					ts = tx.Timestamp()
					prev, err := tx.StorageTimestamp()
					if err != nil {
						return err
					}
					if ts <= prev {
						return fmt.Errorf("timestamp %d not after the last write %d", ts, prev)
					}
					return tx.PutBSO(fmt.Sprintf("c%d", w%3), Rec(fmt.Sprintf("w%d-%d", w, i), "x"))
				})
				if err != nil {
					errs <- err
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
	first := db.TimestampOf(e.clock.Now())
	for i, ts := range stamps {
		if want := first + db.Timestamp(10*i); ts != want {
			t.Fatalf("timestamp #%d = %d, want %d (all: %v)", i, ts, want, stamps)
		}
	}
	total := 0
	for c := range 3 {
		items := e.find(1, fmt.Sprintf("c%d", c), db.Query{Limit: -1}).Items
		total += len(items)
		for _, it := range items {
			if _, found := slices.BinarySearch(stamps, it.Modified); !found {
				t.Errorf("record %s has modified %d, no write's timestamp", it.ID, it.Modified)
			}
		}
	}
	if total != writers*writes {
		t.Errorf("%d records, want %d", total, writers*writes)
	}
	wantTS(t, "storage timestamp", e.storageTimestamp(1), stamps[len(stamps)-1])
}

// testConcurrentManyUsers: users writing in parallel do not disturb each
// other.
func testConcurrentManyUsers(t *testing.T, e *env) {
	const users, writes = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, users)
	for u := range users {
		uid := db.UID(100 + u)
		wg.Go(func() {
			var last db.Timestamp
			for i := range writes {
				var ts db.Timestamp
				err := e.s.Update(e.ctx, uid, func(tx db.Tx) error {
					ts = tx.Timestamp()
					if i%5 == 4 {
						if _, err := tx.CollectionUsage(); err != nil {
							return err
						}
					}
					return tx.PutBSO("history", Rec(fmt.Sprint(i), fmt.Sprint(uid)))
				})
				if err == nil && ts <= last {
					err = fmt.Errorf("user %d: timestamp %d after %d", uid, ts, last)
				}
				if err != nil {
					errs <- err
					return
				}
				last = ts
				if _, _, err := e.s.CollectionTimestamps(e.ctx, uid); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent write: %v", err)
	}
	for u := range users {
		uid := db.UID(100 + u)
		p := e.find(uid, "history", db.Query{Full: true, Limit: -1})
		if len(p.Items) != writes {
			t.Errorf("user %d has %d records", uid, len(p.Items))
		}
		for _, it := range p.Items {
			if it.Payload != fmt.Sprint(uid) {
				t.Errorf("user %d sees %+v", uid, it)
			}
		}
		ts, m, err := e.s.CollectionTimestamps(e.ctx, uid)
		if err != nil || ts != p.Items[0].Modified || m["history"] != ts {
			t.Errorf("user %d: CollectionTimestamps = %v, %v, %v; newest record %d", uid, ts, m, err, p.Items[0].Modified)
		}
	}
}

func testSettings(t *testing.T, e *env) {
	_, err := e.s.Setting(e.ctx, "secret")
	wantErr(t, "missing setting", err, db.ErrNotFound)
	v, err := e.s.InitSetting(e.ctx, "secret", "first")
	if err != nil || v != "first" {
		t.Fatalf("InitSetting = %q, %v", v, err)
	}
	v, err = e.s.InitSetting(e.ctx, "secret", "second")
	if err != nil || v != "first" {
		t.Errorf("second InitSetting = %q, %v; want the first value", v, err)
	}
	if v, err := e.s.Setting(e.ctx, "secret"); err != nil || v != "first" {
		t.Errorf("Setting = %q, %v", v, err)
	}
	// Processes starting together agree on one value.
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Go(func() {
			v, err := e.s.InitSetting(e.ctx, "race", fmt.Sprint(i))
			if err != nil {
				v = err.Error()
			}
			got[i] = v
		})
	}
	wg.Wait()
	for _, v := range got {
		if v != got[0] {
			t.Fatalf("InitSetting answers differ: %v", got)
		}
	}
	if err := e.s.Ping(e.ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
