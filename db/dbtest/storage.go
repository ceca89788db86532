package dbtest

import (
	"maps"
	"testing"
	"time"

	"syncserver/db"
)

func testEmptyUser(t *testing.T, e *env) {
	e.view(1, func(tx db.Tx) error {
		if ts, err := tx.StorageTimestamp(); err != nil || ts != 0 {
			t.Errorf("StorageTimestamp = %v, %v; want 0", ts, err)
		}
		if m, err := tx.CollectionTimestamps(); err != nil || len(m) != 0 {
			t.Errorf("CollectionTimestamps = %v, %v; want empty", m, err)
		}
		if ts, err := tx.CollectionTimestamp("bookmarks"); err != nil || ts != 0 {
			t.Errorf("CollectionTimestamp = %v, %v; want 0", ts, err)
		}
		if ts, err := tx.BSOTimestamp("bookmarks", "a"); err != nil || ts != 0 {
			t.Errorf("BSOTimestamp = %v, %v; want 0", ts, err)
		}
		_, err := tx.GetBSO("bookmarks", "a")
		wantErr(t, "GetBSO", err, db.ErrNotFound)
		if p, err := tx.FindBSOs("bookmarks", db.Query{Limit: 10}); err != nil || len(p.Items) != 0 || p.Next != "" {
			t.Errorf("FindBSOs = %+v, %v; want empty", p, err)
		}
		if u, err := tx.CollectionUsage(); err != nil || len(u) != 0 {
			t.Errorf("CollectionUsage = %v, %v; want empty", u, err)
		}
		if n, err := tx.StorageUsage(); err != nil || n != 0 {
			t.Errorf("StorageUsage = %v, %v; want 0", n, err)
		}
		return nil
	})
	ts, m, err := e.s.CollectionTimestamps(e.ctx, 1)
	if err != nil || ts != 0 || len(m) != 0 {
		t.Errorf("Store.CollectionTimestamps = %v, %v, %v; want 0, empty", ts, m, err)
	}
}

func testWriteTimestamps(t *testing.T, e *env) {
	want := db.TimestampOf(StartTime())
	if want%10 != 0 || want <= db.Timestamp(StartTime().UnixMilli()) {
		t.Fatalf("bad test clock: %d", want)
	}
	var inside db.Timestamp
	t1 := e.update(1, func(tx db.Tx) error {
		if err := tx.PutBSO("bookmarks", Rec("a", "x")); err != nil {
			return err
		}
		var err error
		inside, err = tx.StorageTimestamp()
		return err
	})
	wantTS(t, "first write", t1, want)
	wantTS(t, "StorageTimestamp inside the writing transaction", inside, t1)
	wantTS(t, "record modified", e.mustGet(1, "bookmarks", "a").Modified, t1)
	wantTS(t, "collection timestamp", e.collTimestamp(1, "bookmarks"), t1)
	wantTS(t, "storage timestamp", e.storageTimestamp(1), t1)

	// Same clock: the next write of the user is 10 ms later.
	t2 := e.put(1, "history", Rec("h", "y"))
	wantTS(t, "second write at the same clock", t2, t1+10)
	if got, want := e.collTimestamps(1), map[string]db.Timestamp{"bookmarks": t1, "history": t2}; !maps.Equal(got, want) {
		t.Errorf("CollectionTimestamps = %v, want %v", got, want)
	}
	wantTS(t, "storage timestamp", e.storageTimestamp(1), t2)

	// Another user is not held back by the first one's bump.
	wantTS(t, "other user's write", e.put(2, "bookmarks", Rec("a", "x")), t1)

	e.clock.Advance(1234567 * time.Microsecond)
	wantTS(t, "write after the clock moved", e.put(1, "bookmarks", Rec("b", "z")), e.now())
}

