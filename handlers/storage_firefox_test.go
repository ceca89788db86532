package handlers

import (
	"net/http"
	"regexp"
	"testing"
)

// Quirks Firefox needs (observed with Debian's firefox-esr), each a test.

// A new user's info/collections is 200 {}: a 404 ends the sync as a login
// failure.
func TestFirefoxNewUserInfoCollectionsIsEmptyObject(t *testing.T) {
	r := newTestServer(t).user(99).mustDo(http.StatusOK, http.MethodGet, "/info/collections", "")
	wantResponse(t, r, http.StatusOK, "{}")
	wantHeader(t, r, "X-Last-Modified", "0.00")
	wantHeader(t, r, "X-Weave-Records", "0")
}

// PUT and POST bodies arrive as text/plain.
func TestFirefoxTextPlainBodies(t *testing.T) {
	u := newTestServer(t).user(1)
	u.mustDo(http.StatusOK, http.MethodPut, "/storage/meta/global", `{"payload":"m"}`, "Content-Type", "text/plain")
	u.mustDo(http.StatusOK, http.MethodPost, "/storage/bookmarks?batch=true&commit=true", `[{"id":"a","payload":"b"}]`, "Content-Type", "text/plain;charset=UTF-8")
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/bookmarks", ""), "a")
}

// Bodies may carry "modified" (meta/global is sent with "modified":0) and
// "id"; both are accepted and ignored (the URL's id wins in a PUT).
func TestFirefoxModifiedAndIDInBodiesIgnored(t *testing.T) {
	u := newTestServer(t).user(1)
	T := u.put("meta", "global", `{"id":"global","payload":"m","modified":0}`)
	u.put("meta", "other", `{"id":"not-the-url-id","payload":"o"}`)
	res := u.post("c", `[{"id":"a","payload":"p","modified":12345.67}]`)
	if len(res.Success) != 1 {
		t.Fatalf("%+v", res)
	}
	rec := u.record("meta", "global")
	if rec["modified"].(interface{ String() string }).String() != T.String() {
		t.Errorf("modified %v, want %s", rec["modified"], T)
	}
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/meta?sort=oldest", ""), "global", "other")
}

// BSO ids can hold "=", "-" and "_" (the prefs id is padded base64).
func TestFirefoxIDsWithEqualsDashUnderscore(t *testing.T) {
	u := newTestServer(t).user(1)
	for _, id := range []string{"cHJlZnM=", "a-b_c", "x_y-z=="} {
		u.put("prefs", id, `{"payload":"p"}`)
		u.record("prefs", id)
	}
	res := u.post("prefs", `[{"id":"Zm9vYmFy==","payload":"q"}]`)
	if len(res.Success) != 1 {
		t.Fatalf("%+v", res)
	}
	u.mustDo(http.StatusOK, http.MethodDelete, "/storage/prefs?ids=cHJlZnM%3D,a-b_c", "")
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/prefs?sort=oldest", ""), "x_y-z==", "Zm9vYmFy==")
}

// X-If-Unmodified-Since: 0 on collections that do not exist yet succeeds.
func TestFirefoxIfUnmodifiedSinceZeroOnNewCollection(t *testing.T) {
	u := newTestServer(t).user(1)
	u.mustDo(http.StatusOK, http.MethodPost, "/storage/bookmarks?batch=true&commit=true", `[{"id":"a"}]`, "X-If-Unmodified-Since", "0")
	u.mustDo(http.StatusOK, http.MethodPost, "/storage/history", `[{"id":"a"}]`, "X-If-Unmodified-Since", "0.00")
	u.mustDo(http.StatusOK, http.MethodPut, "/storage/crypto/keys", `{"payload":"k"}`, "X-If-Unmodified-Since", "0")
	u.mustDo(http.StatusOK, http.MethodDelete, "/storage/forms", "", "X-If-Unmodified-Since", "0")
	u.mustDo(http.StatusAccepted, http.MethodPost, "/storage/tabs?batch=true", `[{"id":"a"}]`, "X-If-Unmodified-Since", "0")
}

// Every POST answer carries X-Last-Modified ("Batch response without
// x-last-modified" otherwise): plain, batch open, batch append, commit,
// all-failed, empty.
func TestFirefoxEveryPostHasXLastModified(t *testing.T) {
	u := newTestServer(t).user(1)
	check := func(r *Response) {
		t.Helper()
		if r.Header.Get("X-Last-Modified") == "" {
			t.Errorf("%d %s without X-Last-Modified", r.Status, r.Body)
		}
	}
	check(u.mustDo(http.StatusOK, http.MethodPost, "/storage/c", `[{"id":"a"}]`))
	check(u.mustDo(http.StatusOK, http.MethodPost, "/storage/c", `[]`))
	check(u.mustDo(http.StatusOK, http.MethodPost, "/storage/c", `[{"id":"b","ttl":"x"}]`))
	open := u.mustDo(http.StatusAccepted, http.MethodPost, "/storage/new?batch=true", `[{"id":"a"}]`)
	check(open)
	wantHeader(t, open, "X-Last-Modified", "0.00")
	id := decodePostResult(t, open).Batch
	check(u.mustDo(http.StatusAccepted, http.MethodPost, "/storage/new"+batchQuery(id, false), `[{"id":"b"}]`))
	check(u.mustDo(http.StatusOK, http.MethodPost, "/storage/new"+batchQuery(id, true), `[]`))
	check(u.mustDo(http.StatusOK, http.MethodPost, "/storage/c?batch=true&commit=true", `[{"id":"c"}]`))
}

