package handlers

import (
	"net/http"
	"testing"

	"syncserver/db"
)

// want304 checks a 304: empty body, X-Last-Modified ts.
func want304(tb testing.TB, r *Response, ts db.Timestamp) {
	tb.Helper()
	wantResponse(tb, r, http.StatusNotModified, "")
	wantHeader(tb, r, "X-Last-Modified", ts.String())
}

// want412 checks a 412: body 0, X-Last-Modified ts.
func want412(tb testing.TB, r *Response, ts db.Timestamp) {
	tb.Helper()
	wantResponse(tb, r, http.StatusPreconditionFailed, "0")
	wantHeader(tb, r, "X-Last-Modified", ts.String())
}

// The legacy functional tests pin it: X-If-Modified-Since equal to the collection's last modified
// gives 304 with X-Last-Modified; an earlier value gives 200.
func TestIfModifiedSinceOnCollection(t *testing.T) {
	u := newTestServer(t).user(1)
	T := mustTimestamp(t, string(u.post("c", `[{"id":"a"},{"id":"b"}]`).Modified))
	want304(t, u.do(http.MethodGet, "/storage/c", "", "X-If-Modified-Since", T.String()), T)
	want304(t, u.do(http.MethodGet, "/storage/c", "", "X-If-Modified-Since", (T+1000).String()), T)
	u.mustDo(http.StatusOK, http.MethodGet, "/storage/c", "", "X-If-Modified-Since", (T - 10).String())
	// Any method: a write that is not needed is not done.
	want304(t, u.do(http.MethodPost, "/storage/c", `[{"id":"z"}]`, "X-If-Modified-Since", T.String()), T)
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?ids=z", ""))
}

// The legacy functional tests pin it: an item's X-If-Modified-Since at or after its modified (even
// one second after) gives 304.
func TestIfModifiedSinceOnItem(t *testing.T) {
	u := newTestServer(t).user(1)
	T := u.put("c", "a", `{"payload":"x"}`)
	want304(t, u.do(http.MethodGet, "/storage/c/a", "", "X-If-Modified-Since", T.String()), T)
	want304(t, u.do(http.MethodGet, "/storage/c/a", "", "X-If-Modified-Since", (T+1000).String()), T)
	u.mustDo(http.StatusOK, http.MethodGet, "/storage/c/a", "", "X-If-Modified-Since", (T - 10).String())
}

// The legacy functional tests pin it: X-If-Unmodified-Since earlier than the resource gives 412 for
// PUT, DELETE item, POST, DELETE ?ids, GET item and GET collection, every
// 412 with X-Last-Modified and nothing written; an equal value succeeds;
// 0 on a PUT of a missing item succeeds.
func TestIfUnmodifiedSince(t *testing.T) {
	u := newTestServer(t).user(1)
	T := u.put("c", "a", `{"payload":"x"}`)
	before := (T - 10).String()
	h := "X-If-Unmodified-Since"
	want412(t, u.do(http.MethodPut, "/storage/c/a", `{"payload":"y"}`, h, before), T)
	want412(t, u.do(http.MethodDelete, "/storage/c/a", "", h, before), T)
	want412(t, u.do(http.MethodPost, "/storage/c", `[{"id":"b"}]`, h, before), T)
	want412(t, u.do(http.MethodPost, "/storage/c?batch=true", `[{"id":"b"}]`, h, before), T)
	want412(t, u.do(http.MethodDelete, "/storage/c?ids=a", "", h, before), T)
	want412(t, u.do(http.MethodDelete, "/storage/c", "", h, before), T)
	want412(t, u.do(http.MethodGet, "/storage/c/a", "", h, before), T)
	want412(t, u.do(http.MethodGet, "/storage/c", "", h, before), T)
	want412(t, u.do(http.MethodDelete, "/storage", "", h, before), T)
	want412(t, u.do(http.MethodPut, "/storage/c/a", `{"payload":"y"}`, h, "0"), T)
	if rec := u.record("c", "a"); rec["payload"] != "x" {
		t.Fatalf("written despite 412: %v", rec)
	}
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c", ""), "a")

	u.mustDo(http.StatusOK, http.MethodGet, "/storage/c/a", "", h, T.String())
	u.mustDo(http.StatusOK, http.MethodGet, "/storage/c", "", h, T.String())
	T2 := u.put("c", "a", `{"payload":"y"}`)
	u.mustDo(http.StatusOK, http.MethodPut, "/storage/c/a", `{"payload":"z"}`, h, T2.String())
	u.mustDo(http.StatusOK, http.MethodPut, "/storage/c/new", `{"payload":"n"}`, h, "0")
}