func testClockStepsBack(t *testing.T, e *env) {
	t1 := e.put(1, "bookmarks", Rec("a", "x"))
	e.clock.Advance(-time.Hour)
	t2 := e.put(1, "bookmarks", Rec("b", "x"))
	wantTS(t, "write after the clock stepped back", t2, t1+10)
	t3 := e.update(1, func(tx db.Tx) error { return tx.DeleteCollection("bookmarks") })
	wantTS(t, "delete", t3, t2+10)
	e.clock.Advance(-time.Hour)
	t4 := e.update(1, func(tx db.Tx) error {
		_, err := tx.CreateBatch("history")
		return err
	})
	wantTS(t, "batch creation after a delete", t4, t3+10)
	t5 := e.put(1, "history", Rec("c", "x"))
	wantTS(t, "write after a batch creation", t5, t4+10)
	wantTS(t, "storage timestamp", e.storageTimestamp(1), t5)
}

func testModifiedRules(t *testing.T, e *env) {
	t1 := e.put(1, "bookmarks", db.BSOUpdate{ID: "a", Payload: Str("p1"), SortIndex: Int(1), TTL: Int(3600)})
	b := e.mustGet(1, "bookmarks", "a")
	wantTS(t, "new record modified", b.Modified, t1)

	e.clock.Advance(time.Second)
	t2 := e.put(1, "bookmarks", db.BSOUpdate{ID: "a", SortIndex: Int(5)})
	b = e.mustGet(1, "bookmarks", "a")
	wantTS(t, "modified after a sortindex-only update", b.Modified, t1)
	if b.SortIndex == nil || *b.SortIndex != 5 || b.Payload != "p1" {
		t.Errorf("after sortindex update: %+v", b)
	}
	wantTS(t, "collection after a sortindex-only update", e.collTimestamp(1, "bookmarks"), t2)

	e.clock.Advance(time.Second)
	t3 := e.put(1, "bookmarks", db.BSOUpdate{ID: "a", TTL: Int(7200)})
	b = e.mustGet(1, "bookmarks", "a")
	wantTS(t, "modified after a ttl-only update", b.Modified, t1)
	if b.Expires != t3.Seconds()+7200 {
		t.Errorf("Expires = %d, want %d", b.Expires, t3.Seconds()+7200)
	}
	wantTS(t, "collection after a ttl-only update", e.collTimestamp(1, "bookmarks"), t3)

	e.clock.Advance(time.Second)
	t4 := e.put(1, "bookmarks", db.BSOUpdate{ID: "a", Payload: Str("p2")})
	b = e.mustGet(1, "bookmarks", "a")
	wantTS(t, "modified after a payload update", b.Modified, t4)
	if b.Payload != "p2" || b.SortIndex == nil || *b.SortIndex != 5 || b.Expires != t3.Seconds()+7200 {
		t.Errorf("payload update changed other fields: %+v", b)
	}

	t5 := e.put(1, "bookmarks", db.BSOUpdate{ID: "a"})
	if got := e.mustGet(1, "bookmarks", "a"); !sameBSO(got, b) {
		t.Errorf("id-only update changed the record: %+v, was %+v", got, b)
	}
	wantTS(t, "collection after an id-only update", e.collTimestamp(1, "bookmarks"), t5)
}

func testNewRecordDefaults(t *testing.T, e *env) {
	ts := e.put(1, "forms",
		db.BSOUpdate{ID: "ttl-only", TTL: Int(60)},
		db.BSOUpdate{ID: "sortindex-only", SortIndex: Int(3)},
		db.BSOUpdate{ID: "id-only"})
	for _, c := range []struct {
		id      string
		sort    *int64
		expires int64
	}{
		{"ttl-only", nil, ts.Seconds() + 60},
		{"sortindex-only", Int(3), db.NeverExpires},
		{"id-only", nil, db.NeverExpires},
	} {
		b := e.mustGet(1, "forms", c.id)
		if b.Payload != "" || b.Modified != ts || b.Expires != c.expires ||
			(b.SortIndex == nil) != (c.sort == nil) || b.SortIndex != nil && *b.SortIndex != *c.sort {
			t.Errorf("%s: got %+v, want payload \"\", modified %d, expires %d, sortindex %v", c.id, b, ts, c.expires, c.sort)
		}
	}
}