// Every response carries X-Weave-Timestamp with two decimals, errors too.
func TestFirefoxEveryResponseHasXWeaveTimestamp(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user(1)
	T := u.put("c", "a", `{}`)
	twoDecimals := regexp.MustCompile(`^\d+\.\d\d$`)
	for _, r := range []*Response{
		u.do(http.MethodGet, "/info/collections", ""),
		u.do(http.MethodGet, "/storage/c", "", "X-If-Modified-Since", T.String()),
		u.do(http.MethodGet, "/storage/c", "", "X-If-Unmodified-Since", "1"),
		u.do(http.MethodGet, "/storage/c/none", ""),
		u.do(http.MethodPost, "/storage/c", `nope`),
		u.do("PATCH", "/storage/c", ""),
		ts.serve(newRequest(http.MethodGet, "/storage/1.5/1/info/collections", "")),
	} {
		if got := r.Header.Get("X-Weave-Timestamp"); !twoDecimals.MatchString(got) {
			t.Errorf("%d: X-Weave-Timestamp %q", r.Status, got)
		}
	}
}

// The first sync of a new account, in Firefox's order, and a second
// device reading it back.
func TestFirefoxFirstSyncSequence(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user(1)
	ff := []string{"Content-Type", "text/plain;charset=UTF-8", "Accept", "application/json;q=0.9,*/*;q=0.2"}
	with := func(h ...string) []string { return append(append([]string{}, ff...), h...) }

	wantResponse(t, u.do(http.MethodGet, "/info/collections", "", ff...), http.StatusOK, "{}")
	u.mustDo(http.StatusOK, http.MethodGet, "/info/configuration", "", ff...)
	wantResponse(t, u.do(http.MethodGet, "/storage/meta/global", "", ff...), http.StatusNotFound, "0")
	u.mustDo(http.StatusOK, http.MethodDelete, "/storage", "", ff...)
	mg := u.mustDo(http.StatusOK, http.MethodPut, "/storage/meta/global",
		`{"id":"global","payload":"{\"ciphertext\":\"m\"}","modified":0}`, with("X-If-Unmodified-Since", "0")...)
	u.mustDo(http.StatusOK, http.MethodPut, "/storage/crypto/keys",
		`{"id":"keys","payload":"{\"IV\":\"abcdefghijklmnopqrstuv==\"}"}`, with("X-If-Unmodified-Since", "0")...)
	for _, engine := range []string{"bookmarks", "history", "prefs", "passwords", "tabs"} {
		u.mustDo(http.StatusOK, http.MethodDelete, "/storage/"+engine, "", ff...)
		r := u.mustDo(http.StatusOK, http.MethodPost, "/storage/"+engine+"?batch=true&commit=true",
			`[{"id":"`+engine+`1","payload":"x","sortindex":1},{"id":"`+engine+`2","payload":"y"}]`, ff...)
		if r.Header.Get("X-Last-Modified") == "" || len(decodePostResult(t, r).Success) != 2 {
			t.Fatalf("%s upload: %s", engine, r.Body)
		}
	}
	u.mustDo(http.StatusOK, http.MethodPut, "/storage/meta/global", `{"id":"global","payload":"{\"ciphertext\":\"n\"}"}`,
		with("X-If-Unmodified-Since", string(mg.Body))...)

	// A second device.
	d := &testUser{ts: ts, creds: ts.mintToken(1)}
	info := d.mustDo(http.StatusOK, http.MethodGet, "/info/collections?v=1.155.0", "", ff...)
	wantHeader(t, info, "X-Weave-Records", "7")
	r := d.mustDo(http.StatusOK, http.MethodGet, "/storage/bookmarks?full=1&limit=1000&sort=oldest", "", ff...)
	if got := records(t, r); len(got) != 2 {
		t.Errorf("bookmarks %s", r.Body)
	}
	h := d.mustDo(http.StatusOK, http.MethodGet, "/storage/history?full=1&limit=1000&sort=newest", "", ff...)
	wantIDs(t, d.mustDo(http.StatusOK, http.MethodGet, "/storage/history?sort=newest", "", ff...), "history2", "history1")
	since := h.Header.Get("X-Last-Modified")
	wantResponse(t, d.do(http.MethodGet, "/storage/history?full=1&limit=1000&sort=newest&newer="+since, "", ff...), http.StatusOK, "[]")
}