// The legacy functional tests pin it: DELETE ?ids with X-If-Unmodified-Since gives 412 when any
// item of the collection changed since, not only the listed ones.
func TestDeleteIDsIfUnmodifiedSinceSeesAnyItem(t *testing.T) {
	u := newTestServer(t).user(1)
	T1 := u.put("c", "a", `{}`)
	T2 := u.put("c", "b", `{}`)
	want412(t, u.do(http.MethodDelete, "/storage/c?ids=a", "", "X-If-Unmodified-Since", T1.String()), T2)
	r := u.mustDo(http.StatusOK, http.MethodDelete, "/storage/c?ids=a", "", "X-If-Unmodified-Since", T2.String())
	T3 := mustTimestamp(t, r.Header.Get("X-Last-Modified"))
	wantResponse(t, r, http.StatusOK, `{"modified":`+T3.String()+`}`)
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c", ""), "b")
}

// Both precondition headers at once, or a malformed or negative value, is
// a 400 with 1, as the legacy server's functional tests pin it
// (X-If-Modified-Since: -3, X-If-Unmodified-Since: -3 on PUT).
func TestBadPreconditionHeadersAre400(t *testing.T) {
	u := newTestServer(t).user(1)
	u.put("c", "a", `{}`)
	type req struct{ method, rel, body string }
	reqs := []req{
		{http.MethodGet, "/storage/c", ""}, {http.MethodGet, "/storage/c/a", ""},
		{http.MethodPut, "/storage/c/a", `{}`}, {http.MethodPost, "/storage/c", `[]`},
		{http.MethodDelete, "/storage/c", ""}, {http.MethodDelete, "/storage/c/a", ""},
		{http.MethodGet, "/info/collections", ""}, {http.MethodGet, "/info/quota", ""},
		{http.MethodDelete, "/storage", ""},
	}
	for _, rq := range reqs {
		for _, hdr := range [][]string{
			{"X-If-Modified-Since", "-3"},
			{"X-If-Unmodified-Since", "-3"},
			{"X-If-Modified-Since", "abc"},
			{"X-If-Unmodified-Since", ""},
			{"X-If-Modified-Since", "1", "X-If-Unmodified-Since", "1"},
		} {
			r := u.do(rq.method, rq.rel, rq.body, hdr...)
			if r.Status != http.StatusBadRequest || string(r.Body) != "1" {
				t.Errorf("%s %s %q: %d %s", rq.method, rq.rel, hdr, r.Status, r.Body)
			}
		}
	}
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c", ""), "a")
}

// The legacy functional tests pin it: the info views honour X-If-Modified-Since against the storage
// timestamp.
func TestInfoViewsHonourIfModifiedSince(t *testing.T) {
	u := newTestServer(t).user(1)
	u.put("a", "x", `{"payload":"1"}`)
	T := u.put("b", "x", `{"payload":"2"}`)
	for _, rel := range []string{"/info/collections", "/info/quota", "/info/collection_usage", "/info/collection_counts", "/info/configuration"} {
		want304(t, u.do(http.MethodGet, rel, "", "X-If-Modified-Since", T.String()), T)
		r := u.mustDo(http.StatusOK, http.MethodGet, rel, "", "X-If-Modified-Since", (T - 10).String())
		wantHeader(t, r, "X-Last-Modified", T.String())
	}
	// A deletion moves the storage timestamp forward, so it is seen.
	r := u.mustDo(http.StatusOK, http.MethodDelete, "/storage/b", "")
	D := mustTimestamp(t, r.Header.Get("X-Last-Modified"))
	for _, rel := range []string{"/info/collections", "/info/quota", "/info/collection_counts"} {
		r := u.mustDo(http.StatusOK, http.MethodGet, rel, "", "X-If-Modified-Since", T.String())
		wantHeader(t, r, "X-Last-Modified", D.String())
	}
}

// The legacy functional tests pin it: every GET carries X-Last-Modified.
func TestEveryGetHasXLastModified(t *testing.T) {
	u := newTestServer(t).user(1)
	for _, rel := range []string{"/info/collections", "/info/collection_counts", "/info/collection_usage", "/info/quota", "/info/configuration", "/storage/c"} {
		wantHeader(t, u.mustDo(http.StatusOK, http.MethodGet, rel, ""), "X-Last-Modified", "0.00")
	}
	T := u.put("c", "a", `{}`)
	for _, rel := range []string{"/info/collections", "/info/collection_counts", "/info/collection_usage", "/info/quota", "/info/configuration", "/storage/c", "/storage/c/a"} {
		wantHeader(t, u.mustDo(http.StatusOK, http.MethodGet, rel, ""), "X-Last-Modified", T.String())
	}
}
