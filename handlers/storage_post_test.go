package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestPostWritesAndReportsModified(t *testing.T) {
	u := newTestServer(t).user(1)
	r := u.mustDo(http.StatusOK, http.MethodPost, "/storage/c", `[{"id":"a","payload":"x"},{"id":"b","sortindex":2}]`)
	res := decodePostResult(t, r)
	T := mustTimestamp(t, string(res.Modified))
	wantResponse(t, r, http.StatusOK, `{"modified":`+T.String()+`,"success":["a","b"],"failed":{}}`)
	wantHeader(t, r, "X-Last-Modified", T.String())
	wantHeader(t, r, "X-Weave-Timestamp", T.String())
	rec := u.record("c", "b")
	if string(rec["modified"].(json.Number)) != T.String() || rec["payload"] != "" {
		t.Errorf("record %v", rec)
	}
}

// An empty POST still creates or bumps the collection.
func TestEmptyPostBumpsCollection(t *testing.T) {
	u := newTestServer(t).user(1)
	res := u.post("c", `[]`)
	wantJSON(t, u.mustDo(http.StatusOK, http.MethodGet, "/info/collections", ""), `{"c":`+string(res.Modified)+`}`)
}

// The legacy functional tests pin it: POST as application/newlines works; octet-stream gives 415 and
// writes nothing. One trailing newline ends the last line; any other empty
// line is an error; an empty body is an empty list.
func TestPostInputFormats(t *testing.T) {
	u := newTestServer(t).user(1)
	nl := []string{"Content-Type", "application/newlines"}
	res := u.post("c", "{\"id\":\"a\",\"payload\":\"x\"}\n{\"id\":\"b\"}\n", nl...)
	if !slices.Equal(res.Success, []string{"a", "b"}) {
		t.Fatalf("%+v", res)
	}
	u.post("c", `{"id":"c"}`, nl...)
	u.post("c", ``, nl...)
	u.post("c", `[{"id":"d"}]`, "Content-Type", "text/plain")
	for body, code := range map[string]string{
		"\n":                               "6",
		"{\"id\":\"e\"}\n\n":               "6",
		"\n{\"id\":\"e\"}":                 "6",
		"{\"id\":\"e\"}\n\n{\"id\":\"f\"}": "6",
		"{}":                               "8",
		"[]":                               "8",
		"{\"id\":\"e\"}\n42":               "8",
	} {
		wantResponse(t, u.do(http.MethodPost, "/storage/c", body, nl...), http.StatusBadRequest, code)
	}
	for _, ct := range []string{"application/octet-stream", ""} {
		req := u.ts.hawkRequest(u.creds, http.MethodPost, u.path("/storage/c"), `[{"id":"z"}]`, "Content-Type", ct)
		if ct == "" {
			req.Header.Del("Content-Type")
		}
		wantResponse(t, u.ts.serve(req), http.StatusUnsupportedMediaType, "0")
	}
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?sort=oldest", ""), "a", "b", "c", "d")
}

// The legacy functional tests pin it: invalid ids in POST items (containing, ending or starting with
// a newline, with a tab, empty, 65 characters) fail alone.
func TestInvalidIDsInPostFailPerItem(t *testing.T) {
	u := newTestServer(t).user(1)
	bad := []string{"a\nb", "a\n", "\na", "a\tb", "", strings.Repeat("x", 65), "é"}
	var parts []string
	for _, id := range bad {
		b, _ := json.Marshal(id)
		parts = append(parts, `{"id":`+string(b)+`,"payload":"x"}`)
	}
	parts = append(parts, `{"id":42}`, `{"id":"ok"}`)
	res := u.post("c", "["+strings.Join(parts, ",")+"]")
	if !slices.Equal(res.Success, []string{"ok"}) || len(res.Failed) != len(bad)+1 {
		t.Fatalf("%+v", res)
	}
	for _, id := range append(bad, "42") {
		if res.Failed[id] != "invalid id" {
			t.Errorf("failed[%q] = %q", id, res.Failed[id])
		}
	}
}