func testPostBSOs(t *testing.T, e *env) {
	t1 := e.put(1, "tabs")
	if got := e.collTimestamps(1); got["tabs"] != t1 {
		t.Errorf("empty POST: CollectionTimestamps = %v, want tabs: %d", got, t1)
	}
	t2 := e.put(1, "tabs", Rec("a", "1"), Rec("b", "2"), Rec("c", "3"))
	for _, id := range []string{"a", "b", "c"} {
		wantTS(t, id+" modified", e.mustGet(1, "tabs", id).Modified, t2)
	}
	wantTS(t, "collection", e.collTimestamp(1, "tabs"), t2)

	// An id listed twice is merged, later fields winning.
	t3 := e.put(1, "tabs",
		db.BSOUpdate{ID: "d", Payload: Str("first")},
		db.BSOUpdate{ID: "d", SortIndex: Int(7)},
		Rec("e", "x"),
		db.BSOUpdate{ID: "d", TTL: Int(100), Payload: Str("second")})
	d := e.mustGet(1, "tabs", "d")
	if d.Payload != "second" || d.SortIndex == nil || *d.SortIndex != 7 || d.Expires != t3.Seconds()+100 || d.Modified != t3 {
		t.Errorf("merged record = %+v", d)
	}
	if got := e.ids(1, "tabs", db.Query{Sort: db.SortOldest}); !equalStrings(got, []string{"a", "b", "c", "d", "e"}) {
		t.Errorf("ids = %v", got)
	}
}

func testTTLExpiry(t *testing.T, e *env) {
	ts := e.put(1, "history", db.BSOUpdate{ID: "a", Payload: Str("12345"), TTL: Int(10)}, Rec("keep", "x"))
	expiry := ts.Seconds() + 10
	if b := e.mustGet(1, "history", "a"); b.Expires != expiry {
		t.Fatalf("Expires = %d, want %d", b.Expires, expiry)
	}
	// Live while ttl > floor(now in seconds).
	e.clock.Set(time.Unix(expiry-1, 999_000_000))
	e.mustGet(1, "history", "a")
	if got := e.ids(1, "history", db.Query{}); len(got) != 2 {
		t.Errorf("before expiry: ids = %v", got)
	}

	e.clock.Set(time.Unix(expiry, 0))
	if _, ok := e.get(1, "history", "a"); ok {
		t.Errorf("expired record still readable")
	}
	e.view(1, func(tx db.Tx) error {
		if ts, err := tx.BSOTimestamp("history", "a"); err != nil || ts != 0 {
			t.Errorf("BSOTimestamp of an expired record = %v, %v", ts, err)
		}
		if u, err := tx.CollectionUsage(); err != nil || u["history"].Count != 1 {
			t.Errorf("CollectionUsage = %v, %v; want history count 1", u, err)
		}
		if n, err := tx.StorageUsage(); err != nil || n != 1 {
			t.Errorf("StorageUsage = %v, %v; want 1", n, err)
		}
		return nil
	})
	if got := e.ids(1, "history", db.Query{}); !equalStrings(got, []string{"keep"}) {
		t.Errorf("after expiry: ids = %v", got)
	}
	err := e.s.Update(e.ctx, 1, func(tx db.Tx) error { return tx.DeleteBSO("history", "a") })
	wantErr(t, "DeleteBSO of an expired record", err, db.ErrNotFound)
	// An expired collection stays in info/collections.
	if _, ok := e.collTimestamps(1)["history"]; !ok {
		t.Errorf("collection vanished from CollectionTimestamps")
	}

	e.put(1, "history", db.BSOUpdate{ID: "zero", Payload: Str("x"), TTL: Int(0)})
	if _, ok := e.get(1, "history", "zero"); ok {
		t.Errorf("ttl 0 record is visible")
	}
}

