package handlers

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncserver/db"
)

// openBatch starts a batch with body and returns its id as the server
// sent it.
func (u *testUser) openBatch(coll, body string) string {
	u.ts.TB.Helper()
	r := u.mustDo(http.StatusAccepted, http.MethodPost, "/storage/"+coll+"?batch=true", body)
	res := decodePostResult(u.ts.TB, r)
	if res.Batch == "" || res.Modified != "" {
		u.ts.TB.Fatalf("batch answer %s", r.Body)
	}
	return res.Batch
}

// batchQuery is the query string sending id (which may hold "=").
func batchQuery(id string, commit bool) string {
	q := "?batch=" + url.QueryEscape(id)
	if commit {
		q += "&commit=true"
	}
	return q
}

// The legacy functional tests pin it: staged items are invisible and X-Last-Modified is unchanged;
// the commit gives every item modified = the commit T, which
// info/collections shows; an empty commit a second later still stamps
// the commit time.
func TestBatchStagedInvisibleThenCommittedTogether(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user(1)
	T0 := u.put("c", "old", `{"payload":"o"}`)
	r := u.mustDo(http.StatusAccepted, http.MethodPost, "/storage/c?batch=true", `[{"id":"a","payload":"1"},{"id":"b","payload":"2"}]`)
	id := decodePostResult(t, r).Batch
	wantResponse(t, r, http.StatusAccepted, `{"batch":"`+id+`","success":["a","b"],"failed":{}}`)
	wantHeader(t, r, "X-Last-Modified", T0.String())
	if raw, err := base64.StdEncoding.DecodeString(id); err != nil || !isDigits(string(raw)) {
		t.Errorf("batch id %q is not base64 of digits", id)
	}

	r = u.mustDo(http.StatusAccepted, http.MethodPost, "/storage/c"+batchQuery(id, false), `[{"id":"c","payload":"3"}]`)
	wantResponse(t, r, http.StatusAccepted, `{"batch":"`+id+`","success":["c"],"failed":{}}`)
	wantHeader(t, r, "X-Last-Modified", T0.String())
	get := u.mustDo(http.StatusOK, http.MethodGet, "/storage/c", "")
	wantIDs(t, get, "old")
	wantHeader(t, get, "X-Last-Modified", T0.String())
	wantJSON(t, u.mustDo(http.StatusOK, http.MethodGet, "/info/collections", ""), `{"c":`+T0.String()+`}`)

	r = u.mustDo(http.StatusOK, http.MethodPost, "/storage/c"+batchQuery(id, true), `[{"id":"d","payload":"4"}]`)
	T := mustTimestamp(t, string(decodePostResult(t, r).Modified))
	wantResponse(t, r, http.StatusOK, `{"modified":`+T.String()+`,"success":["d"],"failed":{}}`)
	wantHeader(t, r, "X-Last-Modified", T.String())
	for _, rec := range records(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?full=1&ids=a,b,c,d", "")) {
		if string(rec["modified"].(json.Number)) != T.String() {
			t.Errorf("record %v not at commit time %s", rec, T)
		}
	}
	wantJSON(t, u.mustDo(http.StatusOK, http.MethodGet, "/info/collections", ""), `{"c":`+T.String()+`}`)

	// Empty commit a second later.
	id = u.openBatch("c", `[]`)
	ts.Clock.Advance(time.Second)
	r = u.mustDo(http.StatusOK, http.MethodPost, "/storage/c"+batchQuery(id, true), `[]`)
	T2 := mustTimestamp(t, string(decodePostResult(t, r).Modified))
	if now := db.TimestampOf(ts.Clock.Now()); T2 < now {
		t.Errorf("empty commit at %s, before the clock %s", T2, now)
	}
	wantJSON(t, u.mustDo(http.StatusOK, http.MethodGet, "/info/collections", ""), `{"c":`+T2.String()+`}`)
	// A committed batch is gone.
	wantResponse(t, u.do(http.MethodPost, "/storage/c"+batchQuery(id, false), `[]`), http.StatusBadRequest, "0")
}

// The legacy functional tests pin it: batch=sammich is a 400; commit=true without batch is a 400
// with body 0; commit must be true.
func TestBatchBadParameters(t *testing.T) {
	u := newTestServer(t).user(1)
	for q, body := range map[string]string{
		"?batch=sammich": "1",
		"?batch=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte("sammich"))): "1",
		"?batch=-5":                "1",
		"?batch=0":                 "1",
		"?commit=true":             "0",
		"?batch=true&commit=false": "1",
		"?batch=true&commit=":      "1",
		"?commit=1":                "1",
	} {
		wantResponse(t, u.do(http.MethodPost, "/storage/c"+q, `[{"id":"a"}]`), http.StatusBadRequest, body)
	}
	wantResponse(t, u.do(http.MethodGet, "/storage/c", ""), http.StatusOK, "[]")
}

