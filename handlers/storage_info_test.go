package handlers

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"syncserver/db"
)

func TestInfoCollections(t *testing.T) {
	u := newTestServer(t).user(1)
	T1 := u.put("bookmarks", "a", `{}`)
	T2 := u.put("history", "a", `{}`)
	r := u.mustDo(http.StatusOK, http.MethodGet, "/info/collections", "")
	wantResponse(t, r, http.StatusOK, `{"bookmarks":`+T1.String()+`,"history":`+T2.String()+`}`)
	wantHeader(t, r, "X-Weave-Records", "2")
	wantHeader(t, r, "X-Last-Modified", T2.String())
	wantHeader(t, r, "Content-Type", "application/json")
}

// countingStore counts the transactions a request opens.
type countingStore struct {
	db.Store
	views, updates atomic.Int64
}

func (s *countingStore) View(ctx context.Context, uid db.UID, fn func(db.Tx) error) error {
	s.views.Add(1)
	return s.Store.View(ctx, uid, fn)
}

func (s *countingStore) Update(ctx context.Context, uid db.UID, fn func(db.Tx) error) error {
	s.updates.Add(1)
	return s.Store.Update(ctx, uid, fn)
}

// info/collections, the request every sync starts with, is answered from
// the store's cached timestamps without a transaction, 304 included.
func TestInfoCollectionsUsesOnlyCachedTimestamps(t *testing.T) {
	var cs *countingStore
	ts := newTestServer(t, func(o *Options) {
		cs = &countingStore{Store: o.Store}
		o.Store = cs
	})
	u := ts.user(1)
	T := u.put("c", "a", `{}`)
	cs.views.Store(0)
	cs.updates.Store(0)
	u.mustDo(http.StatusOK, http.MethodGet, "/info/collections", "")
	want304(t, u.do(http.MethodGet, "/info/collections", "", "X-If-Modified-Since", T.String()), T)
	if v, w := cs.views.Load(), cs.updates.Load(); v != 0 || w != 0 {
		t.Errorf("info/collections opened %d views and %d updates", v, w)
	}
}

// info/configuration needs credentials and lists the six limits.
func TestInfoConfiguration(t *testing.T) {
	ts := newTestServer(t)
	want401(t, ts.serve(newRequest(http.MethodGet, "/storage/1.5/1/info/configuration", "")))
	r := ts.user(1).mustDo(http.StatusOK, http.MethodGet, "/info/configuration", "")
	wantResponse(t, r, http.StatusOK, `{"max_request_bytes":2101248,"max_record_payload_bytes":2097152,`+
		`"max_post_records":100,"max_post_bytes":2097152,"max_total_records":10000,"max_total_bytes":209715200}`)
}

// info/collection_usage reports KB as floats and info/collection_counts
// live records, both only for collections with live records.
func TestInfoCollectionUsageAndCounts(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user(1)
	u.post("bookmarks", `[{"id":"a","payload":"`+strings.Repeat("x", 512)+`"},{"id":"b","payload":"`+strings.Repeat("é", 256)+`"}]`)
	u.post("history", `[{"id":"a","payload":"x"}]`)
	u.put("tabs", "gone", `{"payload":"x","ttl":0}`)
	u.post("empty", `[]`)
	r := u.mustDo(http.StatusOK, http.MethodGet, "/info/collection_usage", "")
	wantResponse(t, r, http.StatusOK, `{"bookmarks":0.75,"history":0.0009765625}`)
	wantHeader(t, r, "X-Weave-Records", "2")
	r = u.mustDo(http.StatusOK, http.MethodGet, "/info/collection_counts", "")
	wantResponse(t, r, http.StatusOK, `{"bookmarks":2,"history":1}`)
	wantHeader(t, r, "X-Weave-Records", "2")
	// Emptied and expired collections still count in info/collections.
	wantJSON(t, u.mustDo(http.StatusOK, http.MethodGet, "/info/collections", ""), `{"bookmarks":`+
		u.mustDo(http.StatusOK, http.MethodGet, "/storage/bookmarks", "").Header.Get("X-Last-Modified")+`,"history":`+
		u.mustDo(http.StatusOK, http.MethodGet, "/storage/history", "").Header.Get("X-Last-Modified")+`,"tabs":`+
		u.mustDo(http.StatusOK, http.MethodGet, "/storage/tabs", "").Header.Get("X-Last-Modified")+`,"empty":`+
		u.mustDo(http.StatusOK, http.MethodGet, "/storage/empty", "").Header.Get("X-Last-Modified")+`}`)
}

