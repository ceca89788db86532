package handlers

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"syncserver/db"
)

// fullStore is a store whose disk fills up: once full is set, reads
// work and writes fail as the backends report it.
type fullStore struct {
	db.Store
	full atomic.Bool
}

func (s *fullStore) Update(ctx context.Context, uid db.UID, fn func(db.Tx) error) error {
	if s.full.Load() {
		return fmt.Errorf("%w: %w: sqlite: database or disk is full", db.ErrFull, db.ErrUnavailable)
	}
	return s.Store.Update(ctx, uid, fn)
}

// TestStorageFullDisk: a write that does not fit answers 503 with the long
// Retry-After of a full database and body 0, never a 500; reads go on.
func TestStorageFullDisk(t *testing.T) {
	var store *fullStore
	ts := newTestServer(t, func(o *Options) {
		store = &fullStore{Store: o.Store}
		o.Store = store
	})
	u := ts.user(1)
	u.put("bookmarks", "a", `{"payload":"kept"}`)
	store.full.Store(true)

	for _, w := range []struct{ method, rel, body string }{
		{http.MethodPut, "/storage/bookmarks/b", `{"payload":"x"}`},
		{http.MethodPost, "/storage/bookmarks", `[{"id":"c","payload":"x"}]`},
		{http.MethodPost, "/storage/bookmarks?batch=true", `[{"id":"c","payload":"x"}]`},
		{http.MethodDelete, "/storage/bookmarks", ""},
	} {
		r := u.do(w.method, w.rel, w.body)
		wantResponse(t, r, http.StatusServiceUnavailable, "0")
		wantHeader(t, r, "Retry-After", "300")
	}
	r := u.mustDo(http.StatusOK, http.MethodGet, "/storage/bookmarks/a", "")
	wantJSON(t, r, `{"id":"a","payload":"kept","modified":1700000000}`)
}