// The legacy functional tests pin it: bad sortindex, payload, ttl or an unknown field fail the item
// alone in a POST (with the legacy reason); PUT refuses them with 8.
func TestInvalidFieldsFailPerItemInPost(t *testing.T) {
	u := newTestServer(t).user(1)
	cases := map[string]string{
		`"sortindex":"xxx_meh"`:   "invalid sortindex",
		`"sortindex":"2.6"`:       "invalid sortindex",
		`"sortindex":1000000000`:  "invalid sortindex",
		`"sortindex":-1000000000`: "invalid sortindex",
		`"payload":42`:            "payload not a string",
		`"ttl":"eh?"`:             "invalid ttl",
		`"ttl":"4.2"`:             "invalid ttl",
		`"ttl":-1`:                "invalid ttl",
		`"bad":1`:                 "unknown field 'bad'",
	}
	var parts []string
	want := map[string]string{}
	i := 0
	for field, reason := range cases {
		id := "i" + strconv.Itoa(i)
		parts = append(parts, `{"id":"`+id+`",`+field+`}`)
		want[id] = reason
		i++
		wantResponse(t, u.do(http.MethodPut, "/storage/c/x", `{`+field+`}`), http.StatusBadRequest, "8")
	}
	parts = append(parts, `{"id":"good","sortindex":-42,"payload":"p"}`)
	res := u.post("c", "["+strings.Join(parts, ",")+"]")
	if !slices.Equal(res.Success, []string{"good"}) {
		t.Errorf("success %q", res.Success)
	}
	for id, reason := range want {
		if res.Failed[id] != reason {
			t.Errorf("failed[%s] = %q, want %q", id, res.Failed[id], reason)
		}
	}
}

// Python's int(): "12" and " -3 " are integers, 12.7 is truncated.
func TestSortIndexAndTTLAcceptPythonIntegers(t *testing.T) {
	u := newTestServer(t).user(1)
	res := u.post("c", `[{"id":"a","sortindex":"12"},{"id":"b","sortindex":12.7},{"id":"c","sortindex":" -3 ","ttl":"100"},{"id":"d","sortindex":1e3,"ttl":4.2}]`)
	if len(res.Success) != 4 {
		t.Fatalf("%+v", res)
	}
	r := u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?sort=index&full=1", "")
	var got []string
	for _, rec := range records(t, r) {
		got = append(got, rec["id"].(string)+"="+string(rec["sortindex"].(json.Number)))
	}
	if want := []string{"d=1000", "b=12", "a=12", "c=-3"}; !slices.Equal(got, want) {
		t.Errorf("sortindexes %q, want %q", got, want)
	}
}

// The legacy functional tests pin it: PUT bodies "notabso", 42, {"id": [...], …} and POST bodies
// "notalist", 42 are 400 with 8; a list with "BAD" is a 400; a list with
// one valid and one unknown-field item gives one success, one failure.
// Bad JSON is 6. Non-scalar fields, a missing or null id and a repeated id
// fail the whole POST with 8 (legacy rules).
func TestInvalidJSONInUploads(t *testing.T) {
	u := newTestServer(t).user(1)
	for _, body := range []string{`"notabso"`, `42`, `{"id":["a"],"payload":{"b":1}}`} {
		wantResponse(t, u.do(http.MethodPut, "/storage/c/a", body), http.StatusBadRequest, "8")
	}
	for body, code := range map[string]string{
		`"notalist"`:                             "8",
		`42`:                                     "8",
		`{"id":"a"}`:                             "8",
		`["BAD"]`:                                "8",
		`[{"id":"a"},"BAD"]`:                     "8",
		`[{"id":"a"},[]]`:                        "8",
		`[{"id":"a","payload":["x"]}]`:           "8",
		`[{"id":"ok"},{"id":"a","modified":{}}]`: "8",
		`[{"payload":"x"}]`:                      "8",
		`[{"id":null,"payload":"x"}]`:            "8",
		`[{"id":"a"},{"id":"a"}]`:                "8",
		`[{"id":"a"`:                             "6",
		`[{"id":"a"}] trailing`:                  "6",
		``:                                       "6",
		`{}`:                                     "8",
	} {
		wantResponse(t, u.do(http.MethodPost, "/storage/c", body, "Content-Type", "application/json"), http.StatusBadRequest, code)
	}
	wantResponse(t, u.do(http.MethodGet, "/storage/c", ""), http.StatusOK, "[]")
	res := u.post("c", `[{"id":"a","payload":"x"},{"id":"b","payload":"y","unknown":1}]`)
	if !slices.Equal(res.Success, []string{"a"}) || res.Failed["b"] != "unknown field 'unknown'" || len(res.Failed) != 1 {
		t.Errorf("%+v", res)
	}
	// A numeric id is not the string of its digits.
	res = u.post("c", `[{"id":"42"},{"id":42}]`)
	if !slices.Equal(res.Success, []string{"42"}) || res.Failed["42"] != "invalid id" {
		t.Errorf("%+v", res)
	}
	// A repeat of an id that failed is not a duplicate of an accepted one.
	res = u.post("c", `[{"id":"x","ttl":"bad"},{"id":"x","payload":"ok"}]`)
	if !slices.Equal(res.Success, []string{"x"}) || res.Failed["x"] != "invalid ttl" {
		t.Errorf("%+v", res)
	}
}

