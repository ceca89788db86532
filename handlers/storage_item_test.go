package handlers

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"syncserver/db"
)

// record fetches one record, failing the test unless it exists.
func (u *testUser) record(coll, id string) map[string]any {
	u.ts.TB.Helper()
	r := u.mustDo(http.StatusOK, http.MethodGet, "/storage/"+coll+"/"+id, "")
	var rec map[string]any
	dec := json.NewDecoder(strings.NewReader(string(r.Body)))
	dec.UseNumber()
	if err := dec.Decode(&rec); err != nil {
		u.ts.TB.Fatal(err)
	}
	return rec
}

func TestPutThenGetItem(t *testing.T) {
	u := newTestServer(t).user(1)
	r := u.mustDo(http.StatusOK, http.MethodPut, "/storage/c/a", `{"payload":"p","sortindex":5}`)
	T := mustTimestamp(t, string(r.Body))
	wantHeader(t, r, "X-Last-Modified", T.String())
	wantHeader(t, r, "X-Weave-Timestamp", T.String())
	wantHeader(t, r, "Content-Type", "application/json")
	get := u.mustDo(http.StatusOK, http.MethodGet, "/storage/c/a", "")
	wantResponse(t, get, http.StatusOK, `{"id":"a","modified":`+T.String()+`,"payload":"p","sortindex":5}`)
	wantHeader(t, get, "X-Last-Modified", T.String())
}

// The legacy functional tests pin it: a client-supplied modified is ignored; the stored modified
// equals the PUT's X-Weave-Timestamp.
func TestClientModifiedIgnored(t *testing.T) {
	u := newTestServer(t).user(1)
	r := u.mustDo(http.StatusOK, http.MethodPut, "/storage/meta/global", `{"id":"global","payload":"m","modified":0}`)
	if got := u.record("meta", "global")["modified"]; string(got.(json.Number)) != r.Header.Get("X-Weave-Timestamp") {
		t.Errorf("modified %v, X-Weave-Timestamp %s", got, r.Header.Get("X-Weave-Timestamp"))
	}
}

// The legacy functional tests pin it: a PUT's body equals its X-Weave-Timestamp, over 200
// consecutive PUTs (the store moves the clock on when writes share it).
func TestPutBodyEqualsXWeaveTimestamp(t *testing.T) {
	u := newTestServer(t).user(1)
	var last db.Timestamp
	for i := 0; i < 200; i++ {
		r := u.mustDo(http.StatusOK, http.MethodPut, "/storage/c/a", `{"payload":"x"}`)
		if got := r.Header.Get("X-Weave-Timestamp"); string(r.Body) != got {
			t.Fatalf("PUT %d: body %s, X-Weave-Timestamp %s", i, r.Body, got)
		}
		T := mustTimestamp(t, string(r.Body))
		if T <= last {
			t.Fatalf("PUT %d: %s not after %s", i, T, last)
		}
		last = T
	}
}

// The legacy functional tests pin it: X-Weave-Timestamp on a GET is not before the client's clock
// just before the request; on writes it is the write's timestamp.
func TestXWeaveTimestampOnGetAndWrites(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user(1)
	ts.Clock.Advance(1234567 * time.Microsecond)
	before := db.TimestampOf(ts.Clock.Now())
	r := u.mustDo(http.StatusOK, http.MethodGet, "/storage/c", "")
	if got := mustTimestamp(t, r.Header.Get("X-Weave-Timestamp")); got < before {
		t.Errorf("GET X-Weave-Timestamp %s before %s", got, before)
	}
	post := u.mustDo(http.StatusOK, http.MethodPost, "/storage/c", `[{"id":"a"}]`)
	modified := string(decodePostResult(t, post).Modified)
	wantHeader(t, post, "X-Weave-Timestamp", modified)
	wantHeader(t, post, "X-Last-Modified", modified)
	put := u.mustDo(http.StatusOK, http.MethodPut, "/storage/c/b", `{}`)
	wantHeader(t, put, "X-Weave-Timestamp", string(put.Body))
	if got := mustTimestamp(t, string(put.Body)); got < before {
		t.Errorf("PUT at %s, before the clock %s", got, before)
	}
}

