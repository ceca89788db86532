package dbtest

import (
	"fmt"
	"testing"
	"time"

	"syncserver/db"
)

// createBatch opens a batch and returns its id and creation timestamp.
func (e *env) createBatch(uid db.UID, coll string) (int64, db.Timestamp) {
	e.t.Helper()
	var id int64
	ts := e.update(uid, func(tx db.Tx) error {
		var err error
		id, err = tx.CreateBatch(coll)
		return err
	})
	return id, ts
}

func (e *env) appendBatch(uid db.UID, coll string, id int64, updates ...db.BSOUpdate) {
	e.t.Helper()
	e.update(uid, func(tx db.Tx) error { return tx.AppendBatch(coll, id, updates) })
}

func (e *env) getBatch(uid db.UID, coll string, id int64) (db.Batch, error) {
	var b db.Batch
	err := e.s.View(e.ctx, uid, func(tx db.Tx) error {
		var err error
		b, err = tx.GetBatch(coll, id)
		return err
	})
	return b, err
}

func testBatches(t *testing.T, e *env) {
	const uid = 7
	t0 := e.put(uid, "bookmarks", db.BSOUpdate{ID: "e", Payload: Str("old"), SortIndex: Int(5)})
	id, t1 := e.createBatch(uid, "bookmarks")
	if id != int64(t1)+uid%10 {
		t.Errorf("batch id = %d, want T %d + uid %% 10", id, t1)
	}
	wantTS(t, "collection after CreateBatch", e.collTimestamp(uid, "bookmarks"), t0)
	wantTS(t, "storage after CreateBatch", e.storageTimestamp(uid), t0)
	if b, err := e.getBatch(uid, "bookmarks", id); err != nil || b != (db.Batch{ID: id}) {
		t.Errorf("new batch = %+v, %v", b, err)
	}

	e.appendBatch(uid, "bookmarks", id, Rec("a", "aaa"), Rec("b", "é"))
	if b, err := e.getBatch(uid, "bookmarks", id); err != nil || b != (db.Batch{ID: id, Records: 2, Bytes: 4}) {
		t.Errorf("batch after append = %+v, %v", b, err)
	}
	e.appendBatch(uid, "bookmarks", id, db.BSOUpdate{ID: "a", SortIndex: Int(3)}, Rec("e", "new"))
	if b, err := e.getBatch(uid, "bookmarks", id); err != nil || b != (db.Batch{ID: id, Records: 3, Bytes: 7}) {
		t.Errorf("batch after second append = %+v, %v", b, err)
	}
	// Staged records are invisible and change no timestamp.
	if got := e.ids(uid, "bookmarks", db.Query{}); !equalStrings(got, []string{"e"}) {
		t.Errorf("ids while the batch is open = %v", got)
	}
	wantTS(t, "collection while the batch is open", e.collTimestamp(uid, "bookmarks"), t0)
	if b := e.mustGet(uid, "bookmarks", "e"); b.Payload != "old" {
		t.Errorf("staged payload visible: %+v", b)
	}

	e.clock.Advance(time.Second)
	t2 := e.update(uid, func(tx db.Tx) error { return tx.CommitBatch("bookmarks", id) })
	want := map[string]db.BSO{
		"a": {ID: "a", Modified: t2, SortIndex: Int(3), Payload: "aaa", Expires: db.NeverExpires},
		"b": {ID: "b", Modified: t2, Payload: "é", Expires: db.NeverExpires},
		"e": {ID: "e", Modified: t2, SortIndex: Int(5), Payload: "new", Expires: db.NeverExpires},
	}
	for id, w := range want {
		if got := e.mustGet(uid, "bookmarks", id); !sameBSO(got, w) {
			t.Errorf("after commit %s = %+v, want %+v", id, got, w)
		}
	}
	wantTS(t, "collection after commit", e.collTimestamp(uid, "bookmarks"), t2)
	wantTS(t, "storage after commit", e.storageTimestamp(uid), t2)
	_, err := e.getBatch(uid, "bookmarks", id)
	wantErr(t, "GetBatch after commit", err, db.ErrBatchNotFound)
	err = e.s.Update(e.ctx, uid, func(tx db.Tx) error { return tx.CommitBatch("bookmarks", id) })
	wantErr(t, "second commit", err, db.ErrBatchNotFound)

	// Batches opened one after the other get different ids.
	id1, _ := e.createBatch(uid, "bookmarks")
	id2, _ := e.createBatch(uid, "bookmarks")
	if id1 == id2 {
		t.Errorf("two batches share id %d", id1)
	}
}