// The legacy functional tests pin it: max_post_records − 5 items all succeed, + 5 gives exactly 5
// failures ("retry bso"); one byte over max_post_bytes fails the last
// item ("retry bytes") and every later one.
func TestMultiItemPostLimits(t *testing.T) {
	u := newTestServer(t).user(1)
	items := func(n int) string {
		var parts []string
		for i := 0; i < n; i++ {
			parts = append(parts, fmt.Sprintf(`{"id":"i%03d","payload":"x"}`, i))
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	res := u.post("c", items(95))
	if len(res.Success) != 95 || len(res.Failed) != 0 {
		t.Fatalf("95: %d success, %d failed", len(res.Success), len(res.Failed))
	}
	res = u.post("c", items(105))
	if len(res.Success) != 100 || len(res.Failed) != 5 {
		t.Fatalf("105: %d success, %d failed", len(res.Success), len(res.Failed))
	}
	for id, reason := range res.Failed {
		if reason != "retry bso" || id < "i100" {
			t.Errorf("failed[%s] = %q", id, reason)
		}
	}

	max := int(DefaultLimits.MaxPostBytes)
	big := strings.Repeat("a", max/2)
	body := `[{"id":"x","payload":"` + big + `"},{"id":"y","payload":"` + big + `"},{"id":"z","payload":"b"},{"id":"w","payload":""}]`
	if int64(len(body)) > DefaultLimits.MaxRequestBytes {
		t.Fatal("bad test: body over max_request_bytes")
	}
	res = u.post("d", body)
	if !slices.Equal(res.Success, []string{"x", "y"}) || res.Failed["z"] != "retry bytes" || res.Failed["w"] != "retry bytes" {
		t.Errorf("bytes: success %q failed %v", res.Success, res.Failed)
	}
}

// A payload over max_record_payload_bytes fails alone in a POST.
func TestPostPayloadTooLargeFailsAlone(t *testing.T) {
	u := newTestServer(t, func(o *Options) { o.Limits.MaxRecordPayloadBytes = 5 }).user(1)
	res := u.post("c", `[{"id":"a","payload":"12345"},{"id":"b","payload":"123456"}]`)
	if !slices.Equal(res.Success, []string{"a"}) || res.Failed["b"] != "payload too large" {
		t.Errorf("%+v", res)
	}
}

// The legacy functional tests pin it: X-Weave-Records / -Bytes / -Total-Records / -Total-Bytes equal
// to the limit are fine, one more is 400 with 17; a value that is not an
// integer is 400 with 1.
func TestWeaveSizeHeaders(t *testing.T) {
	u := newTestServer(t).user(1)
	l := DefaultLimits
	headers := map[string]int64{
		"X-Weave-Records":       l.MaxPostRecords,
		"X-Weave-Bytes":         l.MaxPostBytes,
		"X-Weave-Total-Records": l.MaxTotalRecords,
		"X-Weave-Total-Bytes":   l.MaxTotalBytes,
	}
	for name, limit := range headers {
		for q, status := range map[string]int{"": http.StatusOK, "?batch=true": http.StatusAccepted} {
			u.mustDo(status, http.MethodPost, "/storage/c"+q, `[{"id":"a"}]`, name, strconv.FormatInt(limit, 10))
			wantResponse(t, u.do(http.MethodPost, "/storage/c"+q, `[{"id":"a"}]`, name, strconv.FormatInt(limit+1, 10)), http.StatusBadRequest, "17")
			wantResponse(t, u.do(http.MethodPost, "/storage/c"+q, `[{"id":"a"}]`, name, "many"), http.StatusBadRequest, "1")
		}
	}
}

// The legacy functional tests pin it: quota. One 500-byte PUT raises info/quota's first element by
// 500/1024; near the quota X-Weave-Quota-Remaining appears; over it is
// 403 with 14 and nothing is written.
func TestQuota(t *testing.T) {
	u := newTestServer(t).user(1)
	wantResponse(t, u.mustDo(http.StatusOK, http.MethodGet, "/info/quota", ""), http.StatusOK, "[0,null]")
	u.put("c", "a", `{"payload":"`+strings.Repeat("x", 500)+`"}`)
	r := u.mustDo(http.StatusOK, http.MethodGet, "/info/quota", "")
	wantResponse(t, r, http.StatusOK, "[0.48828125,null]")
	wantHeader(t, r, "X-Weave-Records", "2")

	q := newTestServer(t, func(o *Options) { o.QuotaBytes = 700 }).user(1)
	put := q.mustDo(http.StatusOK, http.MethodPut, "/storage/c/a", `{"payload":"`+strings.Repeat("x", 500)+`"}`)
	wantHeader(t, put, "X-Weave-Quota-Remaining", "0.20")
	wantResponse(t, q.mustDo(http.StatusOK, http.MethodGet, "/info/quota", ""), http.StatusOK, "[0.48828125,0.68359375]")
	wantResponse(t, q.do(http.MethodPut, "/storage/c/b", `{"payload":"`+strings.Repeat("x", 200)+`"}`), http.StatusForbidden, "14")
	wantResponse(t, q.do(http.MethodPost, "/storage/c", `[{"id":"b","payload":"`+strings.Repeat("x", 200)+`"}]`), http.StatusForbidden, "14")
	wantResponse(t, q.do(http.MethodPost, "/storage/c?batch=true", `[{"id":"b","payload":"`+strings.Repeat("x", 200)+`"}]`), http.StatusForbidden, "14")
	wantIDs(t, q.mustDo(http.StatusOK, http.MethodGet, "/storage/c", ""), "a")
	post := q.mustDo(http.StatusOK, http.MethodPost, "/storage/c", `[{"id":"b","payload":"`+strings.Repeat("x", 100)+`"}]`)
	wantHeader(t, post, "X-Weave-Quota-Remaining", "0.10")
	// Far from the quota there is no header.
	roomy := newTestServer(t, func(o *Options) { o.QuotaBytes = 10 << 20 }).user(1)
	wantHeader(t, roomy.mustDo(http.StatusOK, http.MethodPut, "/storage/c/a", `{"payload":"x"}`), "X-Weave-Quota-Remaining", "")
}

// The legacy functional tests pin it: a bulk ttl-only POST does not bump modified of the records
// whose payload it leaves alone, but new records and payload changes get
// the POST's timestamp.
func TestBulkTTLOnlyPostKeepsModifiedOfUntouchedRecords(t *testing.T) {
	u := newTestServer(t).user(1)
	T1 := string(u.post("c", `[{"id":"a","payload":"x"},{"id":"b","payload":"y"}]`).Modified)
	T2 := string(u.post("c", `[{"id":"a","ttl":100},{"id":"b","ttl":100,"payload":"new"},{"id":"c","ttl":100}]`).Modified)
	for id, want := range map[string]string{"a": T1, "b": T2, "c": T2} {
		if got := u.record("c", id)["modified"].(json.Number); string(got) != want {
			t.Errorf("%s modified %s, want %s", id, got, want)
		}
	}
	if rec := u.record("c", "a"); rec["payload"] != "x" {
		t.Errorf("a = %v", rec)
	}
}

// The legacy functional tests pin it: limit=-1, X-If-Modified-Since: -3, X-If-Unmodified-Since: -3
// on PUT and ttl -1 are refused; sortindex -42 is fine.
func TestNegativeIntegerFieldsNotAccepted(t *testing.T) {
	u := newTestServer(t).user(1)
	wantResponse(t, u.do(http.MethodGet, "/storage/c?limit=-1", ""), http.StatusBadRequest, "1")
	wantResponse(t, u.do(http.MethodGet, "/storage/c", "", "X-If-Modified-Since", "-3"), http.StatusBadRequest, "1")
	wantResponse(t, u.do(http.MethodPut, "/storage/c/a", `{"payload":"x"}`, "X-If-Unmodified-Since", "-3"), http.StatusBadRequest, "1")
	wantResponse(t, u.do(http.MethodPut, "/storage/c/a", `{"payload":"x","ttl":-1}`), http.StatusBadRequest, "8")
	if res := u.post("c", `[{"id":"a","ttl":-1}]`); res.Failed["a"] != "invalid ttl" {
		t.Errorf("%+v", res)
	}
	u.put("c", "a", `{"payload":"x","sortindex":-42}`)
	if got := u.record("c", "a")["sortindex"].(json.Number); got != "-42" {
		t.Errorf("sortindex %s", got)
	}
}