// batch=true in any case, ?batch and batch= open a batch; an id works in
// base64 and as plain digits; an unknown id is a 400 with 0.
func TestBatchIDForms(t *testing.T) {
	u := newTestServer(t).user(1)
	for _, q := range []string{"?batch=TRUE", "?batch=True", "?batch=", "?batch"} {
		r := u.mustDo(http.StatusAccepted, http.MethodPost, "/storage/c"+q, `[]`)
		if decodePostResult(t, r).Batch == "" {
			t.Errorf("%s: %s", q, r.Body)
		}
	}
	id := u.openBatch("c", `[{"id":"a"}]`)
	raw, _ := base64.StdEncoding.DecodeString(id)
	r := u.mustDo(http.StatusAccepted, http.MethodPost, "/storage/c?batch="+string(raw), `[{"id":"b"}]`)
	if got := decodePostResult(t, r).Batch; got != id {
		t.Errorf("plain id answered as %q, want %q", got, id)
	}
	// Unescaped base64 padding in the query works too.
	u.mustDo(http.StatusAccepted, http.MethodPost, "/storage/c?batch="+id, `[{"id":"c"}]`)
	n, _ := strconv.ParseInt(string(raw), 10, 64)
	wantResponse(t, u.do(http.MethodPost, "/storage/c?batch="+strconv.FormatInt(n+1, 10), `[]`), http.StatusBadRequest, "0")
	res := u.post("c"+batchQuery(id, true), `[]`)
	if res.Modified == "" {
		t.Fatalf("%+v", res)
	}
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?sort=oldest", ""), "a", "b", "c")
}

// The legacy functional tests pin it: a batch's partial update keeps the existing sortindex, and
// records the batch does not touch keep their modified.
func TestBatchPartialUpdateKeepsSortIndex(t *testing.T) {
	u := newTestServer(t).user(1)
	u.post("c", `[{"id":"a","payload":"x","sortindex":5},{"id":"b","payload":"y","sortindex":6}]`)
	Tb := u.record("c", "b")["modified"]
	id := u.openBatch("c", `[{"id":"a","payload":"new"}]`)
	u.post("c"+batchQuery(id, true), `[]`)
	a := u.record("c", "a")
	if a["payload"] != "new" || string(a["sortindex"].(json.Number)) != "5" {
		t.Errorf("a = %v", a)
	}
	if got := u.record("c", "b")["modified"]; got != Tb {
		t.Errorf("untouched b modified %v, was %v", got, Tb)
	}
}

// The legacy functional tests pin it: a batch record's ttl counts from the commit, not the upload.
func TestBatchTTLCountsFromCommit(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user(1)
	id := u.openBatch("c", `[{"id":"a","payload":"x","ttl":10}]`)
	ts.Clock.Advance(8 * time.Second)
	u.post("c"+batchQuery(id, true), `[]`)
	ts.Clock.Advance(5 * time.Second)
	u.record("c", "a")
	ts.Clock.Advance(6 * time.Second)
	wantResponse(t, u.do(http.MethodGet, "/storage/c/a", ""), http.StatusNotFound, "0")
}

// The legacy functional tests pin it: batch=true&commit=true answers modified and no batch key.
func TestBatchImmediateCommit(t *testing.T) {
	u := newTestServer(t).user(1)
	r := u.mustDo(http.StatusOK, http.MethodPost, "/storage/c?batch=true&commit=true", `[{"id":"a"},{"id":"a\t"}]`)
	T := mustTimestamp(t, r.Header.Get("X-Last-Modified"))
	wantResponse(t, r, http.StatusOK, `{"modified":`+T.String()+`,"success":["a"],"failed":{"a\t":"invalid id"}}`)
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c", ""), "a")
}

// The legacy functional tests pin it: a commit updates info/collections for its own collection only.
func TestBatchCommitUpdatesOnlyItsCollection(t *testing.T) {
	u := newTestServer(t).user(1)
	T1 := u.put("one", "a", `{}`)
	T2 := u.put("two", "a", `{}`)
	id := u.openBatch("one", `[{"id":"b"}]`)
	T3 := mustTimestamp(t, string(u.post("one"+batchQuery(id, true), `[]`).Modified))
	if T3 <= T2 || T1 == T3 {
		t.Fatalf("commit at %s", T3)
	}
	wantJSON(t, u.mustDo(http.StatusOK, http.MethodGet, "/info/collections", ""), `{"one":`+T3.String()+`,"two":`+T2.String()+`}`)
}

// The legacy functional tests pin it: a batch with failing items still commits the good ones.
func TestBatchWithFailingItemsCommitsGoodOnes(t *testing.T) {
	u := newTestServer(t).user(1)
	r := u.mustDo(http.StatusAccepted, http.MethodPost, "/storage/c?batch=true", `[{"id":"a"},{"id":"b","sortindex":"x"}]`)
	res := decodePostResult(t, r)
	if res.Failed["b"] != "invalid sortindex" {
		t.Fatalf("%+v", res)
	}
	u.post("c"+batchQuery(res.Batch, true), `[{"id":"c","ttl":-1},{"id":"d"}]`)
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?sort=oldest", ""), "a", "d")
}

