package deploytest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// largePayload is the size of the record that proves the web server lets
// Sync's large uploads through (nginx refuses more than 1 MiB and mod_fcgid
// more than 128 KiB by default).
const largePayload = 1536 * 1024

// runScenario is what a Firefox does on its first sync, through e: sign in
// at the tokenserver, then read and write storage with Hawk, with the
// percent-encoded queries and paths, preconditions and upload sizes that
// a web server in between could break.
func runScenario(t *testing.T, e *env) {
	t.Helper()
	c := newSyncClient(e.http, e.fxa, e.base)

	step := func(name string, r *response, err error, status int) *response {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Status != status {
			t.Fatalf("%s: got %s, want status %d", name, r, status)
		}
		return r
	}

	r, err := c.token()
	step("GET /token/1.0/sync/1.5", r, err, http.StatusOK)
	wantEndpoint := strings.TrimSuffix(e.publicURL, "/") + "/storage/1.5/" + itoa(c.tok.UID)
	if c.tok.APIEndpoint != wantEndpoint {
		t.Fatalf("api_endpoint = %q, want %q", c.tok.APIEndpoint, wantEndpoint)
	}
	if c.tok.ID == "" || c.tok.Key == "" || c.tok.Duration <= 0 {
		t.Fatalf("token response lacks id, key or duration: %+v", c.tok)
	}

	r, err = c.do(http.MethodGet, "/info/collections", nil, nil)
	step("GET info/collections (new user)", r, err, http.StatusOK)
	if got := strings.TrimSpace(string(r.Body)); got != "{}" {
		t.Fatalf("GET info/collections of a new user = %s, want {}", got)
	}

	meta := bso{ID: "global", Payload: `{"syncID":"abcdefghijkl","storageVersion":5}`}
	r, err = c.do(http.MethodPut, "/storage/meta/global", mustJSON(t, meta), nil)
	step("PUT storage/meta/global", r, err, http.StatusOK)
	metaModified := r.Header.Get("X-Last-Modified")
	if metaModified == "" {
		t.Fatalf("PUT meta/global: no X-Last-Modified")
	}

	// A batch upload over two requests: the batch id travels in the query.
	r, err = c.do(http.MethodPost, "/storage/bookmarks?batch=true", mustJSON(t, []bso{{ID: "a", Payload: "payload a"}}), nil)
	step("POST storage/bookmarks?batch=true", r, err, http.StatusAccepted)
	var started struct {
		Batch string `json:"batch"`
	}
	if err := json.Unmarshal(r.Body, &started); err != nil || started.Batch == "" {
		t.Fatalf("POST ?batch=true: no batch id in %s (%v)", r, err)
	}
	// "{c}" must be percent-encoded in a path: the web server must pass the
	// path as sent, or the signature breaks.
	r, err = c.do(http.MethodPost, "/storage/bookmarks?batch="+url.QueryEscape(started.Batch)+"&commit=true",
		mustJSON(t, []bso{{ID: "b", Payload: "payload b"}, {ID: "{c}", Payload: "payload c"}}), nil)
	step("POST storage/bookmarks?batch=…&commit=true", r, err, http.StatusOK)
	var committed struct {
		Success []string          `json:"success"`
		Failed  map[string]string `json:"failed"`
	}
	if err := json.Unmarshal(r.Body, &committed); err != nil || len(committed.Success) != 2 || len(committed.Failed) != 0 {
		t.Fatalf("batch commit answered %s (%v), want b and {c} stored", r, err)
	}
	bookmarksModified := r.Header.Get("X-Last-Modified")

	r, err = c.do(http.MethodGet, "/storage/bookmarks?ids=a%2Cb&full=1", nil, nil)
	step("GET storage/bookmarks?ids=a%2Cb&full=1", r, err, http.StatusOK)
	var got []bso
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("GET ?ids=a%%2Cb&full=1: %v in %s", err, r)
	}
	slices.SortFunc(got, func(x, y bso) int { return strings.Compare(x.ID, y.ID) })
	if len(got) != 2 || got[0].ID != "a" || got[0].Payload != "payload a" || got[1].ID != "b" || got[1].Payload != "payload b" {
		t.Fatalf("GET ?ids=a%%2Cb&full=1 = %s, want a and b with their payloads", r.Body)
	}

	r, err = c.do(http.MethodGet, "/storage/bookmarks/%7Bc%7D", nil, nil)
	step("GET storage/bookmarks/%7Bc%7D", r, err, http.StatusOK)
	var one bso
	if err := json.Unmarshal(r.Body, &one); err != nil || one.ID != "{c}" || one.Payload != "payload c" {
		t.Fatalf("GET storage/bookmarks/%%7Bc%%7D = %s (%v)", r.Body, err)
	}

	r, err = c.do(http.MethodGet, "/info/collections", nil, map[string]string{"X-If-Modified-Since": bookmarksModified})
	step("GET info/collections with X-If-Modified-Since", r, err, http.StatusNotModified)

	r, err = c.do(http.MethodPut, "/storage/bookmarks/a", mustJSON(t, bso{Payload: "stale"}),
		map[string]string{"X-If-Unmodified-Since": metaModified})
	step("PUT storage/bookmarks/a with an old X-If-Unmodified-Since", r, err, http.StatusPreconditionFailed)

	r, err = c.do(http.MethodDelete, "/storage/bookmarks?ids=a", nil, nil)
	step("DELETE storage/bookmarks?ids=a", r, err, http.StatusOK)
	r, err = c.do(http.MethodGet, "/storage/bookmarks", nil, nil)
	step("GET storage/bookmarks", r, err, http.StatusOK)
	var ids []string
	if err := json.Unmarshal(r.Body, &ids); err != nil {
		t.Fatalf("GET storage/bookmarks: %v in %s", err, r)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"b", "{c}"}) {
		t.Fatalf("after DELETE ?ids=a, GET storage/bookmarks = %s, want b and {c}", r.Body)
	}

	big := strings.Repeat("x", largePayload)
	r, err = c.do(http.MethodPost, "/storage/history", mustJSON(t, []bso{{ID: "large", Payload: big}}), nil)
	step("POST storage/history (1.5 MiB record)", r, err, http.StatusOK)
	r, err = c.do(http.MethodGet, "/storage/history/large", nil, nil)
	step("GET storage/history/large", r, err, http.StatusOK)
	if err := json.Unmarshal(r.Body, &one); err != nil || one.Payload != big {
		t.Fatalf("GET storage/history/large: the 1.5 MiB payload did not come back whole (%d bytes, %v)", len(r.Body), err)
	}

	r, err = c.do(http.MethodGet, "/info/collections", nil, nil)
	step("GET info/collections", r, err, http.StatusOK)
	var colls map[string]float64
	if err := json.Unmarshal(r.Body, &colls); err != nil {
		t.Fatalf("GET info/collections: %v in %s", err, r)
	}
	for _, name := range []string{"meta", "bookmarks", "history"} {
		if _, ok := colls[name]; !ok {
			t.Errorf("info/collections = %s, lacks %s", r.Body, name)
		}
	}
}