func testBatchMerge(t *testing.T, e *env) {
	id, _ := e.createBatch(1, "forms")
	e.appendBatch(1, "forms", id, db.BSOUpdate{ID: "a", Payload: Str("p1"), SortIndex: Int(1)})
	e.appendBatch(1, "forms", id, db.BSOUpdate{ID: "a", TTL: Int(10)})
	e.appendBatch(1, "forms", id, db.BSOUpdate{ID: "a", Payload: Str("p2-longer")}, db.BSOUpdate{ID: "a", SortIndex: Int(2)})
	if b, err := e.getBatch(1, "forms", id); err != nil || b.Records != 1 || b.Bytes != 9 {
		t.Errorf("merged batch = %+v, %v; want 1 record of 9", b, err)
	}
	ts := e.update(1, func(tx db.Tx) error { return tx.CommitBatch("forms", id) })
	got := e.mustGet(1, "forms", "a")
	if w := (db.BSO{ID: "a", Modified: ts, SortIndex: Int(2), Payload: "p2-longer", Expires: ts.Seconds() + 10}); !sameBSO(got, w) {
		t.Errorf("merged record = %+v, want %+v", got, w)
	}
}

// testBatchLargeAppend stages more records in one append than one
// statement of the backend takes, with fields missing here and there and
// an id given twice (the later fields win), and commits them.
func testBatchLargeAppend(t *testing.T, e *env) {
	const n = 250
	e.put(3, "history", db.BSOUpdate{ID: "r007", Payload: Str("old"), SortIndex: Int(70)})
	id, _ := e.createBatch(3, "history")
	var ups []db.BSOUpdate
	for i := range n {
		u := db.BSOUpdate{ID: fmt.Sprintf("r%03d", i)}
		if i%3 != 0 {
			u.Payload = Str(fmt.Sprintf("p%d", i))
		}
		if i%2 == 0 {
			u.SortIndex = Int(int64(i))
		}
		if i%5 == 0 {
			u.TTL = Int(1000)
		}
		ups = append(ups, u)
	}
	// r120 again, at the end: its payload is the one staged.
	ups = append(ups, db.BSOUpdate{ID: "r120", Payload: Str("again")})
	e.appendBatch(3, "history", id, ups...)
	b, err := e.getBatch(3, "history", id)
	if err != nil || b.Records != n {
		t.Fatalf("batch after a %d-record append = %+v, %v; want %d records", len(ups), b, err, n)
	}
	ts := e.update(3, func(tx db.Tx) error { return tx.CommitBatch("history", id) })
	if got := len(e.ids(3, "history", db.Query{})); got != n {
		t.Errorf("%d records after commit, want %d", got, n)
	}
	want := map[string]db.BSO{
		// Only a sortindex and a TTL staged: the old payload stays.
		"r000": {ID: "r000", Modified: ts, SortIndex: Int(0), Expires: ts.Seconds() + 1000},
		"r007": {ID: "r007", Modified: ts, SortIndex: Int(70), Payload: "p7", Expires: db.NeverExpires},
		"r120": {ID: "r120", Modified: ts, SortIndex: Int(120), Payload: "again", Expires: ts.Seconds() + 1000},
		"r248": {ID: "r248", Modified: ts, SortIndex: Int(248), Payload: "p248", Expires: db.NeverExpires},
	}
	for id, w := range want {
		if got := e.mustGet(3, "history", id); !sameBSO(got, w) {
			t.Errorf("after commit %s = %+v, want %+v", id, got, w)
		}
	}
}

func testBatchCommit(t *testing.T, e *env) {
	t0 := e.put(1, "history",
		db.BSOUpdate{ID: "e", Payload: Str("keep"), SortIndex: Int(9), TTL: Int(100000)},
		db.BSOUpdate{ID: "f", Payload: Str("f1"), TTL: Int(100000)},
		Rec("untouched", "u"))
	id, _ := e.createBatch(1, "history")
	e.appendBatch(1, "history", id,
		db.BSOUpdate{ID: "e", TTL: Int(50)},
		db.BSOUpdate{ID: "f", Payload: Str("f2")},
		db.BSOUpdate{ID: "n", Payload: Str("x"), TTL: Int(30)},
		db.BSOUpdate{ID: "m", SortIndex: Int(4)})
	// TTLs count from the commit, not from the upload.
	e.clock.Advance(1000 * time.Second)
	tc := e.update(1, func(tx db.Tx) error { return tx.CommitBatch("history", id) })
	want := map[string]db.BSO{
		"e":         {ID: "e", Modified: tc, SortIndex: Int(9), Payload: "keep", Expires: tc.Seconds() + 50},
		"f":         {ID: "f", Modified: tc, Payload: "f2", Expires: t0.Seconds() + 100000},
		"n":         {ID: "n", Modified: tc, Payload: "x", Expires: tc.Seconds() + 30},
		"m":         {ID: "m", Modified: tc, SortIndex: Int(4), Payload: "", Expires: db.NeverExpires},
		"untouched": {ID: "untouched", Modified: t0, Payload: "u", Expires: db.NeverExpires},
	}
	for id, w := range want {
		if got := e.mustGet(1, "history", id); !sameBSO(got, w) {
			t.Errorf("%s = %+v, want %+v", id, got, w)
		}
	}

	// An empty batch still stamps the collection with the commit time.
	id, _ = e.createBatch(1, "tabs")
	e.clock.Advance(time.Second)
	tc = e.update(1, func(tx db.Tx) error { return tx.CommitBatch("tabs", id) })
	wantTS(t, "empty commit", e.collTimestamp(1, "tabs"), tc)

	// Records posted with the commit win over what the batch staged.
	id, _ = e.createBatch(1, "tabs")
	e.appendBatch(1, "tabs", id, Rec("a", "batch"), Rec("b", "batch"))
	tc = e.update(1, func(tx db.Tx) error {
		if err := tx.CommitBatch("tabs", id); err != nil {
			return err
		}
		return tx.PostBSOs("tabs", []db.BSOUpdate{Rec("a", "commit")})
	})
	if a, b := e.mustGet(1, "tabs", "a"), e.mustGet(1, "tabs", "b"); a.Payload != "commit" || b.Payload != "batch" || a.Modified != tc || b.Modified != tc {
		t.Errorf("after commit with records: a %+v, b %+v", a, b)
	}
}