// syncstorage-rs's database rule, kept by design: DELETE collection answers
// {"modified": T}, moves the storage timestamp forward to T and hides the
// collection from info/collections; deleting a missing collection is fine.
func TestDeleteCollectionBumpsStorageTimestampAndHidesIt(t *testing.T) {
	u := newTestServer(t).user(1)
	Ta := u.put("a", "x", `{}`)
	u.put("b", "x", `{}`)
	r := u.mustDo(http.StatusOK, http.MethodDelete, "/storage/b", "")
	T := mustTimestamp(t, r.Header.Get("X-Last-Modified"))
	wantResponse(t, r, http.StatusOK, `{"modified":`+T.String()+`}`)
	wantHeader(t, r, "X-Weave-Timestamp", T.String())
	info := u.mustDo(http.StatusOK, http.MethodGet, "/info/collections", "")
	wantResponse(t, info, http.StatusOK, `{"a":`+Ta.String()+`}`)
	wantHeader(t, info, "X-Last-Modified", T.String())
	wantResponse(t, u.do(http.MethodGet, "/storage/b", ""), http.StatusOK, "[]")
	r = u.mustDo(http.StatusOK, http.MethodDelete, "/storage/never", "")
	T2 := mustTimestamp(t, r.Header.Get("X-Last-Modified"))
	if T2 <= T {
		t.Errorf("second delete at %s, not after %s", T2, T)
	}
}

// The legacy functional tests pin it: DELETE storage empties everything (meta/global and tabs too);
// a later DELETE collection still gives 200. Both URLs work.
func TestDeleteStorageEmptiesEverything(t *testing.T) {
	u := newTestServer(t).user(1)
	for _, rel := range []string{"", "/storage"} {
		u.put("meta", "global", `{"payload":"m"}`)
		u.put("tabs", "t", `{"payload":"t"}`)
		r := u.mustDo(http.StatusOK, http.MethodDelete, rel, "")
		T := mustTimestamp(t, r.Header.Get("X-Last-Modified"))
		wantResponse(t, r, http.StatusOK, `{"modified":`+T.String()+`}`)
		info := u.mustDo(http.StatusOK, http.MethodGet, "/info/collections", "")
		wantResponse(t, info, http.StatusOK, "{}")
		wantHeader(t, info, "X-Last-Modified", T.String())
		wantResponse(t, u.do(http.MethodGet, "/storage/meta/global", ""), http.StatusNotFound, "0")
		wantResponse(t, u.do(http.MethodGet, "/storage/tabs", ""), http.StatusOK, "[]")
		wantResponse(t, u.do(http.MethodGet, "/info/collection_counts", ""), http.StatusOK, "{}")
		u.mustDo(http.StatusOK, http.MethodDelete, "/storage/tabs", "")
	}
}

// The legacy functional tests pin it: ids with dashes, and GUIDs such as the passwords engine's,
// work with ids= deletion; DELETE ?ids answers {"modified": T}.
func TestDashedAndGUIDIDsDeletion(t *testing.T) {
	u := newTestServer(t).user(1)
	guid := "{6b4a2f0e-5c3d-4e7f-9a1b-2c3d4e5f6a7b}"
	u.post("passwords", `[{"id":"`+guid+`","payload":"p"},{"id":"dashed-id-1","payload":"d"},{"id":"keep","payload":"k"}]`)
	r := u.mustDo(http.StatusOK, http.MethodDelete, "/storage/passwords?ids="+strings.NewReplacer("{", "%7B", "}", "%7D").Replace(guid)+",dashed-id-1,missing", "")
	T := mustTimestamp(t, r.Header.Get("X-Last-Modified"))
	wantResponse(t, r, http.StatusOK, `{"modified":`+T.String()+`}`)
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/passwords", ""), "keep")
	wantJSON(t, u.mustDo(http.StatusOK, http.MethodGet, "/info/collections", ""), `{"passwords":`+T.String()+`}`)
}

// DELETE ?ids on a collection the user does not have creates it (legacy).
func TestDeleteIDsOnMissingCollectionBumpsIt(t *testing.T) {
	u := newTestServer(t).user(1)
	r := u.mustDo(http.StatusOK, http.MethodDelete, "/storage/c?ids=a", "")
	wantJSON(t, u.mustDo(http.StatusOK, http.MethodGet, "/info/collections", ""), `{"c":`+r.Header.Get("X-Last-Modified")+`}`)
}
