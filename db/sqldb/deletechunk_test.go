package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"syncserver/db"
	"syncserver/db/sqldb"
	"syncserver/internal/testdb"
)

// deleteChunk is the sqlite dialect's DeleteChunk.
const deleteChunk = 1000

// openChunked opens a sqlite store holding n history records and one
// bookmark of uid 1, with a plain connection to count rows behind it.
func openChunked(t *testing.T, n int) (*sqldb.Store, *sql.DB) {
	t.Helper()
	uri := testdb.NewURI(t, "sqlite")
	s := testdb.OpenURI(t, uri, testdb.Options{})
	fillHistory(t, s, 1, n)
	p := "x"
	if err := s.Update(context.Background(), 1, func(tx db.Tx) error {
		return tx.PutBSO("bookmarks", db.BSOUpdate{ID: "b", Payload: &p})
	}); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", "file:"+strings.TrimPrefix(uri, "sqlite:///")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return s, raw
}

// rowsOf counts uid 1's bso rows of collection coll, hidden ones too.
func rowsOf(t *testing.T, raw *sql.DB, coll string) int {
	t.Helper()
	var n int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM bso b JOIN collections c ON c.collectionid = b.collection
		WHERE b.userid = 1 AND c.name = ?`, coll).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// deleteHistory deletes uid 1's history and checks what its user sees
// right after: no records, no history in info/collections.
func deleteHistory(t *testing.T, s *sqldb.Store) {
	t.Helper()
	ctx := context.Background()
	if err := s.Update(ctx, 1, func(tx db.Tx) error { return tx.DeleteCollection("history") }); err != nil {
		t.Fatal(err)
	}
	if err := s.View(ctx, 1, func(tx db.Tx) error {
		page, err := tx.FindBSOs("history", db.Query{Limit: -1})
		if err != nil || len(page.Items) != 0 {
			t.Errorf("FindBSOs after the delete: %d records, %v", len(page.Items), err)
		}
		if _, err := tx.GetBSO("history", "rec000000001"); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("GetBSO after the delete = %v, want db.ErrNotFound", err)
		}
		if ts, err := tx.BSOTimestamp("history", "rec000000001"); ts != 0 || err != nil {
			t.Errorf("BSOTimestamp after the delete = %v, %v", ts, err)
		}
		colls, err := tx.CollectionTimestamps()
		if _, listed := colls["history"]; listed || err != nil || len(colls) != 1 {
			t.Errorf("info/collections after the delete = %v, %v; want bookmarks only", colls, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, colls, err := s.CollectionTimestamps(ctx, 1); err != nil || len(colls) != 1 || colls["history"] != 0 {
		t.Errorf("CollectionTimestamps after the delete = %v, %v; want bookmarks only", colls, err)
	}
}

// TestDeleteCollectionChunked: on sqlite, the delete of a collection of
// more than DeleteChunk records is seen whole by its user once Update
// returns, and every record is gone by then, while no transaction
// deleted more than DeleteChunk records.
func TestDeleteCollectionChunked(t *testing.T) {
	s, raw := openChunked(t, 5*deleteChunk+10)
	deleteHistory(t, s)
	if n := rowsOf(t, raw, "history"); n != 0 {
		t.Errorf("%d history rows left after Update returned", n)
	}
	if n := rowsOf(t, raw, "bookmarks"); n != 1 {
		t.Errorf("%d bookmarks rows, want 1 (another collection is untouched)", n)
	}
}

// TestDeleteCollectionLeftovers is the state between the delete's commit
// and the end of the deletion of its records, as a concurrent request of
// the user sees it: the delete's own transaction deleted DeleteChunk
// records, no more; the rest are invisible; a new write to the collection
// deletes them first, so that none comes back (an update of only the
// sortindex of an old id makes a new record without payload).
func TestDeleteCollectionLeftovers(t *testing.T) {
	const n = 3*deleteChunk + 10
	s, raw := openChunked(t, n)
	s.KeepLeftovers()
	deleteHistory(t, s)
	if got := rowsOf(t, raw, "history"); got != n-deleteChunk {
		t.Fatalf("%d history rows after the delete's transaction, want %d: it deletes DeleteChunk records", got, n-deleteChunk)
	}
	ctx := context.Background()
	si := int64(7)
	if err := s.Update(ctx, 1, func(tx db.Tx) error {
		return tx.PutBSO("history", db.BSOUpdate{ID: "rec000003000", SortIndex: &si})
	}); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(t, raw, "history"); got != 1 {
		t.Errorf("%d history rows after a new write, want 1", got)
	}
	if err := s.View(ctx, 1, func(tx db.Tx) error {
		b, err := tx.GetBSO("history", "rec000003000")
		if err != nil || b.Payload != "" || b.SortIndex == nil || *b.SortIndex != 7 {
			t.Errorf("the rewritten record = %+v, %v; want a new one, without the old payload", b, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