// The legacy functional tests pin it: PUT as text/plain works; octet-stream, newlines or no
// Content-Type give 415 and write nothing.
func TestPutInputFormats(t *testing.T) {
	u := newTestServer(t).user(1)
	u.mustDo(http.StatusOK, http.MethodPut, "/storage/c/a", `{"payload":"t"}`, "Content-Type", "text/plain;charset=UTF-8")
	u.mustDo(http.StatusOK, http.MethodPut, "/storage/c/b", `{"payload":"j"}`, "Content-Type", "Application/JSON; charset=utf-8")
	for _, ct := range []string{"application/octet-stream", "application/newlines", ""} {
		req := u.ts.hawkRequest(u.creds, http.MethodPut, u.path("/storage/c/x"), `{"payload":"x"}`, "Content-Type", ct)
		if ct == "" {
			req.Header.Del("Content-Type")
		}
		wantResponse(t, u.ts.serve(req), http.StatusUnsupportedMediaType, "0")
	}
	wantResponse(t, u.do(http.MethodGet, "/storage/c/x", ""), http.StatusNotFound, "0")
}

// The legacy functional tests pin it: GET or DELETE of a missing item gives 404.
func TestMissingItemGetAndDeleteAre404(t *testing.T) {
	u := newTestServer(t).user(1)
	wantResponse(t, u.do(http.MethodGet, "/storage/c/nope", ""), http.StatusNotFound, "0")
	wantResponse(t, u.do(http.MethodDelete, "/storage/c/nope", ""), http.StatusNotFound, "0")
	u.put("c", "a", `{}`)
	wantResponse(t, u.do(http.MethodGet, "/storage/c/nope", ""), http.StatusNotFound, "0")
	wantResponse(t, u.do(http.MethodDelete, "/storage/c/nope", ""), http.StatusNotFound, "0")
}

