package handlers

import (
	"net/http"
	"strings"
	"testing"
)

// The legacy functional tests pin it: a 404 on an unknown URL has Content-Type application/json and
// body 0. Names that break the uid, collection or id rules are unknown URLs.
func TestUnknownURLIs404WithJSONZero(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user(1)
	long := strings.Repeat("a", 65)
	for _, rel := range []string{
		"/nothing",
		"/info",
		"/info/nothing",
		"/info/collections/extra",
		"/storage/" + strings.Repeat("c", 33),
		"/storage/bad!name",
		"/storage/bad%20name",
		"/storage/bookmarks/" + long,
		"/storage/bookmarks/%C3%A9",
		"/storage/bookmarks/a/b",
	} {
		r := u.do(http.MethodGet, rel, "")
		wantResponse(t, r, http.StatusNotFound, "0")
		wantHeader(t, r, "Content-Type", "application/json")
	}
	for _, target := range []string{
		"/storage/1.5/12345678901/info/collections",
		"/storage/1.5/abc/info/collections",
		"/storage/1.5/-1/info/collections",
		"/storage/1.6/1/info/collections",
	} {
		wantResponse(t, ts.serve(newRequest(http.MethodGet, target, "")), http.StatusNotFound, "0")
	}
}

// An item id may hold any printable ASCII, including an escaped slash.
func TestItemIDWithEscapedSlashAndSpace(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user(1)
	u.put("bookmarks", "a%2Fb%20c", `{"payload":"p"}`)
	r := u.mustDo(http.StatusOK, http.MethodGet, "/storage/bookmarks?full=1", "")
	wantJSON(t, r, `[{"id":"a/b c","modified":`+r.Header.Get("X-Last-Modified")+`,"payload":"p"}]`)
}

// syncstorage-rs's tests pin it: PATCH on a collection is a 405, which lists what is allowed.
func TestWrongMethodIs405WithAllow(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user(1)
	tests := []struct{ method, rel, allow string }{
		{"PATCH", "/storage/bookmarks", "GET, HEAD, POST, DELETE"},
		{http.MethodPut, "/storage/bookmarks", "GET, HEAD, POST, DELETE"},
		{http.MethodPost, "/storage/bookmarks/x", "GET, HEAD, PUT, DELETE"},
		{http.MethodPost, "/info/collections", "GET, HEAD"},
		{http.MethodDelete, "/info/quota", "GET, HEAD"},
		{http.MethodGet, "/storage", "DELETE"},
		{http.MethodGet, "", "DELETE"},
	}
	for _, tc := range tests {
		r := u.do(tc.method, tc.rel, "")
		wantResponse(t, r, http.StatusMethodNotAllowed, "0")
		wantHeader(t, r, "Allow", tc.allow)
	}
}

func TestHeadHasHeadersWithoutBody(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user(1)
	T := u.put("bookmarks", "a", `{"payload":"p"}`)
	r := u.mustDo(http.StatusOK, http.MethodHead, "/storage/bookmarks", "")
	if len(r.Body) != 0 {
		t.Errorf("HEAD body %q", r.Body)
	}
	wantHeader(t, r, "X-Last-Modified", T.String())
	wantHeader(t, r, "X-Weave-Records", "1")
}

// JSON is the only format of every GET but the collection listing, so
// asking for newlines there is a 406 (legacy behaviour).
func TestAcceptNewlinesOnOtherGetsIs406(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user(1)
	u.put("bookmarks", "a", `{"payload":"p"}`)
	for _, rel := range []string{
		"/info/collections", "/info/quota", "/info/collection_usage",
		"/info/collection_counts", "/info/configuration", "/storage/bookmarks/a",
	} {
		wantResponse(t, u.do(http.MethodGet, rel, "", "Accept", "application/newlines"), http.StatusNotAcceptable, "0")
		u.mustDo(http.StatusOK, http.MethodGet, rel, "", "Accept", "*/*")
		u.mustDo(http.StatusOK, http.MethodGet, rel, "", "Accept", "application/json;q=0.5, application/newlines")
	}
}