// The legacy functional tests pin it: a batch id belongs to its user and collection; elsewhere it
// is a 400 (body 0).
func TestBatchIDScopedToUserAndCollection(t *testing.T) {
	ts := newTestServer(t)
	u1, u2 := ts.user(1), ts.user(2)
	id := u1.openBatch("c", `[{"id":"a"}]`)
	wantResponse(t, u1.do(http.MethodPost, "/storage/d"+batchQuery(id, false), `[{"id":"x"}]`), http.StatusBadRequest, "0")
	wantResponse(t, u1.do(http.MethodPost, "/storage/d"+batchQuery(id, true), `[]`), http.StatusBadRequest, "0")
	wantResponse(t, u2.do(http.MethodPost, "/storage/c"+batchQuery(id, true), `[{"id":"x"}]`), http.StatusBadRequest, "0")
	wantResponse(t, u2.do(http.MethodGet, "/storage/c", ""), http.StatusOK, "[]")
	u1.post("c"+batchQuery(id, true), `[]`)
	wantIDs(t, u1.mustDo(http.StatusOK, http.MethodGet, "/storage/c", ""), "a")
	wantResponse(t, u1.do(http.MethodGet, "/storage/d", ""), http.StatusOK, "[]")
}

// syncstorage-rs's tests pin it: an id sent in the batch and again in the commit request
// ends with the commit's payload, with failed {}.
func TestBatchCommitCollisionCommitWins(t *testing.T) {
	u := newTestServer(t).user(1)
	id := u.openBatch("c", `[{"id":"a","payload":"batch","sortindex":1}]`)
	res := u.post("c"+batchQuery(id, true), `[{"id":"a","payload":"commit"}]`)
	if len(res.Failed) != 0 || !slices.Equal(res.Success, []string{"a"}) {
		t.Fatalf("%+v", res)
	}
	a := u.record("c", "a")
	if a["payload"] != "commit" || string(a["sortindex"].(json.Number)) != "1" {
		t.Errorf("a = %v", a)
	}
}

// A batch expires two hours after it was opened (400 with 0).
func TestBatchExpiresAfterTwoHours(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user(1)
	id := u.openBatch("c", `[{"id":"a"}]`)
	ts.Clock.Advance(2*time.Hour + time.Second)
	u.creds = ts.mintToken(1)
	wantResponse(t, u.do(http.MethodPost, "/storage/c"+batchQuery(id, true), `[]`), http.StatusBadRequest, "0")
}

// By design: max_total_records and max_total_bytes hold across the whole
// batch, not only for what the client announces: over them is 400 with 17
// and nothing more is staged.
func TestBatchTotalsEnforcedAcrossBatch(t *testing.T) {
	u := newTestServer(t, func(o *Options) {
		o.Limits.MaxTotalRecords = 3
		o.Limits.MaxTotalBytes = 10
	}).user(1)
	id := u.openBatch("c", `[{"id":"a","payload":"1234"},{"id":"b"}]`)
	wantResponse(t, u.do(http.MethodPost, "/storage/c"+batchQuery(id, false), `[{"id":"c"},{"id":"d"}]`), http.StatusBadRequest, "17")
	wantResponse(t, u.do(http.MethodPost, "/storage/c"+batchQuery(id, true), `[{"id":"c","payload":"1234567"}]`), http.StatusBadRequest, "17")
	u.mustDo(http.StatusAccepted, http.MethodPost, "/storage/c"+batchQuery(id, false), `[{"id":"c","payload":"123456"}]`)
	u.post("c"+batchQuery(id, true), `[]`)
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?sort=oldest", ""), "a", "b", "c")
	wantResponse(t, u.do(http.MethodPost, "/storage/c?batch=true", `[{"id":"a"},{"id":"b"},{"id":"c"},{"id":"d"}]`), http.StatusBadRequest, "17")
}

// The legacy functional tests pin it: with batch uploads disabled, batch=true is ignored, batch=<id>
// is a 400 with 1, commit=true alone is a plain POST, and
// info/configuration lists only the two per-request limits.
func TestBatchUploadsDisabled(t *testing.T) {
	u := newTestServer(t, func(o *Options) { o.BatchUploadEnabled = false }).user(1)
	for _, q := range []string{"?batch=true", "?commit=true", "?batch=true&commit=true", "?batch"} {
		r := u.mustDo(http.StatusOK, http.MethodPost, "/storage/c"+q, `[{"id":"a"}]`)
		if strings.Contains(string(r.Body), "batch") || decodePostResult(t, r).Modified == "" {
			t.Errorf("%s: %s", q, r.Body)
		}
	}
	wantResponse(t, u.do(http.MethodPost, "/storage/c?batch=MTIz", `[{"id":"a"}]`), http.StatusBadRequest, "1")
	wantJSON(t, u.mustDo(http.StatusOK, http.MethodGet, "/info/configuration", ""),
		`{"max_request_bytes":2101248,"max_record_payload_bytes":2097152}`)
}