func testBatchScope(t *testing.T, e *env) {
	id, t1 := e.createBatch(1, "bookmarks")
	for _, c := range []struct {
		name string
		uid  db.UID
		coll string
		id   int64
	}{
		{"other collection", 1, "history", id},
		{"unknown collection", 1, "nonesuch", id},
		{"other user", 2, "bookmarks", id},
		{"unknown id", 1, "bookmarks", id + 1000},
	} {
		_, err := e.getBatch(c.uid, c.coll, c.id)
		wantErr(t, c.name+": GetBatch", err, db.ErrBatchNotFound)
		err = e.s.Update(e.ctx, c.uid, func(tx db.Tx) error { return tx.AppendBatch(c.coll, c.id, []db.BSOUpdate{Rec("x", "y")}) })
		wantErr(t, c.name+": AppendBatch", err, db.ErrBatchNotFound)
		err = e.s.Update(e.ctx, c.uid, func(tx db.Tx) error { return tx.CommitBatch(c.coll, c.id) })
		wantErr(t, c.name+": CommitBatch", err, db.ErrBatchNotFound)
	}
	if got := e.ids(1, "bookmarks", db.Query{}); len(got) != 0 {
		t.Errorf("a refused append wrote %v", got)
	}

	// Expiry: valid up to id + BatchLifetime, refused one ms later.
	e.clock.Set(time.UnixMilli(id + int64(db.BatchLifetime)))
	if _, err := e.getBatch(1, "bookmarks", id); err != nil {
		t.Errorf("batch refused at exactly its lifetime: %v", err)
	}
	e.clock.Set(time.UnixMilli(id + int64(db.BatchLifetime) + 1))
	_, err := e.getBatch(1, "bookmarks", id)
	wantErr(t, "expired batch", err, db.ErrBatchNotFound)
	err = e.s.Update(e.ctx, 1, func(tx db.Tx) error { return tx.CommitBatch("bookmarks", id) })
	wantErr(t, "commit of an expired batch", err, db.ErrBatchNotFound)
	_ = t1

	// Users 3 and 13 get the same batch id at the same time; their
	// batches stay apart.
	e.clock.Set(StartTime().Add(time.Hour))
	id3, _ := e.createBatch(3, "bookmarks")
	id13, _ := e.createBatch(13, "bookmarks")
	if id3 != id13 {
		t.Fatalf("test assumption: ids %d and %d differ", id3, id13)
	}
	e.appendBatch(3, "bookmarks", id3, Rec("a", "three"))
	e.appendBatch(13, "bookmarks", id13, Rec("b", "thirteen"))
	e.update(3, func(tx db.Tx) error { return tx.CommitBatch("bookmarks", id3) })
	if got := e.ids(3, "bookmarks", db.Query{}); !equalStrings(got, []string{"a"}) {
		t.Errorf("user 3 got %v", got)
	}
	if b, err := e.getBatch(13, "bookmarks", id13); err != nil || b.Records != 1 {
		t.Errorf("user 13's batch after user 3's commit: %+v, %v", b, err)
	}
	e.update(13, func(tx db.Tx) error { return tx.CommitBatch("bookmarks", id13) })
	if got := e.ids(13, "bookmarks", db.Query{}); !equalStrings(got, []string{"b"}) {
		t.Errorf("user 13 got %v", got)
	}
}