func testNeverExpires(t *testing.T, e *env) {
	e.put(1, "bookmarks", Rec("a", "x"))
	if b := e.mustGet(1, "bookmarks", "a"); b.Expires != db.NeverExpires {
		t.Fatalf("Expires = %d, want db.NeverExpires", b.Expires)
	}
	e.clock.Set(time.Date(2040, 6, 1, 0, 0, 0, 0, time.UTC))
	e.mustGet(1, "bookmarks", "a")
	if got := e.ids(1, "bookmarks", db.Query{}); !equalStrings(got, []string{"a"}) {
		t.Errorf("ids in 2040 = %v", got)
	}
	e.view(1, func(tx db.Tx) error {
		if n, err := tx.StorageUsage(); err != nil || n != 1 {
			t.Errorf("StorageUsage in 2040 = %v, %v", n, err)
		}
		return nil
	})
	ts := e.put(1, "bookmarks", db.BSOUpdate{ID: "b", Payload: Str("y"), TTL: Int(60)})
	if b := e.mustGet(1, "bookmarks", "b"); b.Expires != ts.Seconds()+60 || ts.Seconds() < time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC).Unix() {
		t.Errorf("record written in 2040: %+v (T %d)", b, ts)
	}
}

func testExpiredOverwrite(t *testing.T, e *env) {
	t0 := e.put(1, "history",
		db.BSOUpdate{ID: "a", Payload: Str("old"), TTL: Int(1)},
		db.BSOUpdate{ID: "b", Payload: Str("old"), TTL: Int(1)},
		db.BSOUpdate{ID: "c", Payload: Str("old"), TTL: Int(1)})
	e.clock.Advance(2 * time.Second)
	if got := e.ids(1, "history", db.Query{}); len(got) != 0 {
		t.Fatalf("expired records listed: %v", got)
	}

	ta := e.put(1, "history", db.BSOUpdate{ID: "a", Payload: Str("new"), TTL: Int(3600)})
	if b := e.mustGet(1, "history", "a"); b.Payload != "new" || b.Modified != ta {
		t.Errorf("overwritten record = %+v", b)
	}
	// A ttl-only update revives the old row, payload and modified kept.
	e.put(1, "history", db.BSOUpdate{ID: "b", TTL: Int(3600)})
	if b := e.mustGet(1, "history", "b"); b.Payload != "old" || b.Modified != t0 {
		t.Errorf("revived record = %+v, want payload old, modified %d", b, t0)
	}
	// A payload-only update keeps the old ttl: still expired.
	e.put(1, "history", db.BSOUpdate{ID: "c", Payload: Str("new")})
	if b, ok := e.get(1, "history", "c"); ok {
		t.Errorf("payload-only update revived an expired record: %+v", b)
	}
	if got := e.ids(1, "history", db.Query{Sort: db.SortOldest}); !equalStrings(got, []string{"b", "a"}) {
		t.Errorf("ids = %v, want [b a]", got)
	}
}

func testFullAndIDOnly(t *testing.T, e *env) {
	ts := e.put(1, "prefs", db.BSOUpdate{ID: "a", Payload: Str("pa"), SortIndex: Int(-3), TTL: Int(100)}, Rec("b", "pb"))
	p := e.find(1, "prefs", db.Query{Full: true, Sort: db.SortIndex, Limit: -1})
	if len(p.Items) != 2 {
		t.Fatalf("items = %+v", p.Items)
	}
	a, b := p.Items[0], p.Items[1]
	if a.ID != "a" || a.Payload != "pa" || a.SortIndex == nil || *a.SortIndex != -3 || a.Modified != ts || a.Expires != ts.Seconds()+100 {
		t.Errorf("full a = %+v", a)
	}
	if b.ID != "b" || b.Payload != "pb" || b.SortIndex != nil || b.Expires != db.NeverExpires {
		t.Errorf("full b = %+v", b)
	}
	for _, it := range e.find(1, "prefs", db.Query{Limit: -1}).Items {
		if it.ID == "" || it.Payload != "" || it.SortIndex != nil {
			t.Errorf("id-only item = %+v", it)
		}
	}
}