// The legacy functional tests pin it: DELETE item bumps the collection's and so the storage's
// last-modified; it answers {"modified": T}.
func TestDeleteItemBumpsCollectionAndStorage(t *testing.T) {
	u := newTestServer(t).user(1)
	u.put("c", "a", `{}`)
	T0 := u.put("c", "b", `{}`)
	r := u.mustDo(http.StatusOK, http.MethodDelete, "/storage/c/a", "")
	T := mustTimestamp(t, r.Header.Get("X-Last-Modified"))
	if T <= T0 {
		t.Fatalf("delete at %s, not after %s", T, T0)
	}
	wantResponse(t, r, http.StatusOK, `{"modified":`+T.String()+`}`)
	wantHeader(t, r, "X-Weave-Timestamp", T.String())
	wantHeader(t, u.mustDo(http.StatusOK, http.MethodGet, "/info/collections", ""), "X-Last-Modified", T.String())
	wantHeader(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c", ""), "X-Last-Modified", T.String())
	wantResponse(t, u.do(http.MethodGet, "/storage/c/a", ""), http.StatusNotFound, "0")
}

// The legacy functional tests pin it: ttl 0 is invisible at once; ttl 2 is visible, then gone after
// 2.1 s; a re-PUT with the same ttl keeps a single item.
func TestTTLExpiry(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user(1)
	u.put("c", "zero", `{"payload":"x","ttl":0}`)
	wantResponse(t, u.do(http.MethodGet, "/storage/c/zero", ""), http.StatusNotFound, "0")
	u.put("c", "two", `{"payload":"x","ttl":2}`)
	u.record("c", "two")
	u.put("c", "two", `{"payload":"x","ttl":2}`)
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c", ""), "two")
	ts.Clock.Advance(2100 * time.Millisecond)
	wantResponse(t, u.do(http.MethodGet, "/storage/c/two", ""), http.StatusNotFound, "0")
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c", ""))
	// An expired record is overwritten in place by a PUT with a ttl (a
	// payload alone would keep the old, past expiry).
	u.put("c", "two", `{"payload":"new","ttl":10}`)
	if got := u.record("c", "two")["payload"]; got != "new" {
		t.Errorf("payload %v", got)
	}
}

// The legacy functional tests pin it: a ttl-only PUT extends an existing item's life and keeps its
// payload (and modified); on a new id it creates payload ""; a
// sortindex-only PUT leaves the ttl alone.
func TestTTLOnlyAndSortIndexOnlyPuts(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user(1)
	T := u.put("c", "a", `{"payload":"keep","ttl":10}`)
	u.put("c", "a", `{"ttl":100}`)
	ts.Clock.Advance(20 * time.Second)
	rec := u.record("c", "a")
	if rec["payload"] != "keep" || string(rec["modified"].(json.Number)) != T.String() {
		t.Errorf("after ttl-only PUT: %v", rec)
	}
	u.put("c", "new", `{"ttl":100}`)
	if rec := u.record("c", "new"); rec["payload"] != "" {
		t.Errorf("ttl-only create: %v", rec)
	}
	u.put("c", "s", `{"payload":"x","ttl":10}`)
	u.put("c", "s", `{"sortindex":3}`)
	ts.Clock.Advance(11 * time.Second)
	wantResponse(t, u.do(http.MethodGet, "/storage/c/s", ""), http.StatusNotFound, "0")
}

// The legacy functional tests pin it: ttl null on create means no expiry; null on an update leaves
// the ttl as it was.
func TestNullTTLMeansNoExpiry(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user(1)
	u.put("c", "a", `{"payload":"x","ttl":null}`)
	u.put("c", "b", `{"payload":"x","ttl":5}`)
	u.put("c", "b", `{"payload":"y","ttl":null}`)
	ts.Clock.Advance(20 * 365 * 24 * time.Hour)
	u.creds = ts.mintToken(1)
	u.record("c", "a")
	wantResponse(t, u.do(http.MethodGet, "/storage/c/b", ""), http.StatusNotFound, "0")
}

// syncstorage-rs's database rule, kept by design: a ttl-only or sortindex-only update
// does not change modified.
func TestTTLOrSortIndexOnlyUpdateKeepsModified(t *testing.T) {
	u := newTestServer(t).user(1)
	T := u.put("c", "a", `{"payload":"x"}`)
	u.put("c", "a", `{"ttl":1000}`)
	u.put("c", "a", `{"sortindex":7}`)
	rec := u.record("c", "a")
	if string(rec["modified"].(json.Number)) != T.String() || string(rec["sortindex"].(json.Number)) != "7" {
		t.Errorf("record %v, modified should stay %s", rec, T)
	}
}

// The legacy functional tests pin it: the collection field is accepted and ignored in PUT (and POST).
func TestCollectionFieldIgnored(t *testing.T) {
	u := newTestServer(t).user(1)
	u.put("c", "a", `{"payload":"x","collection":"other"}`)
	res := u.post("c", `[{"id":"b","payload":"y","collection":"other"}]`)
	if len(res.Success) != 1 {
		t.Fatalf("POST %+v", res)
	}
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?sort=oldest", ""), "a", "b")
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/other", ""))
	if rec := u.record("c", "a"); len(rec) != 3 {
		t.Errorf("internal fields echoed: %v", rec)
	}
}

// The legacy functional tests pin it: a bad crypto IV is refused on crypto for PUT and POST, and
// allowed in other collections.
func TestKnownBadCryptoIVRejected(t *testing.T) {
	u := newTestServer(t).user(1)
	bad := `"{\"IV\": \"AAAAAAAAAAAAAAAAAAAAAA==\", \"hmac\": \"x\", \"ciphertext\": \"y\"}"`
	wantResponse(t, u.do(http.MethodPut, "/storage/crypto/keys", `{"payload":`+bad+`}`), http.StatusBadRequest, "8")
	wantResponse(t, u.do(http.MethodPost, "/storage/crypto", `[{"id":"keys","payload":`+bad+`}]`), http.StatusBadRequest, "8")
	wantResponse(t, u.do(http.MethodGet, "/storage/crypto/keys", ""), http.StatusNotFound, "0")
	u.put("bookmarks", "a", `{"payload":`+bad+`}`)
	u.post("bookmarks", `[{"id":"b","payload":`+bad+`}]`)
	u.put("crypto", "keys", `{"payload":"{\"IV\": \"AAAAAAAAAAAAAAAAAAAAAB==\"}"}`)
}

// A PUT's body fails as a whole: bad JSON is 6, a bad shape or field 8, a
// payload over max_record_payload_bytes 17.
func TestPutBodyErrors(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.Limits.MaxRecordPayloadBytes = 10 })
	u := ts.user(1)
	for body, code := range map[string]string{
		``:                          "6",
		`{`:                         "6",
		`{"payload":"x"} x`:         "6",
		`"notabso"`:                 "8",
		`42`:                        "8",
		`[]`:                        "8",
		`{"id":["a"],"payload":{}}`: "8",
		`{"payload":{"a":1}}`:       "8",
		`{"id":42}`:                 "8",
		`{"id":"a\nb"}`:             "8",
		`{"payload":42}`:            "8",
		`{"boooo":1}`:               "8",
		`{"sortindex":"xxx_meh"}`:   "8",
		`{"sortindex":"2.6"}`:       "8",
		`{"sortindex":1000000000}`:  "8",
		`{"sortindex":true}`:        "8",
		`{"ttl":"eh?"}`:             "8",
		`{"ttl":"4.2"}`:             "8",
		`{"ttl":-1}`:                "8",
		`{"payload":"12345678901"}`: "17",
	} {
		wantResponse(t, u.do(http.MethodPut, "/storage/c/a", body, "Content-Type", "application/json"), http.StatusBadRequest, code)
	}
	wantResponse(t, u.do(http.MethodGet, "/storage/c/a", ""), http.StatusNotFound, "0")
	u.put("c", "a", `{"payload":"1234567890","sortindex":"-3","ttl":"100","payload_size":1,"foo":null}`)
}