func testCountsAndUsage(t *testing.T, e *env) {
	e.put(1, "bookmarks", Rec("a", "abc"), Rec("b", "é€x"))
	e.put(1, "history", db.BSOUpdate{ID: "c", Payload: Str("12345"), TTL: Int(10)})
	e.put(2, "bookmarks", Rec("z", "zzzzzzzzzz"))
	check := func(want map[string]db.Usage, total int64) {
		t.Helper()
		e.view(1, func(tx db.Tx) error {
			u, err := tx.CollectionUsage()
			if err != nil || !maps.Equal(u, want) {
				t.Errorf("CollectionUsage = %v, %v; want %v", u, err, want)
			}
			n, err := tx.StorageUsage()
			if err != nil || n != total {
				t.Errorf("StorageUsage = %v, %v; want %d", n, err, total)
			}
			return nil
		})
	}
	// Sizes are in characters, as the legacy server stored them.
	check(map[string]db.Usage{"bookmarks": {Count: 2, Bytes: 6}, "history": {Count: 1, Bytes: 5}}, 11)
	e.clock.Advance(11 * time.Second)
	check(map[string]db.Usage{"bookmarks": {Count: 2, Bytes: 6}}, 6)
	e.put(1, "bookmarks", Rec("a", "abcd"))
	check(map[string]db.Usage{"bookmarks": {Count: 2, Bytes: 7}}, 7)
}

func testDeleteBSO(t *testing.T, e *env) {
	err := e.s.Update(e.ctx, 1, func(tx db.Tx) error { return tx.DeleteBSO("nothing", "a") })
	wantErr(t, "DeleteBSO in a missing collection", err, db.ErrNotFound)
	t1 := e.put(1, "bookmarks", Rec("a", "x"), Rec("b", "y"))
	err = e.s.Update(e.ctx, 1, func(tx db.Tx) error { return tx.DeleteBSO("bookmarks", "zz") })
	wantErr(t, "DeleteBSO of a missing record", err, db.ErrNotFound)
	wantTS(t, "collection after a failed delete", e.collTimestamp(1, "bookmarks"), t1)

	t2 := e.update(1, func(tx db.Tx) error { return tx.DeleteBSO("bookmarks", "a") })
	if got := e.ids(1, "bookmarks", db.Query{}); !equalStrings(got, []string{"b"}) {
		t.Errorf("ids after delete = %v", got)
	}
	wantTS(t, "collection after delete", e.collTimestamp(1, "bookmarks"), t2)
	wantTS(t, "storage after delete", e.storageTimestamp(1), t2)
}

func testDeleteBSOs(t *testing.T, e *env) {
	e.put(1, "bookmarks", Rec("a", "x"), Rec("b", "y"), Rec("c", "z"))
	t2 := e.update(1, func(tx db.Tx) error { return tx.DeleteBSOs("bookmarks", []string{"a", "c", "missing"}) })
	if got := e.ids(1, "bookmarks", db.Query{}); !equalStrings(got, []string{"b"}) {
		t.Errorf("ids = %v", got)
	}
	wantTS(t, "collection", e.collTimestamp(1, "bookmarks"), t2)

	// A collection the user never had is created.
	t3 := e.update(1, func(tx db.Tx) error { return tx.DeleteBSOs("newcoll", []string{"a"}) })
	wantTS(t, "new collection", e.collTimestamps(1)["newcoll"], t3)
	t4 := e.update(1, func(tx db.Tx) error { return tx.DeleteBSOs("bookmarks", nil) })
	wantTS(t, "collection after deleting no ids", e.collTimestamp(1, "bookmarks"), t4)

	// Expired records are deleted too: a ttl-only write afterwards makes
	// a new, empty record instead of reviving the old payload.
	e.put(1, "history", db.BSOUpdate{ID: "d", Payload: Str("old"), TTL: Int(1)})
	e.clock.Advance(2 * time.Second)
	e.update(1, func(tx db.Tx) error { return tx.DeleteBSOs("history", []string{"d"}) })
	e.put(1, "history", db.BSOUpdate{ID: "d", TTL: Int(3600)})
	if b := e.mustGet(1, "history", "d"); b.Payload != "" {
		t.Errorf("expired record survived DeleteBSOs: %+v", b)
	}
}

func testDeleteCollection(t *testing.T, e *env) {
	t1 := e.put(1, "bookmarks", Rec("a", "x"))
	e.put(1, "history", Rec("h", "y"))
	e.put(2, "history", Rec("h", "other user"))
	var batch int64
	e.update(1, func(tx db.Tx) error {
		var err error
		batch, err = tx.CreateBatch("history")
		return err
	})
	e.clock.Advance(-time.Minute) // the storage timestamp must still move on
	t3 := e.update(1, func(tx db.Tx) error { return tx.DeleteCollection("history") })
	if got, want := e.collTimestamps(1), map[string]db.Timestamp{"bookmarks": t1}; !maps.Equal(got, want) {
		t.Errorf("CollectionTimestamps = %v, want %v", got, want)
	}
	wantTS(t, "storage timestamp after DeleteCollection", e.storageTimestamp(1), t3)
	wantTS(t, "deleted collection's timestamp", e.collTimestamp(1, "history"), 0)
	if _, ok := e.get(1, "history", "h"); ok {
		t.Errorf("record of a deleted collection still readable")
	}
	e.view(1, func(tx db.Tx) error {
		_, err := tx.GetBatch("history", batch)
		wantErr(t, "GetBatch of a deleted collection", err, db.ErrBatchNotFound)
		return nil
	})
	e.mustGet(2, "history", "h")

	t4 := e.update(1, func(tx db.Tx) error { return tx.DeleteCollection("never-written") })
	wantTS(t, "storage timestamp after deleting a missing collection", e.storageTimestamp(1), t4)

	t5 := e.put(1, "history", Rec("n", "new"))
	if got := e.ids(1, "history", db.Query{}); !equalStrings(got, []string{"n"}) || t5 <= t4 {
		t.Errorf("after re-creating: ids %v, T %d (delete at %d)", got, t5, t4)
	}
}

func testDeleteStorage(t *testing.T, e *env) {
	e.put(1, "bookmarks", Rec("a", "x"))
	e.put(1, "meta", Rec("global", "{}"))
	e.put(2, "bookmarks", Rec("a", "other user"))
	e.clock.Advance(-time.Minute)
	ts := e.update(1, func(tx db.Tx) error { return tx.DeleteStorage() })
	if got := e.collTimestamps(1); len(got) != 0 {
		t.Errorf("CollectionTimestamps = %v, want empty", got)
	}
	wantTS(t, "storage timestamp after DeleteStorage", e.storageTimestamp(1), ts)
	if got := e.ids(1, "meta", db.Query{}); len(got) != 0 {
		t.Errorf("meta ids = %v", got)
	}
	e.view(1, func(tx db.Tx) error {
		if u, err := tx.CollectionUsage(); err != nil || len(u) != 0 {
			t.Errorf("usage = %v, %v", u, err)
		}
		return nil
	})
	e.mustGet(2, "bookmarks", "a")
	t2 := e.update(1, func(tx db.Tx) error { return tx.DeleteCollection("bookmarks") })
	if t2 <= ts {
		t.Errorf("delete after DeleteStorage at %d, not after %d", t2, ts)
	}
}

func testCollectionNames(t *testing.T, e *env) {
	names := []string{"xyz", "a.b-c_D", "0123456789abcdef0123456789ABCDEF", "bookmarks"}
	for _, name := range names {
		e.put(1, name, Rec("id", name))
	}
	e.put(2, "xyz", Rec("id", "user 2"))
	got := e.collTimestamps(1)
	for _, name := range names {
		if _, ok := got[name]; !ok {
			t.Errorf("collection %q missing from %v", name, got)
		}
		if b := e.mustGet(1, name, "id"); b.Payload != name {
			t.Errorf("%s/id = %q", name, b.Payload)
		}
	}
	if b := e.mustGet(2, "xyz", "id"); b.Payload != "user 2" {
		t.Errorf("user 2's xyz/id = %q", b.Payload)
	}
	if len(e.collTimestamps(2)) != 1 {
		t.Errorf("user 2 collections = %v", e.collTimestamps(2))
	}
}

func testReadOnly(t *testing.T, e *env) {
	e.put(1, "bookmarks", Rec("a", "x"))
	e.view(1, func(tx db.Tx) error {
		for name, err := range map[string]error{
			"PutBSO":           tx.PutBSO("bookmarks", Rec("b", "y")),
			"PostBSOs":         tx.PostBSOs("bookmarks", nil),
			"DeleteBSO":        tx.DeleteBSO("bookmarks", "a"),
			"DeleteBSOs":       tx.DeleteBSOs("bookmarks", []string{"a"}),
			"DeleteCollection": tx.DeleteCollection("bookmarks"),
			"DeleteStorage":    tx.DeleteStorage(),
			"AppendBatch":      tx.AppendBatch("bookmarks", int64(tx.Timestamp()), nil),
			"CommitBatch":      tx.CommitBatch("bookmarks", int64(tx.Timestamp())),
		} {
			wantErr(t, name+" in a View", err, db.ErrReadOnly)
		}
		_, err := tx.CreateBatch("bookmarks")
		wantErr(t, "CreateBatch in a View", err, db.ErrReadOnly)
		return nil
	})
	e.mustGet(1, "bookmarks", "a")
}

func testStoreCollectionTimestamps(t *testing.T, e *env) {
	check := func(uid db.UID, wantStorage db.Timestamp, want map[string]db.Timestamp) {
		t.Helper()
		for range 2 { // the second answer may come from a cache
			ts, m, err := e.s.CollectionTimestamps(e.ctx, uid)
			if err != nil || ts != wantStorage || !maps.Equal(m, want) {
				t.Fatalf("CollectionTimestamps(%d) = %v, %v, %v; want %v, %v", uid, ts, m, err, wantStorage, want)
			}
			m["scribble"] = 1 // the caller owns the map
		}
	}
	check(1, 0, map[string]db.Timestamp{})
	t1 := e.put(1, "bookmarks", Rec("a", "x"))
	check(1, t1, map[string]db.Timestamp{"bookmarks": t1})
	t2 := e.put(1, "history", Rec("a", "x"))
	check(1, t2, map[string]db.Timestamp{"bookmarks": t1, "history": t2})
	t3 := e.update(1, func(tx db.Tx) error { return tx.DeleteCollection("bookmarks") })
	check(1, t3, map[string]db.Timestamp{"history": t2})

	// Other users' writes and failed transactions change nothing.
	e.put(2, "history", Rec("b", "y"))
	_ = e.s.Update(e.ctx, 1, func(tx db.Tx) error {
		if err := tx.PutBSO("tabs", Rec("c", "z")); err != nil {
			return err
		}
		return errBoom
	})
	check(1, t3, map[string]db.Timestamp{"history": t2})
	t4 := e.update(1, func(tx db.Tx) error { return tx.DeleteStorage() })
	check(1, t4, map[string]db.Timestamp{})
}
